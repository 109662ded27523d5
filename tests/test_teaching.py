"""What a teacher puts on a slide: a literal has no gradient anywhere (a named constant
keeps its own), `render --frames` takes the steps `explain` takes, and a node built in a
loop iteration or a function call is named with that iteration's indices and carries its
tag, in explain, frame captions and diagram tooltips alike."""

from __future__ import annotations

import csv
import io
import math
import re

import pytest

import cgraph
import cgraph.render
from cgraph.errors import InputError, NumericError
from cgraph.views import explain
from cgraph.views.node_text import TEXT_LIMIT, node_label
from cgraph.views.numbers import number

from support.dot import parse_dot
from support.jsonutil import strict_json
from support.samples import SAMPLE_CASES, SAMPLE_IDS, SAMPLES

SQUARE = "input x = 1\nloss = (x - 3)^2\n"  # d/d(2) of (x-3)^2 at x = 1 is nan (log of -2)
LITERAL_PROGRAMS = {
    "square": SQUARE,
    "affine": "input x = 0.5\nparam w = 2\ny = 3*w*x + 1 - x/4\n",
    "loop": "input x = 2\nfor t in 1..3 {\n    h[t] = x^t + 0.5*t\n}\ny = h[1] + h[2] + h[3]\n",
    "call": "param w = 0.5\ndef f(a) = tanh(w*a + 0.1)^2\ny = f(1) + f(-2)\n",
}
# A 2-input unit called three times: two different `wa * ... + bias` sums per call.
UNITS = """param wa = 0.5
param wb = -0.3
param bias = 0.1
def unit(a, b) = tanh(wa*a + wb*b + bias)
input x1 = 1
input x2 = 2
h1 = unit(x1, x2)
h2 = unit(x2, x1)
y = unit(h1, h2)
loss = (y - 1)^2
"""


def _write(tmp_path, text: str, name: str = "prog.cg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _sample_evaluation(name: str, inputs: dict) -> cgraph.Evaluation:
    return cgraph.evaluate(cgraph.load(SAMPLES / f"{name}.cg"), inputs)


def _program_evaluations():
    cases = [(name, cgraph.evaluate(cgraph.parse(text, f"{name}.cg"))) for name, text in LITERAL_PROGRAMS.items()]
    cases.append(("units", cgraph.evaluate(cgraph.parse(UNITS, "units.cg"))))
    return cases + [(name, _sample_evaluation(name, inputs)) for name, inputs, _ in SAMPLE_CASES]


EVALUATIONS = _program_evaluations()
EVALUATION_IDS = [name for name, _ in EVALUATIONS]


# --- a literal has no gradient ------------------------------------------------------


@pytest.mark.parametrize("name", list(LITERAL_PROGRAMS))
def test_json_gives_a_literal_a_null_gradient(cg, tmp_path, name):
    path = _write(tmp_path, LITERAL_PROGRAMS[name])
    res = cg("eval", path, "--show", "all", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    graph = cgraph.load(path)
    ev = cgraph.evaluate(graph)
    literals = [n for n in data["nodes"] if graph.is_literal(n["id"])]
    assert literals, "each program writes a number"
    assert all(n["grad"] is None for n in literals)
    for n in data["nodes"]:
        if not graph.is_literal(n["id"]):
            assert n["grad"] == ev.grads[n["id"]], n  # finite in these programs


def test_tables_csv_and_plain_leave_a_literal_gradient_out(cg, tmp_path):
    path = _write(tmp_path, SQUARE)
    table = cg("eval", path, "--show", "all")
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in table.out.splitlines() if line.startswith("│")}
    assert rows["#1"][-1] == "" and rows["#3"][-1] == ""  # the 3 and the 2
    assert rows["x"][-1] == "-4" and rows["#2"][-1] == "-4"
    by_id = {r["id"]: r for r in csv.DictReader(io.StringIO(cg("eval", path, "--show", "all", "--format", "csv").out))}
    assert by_id["1"]["grad"] == "" and by_id["3"]["grad"] == "" and by_id["2"]["grad"] == "-4.0"
    plain = dict(line.split(" ", 1) for line in cg("eval", path, "--show", "all", "--format", "plain").out.splitlines())
    assert plain["#3"] == "2.0 -" and plain["#2"] == "-2.0 -4.0"
    assert "nan" not in table.out + plain["#3"]


def test_several_outputs_leave_a_literal_gradient_out_of_every_column(cg, tmp_path):
    path = _write(tmp_path, "input x = 1\na = (x - 3)^2\nb = 2*x\noutput a, b\n")
    data = strict_json(cg("eval", path, "--show", "all", "--format", "json").out)
    graph = cgraph.load(path)
    for n in data["nodes"]:
        if graph.is_literal(n["id"]):
            assert n["grad"] is None and n["grads"] == {"a": None, "b": None}
        else:
            assert all(isinstance(g, float) for g in n["grads"].values())
    plain = cg("eval", path, "--show", "all", "--format", "plain").out.splitlines()
    assert "#3 2.0 - -" in plain


def test_a_named_constant_keeps_its_gradient_everywhere(cg, tmp_path):
    path = _write(tmp_path, "input x = 2\nf = 3\ny = f * x^2\n")
    data = strict_json(cg("eval", path, "--format", "json").out)
    (f,) = [n for n in data["nodes"] if n["name"] == "f"]
    assert f["grad"] == 4.0  # d(f x^2)/df = x^2
    assert "f 3.0 4.0" in cg("eval", path, "--format", "plain").out.splitlines()
    ev = cgraph.evaluate(cgraph.load(path))
    backward = [s.name for s in explain.steps(ev, only="backward").steps]
    assert "f" in backward and "2" not in backward
    captions = [scene.caption for _, scene in cgraph.render.frames(ev.graph, ev)]
    assert "backward pass, step 3 of 4: dy/d(f) = 4" in captions
    dot = parse_dot(cgraph.render.diagram(ev.graph, ev).source)
    assert [e.grad for e in dot.edges if dot.nodes[e.tail].lines == ["f"]] == [4.0]


def test_no_warning_for_the_literal_exponent(cg, tmp_path):
    """d/db a^b at a < 0 is nan: the 2 of (x - 3)^2 at x = 1. Nobody asked for it."""
    path = _write(tmp_path, SQUARE)
    res = cg("eval", path, "--format", "json", "--show", "all")
    assert res.code == 0 and res.err == ""
    assert strict_json(res.out)["warnings"] == []
    ev = cgraph.evaluate(cgraph.load(path))
    assert ev.warnings == () and ev.grads[3] != ev.grads[3]  # computed (nan), reported nowhere
    data = _write(tmp_path, "x\n1\n-1\n", "rows.csv")
    res = cg("eval", path, "--data", data)
    assert res.code == 0 and res.err == "" and res.out.splitlines()[1:] == ["2,4.0,-4.0", "3,16.0,-8.0"]
    for argv in (["explain", path], ["render", path, "-o", "-", "--format", "dot"], ["check", path]):
        res = cg(*argv)
        assert res.code == 0 and "warning" not in res.err and "nan" not in res.out, argv


def test_a_diagram_draws_no_gradient_out_of_a_literal(tmp_path):
    ev = cgraph.evaluate(cgraph.parse(SQUARE + "z = loss * 3 + 3\noutput z\n", "p.cg"))
    dot = parse_dot(cgraph.render.diagram(ev.graph, ev, annotate="values,grads,local").source)
    literal_edges = [e for e in dot.edges if re.fullmatch(r"k_.*", e.tail)]
    assert literal_edges and all(e.grad is None for e in literal_edges)
    assert all(e.value is not None for e in literal_edges)
    assert all(not any(line.startswith("Σ") for line in dot.nodes[e.tail].lines) for e in literal_edges)


# --- frames take explain's steps ---------------------------------------------------------


def _explain_counts(ev: cgraph.Evaluation, collapse: bool = False) -> tuple[int, int]:
    """explain's forward and backward step counts; collapsed, the steps of one call or
    loop iteration (its outermost) count once, as its box is one frame."""
    counts = {"forward": set(), "backward": set()}
    for s in explain.steps(ev, max_steps=10**6).steps:
        tags = ev.graph.tags[s.node]
        counts[s.phase].add(("box", tags[0]) if collapse and tags else s.node)
    return len(counts["forward"]), len(counts["backward"])


@pytest.mark.parametrize("collapse", [False, True], ids=["expanded", "collapsed"])
@pytest.mark.parametrize("name, ev", EVALUATIONS, ids=EVALUATION_IDS)
def test_frames_take_the_steps_explain_takes(name, ev, collapse):
    frames = list(cgraph.render.frames(ev.graph, ev, collapse=collapse))
    forward = [s.caption for label, s in frames if label.endswith("forward")]
    backward = [s.caption for label, s in frames if label.endswith("backward")]
    assert (len(forward), len(backward)) == _explain_counts(ev, collapse)
    assert all(f"of {len(forward)}:" in c for c in forward) and all(f"of {len(backward)}:" in c for c in backward)
    literals = {ev.graph.label(i) for i in range(len(ev.graph)) if ev.graph.is_literal(i)}
    assert not any(c.endswith(f"/d({lit}) = nan") or f"/d({lit}) =" in c for c in backward for lit in literals)


def test_the_square_has_as_many_frames_as_explain_has_steps(cg, tmp_path):
    path = _write(tmp_path, SQUARE)
    res = cg("render", path, "--frames", tmp_path / "f", "--format", "dot")
    assert res.code == 0, res.err
    steps = strict_json(cg("explain", path, "--format", "json").out)["steps"]
    files = sorted((tmp_path / "f").iterdir())
    assert len(files) == len(steps) == 5
    captions = [re.search(r'label="([^"]*pass, step[^"]*)"', f.read_text()).group(1) for f in files]
    assert captions == [
        "forward pass, step 1 of 2: (x - 3) = -2", "forward pass, step 2 of 2: loss = 4",
        "backward pass, step 1 of 3: dloss/d(loss) = 1", "backward pass, step 2 of 3: dloss/d(x - 3) = -4",
        "backward pass, step 3 of 3: dloss/d(x) = -4",
    ]


# --- loop and call steps name their own iteration ---------------------------------------


def rnn_text() -> str:
    return explain.to_text(explain.steps(_sample_evaluation("rnn", {}), max_steps=10**6))


def test_explain_writes_the_rnn_with_each_iterations_indices():
    text = rnn_text()
    assert "t-1" not in text and "x[t]" not in text
    # The step: d loss/d h[3] goes through w * h[3], the product of iteration 4.
    assert "[t = 3] dloss/dh[3] = dloss/d(w * h[3]) * d(w * h[3])/dh[3]|local = -0.94558 * w" in text
    assert "[t = 4] dloss/d(u * x[4]) = dloss/d(w * h[3] + u * x[4]) * " in text
    assert "  13. [t = 4] w * h[3] = 0.8 * 0.529429 = 0.423544" in text
    assert "  16. [t = 4] h[4] = tanh(w * h[3] + u * x[4]) = tanh(0.0451423) = 0.0451117" in text
    assert "dloss/dx[4] = dloss/d(u * x[4]) * d(u * x[4])/dx[4]|local" in text
    assert "via w * h[3] [t = 4]: dloss/d(w * h[3])" in text


def test_explain_markdown_and_json_carry_the_substituted_text():
    ev = _sample_evaluation("rnn", {})
    exp = explain.steps(ev, max_steps=10**6)
    markdown = explain.to_markdown(exp)
    assert "t-1" not in markdown and "x[t]" not in markdown and "t - 1" not in markdown
    data = explain.to_dict(exp)
    names = {(s["phase"], s["where"], s["name"]) for s in data["steps"]}
    assert ("forward", "t = 4", "w * h[3]") in names and ("backward", "t = 4", "u * x[4]") in names
    (h3,) = [s for s in data["steps"] if s["phase"] == "backward" and s["name"] == "h[3]"]
    (via,) = h3["contributions"]
    assert via["consumer"] == "w * h[3]" and via["where"] == "t = 4" and h3["where"] == "t = 3"


@pytest.mark.parametrize("name, ev", EVALUATIONS, ids=EVALUATION_IDS)
def test_every_step_of_a_call_or_an_iteration_carries_its_tag(name, ev):
    tagged = 0
    for s in explain.steps(ev, max_steps=10**6).steps:
        assert s.where == ", ".join(str(t) for t in ev.graph.tags[s.node])
        tagged += bool(s.where)
    assert tagged or not any(ev.graph.tags)


def test_calls_are_tagged_and_written_with_their_arguments():
    ev = cgraph.evaluate(cgraph.parse(UNITS, "units.cg"))
    text = explain.to_text(explain.steps(ev))
    for k, (a, b) in enumerate([("x1", "x2"), ("x2", "x1"), ("h1", "h2")], start=1):
        assert f"[unit#{k}] dloss/d(wa * {a} + wb * {b} + bias) = " in text
    assert "wa*a" not in text and "wb*b" not in text
    neuron = explain.to_text(explain.steps(_sample_evaluation("neuron", {})))
    assert "[neuron#2] dy/d(w * x2 + b) = " in neuron and "w*a" not in neuron


def test_frame_captions_name_the_iteration_and_its_indices():
    ev = _sample_evaluation("rnn", {})
    captions = [s.caption for _, s in cgraph.render.frames(ev.graph, ev)]
    assert "forward pass, step 13 of 22: [t = 4] w * h[3] = 0.4235" in captions
    assert "backward pass, step 11 of 31: [t = 3] dloss/d(h[3]) = -0.7565" in captions
    assert "backward pass, step 9 of 31: [t = 4] dloss/d(u * x[4]) = -0.9456" in captions
    assert not any("t-1" in c or "x[t]" in c for c in captions)
    ev = _sample_evaluation("neuron", {})
    captions = [s.caption for _, s in cgraph.render.frames(ev.graph, ev)]
    assert "forward pass, step 4 of 11: [neuron#2] w * x2 = -1" in captions


def test_tooltips_name_the_iteration_and_its_indices():
    ev = _sample_evaluation("rnn", {})
    tooltips = {n.tooltip for n in parse_dot(cgraph.render.diagram(ev.graph, ev).source).nodes.values()}
    assert "w * h[3] (line 12, t = 4)" in tooltips
    assert "h[4] = tanh(w * h[3] + u * x[4]) (line 12, t = 4)" in tooltips
    assert "x[4] (line 7)" in tooltips  # an input declared in a loop, by its own name
    assert not any("t-1" in t or "x[t]" in t for t in tooltips)


def test_a_built_text_is_one_short_line_however_deep_the_calls_nest():
    nested = "x"
    for _ in range(30):
        nested = f"f({nested})"
    text = f"input x = 0.5\ndef f(a) = (a*a + 1 # note\n    - 0.25)\ny = {nested}\n"
    graph = cgraph.parse(text, "deep.cg")
    labels = [node_label(graph, i) for i in range(len(graph))]
    assert all(len(label) <= TEXT_LIMIT and "\n" not in label and "#" not in label for label in labels)
    assert "x * x + 1 - 0.25" in labels
    wide = "input x = 1\nfor t in 1..2 {\n    y[t] = sum(x*k*t for k in 1..40)\n}\nz = y[1] + y[2]\n"
    graph = cgraph.parse(wide, "wide.cg")
    assert max(len(node_label(graph, i)) for i in range(len(graph))) <= TEXT_LIMIT


# --- errors: the Python API and the command line each give their own hints --------------


def test_the_python_api_gives_no_command_line_hint(cg):
    graph = cgraph.load(SAMPLES / "intro.cg")
    with pytest.raises(InputError) as raised:
        cgraph.evaluate(graph)
    assert "--NAME" not in str(raised.value) and "inputs" in str(raised.value)
    res = cg("eval", SAMPLES / "intro.cg")
    assert res.code == 2 and "give values as --NAME VALUE" in res.err
    with pytest.raises(NumericError) as raised:
        cgraph.evaluate(cgraph.parse("input x = -1\ny = log(x)\n"), strict=True)
    assert "--strict" not in str(raised.value) and "strict=True" in str(raised.value)
    res = cg("eval", "-e", "input x = -1\ny = log(x)", "--strict")
    assert res.code == 1 and "--strict stops" in res.err


def test_a_loop_local_name_suggests_its_iterations(cg, tmp_path):
    path = _write(tmp_path, "input x = 2\nfor t in 1..3 {\n    a = x * t\n    b[t] = a + 1\n}\ny = b[1] + b[2] + b[3]\n")
    res = cg("explain", path, "--node", "a")
    assert res.code == 2 and "Traceback" not in res.err
    assert "--node a: no node has that name" in res.err and "'a@t=2'" in res.err
    assert cg("explain", path, "--node", "a@t=2").code == 0
    res = cg("render", path, "--focus", "a", "-o", "-", "--format", "dot")
    assert res.code == 2 and "'a@t=1'" in res.err


def test_a_collapsed_box_is_captioned_with_the_gradient_on_its_outgoing_edge():
    """Both captions of a box speak of the value it hands on: its forward caption that value,
    its backward caption dloss/d(that value), here d loss/d h[j] = W2[j] * (y - target),
    worked out by hand from samples/mlp.cg (not the gradient of the first node inside it)."""
    ev = _sample_evaluation("mlp", {})
    x, target = (0.5, -1.5), 1.0
    h = [math.tanh(sum((3 * j - 2 * i) / 10 * x[i - 1] for i in (1, 2)) + 0.1) for j in (1, 2, 3)]
    w2 = [(2 * j - 5) / 10 for j in (1, 2, 3)]
    y = sum(w * v for w, v in zip(w2, h))
    want = [number(w * (y - target), 4) for w in w2]
    captions = [s.caption for _, s in cgraph.render.frames(ev.graph, ev, collapse=True)]
    boxes = [c for c in captions if c.startswith("backward") and "/d(j = " in c]
    # two boxes per j: the hidden unit's (h[j]) and the output sum's term (W2[j]*h[j]), whose gradient is y - target
    got = {c.split("/d(j = ")[1].split(")")[0]: [] for c in boxes}
    for c in boxes:
        got[c.split("/d(j = ")[1].split(")")[0]].append(c.rsplit(" = ", 1)[1])
    for j in (1, 2, 3):
        assert sorted(got[str(j)]) == sorted([number(y - target, 4), want[j - 1]]), (j, got)


@pytest.mark.parametrize("argv", [
    ("eval", "--output", "a"), ("eval", "--output", "a,y"), ("check", "--output", "a"),
    ("hessian", "--output", "a"), ("grad", "--output", "a"), ("export", "--to", "python", "--output", "a"),
    ("train", "--loss", "a", "--epochs", "1"), ("render", "--blank", "values", "--blank-nodes", "a", "-o", "-"),
])
def test_every_option_naming_a_node_suggests_a_loop_local_names_iterations(cg, tmp_path, argv):
    # The same hint as explain --node and render --focus, wherever a node is named.
    path = _write(tmp_path, "input x = 2\nfor t in 1..3 {\n    a = x * t\n    b[t] = a + 1\n}\ny = b[1] + b[2] + b[3]\n")
    res = cg(argv[0], path, *argv[1:])
    assert res.code == 2 and "Traceback" not in res.err
    assert "a: no node has that name" in res.err and "'a@t=1', 'a@t=2', 'a@t=3'" in res.err
