"""The gradient as a graph (cgraph/transform/grad.py): evaluating the gradient nodes gives
exactly the backward pass's gradients (cgraph.evaluate(...).gradients), on the samples,
at the kinks, for inf and nan, and on generated programs (tests/support/programs.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, note

import cgraph
from cgraph.errors import InputError
from cgraph.transform.grad import grad
from support.paths import SAMPLES
from support.programs import programs, values
from support.samples import SAMPLE_CASES, SAMPLE_IDS


def agree(a: float, b: float) -> bool:
    """Within 1e-12 relative; inf and nan exactly (nan equals nan)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def gradient_values(graph: cgraph.Graph, point: dict[str, float], simplify: bool = True,
                    wrt: list[str] | None = None) -> dict[str, float]:
    """wrt name -> the value of the gradient graph's output for it."""
    derivative = grad(graph, wrt, simplify=simplify)
    values = cgraph.evaluate(derivative, point).values
    names = list(graph.inputs) if wrt is None else wrt
    assert len(derivative.outputs) == len(names)
    return {name: values[node] for name, node in zip(names, derivative.outputs)}


def assert_same_gradients(graph: cgraph.Graph, point: dict[str, float]) -> None:
    expected = cgraph.evaluate(graph, point).gradients
    if not graph.inputs:  # nothing to differentiate with respect to
        with pytest.raises(InputError, match="no inputs or params"):
            grad(graph)
        return
    for simplify in (True, False):
        got = gradient_values(graph, point, simplify)
        assert all(agree(got[n], expected[n]) for n in expected), (simplify, got, expected)
    # Raw, the forward nodes are the original's, unchanged, and the inputs keep their defaults.
    raw = grad(graph, simplify=False)
    assert raw.ops[:len(graph)] == graph.ops
    assert {n: raw.values[i] for n, i in raw.inputs.items()} == {n: graph.values[i] for n, i in graph.inputs.items()}
    out = graph.output_name
    assert raw.output_names == tuple(f"d{out}_d{name}" for name in graph.inputs) or not out.isidentifier()


@pytest.mark.parametrize(("name", "inputs"), [(c[0], c[1]) for c in SAMPLE_CASES], ids=SAMPLE_IDS)
def test_the_samples_gradient_graphs_give_the_backward_pass_gradients(name, inputs):
    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    assert_same_gradients(graph, inputs)


@pytest.mark.parametrize(("source", "point"), [
    ("y = relu(x) + abs(x)", {"x": 0.0}),
    ("y = relu(x) * abs(x) + x", {"x": -0.0}),
    ("y = max(x, z) * min(x, z)", {"x": 2.0, "z": 2.0}),
    ("y = max(x, z) + min(z, x)", {"x": math.inf, "z": math.inf}),
    ("y = x ^ z", {"x": 0.0, "z": 2.0}),
    ("y = x ^ z", {"x": 0.0, "z": 0.0}),
    ("y = x ^ z", {"x": -2.0, "z": 3.0}),
    ("y = x ^ z + log(x)", {"x": 0.0, "z": -1.0}),
    ("y = sqrt(x) * x", {"x": 0.0}),
    ("y = x * x * x", {"x": math.nan}),
    ("a = x\nb = a + a\nc = b + b\ny = c * x", {"x": 1.5}),  # fan-out sums (micrograd#64)
    ("y = sum(x, z, x * z) / mean(x, 2, z)", {"x": 0.5, "z": -3.0}),
    ("y = tanh(x) + sigmoid(z) + tan(x) - exp(z) + cos(x * z)", {"x": 0.3, "z": 1e3}),
    ("y = step(x) * sign(z) + zero_if(x, z) + eq(x, z)", {"x": 0.5, "z": 0.5}),
])
def test_the_gradient_graph_keeps_the_kinks_and_the_non_finite_values(source, point):
    assert_same_gradients(cgraph.parse(source), point)


def test_an_input_off_every_path_to_the_output_gets_a_zero_node():
    graph = cgraph.parse("input x = 1\ninput z = 2\nunused = log(z)\ny = x * 3\noutput y")
    derivative = grad(graph, ["z", "x"])
    assert derivative.output_names == ("dy_dz", "dy_dx")
    assert [cgraph.evaluate(derivative).values[i] for i in derivative.outputs] == [0.0, 3.0]


def test_an_unknown_name_is_refused():
    with pytest.raises(InputError, match="not an input or param of the graph: q"):
        grad(cgraph.parse("y = x * 2"), ["q"])


@given(programs())
def test_generated_programs_gradient_graphs_give_the_backward_pass_gradients(source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assert_same_gradients(graph, {name: 0.75 for name in graph.inputs})


@given(programs().flatmap(lambda source: values(list(cgraph.parse(source, max_nodes=50_000).inputs))
                          .map(lambda point: (source, point))))
def test_generated_programs_at_random_points(case):
    source, point = case
    note(source)
    assert_same_gradients(cgraph.parse(source, max_nodes=50_000), point)


@pytest.mark.parametrize("name", SAMPLE_IDS + ["xor", "linreg"])
def test_a_reopened_tape_holds_the_graph_as_it_was(name):
    from cgraph.ir.tape import TapeWriter

    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    copy = TapeWriter.reopen(graph, len(graph)).finish(graph.output, graph.output_name)
    assert copy.ops == graph.ops and list(copy.args) == list(graph.args)
    assert list(copy.values) == list(graph.values) and list(copy.tags) == list(graph.tags)
    assert bytes(copy.positions) == bytes(graph.positions) and copy.leaves == graph.leaves
    assert dict(copy.names) == dict(graph.names) and list(copy.names) == list(graph.names)
    assert dict(copy.node_names.items()) == dict(graph.node_names.items())
    assert [copy.node(i) for i in range(len(copy))] == [graph.node(i) for i in range(len(graph))]
