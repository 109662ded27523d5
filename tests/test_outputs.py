"""Several outputs (`output a, b`): the Jacobian in the library (Evaluation.outputs and
.jacobian), in `cgraph eval` (table, plain, CSV, JSON), in `eval --data` rows, and every
other command on such a file. A file with one output prints what it always printed."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import cgraph
from cgraph.engine import evaluator
from support.files import write
from support.numeric import graph_central_difference
from support.paths import SAMPLES, TESTS
from support.programs import programs, values

FILES = TESTS / "outputs_files"

# (program, a point): outputs upstream of others, an output that is an input, outputs that
# do not depend on some inputs, aliases, a param, an indexed name, a function and a loop.
PROGRAMS = [
    ("p = x + y\ng = p * z\noutput g, p", {"x": 1.0, "y": 3.0, "z": -3.0}),
    ("a = sin(x) * y\nb = exp(x - y)\noutput a, b, x", {"x": 0.3, "y": 1.7}),
    ("u = x * x\nv = tanh(y)\noutput u, v", {"x": 1.5, "y": -0.4}),
    ("g = x * y\nh = g\nk = h + x\noutput h, g, k", {"x": 2.0, "y": -1.25}),
    ("param w = 0.5\ns = w * x\nt = log(s) + s^2\noutput t, s", {"x": 3.0, "w": 0.5}),
    ("def f(a) = sigmoid(a) * a\nfor i in 1..3 { h[i] = f(x[i] * w) }\ny = sum(h[i] for i in 1..3)\n"
     "output y, h[2]", {"x[1]": 0.2, "x[2]": -0.7, "x[3]": 1.1, "w": 0.9}),
]


def _jacobian_by_differences(graph: cgraph.Graph, point: dict[str, float]) -> dict[str, dict[str, float]]:
    return {out: {name: graph_central_difference(graph.with_output(out), point, name) for name in graph.inputs}
            for out in graph.output_names}


@pytest.mark.parametrize("text, point", PROGRAMS)
def test_jacobian_matches_central_differences(text, point):
    graph = cgraph.parse(text)
    ev = cgraph.evaluate(graph, point)
    assert list(ev.outputs) == list(graph.output_names) == list(ev.jacobian)
    numeric = _jacobian_by_differences(graph, point)
    for out, row in ev.jacobian.items():
        assert list(row) == list(graph.inputs)
        assert ev.outputs[out] == ev[out]
        for name, derivative in row.items():
            assert derivative == pytest.approx(numeric[out][name], rel=1e-6, abs=1e-7), (out, name)
    # The first output's row is the Evaluation's own value and gradients, as before.
    assert ev.value == ev.outputs[graph.output_name]
    assert ev.gradients == ev.jacobian[graph.output_name]


@given(programs(), st.data())
def test_each_row_of_the_jacobian_is_that_outputs_gradients(source, data):
    """On generated programs, with any named nodes as the outputs: each output's row is, bit
    for bit, what evaluating with that one output gives (the same backward pass)."""
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(len(graph.names) >= 2)
    point = data.draw(values(list(graph.inputs)))
    chosen = data.draw(st.lists(st.sampled_from(sorted(graph.names)), min_size=2, max_size=4, unique=True))
    ev = cgraph.evaluate(graph, point, output=chosen)
    assert list(ev.outputs) == list(ev.jacobian) == chosen
    for name in chosen:
        alone = cgraph.evaluate(graph, point, output=name)
        assert repr(ev.outputs[name]) == repr(alone.value)
        assert repr(ev.jacobian[name]) == repr(alone.gradients)


def test_jacobian_by_hand():
    graph = cgraph.parse(PROGRAMS[0][0])
    ev = cgraph.evaluate(graph, PROGRAMS[0][1])
    assert ev.outputs == {"g": -12.0, "p": 4.0}
    # p is upstream of g; p does not depend on z (0), g gets z's share through p * z.
    assert ev.jacobian == {"g": {"x": -3.0, "y": -3.0, "z": 4.0}, "p": {"x": 1.0, "y": 1.0, "z": 0.0}}

    x, y = 0.3, 1.7
    ev = cgraph.evaluate(cgraph.parse(PROGRAMS[1][0]), {"x": x, "y": y})
    assert ev.outputs == {"a": math.sin(x) * y, "b": math.exp(x - y), "x": x}
    assert ev.jacobian["a"] == {"x": math.cos(x) * y, "y": math.sin(x)}
    assert ev.jacobian["b"] == {"x": math.exp(x - y), "y": -math.exp(x - y)}
    assert ev.jacobian["x"] == {"x": 1.0, "y": 0.0}  # an output that is an input

    ev = cgraph.evaluate(cgraph.parse(PROGRAMS[2][0]), {"x": 1.5, "y": -0.4})
    assert ev.jacobian == {"u": {"x": 3.0, "y": 0.0}, "v": {"x": 0.0, "y": 1 - math.tanh(-0.4) ** 2}}


def test_aliases_are_one_node_and_one_sweep(monkeypatch):
    calls = []
    real = evaluator.backward
    monkeypatch.setattr(evaluator, "backward", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    graph = cgraph.parse(PROGRAMS[3][0])  # output h, g, k: h and g are one node
    ev = cgraph.evaluate(graph, PROGRAMS[3][1])
    assert ev.jacobian["h"] == ev.jacobian["g"] == {"x": -1.25, "y": 2.0}
    assert ev.jacobian["k"] == {"x": -0.25, "y": 2.0}
    assert len(calls) == 2  # one sweep per distinct output node
    calls.clear()
    ev = cgraph.evaluate(cgraph.parse("p = x + y\ng = p * z"), {"x": 1, "y": 3, "z": -3})
    assert len(calls) == 1 and ev.more == ()  # one output: no second sweep
    assert ev.outputs == {"g": -12.0} and ev.jacobian == {"g": ev.gradients}


def test_output_argument_picks_outputs():
    graph = cgraph.parse(PROGRAMS[0][0])
    ev = cgraph.evaluate(graph, PROGRAMS[0][1], output=["p", "z"])
    assert ev.output_name == "p" and ev.value == 4.0
    assert ev.jacobian == {"p": {"x": 1.0, "y": 1.0, "z": 0.0}, "z": {"x": 0.0, "y": 0.0, "z": 1.0}}
    ev = cgraph.evaluate(graph, PROGRAMS[0][1], output="p")  # one name: that output alone
    assert ev.outputs == {"p": 4.0}
    with pytest.raises(cgraph.InputError, match="twice"):
        cgraph.evaluate(graph, PROGRAMS[0][1], output=["p", "p"])
    with pytest.raises(cgraph.InputError, match="no node has that name"):
        cgraph.evaluate(graph, PROGRAMS[0][1], output=["p", "q"])


# --- cgraph eval ----------------------------------------------------------------------

ARGS = ("--x", "1", "--y", "3", "--z", "-3")


def test_json_contract(cg, tmp_path):
    prog = write(tmp_path, PROGRAMS[0][0])
    result = cg("eval", prog, *ARGS, "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert list(doc) == ["output", "value", "inputs", "params", "gradients", "outputs", "jacobian", "nodes", "warnings"]
    assert doc["output"] == "g" and doc["value"] == -12.0
    assert doc["gradients"] == {"x": -3.0, "y": -3.0, "z": 4.0}
    assert list(doc["outputs"].items()) == [("g", -12.0), ("p", 4.0)]  # declared order
    assert doc["jacobian"] == {"g": {"x": -3.0, "y": -3.0, "z": 4.0}, "p": {"x": 1.0, "y": 1.0, "z": 0.0}}
    assert list(doc["jacobian"]) == ["g", "p"]
    for node in doc["nodes"]:
        assert node["grads"]["g"] == node["grad"]
        assert list(node["grads"]) == ["g", "p"]
    p = next(node for node in doc["nodes"] if node["name"] == "p")
    assert p["grads"] == {"g": -3.0, "p": 1.0}
    # Declared order, not the tape's: `output p, g` puts p first everywhere.
    doc = json.loads(cg("eval", prog, *ARGS, "--format", "json", "--output", "p,g").out)
    assert (doc["output"], list(doc["outputs"]), list(doc["jacobian"])) == ("p", ["p", "g"], ["p", "g"])
    assert doc["gradients"] == {"x": 1.0, "y": 1.0, "z": 0.0}


def test_json_non_finite_numbers_are_strings(cg, tmp_path):
    prog = write(tmp_path, "a = log(x)\nb = x * 2\noutput a, b")
    doc = json.loads(cg("eval", prog, "--x", "0", "--format", "json").out)
    assert doc["outputs"] == {"a": "-inf", "b": 0.0}
    assert doc["jacobian"]["a"] == {"x": "inf"}


def test_csv_plain_and_table(cg, tmp_path):
    prog = write(tmp_path, PROGRAMS[0][0])
    csv_text = cg("eval", prog, *ARGS, "--format", "csv").out
    assert csv_text.splitlines() == [
        "id,name,op,value,dg/d(node),dp/d(node),line,expr",
        "0,x,input,1.0,-3.0,1.0,1,x",
        "1,y,input,3.0,-3.0,1.0,1,y",
        "2,p,add,4.0,-3.0,1.0,1,x + y",
        "3,z,input,-3.0,4.0,0.0,2,z",
        "4,g,mul,-12.0,1.0,0.0,2,p * z",
    ]
    plain = cg("eval", prog, *ARGS, "--format", "plain", "--show", "inputs").out
    assert plain.splitlines() == ["x 1.0 -3.0 1.0", "y 3.0 -3.0 1.0", "p 4.0 -3.0 1.0", "z -3.0 4.0 0.0",
                                  "g -12.0 1.0 0.0"]  # --show inputs: the outputs and the inputs
    table = cg("eval", prog, *ARGS).out.splitlines()
    assert table[0] == "g = -12, p = 4"
    assert "dg/d(node)" in table[2] and "dp/d(node)" in table[2]
    assert any(line.split() == ["│", "z", "│", "input", "│", "│", "-3", "│", "4", "│", "0", "│"] for line in table)


@pytest.mark.parametrize("fmt", ["table", "plain", "csv", "json"])
def test_one_output_prints_what_it_always_printed(cg, fmt):
    """The expected files were written by cgraph before several outputs existed."""
    result = cg("eval", FILES / "one.cg", *ARGS, "--show", "all", "--format", fmt)
    assert result.code == 0
    assert result.out == (FILES / f"one_output.{fmt}").read_text()


def test_output_option_takes_a_list(cg, tmp_path):
    prog = write(tmp_path, "for i in 1..2 { for j in 1..2 { w[i, j] = x * i + j } }\ny = w[1, 2] * w[2, 1]")
    one = cg("eval", prog, "--x", "2", "--output", "w[1,2]", "--format", "json")
    assert one.code == 0, one.err
    assert "outputs" not in json.loads(one.out)  # a comma inside brackets is part of the name
    two = json.loads(cg("eval", prog, "--x", "2", "--output", "w[1,2], w[2,1],y", "--format", "json").out)
    assert two["outputs"] == {"w[1,2]": 4.0, "w[2,1]": 5.0, "y": 20.0}
    assert two["jacobian"] == {"w[1,2]": {"x": 1.0}, "w[2,1]": {"x": 2.0}, "y": {"x": 13.0}}
    for bad in ("w[1,2],", ",y", "y,,y"):
        result = cg("eval", prog, "--x", "2", "--output", bad)
        assert result.code == 2 and "empty name" in result.err and "Traceback" not in result.err
    result = cg("eval", prog, "--x", "2", "--output", "y,y")
    assert result.code == 2 and "'y' is named twice" in result.err
    result = cg("eval", prog, "--x", "2", "--output", "y,nope")
    assert result.code == 2 and "nope" in result.err


# --- eval --data ------------------------------------------------------------------------

ROWS = "x,y,z\n1,3,-3\n2,0.5,4\n-1,1,0.25\n"


def test_rows_equal_the_scalar_evaluation(cg, tmp_path):
    prog = write(tmp_path, PROGRAMS[0][0])
    data = write(tmp_path, ROWS, "rows.csv")
    lines = cg("eval", prog, "--data", data, "--format", "jsonl").out.splitlines()
    graph = cgraph.parse(PROGRAMS[0][0])
    assert len(lines) == 3
    for line, row in zip(lines, ROWS.splitlines()[1:]):
        point = dict(zip("xyz", map(float, row.split(","))))
        ev = cgraph.evaluate(graph, point)
        doc = json.loads(line)
        assert list(doc) == ["line", "value", "gradients", "outputs", "jacobian"]
        assert doc["value"] == ev.value and doc["gradients"] == ev.gradients
        assert list(doc["outputs"].items()) == list(ev.outputs.items())
        assert doc["jacobian"] == ev.jacobian
    csv_lines = cg("eval", prog, "--data", data).out.splitlines()
    assert csv_lines[0] == "line,g,p,dg/dx,dg/dy,dg/dz,dp/dx,dp/dy,dp/dz"
    for line, row in zip(csv_lines[1:], ROWS.splitlines()[1:]):
        ev = cgraph.evaluate(graph, dict(zip("xyz", map(float, row.split(",")))))
        expected = [*ev.outputs.values(), *(d for r in ev.jacobian.values() for d in r.values())]
        assert [float(v) for v in line.split(",")[1:]] == expected


def test_rows_with_an_input_as_output_and_aliases(cg, tmp_path):
    prog = write(tmp_path, "g = x * y\nh = g\noutput h, x, g")
    data = write(tmp_path, "x,y\n2,5\n", "rows.csv")
    out = cg("eval", prog, "--data", data).out
    assert out == "line,h,x,g,dh/dx,dh/dy,dx/dx,dx/dy,dg/dx,dg/dy\n2,10.0,2.0,10.0,5.0,2.0,1.0,0.0,5.0,2.0\n"


@pytest.mark.parametrize("fmt, expected", [("csv", "one_output_rows.csv"), ("jsonl", "one_output_rows.jsonl")])
def test_one_output_rows_are_unchanged(cg, fmt, expected):
    result = cg("eval", FILES / "one.cg", "--data", FILES / "one.csv", "--format", fmt)
    assert result.out == (FILES / expected).read_text()


# --- every other command on a file with two outputs ------------------------------------------

TWO = "param w = 0.5\np = w * x\nloss = (p - y)^2\noutput loss, p\n"


def test_render_marks_every_output(cg, tmp_path):
    prog = write(tmp_path, TWO)
    result = cg("render", prog, "--x", "2", "--y", "3", "-o", "-", "--format", "dot")
    assert result.code == 0, result.err
    assert "-> output [" in result.out and "-> output_2 [" in result.out
    assert "p = 1" in result.out and "loss = 4" in result.out
    without_values = cg("render", prog, "-o", "-", "--format", "mermaid").out
    assert '-->|"loss"| output' in without_values and '-->|"p"| output_2' in without_values


def test_explain_check_and_train_use_the_first_output(cg, tmp_path):
    prog = write(tmp_path, TWO)
    explained = cg("explain", prog, "--x", "2", "--y", "3")
    assert explained.code == 0 and "dloss/dw" in explained.out
    checked = cg("check", prog, "--x", "2", "--y", "3", "--format", "json")
    assert checked.code == 0, checked.err
    data = write(tmp_path, "x,y\n1,2\n2,4\n", "rows.csv")
    trained = cg("train", prog, "--data", data, "--epochs", "2", "--save", tmp_path / "p.json")
    assert trained.code == 0, trained.err
    assert "loss at the learned params" in trained.out
    for command in ("explain", "check", "train"):
        assert "several outputs" in cg(command, "--help").out


def test_rows_say_once_where_inf_or_nan_starts_in_any_output(cg, tmp_path):
    # b's log is no node of a's; c's is also under d: each origin is counted once, its rows right.
    prog = write(tmp_path, "a = x * 2\nb = log(x)\nl = log(x - 1)\nc = l * 3\nd = c + b\noutput a, b, d, c")
    data = write(tmp_path, "x\n1\n0\n-1\n2\n", "rows.csv")
    result = cg("eval", prog, "--data", data)
    assert result.code == 0
    assert result.err.splitlines() == [
        f"{prog}:2:5: warning: 'log(x)' (b) is inf or nan in 2 rows (first at {data}:3)",
        f"{prog}:3:5: warning: 'log(x - 1)' (l) is inf or nan in 3 rows (first at {data}:2)",
    ]
    strict = cg("eval", prog, "--data", data, "--strict")
    assert strict.code == 1 and "'log(x)' (b) is inf or nan for the row at" in strict.err


@pytest.mark.parametrize("name, starts", [("out.json", "{"), ("OUT.CSV", "id,name,op,value,grad"), ("out.txt", "g = -12")])
def test_eval_o_suffix_says_the_format(cg, tmp_path, name, starts):
    """`-o out.json` writes JSON and `-o out.csv` CSV (a table in a .json file was no one's
    wish); any other suffix keeps the table; --format still wins."""
    target = tmp_path / name
    assert cg("eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "-o", target).code == 0
    text = target.read_text()
    assert text.startswith(starts)
    if name == "out.json":
        assert json.loads(text)["value"] == -12.0
    assert cg("eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "-o", target,
              "--format", "plain").code == 0
    assert target.read_text().startswith("x 1.0 -3.0")


def test_eval_data_o_json_is_a_usage_error_naming_jsonl(cg, tmp_path):
    target = tmp_path / "rows.json"
    result = cg("eval", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "-o", target)
    assert result.code == 2 and "name it .jsonl for JSON Lines" in result.err and not target.exists()
    assert cg("eval", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "-o", target, "--format", "jsonl").code == 0
    assert json.loads(target.read_text().splitlines()[0])["line"] == 2


def test_hessian_o_suffix_says_the_format(cg, tmp_path):
    target = tmp_path / "h.json"
    assert cg("hessian", "-e", "x^2*y", "--x", "1", "--y", "3", "-o", target).code == 0
    assert json.loads(target.read_text())["hessian"] == [[6.0, 2.0], [2.0, 0.0]]  # d2/dx2 = 2y, d2/dxdy = 2x
    target = tmp_path / "h.csv"
    assert cg("hessian", "-e", "x^2*y", "--x", "1", "--y", "3", "-o", target).code == 0
    assert target.read_text().splitlines()[:2] == ["wrt,gradient,x,y", "x,6.0,6.0,2.0"]
