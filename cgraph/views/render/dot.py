"""Scene -> graphviz.Digraph (DOT). Every label is an HTML-like label built from escaped text."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterator

import graphviz

from ...ir.graph import Tag
from ...ops import CONST, INPUT, INPUT_KINDS
from .scene import Scene, SceneEdge, SceneNode
from .heat import heat_color, legend_html
from .style import THEMES, cluster_id, esc

if TYPE_CHECKING:
    from .placement import Placement

FONT = "Helvetica"
ORDER_WEIGHT = 1000  # the invisible edges that keep loop iterations in order (see to_digraph)
INLINE_EDGE_LABELS = 150  # more edges than this: labels placed after layout (see to_digraph)


def to_digraph(scene: Scene, placed: Placement | None = None) -> graphviz.Digraph:
    """The scene as DOT; `placed`: the positions of a layout made before (a frame of
    --frames), for `neato -n2` to draw it at them."""
    theme = THEMES[scene.options.theme]
    dot = graphviz.Digraph(
        "cgraph",
        graph_attr={
            "rankdir": scene.options.rankdir, "bgcolor": theme["bg"], "fontname": FONT, "fontcolor": theme["fg"],
            "ordering": "in",  # a node's arguments in order: x^2 draws x above 2
            "nodesep": "0.3", "ranksep": "0.55", "labelloc": "b", "fontsize": "11",
            "label": _graph_label(scene, theme),
        },
        node_attr={"fontname": FONT, "fontcolor": theme["fg"], "color": theme["edge"], "fontsize": "12"},
        edge_attr={"fontname": FONT, "fontsize": "10", "color": theme["edge"], "arrowsize": "0.6"},
    )
    backward = any(node.gradient for node in scene.nodes)
    # With the gradient graph, the forward graph goes in an invisible box of its own: with
    # two boxes, dot keeps the passes apart (one above the other) instead of interleaving them.
    root = graphviz.Digraph(name="cluster_forward", graph_attr={"style": "invis"}) if backward else dot
    bodies = _cluster_bodies(scene, theme)
    if placed is not None:
        dot.graph_attr.update(placed.graph)
        for path, body in bodies.items():
            body.graph_attr.update(placed.clusters.get(cluster_id(path), {}))
    column = _first_column(scene)
    relays = _relays(scene, column)
    _add_nodes(root, bodies, scene, theme, column)
    _add_relays(root, bodies, scene, relays)
    if column and scene.clusters:
        # the wires from the column and the labelled last stretches share the ranks by the
        # boxes: at 0.3 a label of the MLP (LR) sat 2.3 pt nearer a neighbour's stretch than its own
        dot.graph_attr.update(nodesep="0.4")
    # Clusters: built innermost first, since a subgraph is copied into its parent.
    for path in sorted(bodies, key=len, reverse=True):
        parent = bodies[path[:-1]] if len(path) > 1 else root
        parent.subgraph(bodies[path])
    if backward:
        dot.subgraph(root)
        _add_gradient_nodes(dot, scene, theme)
    _add_edges(dot, scene, theme, relays, placed)
    if placed is not None:  # a node statement again only adds attributes: the node stays in its cluster
        for node_id, attrs in placed.nodes.items():
            dot.node(node_id, **attrs)
    return dot


def _graph_label(scene: Scene, theme: dict[str, str]) -> str:
    """Under the diagram: a frame's caption or the legend of --backward, and --heat's colour bar."""
    text = scene.caption or scene.legend
    if scene.heat_range is None:
        return esc(text)
    bar = legend_html(scene.heat_range, scene.options.heat_scale, theme)
    above = f"<tr><td>{esc(text)}</td></tr>" if text else ""
    return f'<<table border="0" cellspacing="2">{above}<tr><td>{bar}</td></tr></table>>'


def _cluster_bodies(scene: Scene, theme: dict[str, str]) -> dict[tuple[Tag, ...], graphviz.Digraph]:
    """One empty subgraph per cluster, filled with its nodes before being nested in its parent."""
    bodies: dict[tuple[Tag, ...], graphviz.Digraph] = {}
    for path, label in scene.clusters.items():
        bodies[path] = graphviz.Digraph(
            name=cluster_id(path),
            graph_attr={
                "label": esc(label), "style": "rounded,filled", "fillcolor": theme["cluster"],
                "color": theme["cluster_border"], "fontcolor": theme["fg"], "labeljust": "l", "fontsize": "10",
                # at the top: at the bottom (the graph's labelloc) an input's long edge beside it put its numbers on it
                "labelloc": "t",
            },
        )
    return bodies


def _first_column(scene: Scene) -> list[SceneNode]:
    """The inputs and params drawn in the first column (on the left), as in the tutorial's
    figures, loops and calls or not (a rank=min subgraph of nodes outside every cluster
    needs no newrank, which would make layout 100x slower); none when collapsed, nor on a
    large diagram: there a shared input is drawn beside each box or step it feeds, keeping
    edges short."""
    leaves = [node for node in scene.nodes if node.kind in INPUT_KINDS and not node.cluster]
    drawn = sum(not edge.invisible for edge in scene.edges)
    in_column = len(leaves) > 1 and not scene.options.collapse and drawn <= INLINE_EDGE_LABELS
    return leaves if in_column else []


def _add_nodes(dot: graphviz.Digraph, bodies: dict[tuple[Tag, ...], graphviz.Digraph], scene: Scene,
               theme: dict[str, str], column: list[SceneNode]) -> None:
    apart = {node.id for node in column}
    for node in scene.nodes:
        if node.id in apart or node.gradient:
            continue
        target = bodies[node.cluster] if node.cluster else dot
        target.node(node.id, **_node_attrs(node, theme))
    if column:
        with dot.subgraph(name="inputs", graph_attr={"rank": "min"}) as group:
            for node in column:
                group.node(node.id, **_node_attrs(node, theme))


def _add_gradient_nodes(dot: graphviz.Digraph, scene: Scene, theme: dict[str, str]) -> None:
    """The gradient graph (--backward) in a box of its own, beside the forward graph's."""
    nodes = [node for node in scene.nodes if node.gradient]
    with dot.subgraph(name="cluster_backward", graph_attr={
            "label": "backward pass", "style": "rounded,dashed", "color": theme["gradient_line"],
            "fontcolor": theme["gradient_line"], "labeljust": "r", "fontsize": "10"}) as box:
        for node in nodes:
            box.node(node.id, **_node_attrs(node, theme))


def _add_edges(dot: graphviz.Digraph, scene: Scene, theme: dict[str, str], relays: dict[int, str],
               placed: Placement | None = None) -> None:
    # An edge label is a node in dot's layout: on a large graph, long labelled edges (a
    # shared weight feeding every step) make layout take minutes. There the labels are
    # placed after layout instead (xlabel), which keeps it to seconds. Long edges also keep
    # the network simplex that places nodes within their ranks going for minutes (2 layers
    # of 50 steps: over 120 s); nslimit stops it after 2 passes per node (1 s). The ranks,
    # and so the order of the loop steps, are placed before and are not affected.
    outside = sum(not edge.invisible for edge in scene.edges) > INLINE_EDGE_LABELS
    if outside:
        dot.attr("graph", forcelabels="true", nslimit="2")
    feeds: dict[str, list[str]] = {}
    for k, relay in relays.items():
        feeds.setdefault(scene.edges[k].head, []).append(relay)
    pins = _pins(scene, relays, feeds, placed)
    for k, edge in enumerate(scene.edges):
        if edge.invisible:
            # Iteration k before iteration k+1. Between clusters dot only weighs an edge (breaking
            # it costs ten times its weight per rank), so these must outweigh every edge pulling
            # the other way: a shared weight feeding all n iterations pulls with a force growing as n^2.
            # The relays of iteration k+1 (in its box) are after iteration k too.
            for _, head in _segments(edge, None, feeds):
                dot.edge(edge.tail, head, style="invis", weight=str(ORDER_WEIGHT), **next(pins))
            continue
        attrs = _drawn_edge_attrs(edge, theme, scene.options.rankdir, outside)
        if edge.part:
            _backward_edge(dot, edge, attrs, theme, next(pins))
            continue
        if edge.loose:  # still ranked after its tail, but with no pull (constraint=false draws worse)
            attrs["weight"] = "0"
        _forward_edge(dot, edge, attrs, relays.get(k), pins)


def _pins(scene: Scene, relays: dict[int, str], feeds: dict[str, list[str]],
          placed: Placement | None) -> Iterator[dict[str, str]]:
    """The pins of every DOT edge, in the order _add_edges writes them (none: not a frame)."""
    ends = [end for k, edge in enumerate(scene.edges) for end in _segments(edge, relays.get(k), feeds)]
    return iter(placed.edge_pins(ends) if placed is not None else [{} for _ in ends])


def _drawn_edge_attrs(edge: SceneEdge, theme: dict[str, str], rankdir: str, outside: bool) -> dict[str, str]:
    """An edge's attributes: its label with a margin (after layout, if `outside`), its operand's mark."""
    attrs = _edge_attrs(edge, theme)
    if edge.dom_id:
        attrs["id"] = edge.dom_id
    if "label" in attrs:
        attrs["label"] = _with_margin(attrs["label"])
    if outside and "label" in attrs:
        attrs["xlabel"] = attrs.pop("label")
    if edge.operand:
        attrs.update(_operand_attrs(edge, rankdir, theme))
    return attrs


def _forward_edge(dot: graphviz.Digraph, edge: SceneEdge, attrs: dict[str, str], relay: str | None,
                  pins: Iterator[dict[str, str]]) -> None:
    """An edge of the forward graph; through its relay, if it has one (see _relays): the
    bare wire from the tail, then the labelled last stretch, joined at the relay's centre."""
    tail = edge.tail
    if relay is not None:
        wire: dict[str, str] = {key: attrs[key] for key in ("color", "penwidth", "weight") if key in attrs}
        if "id" in attrs:  # a page finds the stretch by its edge's id too (its heat colour)
            wire["id"] = attrs["id"] + "-wire"
        dot.edge(tail, relay, arrowhead="none", headclip="false", **wire, **next(pins))
        # the stretch pulls hard, so that it is one rank long: the relay just before the head
        attrs.update(tailclip="false", weight=RELAY_WEIGHT)
        tail = relay
    dot.edge(tail, edge.head, **attrs, **next(pins))


# A point an edge from the first column passes through, on the rank just before its head.
RELAY_WEIGHT = "10"
RELAY = {"shape": "point", "style": "invis", "width": "0.01", "height": "0.01", "label": ""}


def _relays(scene: Scene, column: list[SceneNode]) -> dict[int, str]:
    """The edges from the first column that are drawn through a relay point (scene edge
    index -> the point's id), when there are clusters. From one column, a shared weight's
    edges fan out to every step and cross the other inputs' edges; dot puts an edge's label
    halfway along it, so the crossings ran through labels, and a long edge's numbers sat
    far from the node they feed. Drawn in two stretches, tail -> relay -> head, the wires
    cross bare in the gap after the column, and each label sits in the last gap, next to
    its node, as a short edge's does. A literal used twice (the 1 of 1 - p and 1 - label)
    fans out the same way and is drawn so too. Without clusters (or without the column)
    the edges are short and stay as they were."""
    if not scene.clusters or not column:
        return {}
    ids = {node.id for node in column}
    uses = Counter(edge.tail for edge in scene.edges if not edge.invisible)
    ids |= {node.id for node in scene.nodes if node.kind == CONST and not node.cluster and uses[node.id] > 1}
    return {k: f"via{k}_{edge.head}" for k, edge in enumerate(scene.edges)
            if edge.tail in ids and not edge.invisible and not edge.part}


def _add_relays(dot: graphviz.Digraph, bodies: dict[tuple[Tag, ...], graphviz.Digraph], scene: Scene,
                relays: dict[int, str]) -> None:
    """Each relay point in the box of the node it leads to: dot keeps other edges out of a
    cluster they do not enter, so no wire crosses the label's last stretch there."""
    cluster = {node.id: node.cluster for node in scene.nodes}
    for k, relay in relays.items():
        where = cluster.get(scene.edges[k].head)
        (bodies[where] if where else dot).node(relay, **RELAY)


def _segments(edge: SceneEdge, relay: str | None, feeds: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The (tail, head) of each DOT edge a scene edge is drawn as, in the order written
    (`feeds`: the relays before each head)."""
    if edge.invisible:  # before the head, and before the relays leading to it
        return [(edge.tail, edge.head)] + [(edge.tail, relay) for relay in feeds.get(edge.head, [])]
    if edge.part and edge.part != "reuse":  # written reversed (_backward_edge)
        return [(edge.head, edge.tail)]
    return [(edge.tail, edge.head)] if relay is None else [(edge.tail, relay), (relay, edge.head)]


def label_ends(scene: Scene) -> list[tuple[str, str]]:
    """Per scene edge, the (tail, head) of the DOT edge that carries its label."""
    relays = _relays(scene, _first_column(scene))
    return [_segments(edge, relays.get(k), {})[-1] for k, edge in enumerate(scene.edges)]


def _backward_edge(dot: graphviz.Digraph, edge: SceneEdge, attrs: dict[str, str], theme: dict[str, str],
                   pinned: dict[str, str]) -> None:
    """An edge of the gradient graph (--backward). Between gradient nodes it is written from
    head to tail and drawn with its arrow reversed, so the layout puts a consumer before its
    arguments: the backward pass reads right to left under the forward pass. An edge that
    brings a forward value is dashed, and is left to run forward, from the value to its use."""
    attrs.update({"class": edge.part, "color": theme["gradient_line"]})
    if edge.part == "reuse":
        dot.edge(edge.tail, edge.head, style="dashed", **attrs, **pinned)
    else:  # written reversed: the operand's mark goes at DOT's tail end, our head
        attrs.update({key.replace("head", "tail"): value for key, value in attrs.items() if key.startswith("head")})
        for key in [key for key in attrs if key.startswith("head")]:
            del attrs[key]
        dot.edge(edge.head, edge.tail, dir="back", **attrs, **pinned)


def _node_attrs(node: SceneNode, theme: dict[str, str]) -> dict[str, str]:
    total = _total_line(node, theme)
    total += _gradient_lines(node, theme)
    attrs = {"tooltip": _tooltip(node.tooltip)}
    if node.dom_id:
        attrs["id"] = node.dom_id
    if node.gradient and node.kind != "sink":
        return _gradient_node_attrs(node, theme, total, attrs)
    if node.kind == "op":
        name = f'<br/><font point-size="9">{esc(node.name)}</font>' if node.name else ""
        attrs.update(
            label=f"<<b>{esc(node.title)}</b>{name}{total}>",
            shape="circle" if not (name or total) and len(node.title) <= 2 else "ellipse",
            style="filled", fillcolor=theme["op_fill"], margin="0.04",
        )
    elif node.kind in INPUT_KINDS:
        color = theme["leaf"] if node.kind == INPUT else theme["param"]
        attrs.update(label=f'<<font color="{color}"><b>{esc(node.title)}</b></font>{total}>', shape="plaintext")
    elif node.kind == CONST:
        attrs.update(label=f"<{esc(node.title)}{total}>", shape="plaintext", fontcolor=theme["faint"] if not total else theme["fg"])
    elif node.kind == "box":
        attrs.update(label=f"<{esc(node.title)}>", shape="box", style="rounded,filled", fillcolor=theme["cluster"])
    else:  # the sink the output's edge points to
        attrs.update(label="", shape="point", width="0.05", color=theme["bg"])
    if node.highlight:
        attrs.update(style="filled", fillcolor=theme["highlight"], penwidth="2")
    return attrs


TOOLTIP_CHARS = 2000  # Graphviz refuses a quoted string over 16,384 bytes (a character is up to 4)


def _tooltip(text: str) -> str:
    """A tooltip cut to TOOLTIP_CHARS: `name = expression` with a 10,000-character name failed Graphviz."""
    return (text if len(text) <= TOOLTIP_CHARS else text[:TOOLTIP_CHARS - 1] + "\u2026").replace("\\", "\\\\")


def _total_line(node: SceneNode, theme: dict[str, str]) -> str:
    """A shared node's accumulated gradient, Σ; "" (a frame before it is known) keeps its
    line blank, so that the node's title stays where the whole diagram has it."""
    if node.total_grad is None:
        return ""
    shown = f"&#931; {esc(node.total_grad)}" if node.total_grad else " "
    return f'<br/><font color="{theme["grad"]}" point-size="10">{shown}</font>'


def _gradient_lines(node: SceneNode, theme: dict[str, str]) -> str:
    """A gradient node's value (a gradient: in the gradients' colour), and the gradients a
    forward node also is, in the gradient graph's."""
    lines = ""
    if node.value is not None:
        lines += f'<br/><font color="{theme["grad"]}" point-size="10">{esc(node.value)}</font>'
    if node.also:
        lines += f'<br/><font color="{theme["gradient_line"]}" point-size="9">{esc(node.also)}</font>'
    return lines


def _gradient_node_attrs(node: SceneNode, theme: dict[str, str], total: str, attrs: dict[str, str]) -> dict[str, str]:
    """A node of the gradient graph: an operation filled purple, a number in purple type."""
    name = f'<br/><font point-size="9">{esc(node.name)}</font>' if node.name else ""
    attrs["class"] = "gradient"
    if node.kind == "op":
        attrs.update(
            label=f"<<b>{esc(node.title)}</b>{name}{total}>",
            shape="circle" if not (name or total) and len(node.title) <= 2 else "ellipse",
            style="filled", fillcolor=theme["gradient_fill"], color=theme["gradient_line"], margin="0.04",
        )
    else:  # a number: a rule's literal, a named constant gradient (the seed, a 0)
        attrs.update(label=f"<{esc(node.title)}{name}{total}>", shape="plaintext", fontcolor=theme["gradient_line"])
    return attrs


def _edge_attrs(edge: SceneEdge, theme: dict[str, str]) -> dict[str, str]:
    lines = []
    held = edge.held  # numbers a frame does not show yet: there, but in no colour
    if edge.value is not None:
        prefix = f"{esc(edge.label_name)} = " if edge.label_name else ""
        # a gradient graph's output is a gradient: its value in the gradients' colour
        color = "transparent" if "value" in held else theme["grad"] if edge.part else theme["value"]
        lines.append(f'<font color="{color}">{prefix}{esc(edge.value)}</font>')
    elif edge.label_name and edge.part:  # a gradient graph's output, named in the gradient graph's colour
        lines.append(f'<font color="{theme["gradient_line"]}">{esc(edge.label_name)}</font>')
    elif edge.label_name:
        lines.append(esc(edge.label_name))
    if edge.grad is not None:
        lines.append(f'<font color="{"transparent" if "grad" in held else theme["grad"]}">{esc(edge.grad)}</font>')
    if edge.local is not None:
        color = "transparent" if "local" in held else theme["local"]
        lines.append(f'<font color="{color}" point-size="9">local {esc(edge.local)}</font>')
    attrs = {"label": f"<{'<br/>'.join(lines)}>"} if lines else {}
    if edge.heat is not None:
        attrs.update(color=heat_color(edge.heat, theme), penwidth=f"{1 + 2.5 * edge.heat:.2f}")
    return attrs


# Where an operand's edge enters its node: in the order of the arguments, top to bottom
# (LR) or left to right (TB), on the side the arguments come from (first, middle, last).
# A port also makes dot order the operands' tails so (its mincross weighs port
# positions), where `ordering=in` alone is overruled by clusters and long edges.
OPERAND_PORTS = {"LR": ("nw", "w", "sw"), "TB": ("nw", "n", "ne")}
# The gradient graph's own edges run backwards (a node before its arguments), so its
# gradient arguments come from the other side.
REVERSED_OPERAND_PORTS = {"LR": ("ne", "e", "se"), "TB": ("sw", "s", "se")}


def _operand_attrs(edge: SceneEdge, rankdir: str, theme: dict[str, str]) -> dict[str, str]:
    """Which argument of a non-commutative op an edge is: a small italic mark (a, b, ...) by
    its head, and a port in the arguments' order. (_backward_edge turns head into tail
    for the edges it writes reversed.)"""
    k, count = edge.operand_at
    reversed_ = edge.part == "gradient"
    # Off the line, on the side away from the other operands: the first one's outside is
    # above it in LR and left of it in TB, which is clockwise of the edge seen from the
    # head for an edge coming from before the node, counterclockwise for one from after.
    outside = 0 if 0 < k < count - 1 else (-1 if k == 0 else 1) * (1 if rankdir == "LR" else -1) * (-1 if reversed_ else 1)
    first, middle, last = (REVERSED_OPERAND_PORTS if reversed_ else OPERAND_PORTS)[rankdir]
    return {"headlabel": f'<<font color="{theme["fg"]}" point-size="9"><i>{esc(edge.operand)}</i></font>>',
            "labeldistance": "1.6", "labelangle": str(40 * outside),
            "headport": first if k == 0 else last if k == count - 1 else middle}


LABEL_MARGIN = 4  # points of clear space around an edge label's text


def _with_margin(label: str) -> str:
    """An edge label with clear space around its text. Dot lays a label out as a box that
    its edge runs along, and puts the next edge's box `nodesep` beside it: with no space
    inside the box, the text touches its own edge and, top to bottom, the next label
    reads on from this one ("-0.2699-0.05398") across the edge between them."""
    return (f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="{LABEL_MARGIN}"><tr><td>'
            f"{label[1:-1]}</td></tr></table>>")
