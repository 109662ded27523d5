"""Property-based tests: random well-formed programs drawn from the language itself
(tests/support/programs.py), random inputs, and random text. Invariants:

1. parsing, building and evaluating raise nothing but cgraph's own errors, and those are located;
2. where the function is smooth at the point, backprop's gradients match central differences;
3. batch evaluation (cgraph.batch) of N rows equals N scalar evaluations, row by row;
4. DOT (one node statement per node, and Graphviz reads it), Mermaid, `explain` (text,
   Markdown, JSON) and the JSON report are produced and well-formed.

The number of examples comes from the hypothesis profile (tests/conftest.py): `ci` by
default, `fuzz` for `make fuzz`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import assume, event, given, note, reject
from hypothesis import strategies as st

import cgraph
from support.jsonutil import strict_json
from cgraph.views import explain, render, report
from cgraph.engine.evaluator import local_derivatives
from cgraph.ops import KINKS
from cgraph.views.render.dot import to_digraph
from cgraph.views.render.mermaid import to_mermaid
from support.programs import programs, token_soup, values

MAX_NODES = 50_000


@st.composite
def programs_with_inputs(draw):
    source = draw(programs())
    graph = cgraph.parse(source, max_nodes=MAX_NODES)
    return source, graph, draw(values(list(graph.inputs)))


# --- 1. only cgraph's own errors ------------------------------------------------------------


@given(programs())
def test_generated_programs_parse_and_build(source):
    note(source)
    graph = cgraph.parse(source, max_nodes=MAX_NODES)
    assert len(graph) > 0
    for i in range(len(graph)):
        assert all(a < i for a in graph.args[i]), "the tape is in topological order"
        assert "\n" not in graph.line_text_of(i) and "#" not in graph.line_text_of(i)


SPECIAL = st.sampled_from([0.0, -0.0, 1e-310, 1e308, -1e308, math.inf, -math.inf, math.nan, 710.0, -745.0])


@given(programs(), st.data())
def test_generated_programs_evaluate_at_any_point(source, data):
    """Any values at all, infinities and nan included: IEEE results, never an exception."""
    graph = cgraph.parse(source, max_nodes=MAX_NODES)
    point = {name: data.draw(st.one_of(SPECIAL, st.floats()), label=name) for name in graph.inputs}
    result = cgraph.evaluate(graph, point)
    assert len(result.values) == len(result.grads) == len(graph)
    for warning in result.warnings:
        assert ": warning: " in warning and "\n" not in warning
    try:
        cgraph.evaluate(graph, point, strict=True)
    except cgraph.NumericError as exc:
        assert exc.location is not None


def _only_cgraph_errors(text: str) -> None:
    try:
        graph = cgraph.parse(text, max_nodes=MAX_NODES)
    except cgraph.CgraphError as exc:
        event(type(exc).__name__)
        assert exc.location is not None, f"an error without a location: {exc}"
        assert 1 <= exc.location.line and 1 <= exc.location.column
        rendered = str(exc)
        assert rendered.startswith(f"<expr>:{exc.location.line}:{exc.location.column}: error: ")
        assert len(rendered.splitlines()[0]) < 400, "a message quotes at most a little of the source"
        return
    event("parsed")
    point = {name: 0.5 for name in graph.inputs}
    cgraph.evaluate(graph, point)


@given(st.text(max_size=200))
def test_any_text_raises_only_cgraph_errors(text):
    _only_cgraph_errors(text)


@given(token_soup)
def test_token_soup_raises_only_cgraph_errors(text):
    _only_cgraph_errors(text)


@given(st.binary(max_size=200))
def test_any_bytes_raise_only_cgraph_errors(data):
    from cgraph.frontend.loading import decode

    try:
        text = decode(data, "<expr>")
    except cgraph.ParseError as exc:
        assert exc.location is not None and "UTF-8" in exc.message
        return
    _only_cgraph_errors(text)


# --- 2. gradients against central differences ------------------------------------------------

_EPS = 2.2e-16


def _kinks(graph: cgraph.Graph, values) -> tuple:
    """Which side of its kink every op with one (relu, abs, max, min: the op table's
    `kink`) is on (-1, 0 or 1)."""
    sides = []
    for i, op in enumerate(graph.ops):
        kink = KINKS.get(op)
        if kink is not None:
            offset = kink(*[values[a] for a in graph.args[i]])
            sides.append((offset > 0) - (offset < 0))
    return tuple(sides)


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


@given(programs_with_inputs())
def test_gradients_match_central_differences(case):
    """At a point where the output is smooth in an input, backprop's gradient equals the
    central difference. Smooth means: every value finite at x - h, x, x + h; no relu, abs,
    max or min changes side (or sits on its kink only there); the derivative nearly the
    same at x - h and x + h; rounding error small next to the difference; and the
    differences with steps h and h/2 agree (so the truncation error is small)."""
    source, graph, point = case
    note(source)
    note(repr(point))
    result = cgraph.evaluate(graph, point)
    assume(_finite(result.values))
    out = graph.output
    scale = max(1.0, max(abs(v) for v in result.values))
    # Backprop adds up grad * local derivative terms: when they are huge and cancel (b/b at
    # b = 1e-292: +-1e292), rounding leaves an error of eps times the largest term.
    terms = [abs(result.grads[v] * d) for v in range(len(graph)) if graph.args[v]
             for d in local_derivatives(graph, result.values, v)]
    assume(_finite(terms))
    backprop_noise = 64 * _EPS * max(terms, default=0.0)
    base = _kinks(graph, result.values)
    checked = 0
    for name, i in graph.inputs.items():
        g = result.grads[i]
        if not math.isfinite(g):
            continue
        x = point[name]
        h = 1e-5 * max(1.0, abs(x))
        runs = {}
        for k in (-1.0, -0.5, 0.5, 1.0):
            runs[k] = cgraph.forward(graph, {**point, name: x + k * h})
        if not all(_finite(v) for v in runs.values()):
            continue
        if any(_kinks(graph, v) != base for v in runs.values()):
            continue  # a kink within the step: not differentiable here
        # The derivative itself must hardly change over the step: a/(3a + b) at a = 0 with
        # b = 1e-88 has derivative 1/b there, a feature far smaller than any step.
        ends = [cgraph.evaluate(graph, {**point, name: x + k * h}).grads[i] for k in (-1.0, 1.0)]
        if not _finite(ends) or abs(ends[1] - ends[0]) > 1e-2 * max(1.0, abs(g)):
            continue
        wide = (runs[1.0][out] - runs[-1.0][out]) / (2 * h)
        narrow = (runs[0.5][out] - runs[-0.5][out]) / h
        noise = 64 * _EPS * scale / h  # rounding error of the differences
        if noise > 1e-3 * max(1.0, abs(narrow)):
            continue  # rounding drowns the difference (sin(3^31 * x): a step moves it by billions)
        if abs(wide - narrow) > 1e-3 * max(1.0, abs(narrow)) + noise:
            continue  # too curved at this scale for differences to tell
        tolerance = 1e-4 * max(1.0, abs(narrow)) + 3 * abs(wide - narrow) + 8 * noise + backprop_noise
        assert abs(g - narrow) <= tolerance, (
            f"d{graph.output_name}/d{name}: backprop {g!r}, central difference {narrow!r} (h={h:g})"
        )
        checked += 1
    event(f"inputs checked: {min(checked, 5)}{'+' if checked >= 5 else ''}")


def _bits(xs) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]  # nan == nan, and -0.0 != 0.0


@given(programs_with_inputs(), st.data())
def test_the_flat_array_backward_pass_gives_the_same_bits(case, data):
    """Large graphs with scattered arguments are differentiated on arrays of doubles
    (cgraph/evaluate.py); no test graph is large enough to take that path by itself, so
    it is forced here and compared with the list path, bit for bit."""
    import importlib

    ev = importlib.import_module("cgraph.engine.evaluator")  # the module (cgraph.evaluate is also a function)
    source, graph, point = case
    outputs = [graph.output] + sorted(graph.names.values())
    out = data.draw(st.sampled_from(outputs), label="output")
    values = cgraph.forward(graph, point)
    expected = cgraph.backward(graph, values, out)
    flat_from, scattered = ev._FLAT_FROM, ev._scattered
    ev._FLAT_FROM, ev._scattered = 0, lambda g: True
    try:
        fresh = cgraph.parse(source, max_nodes=MAX_NODES)  # nothing cached from the list path
        got = cgraph.backward(fresh, values, out)
    finally:
        ev._FLAT_FROM, ev._scattered = flat_from, scattered
    assert _bits(got) == _bits(expected)


# --- 3. batch == scalar ----------------------------------------------------------------------


def _same(batched: float, scalar: float, scale: float) -> bool:
    """Equal up to the last bits NumPy's functions may differ in from `math`'s, amplified
    at most as much as the computation's largest magnitude allows."""
    if math.isnan(scalar) or math.isnan(batched):
        return math.isnan(scalar) and math.isnan(batched)
    if math.isinf(scalar) or math.isinf(batched):
        return scalar == batched
    return abs(batched - scalar) <= 1e-9 * max(1.0, abs(scalar)) + 1e3 * _EPS * scale


@given(programs_with_inputs(), st.data())
def test_batch_rows_equal_scalar_evaluations(case, data):
    """N rows evaluated as one batch (cgraph.batch) equal N scalar evaluations, row by row:
    values and every gradient. Some inputs are data columns, the rest given once."""
    np = pytest.importorskip("numpy")
    from cgraph.engine.batch import Plan

    source, graph, point = case
    note(source)
    names = list(graph.inputs)
    batched = [name for name in names if data.draw(st.booleans(), label=f"batch {name}")]
    n = data.draw(st.integers(1, 6), label="rows")
    value = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    columns = {name: np.array(data.draw(st.lists(value, min_size=n, max_size=n), label=name)) for name in batched}
    given = {name: point[name] for name in names if name not in columns}
    plan = Plan(graph, batched)
    try:
        result = plan.run(plan.bind(given), [columns[name] for name in batched], n)
    except ZeroDivisionError:
        # Known, reported: see test_batch_division_by_a_row_shared_zero below. Until it is
        # fixed, such programs are left out here (so the search goes on for other bugs).
        reject()
    for row in range(n):
        scalar = cgraph.evaluate(graph, {**given, **{name: float(columns[name][row]) for name in batched}})
        finite = [abs(v) for v in scalar.values if math.isfinite(v)]
        scale = max(finite, default=1.0)
        assert _same(float(result.value[row]), scalar.value, scale), (row, result.value[row], scalar.value)
        terms = [abs(scalar.grads[v] * d) for v in range(len(graph)) if graph.args[v]
                 for d in local_derivatives(graph, scalar.values, v)]
        gscale = max([t for t in terms if math.isfinite(t)], default=1.0)
        for name, g in scalar.gradients.items():
            got = result.grads[name]
            got = float(got[row]) if hasattr(got, "__len__") else float(got)
            assert _same(got, g, gscale), (row, name, got, g)


def test_batch_division_by_a_row_shared_zero():
    np = pytest.importorskip("numpy")
    from cgraph.engine.batch import Plan

    graph = cgraph.parse("y = a/0 + a")
    plan = Plan(graph, ["a"])
    result = plan.run(plan.bind({}), [np.array([0.0, 1.0])], 2)
    scalar = [cgraph.evaluate(graph, {"a": a}) for a in (0.0, 1.0)]
    assert [_same(float(v), s.value, 1.0) for v, s in zip(result.value, scalar)] == [True, True]


# --- 4. outputs are produced and well-formed -------------------------------------------------

_DOT_NODE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*) \[", re.M)
_DOT = shutil.which("dot")


def dot_node_statements(source: str) -> list[str]:
    return [m.group(1) for m in _DOT_NODE.finditer(source) if m.group(1) not in ("graph", "node", "edge")]


def _check_dot(scene, source: str) -> None:
    # dot.py's relay points (an edge from the first column drawn in two stretches) are node
    # statements of their own, not diagram nodes (support.dot.is_relay says how they look).
    ids = [i for i in dot_node_statements(source) if not re.fullmatch(r"via\d+_\w+", i)]
    assert len(ids) == len(set(ids)), "a node statement is repeated"
    assert sorted(ids) == sorted(node.id for node in scene.nodes), "one node statement per diagram node"
    # a relayed edge is two DOT edges, the first into its relay point
    heads = re.findall(r"^\s*\S+ -> (\S+)", source, re.M)
    assert len([h for h in heads if not re.match(r'"?via\d+_', h)]) == len(scene.edges)
    if _DOT is not None:  # Graphviz itself reads it
        done = subprocess.run([_DOT, "-Tcanon"], input=source.encode(), capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert b"Warning" not in done.stderr and b"Error" not in done.stderr, done.stderr.decode(errors="replace")


@given(programs_with_inputs(), st.booleans(), st.booleans())
def test_diagrams_explanations_and_json_are_well_formed(case, heat, collapse):
    source, graph, point = case
    note(source)
    result = cgraph.evaluate(graph, point)

    # The diagram shows every node of the graph (plus the output's sink), with and without values.
    for evaluation in (result, None):
        scene = render.scene(graph, evaluation, heat=heat, collapse=collapse, annotate="values,grads,local")
        if not collapse:
            assert len([n for n in scene.nodes if n.kind != "sink"]) == len(graph)
        _check_dot(scene, to_digraph(scene).source)
        mermaid = to_mermaid(scene)
        assert len(re.findall(r"^\s+\S+(\(\(|\[)\"", mermaid, re.M)) == len(scene.nodes)

    # explain: every step, in every format
    exp = explain.steps(result, max_steps=10_000)
    text = explain.to_text(exp)
    assert text.startswith(("Forward pass", "Backward pass")) or not exp.steps  # a constant has no steps
    markdown = explain.to_markdown(exp)
    for line in markdown.splitlines():
        assert line.count("$") % 2 == 0, f"unbalanced math in {line!r}"
    strict_json(json.dumps(explain.to_dict(exp), allow_nan=False))

    # the JSON report: strict JSON with a row per node
    document = strict_json(report.to_json(result, "all"))
    assert len(document["nodes"]) == len(graph)
    assert set(document["gradients"]) == set(graph.inputs)
    assert document["output"] == result.output_name
