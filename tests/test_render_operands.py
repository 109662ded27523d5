"""Diagrams say which operand is which, and keep every edge label readable.

Operands: an op whose arguments may not be swapped (its op-table entry is not
`commutative`: a - b, a / b, a ^ b) has its edges marked a, b (a head label, and a port
in the arguments' order); checked on the DOT text, and on the coordinates Graphviz gives
(`dot -Tjson`): the first operand's edge enters above (LR) or left of (TB) the second's.
Labels: on every sample, in both directions, no two edge labels touch, no edge runs
through a label, and each label sits next to its own edge, nearer to it than to others.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest

import cgraph
import cgraph.render
from cgraph.ops import OPS

from support.dot import attr, parse_dot, parse_mermaid
from support.geometry import Drawing, box_distance, curve_distance, drawing
from support.samples import SAMPLE_CASES, SAMPLE_IDS, SAMPLES

RANKDIRS = ("LR", "TB")
# (program, inputs, the operands' names in order, the op's symbol)
ORDERED = [
    ("loss = y - t", {"y": 2.0, "t": 3.0}, ("y", "t"), "-"),
    ("q = a / b", {"a": 1.0, "b": 4.0}, ("a", "b"), "/"),
    ("p = a ^ b", {"a": 2.0, "b": 3.0}, ("a", "b"), "^"),
    ("loss = t - y", {"y": 2.0, "t": 3.0}, ("t", "y"), "-"),  # not just the order the inputs were declared in
]
MIN_LABEL_GAP = 4.0  # points between two edge labels' text
MIN_CLEARANCE = 1.5  # points between a label's text and any edge
MAX_FROM_OWN_EDGE = 16.0  # points from a label's text to its own edge
# A label squeezed between two edges converging on one node may sit a hair nearer the
# other one (LR: each label is above its edge, so the lower edge's is between the two).
NEARER_TOLERANCE = 1.5


def graph_and_dot(program: str, inputs: dict[str, float], rankdir: str) -> tuple[cgraph.Graph, str]:
    graph = cgraph.parse(program)
    return graph, cgraph.render.diagram(graph, cgraph.evaluate(graph, inputs), rankdir=rankdir).source


def operand_edges(source: str, symbol: str) -> dict[str, tuple[str, str]]:
    """mark -> (tail id, headport) for the edges into the one op node drawn as `symbol`."""
    d = parse_dot(source)
    (node,) = [n for n in d.drawn if n.is_op and n.symbol == symbol]
    marks = {}
    for edge in d.edges:
        if edge.head == node.id:
            m = re.search(r"headlabel=<<font[^>]*><i>(\w+)</i></font>>", edge.attrs)
            assert m, f"an edge into {symbol} with no operand mark: {edge.attrs}"
            marks[m.group(1)] = (edge.tail, attr(edge.attrs, "headport") or "")
    return marks


# --- the op table says which ops are ordered, and says it right --------------------------

PROBES = [(2.0, 3.0), (-1.5, 0.25), (0.0, 7.0), (3.0, 3.0)]


@pytest.mark.parametrize("name", sorted(OPS))
def test_commutative_flag_agrees_with_the_forward_function(name):
    op = OPS[name]
    if op.arity == 1:
        return
    if op.arity is None:  # variadic: any permutation of three arguments
        values = (0.1, 2.0, -3.5)
        results = {op.forward(*p) for p in itertools.permutations(values)}
        spread = max(results) - min(results)
        assert (spread <= 1e-12) == op.commutative, f"{name}: commutative={op.commutative}, spread {spread}"
        return
    swapped = [(op.forward(a, b), op.forward(b, a)) for a, b in PROBES]
    same = all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in swapped)
    assert same == op.commutative, f"{name}: commutative={op.commutative}, but f(a, b) vs f(b, a): {swapped}"


def test_a_new_non_commutative_op_is_marked_with_no_other_edit():
    """The renderer reads the flag, not op names: a registered op gets its marks."""
    op = cgraph.ops.Op("lpow", "lpow", 2, lambda a, b: b ** a, lambda o, a, b: (o * math.log(b), a * b ** (a - 1)),
                       ("out*log(b)", "a*b^(a-1)"))
    cgraph.ops.register(op)
    try:
        graph = cgraph.parse("r = lpow(u, v)")
        source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {"u": 2.0, "v": 3.0})).source
        marks = operand_edges(source, "lpow")
        assert marks["a"][0] == "v_u" and marks["b"][0] == "v_v"
    finally:
        cgraph.ops.unregister("lpow")


# --- the DOT text -------------------------------------------------------------------------


@pytest.mark.parametrize("rankdir", RANKDIRS)
@pytest.mark.parametrize("program,inputs,names,symbol", ORDERED, ids=[p[0] for p in ORDERED])
def test_operands_are_marked_and_point_to_the_right_arguments(program, inputs, names, symbol, rankdir):
    _, source = graph_and_dot(program, inputs, rankdir)
    marks = operand_edges(source, symbol)
    first, second = names
    assert marks["a"][0] == f"v_{first}" and marks["b"][0] == f"v_{second}", marks
    ports = {"LR": ("nw", "sw"), "TB": ("nw", "ne")}[rankdir]
    assert (marks["a"][1], marks["b"][1]) == ports


@pytest.mark.parametrize("program", ["s = y + t", "m = y * t", "h = max(y, t)", "k = sum(y, t, y)"])
def test_commutative_ops_have_no_marks(program):
    graph = cgraph.parse(program)
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {"y": 2.0, "t": 3.0})).source
    assert "headlabel" not in source and "headport" not in source


def test_the_same_node_twice_gets_both_marks():
    graph = cgraph.parse("z = x - x")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {"x": 1.0})).source
    marks = operand_edges(source, "-")
    assert set(marks) == {"a", "b"} and marks["a"][0] == marks["b"][0] == "v_x"


def test_edges_into_a_collapsed_box_are_not_marked():
    graph = cgraph.load(SAMPLES / "rnn.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), collapse=True).source
    d = parse_dot(source)
    boxes = {n.id for n in d.drawn if n.is_box}
    assert boxes and all("headlabel" not in e.attrs for e in d.edges if e.head in boxes)
    assert any("headlabel" in e.attrs for e in d.edges)  # the loss's `-` and `^` stay marked


def test_mermaid_labels_lead_with_the_mark():
    graph = cgraph.parse("loss = (y - t)^2")
    text = cgraph.render.mermaid(graph, cgraph.evaluate(graph, {"y": 2.0, "t": 3.0}))
    labels = {(tail, head): label for tail, head, label in parse_mermaid(text).edges}
    into_sub = {tail: label for (tail, head), label in labels.items() if head.startswith("sub_")}
    assert into_sub["v_y"].startswith("a: 2<br/>") and into_sub["v_t"].startswith("b: 3<br/>")
    assert labels[("k_2p0", "v_loss")] == "b: 2"


def test_the_gradient_graph_marks_its_operands_too(cg):
    """--backward: d q/d a = 1 / b and d q/d b = -q / b are divisions too. Their gradient
    edges are written reversed (head to tail), so the mark is DOT's tail label there."""
    code, out, err = cg("render", "-e", "q = a / b", "--a", "1", "--b", "4", "--backward", "--format", "dot", "-o", "-")
    assert code == 0, err
    d = parse_dot(out)
    divisions = [n.id for n in d.drawn if n.symbol == "/" and "bw_" in n.id]
    assert len(divisions) == 2
    for node in divisions:
        ends = [(e, "headlabel") for e in d.edges if e.head == node] + [(e, "taillabel") for e in d.edges if e.tail == node]
        found = sorted(m.group(1) for e, key in ends for m in [re.search(rf"{key}=<<font[^>]*><i>(\w+)</i>", e.attrs)] if m)
        assert found == ["a", "b"], (node, [e.attrs for e, _ in ends])


# --- coordinates: the first operand enters above (LR) or left of (TB) the second ----------


def entry_points(layout: Drawing, marks: dict[str, tuple[str, str]], head: str) -> dict[str, tuple[float, float]]:
    ends = {}
    for mark, (tail, _) in marks.items():
        (edge,) = [e for e in layout.edges if e.tail == tail and e.head == head]
        ends[mark] = edge.curve[-1]
    return ends


def assert_in_order(layout: Drawing, marks: dict[str, tuple[str, str]], head: str, rankdir: str) -> None:
    ends = entry_points(layout, marks, head)
    tails = {mark: layout.nodes[tail] for mark, (tail, _) in marks.items()}
    for points in (ends, tails):
        if rankdir == "LR":  # y grows upwards
            assert points["a"][1] > points["b"][1], points
        else:
            assert points["a"][0] < points["b"][0], points


def op_id(source: str, symbol: str) -> str:
    (node,) = [n for n in parse_dot(source).drawn if n.is_op and n.symbol == symbol]
    return node.id


@pytest.mark.parametrize("rankdir", RANKDIRS)
@pytest.mark.parametrize("program,inputs,names,symbol", ORDERED, ids=[p[0] for p in ORDERED])
def test_first_operand_enters_above_or_left_of_the_second(program, inputs, names, symbol, rankdir):
    _, source = graph_and_dot(program, inputs, rankdir)
    assert_in_order(drawing(source), operand_edges(source, symbol), op_id(source, symbol), rankdir)


@pytest.mark.parametrize("rankdir", RANKDIRS)
@pytest.mark.parametrize("symbol", ["-", "^"])
def test_the_mlp_loss_reads_y_minus_target_squared(rankdir, symbol):
    """samples/mlp.cg: loss = 0.5*(y - target)^2, where the diagram read target - y."""
    graph = cgraph.load(SAMPLES / "mlp.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), rankdir=rankdir).source
    marks = operand_edges(source, symbol)
    if symbol == "-":
        assert (marks["a"][0], marks["b"][0]) == ("v_y", "v_target")
    assert_in_order(drawing(source), marks, op_id(source, symbol), rankdir)


# --- every edge label readable and by its own edge ----------------------------------------


def label_problems(layout: Drawing) -> list[str]:
    labelled = [e for e in layout.edges if e.label]
    problems = []
    for e1, e2 in itertools.combinations(labelled, 2):
        gap = box_distance(e1.label, e2.label)
        if gap < MIN_LABEL_GAP:
            problems.append(f"labels of {e1.tail}->{e1.head} and {e2.tail}->{e2.head} {gap:.1f} pt apart")
    marks = [e.head_label for e in layout.edges if e.head_label]
    for e in labelled:
        own = curve_distance(e.label, e.curve)
        others = [curve_distance(e.label, o.curve) for o in layout.edges if o is not e]
        nearest = min(others, default=math.inf)
        where = f"label of {e.tail}->{e.head}"
        if not MIN_CLEARANCE <= own <= MAX_FROM_OWN_EDGE:
            problems.append(f"{where}: {own:.1f} pt from its edge")
        if nearest < MIN_CLEARANCE:
            problems.append(f"{where}: another edge runs through it")
        if nearest + NEARER_TOLERANCE < own:
            problems.append(f"{where}: nearer another edge ({nearest:.1f} pt) than its own ({own:.1f} pt)")
        if any(box_distance(e.label, mark) < 1.0 for mark in marks):
            problems.append(f"{where}: an operand mark touches it")
    return problems


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("rankdir", RANKDIRS)
@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_edge_labels_stay_apart_and_by_their_edges(name, inputs, _args, rankdir, theme):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, inputs), rankdir=rankdir, theme=theme).source
    layout = drawing(source)
    assert sum(1 for e in layout.edges if e.label) >= 5
    assert label_problems(layout) == []


@pytest.mark.parametrize("opts", [{"annotate": "values,grads,local"}, {"collapse": True}, {"heat": True}],
                         ids=["local", "collapse", "heat"])
@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_top_to_bottom_labels_stay_apart_with_every_annotation(name, inputs, _args, opts):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, inputs), rankdir="TB", **opts).source
    assert label_problems(drawing(source)) == []


@pytest.mark.parametrize("rankdir", RANKDIRS)
def test_the_output_label_is_off_its_edge(rankdir):
    graph = cgraph.load(SAMPLES / "mlp.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), rankdir=rankdir).source
    (edge,) = [e for e in drawing(source).edges if e.head == "output"]
    assert edge.label is not None and MIN_CLEARANCE <= curve_distance(edge.label, edge.curve) <= MAX_FROM_OWN_EDGE


def test_label_checks_catch_labels_on_their_edges():
    """The checks above can fail: the same diagram without the labels' margin breaks them."""
    graph = cgraph.load(SAMPLES / "mlp.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), rankdir="TB").source
    bare = re.sub(r'<table border="0" cellborder="0" cellspacing="0" cellpadding="\d+"><tr><td>(.*?)</td></tr></table>',
                  r"\1", source)
    assert bare != source
    assert any("from its edge" in p for p in label_problems(drawing(bare)))


@pytest.mark.parametrize("rankdir", RANKDIRS)
@pytest.mark.parametrize("name", ["neuron", "rnn", "mlp", "logreg"])
def test_numbers_of_edges_from_the_first_column_sit_by_the_node_they_feed(name, rankdir):
    """With clusters, the inputs and params stand in the first column, far from most of the
    nodes they feed. An edge from there carries its numbers on its last stretch, nearer the
    node it feeds than the column (halfway along, they sat among the crossing edges)."""
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), rankdir=rankdir).source
    layout = drawing(source)
    leaves = {n.id for n in parse_dot(source).drawn if n.is_leaf}
    from_column = [e for e in layout.edges if e.tail in leaves and e.label]
    assert len(from_column) >= 5
    axis = 0 if rankdir == "LR" else 1  # along the reading direction, where the column is
    for e in from_column:
        centre = (e.label[axis] + e.label[axis + 2]) / 2
        to_head, to_tail = abs(centre - layout.nodes[e.head][axis]), abs(centre - layout.nodes[e.tail][axis])
        assert to_head < to_tail, f"{e.tail}->{e.head}: label {to_head:.0f} pt from its head, {to_tail:.0f} from its tail"


def test_without_clusters_edges_run_straight_from_the_column():
    """The tutorial's graph has no clusters: its edges are short, drawn as one stretch each."""
    graph = cgraph.load(SAMPLES / "intro.cg")
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {"x": 1.0, "y": 3.0, "z": -3.0})).source
    assert "via" not in source and "tailclip" not in source
