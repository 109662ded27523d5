"""`cgraph render` and `cgraph.render` against the contract in the issue.

The DOT text is read with support.dot's `parse_dot` (nodes with their label lines and
clusters, edges with the numbers on them); layout claims (inputs left, output right) are
checked on `dot -Tplain` coordinates.
Most CLI runs are in-process through `cgraph.cli.run`; runs that need real exit codes,
binary standard output, another PATH or another hash seed use the installed script.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import struct
import sys
import time
from pathlib import Path

import graphviz
import pytest

import cgraph
import cgraph.views.render
from support.dot import (SVG_NS, TOOLTIP, Dot, DotNode, attr, color_kind, dot_to_svg, layout, mermaid_text, parse_dot,

                         parse_mermaid, strip_tags, svg_root)
from support.files import write
from support.paths import SAMPLES
from support.runner import run_script

INTRO = str(SAMPLES / "intro.cg")
TUTORIAL_INPUTS = ("--x", "1", "--y", "3", "--z", "-3")
TUTORIAL_VALUES = {"x": 1.0, "y": 3.0, "z": -3.0}
SAMPLE_FILES = ("intro.cg", "neuron.cg", "rnn.cg", "mlp.cg", "logreg.cg")
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def node_titles(root) -> list[str]:
    """Each node's tooltip: the <title> of its group (cgraph's SVG has no <a xlink:title>)."""
    assert not any(el.get(XLINK_TITLE) for el in root.iter()), "a tooltip left as a link"
    return [g.findtext(SVG_NS + "title") or "" for g in root.iter(SVG_NS + "g") if g.get("class") == "node"]

# Vanishing gradients: the early steps of this RNN get tiny gradients, the late ones large.
VANISHING_RNN = """\
param w = 0.5
input h[0] = 0.1
for t in 1..12 {
    input x[t] = 0.1
}
for t in 1..12 {
    h[t] = tanh(w*h[t-1] + x[t])
}
loss = h[12]
"""


# --- running cgraph ----------------------------------------------------------------------


def _rendered(cg, tmp_path, suffix: str):
    """call(*render_args) -> the text `cgraph render ARGS -o FILE<suffix>` writes."""
    count = iter(range(10**6))

    def call(*argv) -> str:
        target = tmp_path / f"render-{next(count)}{suffix}"
        res = cg("render", *argv, "-o", target)
        assert res.code == 0, f"cgraph render {' '.join(map(str, argv))} failed ({res.code}):\n{res.err}"
        return target.read_text(encoding="utf-8")

    return call


@pytest.fixture
def dot_of(cg, tmp_path):
    """dot_of(*render_args) -> the DOT text `cgraph render ARGS -o FILE.dot` writes."""
    return _rendered(cg, tmp_path, ".dot")


@pytest.fixture
def mermaid_of(cg, tmp_path):
    """mermaid_of(*render_args) -> the Mermaid text `cgraph render ARGS --format mermaid` writes."""
    return _rendered(cg, tmp_path, ".mmd")


def assert_clean_failure(code: int, err: str) -> list[str]:
    assert code != 0, f"expected a failure, got exit 0; stderr:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 6, f"expected a short message, got:\n{err}"
    return lines


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def tutorial_dot(dot_of, *extra) -> Dot:
    return parse_dot(dot_of(INTRO, *TUTORIAL_INPUTS, *extra))


# --- the tutorial picture ----------------------------------------------------------------


def test_tutorial_edges_carry_value_in_green_and_gradient_in_red(dot_of):
    d = tutorial_dot(dot_of)
    expected = {("x", "p"): (1, -3), ("y", "p"): (3, -3), ("p", "g"): (4, -3), ("z", "g"): (-3, 4)}
    for (tail, head), (value, grad) in expected.items():
        (edge,) = d.edges_between(tail, head)
        assert (edge.value, edge.grad) == (value, grad), f"{tail} -> {head}: {edge.label}"
    (out,) = d.output_edges()
    assert d.nodes[out.tail].name == "g"
    assert out.parts.get("name") == "g"
    assert (out.value, out.grad) == (-12, 1), "the output's own gradient 1 belongs on its edge"
    assert len(d.edges) == 5


def test_tutorial_has_one_node_per_operation_with_operator_and_name(dot_of):
    d = tutorial_dot(dot_of)
    ops = sorted((n.symbol, n.name) for n in d.drawn if n.is_op)
    assert ops == [("*", "g"), ("+", "p")]
    assert sorted(n.name for n in d.drawn if n.is_leaf) == ["x", "y", "z"]
    assert len(d.drawn) == 5


FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs", "max", "min", "sum", "mean")


def test_every_operation_shows_its_operator(dot_of, tmp_path):
    calls = " + ".join(f"{fn}(a, b, c)" if fn in ("sum", "mean") else f"{fn}(a, b)" if fn in ("max", "min")
                       else f"{fn}(a)" for fn in FUNCTIONS)
    path = write(tmp_path, f"y = {calls}\nz = y / b - a^c * -b + pow(a, c)\n")
    d = parse_dot(dot_of(path, "--a", "0.5", "--b", "2", "--c", "3"))
    graph = cgraph.load(path)
    ops = [n for n in d.drawn if n.is_op]
    assert len(ops) == sum(1 for node in graph if node.op not in ("input", "param", "const"))
    symbols = [n.symbol for n in ops]
    for fn in FUNCTIONS:
        assert symbols.count(fn) == 1, f"{fn}: {symbols}"
    for sym, count in (("+", 14), ("/", 1), ("*", 1)):
        assert symbols.count(sym) == count, f"{sym}: {symbols}"
    assert symbols.count("-") == 2  # a subtraction and a negation
    assert symbols.count("^") + symbols.count("pow") == 2


def test_tutorial_is_left_to_right(dot_of):
    d = tutorial_dot(dot_of)
    assert attr(d.graph_attrs, "rankdir") == "LR"


@needs_dot
def test_tutorial_output_is_at_the_right(dot_of):
    d = tutorial_dot(dot_of)
    pos = layout(d.source)
    (out,) = d.output_edges()
    rightmost = max(pos[n.id][0] for n in d.drawn)
    assert pos[out.head][0] > rightmost, "the output's edge should leave to the right of everything"
    assert pos[d.named("g").id][0] == rightmost


@needs_dot
def test_tutorial_inputs_are_on_the_left(dot_of):
    d = tutorial_dot(dot_of)
    pos = layout(d.source)
    first_op = min(pos[n.id][0] for n in d.drawn if n.is_op)
    placed = {n.name: pos[n.id][0] for n in d.drawn if n.is_leaf}
    not_left = {name: x for name, x in placed.items() if x >= first_op}
    assert not not_left, f"inputs not left of the operations (x of first op = {first_op}): {not_left}"


@needs_dot
def test_tutorial_command_writes_the_svg(cg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "-o", "intro.svg")
    assert res.code == 0, res.err
    root = svg_root((tmp_path / "intro.svg").read_bytes())
    texts = {}
    for t in root.iter(SVG_NS + "text"):
        texts.setdefault("".join(t.itertext()).strip(), []).append(t.get("fill"))
    for label in ("+", "*", "p", "g", "x", "y", "z", "g = -12", "-3", "4", "1"):
        assert label in texts, f"{label!r} not drawn; texts: {sorted(texts)}"
    assert any(color_kind(c or "") == "value" for c in texts["g = -12"]), "the output's value in green"
    assert any(color_kind(c or "") == "grad" for c in texts["1"]), "the output's gradient 1 in red"


def test_without_input_values_only_the_structure_is_drawn(dot_of):
    d = parse_dot(dot_of(INTRO))
    assert len(d.drawn) == 5 and len(d.edges) == 5
    for e in d.edges:
        assert "value" not in e.parts and "grad" not in e.parts and "local" not in e.parts, e.label
        assert not re.search(r"\d", e.label or ""), f"a number on an edge of the bare structure: {e.label}"
    assert all(n.total is None for n in d.nodes.values())


# --- numbers on the edges ------------------------------------------------------------------


def test_x_times_x_is_drawn_with_two_edges(dot_of, tmp_path):
    d = parse_dot(dot_of(write(tmp_path, "y = x * x\n"), "--x", "3", "--annotate", "values,grads,local"))
    edges = d.edges_between("x", "y")
    assert len(edges) == 2
    for e in edges:
        assert (e.value, e.grad, e.local) == (3, 3, 3)
    assert d.named("x").total == 6  # d(x*x)/dx = 2x, the sum of both edges


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_a_shared_node_shows_the_sum_of_its_edge_gradients(dot_of, sample):
    """Σ on a node = the sum of the gradients on its edges = cgraph.evaluate's gradient."""
    args = (SAMPLES / sample, *(TUTORIAL_INPUTS if sample == "intro.cg" else ()))
    d = parse_dot(dot_of(*args, "--precision", "15"))
    graph = cgraph.load(SAMPLES / sample)
    ev = cgraph.evaluate(graph, TUTORIAL_VALUES if sample == "intro.cg" else None)
    for node in d.drawn:
        out = d.out_edges(node.id)
        carried = [e.grad for e in out if e.grad is not None]
        if len(carried) > 1:
            assert node.total is not None, f"{node.id} has {len(carried)} consumers but shows no accumulated gradient"
        if node.total is not None:
            assert close(node.total, sum(carried)), (
                f"{node.id}: Σ {node.total} but its edges carry {carried} (sum {sum(carried)})")
        if node.name is not None and carried:
            assert close(sum(carried), ev.grad(node.name), 1e-9), f"{node.name}: edges {carried}, evaluate {ev.grad(node.name)}"


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_local_derivative_times_consumer_gradient_is_the_edge_gradient(dot_of, sample):
    args = (SAMPLES / sample, *(TUTORIAL_INPUTS if sample == "intro.cg" else ()))
    d = parse_dot(dot_of(*args, "--precision", "15", "--annotate", "values,grads,local"))
    checked = 0
    for e in d.edges:
        if d.nodes[e.head].is_sink:
            assert e.grad == 1 and e.local is None
            continue
        if e.local is None:
            assert e.grad is None, "an edge with a gradient should say its local derivative with `local`"
            continue
        consumer_grad = sum(x.grad for x in d.out_edges(e.head))
        assert close(e.grad, e.local * consumer_grad, 1e-9), f"{e.tail} -> {e.head}: {e.label}"
        checked += 1
    assert checked >= 4


def test_local_derivatives_of_the_tutorial(dot_of):
    d = tutorial_dot(dot_of, "--annotate", "values,grads,local")
    assert [e.local for e in d.edges_between("x", "p")] == [1]
    assert [e.local for e in d.edges_between("p", "g")] == [-3]  # d(p*z)/dp = z
    assert [e.local for e in d.edges_between("z", "g")] == [4]  # d(p*z)/dz = p


@pytest.mark.parametrize("annotate", ["values", "grads", "local", "values,local", "grads,local",
                                      "values,grads,local", "local,values"])
def test_annotate_shows_exactly_the_chosen_numbers(dot_of, annotate):
    want = {{"values": "value", "grads": "grad", "local": "local"}[a] for a in annotate.split(",")}
    d = parse_dot(dot_of(SAMPLES / "neuron.cg", "--annotate", annotate))
    for e in d.edges:
        shown = set(e.parts) - {"name"}
        expected = set(want)
        if d.nodes[e.head].is_sink:
            expected.discard("local")
        assert shown == expected, f"--annotate {annotate}: {e.tail} -> {e.head} shows {sorted(shown)}"
    if "grad" not in want:
        assert all(n.total is None for n in d.nodes.values())


@pytest.mark.parametrize("precision, text", [(None, "0.1571"), ("2", "0.16"), ("10", "0.1571272411"), ("1", "0.2")])
def test_precision_is_significant_digits(dot_of, precision, text):
    args = ("--precision", precision) if precision else ()
    d = parse_dot(dot_of(SAMPLES / "neuron.cg", *args))
    (out,) = d.output_edges()
    assert out.parts["value"] == text
    w_total = re.search(r"Σ (\S+)", strip_tags(d.named("w").label)).group(1)
    assert w_total == format(cgraph.evaluate(cgraph.load(SAMPLES / "neuron.cg")).grad("w"), f".{precision or 4}g")


def test_precision_of_large_and_small_numbers(dot_of, tmp_path):
    d = parse_dot(dot_of(write(tmp_path, "y = a * b\n"), "--a", "123456.789", "--b", "0.000123456", "--precision", "3"))
    (edge,) = d.edges_between("a", "y")
    assert float(edge.parts["value"]) == float("1.23e5")
    assert float(edge.parts["grad"]) == float("1.23e-4")


def _luminance(color: str) -> float:
    named = {"white": "#ffffff", "black": "#000000"}
    color = named.get(color, color)
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_dark_theme(dot_of, cg, tmp_path):
    light = parse_dot(dot_of(INTRO, *TUTORIAL_INPUTS))
    dark = parse_dot(dot_of(INTRO, *TUTORIAL_INPUTS, "--theme", "dark"))
    assert _luminance(attr(light.graph_attrs, "bgcolor")) > 0.8
    assert _luminance(attr(dark.graph_attrs, "bgcolor")) < 0.25
    assert _luminance(attr(dark.graph_attrs, "fontcolor")) > 0.6
    for e in dark.edges:  # still green values and red gradients
        assert e.value is not None and e.grad is not None, e.label
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--theme", "dark", "--format", "mermaid", "-o", tmp_path / "d.mmd")
    assert res.code == 0, res.err
    assert "dark" in (tmp_path / "d.mmd").read_text()


@needs_dot
def test_rankdir_tb_puts_inputs_on_top(dot_of):
    d = parse_dot(dot_of(INTRO, *TUTORIAL_INPUTS, "--rankdir", "TB"))
    assert attr(d.graph_attrs, "rankdir") == "TB"
    pos = layout(d.source)
    (out,) = d.output_edges()
    assert pos[out.head][1] < min(pos[n.id][1] for n in d.drawn), "the output at the bottom"
    for x in ("x", "y"):
        assert pos[d.named(x).id][1] > pos[d.named("p").id][1]


# --- determinism and readable diffs -----------------------------------------------------------


@pytest.mark.parametrize("args", [("neuron.cg", "--annotate", "values,grads,local", "--heat"),
                                  ("mlp.cg", "--collapse")], ids=["neuron", "mlp-collapse"])
def test_same_file_gives_byte_identical_dot_across_processes(tmp_path, args):
    outputs = []
    for seed in ("1", "2"):
        proc = run_script("render", SAMPLES / args[0], *args[1:], "-o", "-", "--format", "dot",
                          cwd=tmp_path, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr.decode()
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert not re.search(rb"0x[0-9a-fA-F]{4,}", outputs[0]), "a memory address in the DOT"


def test_node_ids_come_from_names_not_memory(dot_of):
    for sample in ("neuron.cg", "rnn.cg", "mlp.cg"):
        source = dot_of(SAMPLES / sample)
        assert source == dot_of(SAMPLES / sample)
        assert not re.search(r"0x[0-9a-fA-F]{4,}", source)
        d = parse_dot(source)
        for node in d.drawn:
            if node.name:
                core = re.sub(r"\W", "", node.name.split("[")[0])
                assert core in node.id, f"the id {node.id} of {node.name} does not derive from its name"


def test_python_api_is_deterministic():
    graph = cgraph.load(SAMPLES / "neuron.cg")
    ev = cgraph.evaluate(graph)
    a = cgraph.render.diagram(graph, ev).source
    b = cgraph.render.diagram(cgraph.load(SAMPLES / "neuron.cg"), cgraph.evaluate(graph)).source
    assert a == b


def _node_statements(source: str) -> list[str]:
    """Whole node statements (a tooltip may span lines)."""
    text = TOOLTIP.sub(lambda m: "tooltip=" + m.group(0)[len("tooltip="):].replace("\n", "\\n"), source)
    return [ln.strip() for ln in text.splitlines() if re.match(r"^\s*\w+ \[", ln)
            and not re.match(r"^\s*(graph|node|edge) \[", ln)]


@pytest.mark.parametrize("base, extra, args", [
    ("intro.cg", "h = g * 2\n", ()),
    ("intro.cg", "h = g * 2\n", TUTORIAL_INPUTS),
    ("rnn.cg", "extra = 3 * loss\n", ("--output", "loss")),
    ("neuron.cg", "extra = y * 3\n", ("--output", "y")),
], ids=["intro-structure", "intro-values", "rnn", "neuron"])
def test_appending_a_statement_leaves_existing_node_lines_unchanged(dot_of, tmp_path, base, extra, args):
    text = (SAMPLES / base).read_text()
    before = dot_of(write(tmp_path, text, "before.cg"), *args)
    after = dot_of(write(tmp_path, text + extra, "before.cg"), *args)
    old, new = _node_statements(before), set(_node_statements(after))
    changed = [s for s in old if s not in new]
    assert not changed, "node lines changed by appending a statement:\n" + "\n".join(changed)
    old_edges = [ln for ln in before.splitlines() if " -> " in ln and "-> output" not in ln]
    missing = [ln for ln in old_edges if ln not in after.splitlines()]
    if "--output" in args:  # with the same output, the numbers on old edges do not change either
        assert not missing, "\n".join(missing)


# --- clusters ----------------------------------------------------------------------------


def test_each_function_call_is_a_labelled_cluster(dot_of):
    d = parse_dot(dot_of(SAMPLES / "neuron.cg"))
    assert len(d.clusters) == 3
    for cid, (label, parent) in d.clusters.items():
        assert cid.startswith("cluster"), cid
        assert parent is None and "neuron" in label, label
        inside = sorted(n.symbol for n in d.drawn if n.cluster and n.cluster[-1] == cid)
        assert inside == ["*", "+", "tanh"], f"{label}: {inside}"
    for leaf in ("w", "b", "x1", "x2", "x3", "y"):
        assert d.named(leaf).cluster == ()
    assert len({label for label, _ in d.clusters.values()}) == 3, "each call's cluster has its own label"


def test_each_loop_iteration_is_a_labelled_cluster(dot_of):
    d = parse_dot(dot_of(SAMPLES / "rnn.cg"))
    labels = sorted(label for label, _ in d.clusters.values())
    assert labels == [f"t = {t}" for t in range(1, 6)]
    by_label = {label: cid for cid, (label, _) in d.clusters.items()}
    for t in range(1, 6):
        node = d.named(f"h[{t}]")
        assert node.cluster == (by_label[f"t = {t}"],)
        members = [n for n in d.drawn if n.cluster == node.cluster]
        assert sorted(n.symbol for n in members) == ["*", "*", "+", "tanh"]
    assert d.named("loss").cluster == ()


def test_a_call_inside_a_loop_is_a_cluster_inside_the_iteration(dot_of, tmp_path):
    path = write(tmp_path, "def f(a) = a*a\nfor t in 1..2 {\n    h[t] = f(h[t-1]) + 1\n}\n")
    d = parse_dot(dot_of(path, "--input", "h[0]=0.5"))
    assert len(d.clusters) == 4
    loops = {cid: label for cid, (label, parent) in d.clusters.items() if parent is None}
    assert sorted(loops.values()) == ["t = 1", "t = 2"]
    for cid, (label, parent) in d.clusters.items():
        if parent is not None:
            assert "f" in label and parent in loops
            (mul,) = [n for n in d.drawn if n.cluster == (parent, cid)]
            assert mul.symbol == "*"


# --- focus and heat ------------------------------------------------------------------------


def _on_paths(graph, start: int, out: int) -> set[int]:
    """Independently: the nodes on some path start -> ... -> out."""
    consumers: dict[int, list[int]] = {}
    for node in graph:
        for a in node.args:
            consumers.setdefault(a, []).append(node.id)
    down, todo = {start}, [start]
    while todo:
        for c in consumers.get(todo.pop(), []):
            if c not in down:
                down.add(c)
                todo.append(c)
    up, todo = {out}, [out]
    while todo:
        for a in graph.node(todo.pop()).args:
            if a not in up:
                up.add(a)
                todo.append(a)
    return down & up


@pytest.mark.parametrize("sample, focus", [("rnn.cg", "h[3]"), ("rnn.cg", "w"), ("mlp.cg", "h[2]"), ("neuron.cg", "x2")])
def test_focus_keeps_only_nodes_on_paths_to_the_output(dot_of, sample, focus):
    graph = cgraph.load(SAMPLES / sample)
    keep = _on_paths(graph, graph.names[focus], graph.output)
    d = parse_dot(dot_of(SAMPLES / sample, "--focus", focus))
    assert len(d.drawn) == len(keep)
    expected_names = {graph.node(i).name for i in keep if graph.node(i).name}
    assert {n.name for n in d.drawn if n.name} == expected_names
    full = parse_dot(dot_of(SAMPLES / sample))
    assert len(d.drawn) < len(full.drawn)


def test_focus_on_an_unknown_name_is_a_clear_error(cg, tmp_path):
    res = cg("render", SAMPLES / "rnn.cg", "--focus", "nope", "-o", tmp_path / "x.dot")
    lines = assert_clean_failure(res.code, res.err)
    assert "nope" in lines[0]
    assert not (tmp_path / "x.dot").exists()


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def test_heat_colours_tiny_and_large_gradients_differently(dot_of, tmp_path):
    path = write(tmp_path, VANISHING_RNN)
    d = parse_dot(dot_of(path, "--heat"))
    graded = [e for e in d.edges if e.grad not in (None, 0) and not d.nodes[e.head].is_sink]
    tiny = min(graded, key=lambda e: abs(e.grad))
    large = max(graded, key=lambda e: abs(e.grad))
    assert abs(large.grad) / abs(tiny.grad) > 100, (tiny.grad, large.grad)
    c_tiny, c_large = attr(tiny.attrs, "color"), attr(large.attrs, "color")
    assert c_tiny and c_large and c_tiny != c_large, (c_tiny, c_large)
    (rt, _, bt), (rl, _, bl) = _rgb(c_tiny), _rgb(c_large)
    assert bt > rt and rl > bl, f"tiny gradient {c_tiny} should be cool (blue), large {c_large} warm (red)"
    plain = parse_dot(dot_of(path))
    assert not any(attr(e.attrs, "color") for e in plain.edges), "edges coloured without --heat"


# --- Mermaid ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_mermaid_has_the_same_nodes_edges_clusters_and_numbers_as_dot(dot_of, mermaid_of, sample):
    args = (SAMPLES / sample, *(TUTORIAL_INPUTS if sample == "intro.cg" else ()), "--annotate", "values,grads,local")
    d = parse_dot(dot_of(*args))
    m = parse_mermaid(mermaid_of(*args))
    assert m.direction == "LR"
    assert set(m.nodes) == set(d.nodes), "one Mermaid node line per diagram node"
    assert sorted(map(mermaid_text, m.subgraphs)) == sorted(label for label, _ in d.clusters.values())
    assert [(t, h) for t, h, _ in m.edges] == [(e.tail, e.head) for e in d.edges]
    for (t, h, label), e in zip(m.edges, d.edges):
        pieces = [mermaid_text(p) for p in (label or "").split("<br/>") if p]
        numbers = {k: v for k, v in e.parts.items() if k != "name"}
        for kind, text in numbers.items():
            assert any(p.endswith(text) and (kind != "local" or "local" in p) for p in pieces), (
                f"{t} -> {h}: DOT {kind} {text} missing from Mermaid label {label!r}")
        assert len(pieces) == len(numbers) + (1 if "name" in e.parts and "value" not in e.parts else 0)
    for node in d.drawn:
        if node.total is not None:
            assert re.search(r"\d", m.nodes[node.id]), f"{node.id}: Σ missing in Mermaid"


def test_mermaid_by_option_and_by_extension(cg, tmp_path):
    for target, extra in (("a.mmd", ()), ("b.txt", ("--format", "mermaid")), ("c.mermaid", ())):
        res = cg("render", INTRO, *TUTORIAL_INPUTS, "-o", tmp_path / target, *extra)
        assert res.code == 0, res.err
        m = parse_mermaid((tmp_path / target).read_text())
        assert m.direction == "LR" and len(m.nodes) == 6 and len(m.edges) == 5
    res = cg("render", INTRO, "--rankdir", "TB", "--format", "mermaid", "-o", tmp_path / "tb.mmd")
    assert res.code == 0, res.err
    assert parse_mermaid((tmp_path / "tb.mmd").read_text()).direction == "TB"


# --- escaping ------------------------------------------------------------------------------

NASTY = r"""def f(a) = a
graph = f(node) + edge
subgraph = graph * digraph
end = subgraph - strict + style * classDef / click
_ = end + flowchart
__ = _ * 2.5e-7
w[1,2] = __ + \
  default
q = (w[1,2] # "quoted" <script>alert(1)</script> & ]]> --> <!-- </text> \" \N \G '
     - f(w[1,2])) * 1e300
out2 = q + w[1,2]
"""
NASTY_NAMES = ("node", "edge", "digraph", "strict", "style", "classDef", "click", "flowchart", "default")


def _nasty_inputs() -> dict[str, float]:
    return {name: float(i + 1) for i, name in enumerate(NASTY_NAMES)}


def _code(text: str) -> list[str]:
    """The tokens of expression text, comments and line continuations aside."""
    text = re.sub(r"#[^\n]*", " ", text).replace("\\\n", " ")
    return re.findall(r"[A-Za-z_]\w*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\S", text)


def _shows_code(title: str, expr: str) -> bool:
    want = _code(expr)
    got = [t for t in _code(title.replace("\xa0", " ")) if t != "\\"]
    return any(got[i : i + len(want)] == want for i in range(len(got) - len(want) + 1))


@needs_dot
@pytest.mark.parametrize("with_values", [True, False], ids=["values", "structure"])
def test_names_and_expressions_cannot_break_the_dot(with_values):
    graph = cgraph.parse(NASTY, "nasty.cg")
    ev = cgraph.evaluate(graph, _nasty_inputs()) if with_values else None
    source = cgraph.render.diagram(graph, ev, annotate="values,grads,local").source
    d = parse_dot(source)  # every line is a statement we expect
    for name in ("w[1,2]", "graph", "subgraph", "end", "_", "__"):
        assert d.named(name).is_op
    for name in NASTY_NAMES:
        assert d.named(name).is_leaf
    root = svg_root(cgraph.render.image(source, "svg"))
    tags = {el.tag for el in root.iter()}
    assert not any(t.lower().endswith(("script", "}b", "}font", "}br")) for t in tags), tags
    titles = node_titles(root)
    assert not any("<script" in t or "cgraph" in t for t in titles), titles
    assert any(_shows_code(t, "w[1,2] = __ + \\\n  default") for t in titles), titles
    assert any(_shows_code(t, "q = (w[1,2] - f(w[1,2])) * 1e300") for t in titles), titles


@needs_dot
def test_collapsed_and_framed_nasty_graph_still_parses():
    graph = cgraph.parse(NASTY, "nasty.cg")
    ev = cgraph.evaluate(graph, _nasty_inputs())
    svg_root(dot_to_svg(cgraph.render.diagram(graph, ev, collapse=True, heat=True).source))
    from cgraph.views.render.dot import to_digraph

    for _, scene in list(cgraph.render.frames(graph, ev))[::7]:
        svg_root(dot_to_svg(to_digraph(scene).source))


@needs_dot
@pytest.mark.parametrize("expr", [
    "x * 2 + \\\n    y",
    '(x # a "quoted" <b>bold</b> & comment\n  + y) * 2',
    "(x # Graphviz escapes: \\N \\G \\E \\T \\H \\L \\n\n  + y) * 2",
    "(x # a backslash at the end \\\\\n  + y) * 2",
], ids=["continuation", "markup", "graphviz-escapes", "backslashes"])
def test_expression_text_reaches_the_tooltip_intact(expr):
    graph = cgraph.parse(f"z = {expr}\n", "t.cg")
    ev = cgraph.evaluate(graph, {"x": 1, "y": 2})
    root = svg_root(cgraph.render.image(cgraph.render.diagram(graph, ev).source, "svg"))
    titles = node_titles(root)
    assert any(_shows_code(t, f"z = {expr}") for t in titles), f"no tooltip shows {_code(expr)}; tooltips: {titles}"
    node_ids = set(parse_dot(cgraph.render.diagram(graph, ev).source).nodes)
    for t in titles:  # no Graphviz escape (\\N, \\G) was expanded into a node or graph name
        assert not any(re.search(rf"\\b{nid}\\b", t) for nid in node_ids | {"cgraph"}), t


def test_mermaid_labels_cannot_break_out(mermaid_of, tmp_path):
    path = write(tmp_path, NASTY, "nasty.cg")
    (tmp_path / "values.json").write_text(json.dumps(_nasty_inputs()))
    for opts in ((), ("--collapse",), ("--annotate", "values,grads,local", "--heat")):
        m = parse_mermaid(mermaid_of(path, "--inputs", tmp_path / "values.json", "--format", "mermaid", *opts))
        for label in m.labels:  # every line parsed as a statement we expect, and inside labels:
            bare = label.replace("<br/>", "")
            assert '"' not in bare and "<" not in bare and ">" not in bare, label
            assert "script" not in bare.lower() and "|" not in bare and "\n" not in bare, label
        pieces = {mermaid_text(piece) for lab in m.nodes.values() for piece in lab.split("<br/>")}
        assert {"click", "flowchart", "default"} <= pieces
        if not opts or opts[0] != "--collapse":
            assert {"w[1,2]", "end", "graph", "subgraph"} <= pieces
    parse_mermaid(mermaid_of(path, "--format", "mermaid"))


def test_mermaid_escapes_cluster_labels(mermaid_of, tmp_path):
    path = write(tmp_path, "def f(a) = a * 2\nfor t in 1..2 {\n  h[t] = f(h[t-1])\n}\n")
    m = parse_mermaid(mermaid_of(path, "--input", "h[0]=1", "--format", "mermaid"))
    assert sorted(mermaid_text(s) for s in m.subgraphs) == ["f #1 (line 3)", "f #2 (line 3)", "t = 1", "t = 2"]


# --- the Python API -------------------------------------------------------------------------


def test_diagram_is_a_graphviz_digraph():
    graph = cgraph.load(INTRO)
    ev = cgraph.evaluate(graph, TUTORIAL_VALUES)
    d = cgraph.render.diagram(graph, ev)
    assert isinstance(d, graphviz.Digraph)
    assert d.source.startswith("digraph")
    assert hasattr(d, "_repr_mimebundle_") or hasattr(d, "_repr_svg_")
    if HAVE_DOT:
        svg_root(d.pipe(format="svg"))
        assert cgraph.render.image(d.source, "png").startswith(PNG_SIGNATURE)
    structure = parse_dot(cgraph.render.diagram(graph).source)
    assert all(e.value is None and e.grad is None for e in structure.edges)
    # the steps explain takes: p and g computed; g, z, p, y and x reached backwards
    assert len(list(cgraph.render.frames(graph, ev))) == 2 + len(graph)


def test_mermaid_api_returns_the_chart_on_every_call(cg, tmp_path):
    """`cgraph.render.mermaid(graph, ev) -> str`, also after it or the CLI has run once."""
    graph = cgraph.load(INTRO)
    ev = cgraph.evaluate(graph, TUTORIAL_VALUES)
    cg("render", INTRO, "--format", "mermaid", "-o", tmp_path / "a.mmd")  # the CLI's own use of Mermaid
    for _ in range(2):
        assert callable(cgraph.render.mermaid), f"cgraph.views.render.mermaid is {cgraph.render.mermaid!r}"
        chart = cgraph.render.mermaid(graph, ev)
        assert isinstance(chart, str) and parse_mermaid(chart).direction == "LR"


@pytest.mark.parametrize("opts", [{"rankdir": "RL"}, {"annotate": "values,bogus"}, {"theme": "blue"}, {"precision": 0}])
def test_api_rejects_bad_options(opts):
    graph = cgraph.load(INTRO)
    with pytest.raises(cgraph.render.RenderError):
        cgraph.render.diagram(graph, cgraph.evaluate(graph, TUTORIAL_VALUES), **opts)


# --- formats and output files -------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_format(fmt: str, data: bytes) -> None:
    if fmt == "svg":
        svg_root(data)
    elif fmt == "png":
        width, height = png_size(data)
        assert width > 100 and height > 100, (width, height)
    elif fmt == "pdf":
        assert data.startswith(b"%PDF")
    elif fmt == "dot":
        parse_dot(data.decode())
    else:
        parse_mermaid(data.decode())


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    """Chunk type -> payload (the first of each type), every CRC checked."""
    import zlib

    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC on {kind!r}"
        chunks.setdefault(kind, body)
        at += 12 + length
    assert list(chunks)[0] == b"IHDR" and b"IEND" in chunks
    return chunks


def png_dpi(data: bytes) -> float:
    """The resolution a PNG's pHYs chunk records (pixels per metre, unit 1)."""
    x, y, unit = struct.unpack(">IIB", png_chunks(data)[b"pHYs"])
    assert x == y and unit == 1
    return x * 0.0254


@needs_dot
@pytest.mark.parametrize("program, args", [("intro.cg", TUTORIAL_INPUTS), ("rnn.cg", ("--collapse",)),
                                           ("neuron.cg", ("--rankdir", "TB"))])
def test_png_is_twice_the_96_dpi_size_by_default_and_says_so(cg, tmp_path, program, args):
    def png(*extra: str) -> bytes:
        target = tmp_path / f"{len(list(tmp_path.iterdir()))}.png"
        res = cg("render", SAMPLES / program, *args, *extra, "-o", target)
        assert res.code == 0 and "note" not in res.err, res.err
        return target.read_bytes()

    at_96, default, at_300 = png("--dpi", "96"), png(), png("--dpi", "300")
    (w, h), (w2, h2), (w3, h3) = png_size(at_96), png_size(default), png_size(at_300)
    assert abs(w2 - 2 * w) <= 2 and abs(h2 - 2 * h) <= 2, ((w, h), (w2, h2))
    assert abs(w3 - w * 300 / 96) <= 4 and abs(h3 - h * 300 / 96) <= 4, ((w, h), (w3, h3))
    assert round(png_dpi(at_96)) == 96 and round(png_dpi(default)) == 192 and round(png_dpi(at_300)) == 300


@needs_dot
def test_frames_in_png_take_the_dpi(cg, tmp_path):
    for dpi in ("96", "144"):
        res = cg("render", INTRO, *TUTORIAL_INPUTS, "--format", "png", "--frames", tmp_path / dpi, "--dpi", dpi)
        assert res.code == 0, res.err
        frames = sorted((tmp_path / dpi).iterdir())
        assert frames and all(round(png_dpi(f.read_bytes())) == int(dpi) for f in frames)
    first = sorted((tmp_path / "96").iterdir())[0].read_bytes()
    same = sorted((tmp_path / "144").iterdir())[0].read_bytes()
    assert abs(png_size(same)[0] - 1.5 * png_size(first)[0]) <= 2


@pytest.mark.parametrize("dpi", ["35", "1201", "0", "-96", "96.5", "lots", ""])
def test_dpi_out_of_range_is_a_usage_error(cg, tmp_path, dpi):
    target = tmp_path / "g.png"
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--dpi", dpi, "-o", target)
    assert res.code == 2, (res.code, res.err)
    assert "--dpi" in res.err and "Traceback" not in res.err
    assert not target.exists()


@pytest.mark.parametrize("dpi", [35, 1201])
def test_api_rejects_dpi_out_of_range(dpi):
    source = cgraph.render.diagram(cgraph.load(INTRO)).source
    with pytest.raises(cgraph.render.OptionError, match="--dpi"):
        cgraph.render.image(source, "png", dpi=dpi)


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "pdf", "dot", "mermaid"])
def test_dpi_leaves_vector_and_text_formats_alone_with_a_note(cg, tmp_path, fmt):
    plain, given = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    assert cg("render", INTRO, *TUTORIAL_INPUTS, "--format", fmt, "-o", plain).code == 0
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--format", fmt, "--dpi", "300", "-o", given)
    assert res.code == 0 and "--dpi applies to png only" in res.err, res.err
    # A PDF says when it was made (cairo's CreationDate, to the second): not part of the drawing.
    made = re.compile(rb"/(CreationDate|ModDate) \(D:[^)]*\)")
    assert made.sub(b"", plain.read_bytes()) == made.sub(b"", given.read_bytes())


@needs_dot
@pytest.mark.parametrize("name, fmt", [("g.svg", "svg"), ("g.png", "png"), ("g.pdf", "pdf"), ("g.dot", "dot"),
                                       ("g.gv", "dot"), ("G.SVG", "svg"), ("g.mmd", "mermaid")])
def test_format_from_the_output_extension(cg, tmp_path, name, fmt):
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "-o", tmp_path / name)
    assert res.code == 0, res.err
    check_format(fmt, (tmp_path / name).read_bytes())


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf", "dot", "mermaid"])
def test_format_option_without_an_extension(cg, tmp_path, fmt):
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "-o", tmp_path / "picture", "--format", fmt)
    assert res.code == 0, res.err
    check_format(fmt, (tmp_path / "picture").read_bytes())


def test_format_option_contradicting_the_extension_is_refused(cg, tmp_path):
    res = cg("render", INTRO, "-o", tmp_path / "g.svg", "--format", "dot")
    assert_clean_failure(res.code, res.err)
    assert res.code == 2
    assert not (tmp_path / "g.svg").exists()


@needs_dot
@pytest.mark.parametrize("fmt", [None, "png", "mermaid"])
def test_dash_writes_to_standard_output(tmp_path, fmt):
    extra = ("--format", fmt) if fmt else ()
    proc = run_script("render", INTRO, *TUTORIAL_INPUTS, "-o", "-", *extra, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    check_format(fmt or "svg", proc.stdout)
    assert list(tmp_path.iterdir()) == [], "nothing written to the current directory"


@needs_dot
def test_default_output_is_the_stem_with_svg_in_the_current_directory(cg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(SAMPLES))
    res = cg("render", INTRO, *TUTORIAL_INPUTS)
    assert res.code == 0, res.err
    assert os.listdir(tmp_path) == ["intro.svg"]
    svg_root((tmp_path / "intro.svg").read_bytes())
    assert set(os.listdir(SAMPLES)) == before


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "png"])
def test_default_output_with_another_format_is_named_for_its_content(cg, tmp_path, monkeypatch, fmt):
    """Without -o the file goes to the current directory; whatever its name, its content
    must be what the name says (a file called .svg holds SVG)."""
    monkeypatch.chdir(tmp_path)
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--format", fmt)
    assert res.code == 0, res.err
    (written,) = tmp_path.iterdir()
    assert written.stem == "intro"
    data = written.read_bytes()
    if written.suffix == ".svg":
        assert data.lstrip().startswith(b"<"), f"{written.name} holds {fmt} data, not SVG: {data[:20]!r}"
    check_format(fmt, data)


@pytest.mark.parametrize("how", ["same", "dot-slash", "symlink", "absolute"])
@pytest.mark.parametrize("fmt", ["dot", "svg"])
def test_output_naming_the_input_file_is_refused(cg, tmp_path, monkeypatch, how, fmt):
    monkeypatch.chdir(tmp_path)
    original = (SAMPLES / "intro.cg").read_bytes()
    (tmp_path / "prog.cg").write_bytes(original)
    target = {"same": "prog.cg", "dot-slash": "./prog.cg", "absolute": str(tmp_path / "prog.cg"), "symlink": "link.cg"}[how]
    if how == "symlink":
        (tmp_path / "link.cg").symlink_to(tmp_path / "prog.cg")
    res = cg("render", "prog.cg", *TUTORIAL_INPUTS, "-o", target, "--format", fmt)
    lines = assert_clean_failure(res.code, res.err)
    assert "input" in " ".join(lines)
    assert (tmp_path / "prog.cg").read_bytes() == original


@pytest.mark.parametrize("name", ["nodir/x.svg", "nodir/x.dot", "nodir/x.mmd", "a/b/c.png"])
def test_writing_into_a_missing_directory_is_a_clear_error(cg, tmp_path, name):
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "-o", tmp_path / name)
    lines = assert_clean_failure(res.code, res.err)
    assert "director" in " ".join(lines).lower() or "no such" in " ".join(lines).lower(), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- input options shared with eval ---------------------------------------------------------


@pytest.mark.parametrize("case", ["options", "equals", "input", "inputs-json", "expr", "stdin", "mixed"])
def test_input_options_are_those_of_eval(cg, dot_of, tmp_path, monkeypatch, case):
    (tmp_path / "values.json").write_text(json.dumps({"x": 1, "y": 3, "z": -3}))
    program = (SAMPLES / "intro.cg").read_text()
    args = {
        "options": (INTRO, *TUTORIAL_INPUTS),
        "equals": (INTRO, "--x=1", "--y=3", "--z=-3"),
        "input": (INTRO, "--input", "x=1", "--input", "y=3", "--input", "z=-3"),
        "inputs-json": (INTRO, "--inputs", tmp_path / "values.json"),
        "expr": ("-e", "p = x + y; g = p * z", *TUTORIAL_INPUTS),
        "stdin": ("-", *TUTORIAL_INPUTS),
        "mixed": (INTRO, "--inputs", tmp_path / "values.json", "--x", "5", "--input", "x=1"),
    }[case]
    if case == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(program.encode()), encoding="utf-8"))
    d = parse_dot(dot_of(*args))
    (out,) = d.output_edges()
    assert (out.parts.get("name"), out.value, out.grad) == ("g", -12, 1)
    assert [e.grad for e in d.edges_between("x", "p")] == [-3]


def test_output_option_differentiates_another_node(dot_of):
    d = tutorial_dot(dot_of, "--output", "p")
    (out,) = d.output_edges()
    assert d.nodes[out.tail].name == "p"
    assert (out.parts.get("name"), out.value, out.grad) == ("p", 4, 1)
    assert [e.grad for e in d.edges_between("x", "p")] == [1]


def test_indexed_inputs_as_a_list(dot_of):
    d = parse_dot(dot_of(SAMPLES / "rnn.cg", "--x", "1,2,3,4,5"))
    for t in range(1, 6):
        assert {e.value for e in d.out_edges(d.named(f"x[{t}]").id)} == {t}


def test_missing_some_input_values_is_an_error(cg, tmp_path):
    res = cg("render", INTRO, "--x", "1", "-o", tmp_path / "g.dot")
    lines = assert_clean_failure(res.code, res.err)
    assert res.code == 2 and "y" in lines[0] and "z" in lines[0]


@pytest.mark.parametrize("option", [("--rankdir", "RL"), ("--theme", "blue"), ("--precision", "0"),
                                    ("--precision", "18"), ("--annotate", "values,grad")], ids=" ".join)
def test_bad_option_values_are_usage_errors(cg, tmp_path, option):
    res = cg("render", INTRO, *TUTORIAL_INPUTS, *option, "-o", tmp_path / "g.dot")
    assert_clean_failure(res.code, res.err)
    assert res.code == 2, f"{' '.join(option)}: exit {res.code}, a usage error is 2; stderr:\n{res.err}"
    assert not (tmp_path / "g.dot").exists()


# --- frames ---------------------------------------------------------------------------------


def _highlight_keys(node: DotNode) -> tuple:
    return tuple(attr(node.attrs, k) for k in ("fillcolor", "style", "penwidth", "color"))


def _highlighted(frame: Dot, full: Dot) -> list[str]:
    return [nid for nid, node in frame.nodes.items() if _highlight_keys(node) != _highlight_keys(full.nodes[nid])]


def _frames(directory: Path) -> list[Path]:
    return sorted(directory.iterdir(), key=lambda p: p.name)  # as `ls` sorts them


def _is_literal(node: DotNode) -> bool:
    """A number written in the file: drawn as its value, no shape, not bold (a named
    constant is drawn the same way, with its name)."""
    if node.is_op or node.is_leaf or node.is_box or node.is_sink:
        return False
    try:
        float(node.lines[0])
    except ValueError:
        return False
    return True


def check_frames(files: list[Path], full: Dot) -> None:
    """The steps `explain` takes: forward, each operation (or box) in topological order;
    backward, every node but a literal (it has no gradient), in reverse; one node
    highlighted per frame; values appear as computed (a leaf's with its first consumer),
    gradients as the backward pass reaches the consumer; the last frame has all the
    numbers of the full diagram."""
    computed = [n.id for n in full.drawn if n.is_op or n.is_box]
    reached_all = [n.id for n in full.drawn if not _is_literal(n)]
    assert len(files) == len(computed) + len(reached_all), \
        f"{len(files)} frames for {len(computed)} operations and {len(reached_all)} nodes with a gradient"
    half = len(computed)
    frames = [parse_dot(f.read_text()) for f in files]
    current = []
    for k, frame in enumerate(frames):
        lit = _highlighted(frame, full)
        assert len(lit) == 1, f"{files[k].name}: highlighted {lit}"
        current.append(lit[0])
    forward, backward = current[:half], current[half:]
    assert sorted(forward) == sorted(computed) and sorted(backward) == sorted(reached_all)
    assert [n for n in backward if n in set(computed)] == forward[::-1]
    for k, nid in enumerate(forward):
        done = set(forward[: k + 1])
        for e in full.edges:
            if e.head == nid and e.tail in computed:
                assert e.tail in done, f"forward step {k + 1}: {nid} before its argument {e.tail}"
        for e in frames[k].edges:
            assert e.grad is None, f"a gradient in forward frame {files[k].name}"
            if e.tail in computed:
                assert (e.value is not None) == (e.tail in done), f"{files[k].name}: {e.tail} -> {e.head}: {e.label}"
            elif e.head in done:  # a leaf's value is there by the time its consumer is computed
                assert e.value is not None, f"{files[k].name}: {e.tail} -> {e.head}: {e.label}"
    for k, nid in enumerate(backward):
        reached = set(backward[: k + 1])
        frame = frames[half + k]
        for e, whole in zip(frame.edges, full.edges):
            assert e.value == whole.value
            consumer = e.tail if frame.nodes[e.head].is_sink else e.head
            if whole.grad is not None:
                assert (e.grad is not None) == (consumer in reached), f"{files[half + k].name}: {e.tail} -> {e.head}"
    last = frames[-1]
    assert [e.label for e in last.edges] == [e.label for e in full.edges]


def test_frames_of_the_tutorial(cg, dot_of, tmp_path):
    full = tutorial_dot(dot_of)
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--frames", tmp_path / "frames", "--format", "dot")
    assert res.code == 0, res.err
    check_frames(_frames(tmp_path / "frames"), full)


@needs_dot
def test_frames_in_svg_by_default(cg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--frames", "steps")
    assert res.code == 0, res.err
    files = _frames(tmp_path / "steps")
    assert len(files) == 7
    assert all(f.suffix == ".svg" for f in files)
    for f in files:
        svg_root(f.read_bytes())


def test_frames_sort_with_ls_when_there_are_over_a_hundred(cg, dot_of, tmp_path):
    path = write(tmp_path, VANISHING_RNN)
    full = parse_dot(dot_of(path))
    assert len(full.drawn) >= 50
    res = cg("render", path, "--frames", tmp_path / "many", "--format", "dot")
    assert res.code == 0, res.err
    files = _frames(tmp_path / "many")
    numbers = [int(re.search(r"\d+", f.name[len("prog"):]).group()) for f in files]
    assert numbers == list(range(1, len(files) + 1)), "frame numbers must sort as ls sorts names"
    check_frames(files, full)


def test_frames_with_focus(cg, dot_of, tmp_path):
    full = parse_dot(dot_of(SAMPLES / "rnn.cg", "--focus", "h[3]"))
    res = cg("render", SAMPLES / "rnn.cg", "--focus", "h[3]", "--frames", tmp_path / "f", "--format", "dot")
    assert res.code == 0, res.err
    check_frames(_frames(tmp_path / "f"), full)


def test_frames_with_collapse(cg, dot_of, tmp_path):
    full = parse_dot(dot_of(SAMPLES / "rnn.cg", "--collapse"))
    res = cg("render", SAMPLES / "rnn.cg", "--collapse", "--frames", tmp_path / "f", "--format", "dot")
    assert res.code == 0, res.err
    check_frames(_frames(tmp_path / "f"), full)


def test_frames_in_mermaid(cg, tmp_path):
    res = cg("render", INTRO, *TUTORIAL_INPUTS, "--frames", tmp_path / "f", "--format", "mermaid")
    assert res.code == 0, res.err
    files = _frames(tmp_path / "f")
    assert len(files) == 7
    for f in files:
        m = parse_mermaid(f.read_text())
        assert len(m.nodes) == 6


def test_frames_need_input_values(cg, tmp_path):
    res = cg("render", INTRO, "--frames", tmp_path / "f", "--format", "dot")
    lines = assert_clean_failure(res.code, res.err)
    assert "x" in " ".join(lines)


# --- size limits and --collapse ----------------------------------------------------------------


def _chain(steps: int) -> str:
    return f"param w = 0.5\ninput h[0] = 0.1\nfor t in 1..{steps} {{\n    h[t] = tanh(w*h[t-1] + 0.1)\n}}\n"


def test_a_graph_over_the_limit_is_refused_with_a_hint_to_collapse(cg, tmp_path):
    path = write(tmp_path, _chain(700))  # 2,103 nodes
    res = cg("render", path, "-o", tmp_path / "big.dot")
    lines = assert_clean_failure(res.code, res.err)
    text = " ".join(lines)
    assert "2,000" in text or "2000" in text
    assert "--collapse" in text
    assert not (tmp_path / "big.dot").exists()


def test_max_render_nodes_option(cg, dot_of, tmp_path):
    res = cg("render", SAMPLES / "rnn.cg", "--max-render-nodes", "10", "-o", tmp_path / "r.dot")
    assert_clean_failure(res.code, res.err)
    assert "--collapse" in res.err
    d = parse_dot(dot_of(write(tmp_path, _chain(700)), "--max-render-nodes", "3000"))
    assert len(d.drawn) == 2103


def test_a_ten_thousand_node_loop_is_refused_quickly(tmp_path):
    path = write(tmp_path, "for t in 1..10000 {\n    h[t] = h[t-1] * 1.0001\n}\n")
    for extra in ((), ("--h", "1"), ("--collapse",), ("--h", "1", "--frames", "frames")):
        start = time.monotonic()
        proc = run_script("render", path, *extra, cwd=tmp_path, timeout=60)
        elapsed = time.monotonic() - start
        assert_clean_failure(proc.returncode, proc.stderr.decode())
        assert b"--collapse" in proc.stderr or b"max-render-nodes" in proc.stderr
        assert elapsed < 15, f"refusing took {elapsed:.1f} s"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["prog.cg"]


# Ten iterations of 210 nodes each and two top-level calls: 2,000+ nodes, 12 boxes.
_NESTED = "f(" * 70 + "h[t-1]" + ")" * 70
BIG_BODIES = f"""\
def f(a) = tanh(a) * 0.5 + a
input h[0] = 0.1
for t in 1..10 {{
    h[t] = {_NESTED}
}}
y = f(h[10]) + f(h[5])
"""


@needs_dot
def test_collapse_folds_calls_and_iterations_into_boxes_and_then_renders(cg, dot_of, tmp_path):
    path = write(tmp_path, BIG_BODIES)
    graph = cgraph.load(path)
    assert len(graph) > 2000
    res = cg("render", path, "-o", tmp_path / "big.svg")
    assert res.code != 0 and "--collapse" in res.err
    d = parse_dot(dot_of(path, "--collapse"))
    outermost = {node.tags[0] for node in graph if node.tags}
    boxes = [n for n in d.drawn if n.is_box]
    assert len(boxes) == len(outermost) == 12
    assert sorted(n.lines[0] for n in boxes if n.lines[0].startswith("t = ")) == sorted(f"t = {t}" for t in range(1, 11))
    assert not d.clusters
    assert len(d.drawn) == 12 + 3  # the boxes, h[0], the constant 0.5, and the final +
    res = cg("render", path, "--collapse", "-o", tmp_path / "big.svg")
    assert res.code == 0, res.err
    svg_root((tmp_path / "big.svg").read_bytes())


def test_collapse_of_the_samples(dot_of):
    d = parse_dot(dot_of(SAMPLES / "neuron.cg", "--collapse"))
    assert sorted(n.lines[0] for n in d.drawn if n.is_box) == [f"neuron #{k} (line 10)" for k in (1, 2, 3)]
    d = parse_dot(dot_of(SAMPLES / "rnn.cg", "--collapse"))
    assert sorted(n.lines[0] for n in d.drawn if n.is_box) == [f"t = {t}" for t in range(1, 6)]


def test_collapsed_edges_carry_the_whole_gradient_into_a_box(dot_of, tmp_path):
    """w is used twice in each iteration: its edge into the iteration's box carries both
    contributions, so Σ(w) is still the sum of w's edges (and evaluate's gradient)."""
    path = write(tmp_path, "param w = 0.5\ninput h[0] = 0.1\nfor t in 1..3 {\n    h[t] = tanh(w*h[t-1] + w*t)\n}\n")
    d = parse_dot(dot_of(path, "--collapse", "--precision", "15"))
    w = d.named("w")
    carried = [e.grad for e in d.out_edges(w.id)]
    expected = cgraph.evaluate(cgraph.load(path)).grad("w")
    assert close(w.total, expected)
    assert close(sum(carried), expected), f"w's edges into the boxes carry {carried} (sum {sum(carried)}), Σ {w.total}"


@needs_dot
def test_the_collapsed_rnn_that_the_limit_message_suggests_renders(tmp_path):
    """samples/rnn.cg over 400 steps is refused (2,007 nodes); --collapse should then draw."""
    text = (SAMPLES / "rnn.cg").read_text().replace("1..5", "1..400").replace("h[5]", "h[400]")
    graph = cgraph.parse(text, "rnn400.cg")
    ev = cgraph.evaluate(graph)
    with pytest.raises(cgraph.render.RenderError, match="--collapse"):
        cgraph.render.diagram(graph, ev)
    source = cgraph.render.diagram(graph, ev, collapse=True).source
    assert len([n for n in parse_dot(source).drawn if n.is_box]) == 400
    start = time.monotonic()
    try:
        data = cgraph.render.image(source, "svg", timeout=8)
    except cgraph.render.RenderError as exc:
        pytest.fail(f"the collapsed diagram did not render: {exc} (after {time.monotonic() - start:.0f} s)")
    svg_root(data)


# --- without Graphviz -------------------------------------------------------------------------


@pytest.fixture
def no_dot_env(tmp_path) -> dict[str, str]:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return {"PATH": str(empty)}


@pytest.mark.parametrize("name", ["g.svg", "g.png", "g.pdf", "g.html", None])
def test_image_formats_without_dot_fail_with_an_install_hint(tmp_path, no_dot_env, name):
    work = tmp_path / "work"
    work.mkdir()
    out = ("-o", name) if name else ()
    proc = run_script("render", INTRO, *TUTORIAL_INPUTS, *out, cwd=work, env=no_dot_env)
    err = proc.stderr.decode()
    lines = assert_clean_failure(proc.returncode, err)
    assert any("install" in ln and "graphviz" in ln.lower() for ln in lines), err
    assert (name or ".svg").rsplit(".", 1)[1] in lines[0], err  # the format asked for is among those named
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("args, fmt", [(("-o", "g.dot"), "dot"), (("-o", "g.gv"), "dot"), (("-o", "g.mmd"), "mermaid"),
                                       (("--format", "mermaid", "-o", "-"), "mermaid"),
                                       (("--format", "dot", "-o", "-"), "dot")])
def test_text_formats_work_without_dot(tmp_path, no_dot_env, args, fmt):
    proc = run_script("render", SAMPLES / "neuron.cg", *args, cwd=tmp_path, env=no_dot_env)
    assert proc.returncode == 0, proc.stderr.decode()
    data = proc.stdout if "-" in args else (tmp_path / args[-1]).read_bytes()
    check_format(fmt, data)


def test_frames_in_dot_format_without_dot(tmp_path, no_dot_env):
    proc = run_script("render", INTRO, *TUTORIAL_INPUTS, "--frames", "f", "--format", "dot", cwd=tmp_path, env=no_dot_env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(list((tmp_path / "f").iterdir())) == 7
