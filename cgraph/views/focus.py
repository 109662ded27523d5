"""The part of a graph a view is asked to show: the nodes on a path from one named node
to the output (render's --focus, explain's --node). Shared by the diagram and the text
views, so neither imports the other."""

from __future__ import annotations

from ..errors import InputError, name_hint
from ..ir.graph import Graph


def focus_nodes(graph: Graph, name: str, output: int, option: str) -> list[int]:
    """The nodes on a path from the node called `name` to `output`, in tape order; an
    InputError naming `option` when no node has that name or the output does not depend on it."""
    if name not in graph.names:
        raise InputError(f"{option} {name}: no node has that name" + name_hint(name, graph.names))
    start = graph.names[name]
    downstream, upstream = graph.downstream(start, output), graph.upstream(output)
    keep = [i for i in range(len(graph)) if downstream[i] and upstream[i]]
    if not keep:
        raise InputError(f"{option} {name}: the output does not depend on it")
    return keep

