"""What a diagram shows, whatever its format: nodes, edges with their numbers, clusters.

A `Scene` is computed once from a graph (and an evaluation, if there are values) and
then written as DOT or Mermaid. Every edge u -> v carries u's forward value and the
gradient flowing back along it, d out/d v * d v/d u (for a node with one consumer that
is its whole gradient; a node with several shows their sum, its accumulated gradient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...errors import InputError, RenderError
from ...engine.evaluator import Evaluation, local_derivatives
from ...ir.graph import Graph, Tag
from ...ops import LEAF_KINDS
from ..numbers import number
from . import style

DEFAULT_MAX_RENDER_NODES = 2000
SPREAD_SHARED_ABOVE_EDGES = 150  # larger diagrams draw a shared input beside each loop step it feeds


@dataclass(frozen=True)
class Options:
    rankdir: str = "LR"
    annotate: frozenset[str] = frozenset({"values", "grads"})
    precision: int = 4
    theme: str = "light"
    focus: str | None = None
    heat: bool = False
    collapse: bool = False
    max_render_nodes: int = DEFAULT_MAX_RENDER_NODES


@dataclass
class SceneNode:
    id: str
    kind: str  # input, param, const, op, box, sink
    title: str  # the op's symbol, a leaf's name, a box's label
    name: str | None = None  # an op node's name (p in p = x + y)
    total_grad: str | None = None  # shown when several consumers share the node
    tooltip: str = ""
    cluster: tuple[Tag, ...] = ()
    highlight: bool = False
    unit: tuple[Tag, ...] = ()  # a collapsed box: the call or iteration it stands for


@dataclass
class SceneEdge:
    tail: str
    head: str
    value: str | None = None
    grad: str | None = None
    local: str | None = None
    heat: float | None = None  # 0..1 on a log scale of |gradient|, with --heat
    label_name: str | None = None  # the output edge says what it is
    loose: bool = False  # drawn, but not pulling its head's iteration towards its tail (see loosen_shared_feeds)
    invisible: bool = False  # not drawn: only keeps a loop's iterations in order (see iteration_order)


@dataclass
class Scene:
    nodes: list[SceneNode] = field(default_factory=list)
    edges: list[SceneEdge] = field(default_factory=list)
    clusters: dict[tuple[Tag, ...], str] = field(default_factory=dict)  # path -> label
    options: Options = field(default_factory=Options)
    caption: str = ""


@dataclass(frozen=True)
class Frame:
    """One frame of the passes: the values of the first `values_upto` nodes are known,
    and the gradients of nodes >= `grads_from`; `current` is the node just done."""

    values_upto: int
    grads_from: int
    current: int
    phase: str  # 'forward' or 'backward'


def visible_nodes(graph: Graph, options: Options, output: int | None = None, option: str = "--focus") -> list[int]:
    """The nodes drawn: all of them, or with --focus those on a path from NAME to the output."""
    n = len(graph)
    if options.focus is None:
        return list(range(n))
    if options.focus not in graph.names:
        raise InputError(f"{option} {options.focus}: no node has that name" + style_hint(graph, options.focus))
    start, out = graph.names[options.focus], graph.output if output is None else output
    downstream, upstream = graph.downstream(start, out), graph.upstream(out)
    keep = [i for i in range(n) if downstream[i] and upstream[i]]
    if not keep:
        raise InputError(f"{option} {options.focus}: the output does not depend on it")
    return keep


def drawn_units(graph: Graph, options: Options, output: int) -> list[tuple[str | None, int, int]]:
    """What a frame steps over: each node drawn, or with --collapse each box as a whole:
    (box label or None, first node, last node), in tape order."""
    shown = visible_nodes(graph, options, output)
    if not options.collapse:
        return [(None, i, i) for i in shown]
    group = _groups(graph, shown)
    units: dict[object, list] = {}
    for i in shown:
        key = group[i][0] if i in group else i
        if key in units:
            units[key][2] = i
        else:
            units[key] = [style.cluster_label(group[i][1]) if i in group else None, i, i]
    return sorted((tuple(u) for u in units.values()), key=lambda u: u[2])


def style_hint(graph: Graph, name: str) -> str:
    from ...errors import did_you_mean

    return did_you_mean(name, graph.names)


def build_scene(graph: Graph, ev: Evaluation | None, options: Options, step: Frame | None = None) -> Scene:
    p = options.precision
    out = ev.output if ev is not None else graph.output
    shown = visible_nodes(graph, options, out)
    keep = set(shown)
    group = _groups(graph, shown) if options.collapse else None
    count = len(shown) - len(group) + len({box for box, _ in group.values()}) if group is not None else len(shown)
    if count > options.max_render_nodes:  # before any per-node work: a huge graph is refused at once
        raise RenderError(
            f"the diagram would have {count:,} nodes, over the limit of {options.max_render_nodes:,}",
            hint="fold function calls and loop iterations into boxes with --collapse, draw a part with "
            "--focus NAME, or raise --max-render-nodes",
        )
    ids = style.node_ids(graph)
    consumers = [0] * len(graph)
    for i in shown:
        for a in graph.args[i]:
            consumers[a] += 1

    # Numbers are shown only with an evaluation (show_values, show_grads say so): empty lists otherwise.
    ev_values: list[float] = ev.values if ev is not None else []
    ev_grads: list[float] = ev.grads if ev is not None else []
    values_known = (lambda i: True) if step is None else (lambda i: i < step.values_upto)
    grads_known = (lambda i: True) if step is None else (lambda i: i >= step.grads_from)
    show_values = ev is not None and "values" in options.annotate
    show_grads = ev is not None and "grads" in options.annotate
    show_local = ev is not None and "local" in options.annotate

    scene = Scene(options=options)
    boxes: dict[str, SceneNode] = {}
    node_by_id: dict[str, SceneNode] = {}
    for i in shown:
        op = graph.ops[i]
        name = graph.name_of(i)
        if group is not None and i in group:
            box_id, tag = group[i]
            if box_id not in boxes:
                boxes[box_id] = SceneNode(box_id, "box", style.cluster_label(tag), tooltip=f"{style.cluster_label(tag)}",
                                          unit=(tag,))
                scene.nodes.append(boxes[box_id])
            if step is not None and step.current == i:
                boxes[box_id].highlight = True
            continue
        line, _ = graph.line_col(i)
        node = SceneNode(ids[i], op if op in LEAF_KINDS else "op", "", cluster=graph.tags[i] if group is None else ())
        if graph.is_literal(i):
            node.title = number(graph.values[i] or 0.0, p)  # a literal always has its value
        elif op in LEAF_KINDS:
            node.title = name or graph.text_of(i)
        else:
            node.title = style.symbol(op)
            node.name = name
        node.tooltip = f"{name + ' = ' if name and op not in LEAF_KINDS else ''}{graph.line_text_of(i)} (line {line})"
        if show_grads and consumers[i] > 1 and grads_known(i) and not graph.is_literal(i):
            node.total_grad = number(ev_grads[i], p)
        node.highlight = step is not None and step.current == i
        scene.nodes.append(node)
        node_by_id[node.id] = node
        if node.cluster:
            for depth in range(1, len(node.cluster) + 1):
                path = node.cluster[:depth]
                scene.clusters.setdefault(path, style.cluster_label(path[-1]))

    # Collapsed: an input, param or constant feeding several boxes (a shared weight in every step of
    # an RNN) is drawn once beside each box, as unrolled RNNs are drawn, instead of one node
    # with an edge to every step: those long edges make Graphviz take minutes, or crash.
    # Expanded, the same on a large diagram, beside each loop iteration it feeds: a weight
    # used three times a step over 25 steps took Graphviz 55 s, drawn beside each step 1 s.
    # The node itself (with its accumulated gradient) feeds the first box or iteration, so
    # the Σ sits on a drawing joined to the graph, at the left; the copies feed the later ones.
    spread = group is None and sum(u in keep for v in shown for u in graph.args[v]) > SPREAD_SHARED_ABOVE_EDGES

    def unit_of(v: int) -> str | None:
        """The box, or (spread) the innermost loop iteration, that node v is drawn in."""
        if group is not None:
            return group[v][0] if v in group else None
        path = _innermost_iteration(graph.tags[v]) if spread else ()
        if not path:
            return None
        return "box" + style.cluster_id(path)[len("cluster"):]  # copies stay out of clusters: inside, dot misplaces them

    copied: dict[int, SceneNode] = {}
    copies_made: set[str] = set()
    fed: dict[int, dict[str, None]] = {}  # leaf -> the boxes or iterations it feeds, in tape order
    if group is not None or spread:
        for v in shown:
            unit = unit_of(v)
            if unit is not None:
                for u in graph.args[v]:
                    if u in keep and unit_of(u) is None and graph.ops[u] in LEAF_KINDS:
                        fed.setdefault(u, {})[unit] = None
        copied = {u: node_by_id[ids[u]] for u, heads in fed.items() if len(heads) > 1 and ids[u] in node_by_id}
        for u, node in copied.items():
            node.tooltip += f"; drawn beside each of the {len(fed[u])} {'boxes' if group is not None else 'loop steps'} it feeds"
    magnitudes: list[float] = []
    box_edges: dict[tuple[int, str], SceneEdge] = {}  # collapsed: one edge per (node, box), gradients summed
    box_sums: dict[tuple[int, str], float] = {}
    for v in shown:
        args = graph.args[v]
        if not args:
            continue
        local = local_derivatives(graph, ev.values, v) if ev is not None else None
        for k, u in enumerate(args):
            if u not in keep:
                continue
            tail = group[u][0] if group is not None and u in group else ids[u]
            head = group[v][0] if group is not None and v in group else ids[v]
            if tail == head:
                continue  # inside one collapsed box
            unit = unit_of(v) if u in copied else None
            if unit is not None and unit != next(iter(fed[u])):
                tail = f"{ids[u]}__{unit}"
                if tail not in copies_made:
                    copies_made.add(tail)
                    original = copied[u]
                    scene.nodes.append(SceneNode(tail, original.kind, original.title, tooltip=original.tooltip))
            merged = group is not None and (u, head) in box_edges
            edge = box_edges[(u, head)] if merged else SceneEdge(tail, head)
            if group is not None:
                box_edges[(u, head)] = edge
            if show_values and values_known(u):
                edge.value = number(ev_values[u], p)
            if local is not None and grads_known(v) and not graph.is_literal(u):  # no one asks d out/d 2
                contribution = ev_grads[v] * local[k]
                if merged:  # several uses inside one box: the edge carries their sum; no single local
                    contribution += box_sums[(u, head)]
                    edge.local = None
                elif show_local:
                    edge.local = number(local[k], p)
                if group is not None:
                    box_sums[(u, head)] = contribution
                if show_grads:
                    edge.grad = number(contribution, p)
                if options.heat:
                    edge.heat = contribution  # normalised below
                    magnitudes.append(abs(contribution))
            if not merged:
                scene.edges.append(edge)

    if out in keep:  # the output's own edge, to the right: its value and d out/d out = 1
        sink = SceneNode("output", "sink", "")
        scene.nodes.append(sink)
        tail = group[out][0] if group is not None and out in group else ids[out]
        edge = SceneEdge(tail, sink.id, label_name=ev.output_name if ev is not None else graph.output_name)
        if show_values and values_known(out):
            edge.value = number(ev_values[out], p)
        if show_grads and grads_known(out):
            edge.grad = "1"
        scene.edges.append(edge)

    if options.heat:
        _normalise_heat(scene.edges, magnitudes)
    recurrent = recurrent_loops(scene)
    loosen_shared_feeds(scene, recurrent)
    # After the drawn edges, so that those keep their positions (Mermaid styles edges by index).
    scene.edges += [SceneEdge(a, b, invisible=True) for a, b in iteration_order(scene, recurrent)]
    return scene


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
    members: dict[tuple[Tag, ...], list[str]] = {}  # each loop iteration -> its nodes, nested ones too
    for node in scene.nodes:
        path = path_of[node.id]
        for depth in range(1, len(path) + 1):
            if path[depth - 1].kind == "loop":
                members.setdefault(path[:depth], []).append(node.id)
    loops: dict[tuple, list[tuple[Tag, ...]]] = {}  # one loop statement in one place -> its iterations, in tape order
    for path in members:
        loops.setdefault(_loop_key(path), []).append(path)
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
            if len(last) * len(first) > MAX_ORDER_PAIRS:  # every last node before one first node, and one last before all first
                order += [(a, first[0]) for a in last] + [(last[-1], b) for b in first[1:]]
            else:
                order += [(a, b) for a in last for b in first]
    return order


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


def _innermost_iteration(tags: tuple[Tag, ...]) -> tuple[Tag, ...]:
    """The calls and iterations down to the innermost loop iteration; () outside loops."""
    for depth in range(len(tags), 0, -1):
        if tags[depth - 1].kind == "loop":
            return tags[:depth]
    return ()


def _groups(graph: Graph, shown: list[int]) -> dict[int, tuple[str, Tag]]:
    """--collapse: each node built in a function call or loop iteration goes into the box
    of its outermost one."""
    group = {}
    for i in shown:
        tags = graph.tags[i]
        if tags:
            group[i] = ("box" + style.cluster_id(tags[:1])[len("cluster"):], tags[0])
    return group


def _normalise_heat(edges: list[SceneEdge], magnitudes: list[float]) -> None:
    logs = [math.log10(m) for m in magnitudes if m > 0 and math.isfinite(m)]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 0.0)
    for edge in edges:
        if edge.heat is None:
            continue
        m = abs(edge.heat)
        if not math.isfinite(m):
            edge.heat = 1.0
        elif m == 0:
            edge.heat = 0.0
        else:
            edge.heat = 0.5 if hi == lo else (math.log10(m) - lo) / (hi - lo)
