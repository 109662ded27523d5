"""The forward graph and its gradient graph in one diagram (`cgraph render --backward`).

The gradient graph is the program `cgraph grad` writes (transform/grad.py), made by the
caller: views draw graphs, they do not transform them. It holds copies of the forward nodes
it needs, then the nodes of the backward pass: the seed, each contribution
grad(consumer) * local derivative, the sums where a value fans out. Each node is told apart
here (`forward_copies`): a copy is drawn as its node of the forward diagram, which stays as
it is without --backward; every other node is a gradient node, drawn in the gradient colour
with its name (dg_dp for d g/d p) and, with input values, its value. Where a gradient node
takes a value of the forward pass, a dashed edge runs from the forward node: those edges are
what the backward pass keeps of the forward pass (what a framework holds in memory between
the two). Gradient edges are laid out against the reading direction, so the backward pass
runs from the output back to the inputs: forward left to right, backward right to left.

A number in a rule (the 1 of 1 - t^2, the 2 of 2x) is drawn beside each gradient node that
uses it, as it is written in a formula: it is no value the forward pass computed, even where
the transformation shares the literal's node with the forward graph.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

from ...engine.evaluator import Evaluation
from ...ir.graph import Graph
from ...ops import CONST, LEAF_KINDS
from ..node_text import TOOLTIP_TEXT_LIMIT
from ..numbers import number
from . import style
from .scene import DiagramPart, Options, Scene, SceneEdge, SceneNode, _SceneBuilder, build_scene

PREFIX = "bw_"  # gradient nodes' ids: never an id of the forward drawing (those start v_, k_, an op, box, output)
MAX_NAMES_SHOWN = 3  # gradient names on a forward node's drawing


def backward_scene(graph: Graph, ev: Evaluation | None, gradient: Graph, values: Sequence[float] | None,
                   options: Options, *, simplified: bool = True) -> Scene:
    """The forward diagram of `graph` (as without --backward) with the gradient graph
    `gradient` drawn beside it; `values` are the gradient graph's node values (its forward
    pass on the same inputs), or None for the structure alone."""
    part = _GradientPart(graph, gradient, values, options.precision, bool({"values", "grads"} & options.annotate))
    scene = build_scene(graph, ev, options, more=part)
    output_name = ev.output_name if ev is not None else graph.output_name
    scene.legend = _legend(output_name, part.nodes, simplified)
    return scene


def forward_copies(graph: Graph, gradient: Graph) -> list[int]:
    """Each node of `gradient` -> the node of `graph` it is a copy of, or -1 for a node of
    the backward pass. The transformation copies the forward nodes it keeps first, in tape
    order, with their op, value, names and arguments (renumbered where it dropped dead
    nodes), and appends its own after them, sharing a forward node rather than writing an
    equal one. So a node is a copy when its op, value, forward name and (mapped) arguments
    are those of a forward node not matched yet, the earliest such: equal forward nodes
    match their copies in order. (The pass may name a forward node as a gradient too, z as
    dg_dp, even one the program left unnamed: only the program's own names are compared.)"""
    names = frozenset(graph.names)
    waiting: dict[tuple, deque[int]] = {}
    for j in range(len(graph)):
        waiting.setdefault(_key(graph, j, graph.args[j], names), deque()).append(j)
    origin = [-1] * len(gradient)
    for i in range(len(gradient)):
        args = tuple(origin[a] for a in gradient.args[i])
        if -1 in args:  # built on a gradient node: a gradient node itself
            continue
        queue = waiting.get(_key(gradient, i, args, names))
        if queue:
            origin[i] = queue.popleft()
    return origin


def _key(graph: Graph, i: int, args: tuple[int, ...], forward_names: frozenset[str]) -> tuple:
    value = graph.values[i]
    name = next((n for n in graph.node_names.get(i, ()) if n in forward_names), None)
    # float.hex: the exact bits (0.0 and -0.0 differ, and nan equals itself, as a key must)
    return graph.ops[i], None if value is None else value.hex(), name, args


def _legend(output_name: str, count: int, simplified: bool) -> str:
    how = "simplified" if simplified else "raw, as the transformation writes it"
    if count == 0:
        return (f"purple: the gradient graph of {output_name} ({how}) has no node of its own: "
                "each derivative is a forward value, named on it")
    return (f"purple: the gradient graph of {output_name} ({how}), {count} node{'s' if count != 1 else ''}: "
            "the backward pass; dashed: the forward values it reuses")


class _GradientPart(DiagramPart):
    """The gradient graph's nodes and edges, drawn once the forward scene is."""

    def __init__(self, graph: Graph, gradient: Graph, values: Sequence[float] | None, precision: int,
                 show_values: bool) -> None:
        self.graph, self.gradient, self.p = graph, gradient, precision
        self.values = values if values is not None and show_values else None
        self.origin = forward_copies(graph, gradient)
        self.nodes = sum(o < 0 and not gradient.is_literal(i) for i, o in enumerate(self.origin))
        self.ids = style.node_ids(gradient)
        self.marked: set[int] = set()  # forward nodes that carry their gradient names
        self.numbers: set[str] = set()  # the literals drawn so far

    def draw(self, builder: _SceneBuilder) -> None:
        self.builder, self.scene = builder, builder.scene
        gradient, origin = self.gradient, self.origin
        for i in range(len(gradient)):
            if origin[i] >= 0:
                self._mark_shared(i)
            elif not gradient.is_literal(i):
                self._add_node(i)
        for i in range(len(gradient)):
            if origin[i] < 0 and not gradient.is_literal(i):
                self._add_edges(i)
        self._add_outputs()

    def drawn_id(self, i: int) -> str:
        """Gradient node i's drawing, or the forward node's that it is a copy of."""
        o = self.origin[i]
        return self.builder.drawn_id(o) if o >= 0 else PREFIX + self.ids[i]

    def _gradient_names(self, i: int) -> list[str]:
        forward_names = set(self.graph.node_names.get(self.origin[i], ())) if self.origin[i] >= 0 else set()
        return [n for n in self.gradient.node_names.get(i, ()) if n not in forward_names]

    def _mark_shared(self, i: int) -> None:
        """A forward node that is also a gradient (shared: d g/d p of g = p * z is z itself)
        says so on its drawing, `= dg_dp`, an output's name too: its value is on its edges."""
        names = self._gradient_names(i)
        node = self.builder.node_by_id.get(self.drawn_id(i))
        if names and node is not None:
            # a few names on the drawing (a second derivative can give a node a dozen), all in its tooltip
            shown = names if len(names) <= MAX_NAMES_SHOWN else names[:MAX_NAMES_SHOWN - 1]
            node.also = "= " + " = ".join(shown) + (f" (+{len(names) - len(shown)} more)" if len(shown) < len(names) else "")
            node.tooltip += "; also " + " = ".join(names)
            self.marked.add(i)

    def _add_node(self, i: int) -> None:
        gradient = self.gradient
        op = gradient.ops[i]
        names = self._gradient_names(i)
        node = SceneNode(self.drawn_id(i), "op" if op not in LEAF_KINDS else op, "", gradient=True)
        node.title = number(gradient.values[i] or 0.0, self.p) if op == CONST else style.symbol(op)
        node.name = names[0] if names else None
        if self.values is not None and op != CONST:  # a constant's value is its title
            node.value = number(self.values[i], self.p)
        line, _ = gradient.line_col(i)
        about = f"in the backward pass of '{gradient.clipped_line_text(i, TOOLTIP_TEXT_LIMIT)}' (line {line})"
        node.tooltip = f"{' = '.join(names) + ': ' if names else ''}{about}"
        self.scene.nodes.append(node)

    def _add_edges(self, v: int) -> None:
        """Node v's arguments: gradient nodes, forward values (dashed), numbers beside it."""
        gradient, head = self.gradient, self.drawn_id(v)
        marks = style.operand_marks(gradient.ops[v], len(gradient.args[v]))
        for k, u in enumerate(gradient.args[v]):
            if gradient.is_literal(u):
                edge = SceneEdge(self._literal_beside(u, head), head, part="gradient")
            elif self.origin[u] >= 0:
                edge = SceneEdge(self.drawn_id(u), head, part="reuse")
            else:
                edge = SceneEdge(self.drawn_id(u), head, part="gradient")
            edge.operand, edge.operand_at = marks[k], (k, len(marks))  # which operand of a - b, a / b
            self.scene.edges.append(edge)

    def _literal_beside(self, u: int, head: str) -> str:
        """The drawing of literal u beside gradient node `head` (one per node using it)."""
        node_id = f"{PREFIX}{self.ids[u]}__{head}"
        if node_id not in self.numbers:
            self.numbers.add(node_id)
            title = number(self.gradient.values[u] or 0.0, self.p)
            self.scene.nodes.append(SceneNode(node_id, CONST, title, gradient=True, tooltip=f"the number {title}"))
        return node_id

    def _add_outputs(self) -> None:
        """Each derivative the gradient graph outputs, marked by its own edge with its value."""
        gradient = self.gradient
        for k, (node, name) in enumerate(zip(gradient.outputs, gradient.output_names)):
            if node in self.marked:
                continue
            sink = SceneNode(f"{PREFIX}output__{k + 1}", "sink", "", gradient=True)
            self.scene.nodes.append(sink)
            # (a forward value in a collapsed box: a dashed edge, as any forward value the pass uses)
            edge = SceneEdge(self.drawn_id(node), sink.id, label_name=name,
                             part="reuse" if self.origin[node] >= 0 else "gradient")
            if self.values is not None:
                edge.value = number(self.values[node], self.p)
            self.scene.edges.append(edge)
