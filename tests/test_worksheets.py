"""Exercise sheets: `render` and `explain` with --blank / --blank-nodes draw numbered blanks
instead of numbers, and --answers writes the key with the same numbering.

Checked on DOT text (every label and tooltip), on explain's text, markdown and JSON, and
against `cgraph.evaluate`: the key's values are the evaluation's, its numbers the blanks'.
"""

from __future__ import annotations

import csv
import json
import re

import pytest

import cgraph
from cgraph.engine.evaluator import local_derivatives
from cgraph.views.numbers import number
from cgraph.views.render.style import THEMES

from support.dot import mermaid_text, parse_dot, parse_mermaid
from support.jsonutil import strict_json
from support.samples import SAMPLES

INTRO = str(SAMPLES / "intro.cg")
TUTORIAL = ("--x", "1", "--y", "3", "--z", "-3")
# Every number blanked is computed (a product's local derivative is the other factor: here
# always a computed value, never an input's), so none is a given number (the inputs 0.37
# and 1.9, the seed 1) and each can be looked for in the text.
NEURON = "a = sin(x)\nb = cos(y)\np = a * b\nq = tanh(p)\nr = exp(x)\nloss = q * r\n"
NEURON_INPUTS = ("--x", "0.37", "--y", "1.9")
BLANK = re.compile(r"(?<![\w\]])\[(\d+)\]")  # a blank, not an index (h[3])


@pytest.fixture
def neuron(tmp_path):
    path = tmp_path / "neuron.cg"
    path.write_text(NEURON, encoding="utf-8")
    return str(path)


def run(cg, *argv):
    res = cg(*argv)
    assert res.code == 0, f"cgraph {' '.join(map(str, argv))} failed ({res.code}):\n{res.err}"
    return res


def key_of(path) -> list[dict]:
    return strict_json(path.read_text(encoding="utf-8"))["answers"]


def appears(text: str, shown: str) -> bool:
    """`shown` (a formatted number) stands in `text` as a number of its own, not inside another."""
    return re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", text) is not None


def expected_quantities(program: str, inputs: dict[str, float]) -> dict[str, float]:
    """Every quantity of the neuron as the key names it, from cgraph.evaluate."""
    g = cgraph.parse(program)
    ev = cgraph.evaluate(g, inputs)
    at = g.names
    value = {name: ev.values[i] for name, i in at.items()}
    grad = {name: ev.grads[i] for name, i in at.items()}
    local = {name: local_derivatives(g, ev.values, at[name]) for name in ("a", "b", "p", "q", "r", "loss")}
    found = {name: value[name] for name in ("a", "b", "p", "q", "r", "loss")}
    for consumer, k, arg in (("loss", 1, "r"), ("loss", 0, "q"), ("q", 0, "p"), ("p", 1, "b"), ("p", 0, "a"),
                             ("b", 0, "y")):
        found[f"d{consumer}/d{arg}|local"] = local[consumer][k]
        found[f"dloss/d{arg}"] = grad[arg]
    for consumer in ("a", "r"):
        found[f"d{consumer}/dx|local"] = local[consumer][0]
        found[f"dloss/dx via {consumer}"] = grad[consumer] * local[consumer][0]
    found["dloss/dx"] = grad["x"]
    return found


# --- the diagram ---------------------------------------------------------------------------


def test_the_dot_text_has_the_blanks_and_none_of_the_numbers_blanked(cg, neuron, tmp_path):
    key = tmp_path / "key.json"
    plain = run(cg, "render", neuron, *NEURON_INPUTS, "--annotate", "values,grads,local", "-o", "-", "--format", "dot").out
    sheet = run(cg, "render", neuron, *NEURON_INPUTS, "--blank", "values,grads,local", "--answers", key,
                "-o", "-", "--format", "dot").out
    answers = key_of(key)
    assert [a["blank"] for a in answers] == list(range(1, len(answers) + 1))
    assert len(answers) == len(expected_quantities(NEURON, {"x": 0.37, "y": 1.9}))
    for a in answers:
        shown = number(a["value"], 4)
        assert appears(plain, shown), f"{a['quantity']} = {shown} is not in the diagram without blanks"
        assert not appears(sheet, shown), f"{a['quantity']} = {shown} is still in the sheet (labels or tooltips)"
    assert sorted({int(n) for n in BLANK.findall(sheet)}) == [a["blank"] for a in answers]
    # The given numbers stay: the inputs' values and the seed on the output's edge.
    dot = parse_dot(sheet)
    assert [e.parts["value"] for e in dot.out_edges(dot.named("x").id)] == ["0.37", "0.37"]
    assert dot.output_edges()[0].parts["grad"] == "1"


def test_the_key_numbers_the_blanks_where_they_stand_and_holds_the_evaluation(cg, neuron, tmp_path):
    key = tmp_path / "key.json"
    sheet = run(cg, "render", neuron, *NEURON_INPUTS, "--blank", "values,grads,local", "--answers", key,
                "-o", "-", "--format", "dot").out
    answers = {a["quantity"]: a for a in key_of(key)}
    assert {q: a["value"] for q, a in answers.items()} == expected_quantities(NEURON, {"x": 0.37, "y": 1.9})
    dot = parse_dot(sheet)
    blank = lambda quantity: f"[{answers[quantity]['blank']}]"  # noqa: E731
    (p_to_q,) = dot.edges_between("p", "q")
    assert p_to_q.parts == {"value": blank("p"), "grad": blank("dloss/dp"), "local": blank("dq/dp|local")}
    x_to_a, x_to_r = dot.out_edges(dot.named("x").id)
    if x_to_a.head != dot.named("a").id:
        x_to_a, x_to_r = x_to_r, x_to_a
    assert x_to_a.parts["grad"] == blank("dloss/dx via a") and x_to_a.parts["local"] == blank("da/dx|local")
    assert x_to_r.parts["grad"] == blank("dloss/dx via r") and x_to_r.parts["local"] == blank("dr/dx|local")
    assert dot.named("x").lines[-1] == f"Σ {blank('dloss/dx')}"
    assert dot.output_edges()[0].parts["value"] == blank("loss")


def test_blanks_follow_the_passes_forward_values_first(cg, tmp_path):
    key = tmp_path / "key.txt"
    run(cg, "render", INTRO, *TUTORIAL, "--blank", "values,grads", "--answers", key, "-o", tmp_path / "sheet.dot")
    assert key.read_text(encoding="utf-8") == (
        "[1] p = 4\n[2] g = -12\n[3] dg/dz = 4\n[4] dg/dp = -3\n[5] dg/dy = -3\n[6] dg/dx = -3\n")


def test_blank_local_draws_the_local_derivatives(cg, tmp_path):
    """--blank local adds them to --annotate: a blank of a number not drawn would be no exercise."""
    dot = parse_dot(run(cg, "render", INTRO, *TUTORIAL, "--blank", "local", "-o", "-", "--format", "dot").out)
    (p_to_g,) = dot.edges_between("p", "g")
    assert p_to_g.parts == {"value": "4", "grad": "-3", "local": "[2]"}  # [1]: dg/dz|local, the step before


def test_a_local_derivative_that_is_a_blanked_value_is_that_blank(cg):
    """d(p * z)/dz is p: with p's value a blank, the chain rule must not give it away."""
    dot = parse_dot(run(cg, "render", INTRO, *TUTORIAL, "--blank", "values", "--annotate", "values,grads,local",
                        "-o", "-", "--format", "dot").out)
    (z_to_g,) = dot.edges_between("z", "g")
    (p_to_g,) = dot.edges_between("p", "g")
    assert z_to_g.parts["local"] == "[1]" and p_to_g.parts["local"] == "-3"  # z's value is given
    text = run(cg, "explain", INTRO, *TUTORIAL, "--blank", "values").out
    assert "  2. dg/dz = dg/dg * dg/dz|local = 1 * p = 1 * [1] = 4" in text
    assert not appears(text.split("Backward pass")[1], "-12") and "= 4\n" in text


def test_blank_nodes_blanks_only_those_nodes_numbers(cg, tmp_path):
    key = tmp_path / "key.txt"
    out = run(cg, "render", str(SAMPLES / "rnn.cg"), "--blank-nodes", "h[3],w", "--blank", "values,grads",
              "--answers", key, "-o", "-", "--format", "dot").out
    lines = key.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["[1] w = 0.8", "[2] [t = 3] h[3] = 0.5294"]
    assert all(re.search(r"(dloss/d(w|h\[3\])( via .*)?|w|h\[3\]) =", line) for line in lines), lines
    assert "[1]" in out and "0.8<" not in out


def test_the_seed_stays_even_when_its_node_is_named(cg, tmp_path):
    key = tmp_path / "key.txt"
    text = run(cg, "explain", INTRO, *TUTORIAL, "--blank-nodes", "g", "--answers", key).out
    assert key.read_text(encoding="utf-8") == "[1] g = -12\n"  # g's numbers: its value, and its gradient, the seed
    assert "  2. g = p * z = 4 * -3 = [1]" in text and "  1. dg/dg = 1" in text


def test_the_numbering_does_not_change_from_run_to_run(cg, tmp_path):
    keys = []
    for k in range(2):
        keys.append(tmp_path / f"key{k}.csv")
        run(cg, "render", str(SAMPLES / "mlp.cg"), "--blank", "grads,local", "--answers", keys[-1], "-o", tmp_path / f"s{k}.dot")
    assert keys[0].read_bytes() == keys[1].read_bytes()


def test_a_literal_has_no_blank(cg, tmp_path):
    key = tmp_path / "key.json"
    run(cg, "render", "-e", "loss = (x - 3)^2", "--x", "1", "--blank", "grads", "--answers", key, "-o", tmp_path / "s.dot")
    assert [a["quantity"] for a in key_of(key)] == ["dloss/d(x - 3)", "dloss/dx"]


# --- explain, and one numbering for both --------------------------------------------------


def test_explain_text_has_the_blanks_and_none_of_the_numbers(cg, neuron, tmp_path):
    key = tmp_path / "key.json"
    text = run(cg, "explain", neuron, *NEURON_INPUTS, "--blank", "values,grads,local", "--answers", key).out
    plain = run(cg, "explain", neuron, *NEURON_INPUTS).out
    for a in key_of(key):
        shown = number(a["value"], 6)
        assert appears(plain, shown) and not appears(text, shown), a
    assert "  4. q = tanh(p) = tanh([3]) = [4]" in text
    assert "  1. dloss/dloss = 1" in text


def test_explain_markdown_and_json_have_the_blanks(cg, neuron, tmp_path):
    md = run(cg, "explain", neuron, *NEURON_INPUTS, "--blank", "grads", "--format", "markdown").out
    assert r"= [1]" in md or r"{[1]}" in md  # a blank inside the math
    steps = strict_json(run(cg, "explain", neuron, *NEURON_INPUTS, "--blank", "grads", "--format", "json").out)["steps"]
    key = tmp_path / "key.json"
    run(cg, "explain", neuron, *NEURON_INPUTS, "--blank", "grads", "--answers", key)
    by_quantity = {a["quantity"]: a["blank"] for a in key_of(key)}
    q = next(s for s in steps if s["phase"] == "backward" and s["name"] == "q")
    assert q["grad"] is None and q["blanks"] == {"grad": by_quantity["dloss/dq"]}
    assert q["value"] is not None  # values are not blanked: --blank grads
    x = next(s for s in steps if s["phase"] == "backward" and s["name"] == "x")
    shares = [c["blanks"]["value"] for c in x["contributions"]]
    assert shares == [by_quantity["dloss/dx via a"], by_quantity["dloss/dx via r"]]
    assert all(c["value"] is None and c["local"] is not None for c in x["contributions"])


@pytest.mark.parametrize("kinds", ["values", "grads", "local", "values,grads,local"])
def test_render_and_explain_number_the_same_blanks_alike(cg, tmp_path, kinds):
    rnn = str(SAMPLES / "rnn.cg")
    render_key, explain_key = tmp_path / "r.json", tmp_path / "e.json"
    diagram = run(cg, "render", rnn, "--blank", kinds, "--answers", render_key, "-o", "-", "--format", "dot").out
    steps = run(cg, "explain", rnn, "--blank", kinds, "--answers", explain_key, "--max-steps", "1000").out
    assert render_key.read_text(encoding="utf-8") == explain_key.read_text(encoding="utf-8")
    numbers = {int(n) for n in BLANK.findall(diagram)}
    assert numbers == {int(n) for n in BLANK.findall(steps)} == {a["blank"] for a in key_of(render_key)}


# --- every format, every key format ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf", "mermaid"])
def test_every_render_format_draws_the_sheet(cg, tmp_path, fmt):
    if fmt != "mermaid":
        pytest.importorskip("graphviz")
        import shutil
        if shutil.which("dot") is None:
            pytest.skip("Graphviz's dot is not installed")
    target = tmp_path / f"sheet.{ {'mermaid': 'mmd'}.get(fmt, fmt) }"
    run(cg, "render", INTRO, *TUTORIAL, "--blank", "values,grads", "-o", target)
    data = target.read_bytes()
    if fmt == "svg":
        text = data.decode("utf-8")
        assert ">[1]<" in text and ">[6]<" in text and not appears(text, "-12")
    elif fmt == "mermaid":
        labels = [mermaid_text(label) for label in parse_mermaid(data.decode("utf-8")).labels]
        assert "g = [2]<br/>grad 1" in labels and "[1]<br/>grad [4]" in labels
    else:
        assert data.startswith(b"\x89PNG" if fmt == "png" else b"%PDF")


@pytest.mark.parametrize("name,check", [
    ("key.txt", lambda text: text.splitlines()[0] == "[1] p = 4"),
    ("key.md", lambda text: text.splitlines()[:3] == ["| blank | quantity | value |", "|---|---|---|", "| [1] | p | 4 |"]),
    ("key.csv", lambda text: list(csv.reader(text.splitlines()))[1] == ["1", "value", "p", "", "4.0"]),
    ("key.json", lambda text: json.loads(text)["answers"][0] == {"blank": 1, "kind": "value", "quantity": "p",
                                                                 "where": "", "value": 4.0}),
])
def test_the_key_is_written_in_the_format_its_name_says(cg, tmp_path, name, check):
    run(cg, "explain", INTRO, *TUTORIAL, "--blank", "values", "--answers", tmp_path / name)
    assert check((tmp_path / name).read_text(encoding="utf-8"))


# --- errors and the output guard ---------------------------------------------------------


@pytest.mark.parametrize("command", ["render", "explain"])
def test_answers_without_blanks_is_a_usage_error(cg, tmp_path, command):
    res = cg(command, INTRO, *TUTORIAL, "--answers", tmp_path / "key.txt", "-o", tmp_path / "s.dot") if command == "render" \
        else cg(command, INTRO, *TUTORIAL, "--answers", tmp_path / "key.txt")
    assert res.code == 2 and "--blank" in res.err and not (tmp_path / "key.txt").exists()


@pytest.mark.parametrize("argv,says", [
    (("--blank", "grad"), "did you mean 'grads'"),
    (("--blank-nodes", "loos"), "did you mean 'loss'"),
    (("--blank-nodes", "p,"), "empty name"),
])
def test_unknown_kinds_and_names_are_usage_errors(cg, neuron, tmp_path, argv, says):
    for command in ("render", "explain"):
        res = cg(command, neuron, *NEURON_INPUTS, *argv, "--answers", tmp_path / "key.txt")
        assert res.code == 2 and says in res.err and "Traceback" not in res.err, res.err
        assert not (tmp_path / "key.txt").exists()


@pytest.mark.parametrize("option", ["--collapse", "--backward"])
def test_a_sheet_is_of_the_expanded_forward_graph(cg, tmp_path, option):
    res = cg("render", INTRO, *TUTORIAL, "--blank", "grads", option, "-o", tmp_path / "s.dot")
    assert res.code == 2 and option in res.err


def test_a_sheet_needs_input_values(cg, tmp_path):
    res = cg("render", INTRO, "--blank", "grads", "-o", tmp_path / "s.dot")
    assert res.code == 2 and "missing x, y, z" in res.err


def test_the_key_never_lands_on_the_sheet_or_an_input(cg, tmp_path):
    program = tmp_path / "intro.cg"
    program.write_text((SAMPLES / "intro.cg").read_text(encoding="utf-8"), encoding="utf-8")
    inputs = tmp_path / "in.json"
    inputs.write_text('{"x": 1, "y": 3, "z": -3}', encoding="utf-8")
    sheet = tmp_path / "sheet.dot"
    sheet.write_text("old", encoding="utf-8")
    for target in (sheet, program, inputs):
        before = target.read_bytes()
        res = cg("render", program, "--inputs", inputs, "--blank", "grads", "--answers", target, "-o", sheet)
        assert res.code == 2 and "--answers" in res.err, res.err
        assert target.read_bytes() == before
    # Without -o the diagram goes to the program's name with .svg: the key may not go there either.
    res = cg("render", program, "--inputs", inputs, "--blank", "grads", "--answers", "intro.svg")
    assert res.code == 2 and "--answers" in res.err


def test_the_key_goes_to_standard_output_only_when_the_sheet_does_not(cg, tmp_path):
    for argv in (("explain", INTRO, *TUTORIAL), ("render", INTRO, *TUTORIAL, "-o", "-", "--format", "dot")):
        res = cg(*argv, "--blank", "grads", "--answers", "-")
        assert res.code == 2 and "--answers -" in res.err and res.out == ""
    res = run(cg, "render", INTRO, *TUTORIAL, "--blank", "grads", "--answers", "-", "-o", tmp_path / "sheet.dot")
    assert res.out == "[1] dg/dz = 4\n[2] dg/dp = -3\n[3] dg/dy = -3\n[4] dg/dx = -3\n"


def test_a_large_diagram_blanks_the_copies_of_a_shared_input_too(cg, tmp_path):
    """Over 150 edges an input is drawn beside each loop step it feeds: each copy's edge
    still carries its own blank, and every blank of the key is in the diagram."""
    program = "param w = 0.5\nh[0] = 0\nfor t in 1..40 { h[t] = tanh(w*h[t-1] + x) }\nloss = h[40]\n"
    key = tmp_path / "key.json"
    sheet = run(cg, "render", "-e", program, "--x", "0.3", "--blank", "grads,local", "--answers", key,
                "-o", "-", "--format", "dot").out
    assert "v_x__box" in sheet
    # Labels go outside the edges here (xlabel): read them off the text. Red is the gradients' colour.
    grads = re.findall(rf'<font color="{THEMES["light"]["grad"]}">([^<]*)</font>', sheet)
    locals_ = re.findall(r'>local ([^<]*)</font>', sheet)
    assert grads.count("1") == 1 and len(grads) - 1 == len(locals_) > 100, (len(grads), len(locals_))
    assert all(BLANK.fullmatch(t) for t in locals_ + [g for g in grads if g != "1"])
    assert {int(n) for n in BLANK.findall(sheet)} == {a["blank"] for a in key_of(key)}
