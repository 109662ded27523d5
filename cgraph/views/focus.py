"""The part of a graph a view is asked to show: the nodes on a path from one named node
to the output (render's --focus, explain's --node). Shared by the diagram and the text
views, so neither imports the other."""

from __future__ import annotations

from ..errors import InputError, clip, did_you_mean
from ..ir.graph import Graph


def focus_nodes(graph: Graph, name: str, output: int, option: str) -> list[int]:
    """The nodes on a path from the node called `name` to `output`, in tape order; an
    InputError naming `option` when no node has that name or the output does not depend on it."""
    if name not in graph.names:
        raise InputError(f"{option} {name}: no node has that name" + (_loop_local(graph, name) or did_you_mean(name, graph.names)))
    start = graph.names[name]
    downstream, upstream = graph.downstream(start, output), graph.upstream(output)
    keep = [i for i in range(len(graph)) if downstream[i] and upstream[i]]
    if not keep:
        raise InputError(f"{option} {name}: the output does not depend on it")
    return keep


def _loop_local(graph: Graph, name: str) -> str:
    """' (...: a@t=1, a@t=2, a@t=3)' when `name` is a plain name assigned in a loop body,
    which names one node per iteration (`a@t=2`), none of them `a`; else ''."""
    prefix = name + "@"
    found = [n for n in graph.names if n.startswith(prefix)]
    if not found:
        return ""
    quoted = [f"'{clip(n)}'" for n in (found if len(found) <= 4 else [found[0], found[1], "...", found[-1]])]
    shown = ", ".join(q if q != "'...'" else "..." for q in quoted)
    return f" ('{clip(name)}' is assigned in a loop body, so each iteration has its own: {shown})"
