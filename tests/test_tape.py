"""The tape writer (cgraph/ir/tape.py): the one way nodes are appended to a graph, in the
IR's terms only (op, argument ids, source span, scope, value), so the builder and any
other pass that writes a graph share it. Checked here without the frontend."""

from __future__ import annotations

from typing import NamedTuple

import pytest

import cgraph
from cgraph.errors import GraphTooLarge, Source
from cgraph.ir.columns import NodeNames
from cgraph.ir.graph import Tag
from cgraph.ir.tape import NO_ARG, NONE, ONE, RELEASE_EVERY, Scope, TapeWriter


class Span(NamedTuple):
    pos: int
    start: int
    end: int


TEXT = "y = x*x + 3"
X, MUL, THREE, ADD = Span(4, 4, 5), Span(5, 4, 7), Span(10, 10, 11), Span(8, 4, 11)


def writer(text: str = TEXT, max_nodes: int = 1000) -> TapeWriter:
    return TapeWriter(Source(text, "t.cg"), max_nodes)


def test_a_hand_written_tape_is_the_graph_the_frontend_builds():
    tape = writer()
    x = tape.leaf("input", "x", X, None)
    square = tape.append("mul", (x, x), MUL, tape.root)
    three = tape.literal(3.0, THREE)
    y = tape.append("add", (square, three), ADD, tape.root)
    tape.name(y, "y", 0)
    graph = tape.finish(y, "y")
    built = cgraph.parse(TEXT, "t.cg")
    assert graph.ops == built.ops and graph.args == built.args and graph.values == built.values
    assert dict(graph.names) == dict(built.names) and graph.leaves == built.leaves
    assert bytes(graph.positions) == bytes(built.positions) and graph.tags == built.tags
    assert (graph.output, graph.output_name) == (built.output, built.output_name)
    result = cgraph.evaluate(graph, {"x": 2.0})
    assert (result.value, result.gradients["x"]) == (7.0, 4.0)


def test_append_stores_any_number_of_arguments_and_push_takes_them_as_columns():
    tape = writer()
    a = tape.leaf("input", "a", X, None)
    b = tape.leaf("input", "b", X, None)
    nodes = [
        tape.append("max", (a, b, a), MUL, tape.root),
        tape.append("tanh", (a,), MUL, tape.root),
        tape.push("tanh", b, ONE, MUL, tape.root),
        tape.push("mul", a, b, MUL, tape.root),
        tape.push("const", NO_ARG, NONE, MUL, tape.root, 1.5),
    ]
    assert nodes == [2, 3, 4, 5, 6] and len(tape) == 7
    graph = tape.finish(5, "a")
    assert list(graph.args) == [(), (), (a, b, a), (a,), (b,), (a, b), ()]
    assert graph.values[6] == 1.5 and graph.values[5] is None


def test_literals_are_shared_per_value_and_sign():
    tape = writer()
    assert tape.literal(3.0, THREE) == tape.literal(3.0, X) == 0
    zero, minus_zero = tape.literal(0.0, X), tape.literal(-0.0, X)
    assert zero != minus_zero
    assert tape.is_literal(0)
    graph = tape.finish(0, "three")  # the output's name is not given to a node here
    assert graph.is_literal(0) and graph.is_literal(zero) and graph.constants == {}


def test_a_named_constant_is_a_node_of_its_own():
    tape = writer()
    older = tape.literal(3.0, THREE)
    tape.leaf("input", "x", X, None)
    since = len(tape)
    fresh = tape.literal(5.0, THREE)
    # the literal just appended leaves the pool: the next 5 is another node
    assert tape.own_constant(fresh, since, THREE, tape.root) == fresh
    tape.name(fresh, "f")
    assert tape.literal(5.0, THREE) != fresh
    # an older literal (others may use it) is copied
    copy = tape.own_constant(older, since, THREE, tape.root)
    assert copy not in (older, fresh) and tape.value_of(copy) == 3.0
    tape.name(copy, "g")
    graph = tape.finish(copy, "g")
    assert graph.constants == {"f": fresh, "g": copy}
    assert graph.is_literal(older) and not graph.is_literal(copy)


def test_leaves_names_and_relabelling():
    tape = writer()
    x = tape.leaf("input", "x", X, None)
    w = tape.leaf("param", "w", X, 0.5)
    tape.name(x, "alias", 7)
    assert tape.names == {"x": x, "w": w, "alias": x}
    assert tape.name_position("alias") == 7 and tape.name_position("x") == -1
    with pytest.raises(KeyError):
        tape.name_position("nope")
    tape.relabel_leaf(x, "param", 2.0)  # an input used before it was declared a param
    graph = tape.finish(w, "w")
    assert graph.ops[x] == "param" and graph.values[x] == 2.0
    assert graph.inputs == {"x": x, "w": w} and graph.node_names[x] == ("x", "alias")


def test_a_scope_interns_its_tags_once():
    tape = writer()
    loop = Tag("loop", "t", 1, 1)
    first, second = Scope((loop,)), Scope((loop, Tag("call", "f", 1, 1)))
    assert Scope().tag_set == 0 and first.tag_set == -1
    a = tape.leaf("input", "a", X, None)
    n1 = tape.push("neg", a, ONE, X, first)
    n2 = tape.push("neg", n1, ONE, X, first)
    n3 = tape.push("neg", n2, ONE, X, second)
    assert first.tag_set == 1 and second.tag_set == 2
    graph = tape.finish(n3, "a")
    assert list(graph.tags) == [(), (loop,), (loop,), second.tags]


def test_many_values_keep_their_nodes():
    tape = writer(max_nodes=10_000)
    n = 3000  # past the point where values move from a dict to a list
    nodes = [tape.literal(float(k), X) for k in range(n)]
    graph = tape.finish(nodes[-1], "x")
    assert list(graph.values) == [float(k) for k in range(n)]


def test_past_the_limit_is_a_located_error():
    tape = writer("y = x + x", max_nodes=2)
    tape.leaf("input", "x", Span(4, 4, 5), None)
    tape.push("add", 0, 0, Span(6, 4, 9), tape.root)
    with pytest.raises(GraphTooLarge) as caught:
        tape.push("add", 1, 1, Span(6, 4, 9), tape.root)
    error = caught.value
    assert (error.location.line, error.location.column) == (1, 7)
    assert "the limit is 2 nodes" in str(error)
    assert "at least 5" in str(tape.too_large("this sum adds at least 5 nodes", 0))


def test_a_big_tape_grows_past_the_release_point():
    tape = writer(max_nodes=RELEASE_EVERY + 10)
    x = tape.leaf("input", "x", X, None)
    node = x
    for _ in range(RELEASE_EVERY + 5):
        node = tape.push("neg", node, ONE, X, tape.root)
    assert len(tape.finish(node, "x")) == RELEASE_EVERY + 6


def test_the_finished_graph_is_immutable():
    tape = writer()
    x = tape.leaf("input", "x", X, None)
    graph = tape.finish(x, "x")
    with pytest.raises(AttributeError):
        graph.output = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        graph.names["z"] = 0  # type: ignore[index]


@pytest.mark.parametrize("ids", [(0, 1, 2, 3), (0, 1, 3, 6)], ids=["dense", "sparse"])
def test_node_names_items_are_what_the_mapping_says(ids):
    """NodeNames.items() is read off its columns, not looked up per node: it must give what
    Mapping's own items() would, aliases and names given late (after a later node's) too."""
    names = NodeNames()
    for k, i in enumerate(ids):
        names.name(i, f"n{k}")
    names.name(ids[1], "alias")
    assert list(names.items()) == [(i, names[i]) for i in names]  # ids 0, 1, 2, ... not stored when dense
    names.name(ids[-1] + 2, "last")
    names.name(ids[-1] + 1, "late")  # a node named after a later one was
    names.name(ids[-1] + 1, "late_alias")
    expected = [(i, names[i]) for i in names]
    assert list(names.items()) == expected
    assert len(names.items()) == len(expected) and (ids[-1] + 1, ("late", "late_alias")) in names.items()
    assert dict(names.items())[ids[1]] == ("n1", "alias")
