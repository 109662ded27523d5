"""How diagrams look: themes, escaping, stable node ids (numbers are views/numbers.py's)."""

from __future__ import annotations

import html
import re

from ...ir.graph import Graph, Tag
from ...ops import CONST, OPS

THEMES = {
    "light": {
        "bg": "white", "fg": "#222222", "op_fill": "#f3f3f3", "leaf": "#0b5394", "param": "#7a3d00",
        "value": "#2e7d32", "grad": "#c62828", "local": "#1565c0", "edge": "#555555",
        "cluster": "#fafafa", "cluster_border": "#bbbbbb", "highlight": "#ffd54f", "faint": "#bbbbbb",
        "gradient_fill": "#ede7f6", "gradient_line": "#5e35b1",  # the gradient graph (--backward): purple
        "heat": "#2166ac #15857a #b07d00 #d2601a #c62828",  # --heat, vanishing .. exploding: all over 3.5:1 on white
    },
    "dark": {
        "bg": "#1e1e1e", "fg": "#e0e0e0", "op_fill": "#2d2d2d", "leaf": "#8ab4f8", "param": "#f6b26b",
        "value": "#81c784", "grad": "#ef9a9a", "local": "#90caf9", "edge": "#aaaaaa",
        "cluster": "#262626", "cluster_border": "#555555", "highlight": "#8d6e00", "faint": "#555555",
        "gradient_fill": "#2c2340", "gradient_line": "#b39ddb",
        "heat": "#64aaf0 #4fd1bd #ffc428 #ff9a3c #ff6363",  # lighter: they stand out on near-black
    },
}

ANNOTATIONS = ("values", "grads", "local")


def symbol(op: str) -> str:
    """How a node of this kind is drawn: the op table's symbol (a leaf kind as itself)."""
    entry = OPS.get(op)
    return op if entry is None else entry.symbol


def operand_marks(op: str, count: int) -> tuple[str, ...]:
    """How a diagram tells a node's arguments apart: a, b, ... (the letters of the op
    table's formulas) for an op whose arguments may not be swapped, none for one whose may."""
    entry = OPS.get(op)
    if entry is None or entry.commutative or count < 2:
        return ("",) * count
    return tuple(chr(ord("a") + k) if k < 26 else f"#{k + 1}" for k in range(count))


def esc(text: str) -> str:
    """Text for an HTML-like Graphviz label: nothing in it can close the label or add markup."""
    return html.escape(text, quote=True)


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]")


def _clean(text: str) -> str:
    return _UNSAFE_ID.sub("_", text.replace("[", "_").replace("]", "").replace(",", "_").replace("-", "m")).strip("_")


def node_ids(graph: Graph) -> list[str]:
    """A stable, readable id per node, from its name or its op and source position (never
    from memory), so rendering a file twice gives the same text and an edit a small diff."""
    ids: list[str] = []
    used: set[str] = set()
    for i in range(len(graph)):
        op = graph.ops[i]
        name = graph.name_of(i)
        if name is not None:
            base = "v_" + _clean(name.replace("@", "_at_").replace("=", ""))
        elif op == CONST:
            base = "k_" + _clean(repr(graph.values[i]).replace(".", "p"))
        else:
            line, column = graph.line_col(i)
            where = "".join(_tag_suffix(t) for t in graph.tags[i])
            base = f"{op}_L{line}C{column}{where}"
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}_{n}"
        used.add(candidate)
        ids.append(candidate)
    return ids


def _tag_suffix(tag: Tag) -> str:
    """t = 3 of the loop on line 5 -> _t3_L5 (two loops may share a variable name)."""
    value = str(tag.value).replace("-", "m")
    return f"_{_clean(tag.name)}{value}_L{tag.line}"


def cluster_label(tag: Tag) -> str:
    if tag.kind == "loop":
        return f"{tag.name} = {tag.value}"
    return f"{tag.name} #{tag.value} (line {tag.line})"


def cluster_id(path: tuple[Tag, ...]) -> str:
    return "cluster_" + "".join(_tag_suffix(t) for t in path)
