"""The sample programs in samples/: every gradient against central finite differences of
cgraph.evaluate(...).value, and the known answers worked out by hand.

Declared defaults are read back from the evaluation (r.inputs), so the hand computations
follow the samples if their numbers are retuned.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import cgraph
from cgraph import Tag

from support.numeric import graph_central_difference
from support.paths import SAMPLES as SAMPLES_DIR

SAMPLES = sorted(SAMPLES_DIR.glob("*.cg"))

# Inputs a sample does not declare a default for.
GIVEN = {"intro.cg": {"x": 1.0, "y": 3.0, "z": -3.0}}


# --- helpers -------------------------------------------------------------------------


def load(name: str) -> cgraph.Graph:
    return cgraph.load(SAMPLES_DIR / name)


def evaluate_sample(path: Path) -> cgraph.Evaluation:
    return cgraph.evaluate(cgraph.load(path), GIVEN.get(path.name, {}))


def assert_close(actual: float, expected: float, what: str = "", rtol: float = 1e-12) -> None:
    assert actual == pytest.approx(expected, rel=rtol, abs=1e-14), what


def sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


# --- every sample ----------------------------------------------------------------------


def test_the_samples_are_there():
    assert {"intro.cg", "neuron.cg", "rnn.cg"} <= {p.name for p in SAMPLES}


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_gradients_match_central_differences(path):
    graph = cgraph.load(path)
    result = cgraph.evaluate(graph, GIVEN.get(path.name, {}))
    assert math.isfinite(result.value)
    assert result.warnings == ()
    point = result.inputs
    assert point and set(result.gradients) == set(point)
    for name in point:
        fd = graph_central_difference(graph, point, name)
        assert abs(result.gradients[name] - fd) <= 1e-5 * abs(fd) + 1e-7, f"{path.name}: d/d{name}"


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_load_equals_parse(path):
    loaded = cgraph.load(path)
    parsed = cgraph.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert loaded.ops == parsed.ops and loaded.args == parsed.args
    assert loaded.output_name == parsed.output_name


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_graph_is_topological(path):
    graph = cgraph.load(path)
    for node in graph:
        assert all(a < node.id for a in node.args)


# --- intro.cg ---------------------------------------------------------------------------


def test_intro():
    result = cgraph.evaluate(load("intro.cg"), {"x": 1, "y": 3, "z": -3})
    assert result.graph.output_name == "g"
    assert result.value == -12.0
    assert result.gradients == {"x": -3.0, "y": -3.0, "z": 4.0}
    assert result.grad("p") == -3.0
    assert result["p"] == 4.0


# --- logreg.cg ---------------------------------------------------------------------------


def test_logreg_by_hand():
    result = evaluate_sample(SAMPLES_DIR / "logreg.cg")
    v = result.inputs
    z = v["w[1]"] * v["x[1]"] + v["w[2]"] * v["x[2]"] + v["b"]
    p = sigmoid(z)
    label = v["label"]
    assert_close(result.value, -(label * math.log(p) + (1 - label) * math.log(1 - p)), "loss", 1e-12)
    dz = p - label  # d loss / d z for the cross-entropy of a sigmoid
    expected = {
        "w[1]": dz * v["x[1]"], "w[2]": dz * v["x[2]"], "b": dz,
        "x[1]": dz * v["w[1]"], "x[2]": dz * v["w[2]"],
    }
    for name, g in expected.items():
        assert_close(result.gradients[name], g, name, 1e-9)


# --- neuron.cg: shared weights over three calls ------------------------------------------


def test_neuron_gradients_sum_over_the_three_calls():
    result = evaluate_sample(SAMPLES_DIR / "neuron.cg")
    v = result.inputs
    w, b = v["w"], v["b"]
    xs = [v["x1"], v["x2"], v["x3"]]
    outs = [math.tanh(w * x + b) for x in xs]
    slopes = [1 - o * o for o in outs]
    assert_close(result.value, sum(outs), "y")
    assert_close(result.gradients["w"], sum(s * x for s, x in zip(slopes, xs)), "w")
    assert_close(result.gradients["b"], sum(slopes), "b")
    for k, s in enumerate(slopes, 1):
        assert_close(result.gradients[f"x{k}"], s * w, f"x{k}")


def test_neuron_has_three_tagged_calls():
    graph = load("neuron.cg")
    tanhs = [node for node in graph if node.op == "tanh"]
    assert [(t.kind, t.name, t.value) for node in tanhs for t in node.tags] == [
        ("call", "neuron", 1), ("call", "neuron", 2), ("call", "neuron", 3),
    ]
    assert len({t.line for node in tanhs for t in node.tags}) == 1  # all on the line of y
    # the three copies share the one w and the one b
    w, b = graph.names["w"], graph.names["b"]
    for node in graph:
        if node.op == "mul" and node.tags:
            assert w in node.args
        if node.op == "add" and node.tags:
            assert b in node.args


# --- rnn.cg: backprop through time ------------------------------------------------------


def test_rnn_has_loop_tags_one_to_five():
    graph = load("rnn.cg")
    lines = (SAMPLES_DIR / "rnn.cg").read_text(encoding="utf-8").splitlines()
    body_line = next(n for n, text in enumerate(lines, 1) if text.lstrip().startswith("h[t]"))
    loop_line = max(n for n, text in enumerate(lines[:body_line], 1) if text.lstrip().startswith("for "))
    for t in range(1, 6):
        node = graph.node(graph.names[f"h[{t}]"])
        assert node.tags == (Tag("loop", "t", t, loop_line),)
    values = {tag.value for node in graph for tag in node.tags if tag.kind == "loop"}
    assert values == {1, 2, 3, 4, 5}


def test_rnn_by_hand():
    result = evaluate_sample(SAMPLES_DIR / "rnn.cg")
    v = result.inputs
    w, u, target = v["w"], v["u"], v["target"]
    xs = [v[f"x[{t}]"] for t in range(1, 6)]
    assert xs == [math.sin(t) for t in range(1, 6)]  # the declared defaults
    hs = [v["h[0]"]]
    for x in xs:
        hs.append(math.tanh(w * hs[-1] + u * x))
    assert_close(result.value, (hs[5] - target) ** 2, "loss")
    expected = {"w": 0.0, "u": 0.0, "target": -2 * (hs[5] - target)}
    dh = 2 * (hs[5] - target)
    for t in range(5, 0, -1):
        da = dh * (1 - hs[t] ** 2)
        expected["w"] += da * hs[t - 1]
        expected["u"] += da * xs[t - 1]
        expected[f"x[{t}]"] = da * u
        dh = da * w
    expected["h[0]"] = dh
    assert set(result.gradients) == set(expected)
    for name, g in expected.items():
        assert_close(result.gradients[name], g, name, 1e-10)


# --- mlp.cg -------------------------------------------------------------------------------


def test_mlp_by_hand():
    result = evaluate_sample(SAMPLES_DIR / "mlp.cg")
    v = result.inputs
    x = [v["x[1]"], v["x[2]"]]
    hidden = [math.tanh(sum(v[f"W1[{j},{i}]"] * x[i - 1] for i in (1, 2)) + v[f"b1[{j}]"]) for j in (1, 2, 3)]
    y = sum(v[f"W2[{j}]"] * hidden[j - 1] for j in (1, 2, 3)) + v["b2"]
    assert_close(result.value, 0.5 * (y - v["target"]) ** 2, "loss")
    dy = y - v["target"]
    assert_close(result.gradients["b2"], dy, "b2")
    for j in (1, 2, 3):
        assert_close(result.gradients[f"W2[{j}]"], dy * hidden[j - 1], f"W2[{j}]")
        da = dy * v[f"W2[{j}]"] * (1 - hidden[j - 1] ** 2)
        assert_close(result.gradients[f"b1[{j}]"], da, f"b1[{j}]")
        for i in (1, 2):
            assert_close(result.gradients[f"W1[{j},{i}]"], da * x[i - 1], f"W1[{j},{i}]")
