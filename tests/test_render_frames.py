"""Frames that do not move, the heat legend and scales, SVG tooltips as <title>, inputs in
the first column with clusters: judged on Graphviz's own coordinates (`-Tjson`) and on
the SVG and DOT that cgraph writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

import cgraph
import cgraph.render
from support.dot import SVG_NS, svg_root
from support.paths import SAMPLES

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

INTRO = str(SAMPLES / "intro.cg")
TUTORIAL = {"x": 1.0, "y": 3.0, "z": -3.0}
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def _json(source: str, *argv: str) -> dict:
    done = subprocess.run(["dot", "-Tjson", *argv], input=source.encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def _title(o: dict) -> tuple[float, float] | None:
    """Where a node's first line of text (its title) starts, left and baseline (Graphviz
    gives a line's left end or its centre, as it pleases: the same place)."""
    op = next((op for op in o.get("_ldraw_", []) if op["op"] == "T"), None)
    if op is None:
        return None
    shift = {"l": 0.0, "c": 0.5, "r": 1.0}[op["align"]] * op["width"]
    return round(op["pt"][0] - shift, 1), op["pt"][1]


def _geometry(data: dict) -> tuple:
    """Every node's centre, size and title, every cluster's box, the canvas."""
    nodes = {o["name"]: (o["pos"], o["width"], o["height"], _title(o)) for o in data["objects"] if "pos" in o}
    clusters = {o["name"]: o["bb"] for o in data["objects"] if "bb" in o}
    return data["bb"], nodes, clusters


# --- frames: laid out once -------------------------------------------------------------------


@pytest.mark.parametrize("sample, inputs, opts", [
    ("intro.cg", TUTORIAL, {}),
    ("intro.cg", TUTORIAL, {"rankdir": "TB"}),
    ("rnn.cg", {}, {}),
    ("rnn.cg", {}, {"collapse": True}),
    ("rnn.cg", {}, {"rankdir": "TB", "heat": True}),
    ("mlp.cg", {}, {"collapse": True, "rankdir": "TB"}),
    ("neuron.cg", {}, {"annotate": "values,grads,local"}),
], ids=["intro", "intro-TB", "rnn", "rnn-collapse", "rnn-TB-heat", "mlp-collapse-TB", "neuron-local"])
def test_every_frame_has_the_same_positions_and_canvas(sample, inputs, opts):
    graph = cgraph.load(str(SAMPLES / sample))
    ev = cgraph.evaluate(graph, inputs)
    sources = cgraph.render.pinned_frames(graph, ev, **opts)
    assert len(sources) == len(list(cgraph.render.frames(graph, ev, **opts)))
    first = None
    for label, source in sources:
        # as frame_images draws them: neato -n2 keeps every position given
        geometry = _geometry(_json(source, "-Kneato", "-n2"))
        if first is None:
            first = geometry
            continue
        assert geometry[0] == first[0], f"{label}: canvas {geometry[0]}, first frame's {first[0]}"
        moved = [n for n in first[1] if geometry[1].get(n) != first[1][n]]
        assert not moved, f"{label}: {moved[:3]} moved"
        assert geometry[2] == first[2], f"{label}: a cluster moved"
    # the positions are a real dot layout's: the whole diagram's nodes, each frame's nodes
    assert set(first[1]) >= {o["name"] for o in _json(cgraph.render.diagram(graph, ev, **opts).source)["objects"]
                             if "pos" in o}


def _svg_shapes(data: bytes) -> tuple[tuple, dict[str, list[tuple]]]:
    """An SVG's size, and each node's outlines (ellipses, polygons) by its title."""
    root = svg_root(data)
    shapes: dict[str, list[tuple]] = {}
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") == "node":
            shapes[g.findtext(SVG_NS + "title") or ""] = [
                tuple(el.get(k) for k in ("cx", "cy", "rx", "ry", "points"))
                for el in g if el.tag in (SVG_NS + "ellipse", SVG_NS + "polygon")]
    return (root.get("width"), root.get("height"), root.get("viewBox")), shapes


def test_svg_frames_written_by_the_cli_do_not_move(cg, tmp_path):
    res = cg("render", INTRO, "--x", "1", "--y", "3", "--z", "-3", "--rankdir", "TB", "--frames", tmp_path / "f")
    assert res.code == 0, res.err
    files = sorted((tmp_path / "f").iterdir())
    assert len(files) == 7
    drawn = [_svg_shapes(f.read_bytes()) for f in files]
    assert all(size == drawn[0][0] for size, _ in drawn), [size for size, _ in drawn]
    outlines: dict[str, list[tuple]] = {}
    for _, shapes in drawn:
        assert set(shapes) == set(drawn[0][1])
        for node, outline in shapes.items():
            if outline:  # a name or number is outlined only while highlighted
                assert outlines.setdefault(node, outline) == outline, f"{node} moved"
    assert len(outlines) >= 5
    # an edge's value stays put when its gradient appears under it
    values: dict[tuple[int, str], tuple] = {}
    for f in files:
        edges = [g for g in svg_root(f.read_bytes()).iter(SVG_NS + "g") if g.get("class") == "edge"]
        for k, g in enumerate(edges):
            first = g.find(SVG_NS + "text")
            if first is not None:
                where = (first.get("x"), first.get("y"))
                assert values.setdefault((k, first.text or ""), where) == where, f"{f.name}: {first.text} moved"
    assert len(values) >= 4
    captions = [re.findall(rb"(?:forward|backward) pass, step \d+ of \d+", f.read_bytes()) for f in files]
    assert all(len(c) == 1 for c in captions), captions


def test_mermaid_frames_carry_the_step_caption(cg, tmp_path):
    res = cg("render", INTRO, "--x", "1", "--y", "3", "--z", "-3", "--frames", tmp_path / "f", "--format", "mermaid")
    assert res.code == 0, res.err
    files = sorted((tmp_path / "f").iterdir())
    titles = [re.search(r'^title: "(.*)"$', f.read_text(), re.M) for f in files]
    assert all(titles), "a Mermaid frame without its caption"
    assert titles[0].group(1) == "forward pass, step 1 of 2: p = 4"
    assert titles[-1].group(1) == "backward pass, step 5 of 5: dg/d(x) = -3"


# --- --heat: legend and scales ---------------------------------------------------------------


def _legend_numbers(source: str) -> list[float]:
    legend = source[source.index("|gradient|"):]
    return [float(x) for x in re.findall(r'<td><font point-size="9">([^<]+)</font></td>', legend)]


def _edge_colours(source: str) -> list[str]:
    return re.findall(r'->[^\n]*?\bcolor="(#[0-9a-f]{6})"', source)


def test_relative_legend_spans_the_diagrams_gradients():
    graph = cgraph.load(str(SAMPLES / "rnn.cg"))
    ev = cgraph.evaluate(graph, {})
    scene = cgraph.render.scene(graph, ev, heat=True)
    grads = [abs(float(e.grad)) for e in scene.edges if e.grad is not None and float(e.grad) != 0]
    source = cgraph.render.diagram(graph, ev, heat=True).source
    numbers = _legend_numbers(source)
    assert len(numbers) == 5 and numbers == sorted(numbers)
    assert numbers[0] == pytest.approx(min(grads), rel=5e-3) and numbers[-1] == pytest.approx(max(grads), rel=5e-3)
    assert "relative log scale" in source


def test_absolute_scale_is_fixed_so_diagrams_compare():
    graph = cgraph.load(str(SAMPLES / "rnn.cg"))
    sources = [cgraph.render.diagram(graph, cgraph.evaluate(graph, {"w": w}), heat=True, heat_scale="absolute").source
               for w in (0.8, 3.0)]
    for source in sources:
        assert _legend_numbers(source) == [0.001, 0.01, 0.1, 1, 10]
    # the same gradient, the same colour, whatever else the diagram holds: the output edge's 1
    sinks = [re.search(r'-> output \[[^\n]*\bcolor="(#[0-9a-f]{6})"', s).group(1) for s in sources]
    assert sinks[0] == sinks[1]


def test_the_output_edge_gets_a_colour():
    graph = cgraph.load(INTRO)
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, TUTORIAL), heat=True).source
    assert re.search(r'-> output \[[^\n]*\bcolor="#[0-9a-f]{6}"', source), source


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("theme, background", [("light", "#ffffff"), ("dark", "#1e1e1e")])
def test_heat_colours_keep_contrast_in_both_themes(theme, background):
    """Every heat colour, and every legend cell, at least 3:1 against the background
    (WCAG's contrast ratio): the light theme's dark blue vanished on the dark one."""
    graph = cgraph.load(str(SAMPLES / "rnn.cg"))
    source = cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), heat=True, theme=theme).source
    colours = set(_edge_colours(source)) | set(re.findall(r'bgcolor="(#[0-9a-f]{6})" width', source))
    assert len(colours) > 5
    bg = _luminance(background)
    for colour in colours:
        lo, hi = sorted((_luminance(colour), bg))
        assert (hi + 0.05) / (lo + 0.05) >= 3, f"{colour} on {background}"


def test_bad_heat_scale_is_a_usage_error(cg):
    res = cg("render", INTRO, "--heat", "--heat-scale", "loud", "--format", "dot", "-o", "-")
    assert res.code == 2 and "--heat-scale" in res.err


def test_heat_scale_without_heat_is_a_usage_error(cg):
    res = cg("render", INTRO, "--heat-scale", "absolute", "--format", "dot", "-o", "-")
    assert res.code == 2 and "--heat-scale goes with --heat" in res.err


def test_heat_frames_share_one_scale():
    graph = cgraph.load(str(SAMPLES / "rnn.cg"))
    ev = cgraph.evaluate(graph, {})
    legends = {_legend_numbers(cgraph.render.diagram(graph, ev, heat=True).source)[0]}
    from cgraph.views.render.dot import to_digraph

    for _, scene in cgraph.render.frames(graph, ev, heat=True):
        if scene.heat_range is not None:
            legends.add(_legend_numbers(to_digraph(scene).source)[0])
    assert len(legends) == 1, legends


# --- SVG tooltips ------------------------------------------------------------------------------


def test_svg_tooltips_are_title_elements(cg, tmp_path):
    res = cg("render", SAMPLES / "neuron.cg", "-o", tmp_path / "n.svg")
    assert res.code == 0, res.err
    root = svg_root((tmp_path / "n.svg").read_bytes())
    assert not any(el.get(XLINK_TITLE) for el in root.iter()), "a node wrapped in <a xlink:title>"
    assert not list(root.iter(SVG_NS + "a"))
    titles = [g.findtext(SVG_NS + "title") for g in root.iter(SVG_NS + "g") if g.get("class") == "node"]
    assert "w (line 3)" in titles and "b (line 4)" in titles, titles


# --- inputs and params in the first column, clusters or not -------------------------------------


@pytest.mark.parametrize("sample", ["neuron.cg", "rnn.cg", "mlp.cg"])
@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_inputs_and_params_stay_in_the_first_column_with_clusters(sample, rankdir):
    graph = cgraph.load(str(SAMPLES / sample))
    scene = cgraph.render.scene(graph, cgraph.evaluate(graph, {}), rankdir=rankdir)
    assert scene.clusters
    leaves = {n.id for n in scene.nodes if n.kind in ("input", "param")}
    data = _json(cgraph.render.diagram(graph, cgraph.evaluate(graph, {}), rankdir=rankdir).source)
    axis = 0 if rankdir == "LR" else 1
    at = {o["name"]: float(o["pos"].split(",")[axis]) for o in data["objects"] if "pos" in o}
    first = {round(at[n]) for n in leaves}
    assert len(first) == 1, f"inputs and params at {sorted(first)}"
    others = [at[n] for n in at if n not in leaves]
    (edge,) = first
    if rankdir == "LR":
        assert all(x > edge for x in others)
    else:  # Graphviz's y grows upwards: the first row is the highest
        assert all(y < edge for y in others)
