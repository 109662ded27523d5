"""Where Graphviz puts things: `dot -Tjson` read into boxes and curves, to test a layout
by its coordinates (points, y growing upwards) rather than by its DOT text."""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]

SAMPLES_PER_CURVE = 24


@dataclass
class DrawnEdge:
    tail: str
    head: str
    curve: list[Point]  # the spline, sampled
    label: Box | None = None  # the label's text
    head_label: Box | None = None  # the mark by the head (headlabel) or, for a reversed edge, the tail's
    attrs: dict = field(default_factory=dict)


@dataclass
class Drawing:
    nodes: dict[str, Point]  # id -> centre
    edges: list[DrawnEdge]


def drawing(dot_source: str) -> Drawing:
    """Lay a DOT text out with `dot -Tjson` and read back node centres, edge splines and
    the boxes their labels' text occupies."""
    done = subprocess.run(["dot", "-Tjson"], input=dot_source.encode(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    names = {obj["_gvid"]: obj["name"] for obj in data.get("objects", [])}
    nodes = {obj["name"]: _point(obj["pos"]) for obj in data.get("objects", []) if "pos" in obj and "nodes" not in obj}
    edges = []
    for e in data.get("edges", []):
        curve = [p for op in e.get("_draw_", []) if op["op"] == "b" for p in _bezier(op["points"])]
        if not curve:  # invisible
            continue
        mark = e.get("_hldraw_") or e.get("_tldraw_")
        edges.append(DrawnEdge(names[e["tail"]], names[e["head"]], curve, _text_box(e.get("_ldraw_")),
                               _text_box(mark), e))
    return _joined_relays(Drawing(nodes, edges))


def _joined_relays(layout: Drawing) -> Drawing:
    """An edge from the first column drawn through a relay point (a bare wire to it, then
    the labelled stretch) is one edge to the eye: one curve, from its tail to its head."""
    relays = {name for name in layout.nodes if re.fullmatch(r"via\d+_\w+", name)}
    wires = {e.head: e for e in layout.edges if e.head in relays}
    edges = []
    for e in layout.edges:
        if e.head in relays:
            continue
        if e.tail in relays:
            wire = wires[e.tail]
            e = DrawnEdge(wire.tail, e.head, wire.curve + e.curve, e.label, e.head_label, e.attrs)
        edges.append(e)
    return Drawing({k: v for k, v in layout.nodes.items() if k not in relays}, edges)


def _point(pos: str) -> Point:
    x, y = pos.split(",")[:2]
    return float(x), float(y)


def _bezier(points: list[list[float]]) -> list[Point]:
    """A piecewise cubic Bezier curve, sampled."""
    out: list[Point] = []
    for k in range(0, len(points) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[k:k + 4]
        for s in range(SAMPLES_PER_CURVE + 1):
            t = s / SAMPLES_PER_CURVE
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return out


def _text_box(ops: list[dict] | None) -> Box | None:
    """The box around a label's lines of text (from their baseline, width and font size)."""
    if not ops:
        return None
    size, boxes = 14.0, []
    for op in ops:
        if op["op"] == "F":
            size = float(op["size"])
        elif op["op"] == "T" and op["text"].strip():
            (x, y), w = op["pt"], float(op["width"])
            x0 = x - w / 2 if op["align"] == "c" else x if op["align"] == "l" else x - w
            boxes.append((x0, y - 0.2 * size, x0 + w, y + 0.75 * size))
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def box_distance(a: Box, b: Box) -> float:
    """The gap between two boxes (0 where they touch or overlap)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return math.hypot(dx, dy)


def curve_distance(box: Box, curve: list[Point]) -> float:
    """How far a curve passes from a box (0 where it runs through it)."""
    return min(box_distance(box, (x, y, x, y)) for x, y in curve)
