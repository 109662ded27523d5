"""`cgraph explain`: both passes in the words of a backprop lecture, against the issue.

Library: `cgraph.explain.steps(ev, only=, node=, max_steps=, precision=)` and its writers
`lines`, `to_text`, `to_markdown`, `to_dict`. CLI in-process through `cgraph.cli.run`.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

import cgraph
from cgraph.views import explain
from cgraph.ops import OPS

from support.jsonutil import strict_json
from support.samples import INTRO_ARGS, INTRO_INPUTS, SAMPLE_CASES, SAMPLE_IDS, SAMPLES

INTRO = str(SAMPLES / "intro.cg")


# The long chain used for the step cap: 150 forward steps + 152 backward steps.
LONG_CHAIN = "for t in 1..150 { h[t] = h[t-1] + x }"


# --- helpers -------------------------------------------------------------------------


def evaluation(name: str, inputs=None) -> cgraph.Evaluation:
    return cgraph.evaluate(cgraph.load(SAMPLES / f"{name}.cg"), inputs or {})


def needed_nodes(graph, out: int) -> set[int]:
    needed = {out}
    for i in range(out, -1, -1):
        if i in needed:
            needed.update(graph.args[i])
    return needed


def section(text: str, title: str) -> list[str]:
    """The step lines under 'Forward pass' or 'Backward pass' of the text output, unindented."""
    result, inside = [], False
    for line in text.splitlines():
        if line in ("Forward pass", "Backward pass"):
            inside = line == title
            continue
        if inside and line.startswith("  "):
            result.append(line[2:])
    return result


def backward_blocks(exp: explain.Explanation) -> list[list[str]]:
    """The backward lines of lines(exp), one block per step (a header and its continuations)."""
    blocks: list[list[str]] = []
    for phase, line in explain.lines(exp):
        if phase != "backward":
            continue
        if re.match(r"\d+\. ", line):
            blocks.append([line])
        else:
            assert blocks and line.startswith(" "), f"a continuation line before any step: {line!r}"
            blocks[-1].append(line)
    return blocks


def split_math(line: str) -> tuple[list[str], list[str]]:
    """(math segments, text segments) of a Markdown line, split at unescaped `$`."""
    parts = re.split(r"(?<!\\)\$", line)
    assert len(parts) % 2 == 1, f"unbalanced $ in: {line!r}"
    return parts[1::2], parts[0::2]


def braces_balanced(math: str) -> bool:
    depth = 0
    unescaped = re.sub(r"\\[{}]", "", math)
    for ch in unescaped:
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0


def text_contents(math: str) -> list[str]:
    """The contents of every \\text{...} of a math segment (escaped braces do not count)."""
    found = []
    for m in re.finditer(r"\\text\{", math):
        i, depth = m.end(), 1
        start = i
        while i < len(math) and depth:
            if math[i] == "\\":
                i += 2
                continue
            depth += math[i] == "{"
            depth -= math[i] == "}"
            i += 1
        assert depth == 0, f"unclosed \\text{{ in {math!r}"
        found.append(math[start:i - 1])
    return found


def assert_valid_markdown(md: str) -> None:
    """Balanced `$` per line, balanced braces inside math, no raw `_` inside \\text{} or in
    the Markdown text around the math (an unescaped `_` there would start emphasis)."""
    for line in md.splitlines():
        maths, texts = split_math(line)
        for math in maths:
            assert braces_balanced(math), f"unbalanced braces in math: {math!r}"
            for content in text_contents(math):
                assert not re.search(r"(?<!\\)_", content), f"raw _ inside \\text{{}}: {content!r} in {line!r}"
        for text in texts:
            assert not re.search(r"(?<!\\)_", text), f"raw _ in Markdown text: {text!r} in {line!r}"


def ordered_items(md: str) -> int:
    return sum(1 for t in MarkdownIt().parse(md) if t.type == "list_item_open" and t.markup == ".")


# --- the tutorial example ------------------------------------------------------------


def test_tutorial_text_forward_lines_exact(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Forward pass"
    assert section(out, "Forward pass") == [
        "1. p = x + y = 1 + 3 = 4",
        "2. g = p * z = 4 * -3 = -12",
    ]
    assert lines.index("Forward pass") < lines.index("Backward pass")


def test_tutorial_text_backward_products_and_values(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS)
    assert code == 0, err
    back = section(out, "Backward pass")
    assert back[0] == "1. dg/dg = 1"

    def step(target: str) -> tuple[int, str]:
        found = [(k, line) for k, line in enumerate(back) if re.match(rf"\d+\. dg/d{target} = ", line)]
        assert len(found) == 1, f"one step for dg/d{target} expected in:\n" + "\n".join(back)
        return found[0]

    kz, z = step("z")
    assert "dg/dg * dg/dz" in z  # upstream times local, by name
    assert "1 * p" in z and "1 * 4" in z and z.endswith("= 4")
    kp, p = step("p")
    assert "dg/dg * dg/dp" in p
    assert "1 * z" in p and p.endswith("= -3")
    kx, x = step("x")
    assert "dg/dp * dp/dx" in x
    assert "-3 * 1" in x and x.endswith("= -3")
    ky, y = step("y")
    assert "dg/dp * dp/dy" in y and y.endswith("= -3")
    # the tutorial's order: from the output back to the inputs
    assert 0 < kz < kp < kx and kp < ky
    assert [int(line.split(".")[0]) for line in back] == list(range(1, len(back) + 1))


def test_tutorial_library_matches_cli_text(cg):
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS)
    ev = evaluation("intro", INTRO_INPUTS)
    assert out == explain.to_text(explain.steps(ev))


def test_cli_text_is_plain_without_colour_and_not_wrapped(cg):
    """NO_COLOR: no escape codes; long lines (the neuron's) stay whole, as to_text writes them."""
    code, out, _ = cg("explain", SAMPLES / "neuron.cg")
    assert code == 0
    assert "\x1b[" not in out
    assert out == explain.to_text(explain.steps(evaluation("neuron")))
    assert max(len(line) for line in out.splitlines()) > 100


# --- the shared-weight neuron --------------------------------------------------------


@pytest.mark.parametrize("weight", ["w", "b"])
def test_neuron_shared_weight_sum_of_three_contributions(cg, weight):
    code, out, err = cg("explain", SAMPLES / "neuron.cg")
    assert code == 0, err
    back = section(out, "Backward pass")
    heads = [k for k, line in enumerate(back) if re.match(rf"\d+\. dy/d{weight}\b", line)]
    assert len(heads) == 1
    k = heads[0]
    assert f"{weight} is used 3 times" in back[k]
    vias = back[k + 1:k + 4]
    assert all(line.lstrip().startswith("via ") for line in vias), vias
    # each contribution: upstream * local = value
    for line in vias:
        m = re.search(r"= (\S+) \* (\S+) = (\S+)$", line)
        assert m, line
        up, local, value = map(float, m.groups())
        assert up * local == pytest.approx(value, rel=1e-5, abs=1e-6)
    # the sum: three terms, adding up to backprop's gradient
    total_line = back[k + 4].strip()
    m = re.fullmatch(rf"dy/d{weight} = (.+) = (\S+)", total_line)
    assert m, total_line
    terms = [float(t) for t in m.group(1).split(" + ")]
    assert len(terms) == 3
    grad = evaluation("neuron").grad(weight)
    assert sum(terms) == pytest.approx(grad, abs=1e-5)
    assert float(m.group(2)) == pytest.approx(grad, rel=1e-5)


def test_neuron_library_contributions_sum_to_gradient():
    ev = evaluation("neuron")
    exp = explain.steps(ev)
    for weight in ("w", "b"):
        (step,) = [s for s in exp.steps if s.phase == "backward" and s.name == weight]
        assert len(step.contributions) == 3
        assert step.grad == ev.grad(weight)
        assert sum(c.value for c in step.contributions) == pytest.approx(ev.grad(weight), rel=1e-12)
        # one contribution from each call of neuron(), each labelled with its call
        assert [c.consumer.split(" [", 1)[1] for c in step.contributions] == [
            "neuron#1]", "neuron#2]", "neuron#3]"]


def test_tanh_local_derivative_shown_as_formula_and_number():
    ev = evaluation("neuron")
    exp = explain.steps(ev)
    tanh_steps = [
        s for s in exp.steps
        if s.phase == "backward" and s.contributions
        and ev.graph.ops[s.node] == "add" and "tanh" in s.contributions[0].consumer
    ]
    assert len(tanh_steps) == 3
    for s in tanh_steps:
        (c,) = s.contributions
        assert "1 - " in c.formula and "^2" in c.formula  # 1 - out^2
        (tanh_node,) = [v for v in range(len(ev.values)) if ev.graph.args[v] == (s.node,)]
        assert c.local == pytest.approx(1 - ev.values[tanh_node] ** 2, rel=1e-15)
    text = explain.to_text(exp)
    assert re.search(r"\* \(1 - tanh\(w \* x3 \+ b\)\^2\) = 1 \* 0\.886851 = 0\.886851", text)


# --- the RNN: backprop through time ---------------------------------------------------


def test_rnn_time_steps_labelled_forward_and_backward(cg):
    code, out, err = cg("explain", SAMPLES / "rnn.cg")
    assert code == 0, err
    fwd = section(out, "Forward pass")
    back = section(out, "Backward pass")
    for t in range(1, 6):
        assert any(re.match(rf"\d+\. \[t = {t}\] h\[{t}\] = tanh", line) for line in fwd), f"t = {t}"
        assert any(re.match(rf"\d+\. \[t = {t}\] dloss/dh\[{t}\] = ", line) for line in back), f"t = {t}"
    # forward in time, backward in reverse time
    f_order = [int(m.group(1)) for line in fwd if (m := re.match(r"\d+\. \[t = (\d)\]", line))]
    b_order = [int(m.group(1)) for line in back if (m := re.match(r"\d+\. \[t = (\d)\]", line))]
    assert f_order == sorted(f_order) and set(f_order) == {1, 2, 3, 4, 5}
    assert b_order == sorted(b_order, reverse=True) and set(b_order) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("weight", ["w", "u"])
def test_rnn_shared_weight_contributions_labelled_by_time(cg, weight):
    code, out, _ = cg("explain", SAMPLES / "rnn.cg", "--only", "backward")
    back = section(out, "Backward pass")
    (k,) = [k for k, line in enumerate(back) if re.match(rf"\d+\. dloss/d{weight}\b", line)]
    assert f"{weight} is used 5 times" in back[k]
    vias = back[k + 1:k + 6]
    assert [re.search(r"\[t = (\d)\]", v).group(1) for v in vias] == ["1", "2", "3", "4", "5"]
    m = re.fullmatch(rf"dloss/d{weight} = (.+) = (\S+)", back[k + 6].strip())
    terms = [float(t) for t in m.group(1).split(" + ")]
    assert len(terms) == 5
    assert sum(terms) == pytest.approx(evaluation("rnn").grad(weight), abs=1e-5)


# --- numbers: every step agrees with cgraph.evaluate ----------------------------------


@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_steps_agree_with_evaluate(name, inputs, _args):
    ev = evaluation(name, inputs)
    graph = ev.graph
    exp = explain.steps(ev, max_steps=10_000)
    assert exp.omitted == 0 and exp.output == ev.output_name
    needed = needed_nodes(graph, ev.output)

    forward = [s for s in exp.steps if s.phase == "forward"]
    backward = [s for s in exp.steps if s.phase == "backward"]
    assert [s.number for s in forward] == list(range(1, len(forward) + 1))
    assert [s.number for s in backward] == list(range(1, len(backward) + 1))
    # one forward step per computed node, one backward step per node (consts aside)
    assert sorted(s.node for s in forward) == sorted(i for i in needed if graph.ops[i] not in ("input", "param", "const"))
    assert sorted(s.node for s in backward) == sorted(i for i in needed if graph.ops[i] != "const")

    for s in forward:
        assert s.value == ev.values[s.node]
    done = set()
    for s in forward:  # topological: arguments computed before
        assert all(a in done or not graph.args[a] for a in graph.args[s.node])
        done.add(s.node)

    position = {s.node: k for k, s in enumerate(backward)}
    assert backward[0].node == ev.output and backward[0].grad == 1.0 and not backward[0].contributions
    for s in backward:
        assert s.grad == ev.grads[s.node], s.name
        # the chain rule's terms: one per use of the node by a node on the way to the output
        uses = [(v, k) for v in sorted(needed) for k, a in enumerate(graph.args[v]) if a == s.node]
        if s.node != ev.output:
            assert len(s.contributions) == len(uses), s.name
        expected = []
        for v, k in uses:
            local = OPS[graph.ops[v]].local(ev.values[v], *[ev.values[a] for a in graph.args[v]])[k]
            expected.append((ev.grads[v], local))
            assert position[v] < position[s.node], f"{s.name}'s step comes before its consumer's"
        assert sorted((c.upstream, c.local) for c in s.contributions) == sorted(expected)
        for c in s.contributions:
            assert c.value == c.upstream * c.local
        if s.contributions:
            assert sum(c.value for c in s.contributions) == pytest.approx(s.grad, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_text_lines_show_products_and_gradients(name, inputs, _args):
    """In the text at full precision, every backward step ends with d out/d node as
    evaluate has it, and every product reads 'upstream * local = value'."""
    ev = evaluation(name, inputs)
    exp = explain.steps(ev, max_steps=10_000, precision=17)
    backward = [s for s in exp.steps if s.phase == "backward"]
    blocks = backward_blocks(exp)
    assert len(blocks) == len(backward)
    for step, block in zip(backward, blocks):
        assert block[0].startswith(f"{step.number}. ")
        assert float(block[-1].rsplit(" = ", 1)[1]) == ev.grads[step.node], block
        chains = block if len(step.contributions) == 1 else block[1:-1]
        assert len(chains) == len(step.contributions)
        if len(step.contributions) > 1:
            assert f"is used {len(step.contributions)} times" in block[0]
        for line, c in zip(chains, step.contributions):
            m = re.search(r"= (\S+) \* (\S+) = (\S+)$", line)
            assert m, line
            up, local, value = map(float, m.groups())
            assert (up, local, value) == (c.upstream, c.local, c.value)
            assert up * local == value


@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_forward_numbers_read_as_the_result(name, inputs, _args):
    """A forward step's 'with the numbers' form, read as cgraph itself reads an
    expression, gives the step's result (at full precision)."""
    ev = evaluation(name, inputs)
    exp = explain.steps(ev, only="forward", max_steps=10_000, precision=17)
    for s in exp.steps:
        if "..." in s.numbers:
            continue
        got = cgraph.evaluate(cgraph.parse(s.numbers)).value
        assert got == pytest.approx(s.value, rel=1e-12, abs=1e-300), f"{s.name} = {s.numbers} is {got}, not {s.value}"


def test_forward_numbers_negative_base_of_power():
    """x = -3: x^2 = 9; writing the numbers as '-3 ^ 2' reads as -(3^2) = -9 in cgraph's
    own (and the usual) precedence, contradicting the '= 9' that follows."""
    ev = cgraph.evaluate(cgraph.parse("y = x^2"), {"x": -3})
    (step,) = explain.steps(ev, only="forward").steps
    assert step.value == 9
    assert cgraph.evaluate(cgraph.parse(step.numbers)).value == 9, f"numbers written as {step.numbers!r}"


def test_formula_uses_the_other_factor_for_mul():
    ev = cgraph.evaluate(cgraph.parse("g = a * b"), {"a": 2.0, "b": 5.0})
    exp = explain.steps(ev, only="backward")
    by_name = {s.name: s for s in exp.steps}
    assert by_name["a"].contributions[0].formula == "b"
    assert by_name["a"].contributions[0].local == 5.0
    assert by_name["b"].contributions[0].formula == "a"
    assert by_name["b"].contributions[0].local == 2.0


def test_same_node_used_twice_by_one_consumer():
    """x * x: two contributions, whose sum is 2x."""
    ev = cgraph.evaluate(cgraph.parse("a = x * x"), {"x": -3.0})
    (step,) = [s for s in explain.steps(ev).steps if s.phase == "backward" and s.name == "x"]
    assert [c.value for c in step.contributions] == [-3.0, -3.0]
    assert step.grad == -6.0 == ev.grad("x")
    text = explain.to_text(explain.steps(ev))
    assert "x is used 2 times" in text and "da/dx = -3 + -3 = -6" in text


# --- --only, --node, --max-steps, --precision --------------------------------------------


def test_only_forward_and_only_backward(cg):
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS, "--only", "forward")
    assert code == 0
    assert "Forward pass" in out and "Backward pass" not in out
    assert section(out, "Forward pass") == ["1. p = x + y = 1 + 3 = 4", "2. g = p * z = 4 * -3 = -12"]
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS, "--only", "backward")
    assert code == 0
    assert "Forward pass" not in out and out.splitlines()[0] == "Backward pass"
    back = section(out, "Backward pass")
    assert back[0] == "1. dg/dg = 1" and len(back) == 5


def test_node_just_the_steps_to_that_gradient(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--node", "x")
    assert code == 0, err
    back = section(out, "Backward pass")
    assert [re.match(r"\d+\. dg/d(\S+)", line).group(1) for line in back] == ["g", "p", "x"]
    assert back[-1].endswith("= -3")
    ev = evaluation("intro", INTRO_INPUTS)
    exp = explain.steps(ev, node="x", only="backward")
    assert [s.name for s in exp.steps] == ["g", "p", "x"]
    assert exp.steps[-1].grad == ev.grad("x")


def test_node_in_rnn_stops_at_that_state():
    ev = evaluation("rnn")
    exp = explain.steps(ev, node="h[3]")
    backward = [s for s in exp.steps if s.phase == "backward"]
    names = {s.name for s in backward}
    assert backward[-1].name == "h[3]"
    assert backward[-1].grad == ev.grad("h[3]")
    assert {"h[5]", "h[4]", "h[3]", "loss"} <= names
    assert not names & {"u", "w", "target", "h[2]", "h[1]", "h[0]", "x[1]", "x[4]"}
    for s in backward:
        assert s.grad == ev.grads[s.node]
    forward = [s for s in exp.steps if s.phase == "forward"]
    assert {"h[3]", "h[4]", "h[5]", "loss"} <= {s.name for s in forward}
    assert not {"h[1]", "h[2]"} & {s.name for s in forward}


def test_node_unknown_is_a_usage_error_naming_the_option(cg):
    code, out, err = cg("explain", SAMPLES / "rnn.cg", "--node", "nope")
    assert code == 2
    assert "nope" in err
    assert "--node" in err, f"the error should name the option the user typed: {err!r}"
    assert "--focus" not in err


def test_node_the_output_does_not_depend_on(cg, tmp_path):
    """With --output, a --node the chosen output does not depend on is refused as it is
    for the file's own output, not answered with nothing at all."""
    src = tmp_path / "unused.cg"
    src.write_text("a = w * 2\ng = x * 3\noutput g\n")
    code, out, err = cg("explain", src, "--w", "1", "--x", "2", "--node", "w")
    assert code == 2, (out, err)
    assert "w" in err
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--output", "p", "--node", "z")
    assert code == 2, f"exit {code}, stdout {out!r}: p does not depend on z"
    assert "z" in err


def test_output_option(cg):
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS, "--output", "p")
    assert code == 0
    assert section(out, "Forward pass") == ["1. p = x + y = 1 + 3 = 4"]
    back = section(out, "Backward pass")
    assert back[0] == "1. dp/dp = 1"
    assert len(back) == 3 and all(line.endswith("= 1") for line in back)


def test_max_steps_cap_with_note_library():
    ev = evaluation("intro", INTRO_INPUTS)
    exp = explain.steps(ev, max_steps=3)
    assert len(exp.steps) == 3 and exp.omitted == 4
    text = explain.to_text(exp)
    assert "4 more steps" in text and "--max-steps" in text
    assert "4 more steps" in explain.to_markdown(exp)
    assert explain.to_dict(exp)["omitted"] == 4
    assert len(explain.steps(ev, max_steps=7).steps) == 7
    assert explain.steps(ev, max_steps=7).omitted == 0


def test_default_cap_is_200_steps(cg):
    code, out, err = cg("explain", "-e", LONG_CHAIN, "--x", "1", "--input", "h[0]=0")
    assert code == 0, err
    numbered = [line for line in out.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert len(numbered) == 200
    last = out.rstrip("\n").splitlines()[-1]
    assert "102 more steps" in last and "--max-steps" in last
    code, out, _ = cg("explain", "-e", LONG_CHAIN, "--x", "1", "--input", "h[0]=0", "--max-steps", "1000")
    assert len([line for line in out.splitlines() if re.match(r"\s+\d+\. ", line)]) == 302
    assert "more steps" not in out
    ev = cgraph.evaluate(cgraph.parse(LONG_CHAIN), {"x": 1, "h[0]": 0})
    exp = explain.steps(ev)
    assert len(exp.steps) == explain.DEFAULT_MAX_STEPS == 200 and exp.omitted == 102


def test_cap_in_markdown_and_json(cg):
    code, out, _ = cg("explain", "-e", LONG_CHAIN, "--x", "1", "--input", "h[0]=0", "--format", "json", "--max-steps", "10")
    assert code == 0
    data = strict_json(out)
    assert len(data["steps"]) == 10 and data["omitted"] == 292
    code, out, _ = cg("explain", "-e", LONG_CHAIN, "--x", "1", "--input", "h[0]=0", "--format", "markdown", "--max-steps", "10")
    assert code == 0
    assert "292 more steps" in out
    assert ordered_items(out) == 10
    assert_valid_markdown(out)


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_max_steps_must_be_a_positive_integer(cg, bad):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--max-steps", bad)
    assert code == 2
    assert "max-steps" in err
    assert "Traceback" not in err


def test_precision(cg):
    code, out, _ = cg("explain", SAMPLES / "neuron.cg", "--precision", "3", "--only", "forward")
    assert "tanh(0.6) = 0.537" in out
    code, out, _ = cg("explain", SAMPLES / "neuron.cg", "--precision", "12", "--only", "forward")
    assert "tanh(0.6) = 0.537049566998" in out


def test_missing_input_is_a_usage_error(cg):
    code, out, err = cg("explain", INTRO, "--x", "1", "--y", "3")
    assert code == 2
    assert "z" in err and out == ""


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_tutorial(cg):
    code, out, err = cg("explain", INTRO, *INTRO_ARGS, "--format", "markdown")
    assert code == 0, err
    assert_valid_markdown(out)
    lines = out.splitlines()
    fwd = lines.index("## Forward pass")
    back = lines.index("## Backward pass")
    assert fwd < back
    assert r"1. $p = x + y = 1 + 3 = 4$" in lines[fwd:back]
    assert r"2. $g = p \cdot z = 4 \cdot -3 = -12$" in lines[fwd:back]
    steps = [line for line in lines[back:] if re.match(r"\d+\. ", line)]
    assert steps[0] == r"1. $\frac{\partial g}{\partial g} = 1$"
    (dz,) = [line for line in steps if line.startswith(r"2. $\frac{\partial g}{\partial z} = ")]
    # the local derivative is marked |local, never written as the chain's own symbol dg/dz
    local = r"\left.\frac{\partial g}{\partial z}\right|_{\text{local}}"
    assert r"\frac{\partial g}{\partial g} \cdot " + local in dz
    assert dz.count(r"\frac{\partial g}{\partial z}") == 2  # the chain's, and inside the local mark
    assert r"1 \cdot p" in dz and dz.endswith(r"= 4$")
    (dx,) = [line for line in steps if r"{\partial x} = " in line]
    assert r"-3 \cdot 1" in dx and dx.endswith(r"= -3$")
    assert ordered_items(out) == 7


def test_markdown_shows_local_derivative_as_number(cg):
    """The text has 'dg/dz = dg/dg * dg/dz|local = 1 * p = 1 * 4 = 4': the local
    derivative as a formula and as a number. The Markdown should say the same."""
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS, "--format", "markdown")
    (dz,) = [line for line in out.splitlines() if line.startswith(r"2. $\frac{\partial g}{\partial z}")]
    assert r"1 \cdot p" in dz
    assert r"1 \cdot p = 1 \cdot 4 = 4$" in dz, f"the local derivative's value (1 * 4) is missing: {dz}"


def test_markdown_compound_local_formula_is_parenthesised():
    """upstream * (1 - h[5]^2): without parentheses the Markdown reads
    -1.43287 * 1 - h[5]^2, which is not -1.18438."""
    md = explain.to_markdown(explain.steps(evaluation("rnn"), only="backward"))
    lines = [line for line in md.splitlines() if "1 - h_{5}" in line]
    assert lines, md
    for line in lines:
        assert r"(1 - h_{5}^{2})" in line, f"formula not parenthesised: {line}"


@pytest.mark.parametrize("name,inputs,args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_markdown_of_every_sample_is_valid(cg, name, inputs, args):
    code, out, err = cg("explain", SAMPLES / f"{name}.cg", *args, "--format", "markdown")
    assert code == 0, err
    assert_valid_markdown(out)
    exp = explain.steps(evaluation(name, inputs))
    assert ordered_items(out) == len(exp.steps)
    assert r"\frac{\partial" in out
    tokens = MarkdownIt().parse(out)
    headings = [tokens[k + 1].content for k, t in enumerate(tokens) if t.type == "heading_open"]
    assert "Forward pass" in headings and "Backward pass" in headings
    # one nested bullet list per shared node (its contributions and their sum)
    shared = [s for s in exp.steps if len(s.contributions) > 1]
    assert sum(1 for t in tokens if t.type == "bullet_list_open") == len(shared)


def test_markdown_escapes_underscores_in_names(tmp_path, cg):
    src = tmp_path / "under.cg"
    src.write_text("param W1_a = 0.5\ninput x_in = 2\nh_1 = tanh(W1_a * x_in)\nout_y = h_1 * h_1 + W1_a\n")
    code, out, err = cg("explain", src, "--format", "markdown")
    assert code == 0, err
    assert_valid_markdown(out)
    assert r"\mathrm{W1\_a}" in out and r"\mathrm{h\_1}" in out and r"\mathrm{out\_y}" in out
    assert "$\\mathrm{h\\_1}$ is used 2 times" in out  # a name in the text is math too
    assert ordered_items(out) == len(explain.steps(cgraph.evaluate(cgraph.load(src))).steps)


def test_markdown_shared_weight_lists_its_contributions():
    md = explain.to_markdown(explain.steps(evaluation("neuron")))
    assert_valid_markdown(md)
    lines = md.splitlines()
    (k,) = [k for k, line in enumerate(lines) if re.match(r"\d+\. \$w\$ is used 3 times", line)]
    bullets = lines[k + 1:k + 5]
    assert all(b.startswith("    - via $") for b in bullets[:3]) and bullets[3].startswith("    - $")
    assert r"\frac{\partial y}{\partial w} = " in bullets[-1]
    terms = re.findall(r"-?[0-9.]+", bullets[-1].split(" = ", 1)[1])
    assert len(terms) == 4  # three contributions and the sum
    assert sum(map(float, terms[:3])) == pytest.approx(float(terms[3]), abs=1e-5)


def test_markdown_time_steps_label_contributions():
    """The text labels each contribution to a shared RNN weight with its time step
    ('via w*h[t-1] [t = 3]'); the Markdown, the same narrative, should too."""
    md = explain.to_markdown(explain.steps(evaluation("rnn"), only="backward"))
    lines = md.splitlines()
    (k,) = [k for k, line in enumerate(lines) if re.match(r"\d+\. \$w\$ is used 5 times", line)]
    bullets = lines[k + 1:k + 6]
    for t, b in zip(range(1, 6), bullets):
        assert f"t = {t}" in b, f"contribution {t} of w is not labelled with its time step: {b}"


def test_markdown_nested_contributions_survive_three_digit_step_numbers():
    """A shared weight's contributions are a bullet list inside its numbered step, also
    when the step number has three digits ('120. w is used 40 times')."""
    g = cgraph.parse("param w = 0.5\nfor t in 1..40 { h[t] = tanh(w*h[t-1] + x) }")
    ev = cgraph.evaluate(g, {"x": 0.3, "h[0]": 0.0})
    exp = explain.steps(ev, only="backward")
    shared = [s for s in exp.steps if len(s.contributions) > 1]
    assert shared and all(s.number >= 100 for s in shared)
    md = explain.to_markdown(exp)
    tokens = MarkdownIt().parse(md)
    assert ordered_items(md) == len(exp.steps)
    assert sum(1 for t in tokens if t.type == "bullet_list_open") == len(shared), \
        "the contributions are not rendered as a list under their step"


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name,inputs,args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_json_steps_as_data(cg, name, inputs, args):
    code, out, err = cg("explain", SAMPLES / f"{name}.cg", *args, "--format", "json")
    assert code == 0, err
    data = strict_json(out)
    ev = evaluation(name, inputs)
    assert data["output"] == ev.output_name and data["omitted"] == 0
    phases = [s["phase"] for s in data["steps"]]
    assert phases == sorted(phases, key=lambda p: p != "forward")  # forward, then backward
    for s in data["steps"]:
        assert {"phase", "number", "node", "name", "where", "expression", "numbers", "value", "grad", "contributions"} <= set(s)
        if s["phase"] == "forward":
            assert s["value"] == ev.values[s["node"]]
        else:
            assert s["grad"] == ev.grads[s["node"]]
            for c in s["contributions"]:
                assert {"consumer", "upstream", "formula", "local", "value"} <= set(c)
                assert c["value"] == c["upstream"] * c["local"]


def test_json_tutorial(cg):
    code, out, _ = cg("explain", INTRO, *INTRO_ARGS, "--format", "json")
    data = strict_json(out)
    fwd = [(s["name"], s["expression"], s["numbers"], s["value"]) for s in data["steps"] if s["phase"] == "forward"]
    assert fwd == [("p", "x + y", "1 + 3", 4.0), ("g", "p * z", "4 * -3", -12.0)]
    back = {s["name"]: s for s in data["steps"] if s["phase"] == "backward"}
    assert back["g"]["grad"] == 1.0 and back["g"]["contributions"] == []
    (cz,) = back["z"]["contributions"]
    assert (cz["consumer"], cz["upstream"], cz["formula"], cz["local"], cz["value"]) == ("g", 1.0, "p", 4.0, 4.0)
    (cx,) = back["x"]["contributions"]
    assert (cx["consumer"], cx["upstream"], cx["local"], cx["value"]) == ("p", -3.0, 1.0, -3.0)


def test_json_is_strict_with_infinite_values(cg):
    code, out, err = cg("explain", "-e", "y = log(x) * 2", "--x", "0", "--format", "json")
    assert code == 0
    data = strict_json(out)
    values = [s["value"] for s in data["steps"] if s["phase"] == "forward"]
    assert "-inf" in values
    assert "warning" in err


def test_json_only_backward(cg):
    code, out, _ = cg("explain", SAMPLES / "neuron.cg", "--format", "json", "--only", "backward")
    data = strict_json(out)
    assert {s["phase"] for s in data["steps"]} == {"backward"}
    (w,) = [s for s in data["steps"] if s["name"] == "w"]
    assert len(w["contributions"]) == 3
    assert sum(c["value"] for c in w["contributions"]) == pytest.approx(evaluation("neuron").grad("w"), rel=1e-12)


@pytest.mark.parametrize("program,args", [
    ("p = w*a; q = w*b; r = w*c; s = p*q + r", ["--w", "1", "--a", "1", "--b", "-1", "--c", "0"]),
    ("f = 3\ng = f\ny = g*x + 3", ["--x", "2"]),
    ("for t in 1..3 { h[t] = tanh(w*h[t-1] + x) }", ["--w", "0.5", "--x", "1", "--input", "h[0]=0.25"]),
])
def test_json_numbers_are_real_or_null(cg, program, args):
    """No placeholder: a forward step's grad and a backward step's value are the node's
    real ones; only what a step does not have (a backward step's expression) is null."""
    code, out, err = cg("explain", "-e", program, *args, "--format", "json")
    assert code == 0, err
    data = strict_json(out)
    graph = cgraph.parse(program)
    inputs = {k.lstrip("-"): float(v) for k, v in zip(args[::2], args[1::2]) if k != "--input"}
    inputs |= {a.split("=")[0]: float(a.split("=")[1]) for k, a in zip(args[::2], args[1::2]) if k == "--input"}
    ev = cgraph.evaluate(graph, inputs)
    assert {s["phase"] for s in data["steps"]} == {"forward", "backward"}
    for s in data["steps"]:
        assert s["value"] == ev.values[s["node"]] and s["grad"] == ev.grads[s["node"]], s
        if s["phase"] == "forward":
            assert isinstance(s["expression"], str) and isinstance(s["numbers"], str) and s["contributions"] == []
        else:
            assert s["expression"] is None and s["numbers"] is None
    if program.startswith("p ="):
        first = next(s for s in data["steps"] if s["phase"] == "backward")
        assert (first["name"], first["value"], first["grad"]) == ("s", -1.0, 1.0)
