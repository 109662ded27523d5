"""A graph and its gradient as LaTeX (cgraph/views/export_latex.py): an `aligned` system.

Every sample's formulas are compared with rows written by hand from the sample's source;
a few gradients too. KaTeX (node; `make system-packages`) must render every output in its
strict mode. Names and headers are data: nothing a program names reaches TeX as a
command. A 1e5-deep chain is written without recursion, in short rows.
"""

from __future__ import annotations

import ast
import re
import time

import pytest
from hypothesis import given, settings

import cgraph
from cgraph import ops
from cgraph.errors import Source
from cgraph.ir.tape import Span, TapeWriter
from cgraph.transform.grad import grad
from cgraph.views import export_latex as module
from cgraph.views.export_latex import MAX_DEPTH, export_latex

from support.katex import katex_errors
from support.paths import SAMPLES
from support.programs import programs

SITE = Span()

# The forward rows, written by hand from each sample's source.
FORWARD = {
    "intro": [
        r"p &= x + y",
        r"g &= p \cdot z",
    ],
    "linreg": [
        r"\mathrm{pred} &= w \cdot x + b",
        r"\mathrm{loss} &= (\mathrm{pred} - y)^{2}",
    ],
    "logreg": [
        r"z &= \operatorname{sum}(w_{1} \cdot x_{1}, w_{2} \cdot x_{2}) + b",
        r"p &= \sigma(z)",
        r"\mathrm{loss} &= -(\mathrm{label} \cdot \log(p) + (1 - \mathrm{label}) \cdot \log(1 - p))",
    ],
    "neuron": [
        r"y &= \tanh(w \cdot x_{1} + b) + \tanh(w \cdot x_{2} + b) + \tanh(w \cdot x_{3} + b)",
    ],
    "rnn": [
        *(rf"h_{{{t}}} &= \tanh(w \cdot h_{{{t - 1}}} + u \cdot x_{{{t}}})" for t in range(1, 6)),
        r"\mathrm{loss} &= (h_{5} - \mathrm{target})^{2}",
    ],
    "mlp": [
        *(rf"h_{{{j}}} &= \tanh(\operatorname{{sum}}(\mathrm{{W1}}_{{{j},1}} \cdot x_{{1}}, "
          rf"\mathrm{{W1}}_{{{j},2}} \cdot x_{{2}}) + \mathrm{{b1}}_{{{j}}})" for j in (1, 2, 3)),
        r"y &= \operatorname{sum}(\mathrm{W2}_{1} \cdot h_{1}, \mathrm{W2}_{2} \cdot h_{2}, \mathrm{W2}_{3} \cdot h_{3}) + b_{2}",
        r"\mathrm{loss} &= 0.5 \cdot (y - \mathrm{target})^{2}",
    ],
    "xor": [
        *(rf"h_{{{j}}} &= \tanh(\operatorname{{sum}}(\mathrm{{W1}}_{{{j},1}} \cdot x_{{1}}, "
          rf"\mathrm{{W1}}_{{{j},2}} \cdot x_{{2}}) + \mathrm{{b1}}_{{{j}}})" for j in (1, 2)),
        r"y &= \sigma(\operatorname{sum}(\mathrm{W2}_{1} \cdot h_{1}, \mathrm{W2}_{2} \cdot h_{2}) + b_{2})",
        r"\mathrm{loss} &= (y - \mathrm{target})^{2}",
    ],
}

D_LOSS = r"\frac{\partial \mathrm{loss}}{\partial "
# The gradient rows, by hand: the simplified gradient graph, its shared parts named once.
GRADIENT = {
    "intro": [
        r"\frac{\partial g}{\partial x} &= z",
        r"\frac{\partial g}{\partial y} &= z",
        r"\frac{\partial g}{\partial z} &= p",
    ],
    "linreg": [  # d loss/d b = d loss/d pred: the other rows use it by that name
        D_LOSS + r"b} &= (\mathrm{pred} - y) \cdot 2",
        D_LOSS + r"y} &= -" + D_LOSS + "b}",
        D_LOSS + r"w} &= x \cdot " + D_LOSS + "b}",
        D_LOSS + r"x} &= w \cdot " + D_LOSS + "b}",
    ],
    "rnn": [  # backpropagation through time: \delta_t is d loss/d (the sum inside h_t's tanh)
        r"\delta_{1} &= (h_{5} - \mathrm{target}) \cdot 2",
        D_LOSS + r"\mathrm{target}} &= -\delta_{1}",
        r"\delta_{2} &= \delta_{1} \cdot (1 - h_{5} \cdot h_{5})",
        D_LOSS + r"x_{5}} &= u \cdot \delta_{2}",
        *(row for k, t in ((3, 4), (4, 3), (5, 2), (6, 1)) for row in (
            rf"\delta_{{{k}}} &= w \cdot \delta_{{{k - 1}}} \cdot (1 - h_{{{t}}} \cdot h_{{{t}}})",
            D_LOSS + rf"x_{{{t}}}}} &= u \cdot \delta_{{{k}}}")),
        D_LOSS + r"h_{0}} &= w \cdot \delta_{6}",
        D_LOSS + r"u} &= \operatorname{sum}(x_{5} \cdot \delta_{2}, x_{4} \cdot \delta_{3}, x_{3} \cdot \delta_{4}, "
        r"x_{2} \cdot \delta_{5}, x_{1} \cdot \delta_{6})",
        D_LOSS + r"w} &= \operatorname{sum}(h_{4} \cdot \delta_{2}, h_{3} \cdot \delta_{3}, h_{2} \cdot \delta_{4}, "
        r"h_{1} \cdot \delta_{5}, h_{0} \cdot \delta_{6})",
    ],
}


def rows(latex: str) -> list[str]:
    """The rows of the aligned environment, without their \\\\ (comment rows kept)."""
    body = latex.split("\\begin{aligned}\n", 1)[1].split("\n\\end{aligned}", 1)[0]
    return [line.removesuffix(" \\\\") for line in body.split("\n")]


def load(name: str) -> cgraph.Graph:
    return cgraph.load(SAMPLES / f"{name}.cg")


def assert_katex_renders(items: list[tuple[str, str]]) -> None:
    errors = katex_errors([(i, tex, True) for i, tex in items])
    tex = dict(items)
    assert not errors, "\n".join(f"{i}: {e}\n  in {tex[i][:300]!r}" for i, e in list(errors.items())[:5])


# --- the samples, by hand ------------------------------------------------------------------


def test_every_sample_is_covered():
    assert set(FORWARD) == {p.stem for p in SAMPLES.glob("*.cg")}


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_sample_formulas(name):
    assert rows(export_latex(load(name))) == FORWARD[name]


@pytest.mark.parametrize("name", sorted(GRADIENT))
def test_sample_gradients(name):
    graph = load(name)
    assert rows(export_latex(graph, grad(graph))) == (
        FORWARD[name] + [f"% the gradient of {graph.output_name}"] + GRADIENT[name])


def test_the_tutorial_exactly():
    graph = load("intro")
    assert export_latex(graph, grad(graph), header="cgraph export samples/intro.cg --to latex --grad") == (
        "% cgraph export samples/intro.cg --to latex --grad\n"
        "\\begin{aligned}\n"
        "p &= x + y \\\\\n"
        "g &= p \\cdot z \\\\\n"
        "% the gradient of g\n"
        "\\frac{\\partial g}{\\partial x} &= z \\\\\n"
        "\\frac{\\partial g}{\\partial y} &= z \\\\\n"
        "\\frac{\\partial g}{\\partial z} &= p\n"
        "\\end{aligned}\n"
    )


def test_gradient_with_respect_to_some_names():
    graph = load("linreg")
    latex = export_latex(graph, grad(graph, ["w", "b"]), wrt=["w", "b"])
    assert rows(latex)[3:] == [D_LOSS + r"b} &= (\mathrm{pred} - y) \cdot 2", D_LOSS + r"w} &= x \cdot " + D_LOSS + "b}"]


def test_a_gradient_of_other_names_is_refused():
    graph = load("linreg")
    with pytest.raises(ValueError, match="4 outputs, not one per output and wrt name"):
        export_latex(graph, grad(graph), wrt=["w"])


def test_the_same_file_gives_the_same_text():
    assert export_latex(load("mlp"), grad(load("mlp"))) == export_latex(load("mlp"), grad(load("mlp")))


# --- how expressions are written -------------------------------------------------------------


def formula(source: str) -> list[str]:
    return rows(export_latex(cgraph.parse(source)))


def test_powers_fractions_and_functions_with_the_parentheses_needed():
    assert formula("input x\ny = x^2^3 + (x^2)^3 + -x^2 + 2^-x + x^(x - 1) + sqrt(x)^2 + exp(x)^(1/2)") == [
        r"y &= x^{2^{3}} + (x^{2})^{3} + (-x^{2}) + 2^{-x} + x^{x - 1} + \sqrt{x}^{2} + \exp(x)^{\frac{1}{2}}"]
    assert formula("input a\ninput b\ny = a/b/c + a/(b*c) + (a/b)^2 + -a/b") == [
        r"y &= \frac{\frac{a}{b}}{c} + \frac{a}{b \cdot c} + \left(\frac{a}{b}\right)^{2} + \frac{-a}{b}"]
    assert formula("input a\ninput b\ny = a - -b + a*-b + (-2)^a + 1e-7*a + abs(a - b)^2 + max(a, 2*b) - min(a, b)") == [
        r"y &= a - (-b) + a \cdot (-b) + (-2)^{a} + 1 \times 10^{-7} \cdot a + \left|a - b\right|^{2} + \max(a, 2 \cdot b) - \min(a, b)"]
    assert formula("input a\ninput b\ny = a - (b - a) + (a - b) - a + a * (b * a) + a * b * a + tanh(a) * sigmoid(b) + log(a)") == [
        r"y &= a - (b - a) + (a - b) - a + a \cdot (b \cdot a) + a \cdot b \cdot a + \tanh(a) \cdot \sigma(b) + \log(a)"]


def test_named_constants_aliases_and_several_outputs():
    assert formula("input x\nf = 3\ng = f * x\nh = g\noutput h, g") == ["f &= 3", r"g &= f \cdot x", "h &= g"]


def test_numbers_without_a_literal():
    assert formula("input x\ny = log(x)*0 + 1/0*x - 1e999 + (0/0)*x") == [
        r"y &= \log(x) \cdot 0 + \frac{1}{0} \cdot x - \infty + \frac{0}{0} \cdot x"]
    assert module.tex_constant(float("nan")) == (r"\mathrm{NaN}", module.ATOM)
    assert module.tex_constant(float("-inf"))[0] == r"-\infty" and module.tex_constant(-0.0)[0] == "-0"


def test_a_shared_unnamed_node_gets_a_temporary():
    tape = TapeWriter(Source("", "<built>"), 1000)
    x = tape.leaf("input", "t1", SITE, 0.5)  # a temporary never looks like a name: t1 is t_{1}
    s = tape.append("tanh", (x,), SITE, tape.root)
    y = tape.append("add", (tape.append("mul", (s, s), SITE, tape.root), s), SITE, tape.root)
    tape.name(y, "y")
    assert rows(export_latex(tape.finish(y, "y"))) == [r"\tau_{1} &= \tanh(t_{1})", r"y &= \tau_{1} \cdot \tau_{1} + \tau_{1}"]


def test_every_op_is_written_as_the_table_says():
    """The op table's `latex` (or \\operatorname for an op without one) in every formula;
    the one exception is the grammar's `/`, set as a fraction."""
    for op in ops.OPS.values():
        arity = op.arity or 3
        args = [f"x{k}" for k in range(arity)]
        graph = cgraph.parse("".join(f"input {a}\n" for a in args) + f"y = {_call(op, args)}")
        latex = export_latex(graph)
        template = r"\frac{#}{#}" if op.notation == ops.INFIX and op.symbol == "/" else module.texmath.op_template(op)
        for piece in template.split("#"):
            assert piece.strip() in latex, (op.name, piece, latex)


def _call(op: ops.Op, args: list[str]) -> str:
    if op.notation == ops.INFIX:
        return f"{args[0]} {op.symbol} {args[1]}"
    if op.notation == ops.PREFIX:
        return f"{op.symbol}{args[0]}"
    return f"{op.name}({', '.join(args)})"


def test_a_new_op_without_latex_is_an_operatorname():
    leaky = ops.Op("leaky_relu", "LReLU", 1, lambda a: a if a > 0 else 0.1 * a,
                   lambda o, a: (1.0 if a > 0 else 0.1,), ("1 if a > 0 else 0.1",))
    ops.register(leaky)
    try:
        assert formula("input x\ny = leaky_relu(x) * 2") == [r"y &= \operatorname{leaky\_relu}(x) \cdot 2"]
    finally:
        ops.unregister("leaky_relu")


def test_no_op_is_spelled_in_the_writer():
    """The op table is the only place that knows an op's LaTeX."""
    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    code = "\n".join(node.value for node in ast.walk(tree)  # the string literals of the code
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings)
    assert r"\frac" in code  # the scan sees the writer's strings
    for op in ops.OPS.values():
        head = (op.latex or "").split("#")[0]
        if head.startswith("\\") and head != r"\frac":
            assert head not in code, head
        assert op.name not in code.split(), op.name


# --- KaTeX renders everything ----------------------------------------------------------------


def test_katex_renders_every_sample_with_its_gradient_and_the_tricky_formulas():
    items = []
    for name in sorted(FORWARD):
        graph = load(name)
        items += [(name, export_latex(graph)), (f"{name} grad", export_latex(graph, grad(graph), header=f"{name}\n%x"))]
    for k, source in enumerate([
        "input x\ny = x^2^3 + (x^2)^3 + -x^2 + 2^-x + x^(x - 1) + sqrt(x)^2 + exp(x)^(1/2)",
        "input a\ninput b\ny = a/b/c + a/(b*c) + (a/b)^2 + -a/b + (-2)^a + 1e-7*a + abs(a - b)^2 + 1e999 - (0/0)",
        "input x\ny = max(x, 2*x) + min(3, x) + abs(x - 2) + relu(-x) + sin(x)*cos(x)/tan(x) + mean(x, 2, 3)",
    ]):
        graph = cgraph.parse(source)
        items += [(f"tricky {k}", export_latex(graph)), (f"tricky {k} grad", export_latex(graph, grad(graph)))]
    assert_katex_renders(items)


def test_katex_renders_generated_programs_and_their_gradients():
    items: list[tuple[str, str]] = []

    @settings(max_examples=40, database=None, deadline=None)
    @given(programs())
    def collect(source):
        graph = cgraph.parse(source)
        items.append((f"program {len(items)}: {source!r}", export_latex(graph)))
        if graph.inputs:
            items.append((f"program {len(items)} grad", export_latex(graph, grad(graph))))

    collect()
    assert len(items) >= 40
    assert_katex_renders(items)


# --- names and headers are data --------------------------------------------------------------

HOSTILE = ["\"quote\" 'single' \\back\\slash \\input{/etc/passwd} {brace} [x] |pipe| `tick` $dollar$ &amp; #hash ^caret ~tilde %% _under ;",
           "x\n\\end{aligned}\\input{x}", "a & b \\\\ c", "%comment", "}{", "\\", "w[1, 2]", "h[t-1]", "é", "", "\u202ex"]
ALLOWED_COMMANDS = {"text", "textbackslash", "textasciitilde", "textasciicircum", "textless", "textgreater",
                    "textbar", "mathrm", "operatorname", "frac", "partial", "cdot", "begin", "end", "tanh", "tau", "delta"}


def hostile_graph() -> cgraph.Graph:
    tape = TapeWriter(Source("", "<built>"), 1000)
    leaves = [tape.leaf("input", name, SITE, float(k)) for k, name in enumerate(HOSTILE)]
    total = tape.append("sum", tuple(leaves), SITE, tape.root)
    tape.name(total, HOSTILE[0] + "total")
    node = total
    for k, leaf in enumerate(leaves[:5]):
        node = tape.append("mul", (node, tape.append("tanh", (leaf,), SITE, tape.root)), SITE, tape.root)
        tape.name(node, HOSTILE[-1 - k] + "\n%")
    return tape.finish_outputs([(total, "out\nput}"), (node, HOSTILE[1])])


def test_hostile_names_and_headers_cannot_inject_commands():
    graph = hostile_graph()
    latex = export_latex(graph, grad(graph), header="\n".join(HOSTILE))
    body = latex.split("\\begin{aligned}\n", 1)[1]
    assert [line for line in latex.split("\\begin{aligned}\n", 1)[0].splitlines() if not line.startswith("%")] == []
    code = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))  # comments are one line each
    assert code.count("\\begin{aligned}") == 1 and code.count("\\end{aligned}") == 1 and latex.endswith("\\end{aligned}\n")
    for line in body.splitlines()[:-1]:
        if not line.startswith("% "):  # a row: one &=, the names' & escaped
            assert len(re.findall(r"(?<!\\)&", line)) == 1, line
            commands = {c[1:] for c in re.findall(r"\\[A-Za-z]+|\\.", line)} - set("\\{}_#$%&,;: ")
            assert commands <= ALLOWED_COMMANDS, commands - ALLOWED_COMMANDS
    assert "\\input" not in code.replace("\\textbackslash{}input", "")
    assert_katex_renders([("hostile", latex)])


# --- deep programs ---------------------------------------------------------------------------


def deep_chain(n: int) -> cgraph.Graph:
    tape = TapeWriter(Source("", "<built>"), 10 * n)
    node = tape.leaf("input", "x", SITE, 0.5)
    for k in range(n):
        node = tape.append("sin" if k % 3 else "neg", (node,), SITE, tape.root)
    return tape.finish(node, "y")


def test_a_deep_chain_is_written_in_short_rows_without_recursion():
    graph = deep_chain(100_000)
    start = time.perf_counter()
    latex = export_latex(graph, grad(graph))
    assert time.perf_counter() - start < 10
    lines = rows(latex)
    assert max(len(line) for line in lines) < 400
    assert max(line.count("(") for line in lines) <= MAX_DEPTH + 1
    assert lines[-1].startswith(r"\frac{\partial y}{\partial x} &= ")


def test_katex_renders_a_deep_chain():
    graph = deep_chain(300)
    assert_katex_renders([("deep", export_latex(graph, grad(graph)))])
