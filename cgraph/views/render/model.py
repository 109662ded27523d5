"""What a scene is: the nodes, edges and clusters a diagram shows, and the options and
frame it is drawn with (scene.py builds one from a graph; dot.py and mermaid.py write it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.graph import Tag

DEFAULT_MAX_RENDER_NODES = 2000


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
    heat_scale: str = "relative"  # or absolute: see heat.py


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
    gradient: bool = False  # a node of the gradient graph (--backward), drawn in its own colour
    value: str | None = None  # a gradient node's value, on the node: no forward edge carries it
    also: str | None = None  # a forward node the gradient graph shares as gradients: their names
    index: int = -1  # the graph's node drawn (-1: a box, a copy, a sink), for a page that updates numbers
    dom_id: str = ""  # an `id` for the drawing (DOT, so SVG), given by a page that finds it again


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
    part: str = ""  # --backward: 'gradient' (into a gradient node or output) or 'reuse' (a forward value into one)
    operand: str = ""  # which argument of its head this edge is (a, b, ...), where the order matters (a - b)
    operand_at: tuple[int, int] = (0, 0)  # with an operand mark: (its argument's index, the number of arguments)
    # A frame's numbers not known yet ('value', 'grad', 'local'): drawn in no colour, so the
    # label keeps the size it has in every frame (see frameset._hold_lines).
    held: frozenset[str] = frozenset()
    # The uses the edge stands for, (argument u, consumer v, u's position k among v's
    # arguments): one, or (collapsed) several whose gradients it sums; v is -1 on an
    # output's edge. What a page that recomputes the numbers needs to redraw them.
    sources: list[tuple[int, int, int]] = field(default_factory=list)
    dom_id: str = ""  # an `id` for the drawing (DOT, so SVG), given by a page that finds it again


@dataclass
class Scene:
    nodes: list[SceneNode] = field(default_factory=list)
    edges: list[SceneEdge] = field(default_factory=list)
    clusters: dict[tuple[Tag, ...], str] = field(default_factory=dict)  # path -> label
    options: Options = field(default_factory=Options)
    caption: str = ""
    legend: str = ""  # what the colours and dashes mean, where a diagram shows more than the forward graph
    heat_range: tuple[float, float] | None = None  # --heat: the colours' ends, log10 |gradient|


@dataclass(frozen=True)
class Frame:
    """One frame of the passes: the values of the first `values_upto` nodes are known,
    and the gradients of nodes >= `grads_from`; `current` is the node just done."""

    values_upto: int
    grads_from: int
    current: int
    phase: str  # 'forward' or 'backward'
    heat_range: tuple[float, float] | None = None  # --heat: the whole sequence's scale, not the frame's own
