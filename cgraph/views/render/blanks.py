"""A diagram as an exercise sheet: the scene's numbers replaced by the worksheet's blanks.

Works on a finished scene, after it is built, so the drawing is the one the diagram has
without blanks: each edge is traced back to the use it draws (the node ids are
`style.node_ids`' , a shared leaf's copy beside a loop step is `id__box...`), and a node's
Σ is its gradient. Collapsed boxes and the gradient graph draw sums and gradient nodes
that are no single quantity of the sheet: the CLI does not blank those.
"""

from __future__ import annotations

from ...ir.graph import Graph
from ..numbers import blank_text
from ..worksheet import Worksheet
from . import style
from .model import Scene, SceneEdge


def blank_scene(scene: Scene, graph: Graph, sheet: Worksheet) -> Scene:
    """The scene with each number the sheet leaves blank written as its blank (in place)."""
    index = {node_id: i for i, node_id in enumerate(style.node_ids(graph))}
    for node in scene.nodes:
        i = _node_of(node.id, index)
        n = sheet.blank_of(("grad", i)) if i is not None else None
        if n is not None and node.total_grad is not None:
            node.total_grad = blank_text(n)
    seen: dict[tuple[int, int], int] = {}  # (u, v) -> the edges drawn so far: x * x draws two
    for edge in scene.edges:
        if edge.invisible:
            continue
        u = _node_of(edge.tail, index)
        if u is None:
            continue
        v = index.get(edge.head)
        if v is None:  # the edge into an output's sink: its value (its gradient is the seed)
            n = sheet.blank_of(("value", u))
            if edge.value is not None and n is not None:
                edge.value = blank_text(n)
            continue
        uses = [k for k, a in enumerate(graph.args[v]) if a == u]
        nth = seen.get((u, v), 0)
        seen[(u, v)] = nth + 1
        if nth < len(uses):
            _blank_edge(edge, sheet, u, v, uses[nth])
    return scene


def _blank_edge(edge: SceneEdge, sheet: Worksheet, u: int, v: int, k: int) -> None:
    """The use of u as v's k-th argument: u's value, the share of its gradient, the local derivative."""
    value, share, local = sheet.blank_of(("value", u)), sheet.blank_of(sheet.share_key(u, v, k)), sheet.local_blank(v, k)
    if edge.value is not None and value is not None:
        edge.value = blank_text(value)
    if edge.grad is not None and share is not None:
        edge.grad = blank_text(share)
    if edge.local is not None and local is not None:
        edge.local = blank_text(local)


def _node_of(node_id: str, index: dict[str, int]) -> int | None:
    """The graph node an id draws: itself, or (a copy beside a loop step or box, whose id
    is the node's + `__box...`) the node copied."""
    if node_id in index:
        return index[node_id]
    at = node_id.find("__box")
    while at > 0:
        if node_id[:at] in index:
            return index[node_id[:at]]
        at = node_id.find("__box", at + 1)
    return None
