"""Unrolled loops laid out in iteration order, judged on Graphviz's own coordinates.

`cgraph render` writes DOT; `dot -Tjson` lays it out and gives every cluster's bounding
box and every node's centre. Along the reading direction (x with --rankdir LR, downwards
with TB) each iteration of a recurrent loop must lie wholly after the one before, every
edge from one iteration into another must run forward, and so must every other drawn
edge. Graphviz 2.43 treats edges between clusters as wishes it may break, and did: ten
steps of samples/rnn.cg stacked steps 1-6 with their recurrent edges running backwards.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest

from support.paths import ROOT

RNN_SAMPLE = (ROOT / "samples" / "rnn.cg").read_text()
ITERATION_LABEL = re.compile(r"(\w+) = (-?\d+)$")  # a loop iteration's cluster or box: "t = 3"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


# --- programs ------------------------------------------------------------------------------


def rnn(steps: int) -> str:
    """samples/rnn.cg over `steps` time steps instead of 5."""
    text = RNN_SAMPLE.replace("1..5", f"1..{steps}").replace("h[5]", f"h[{steps}]")
    assert text.count(f"1..{steps}") == 2 and f"h[{steps}]" in text
    return text


def layers_outside(steps: int) -> str:
    """A 2-layer RNN, the layer loop outside the time loop: each layer reads the one below."""
    return f"""\
param w = 0.8
param u = 0.5
for t in 1..{steps} {{
    input h[0, t] = sin(t)
}}
for l in 1..2 {{
    input h[l, 0] = 0
    for t in 1..{steps} {{
        h[l, t] = tanh(w*h[l, t-1] + u*h[l-1, t])
    }}
}}
loss = h[2, {steps}]^2
"""


def layers_inside(steps: int) -> str:
    """A 2-layer RNN, the layer loop inside the time loop, a weight per layer."""
    return f"""\
param w[1] = 0.8
param w[2] = 0.6
param u = 0.5
for l in 1..2 {{
    input h[l, 0] = 0
}}
for t in 1..{steps} {{
    input h[0, t] = cos(t)
    for l in 1..2 {{
        h[l, t] = tanh(w[l]*h[l, t-1] + u*h[l-1, t])
    }}
}}
loss = (h[2, {steps}] - 0.5)^2
"""


def with_calls(steps: int) -> str:
    """An RNN whose cell is a function, called twice per step."""
    return f"""\
def cell(w, u, h, x) = tanh(w*h + u*x)
param w = 0.8
param u = 0.5
param v = 0.3
input h[0] = 0
for t in 1..{steps} {{
    input x[t] = sin(t)
}}
for t in 1..{steps} {{
    g[t] = cell(w, u, h[t-1], x[t])
    h[t] = cell(v, u, g[t], x[t]) + 0.1*h[t-1]
}}
loss = h[{steps}]^2
"""


def per_step_loss(steps: int) -> str:
    """A loss over every step: a sum whose terms (a comprehension) read each state."""
    return f"""\
param w = 0.8
param u = 0.5
input h[0] = 0
for t in 1..{steps} {{
    input x[t] = sin(t)
}}
for t in 1..{steps} {{
    h[t] = tanh(w*h[t-1] + u*x[t])
}}
loss = sum((h[t] - 0.5)^2 for t in 1..{steps})
"""


# --- the layout ----------------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    label: str
    lo: float  # its extent along the reading direction
    hi: float
    parent: str | None
    nodes: set[str]


@dataclass
class Layout:
    at: dict[str, float]  # node -> its centre along the reading direction
    half: dict[str, float]  # node -> half its extent along it
    label: dict[str, str]
    clusters: list[Cluster]
    edges: list[tuple[str, str]]  # the drawn ones (not the invisible)
    seconds: float

    def loops(self) -> list[list[tuple[int, Cluster]]]:
        """Each loop's iteration clusters, (value, cluster) in value order: iterations are
        siblings with one loop variable and one loop line (the `_L9` ending their name)."""
        groups: dict[tuple, list[tuple[int, Cluster]]] = {}
        for c in self.clusters:
            m = ITERATION_LABEL.match(c.label)
            if m:
                line = re.search(r"_L(\d+)$", c.name).group(1)
                groups.setdefault((c.parent, m.group(1), line), []).append((int(m.group(2)), c))
        return [sorted(g, key=lambda vc: vc[0]) for g in groups.values()]

    def boxes(self) -> list[list[tuple[int, str]]]:
        """--collapse: each loop's boxes, (value, node) in value order."""
        groups: dict[tuple, list[tuple[int, str]]] = {}
        for node, label in self.label.items():
            m = ITERATION_LABEL.match(label)
            if node.startswith("box") and m:
                line = re.search(r"_L(\d+)$", node).group(1)
                groups.setdefault((m.group(1), line), []).append((int(m.group(2)), node))
        return [sorted(g) for g in groups.values()]


def lay_out(dot_source: str, rankdir: str) -> Layout:
    start = time.monotonic()
    done = subprocess.run(["dot", "-Tjson"], input=dot_source.encode(), capture_output=True, timeout=300)
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    # Reading direction: x grows rightwards; Graphviz's y grows upwards, so TB reads -y.
    axis, sign = (0, 1.0) if rankdir == "LR" else (1, -1.0)
    objects = data["objects"]
    name = {o["_gvid"]: o["name"] for o in objects}
    at, half, label = {}, {}, {}
    for o in objects:
        if "pos" in o:
            at[o["name"]] = sign * float(o["pos"].split(",")[axis])
            half[o["name"]] = 72 * float(o["width" if rankdir == "LR" else "height"]) / 2
            text = o.get("label", "").replace("<br/>", "\n")
            label[o["name"]] = html.unescape(re.sub(r"<[^>]*>", "", text)).strip()
    parent = {}
    for o in objects:
        for sub in o.get("subgraphs", []):
            parent[sub] = o["name"]
    clusters = []
    for o in objects:
        if o["name"].startswith("cluster") and "bb" in o:
            x0, y0, x1, y1 = map(float, o["bb"].split(","))
            lo, hi = (x0, x1) if rankdir == "LR" else (-y1, -y0)
            members = {name[n] for n in o.get("nodes", [])}
            clusters.append(Cluster(o["name"], o.get("label", ""), lo, hi, parent.get(o["_gvid"]), members))
    edges = [(name[e["tail"]], name[e["head"]]) for e in data.get("edges", []) if e.get("style") != "invis"]
    return Layout(at, half, label, clusters, edges, seconds)


@pytest.fixture
def laid(cg, tmp_path):
    """laid(program text, *render options) -> the Layout of `cgraph render` of it."""

    def call(program: str, *options: str) -> Layout:
        source = tmp_path / "loop.cg"
        source.write_text(program)
        target = tmp_path / "loop.dot"
        res = cg("render", source, *options, "-o", target)
        assert res.code == 0, res.err
        rankdir = options[options.index("--rankdir") + 1] if "--rankdir" in options else "LR"
        return lay_out(target.read_text(), rankdir)

    return call


def assert_iterations_in_order(layout: Layout, loops_expected: int) -> None:
    """In each recurrent loop (one with an edge from an iteration into another), each
    iteration cluster wholly after the one before, and every such edge running forward.
    Iterations sharing nothing (a sum's terms) may stand side by side."""
    recurrent = 0
    for group in layout.loops():
        where = {n: k for k, c in group for n in c.nodes}
        crossing = [(t, h) for t, h in layout.edges if t in where and h in where and where[t] != where[h]]
        if not crossing:
            continue
        recurrent += 1
        for (k, a), (k2, b) in zip(group, group[1:]):
            assert a.hi < b.lo, f"{a.label} spans {a.lo:.0f}..{a.hi:.0f}, {b.label} starts at {b.lo:.0f}"
        for t, h in crossing:
            assert where[t] < where[h], f"an edge from iteration {where[t]} back into {where[h]}: {t} -> {h}"
            assert layout.at[t] < layout.at[h], f"{t} -> {h} runs backwards"
    assert recurrent >= loops_expected, f"{recurrent} recurrent loops, expected {loops_expected}"


def assert_boxes_in_order(layout: Layout, loops_expected: int) -> None:
    """--collapse: in each recurrent loop, each box wholly after the one before."""
    recurrent = 0
    for group in layout.boxes():
        boxes = {node for _, node in group}
        if not any(t in boxes and h in boxes for t, h in layout.edges):
            continue
        recurrent += 1
        for (k, a), (k2, b) in zip(group, group[1:]):
            assert layout.at[a] + layout.half[a] < layout.at[b] - layout.half[b], f"box {k} not wholly before box {k2}"
    assert recurrent >= loops_expected, f"{recurrent} recurrent loops, expected {loops_expected}"


def assert_every_edge_forward(layout: Layout) -> None:
    backwards = [(t, h) for t, h in layout.edges if not layout.at[t] < layout.at[h]]
    assert not backwards, f"{len(backwards)} edges run backwards, e.g. {backwards[:3]}"


# --- recurrent loops of any length -------------------------------------------------------------


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
@pytest.mark.parametrize("steps", [5, 10, 20, 50])
def test_an_unrolled_rnn_reads_in_step_order(laid, steps, rankdir):
    layout = laid(rnn(steps), "--rankdir", rankdir)
    assert len(layout.loops()[0]) == steps
    assert_iterations_in_order(layout, 1)
    assert_every_edge_forward(layout)
    # the recurrent edges themselves: h[t-1] into step t, forward
    h = {int(m.group(1)): node for node, label in layout.label.items() if (m := re.search(r"h\[(\d+)\]$", label))}
    assert sorted(h) == list(range(0, steps + 1))
    for t in range(1, steps):
        assert layout.at[h[t]] < layout.at[h[t + 1]]


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
@pytest.mark.parametrize("steps", [5, 10, 20, 50])
def test_a_collapsed_rnn_reads_in_step_order(laid, steps, rankdir):
    layout = laid(rnn(steps), "--collapse", "--rankdir", rankdir)
    (boxes,) = layout.boxes()
    assert [k for k, _ in boxes] == list(range(1, steps + 1))
    assert_boxes_in_order(layout, 1)
    assert_every_edge_forward(layout)


@pytest.mark.parametrize("collapse", [False, True], ids=["expanded", "collapsed"])
@pytest.mark.parametrize("program", [layers_outside, layers_inside, with_calls, per_step_loss],
                         ids=["layers-outside", "layers-inside", "calls", "per-step-loss"])
@pytest.mark.parametrize("steps", [6, 15])
def test_nested_loops_and_calls_read_in_iteration_order(laid, program, steps, collapse):
    layout = laid(program(steps), *(["--collapse"] if collapse else []))
    if collapse:
        assert_boxes_in_order(layout, 1)
    else:
        # the time loop, and with layers inside it one layer loop per step
        assert_iterations_in_order(layout, steps + 1 if program is layers_inside else 1)
    if program is not per_step_loss:  # its terms stand side by side, and dot may put the last before h[n]
        assert_every_edge_forward(layout)


def test_top_to_bottom_for_nested_loops(laid):
    layout = laid(layers_outside(12), "--rankdir", "TB")
    assert_iterations_in_order(layout, 3)  # the layers, and the steps within each layer
    assert_every_edge_forward(layout)


@pytest.mark.parametrize("program", [rnn, layers_outside, layers_inside, with_calls, per_step_loss],
                         ids=["rnn", "layers-outside", "layers-inside", "calls", "per-step-loss"])
def test_a_50_step_loop_lays_out_in_seconds_in_order(laid, program):
    """A shared weight's 50 long edges pulling on the ranking took 45 s; two layers of 50
    steps over 120 s. Each now takes about a second (20 s leaves room for a slow machine)."""
    layout = laid(program(50))
    assert layout.seconds < 20, f"dot took {layout.seconds:.1f} s"
    assert_iterations_in_order(layout, 51 if program is layers_inside else 1)


# --- the shared weights' accumulated gradient, collapsed ---------------------------------------


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
@pytest.mark.parametrize("steps", [3, 5, 12])
def test_collapsed_sigma_sits_on_the_first_drawing_joined_to_the_graph(laid, steps, rankdir):
    layout = laid(rnn(steps), "--collapse", "--rankdir", rankdir)
    (boxes,) = layout.boxes()
    first_box = boxes[0][1]
    sums = {node: label for node, label in layout.label.items() if "Σ" in label}
    assert {label.split("Σ")[0].strip() for label in sums.values()} == {"w", "u"}
    for node, label in sums.items():
        heads = [h for t, h in layout.edges if t == node]
        assert heads == [first_box], f"{label!r} feeds {heads}, not the first box alone"
        assert layout.at[node] < min(layout.at[b] for _, b in boxes), f"{label!r} is not before the boxes"
    # every drawing of w is joined to something
    joined = {t for t, _ in layout.edges} | {h for _, h in layout.edges}
    floating = [node for node, label in layout.label.items() if label and node not in joined]
    assert not floating, f"drawn but joined to nothing: {floating}"


@pytest.mark.parametrize("steps", [30, 50])
def test_a_large_unrolled_loop_draws_a_shared_weight_beside_each_step(laid, steps):
    """Over 150 edges, w and u are drawn beside each step they feed (long edges from one
    node to every step made Graphviz take minutes); their Σ stays on the first drawing,
    which feeds step 1 and stands left of it."""
    layout = laid(rnn(steps))
    (steps_,) = layout.loops()
    first = steps_[0][1]
    sums = {node: label for node, label in layout.label.items() if "Σ" in label}
    assert {label.split("Σ")[0].strip() for label in sums.values()} == {"w", "u"}
    for node, label in sums.items():
        heads = [h for t, h in layout.edges if t == node]
        assert heads and all(h in first.nodes for h in heads), f"{label!r} feeds {heads}, not step 1"
        assert layout.at[node] < first.lo
        name = label.split("Σ")[0].strip()
        drawings = [n for n, text in layout.label.items() if text == name]
        assert len(drawings) == steps - 1, f"{len(drawings)} more drawings of {name}"
        for n in drawings:
            (head,) = [h for t, h in layout.edges if t == n]
            (k,) = [k for k, c in steps_ if head in c.nodes]
            assert k > 1 and layout.at[n] < layout.at[head]
    joined = {t for t, _ in layout.edges} | {h for _, h in layout.edges}
    assert not [n for n, text in layout.label.items() if text and n not in joined]


def test_frames_of_a_collapsed_loop_with_calls(cg, tmp_path):
    """Collapsed frames whose box edges gather several uses, only some of whose gradients
    are known in a frame, draw (the known part of the sum)."""
    program = tmp_path / "calls.cg"
    program.write_text(with_calls(12))
    for fmt, ext in (("mermaid", "mmd"), ("dot", "dot")):
        frames = tmp_path / f"frames-{fmt}"
        code, out, err = cg("render", program, "--collapse", "--frames", frames, "--format", fmt,
                            "-o", tmp_path / f"all.{ext}")
        assert code == 0, err
        names = sorted(p.name for p in frames.iterdir())
        assert len(names) > 2 and names[-1].endswith(f"-backward.{ext}") and names[0].endswith(f"-forward.{ext}")


def test_a_long_chain_with_a_number_in_each_step_is_drawn(cg, tmp_path):
    """A number written in every step (`0.9`, one node of the graph) is drawn beside each use
    in a large diagram: one node feeding 330 uses pulled an edge across the whole diagram
    from each, and Graphviz crashed on its stack (or, with a larger one, ran for minutes)."""
    program = tmp_path / "chain.cg"
    program.write_text("input x = 0.5\nh0 = x\n" + "".join(f"h{i} = tanh(0.9*h{i - 1} + 0.1)\n" for i in range(1, 331))
                       + "loss = h330^2\n")
    dot = cg("render", program, "--format", "dot", "-o", "-").out
    assert len(re.findall(r"^\s*k_0p9(?:__\S+)? \[", dot, re.MULTILINE)) == 330
    result = cg("render", program, "-o", tmp_path / "chain.svg")
    assert result.code == 0, result.err
    assert (tmp_path / "chain.svg").read_bytes().count(b"<g id=\"node") > 1000
