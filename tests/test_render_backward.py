"""`cgraph render FILE --backward`: the forward graph and its gradient graph in one diagram.

The gradient graph is `cgraph.transform.grad`'s; what the diagram must show is checked
against that graph's own structure and values: every forward node and every gradient node
drawn, gradient nodes in the gradient colour and class, a dashed `reuse` edge exactly where
a gradient node takes a forward value, the values `cgraph.evaluate` gives for the gradient
graph (and so the backward pass's gradients), in every format.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

import cgraph
from cgraph.ir.graph import Graph
from cgraph.transform.grad import grad
from cgraph.views.numbers import number
from cgraph.views.render.backward import PREFIX, forward_copies
from cgraph.views.render.style import THEMES, node_ids
from support.dot import Dot, DotNode, attr, layout, parse_dot, parse_mermaid, strip_tags
from support.files import write
from support.paths import SAMPLES

INTRO = str(SAMPLES / "intro.cg")
NEURON = str(SAMPLES / "neuron.cg")
TUTORIAL = {"x": 1.0, "y": 3.0, "z": -3.0}
TANH = """\
# a tanh neuron
input x = 0.5
param w = -1.5
param b = 0.8
y = tanh(w*x + b)
"""
# Two outputs, a shared value, a power (a rule with a number), a division.
TWO_OUTPUTS = """\
input x = 1.5
input y = -0.5
s = x * y
a = s^2 + x
b = s / (y - 2)
output a, b
"""
LIGHT = THEMES["light"]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _argv(inputs: dict[str, float]) -> list[str]:
    return [a for name, value in inputs.items() for a in (f"--{name}", repr(value))]


@pytest.fixture
def backward(cg, tmp_path):
    """backward(file, *args) -> (the parsed DOT of `cgraph render FILE --backward ARGS`, its text)."""
    count = iter(range(10**6))

    def call(path: str, *argv: str) -> tuple[Dot, str]:
        target = tmp_path / f"backward-{next(count)}.dot"
        res = cg("render", path, "--backward", *argv, "-o", target)
        assert res.code == 0, res.err
        text = target.read_text(encoding="utf-8")
        return parse_dot(text), text

    return call


@pytest.fixture
def tanh_file(tmp_path) -> str:
    return write(tmp_path, TANH, "tanh.cg")


@pytest.fixture
def two_outputs(tmp_path) -> str:
    return write(tmp_path, TWO_OUTPUTS, "two.cg")


def _gradient_nodes(g: Graph, r: Graph) -> list[int]:
    """The nodes of the backward pass in r (not copies of forward nodes, not numbers)."""
    origin = forward_copies(g, r)
    return [i for i in range(len(r)) if origin[i] < 0 and not r.is_literal(i)]


def _label_parts(node: DotNode) -> dict[str, str]:
    """A gradient node's label: the symbol, its name (small black type), its value (red)."""
    parts = {}
    for piece in node.label.split("<br/>"):
        text = strip_tags(piece)
        if f'color="{LIGHT["grad"]}"' in piece:
            parts["value"] = text
        elif f'color="{LIGHT["gradient_line"]}"' in piece:
            parts["also"] = text
        elif 'point-size="9"' in piece:
            parts["name"] = text
        else:
            parts.setdefault("title", text)
    return parts


def _logical(edge) -> tuple[str, str]:
    """An edge as data flows on it: a gradient edge is written head first, drawn backwards."""
    return (edge.head, edge.tail) if attr(edge.attrs, "dir") == "back" else (edge.tail, edge.head)


PROGRAMS = [("intro", TUTORIAL), ("neuron", {}), ("tanh", {}), ("two", {})]


def _program(name: str, tanh_file: str, two_outputs: str) -> str:
    return {"intro": INTRO, "neuron": NEURON, "tanh": tanh_file, "two": two_outputs}[name]


# --- which nodes are forward copies -----------------------------------------------------


@pytest.mark.parametrize("path", sorted(str(p) for p in SAMPLES.glob("*.cg")) + [TANH, TWO_OUTPUTS],
                         ids=lambda p: p.rsplit("/", 1)[-1] if p.endswith(".cg") else p.splitlines()[0])
def test_the_raw_transformation_is_split_by_id(path):
    """Raw, the transformation keeps every forward node under its own id and appends the
    gradient nodes: the split the diagram draws must be exactly that one."""
    g = cgraph.load(path) if path.endswith(".cg") else cgraph.parse(path)
    r = grad(g, simplify=False)
    assert forward_copies(g, r) == list(range(len(g))) + [-1] * (len(r) - len(g))


@pytest.mark.parametrize("name,inputs", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_simplified_forward_copies_are_the_forward_nodes_kept(name, inputs, tanh_file, two_outputs):
    g = cgraph.load(_program(name, tanh_file, two_outputs))
    r = grad(g)
    origin = forward_copies(g, r)
    copies = [i for i, o in enumerate(origin) if o >= 0]
    assert copies == list(range(len(copies))), "the copies come first, in order"
    assert [origin[i] for i in copies] == sorted(origin[i] for i in copies)
    for i in copies:
        o = origin[i]
        assert (r.ops[i], r.values[i], r.name_of(i)) == (g.ops[o], g.values[o], g.name_of(o))
    # The same values as the forward pass computes for them.
    fv, rv = cgraph.forward(g, inputs), cgraph.forward(r, inputs)
    assert all(rv[i] == fv[origin[i]] for i in copies)


def test_a_node_hash_consed_onto_a_forward_node_is_that_forward_node():
    """Two equal forward nodes and a gradient that equals one: the copies match in order."""
    g = cgraph.parse("input x = 2\na = x * x\nb = x * x\ny = a + b*a\n")
    r = grad(g)
    origin = forward_copies(g, r)
    assert sorted(o for o in origin if o >= 0) == sorted(set(o for o in origin if o >= 0))


def test_an_unnamed_forward_node_the_pass_names_as_a_gradient_is_still_a_forward_node():
    """d y/d tanh(exp(s)) is the second exp(s): the pass names it dy_dtanh2, and it and the
    forward nodes built on it (y) stay forward nodes."""
    g = cgraph.parse("input s = 0.3\ny = tanh(exp(s)) * exp(s)\n")
    r = grad(g)
    assert any(not g.name_of(i) and r.name_of(i) for i in range(len(g))), "the case this test is about"
    assert forward_copies(g, r) == list(range(len(g))) + [-1] * (len(r) - len(g))


# --- the diagram against the gradient graph ---------------------------------------------


@pytest.mark.parametrize("raw", [False, True], ids=["simplified", "raw"])
@pytest.mark.parametrize("name,inputs", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_every_forward_and_gradient_node_is_drawn(backward, name, inputs, raw, tanh_file, two_outputs):
    path = _program(name, tanh_file, two_outputs)
    d, _ = backward(path, *_argv(inputs), *(["--no-simplify"] if raw else []))
    g = cgraph.load(path)
    r = grad(g, simplify=not raw)
    assert set(node_ids(g)) <= set(d.nodes), "every forward node is drawn, under its usual id"
    ids = node_ids(r)
    for i in _gradient_nodes(g, r):
        node = d.nodes[PREFIX + ids[i]]
        assert attr(node.attrs, "class") == "gradient"
        assert attr(node.attrs, "fillcolor") == LIGHT["gradient_fill"] or r.ops[i] == "const"
        assert node.cluster == ("cluster_backward",)
        names = [n for n in r.node_names.get(i, ())]
        assert _label_parts(node).get("name") == (names[0] if names else None)
    # No forward node is drawn as a gradient node, nor in the gradient colour.
    for fid in node_ids(g):
        assert attr(d.nodes[fid].attrs, "class") is None
        assert "cluster_backward" not in d.nodes[fid].cluster


@pytest.mark.parametrize("raw", [False, True], ids=["simplified", "raw"])
@pytest.mark.parametrize("name,inputs", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_reuse_edges_are_exactly_where_a_gradient_node_uses_a_forward_value(backward, name, inputs, raw, tanh_file,
                                                                          two_outputs):
    path = _program(name, tanh_file, two_outputs)
    d, _ = backward(path, *_argv(inputs), *(["--no-simplify"] if raw else []))
    g = cgraph.load(path)
    r = grad(g, simplify=not raw)
    origin = forward_copies(g, r)
    fids, rids = node_ids(g), node_ids(r)
    want_reuse, want_gradient = Counter(), Counter()
    for v in _gradient_nodes(g, r):
        for u in r.args[v]:
            if r.is_literal(u):  # a number in a rule: drawn beside each use
                want_gradient[(f"{PREFIX}{rids[u]}__{PREFIX}{rids[v]}", PREFIX + rids[v])] += 1
            elif origin[u] >= 0:
                want_reuse[(fids[origin[u]], PREFIX + rids[v])] += 1
            else:
                want_gradient[(PREFIX + rids[u], PREFIX + rids[v])] += 1
    reuse = Counter(_logical(e) for e in d.edges if attr(e.attrs, "class") == "reuse")
    between = Counter(_logical(e) for e in d.edges if attr(e.attrs, "class") == "gradient"
                      and not d.nodes[_logical(e)[1]].is_sink)
    assert reuse == want_reuse
    assert between == want_gradient
    for e in d.edges:
        if attr(e.attrs, "class") == "reuse":
            assert attr(e.attrs, "style") == "dashed"
        if attr(e.attrs, "class") in ("reuse", "gradient"):
            assert attr(e.attrs, "color") == LIGHT["gradient_line"]


@pytest.mark.parametrize("name,inputs", PROGRAMS, ids=[p for p, _ in PROGRAMS])
def test_values_are_those_evaluate_gives_for_the_gradient_graph(backward, name, inputs, tanh_file, two_outputs):
    path = _program(name, tanh_file, two_outputs)
    d, _ = backward(path, *_argv(inputs))
    g = cgraph.load(path)
    r = grad(g)
    ev = cgraph.evaluate(r, inputs)
    ids = node_ids(r)
    for i in _gradient_nodes(g, r):
        parts = _label_parts(d.nodes[PREFIX + ids[i]])
        assert parts.get("value", parts["title"]) == number(ev.values[i], 4)  # a constant's value is its title
    # Each derivative the gradient graph outputs: on its own edge, or named on the forward
    # node it is; its value is the backward pass's gradient.
    forward_grads = cgraph.evaluate(g, inputs).gradients
    outputs = {e.parts["name"]: e for e in d.edges if "name" in e.parts and attr(e.attrs, "class")}
    for node, out_name in zip(r.outputs, r.output_names):
        if out_name in outputs:
            assert outputs[out_name].parts["grad"] == number(ev.values[node], 4)
        else:
            marked = [n for n in d.nodes.values() if out_name in _label_parts(n).get("also", "= ")[2:].split(" = ")]
            assert len(marked) == 1, out_name
        wrt = out_name.split("_d", 1)[1]
        if out_name.startswith(f"d{g.output_name}_d"):
            assert number(ev.values[node], 4) == number(forward_grads[wrt], 4)


def test_the_tutorial_gradient_graph_simplified_is_its_forward_values(backward):
    """d g/d x = d g/d y = z and d g/d z = p: no node of its own; the names are on z and p."""
    d, _ = backward(INTRO, *_argv(TUTORIAL))
    assert not [n for n in d.nodes.values() if attr(n.attrs, "class") == "gradient"]
    assert sorted(_label_parts(d.named("z"))["also"].removeprefix("= ").split(" = ")) == ["dg_dp", "dg_dx", "dg_dy"]
    assert _label_parts(d.named("p"))["also"] == "= dg_dz"
    assert not [e for e in d.edges if attr(e.attrs, "class")], "no edges of the gradient graph"
    assert "no node of its own" in attr(d.graph_attrs, "label")


def test_no_simplify_shows_more_nodes(backward, tanh_file):
    for path, inputs in ((INTRO, TUTORIAL), (NEURON, {}), (tanh_file, {})):
        simplified, _ = backward(path, *_argv(inputs))
        raw, _ = backward(path, *_argv(inputs), "--no-simplify")
        count = [sum(attr(n.attrs, "class") == "gradient" and n.is_op for n in d.nodes.values()) for d in (simplified, raw)]
        assert count[0] < count[1], (path, count)


def test_without_input_values_the_structure_alone(backward, tmp_path):
    path = write(tmp_path, "y = tanh(w*x + b)\n", "free.cg")
    d, text = backward(path)
    named = {_label_parts(n).get("name") for n in d.nodes.values() if attr(n.attrs, "class") == "gradient"}
    assert {"dy_dw", "dy_dx"} <= named
    assert not any("value" in _label_parts(n) for n in d.nodes.values() if attr(n.attrs, "class") == "gradient")
    assert {e.parts.get("name") for e in d.edges if attr(e.attrs, "class")} - {None} == {"dy_dw", "dy_dx", "dy_db"}


def test_params_file_values(backward, tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"w": 0.3, "b": -0.2}))
    d, _ = backward(NEURON, "--params", str(params))
    g = cgraph.load(NEURON)
    r = grad(g)
    ev = cgraph.evaluate(r, {"w": 0.3, "b": -0.2})
    ids = node_ids(r)
    for i in _gradient_nodes(g, r):
        assert _label_parts(d.nodes[PREFIX + ids[i]])["value"] == number(ev.values[i], 4)


def test_wrt_draws_those_derivatives_only(backward, tanh_file):
    d, _ = backward(tanh_file, "--wrt", "w")
    outputs = {e.parts.get("name") for e in d.edges if attr(e.attrs, "class")} - {None}
    assert outputs == {"dy_dw"}


def test_several_outputs_each_marked_and_differentiated(backward, two_outputs):
    d, _ = backward(two_outputs)
    forward_outputs = {e.parts.get("name") for e in d.output_edges() if not attr(e.attrs, "class")}
    assert forward_outputs == {"a", "b"}
    r = grad(cgraph.load(two_outputs))
    assert set(r.output_names) == {"da_dx", "da_dy", "db_dx", "db_dy"}
    gradient_outputs = {e.parts.get("name") for e in d.edges if attr(e.attrs, "class")} - {None}
    assert gradient_outputs == set(r.output_names)


def test_a_program_of_several_outputs_marks_them_all(cg, tmp_path):
    """A gradient program (several outputs, named dg_dx...) renders like any file: each output its edge."""
    path = write(tmp_path, "input x = 2\ninput y = 3\ndg_dx = y * 2\ndg_dy = x * y\noutput dg_dx, dg_dy\n")
    res = cg("render", path, "-o", "-", "--format", "dot")
    assert res.code == 0, res.err
    d = parse_dot(res.out)
    assert {e.parts["name"]: e.value for e in d.output_edges()} == {"dg_dx": 6.0, "dg_dy": 6.0}


def test_output_option_differentiates_that_node(backward):
    d, _ = backward(INTRO, *_argv(TUTORIAL), "--output", "p", "--no-simplify")
    outputs = {e.parts["name"]: e.parts["grad"] for e in d.edges if attr(e.attrs, "class") and "name" in e.parts}
    assert outputs == {"dp_dx": "1", "dp_dy": "1", "dp_dz": "0"}  # p = x + y does not depend on z


def test_collapsed_boxes_send_their_values(backward):
    d, _ = backward(NEURON, "--collapse")
    reuse = [e for e in d.edges if attr(e.attrs, "class") == "reuse"]
    assert any(d.nodes[e.tail].is_box for e in reuse)


# --- layout: forward left to right, backward right to left ------------------------------


@needs_dot
def test_the_backward_pass_reads_right_to_left(backward, tanh_file):
    d, text = backward(tanh_file, "--no-simplify")
    pos = layout(text)
    gradient_edges = [_logical(e) for e in d.edges if attr(e.attrs, "class") == "gradient"]
    assert gradient_edges
    for tail, head in gradient_edges:
        assert pos[head][0] < pos[tail][0], (tail, head)
    forward = [e for e in d.edges if not attr(e.attrs, "class")]
    assert all(pos[e.head][0] > pos[e.tail][0] for e in forward)


# --- every format -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF"),
                                       ("dot", b"digraph"), ("mermaid", b"---")])
def test_every_format(cg, tmp_path, fmt, magic):
    if fmt in ("svg", "png", "pdf") and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    target = tmp_path / f"out.{ {'mermaid': 'mmd'}.get(fmt, fmt)}"
    res = cg("render", NEURON, "--backward", "-o", target)
    assert res.code == 0, res.err
    data = target.read_bytes()
    assert data.startswith(magic)
    if fmt == "svg":
        text = data.decode()
        assert 'class="node gradient"' in text and 'class="edge reuse"' in text
    if fmt == "mermaid":
        m = parse_mermaid(data.decode())
        assert "backward pass" in m.subgraphs and m.title and "gradient graph" in m.title
        assert ":::gradient" in data.decode() and " -.-> " in data.decode()
        assert any("dy_dw = " in (label or "") for _, _, label in m.edges)


def test_dark_theme_and_top_to_bottom(backward, tanh_file):
    d, _ = backward(tanh_file, "--theme", "dark", "--rankdir", "TB")
    gradient = [n for n in d.nodes.values() if attr(n.attrs, "class") == "gradient" and n.is_op]
    assert gradient and all(attr(n.attrs, "fillcolor") == THEMES["dark"]["gradient_fill"] for n in gradient)


def test_render_without_backward_draws_no_gradient_graph(cg):
    res = cg("render", INTRO, *_argv(TUTORIAL), "-o", "-", "--format", "dot")
    assert res.code == 0
    assert PREFIX not in res.out and "cluster_" not in res.out and "class=" not in res.out


# --- bad options --------------------------------------------------------------------------


@pytest.mark.parametrize("argv,message", [
    (["--wrt", "x"], "--wrt goes with --backward"),
    (["--no-simplify"], "--no-simplify goes with --backward"),
    (["--backward", "--wrt", "q"], "not an input or param"),
    (["--backward", "--wrt", "x,"], "an empty name in the list"),
    (["--backward", "--wrt", ""], "--wrt needs a value, not an empty string"),
    (["--backward", "--frames", "frames"], "--frames"),
    (["--backward", "--focus", "p"], "--focus"),
    (["--backward", "--output", "nosuch"], "--output nosuch"),
])
def test_bad_options_exit_2(cg, tmp_path, argv, message):
    res = cg("render", INTRO, *_argv(TUTORIAL), *argv, "-o", tmp_path / "x.dot")
    assert res.code == 2, res.err
    assert message in res.err
    assert "Traceback" not in res.err
    assert not (tmp_path / "x.dot").exists()


def test_too_large_with_the_gradient_graph_is_refused_with_advice(cg, tmp_path):
    res = cg("render", INTRO, "--backward", "--no-simplify", "--max-render-nodes", "6", "-o", tmp_path / "x.dot")
    assert res.code == 1
    g = cgraph.load(INTRO)
    extra = len(_gradient_nodes(g, grad(g, simplify=False)))
    assert f"{len(g) + extra} nodes ({extra} of them the gradient graph's)" in res.err and "--wrt" in res.err


def test_a_forward_node_with_many_gradient_names_shows_a_few(backward, tmp_path):
    """x is d y/d p for each of four products p = x * w_k: three names drawn at most, all in the tooltip."""
    path = write(tmp_path, "input x = 2\n" + "".join(f"p{k} = x * w{k}\n" for k in range(4))
                 + "y = p0 + p1 + p2 + p3\n", "many.cg")
    d, _ = backward(path, "--wrt", "w0,w1,w2,w3")
    also = _label_parts(d.named("x"))["also"]
    assert also.startswith("= ") and also.endswith("(+2 more)") and also.count(" = ") == 1
    assert all(f"dy_dw{k}" in d.named("x").tooltip for k in range(4))


def test_a_forward_graph_over_the_limit_is_refused_before_it_is_differentiated(cg, tmp_path, monkeypatch):
    import cgraph.transform.grad as transform

    def fail(*args, **kwargs):
        raise AssertionError("differentiated a graph too large to draw")

    monkeypatch.setattr(transform, "grad", fail)
    res = cg("render", INTRO, "--backward", "--max-render-nodes", "3", "-o", tmp_path / "x.dot")
    assert res.code == 1 and "over the limit of 3" in res.err
