"""The interactive page (`cgraph render --format html`): one self-contained HTML file.

The page carries the diagram (Graphviz's SVG, as `render` draws it), the tape as JSON
data, and a script that evaluates that tape in the browser: the op table's JavaScript
(each Op's `js`), a forward pass and a backward pass over the tape (two loops, as the
Python evaluator's), and controls for every input and param. Changing one recomputes
every value and gradient and rewrites the diagram's numbers, which it finds by the ids
given to the edges and nodes here (`dom_id`, written into the DOT and so into the SVG).

Safety: everything from the program (names, comments, source text) is data. It reaches
the page only as Graphviz's escaped SVG text, as JSON inside a data block whose `<`, `>`
and `&` are escaped (so no `</script>` or `<!--` can end it), or as HTML-escaped text;
the script writes it with textContent, never as markup. A Content-Security-Policy meta
tag allows only this page's own script (by its hash) and forbids every network request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from importlib import resources

from ...engine.evaluator import Evaluation
from ...errors import RenderError
from ...ir.graph import Graph
from ...ops import JS_HELPERS, OPS
from ..numbers import json_number
from ..render import image
from ..render.dot import to_digraph
from ..render.scene import Options, Scene, build_scene
from ..render.heat import ABSOLUTE, LEGEND_STEPS
from ..render.style import THEMES
from .steps import node_data, step_data

__all__ = ["page", "error_page", "tape_data", "op_table_js"]

TAPE_ID = "cgraph-tape"


def page(graph: Graph, ev: Evaluation, options: Options, title: str, notes: tuple[str, ...] = (),
         live: int | None = None) -> str:
    """The whole page for `graph` at the evaluation `ev`'s inputs, drawn with `options`.
    With `live` (a version number: `cgraph serve`'s) it also listens to its server and
    reloads when a newer version is built; without, it makes no request of any kind.
    Raises RenderError if an op of the graph has no JavaScript (see Op.js)."""
    _check_ops(graph)
    scene = build_scene(graph, ev, options)
    _mark(scene)
    svg = _inline_svg(image(to_digraph(scene).source, "svg"))
    data = tape_data(graph, ev, scene)
    data["notes"] = list(notes)
    data["steps"] = step_data(ev, scene)
    data.update(node_data(ev, options.precision))
    script = op_table_js(sorted({op for op in graph.ops if op in OPS})) + _asset("page.js")
    body = _BODY.format(svg=svg, tape=TAPE_ID, data=_json_block(data))
    return _document(title, options.theme, body, script, live, _HINT)


def error_page(title: str, message: str, theme: str = "light", live: int | None = None) -> str:
    """A page showing an error (`message`, as the command line prints it: located, with
    its caret) instead of the diagram: what `cgraph serve` shows until the file is fixed."""
    body = (f'<main class="failed">\n<pre id="cg-error" role="alert">{html.escape(message)}</pre>\n'
            '<p class="hint">Fix the file and save it: the page reloads.</p>\n</main>\n')
    return _document(title, theme, body, "", live, "")


def _check_ops(graph: Graph) -> None:
    missing = sorted({op for op in graph.ops if op in OPS and OPS[op].js is None})
    if missing:
        raise RenderError(f"the page cannot compute {', '.join(missing)}: no JavaScript version in the op table",
                          hint="draw an image instead (-o FILE.svg)")


def _mark(scene: Scene) -> None:
    """Ids for what the page rewrites: the edges with numbers, the nodes with a Σ."""
    for k, edge in enumerate(scene.edges):
        if edge.sources:  # every edge that stands for uses: its numbers, and a step highlights it
            edge.dom_id = f"cg-e{k}"
    for node in scene.nodes:  # every node drawn: a step highlights it
        if node.index >= 0:
            node.dom_id = f"cg-n{node.index}"


# Graphviz's own names of edges and clusters ("v_a->v_b:nw"): tooltips that mean nothing
# to a reader, and a large graph's page loads faster without thousands of them.
_INNER_TITLE = re.compile(r'(<g id="[^"]*" class="(?:edge|cluster)">\n)<title>[^<]*</title>\n')
_FONT = ' font-family="Helvetica,sans-Serif"'  # every text's: said once, in page.css


def _inline_svg(svg: bytes) -> str:
    """Graphviz's SVG as an element of the page: no XML prolog or DOCTYPE, and no
    comments (Graphviz writes node ids in them; the page needs none)."""
    text = svg.decode("utf-8")
    text = text[text.index("<svg"):]
    text = _INNER_TITLE.sub(r"\1", re.sub(r"<!--.*?-->", "", text, flags=re.S))
    return _chunked(text.replace(_FONT, ""))


CHUNK = 60  # nodes and edges per group of a large diagram
CHUNK_FROM = 400  # a diagram with fewer stays as Graphviz wrote it


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in the viewBox's units
JUMP = 1000  # viewBox units (pt) between a group and its chunk's box that start a new chunk


def _chunked(svg: str) -> str:
    """A large diagram's nodes and edges in groups of at most CHUNK, in their order (so in
    the same reading and drawing order), each with the box it covers (`data-box`): the
    page takes the ones far from the view out of the document (page.js, showNear), as
    Chromium lays out, pre-paints, paints and layerizes every element of an SVG at each
    change, even the ones out of sight. A group far from the chunk so far (Graphviz's
    order jumps from one end of the diagram to the other now and then) starts a new
    chunk, so that no chunk spans the diagram and stays in wherever the view is.
    Graphviz writes one element a line, each group opening with `<g` and closing with
    `</g>` on lines of their own; only the graph's direct child groups are moved."""
    lines = svg.split("\n")
    if sum(1 for line in lines if line.startswith("<g id=")) < CHUNK_FROM:
        return svg
    place = _placement(svg)
    out: list[str] = []
    run: list[list[str]] = []  # the graph's child groups in a row
    for item in _top_level(lines):
        if isinstance(item, list):
            run.append(item)
            continue
        out.extend(_packed(run, place))  # the graph's group closes, or a line of its own (a legend's text) comes
        run = []
        out.append(item)
    out.extend(_packed(run, place))
    return "\n".join(out)


def _top_level(lines: list[str]) -> list[str | list[str]]:
    """The lines, with each of the graph's direct child groups as one list of its lines
    (and the blank lines after it)."""
    items: list[str | list[str]] = []
    depth = 0  # groups open; 1: directly inside the graph's own group
    group: list[str] | None = None
    for line in lines:
        opens, closes = line.startswith("<g"), line.startswith("</g>")
        if depth == 1 and opens:
            group = [line]
            items.append(group)
        elif group is not None and (depth >= 2 or not line.strip()):
            group.append(line)
        else:
            group = None
            items.append(line)
        depth += opens - closes
    return items


def _packed(groups: list[list[str]], place: Box | None) -> list[str]:
    """Groups in a row as chunks: CHUNK groups each, or fewer where a group is far away."""
    out: list[str] = []
    chunk: list[list[str]] = []
    box: Box | None = None
    for group in groups:
        bounds = _bounds(group, place)
        if chunk and (len(chunk) == CHUNK or _far(box, bounds)):
            out.extend(_chunk(chunk, box))
            chunk, box = [], None
        chunk.append(group)
        box = _union(box, bounds)
    if chunk:
        out.extend(_chunk(chunk, box))
    return out


def _chunk(groups: list[list[str]], box: Box | None) -> list[str]:
    head = '<g class="cg-chunk">'
    if box is not None:
        x0, y0, x1, y1 = box
        head = f'<g class="cg-chunk" data-box="{math.floor(x0) - 2} {math.floor(y0) - 2} {math.ceil(x1) + 2} {math.ceil(y1) + 2}">'
    return [head, *(line for group in groups for line in group), "</g>"]


def _far(box: Box | None, other: Box | None) -> bool:
    if box is None or other is None:
        return False
    return max(other[0] - box[2], box[0] - other[2], other[1] - box[3], box[1] - other[3]) > JUMP


def _union(box: Box | None, other: Box | None) -> Box | None:
    if box is None or other is None:
        return box or other
    return (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))


# The graph group's transform as Graphviz writes it: its coordinates to the viewBox's.
_PLACEMENT = re.compile(r'<g id="graph0" class="graph" transform="scale\(([-\d.e]+) ([-\d.e]+)\) rotate\(0\) '
                        r'translate\(([-\d.e]+) ([-\d.e]+)\)"')
_NUMBERS = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
_SHAPE = re.compile(r' (?:points|d)="([^"]*)"')
_ATTRIBUTE = re.compile(r' (x|y|cx|cy|rx|ry|font-size)="([-\d.e]+)"')
_TEXT = re.compile(r">([^<]*)</text>")


def _placement(svg: str) -> Box | None:
    found = _PLACEMENT.search(svg)
    return tuple(float(v) for v in found.groups()) if found else None  # type: ignore[return-value]


def _bounds(lines: list[str], place: Box | None) -> Box | None:
    """The box (in the viewBox's units) that a group's lines draw in, made generous for
    text (a character counted as wide as the font is high, each side of its anchor): the
    page only needs to know when it may be near the view. None when the graph's transform
    is not Graphviz's usual one (then nothing is taken out)."""
    if place is None:
        return None
    xs: list[float] = []
    ys: list[float] = []
    for line in lines:
        for shape in _SHAPE.findall(line):
            numbers = [float(v) for v in _NUMBERS.findall(shape)]
            xs.extend(numbers[0::2])
            ys.extend(numbers[1::2])
        at = dict(_ATTRIBUTE.findall(line))
        if "cx" in at:
            cx, cy, rx, ry = (float(at.get(k, 0)) for k in ("cx", "cy", "rx", "ry"))
            xs.extend((cx - rx, cx + rx))
            ys.extend((cy - ry, cy + ry))
        elif "x" in at and "y" in at:
            size = float(at.get("font-size", 14))
            text = _TEXT.search(line)
            reach = size * (len(html.unescape(text.group(1))) if text else 1)
            xs.extend((float(at["x"]) - reach, float(at["x"]) + reach))
            ys.extend((float(at["y"]) - size, float(at["y"]) + size))
    if not xs or not ys:
        return None
    sx, sy, tx, ty = place
    x0, x1 = sorted((sx * (min(xs) + tx), sx * (max(xs) + tx)))
    y0, y1 = sorted((sy * (min(ys) + ty), sy * (max(ys) + ty)))
    return (x0, y0, x1, y1)


def op_table_js(names: list[str]) -> str:
    """The JavaScript op table of these ops (a page's: the ops its graph uses), with the
    helpers they call: `const OPS = {name: {forward, local}, ...};`."""
    used = [name for name in names if OPS[name].js is not None]
    entries = ",\n".join(f"  {json.dumps(name)}: {{forward: {OPS[name].js[0]}, local: {OPS[name].js[1]}}}"  # type: ignore[index]
                         for name in used)
    return f"{JS_HELPERS}const OPS = {{\n{entries}\n}};\n"


def tape_data(graph: Graph, ev: Evaluation, scene: Scene) -> dict:
    """What the script reads: the tape, the inputs' starting values, and the diagram's
    numbers to rewrite (numbers that are not finite as "inf", "-inf", "nan")."""
    theme = THEMES[scene.options.theme]
    return {
        "ops": [op if op in OPS else None for op in graph.ops],  # None: a leaf, whose value is given
        "args": [list(a) for a in graph.args],
        "consts": [json_number(v) if v is not None else None for v in graph.values],
        "names": dict(graph.names),
        "inputs": [{"name": name, "node": i, "kind": graph.ops[i], "value": json_number(ev.values[i])}
                   for name, i in graph.inputs.items()],
        "output": ev.output,
        "outputName": ev.output_name,
        "precision": scene.options.precision,
        "colors": {key: theme[key] for key in ("value", "grad", "local")},
        "edges": [_edge_data(graph, edge) for edge in scene.edges if edge.dom_id],
        # --heat: the page recolours the edges as render does (heat.py) for its numbers
        "heat": {"scale": scene.options.heat_scale, "stops": theme["heat"].split(), "absolute": list(ABSOLUTE),
                 "cells": LEGEND_STEPS} if scene.options.heat else None,
        "totals": [{"id": node.dom_id, "node": node.index} for node in scene.nodes if node.dom_id and node.total_grad],
    }


def _edge_data(graph: Graph, edge) -> dict:
    u, v, k = edge.sources[0]
    gradient = v >= 0 and not graph.is_literal(u)  # no one asks d out/d 2 (nor d out/d out: the seed)
    return {
        "id": edge.dom_id,
        "value": u if edge.value is not None else None,
        "prefix": f"{edge.label_name} = " if edge.label_name else "",
        # the gradient along it: the sum over its uses of grad(v) * d v/d u; an output's edge shows d out/d out = 1 as it is
        "uses": [[v, k] for _, v, k in edge.sources] if gradient else None,
        "grad": edge.grad is not None and gradient,  # the gradient is written on it
        "heat": edge.heat is not None and gradient,  # coloured by it (--heat)
        "seed": edge.heat is not None and v < 0,  # the output's edge: d out/d out = 1, at the scale's red end
        "local": [v, k] if edge.local is not None else None,
    }


def _json_block(data: dict) -> str:
    """JSON that cannot end its <script> element or open a comment: <, > and & escaped
    (as are U+2028/U+2029, by ensure_ascii), all still the same JSON."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


_BODY = """<main>
<section id="controls" aria-label="Inputs and params"></section>
<section id="readout" aria-live="polite"></section>
<section id="diagram">
<div id="cg-svg">
{svg}</div>
</section>
</main>
<script type="application/json" id="{tape}">{data}</script>
"""


_HINT = "Change an input or param: every value and gradient is recomputed in the page."


def _document(title: str, theme: str, body: str, script: str, live: int | None, hint: str) -> str:
    """The page around `body`: its CSP allows `script` alone (by its hash) and, for a
    live page, requests to its own server (the reload channel), nothing else."""
    if live is not None:
        script = _asset("live.js") + script  # first: a page whose own script fails still reloads
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    connect = "; connect-src 'self'" if live is not None else ""
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
           f"base-uri 'none'; form-action 'none'{connect}")
    name = html.escape(title)
    meta = f'<meta name="cgraph-live" content="{live:d}">\n' if live is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en" class="theme-{theme}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
{meta}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · cgraph</title>
<style>
{_asset("page.css")}</style>
</head>
<body>
<header><h1>{name}</h1><p class="hint">{hint}</p></header>
{body}<script>{script}</script>
</body>
</html>
"""
