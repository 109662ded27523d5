"""The passes step by step (`render --frames`): one scene per step of the forward pass,
then one per step of the backward pass, the node just done highlighted, each with its
caption; and, for images, all of them drawn at one layout (placement.py), so that
nothing moves from one slide to the next but the highlight and the numbers."""

from __future__ import annotations

from typing import Callable, Iterator

from ...engine.evaluator import Evaluation
from ...ir.graph import Graph
from ...ops import LEAF_KINDS
from ..node_text import node_label
from ..numbers import number
from .placement import Placement, placement_from_json
from .scene import Frame, Options, Scene, SceneEdge, build_scene, drawn_units
from .style import esc

Unit = tuple[str | None, int, int]  # (a collapsed box's label or None, first node, last node)
RunDot = Callable[[str, str], bytes]  # (DOT text, output format) -> Graphviz's output


def frame_scenes(graph: Graph, evaluation: Evaluation, o: Options) -> list[tuple[str, Scene]]:
    """Each frame's file label (`3-forward`) and scene, in order."""
    return list(iter_frame_scenes(graph, evaluation, o))


def iter_frame_scenes(graph: Graph, evaluation: Evaluation, o: Options) -> Iterator[tuple[str, Scene]]:
    """frame_scenes one at a time: a frame is the whole diagram, there is a frame per
    node, and the text formats write each as it comes (a list of them all grew as the
    square of the graph: 200 loop steps held 2.4 GB)."""
    forward_units, backward_units = frame_units(graph, o, evaluation.output)
    steps, back_steps = len(forward_units), len(backward_units)
    width = len(str(steps + back_steps))
    n = len(graph)
    # One heat scale for the whole sequence: a frame that knows a few gradients would
    # otherwise spread those over all the colours, and a colour would change meaning.
    whole = build_scene(graph, evaluation, o).heat_range if o.heat else None
    for k, (label, first, last) in enumerate(forward_units):
        s = build_scene(graph, evaluation, o, Frame(values_upto=last + 1, grads_from=n + 1, current=last,
                                                    phase="forward", heat_range=whole))
        where, what = _step_label(graph, last, label)
        s.caption = f"forward pass, step {k + 1} of {steps}: {where}{what} = {number(evaluation.values[last], o.precision)}"
        yield f"{k + 1:0{width}d}-forward", s
    for k, (label, first, last) in enumerate(backward_units):
        s = build_scene(graph, evaluation, o, Frame(values_upto=n, grads_from=first, current=first,
                                                    phase="backward", heat_range=whole))
        # A collapsed box is spoken of by its last node, the value it hands on (its
        # forward caption's number): the gradient on its outgoing edge, not the gradient of
        # the first node inside it, which the backward step reaches last.
        node = first if label is None else last
        where, what = _step_label(graph, node, label)
        s.caption = (
            f"backward pass, step {k + 1} of {back_steps}: {where}d{evaluation.output_name}/{_d(what)} = "
            f"{number(evaluation.grads[node], o.precision)}"
        )
        yield f"{steps + k + 1:0{width}d}-backward", s


def frame_units(graph: Graph, o: Options, output: int) -> tuple[list[Unit], list[Unit]]:
    """The units the forward frames step over, in tape order, and the backward ones, output
    first: the steps `explain` takes. The forward pass computes operations (the inputs,
    params and constants are given, so their values appear with the first step using them);
    the backward pass reaches every node but a literal, a number written in the file, which
    has no gradient. Nodes the output does not depend on take no step."""
    needed = graph.upstream(output)
    units = [u for u in drawn_units(graph, o, output) if u[0] is not None or needed[u[1]]]
    forward = [u for u in units if u[0] is not None or graph.ops[u[1]] not in LEAF_KINDS]
    backward = [u for u in reversed(units) if u[0] is not None or not graph.is_literal(u[1])]
    return forward, backward


def _d(what: str) -> str:
    """d(what), with no second pair of parentheses around a text that has its own."""
    return f"d{what}" if what.startswith("(") and what.endswith(")") else f"d({what})"


def _step_label(graph: Graph, i: int, box: str | None) -> tuple[str, str]:
    """How a frame's caption names its node, as `explain` does: its loop iterations and
    calls (`[t = 4] `, or nothing), and its name or its expression with that iteration's
    indices (`w * h[3]`); a collapsed box by its label alone."""
    if box is not None:
        return "", box
    where = ", ".join(str(t) for t in graph.tags[i])
    return (f"[{where}] " if where else ""), node_label(graph, i)


# --- one layout for all the frames ---------------------------------------------------------


def frame_sources(graph: Graph, evaluation: Evaluation, o: Options, frames: list[tuple[str, Scene]],
                  run_dot: RunDot) -> list[tuple[str, str]]:
    """Each frame's DOT text with every position pinned, for `neato -n2`: the positions
    of one `dot` layout of the whole diagram (every number known, so every label as wide
    as in any frame) captioned with the widest caption of the sequence."""
    from .dot import label_ends, to_digraph  # graphviz's module: imported when a diagram is drawn, not at start-up

    whole = build_scene(graph, evaluation, o)
    whole.caption = _widest([s.caption for _, s in frames], run_dot)
    placed = placement_from_json(run_dot(to_digraph(whole).source, "json"))
    full = [_label_lines(e) for e in whole.edges]
    sums = {n.id for n in whole.nodes if n.total_grad is not None}
    out = []
    for label, s in frames:  # a frame has the whole diagram's edges, in its order
        for node in s.nodes:  # a Σ not known yet: its line kept, blank (dot.py), the title in place
            if node.id in sums and node.total_grad is None:
                node.total_grad = ""
        for e, w in zip(s.edges, whole.edges):
            _hold_lines(e, w)
        ends = label_ends(s)  # an edge from the first column may be drawn in two stretches
        missing = [f - _label_lines(e) for f, e in zip(full, s.edges)]
        out.append((label, to_digraph(s, placed.with_fewer_lines(ends, missing)).source))
    return out


def _hold_lines(edge: SceneEdge, whole: SceneEdge) -> None:
    """Give a frame's edge label each number it does not show yet, held (drawn in no
    colour): the label then has the whole diagram's lines and widths, so its padded box
    has the same size in every frame and its text stays put (a box a line shorter or a
    number narrower is laid out on whole points, which moved the text by half a point)."""
    held = set()
    for part in ("value", "grad", "local"):
        if getattr(edge, part) is None and getattr(whole, part) is not None:
            setattr(edge, part, getattr(whole, part))
            held.add(part)
    edge.held = frozenset(held)


def _label_lines(edge: SceneEdge) -> int:
    """How many lines an edge's label has (as dot.py writes it): its value or name, its
    gradient, its local derivative. A frame lacks the last ones until they are known."""
    return (edge.value is not None or bool(edge.label_name)) + (edge.grad is not None) + (edge.local is not None)


def _widest(captions: list[str], run_dot: RunDot) -> str:
    """The caption Graphviz draws widest (in the diagrams' caption font), measured by
    Graphviz itself: character counts would misjudge a proportional font."""
    if len(captions) <= 1:
        return captions[0] if captions else ""
    import graphviz

    from .dot import FONT

    probe = graphviz.Digraph(node_attr={"shape": "plaintext", "fontname": FONT, "fontsize": "11", "margin": "0"})
    for k, caption in enumerate(captions):
        probe.node(f"c{k}", label=esc(caption))  # as to_digraph writes a caption
    placed = placement_from_json(run_dot(probe.source, "json"))
    widths = [float(placed.nodes[f"c{k}"]["width"]) for k in range(len(captions))]
    return captions[max(range(len(captions)), key=lambda k: (widths[k], -k))]


__all__ = ["Placement", "frame_scenes", "frame_sources", "frame_units"]
