"""Keeping a loop's iterations in reading order: which loops are recurrent, which edges
only feed later iterations (loose), and the invisible pairs that chain the iterations.

These work on a finished Scene's node paths and edges, apart from how the scene was built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...ir.graph import Tag

if TYPE_CHECKING:
    from .scene import Scene, SceneNode


MAX_ORDER_PAIRS = 64  # per pair of iterations; wider bodies are tied by fewer, chosen pairs


def iteration_order(scene: Scene, recurrent: set[tuple]) -> list[tuple[str, str]]:
    """Pairs (a, b) that put each iteration of a loop wholly before the next one, for every
    loop whose iterations pass values on (a recurrence): every last node of iteration k (one
    with no edge to another node of k) before every first node of iteration k+1. The scene
    holds them as invisible edges.

    Graphviz ranks the nodes of a cluster apart and then treats an edge between two clusters
    as a wish, not a rule: a shared weight pulling every iteration towards itself outweighs
    the recurrent edges of ten or more steps, which then stack up and run backwards. These
    pairs, drawn as heavy invisible edges, outweigh any such pull. Collapsed, each iteration
    is one box and the pairs chain the boxes. Iterations that share nothing (a layer's
    neurons, the terms of a sum) are left side by side: chained, a 100-term sum would draw
    as a 100-step staircase with 100 long edges into the sum, in 200 times the time."""
    path_of = {node.id: _loop_path(node) for node in scene.nodes}
    members, loops = _iterations(scene, path_of)
    succ: dict[str, list[str]] = {}
    for edge in scene.edges:
        succ.setdefault(edge.tail, []).append(edge.head)

    def at_edge(node: str, depth: int, end: int) -> bool:
        """Whether a node below an iteration (at `depth`) lies in the first (end 0) or last
        (end -1) iteration of every recurrent loop nested in it: the others follow those."""
        path = path_of[node]
        for d in range(depth + 1, len(path) + 1):
            inner = _loop_key(path[:d]) if path[d - 1].kind == "loop" else None
            if inner in recurrent and loops[inner][end] != path[:d]:
                return False
        return True

    order: list[tuple[str, str]] = []
    for key, iterations in loops.items():
        if key not in recurrent:
            continue
        ends = []
        for path in iterations:
            first, last = _ends(members[path], succ)
            # Tied to a nested loop's first (last) iteration only: tying all of them would
            # draw an edge from one step of the outer loop to every step of the inner one.
            ends.append(([n for n in first if at_edge(n, len(path), 0)] or first,
                         [n for n in last if at_edge(n, len(path), -1)] or last))
        for (_, last), (first, _) in zip(ends, ends[1:]):
            order += _chain(last, first)
    return order


def _iterations(
    scene: Scene, path_of: dict[str, tuple[Tag, ...]]
) -> tuple[dict[tuple[Tag, ...], list[str]], dict[tuple, list[tuple[Tag, ...]]]]:
    """Each loop iteration -> its nodes (nested ones too), and each loop statement in one
    place (as _loop_key) -> its iterations, in tape order."""
    members: dict[tuple[Tag, ...], list[str]] = {}
    for node in scene.nodes:
        path = path_of[node.id]
        for depth in range(1, len(path) + 1):
            if path[depth - 1].kind == "loop":
                members.setdefault(path[:depth], []).append(node.id)
    loops: dict[tuple, list[tuple[Tag, ...]]] = {}
    for path in members:
        loops.setdefault(_loop_key(path), []).append(path)
    return members, loops


def _chain(last: list[str], first: list[str]) -> list[tuple[str, str]]:
    """The pairs that put one iteration's last nodes before the next one's first nodes."""
    if len(last) * len(first) > MAX_ORDER_PAIRS:  # every last node before one first node, and one last before all first
        return [(a, first[0]) for a in last] + [(last[-1], b) for b in first[1:]]
    return [(a, b) for a in last for b in first]


def recurrent_loops(scene: Scene) -> set[tuple]:
    """The loops (as _loop_key) with an edge from one of their iterations into another:
    those whose iterations must read in order (`recurrent` in the two functions above)."""
    path_of = {node.id: _loop_path(node) for node in scene.nodes}
    recurrent: set[tuple] = set()
    for edge in scene.edges:
        tail, head = path_of.get(edge.tail, ()), path_of.get(edge.head, ())
        split = _common(tail, head)
        if split < min(len(tail), len(head)) and tail[split].kind == head[split].kind == "loop":
            if _loop_key(tail[: split + 1]) == _loop_key(head[: split + 1]):
                recurrent.add(_loop_key(head[: split + 1]))
    return recurrent


def _loop_key(path: tuple[Tag, ...]) -> tuple:
    """The loop an iteration belongs to: the same loop statement in the same place."""
    return (path[:-1], path[-1].name, path[-1].line)


def _common(a: tuple[Tag, ...], b: tuple[Tag, ...]) -> int:
    """How many outermost calls and iterations two nodes share."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _loop_path(node: SceneNode) -> tuple[Tag, ...]:
    return node.unit if node.kind == "box" else node.cluster


def loosen_shared_feeds(scene: Scene, recurrent: set[tuple]) -> None:
    """Mark loose the edges by which one node feeds the second and later iterations of a
    recurrent loop it is outside of (a shared weight used at every step): its edge into the
    first iteration places it, and iteration_order keeps the later ones after the first.
    Pulled by all of them, Graphviz crams the iterations together, and ranking with them
    takes 25 times longer on a 50-step loop. Iterations left side by side keep every edge:
    nothing else would keep them after a shared constant."""
    path_of = {node.id: _loop_path(node) for node in scene.nodes}
    first: dict[tuple[str, tuple], tuple[Tag, ...]] = {}  # (tail, loop) -> the first iteration it feeds
    for edge in scene.edges:  # in the order of their heads on the tape
        tail, head = path_of.get(edge.tail, ()), path_of.get(edge.head, ())
        for depth in range(_common(tail, head) + 1, len(head) + 1):
            if head[depth - 1].kind == "loop" and _loop_key(head[:depth]) in recurrent:
                key = (edge.tail, _loop_key(head[:depth]))
                if first.setdefault(key, head[:depth]) != head[:depth]:
                    edge.loose = True


def _ends(nodes: list[str], succ: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The first nodes (no edge from inside) and the last nodes (no edge to inside) of a group."""
    inside = set(nodes)
    has_pred: set[str] = set()
    has_succ: set[str] = set()
    for a in nodes:
        for b in succ.get(a, ()):
            if b in inside:
                has_succ.add(a)
                has_pred.add(b)
    return [n for n in nodes if n not in has_pred], [n for n in nodes if n not in has_succ]


def innermost_iteration(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    """The calls and iterations down to the innermost loop iteration; () outside loops."""
    for depth in range(len(tags), 0, -1):
        if tags[depth - 1].kind == "loop":
            return tags[:depth]
    return ()
