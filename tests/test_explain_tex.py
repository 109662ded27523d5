"""explain as math: `--format markdown` ($...$) and `--format latex` (align*), judged by KaTeX.

Every sample's Markdown math and LaTeX is rendered with KaTeX (node; `make system-packages`
installs both) and must parse, in KaTeX's strict mode; the tutorial's lines are checked
exactly; names are math identifiers; ops are written as the op table's `latex` says; any
text from a program is escaped, so it cannot reach TeX as a command.
"""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cgraph
from cgraph import ops
from cgraph.views import explain, explain_tex, texmath

from support.katex import katex_errors, markdown_math
from support.programs import programs, values
from support.samples import INTRO_INPUTS, SAMPLES

INTRO = str(SAMPLES / "intro.cg")
INTRO_ARGS = ["--x", "1", "--y", "3", "--z", "-3"]
HOSTILE = "\"quote\" 'single' \\back\\slash \\input{/etc/passwd} {brace} [x] |pipe| `tick` $dollar$ &amp; #hash ^caret ~tilde %% _under ;"

# Programs that reach the corners of the writer: every kind of name, exponent and number.
TRICKY = {
    "kinks": "input x = 1\ny = max(x, 2*x) + min(3, x) + abs(x - 2) + relu(-x)",
    "powers": "input x = 1.5\ny = x^2^3 + (x^2)^3 + -x^2 + 2^-x + x^(x - 1) + sqrt(x)^2 + exp(x)^(1/2)",
    "names": "param W1_a = 0.5\ninput x_in = 2\nh_1 = tanh(W1_a * x_in)\nout_y = h_1 * h_1 + W1_a",
    "aliases": "input x = 2\nf = x * x\ng = f\ny = g + f",
    "loop_local": "input x = 1\nfor t in 1..2 { z = x*t\n h[t] = z^2 }\ny = h[2] + sigmoid(x) + log(x) + 1e-7*x",
    "non_finite": "input x = 0\ny = log(x) + x/x",
    "calls": "param w = 0.5\ndef unit(a) = sin(w*a) * cos(a) - tan(a)\ny = mean(unit(1), unit(2), unit(3))",
}


def explanation(source: str, inputs=None, **options) -> explain.Explanation:
    return explain.steps(cgraph.evaluate(cgraph.parse(source), inputs or {}), **options)


def sample(name: str) -> explain.Explanation:
    inputs = INTRO_INPUTS if name == "intro" else {}
    return explain.steps(cgraph.evaluate(cgraph.load(SAMPLES / f"{name}.cg"), inputs))


def katex_items(label: str, exp: explain.Explanation) -> list[tuple[str, str, bool]]:
    """Every piece of TeX the two formats write for `exp`: each $...$ and the align*."""
    md = explain.to_markdown(exp)
    items = [(f"{label}.md${k}", math, False) for k, math in enumerate(markdown_math(md))]
    return items + [(f"{label}.tex", explain.to_latex(exp), True)]


def assert_katex_renders(items: list[tuple[str, str, bool]]) -> None:
    errors = katex_errors(items)
    tex = dict((i, t) for i, t, _ in items)
    assert not errors, "\n".join(f"{i}: {e}\n  in {tex[i][:300]!r}" for i, e in list(errors.items())[:5])


def assert_no_text_math(output: str) -> None:
    """The faults of plain text in \\text{}: a circumflex over nothing, an asterisk, a hyphen."""
    assert r"\^{}" not in output
    for body in re.findall(r"\\text\{([^{}]*)\}", output):
        assert not re.search(r"[*^]|\d-|- ?\d", body), f"an operator written as text: \\text{{{body}}}"


# --- KaTeX renders everything ----------------------------------------------------------------


def test_katex_renders_every_sample_and_the_tricky_programs():
    items: list[tuple[str, str, bool]] = []
    names = sorted(p.stem for p in SAMPLES.glob("*.cg"))
    assert {"intro", "neuron", "rnn", "mlp", "logreg", "linreg", "xor"} <= set(names)
    for name in names:
        exp = sample(name)
        items += katex_items(name, exp)
        for output in (explain.to_markdown(exp), explain.to_latex(exp)):
            assert_no_text_math(output)
    for name, source in TRICKY.items():
        items += katex_items(name, explanation(source))
    items += katex_items("capped", explanation(TRICKY["powers"], max_steps=5))
    assert len(items) > 500
    assert_katex_renders(items)


def test_katex_renders_every_op_of_the_table():
    items = []
    for op in ops.OPS.values():
        arity = op.arity or 3
        args = ", ".join(f"x{k}" for k in range(arity))
        if op.notation == ops.INFIX:
            expression = f"x0 {op.symbol} x1"
        elif op.notation == ops.PREFIX:
            expression = f"{op.symbol}x0"
        else:
            expression = f"{op.name}({args})"
        exp = explanation(f"y = {expression}", {f"x{k}": 0.7 - 0.4 * k for k in range(arity)})
        latex = texmath.op_template(op)
        head = latex.split("#", 1)[0]
        assert head in explain.to_latex(exp), (op.name, head)
        items += katex_items(op.name, exp)
    assert_katex_renders(items)


def test_katex_renders_generated_programs():
    """The property tests' random programs (every operator and function, loops, defs,
    comprehensions, ** for ^, odd layouts) through both formats, in one KaTeX run."""
    items: list[tuple[str, str, bool]] = []

    @settings(max_examples=40, database=None)
    @given(programs(), st.data())
    def collect(source, data):
        graph = cgraph.parse(source)
        point = data.draw(values(list(graph.inputs)))
        items.extend(katex_items(f"program {len(items)}: {source!r}", explain.steps(cgraph.evaluate(graph, point))))

    collect()
    assert len(items) > 40
    assert_katex_renders(items)


def test_the_katex_check_fails_on_bad_tex():
    """The judge itself: a circumflex over nothing in math, an unbalanced brace."""
    errors = katex_errors([("caret", r"\text{x} \^{} 2", False), ("brace", r"\frac{a}{b", False), ("ok", "x^{2}", False)])
    assert set(errors) == {"caret", "brace"}


# --- the tutorial, exactly -------------------------------------------------------------------

INTRO_MARKDOWN = r"""# Backpropagation through $g$

## Forward pass

1. $p = x + y = 1 + 3 = 4$
2. $g = p \cdot z = 4 \cdot -3 = -12$

## Backward pass

1. $\frac{\partial g}{\partial g} = 1$
2. $\frac{\partial g}{\partial z} = \frac{\partial g}{\partial g} \cdot \left.\frac{\partial g}{\partial z}\right|_{\text{local}} = 1 \cdot p = 1 \cdot 4 = 4$
3. $\frac{\partial g}{\partial p} = \frac{\partial g}{\partial g} \cdot \left.\frac{\partial g}{\partial p}\right|_{\text{local}} = 1 \cdot z = 1 \cdot -3 = -3$
4. $\frac{\partial g}{\partial y} = \frac{\partial g}{\partial p} \cdot \left.\frac{\partial p}{\partial y}\right|_{\text{local}} = -3 \cdot 1 = -3$
5. $\frac{\partial g}{\partial x} = \frac{\partial g}{\partial p} \cdot \left.\frac{\partial p}{\partial x}\right|_{\text{local}} = -3 \cdot 1 = -3$
"""

INTRO_LATEX = r"""% cgraph explain: backpropagation through g (needs amsmath)
\begin{align*}
% Forward pass
\textbf{Forward pass} && \\
\text{1.} && p &= x + y = 1 + 3 = 4 \\
\text{2.} && g &= p \cdot z = 4 \cdot -3 = -12 \\
% Backward pass
\textbf{Backward pass} && \\
\text{1.} && \frac{\partial g}{\partial g} &= 1 \\
\text{2.} && \frac{\partial g}{\partial z} &= \frac{\partial g}{\partial g} \cdot \left.\frac{\partial g}{\partial z}\right|_{\text{local}} = 1 \cdot p = 1 \cdot 4 = 4 \\
\text{3.} && \frac{\partial g}{\partial p} &= \frac{\partial g}{\partial g} \cdot \left.\frac{\partial g}{\partial p}\right|_{\text{local}} = 1 \cdot z = 1 \cdot -3 = -3 \\
\text{4.} && \frac{\partial g}{\partial y} &= \frac{\partial g}{\partial p} \cdot \left.\frac{\partial p}{\partial y}\right|_{\text{local}} = -3 \cdot 1 = -3 \\
\text{5.} && \frac{\partial g}{\partial x} &= \frac{\partial g}{\partial p} \cdot \left.\frac{\partial p}{\partial x}\right|_{\text{local}} = -3 \cdot 1 = -3
\end{align*}
"""


def test_tutorial_markdown_exactly(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--format", "markdown")
    assert code == 0 and err == ""
    assert out == INTRO_MARKDOWN


def test_tutorial_latex_exactly(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--format", "latex")
    assert code == 0 and err == ""
    assert out == INTRO_LATEX
    assert out.count("&=") == 7  # one aligned row per step
    assert all(line.startswith((r"\text{", "%", r"\textbf", r"\begin", r"\end")) for line in out.splitlines())


def test_latex_is_one_align_environment_with_options(cg):
    code, out, _ = cg("explain", SAMPLES / "rnn.cg", "--format", "latex", "--node", "h[3]", "--only", "backward")
    assert code == 0
    body = out.split("\\begin{align*}\n", 1)[1]
    assert body.endswith("\\end{align*}\n") and "\\begin" not in body
    assert "\\textbf{Backward pass}" in body and "Forward pass" not in body
    assert not body.rstrip().removesuffix("\\end{align*}").rstrip().endswith("\\\\")  # no empty last row


def test_a_node_known_by_its_expression_says_it_once():
    step = explain.Step("forward", 1, 0, "w * h[3]", "t = 4", 0.4, 1.0, expression="w * h[3]", numbers="0.8 * 0.5")
    exp = explain.Explanation("y", [step], 0, 6)
    assert "1. *t = 4*: $w \\cdot h_{3} = 0.8 \\cdot 0.5 = 0.4$" in explain.to_markdown(exp)
    assert "\\text{1. [t = 4]} && w \\cdot h_{3} &= 0.8 \\cdot 0.5 = 0.4" in explain.to_latex(exp)


def test_help_documents_latex(cg):
    code, out, _ = cg("explain", "--help")
    assert code == 0 and "latex" in out and "align*" in out


# --- names, ops and formulas as math ---------------------------------------------------------


@pytest.mark.parametrize("name,tex", [
    ("x", "x"), ("w[1]", "w_{1}"), ("w[1,2]", "w_{1,2}"), ("h[t-1]", "h_{t-1}"), ("x1", "x_{1}"),
    ("loss", r"\mathrm{loss}"), ("W1[j,i]", r"\mathrm{W1}_{j,i}"), ("W1_a", r"\mathrm{W1\_a}"),
    ("z@t=2", r"z_{\text{t=2}}"), ("x[idx]", r"x_{\mathrm{idx}}"),
])
def test_names_are_math_identifiers(name, tex):
    assert texmath.math(name) == tex


@pytest.mark.parametrize("text,tex", [
    ("x^2", "x^{2}"),
    ("b*a^(b-1)", r"b \cdot a^{b - 1}"),
    ("a^b^c", "a^{b^{c}}"),
    ("a^(b)^c", r"a^{(b)^{c}}"),
    ("1e-07 ^ 2", r"(1 \times 10^{-7})^{2}"),
    ("4 * -3", r"4 \cdot -3"),
    ("x - y", "x - y"),
    ("-x^2", "-x^{2}"),
    ("tanh(w*h[t-1] + u*x[t])", r"\tanh(w \cdot h_{t-1} + u \cdot x_{t})"),
    ("sigmoid(z)", r"\sigma(z)"),
    ("sqrt(x)", r"\sqrt{x}"),
    ("exp(x) - log(x)", r"\exp(x) - \log(x)"),
    ("max(x, 2*x)", r"\max(x, 2 \cdot x)"),
    ("neuron(x1)", r"\operatorname{neuron}(x_{1})"),
])
def test_expressions_are_math(text, tex):
    assert texmath.math(text) == tex


def test_words_are_words_only_where_they_are_not_names():
    """inf, nan, if and else are names a program may use; in numbers and formulas they are words."""
    assert texmath.numerals("-inf + nan") == r"-\infty + \mathrm{NaN}"
    assert texmath.math("inf + nan") == r"\mathrm{inf} + \mathrm{nan}"
    assert texmath.formula("1 if a > 0 else 0") == r"1 \text{ if } a > 0 \text{ else } 0"
    assert texmath.math("if * else") == r"\mathrm{if} \cdot \mathrm{else}"
    assert texmath.math("sum(x[i] for i in 1..3)") == r"\operatorname{sum}(x_{i} \text{ for } i \text{ in } 1..3)"
    exp = explanation("input inf = 2\nif = inf * 3\ny = if + log(0*inf)")
    md = explain.to_markdown(exp)
    assert r"$\mathrm{if} = \mathrm{inf} \cdot 3 = 2 \cdot 3 = 6$" in md
    assert r"= \log(0) = -\infty$" in md


def test_max_and_min_formulas_name_their_real_operands():
    exp = explanation("input x = 1\ny = max(x, 2*x) + min(3, x)")
    text = explain.to_text(exp)
    assert "(1 if (2*x) > x, 0.5 on a tie, else 0)" in text
    assert "(1 if x > (2*x), 0.5 on a tie, else 0)" in text
    assert "(1 if x < 3, 0.5 on a tie, else 0)" in text
    formulas = {c.formula for s in exp.steps for c in s.contributions}
    assert "1 if x < 3, 0.5 on a tie, else 0" in formulas  # JSON's formula too
    md = explain.to_markdown(exp)
    assert r"(1 \text{ if } (2 \cdot x) > x, 0.5 \text{ on a tie}, \text{ else } 0)" in md


def test_local_derivatives_are_marked_and_fan_out_keeps_its_via_labels():
    exp = sample("neuron")
    (step,) = [s for s in exp.steps if s.phase == "backward" and s.name == "w"]
    md = explain.to_markdown(exp).splitlines()
    latex = explain.to_latex(exp)
    k = md.index(f"{step.number}. $w$ is used 3 times; the contributions add up:")
    for n, c in enumerate(step.contributions, 1):
        consumer = texmath.math(c.consumer.split(" [")[0])  # w \cdot a, or with the call's argument
        assert md[k + n].startswith(rf"    - via ${consumer}$ *(neuron\#{n})*: $\frac{{\partial y}}{{\partial ({consumer})}} "
                                    rf"\cdot \left.\frac{{\partial ({consumer})}}{{\partial w}}\right|_{{\text{{local}}}} = ")
        assert rf"\text{{via }}{consumer}\ \text{{[neuron\#{n}]}} && \frac{{\partial y}}{{\partial ({consumer})}}" in latex
    assert md[k + 4] == r"    - $\frac{\partial y}{\partial w} = 0.711578 + -0.973835 + 0.443426 = 0.181169$"


def test_no_op_is_spelled_in_the_math_writers():
    """The op table is the only place that knows an op's LaTeX. (explain_tex writes the
    chain rule's own product, upstream \\cdot local, which is no op of the program.)"""
    code = "\n".join(code_strings(texmath.__file__)) + "\n".join(code_strings(explain_tex.__file__)).replace(r"\cdot", "")
    assert r"\frac" in code and r"\partial" in code  # the scan sees the writers' strings
    spelled = [op.latex.split("#")[0] for op in ops.OPS.values() if op.latex is not None]
    assert len(spelled) >= 10
    for head in spelled:
        if head.startswith("\\"):  # a command; ^{ is also how 1.5 \times 10^{-7} is written
            assert head not in code, head


def code_strings(path: str) -> list[str]:
    """The string literals of a module's code (its docstrings show examples, not code)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_a_new_op_without_latex_is_an_operatorname(monkeypatch):
    leaky = ops.Op("leaky_relu", "LReLU", 1, lambda a: a if a > 0 else 0.1 * a,
                   lambda o, a: (1.0 if a > 0 else 0.1,), ("1 if a > 0 else 0.1",))
    ops.register(leaky)
    try:
        exp = explanation("input x = -3\ny = leaky_relu(x) * 2")
    finally:
        ops.unregister("leaky_relu")
    latex = explain.to_latex(exp)
    assert r"\operatorname{leaky\_relu}(x)" in latex
    assert_katex_renders(katex_items("leaky", exp))


# --- text from a program is data -------------------------------------------------------------

# What the writers may put in TeX themselves; anything else would have come from a program.
ALLOWED_COMMANDS = {
    "text", "textbf", "textbackslash", "textasciitilde", "textasciicircum", "textless", "textgreater", "textbar", "mathrm", "operatorname", "frac",
    "partial", "left", "right", "cdot", "quad", "times", "infty", "begin", "end", "sqrt", "exp", "log", "sin",
    "cos", "tan", "tanh", "sigma", "max", "min",
}


def hostile_explanation() -> explain.Explanation:
    step = explain.Step("forward", 1, 0, HOSTILE, HOSTILE, 1.0, 2.0, expression=HOSTILE, numbers=HOSTILE,
                        aliases=[HOSTILE + "2"])
    back = explain.Step("backward", 1, 0, HOSTILE, HOSTILE, 1.0, 2.0, aliases=[HOSTILE + "2"], contributions=[
        explain.Contribution(f"{HOSTILE} [{HOSTILE}]", 1.0, HOSTILE, 2.0, 2.0),
        explain.Contribution(HOSTILE, 1.0, HOSTILE, 2.0, 2.0),
    ])
    return explain.Explanation(HOSTILE, [step, back], 3, 6)


def test_hostile_text_cannot_inject_commands():
    exp = hostile_explanation()
    md, latex = explain.to_markdown(exp), explain.to_latex(exp)
    for output in (*markdown_math(md), latex, texmath.math(HOSTILE), texmath.text(HOSTILE)):
        commands = {c[1:] for c in re.findall(r"\\[A-Za-z]+|\\.", output)} - set("\\{}_#$%&,;: ")
        assert commands <= ALLOWED_COMMANDS, commands - ALLOWED_COMMANDS
    assert "\\input" not in re.sub(r"\\\\", "", "".join(markdown_math(md)))
    assert "\\input" not in latex
    # Markdown keeps its math spans: the program's $ never opens or closes one
    assert all(line.count("$") - line.count("\\$") == 2 * len(re.findall(r"(?<!\\)\$(.+?)(?<!\\)\$", line))
               for line in md.splitlines())
    assert_katex_renders(katex_items("hostile", exp)
                         + [("math", texmath.math(HOSTILE), False), ("text", texmath.text(HOSTILE), False)])
