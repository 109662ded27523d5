"""What a diagram shows, whatever its format: nodes, edges with their numbers, clusters.

A `Scene` is computed once from a graph (and an evaluation, if there are values) and
then written as DOT or Mermaid. Every edge u -> v carries u's forward value and the
gradient flowing back along it, d out/d v * d v/d u (for a node with one consumer that
is its whole gradient; a node with several shows their sum, its accumulated gradient).
The order that keeps a loop's iterations in reading order is worked out in layout.py;
what a scene holds is model.py's.
"""

from __future__ import annotations

from ...errors import RenderError
from ...engine.evaluator import Evaluation, local_derivatives
from ...ir.graph import Graph, Tag
from ...ops import LEAF_KINDS
from ..focus import focus_nodes
from ..node_text import node_tooltip
from ..numbers import number
from . import heat, style
from .layout import innermost_iteration, iteration_order, loosen_shared_feeds, recurrent_loops
from .model import DEFAULT_MAX_RENDER_NODES, Frame, Options, Scene, SceneEdge, SceneNode

__all__ = ["DEFAULT_MAX_RENDER_NODES", "Frame", "Options", "Scene", "SceneEdge", "SceneNode", "build_scene",
           "drawn_units", "visible_nodes"]  # the model's classes too: where the views have always found them

SPREAD_SHARED_ABOVE_EDGES = 150  # larger diagrams draw a shared input beside each loop step it feeds


def visible_nodes(graph: Graph, options: Options, output: int | None = None, option: str = "--focus") -> list[int]:
    """The nodes drawn: all of them, or with --focus those on a path from NAME to the output."""
    if options.focus is None:
        return list(range(len(graph)))
    return focus_nodes(graph, options.focus, graph.output if output is None else output, option)


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


def build_scene(graph: Graph, ev: Evaluation | None, options: Options, step: Frame | None = None,
                more: DiagramPart | None = None) -> Scene:
    """The scene of `graph`; `more`, another part drawn beside it (the gradient graph)."""
    builder = _SceneBuilder(graph, ev, options, step, more)
    builder.add_nodes()
    builder.find_copies()
    builder.add_edges()
    builder.add_sink()
    builder.add_more_sinks()
    return builder.finish()


class DiagramPart:
    """Another part of a diagram, drawn beside the graph's own (the gradient graph of
    render --backward): how many nodes it adds, then its drawing, once the graph's is done."""

    nodes: int = 0

    def draw(self, builder: _SceneBuilder) -> None:
        raise NotImplementedError


class _SceneBuilder:
    """Builds one Scene, one concern per method: the nodes (and collapsed boxes), the shared
    leaves drawn beside each box or iteration, the edges with their numbers, the output's
    sink, then heat and loop order. A frame (`step`) limits which numbers are known."""

    def __init__(self, graph: Graph, ev: Evaluation | None, options: Options, step: Frame | None,
                 more: DiagramPart | None = None) -> None:
        self.graph, self.ev, self.options, self.step, self.more = graph, ev, options, step, more
        self.p = options.precision
        self.out = ev.output if ev is not None else graph.output
        self.shown = visible_nodes(graph, options, self.out)
        self.keep = set(self.shown)
        self.group = _groups(graph, self.shown) if options.collapse else None
        self._refuse_if_too_large(more.nodes if more is not None else 0)
        self.ids = style.node_ids(graph)
        self.consumers = [0] * len(graph)
        for i in self.shown:
            for a in graph.args[i]:
                self.consumers[a] += 1
        # Numbers are shown only with an evaluation (show_values, show_grads say so): empty lists otherwise.
        self.ev_values: list[float] = ev.values if ev is not None else []
        self.ev_grads: list[float] = ev.grads if ev is not None else []
        self.show_values = ev is not None and "values" in options.annotate
        self.show_grads = ev is not None and "grads" in options.annotate
        self.show_local = ev is not None and "local" in options.annotate
        self.scene = Scene(options=options)
        self.boxes: dict[str, SceneNode] = {}
        self.node_by_id: dict[str, SceneNode] = {}
        self.spread = self.large = False
        self.copied: dict[int, SceneNode] = {}
        self.copies_made: set[str] = set()
        self.fed: dict[int, dict[str, None]] = {}  # leaf -> the boxes or iterations it feeds, in tape order
        self.literal_heads: dict[int, str] = {}  # a number written in the file -> the first drawing it feeds
        self.magnitudes: list[float] = []
        self.box_edges: dict[tuple[int, str], SceneEdge] = {}  # collapsed: one edge per (node, box), gradients summed
        self.box_sums: dict[tuple[int, str], float] = {}

    def _refuse_if_too_large(self, more: int) -> None:
        """Before any per-node work: a huge graph is refused at once (`more`: the nodes
        another part adds, the gradient graph's)."""
        group, count = self.group, len(self.shown)
        if group is not None:
            count = count - len(group) + len({box for box, _ in group.values()})
        if count + more > self.options.max_render_nodes:
            what = f"{count:,} nodes" if not more else f"{count + more:,} nodes ({more:,} of them the gradient graph's)"
            hint = ("fold function calls and loop iterations into boxes with --collapse, draw a part with "
                    "--focus NAME, or raise --max-render-nodes") if not more else \
                "differentiate with respect to fewer names (--wrt), or raise --max-render-nodes"
            raise RenderError(f"the diagram would have {what}, over the limit of {self.options.max_render_nodes:,}",
                              hint=hint)

    def values_known(self, i: int) -> bool:
        return self.step is None or i < self.step.values_upto

    def grads_known(self, i: int) -> bool:
        return self.step is None or i >= self.step.grads_from

    def _is_current(self, i: int) -> bool:
        return self.step is not None and self.step.current == i

    # --- nodes ---------------------------------------------------------------------------

    def add_nodes(self) -> None:
        for i in self.shown:
            if self.group is not None and i in self.group:
                self._add_to_box(i)
            else:
                self._add_node(i)

    def _add_to_box(self, i: int) -> None:
        """Collapsed: node i is drawn as (part of) the box of its outermost call or iteration."""
        assert self.group is not None
        box_id, tag = self.group[i]
        if box_id not in self.boxes:
            label = style.cluster_label(tag)
            self.boxes[box_id] = SceneNode(box_id, "box", label, tooltip=f"{label}", unit=(tag,))
            self.scene.nodes.append(self.boxes[box_id])
        if self._is_current(i):
            self.boxes[box_id].highlight = True

    def _add_node(self, i: int) -> None:
        graph, op = self.graph, self.graph.ops[i]
        name = graph.name_of(i)
        leaf = op in LEAF_KINDS
        node = SceneNode(self.ids[i], op if leaf else "op", "", cluster=graph.tags[i] if self.group is None else ())
        if graph.is_literal(i):
            node.title = number(graph.values[i] or 0.0, self.p)  # a literal always has its value
        elif leaf:
            node.title = name or graph.text_of(i)
        else:
            node.title = style.symbol(op)
            node.name = name
        node.tooltip = node_tooltip(graph, i)
        if self.show_grads and self.consumers[i] > 1 and self.grads_known(i) and not graph.is_literal(i):
            node.total_grad = number(self.ev_grads[i], self.p)
        node.highlight = self._is_current(i)
        node.index = i
        self.scene.nodes.append(node)
        self.node_by_id[node.id] = node
        for depth in range(1, len(node.cluster) + 1):
            path = node.cluster[:depth]
            self.scene.clusters.setdefault(path, style.cluster_label(path[-1]))

    # --- shared leaves drawn beside each box or iteration --------------------------------

    # Collapsed: an input, param or constant feeding several boxes (a shared weight in every step of
    # an RNN) is drawn once beside each box, as unrolled RNNs are drawn, instead of one node
    # with an edge to every step: those long edges make Graphviz take minutes, or crash.
    # Expanded, the same on a large diagram, beside each loop iteration it feeds: a weight
    # used three times a step over 25 steps took Graphviz 55 s, drawn beside each step 1 s.
    # The node itself (with its accumulated gradient) feeds the first box or iteration, so
    # the Σ sits on a drawing joined to the graph, at the left; the copies feed the later ones.

    def unit_of(self, v: int) -> str | None:
        """The box, or (spread) the innermost loop iteration, that node v is drawn in."""
        if self.group is not None:
            return self.group[v][0] if v in self.group else None
        path = innermost_iteration(self.graph.tags[v]) if self.spread else ()
        if not path:
            return None
        return "box" + style.cluster_id(path)[len("cluster"):]  # copies stay out of clusters: inside, dot misplaces them

    def find_copies(self) -> None:
        graph, keep = self.graph, self.keep
        self.large = sum(u in keep for v in self.shown for u in graph.args[v]) > SPREAD_SHARED_ABOVE_EDGES
        self.spread = self.group is None and self.large
        if self.group is None and not self.spread:
            return
        self._find_feeds()
        ids = self.ids
        self.copied = {u: self.node_by_id[ids[u]] for u, heads in self.fed.items() if len(heads) > 1 and ids[u] in self.node_by_id}
        where = "boxes" if self.group is not None else "loop steps"
        for u, node in self.copied.items():
            node.tooltip += f"; drawn beside each of the {len(self.fed[u])} {where} it feeds"

    def _find_feeds(self) -> None:
        """Each leaf drawn outside every box (or iteration) -> the ones it feeds, in tape order."""
        graph, keep = self.graph, self.keep
        for v in self.shown:
            unit = self.unit_of(v)
            if unit is not None:
                for u in graph.args[v]:
                    if u in keep and self.unit_of(u) is None and graph.ops[u] in LEAF_KINDS:
                        self.fed.setdefault(u, {})[unit] = None

    def _copy_tail(self, u: int, v: int, tail: str) -> str:
        """The tail of u's edge into v: u itself, or its copy beside v's box or iteration.

        In a large diagram a number written in the file (one node for every `0.9` in it) is
        drawn beside each drawing it feeds: one node feeding uses far apart pulls an edge
        across the whole diagram from each, and a 330-step chain's `0.9` had Graphviz run
        for minutes, or crash on its stack."""
        if self.large and u not in self.copied and self.graph.is_literal(u) and tail in self.node_by_id:
            head = self._drawn_id(v)
            if self.literal_heads.setdefault(u, head) == head:
                return tail
            return self._copy_node(f"{tail}__{head}", self.node_by_id[tail])
        unit = self.unit_of(v) if u in self.copied else None
        if unit is None or unit == next(iter(self.fed[u])):
            return tail
        return self._copy_node(f"{self.ids[u]}__{unit}", self.copied[u])

    def _copy_node(self, tail: str, original: SceneNode) -> str:
        if tail not in self.copies_made:
            self.copies_made.add(tail)
            self.scene.nodes.append(SceneNode(tail, original.kind, original.title, tooltip=original.tooltip))
        return tail

    # --- edges and their numbers ---------------------------------------------------------

    def _drawn_id(self, i: int) -> str:
        """Node i's drawing: its collapsed box, or itself."""
        return self.group[i][0] if self.group is not None and i in self.group else self.ids[i]

    def drawn_id(self, i: int) -> str:
        """Node i's drawing, for another part's edges from it (see `DiagramPart`)."""
        return self._drawn_id(i)

    def add_edges(self) -> None:
        graph, keep = self.graph, self.keep
        for v in self.shown:
            args = graph.args[v]
            if not args:
                continue
            local = local_derivatives(graph, self.ev.values, v) if self.ev is not None else None
            marks = style.operand_marks(graph.ops[v], len(args))
            for k, u in enumerate(args):
                if u not in keep:
                    continue
                tail, head = self._drawn_id(u), self._drawn_id(v)
                if tail == head:
                    continue  # inside one collapsed box
                edge = self._add_edge(u, v, self._copy_tail(u, v, tail), head, local[k] if local is not None else None)
                edge.sources.append((u, v, k))
                if marks[k] and head == self.ids[v]:  # (into a collapsed box, not one op's operand)
                    edge.operand, edge.operand_at = marks[k], (k, len(args))

    def _add_edge(self, u: int, v: int, tail: str, head: str, local: float | None) -> SceneEdge:
        """The edge u -> v (drawn tail -> head) with u's value and the gradient along it;
        collapsed, several uses of u in one box share one edge carrying their sum."""
        collapsed = self.group is not None
        merged = collapsed and (u, head) in self.box_edges
        edge = self.box_edges[(u, head)] if merged else SceneEdge(tail, head)
        if collapsed:
            self.box_edges[(u, head)] = edge
        if self.show_values and self.values_known(u):
            edge.value = number(self.ev_values[u], self.p)
        if local is not None and self.grads_known(v) and not self.graph.is_literal(u):  # no one asks d out/d 2
            self._add_gradient(edge, u, v, head, local, merged)
        if not merged:
            self.scene.edges.append(edge)
        return edge

    def _add_gradient(self, edge: SceneEdge, u: int, v: int, head: str, local: float, merged: bool) -> None:
        contribution = self.ev_grads[v] * local
        if merged:  # several uses inside one box: the edge carries their sum; no single local
            # (in a frame of the backward pass, the sum of the uses whose gradient is known yet)
            contribution += self.box_sums.get((u, head), 0.0)
            edge.local = None
        elif self.show_local:
            edge.local = number(local, self.p)
        if self.group is not None:
            self.box_sums[(u, head)] = contribution
        if self.show_grads:
            edge.grad = number(contribution, self.p)
        if self.options.heat:
            edge.heat = contribution  # normalised below
            self.magnitudes.append(abs(contribution))

    # --- the output's sink, then heat and loop order -------------------------------------

    def add_sink(self) -> None:
        """The output's own edge, to the right: its value and d out/d out = 1."""
        out, ev = self.out, self.ev
        if out not in self.keep:
            return
        sink = SceneNode("output", "sink", "")
        self.scene.nodes.append(sink)
        edge = SceneEdge(self._drawn_id(out), sink.id, label_name=ev.output_name if ev is not None else self.graph.output_name,
                         sources=[(out, -1, 0)])
        if self.show_values and self.values_known(out):
            edge.value = number(self.ev_values[out], self.p)
        if self.show_grads and self.grads_known(out):
            edge.grad = "1"
        if self.options.heat and self.ev is not None and self.grads_known(out):  # d out/d out = 1 has a colour too
            edge.heat = 1.0
            self.magnitudes.append(1.0)
        self.scene.edges.append(edge)

    def add_more_sinks(self) -> None:
        """The other outputs (`output a, b`) get an edge to a sink of their own, with their
        name and value; no gradient, since the gradients drawn are the first output's."""
        ev = self.ev
        more = [(node, name) for node, name, _ in ev.more] if ev is not None else \
            list(zip(self.graph.outputs[1:], self.graph.output_names[1:]))
        for k, (node, name) in enumerate(more, start=2):
            if node not in self.keep:
                continue
            sink = SceneNode(f"output_{k}", "sink", "")
            self.scene.nodes.append(sink)
            edge = SceneEdge(self._drawn_id(node), sink.id, label_name=name, sources=[(node, -1, 0)])
            if self.show_values and self.values_known(node):
                edge.value = number(self.ev_values[node], self.p)
            self.scene.edges.append(edge)

    def finish(self) -> Scene:
        scene = self.scene
        if self.options.heat and self.ev is not None:
            given = self.step.heat_range if self.step is not None else None
            scene.heat_range = given or heat.heat_range(self.options.heat_scale, self.magnitudes)
            heat.normalise(scene.edges, scene.heat_range or (0.0, 0.0))
        if self.more is not None:  # before the invisible edges below, which come last
            self.more.draw(self)
        recurrent = recurrent_loops(scene)
        loosen_shared_feeds(scene, recurrent)
        # After the drawn edges, so that those keep their positions (Mermaid styles edges by index).
        scene.edges += [SceneEdge(a, b, invisible=True) for a, b in iteration_order(scene, recurrent)]
        return scene


def _groups(graph: Graph, shown: list[int]) -> dict[int, tuple[str, Tag]]:
    """--collapse: each node built in a function call or loop iteration goes into the box
    of its outermost one."""
    group = {}
    for i in shown:
        tags = graph.tags[i]
        if tags:
            group[i] = ("box" + style.cluster_id(tags[:1])[len("cluster"):], tags[0])
    return group
