"""Scene -> Mermaid flowchart text (renders inside Markdown on common code hosts)."""

from __future__ import annotations

import json

from ...ir.graph import Tag
from .scene import Scene, SceneEdge, SceneNode
from .heat import heat_color, legend_text
from .style import THEMES, cluster_id

_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,+-*/^=_:")


def text(s: str) -> str:
    """Anything but plain characters becomes an entity code (#quot; style), so no name or
    number can end a label or inject markup."""
    return "".join(c if c in _PLAIN else f"#{ord(c)};" for c in s)


def to_mermaid(scene: Scene) -> str:
    theme = THEMES[scene.options.theme]
    direction = "LR" if scene.options.rankdir == "LR" else "TB"
    out = []
    title = "; ".join(t for t in (scene.caption or scene.legend, _heat_legend(scene)) if t)
    if title:  # Mermaid draws a title from the front matter: a frame's caption too
        # a JSON string is a YAML double-quoted one: quotes, backslashes, newlines all escaped
        out += ["---", f"title: {json.dumps(title, ensure_ascii=False)}", "---"]
    if scene.options.theme == "dark":
        out.append("%%{init: {'theme': 'dark'}}%%")
    out.append(f"flowchart {direction}")
    out.append(f"  classDef op fill:{theme['op_fill']},stroke:{theme['edge']},color:{theme['fg']}")
    out.append(f"  classDef input fill:none,stroke:none,color:{theme['leaf']},font-weight:bold")
    out.append(f"  classDef param fill:none,stroke:none,color:{theme['param']},font-weight:bold")
    out.append(f"  classDef const fill:none,stroke:none,color:{theme['faint']}")
    out.append(f"  classDef box fill:{theme['cluster']},stroke:{theme['cluster_border']},color:{theme['fg']}")
    out.append("  classDef sink fill:none,stroke:none")
    out.append(f"  classDef now fill:{theme['highlight']},stroke-width:2px")
    if any(node.gradient for node in scene.nodes):
        out.append(f"  classDef gradient fill:{theme['gradient_fill']},stroke:{theme['gradient_line']},color:{theme['fg']}")
        out.append(f"  classDef gradient_number fill:none,stroke:none,color:{theme['gradient_line']}")

    out += _nodes(scene)
    out += _edges(scene)
    return "\n".join(out) + "\n"


def _heat_legend(scene: Scene) -> str:
    return legend_text(scene.heat_range, scene.options.heat_scale) if scene.heat_range is not None else ""


def _nodes(scene: Scene) -> list[str]:
    """The nodes, inside nested subgraphs for the clusters."""
    out = []
    by_cluster: dict[tuple[Tag, ...], list[SceneNode]] = {}
    for node in scene.nodes:
        by_cluster.setdefault(node.cluster, []).append(node)
    # Subgraphs nest by path; walk the paths in order with a stack of open ones.
    for node in by_cluster.get((), []):
        if not node.gradient:
            out.append("  " + _node(node))
    gradient = [node for node in by_cluster.get((), []) if node.gradient]
    if gradient:  # the gradient graph (--backward) in a box of its own, as in the DOT
        out.append('  subgraph backward["backward pass"]')
        out += ["    " + _node(node) for node in gradient]
        out.append("  end")
    open_paths: list[tuple[Tag, ...]] = []
    for path in sorted(scene.clusters, key=lambda p: [(t.kind, t.name, t.value, t.line) for t in p]):
        while open_paths and path[: len(open_paths[-1])] != open_paths[-1]:
            open_paths.pop()
            out.append("  " * (len(open_paths) + 1) + "end")
        indent = "  " * (len(open_paths) + 1)
        out.append(f'{indent}subgraph {cluster_id(path)}["{text(scene.clusters[path])}"]')
        open_paths.append(path)
        for node in by_cluster.get(path, []):
            out.append(indent + "  " + _node(node))
    while open_paths:
        open_paths.pop()
        out.append("  " * (len(open_paths) + 1) + "end")
    return out


def _edges(scene: Scene) -> list[str]:
    """The drawn edges with their labels, then the heat colours (linkStyle, by edge index)."""
    out, styles = [], []
    for n, edge in enumerate(scene.edges):
        if edge.invisible:  # a hint for Graphviz's layout (they come last: n stays each drawn edge's index)
            continue
        parts = _edge_label(edge)
        label = f'|"{"<br/>".join(parts)}"|' if parts else ""
        arrow = "-.->" if edge.part == "reuse" else "-->"  # a forward value the backward pass reuses: dotted
        out.append(f"  {edge.tail} {arrow}{label} {edge.head}")
        if edge.part:
            styles.append(f"  linkStyle {n} stroke:{THEMES[scene.options.theme]['gradient_line']}")
        elif edge.heat is not None:
            styles.append(f"  linkStyle {n} stroke:{heat_color(edge.heat, THEMES[scene.options.theme])},stroke-width:{1 + 2.5 * edge.heat:.1f}px")
    return out + styles


def _edge_label(edge: SceneEdge) -> list[str]:
    parts = []
    if edge.value is not None:
        parts.append(text((f"{edge.label_name} = " if edge.label_name else "") + edge.value))
    elif edge.label_name:
        parts.append(text(edge.label_name))
    if edge.grad is not None:
        parts.append(text(f"grad {edge.grad}"))
    if edge.local is not None:
        parts.append(text(f"local {edge.local}"))
    return _with_operand(edge, parts)


def _with_operand(edge: SceneEdge, parts: list[str]) -> list[str]:
    """Which argument of a non-commutative op an edge is (a - b): Mermaid has no ports or
    head labels, so the mark leads the edge's label, `a: 2`, Mermaid keeping the
    arguments in the order the edges are written (mostly: its layout may swap them)."""
    if not edge.operand:
        return parts
    mark = text(edge.operand)
    return [f"{mark}: {parts[0]}"] + parts[1:] if parts else [mark]


def _node(node: SceneNode) -> str:
    lines = [text(node.title)]
    if node.name:
        lines.append(text(node.name))
    if node.total_grad:
        lines.append(text(f"sum grad {node.total_grad}"))
    if node.value is not None:
        lines.append(text(node.value))
    if node.also:
        lines.append(text(node.also))
    label = "<br/>".join(lines)
    if node.kind == "op":
        shape = f'(("{label}"))'
    elif node.kind == "sink":
        shape = '[" "]'
    else:
        shape = f'["{label}"]'
    cls = "now" if node.highlight else node.kind
    if node.gradient and node.kind != "sink":
        cls = "gradient" if node.kind == "op" else "gradient_number"
    return f"{node.id}{shape}:::{cls}"
