"""One layout for a sequence of diagrams (`render --frames`): positions read from a single
Graphviz run, given to every frame, which Graphviz then draws without laying it out again.

Laid out on its own, each frame of the passes would move its nodes: a label that gains a
gradient grows, and dot places everything anew (the tutorial's frames grew from 394x250
to 454x303 pt). So the diagram with every number on it (the widest labels any frame
has, and the widest caption) is laid out once by `dot -Tjson`; each frame then gets every
node's centre and size, every edge's spline and label position, every cluster's box and
the canvas, and is drawn by `neato -n2`, which keeps all of them as given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

Attrs = dict[str, str]


@dataclass
class EdgePlace:
    """An edge's pins, and the baselines of its label's lines (top first; Graphviz's y
    grows upwards), of its label and of its external label (xlabel)."""

    attrs: Attrs
    lines: dict[str, list[float]] = field(default_factory=dict)  # 'lp' or 'xlp' -> baselines


@dataclass
class Placement:
    """Where everything of one laid-out diagram is: per node id, per edge (tail id, head id)
    in the order written, and per cluster id, the Graphviz attributes that pin it."""

    graph: Attrs = field(default_factory=dict)
    nodes: dict[str, Attrs] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[EdgePlace]] = field(default_factory=dict)
    clusters: dict[str, Attrs] = field(default_factory=dict)

    def edge_pins(self, ends: list[tuple[str, str]]) -> list[Attrs]:
        """The pins of each of a diagram's edges, given as (tail, head) in the order written:
        the k-th edge from a to b gets the k-th such edge's place (a and b, as in x * x, may
        be joined twice; Graphviz numbers edges by tail, so the layout's order is not ours)."""
        return [place.attrs if place is not None else {} for place in self._places(ends)]

    def with_fewer_lines(self, ends: list[tuple[str, str]], missing: list[int]) -> Placement:
        """This placement for a frame whose edge labels lack their last `missing` lines
        (no gradient known yet): each label moved so that the lines it has stay where they
        are in the whole diagram, rather than centred (a value would jump half a line up
        when its gradient appears below it)."""
        raised: dict[tuple[str, str], list[EdgePlace]] = {}
        for end, place, gone in zip(ends, self._places(ends), missing):
            if place is not None:
                raised.setdefault(end, []).append(_raised(place, gone))
        # an edge not given (the bare first stretch of a relayed edge: no label) keeps its place
        return Placement(self.graph, self.nodes, {**self.edges, **raised}, self.clusters)

    def _places(self, ends: list[tuple[str, str]]) -> list[EdgePlace | None]:
        used: dict[tuple[str, str], int] = {}
        out: list[EdgePlace | None] = []
        for end in ends:
            k = used.get(end, 0)
            used[end] = k + 1
            places = self.edges.get(end, [])
            out.append(places[k] if k < len(places) else None)
        return out


def _raised(place: EdgePlace, gone: int) -> EdgePlace:
    """The place of a label without its last `gone` lines: its centre raised by half their
    height (the baselines' distance from the last line kept to the last line)."""
    attrs = dict(place.attrs)
    for key, baselines in place.lines.items():
        if key in attrs and 0 < gone < len(baselines):
            x, y = (float(v) for v in attrs[key].split(","))
            attrs[key] = f"{x:g},{y + (baselines[-gone - 1] - baselines[-1]) / 2:g}"
    return EdgePlace(attrs, place.lines)


def placement_from_json(text: bytes | str) -> Placement:
    """The Placement of a `dot -Tjson` layout."""
    data = json.loads(text)
    placed = Placement(graph=_pick(data, "bb"))
    if "bb" in data:
        placed.nodes.update(_corners(data))
    name = {o["_gvid"]: o["name"] for o in data.get("objects", [])}
    for o in data.get("objects", []):
        if "pos" in o:
            placed.nodes[o["name"]] = {**_pick(o, "pos", "width", "height"), "fixedsize": "true"}
        elif "bb" in o:
            placed.clusters[o["name"]] = _pick(o, "bb", "lp", "lwidth", "lheight")
    for e in sorted(data.get("edges", []), key=lambda e: e["_gvid"]):
        lines = {key: _baselines(e.get(draw, [])) for key, draw in (("lp", "_ldraw_"), ("xlp", "_xldraw_"))}
        place = EdgePlace(_pick(e, "pos", "lp", "xlp"), lines)
        placed.edges.setdefault((name[e["tail"]], name[e["head"]]), []).append(place)
    return placed


def _baselines(ops: list[dict]) -> list[float]:
    """The distinct baselines of a label's text, top first (a line may be several runs)."""
    ys = {round(float(op["pt"][1]), 2) for op in ops if op.get("op") == "T" and "pt" in op}
    return sorted(ys, reverse=True)


CORNER = "_frame_corner_"  # no node id of a diagram starts with an underscore (style.node_ids)


def _corners(data: dict) -> dict[str, Attrs]:
    """Two invisible points at the corners of the layout's box. `neato -n2` sizes the
    canvas to what it draws, and a frame's labels are smaller than the whole diagram's:
    with the corners, every frame's canvas is the layout's. Above the caption, if there is
    one: neato makes room for the caption below the drawing again."""
    x0, y0, x1, y1 = (float(v) for v in data["bb"].split(","))
    if "lheight" in data:
        y0 += 72 * float(data["lheight"])
    point = {"shape": "point", "style": "invis", "width": "0.01", "height": "0.01", "fixedsize": "true", "label": ""}
    return {f"{CORNER}0": {**point, "pos": f"{x0:g},{y0:g}"}, f"{CORNER}1": {**point, "pos": f"{x1:g},{y1:g}"}}


def _pick(obj: dict, *keys: str) -> Attrs:
    return {k: str(obj[k]) for k in keys if k in obj}
