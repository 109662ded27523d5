"""Reading the DOT and Mermaid text cgraph writes, for the render tests.

`parse_dot` reads the DOT: nodes with their label lines and the cluster they sit in,
edges with the numbers on them, told apart by colour (the forward value is green, the
gradient red, the local derivative says `local`). `layout` gives `dot -Tplain`
coordinates for layout claims. `parse_mermaid` reads a Mermaid flowchart.
"""

from __future__ import annotations

import html
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SVG_NS = "{http://www.w3.org/2000/svg}"


# --- DOT ----------------------------------------------------------------------------------

TOOLTIP = re.compile(r'\btooltip="((?:[^"\\]|\\.)*)"', re.S)
_QUOTED_OR_BARE = r'("(?:[^"\\]|\\.)*"|[^\s\]]+)'


def color_kind(color: str) -> str | None:
    """What a label colour means by its hue: green = value, red = gradient, blue = local."""
    m = re.fullmatch(r"#([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})", color)
    if not m:
        return None
    r, g, b = (int(c, 16) for c in m.groups())
    if g > r and g > b:
        return "value"
    if r > g and r > b:
        return "grad"
    if b > r and b > g:
        return "local"
    return None


def strip_tags(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", fragment)).strip()


def _split_label(attrs: str) -> tuple[str | None, str]:
    """(the label's text -- an HTML-like label's inside, or a quoted one's), the other attributes."""
    m = re.search(r"(?<![\w])label=", attrs)
    if not m:
        return None, attrs
    start = m.end()
    if attrs.startswith("<", start):
        depth, k = 0, start
        while True:
            depth += {"<": 1, ">": -1}.get(attrs[k], 0)
            k += 1
            if depth == 0:
                break
        return attrs[start + 1 : k - 1], attrs[: m.start()] + attrs[k:]
    q = re.match(_QUOTED_OR_BARE, attrs[start:])
    value = q.group(1)
    text = value[1:-1] if value.startswith('"') else value
    return html.escape(text, quote=False), attrs[: m.start()] + attrs[start + q.end() :]


def attr(attrs: str, name: str) -> str | None:
    m = re.search(rf"(?<![\w]){name}={_QUOTED_OR_BARE}", attrs)
    if not m:
        return None
    value = m.group(1)
    return value[1:-1] if value.startswith('"') else value


@dataclass
class DotNode:
    id: str
    label: str  # the HTML-like label's inside
    attrs: str  # everything but label and tooltip
    tooltip: str
    cluster: tuple[str, ...]  # enclosing cluster ids, outermost first

    @property
    def lines(self) -> list[str]:
        return [strip_tags(part) for part in self.label.split("<br/>")] if self.label else []

    @property
    def shape(self) -> str | None:
        return attr(self.attrs, "shape")

    @property
    def is_sink(self) -> bool:
        return not self.lines

    @property
    def is_op(self) -> bool:
        return self.shape in ("circle", "ellipse")

    @property
    def is_leaf(self) -> bool:  # an input or a param: a bold name, no shape
        return not self.is_op and "<b>" in self.label

    @property
    def is_box(self) -> bool:
        return self.shape == "box"

    @property
    def symbol(self) -> str | None:
        return self.lines[0] if self.is_op else None

    @property
    def name(self) -> str | None:
        if self.is_leaf:
            return self.lines[0]
        if self.is_op and len(self.lines) > 1 and not self.lines[1].startswith("Σ"):
            return self.lines[1]
        return None

    @property
    def total(self) -> float | None:
        for line in self.lines:
            if line.startswith("Σ"):
                return float(line[1:].strip())
        return None


@dataclass
class DotEdge:
    tail: str
    head: str
    label: str | None
    attrs: str
    parts: dict[str, str] = field(default_factory=dict)  # value / grad / local / name -> text

    @property
    def value(self) -> float | None:
        return float(self.parts["value"]) if "value" in self.parts else None

    @property
    def grad(self) -> float | None:
        return float(self.parts["grad"]) if "grad" in self.parts else None

    @property
    def local(self) -> float | None:
        return float(self.parts["local"]) if "local" in self.parts else None


@dataclass
class Dot:
    source: str
    graph_attrs: str
    nodes: dict[str, DotNode]
    edges: list[DotEdge]
    clusters: dict[str, tuple[str | None, str | None]]  # id -> (label, parent id)

    def named(self, name: str) -> DotNode:
        found = [n for n in self.nodes.values() if n.name == name]
        assert len(found) == 1, f"{len(found)} nodes named {name!r} in the diagram"
        return found[0]

    @property
    def drawn(self) -> list[DotNode]:
        return [n for n in self.nodes.values() if not n.is_sink]

    def edges_between(self, tail: str, head: str) -> list[DotEdge]:
        t, h = self.named(tail).id, self.named(head).id
        return [e for e in self.edges if e.tail == t and e.head == h]

    def out_edges(self, node_id: str) -> list[DotEdge]:
        return [e for e in self.edges if e.tail == node_id]

    def output_edges(self) -> list[DotEdge]:
        return [e for e in self.edges if self.nodes[e.head].is_sink]


def _unwrapped(label: str | None) -> str | None:
    """An edge label's lines, without the one-cell table that gives them a margin."""
    if label is None:
        return None
    return re.sub(r"^<table[^>]*><tr><td[^>]*>(.*)</td></tr></table>$", r"\1", label)


def _edge_parts(label: str | None) -> dict[str, str]:
    parts: dict[str, str] = {}
    if not label:
        return parts
    for piece in label.split("<br/>"):
        m = re.fullmatch(r'<font color="([^"]+)"[^>]*>(.*)</font>', piece)
        text = strip_tags(piece)
        if text.startswith("local "):
            parts["local"] = text[len("local ") :]
            continue
        kind = color_kind(m.group(1)) if m else None
        if kind == "local":  # (a local derivative says so, above) a name in a colour of its own
            kind = "name"
        if kind in ("value", "grad") and " = " in text:  # an output's edge: `g = -12`, a gradient graph's `dg_dx = -3`
            parts["name"], text = text.rsplit(" = ", 1)
        if kind is None:
            assert m is None, f"an edge label part in an unexpected colour: {piece!r}"
            kind = "name"
        assert kind not in parts, f"two {kind} parts in one edge label: {label!r}"
        parts[kind] = text
    return parts


def parse_dot(source: str) -> Dot:
    tooltips: list[str] = []

    def stash(m: re.Match) -> str:
        tooltips.append(m.group(1))
        return f"tooltip=@{len(tooltips) - 1}"

    text = TOOLTIP.sub(stash, source)
    lines = text.strip("\n").splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{"), lines[0]
    assert lines[-1] == "}", lines[-1]
    graph_attrs = ""
    nodes: dict[str, DotNode] = {}
    edges: list[DotEdge] = []
    clusters: dict[str, tuple[str | None, str | None]] = {}
    invisible: list[tuple[str, str]] = []
    stack: list[str] = []
    for line in lines[1:-1]:
        s = line.strip()
        if m := re.fullmatch(r"subgraph (\w+) \{", s):
            # Only cluster_* subgraphs are clusters; others (the inputs' rank=min column) just group.
            if m.group(1).startswith("cluster"):
                inside = [c for c in stack if c in clusters]
                clusters[m.group(1)] = (None, inside[-1] if inside else None)
            stack.append(m.group(1))
        elif s == "}":
            stack.pop()
        elif m := re.fullmatch(r"(graph|node|edge) \[(.*)\]", s):
            if m.group(1) == "graph":
                if stack and stack[-1] in clusters:
                    label, _ = _split_label(m.group(2))
                    clusters[stack[-1]] = (html.unescape(label or ""), clusters[stack[-1]][1])
                elif not stack:
                    graph_attrs = m.group(2)
        elif m := re.fullmatch(r"(\w+) -> (\w+)(?: \[(.*)\])?", s):
            label, rest = _split_label(m.group(3) or "")
            if attr(rest, "style") == "invis":  # layout only: keeps loop iterations in order
                invisible.append((m.group(1), m.group(2)))
                continue
            label = _unwrapped(label)
            edges.append(DotEdge(m.group(1), m.group(2), label, rest, _edge_parts(label)))
        elif m := re.fullmatch(r"(\w+)(?: \[(.*)\])?", s):
            label, rest = _split_label(m.group(2) or "")
            tip = re.search(r"tooltip=@(\d+)", rest)
            node = DotNode(m.group(1), label or "", rest, tooltips[int(tip.group(1))] if tip else "",
                           tuple(c for c in stack if c in clusters))
            assert node.id not in nodes, f"node {node.id} declared twice"
            nodes[node.id] = node
        else:
            raise AssertionError(f"unexpected DOT line: {line!r}")
    assert not stack, "unbalanced braces"
    for e in edges:
        assert e.tail in nodes and e.head in nodes, f"edge {e.tail} -> {e.head} to an undeclared node"
    for tail, head in invisible:
        assert tail in nodes and head in nodes and tail != head, f"invisible edge {tail} -> {head}"
    edges = _joined_relays(nodes, edges)
    # --collapse draws a shared input beside each box it feeds ("w__box_t1_L5"): those
    # copies stand for the one node, so the checks below see one node with all its edges.
    copies = {nid: nid.split("__box", 1)[0] for nid in nodes if "__box" in nid}
    for nid, original in copies.items():
        assert original in nodes and nodes[nid].label.split("<br/>")[0] == nodes[original].label.split("<br/>")[0]
        del nodes[nid]
    edges = [DotEdge(copies.get(e.tail, e.tail), e.head, e.label, e.attrs, e.parts) for e in edges]
    return Dot(source, graph_attrs, nodes, edges, clusters)


def is_relay(node_id: str, attrs: str) -> bool:
    """An invisible point an edge from the first column is drawn through (dot.py's relays)."""
    return re.fullmatch(r"via\d+_\w+", node_id) is not None and attr(attrs, "style") == "invis"


def _joined_relays(nodes: dict[str, DotNode], edges: list[DotEdge]) -> list[DotEdge]:
    """A relayed edge (tail -> relay, a bare wire; relay -> head, labelled) read as the one
    edge it draws: tail -> head with the label, in the labelled stretch's place."""
    relays = {nid for nid, node in nodes.items() if is_relay(nid, node.attrs)}
    if not relays:
        return edges
    into = {e.head: e.tail for e in edges if e.head in relays}
    assert len(into) == len(relays) == sum(e.head in relays for e in edges) == sum(e.tail in relays for e in edges)
    for nid in relays:
        del nodes[nid]
    return [DotEdge(into.get(e.tail, e.tail), e.head, e.label, e.attrs, e.parts) for e in edges if e.head not in relays]


def layout(dot_source: str) -> dict[str, tuple[float, float]]:
    """Node id -> (x, y) centre from `dot -Tplain` (y grows upwards)."""
    done = subprocess.run(["dot", "-Tplain"], input=dot_source.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    pos = {}
    for line in done.stdout.decode().splitlines():
        if line.startswith("node "):
            _, name, x, y = line.split()[:4]
            pos[name.strip('"')] = (float(x), float(y))
    return pos


def svg_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == SVG_NS + "svg", root.tag
    return root


def dot_to_svg(dot_source: str) -> bytes:
    done = subprocess.run(["dot", "-Tsvg"], input=dot_source.encode(), capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 0 and "error" not in err.lower(), f"dot -Tsvg failed: {err}"
    return done.stdout


# --- Mermaid ------------------------------------------------------------------------------

_MERMAID_NODE = re.compile(r'^(\w+)(\(\("(.*)"\)\)|\["(.*)"\]):::(\w+)$')
_MERMAID_EDGE = re.compile(r'^(\w+) (?:-->|-\.->)(?:\|"(.*)"\|)? (\w+)$')  # -.->: dotted


@dataclass
class Mermaid:
    direction: str
    nodes: dict[str, str]  # id -> label
    edges: list[tuple[str, str, str | None]]
    subgraphs: list[str]  # labels
    labels: list[str]
    title: str | None = None  # the front matter's title (render --backward's legend)


def parse_mermaid(text: str) -> Mermaid:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    title = None
    if lines[0] == "---":  # front matter: a title
        end = lines.index("---", 1)
        title = next((ln[len("title: "):] for ln in lines[1:end] if ln.startswith("title: ")), None)
        lines = lines[end + 1:]
    body = [ln for ln in lines if not ln.startswith("%%")]
    m = re.fullmatch(r"flowchart (LR|TB|TD)", body[0])
    assert m, f"not a flowchart header: {body[0]!r}"
    nodes, edges, subgraphs, labels, depth = {}, [], [], [], 0
    for line in body[1:]:
        s = line.strip()
        if s.startswith(("classDef ", "linkStyle ")):
            continue
        if sm := re.fullmatch(r'subgraph (\w+)\["(.*)"\]', s):
            depth += 1
            subgraphs.append(sm.group(2))
            labels.append(sm.group(2))
        elif s == "end":
            depth -= 1
            assert depth >= 0, "`end` without a subgraph"
        elif nm := _MERMAID_NODE.fullmatch(s):
            label = nm.group(3) if nm.group(3) is not None else nm.group(4)
            assert nm.group(1) not in nodes
            nodes[nm.group(1)] = label
            labels.append(label)
        elif em := _MERMAID_EDGE.fullmatch(s):
            edges.append((em.group(1), em.group(3), em.group(2)))
            if em.group(2) is not None:
                labels.append(em.group(2))
        else:
            raise AssertionError(f"unexpected Mermaid line: {line!r}")
    assert depth == 0, "subgraph ... end not balanced"
    return Mermaid(m.group(1), nodes, edges, subgraphs, labels, title)


def mermaid_text(label: str) -> str:
    """A Mermaid label as plain text: `#NN;` entities and HTML escapes undone."""
    return html.unescape(re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label))
