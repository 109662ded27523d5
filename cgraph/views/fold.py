"""The walk that folds a graph into lines of text, for the writers that show a graph as
formulas (export_latex): one line per named or shared node, each unnamed node used once
written inside the expression that uses it, long or deep chains cut into lines of their
own. (program.py writes `.cg` text with its own, measured, one-loop version of this walk:
it runs once per node of the 1e5-node programs `cgraph grad` writes.)
"""

from __future__ import annotations

from typing import Callable, Container, Iterable

from ..ir.graph import Graph
from ..ops import OPS, Op
from .program import ATOM, MAX_DEPTH, MAX_LENGTH

# How a writer spells an op applied to operands given as (text, binding level): the text
# and the result's level (`program.write_op` for program text).
WriteOp = Callable[[Op, list[tuple[str, int]]], tuple[str, int]]


def reach(graph: Graph, roots: Iterable[int], known: Container[int] = ()) -> bytearray:
    """Flags: 1 for each root and every node one depends on, except through a `known`
    node (one already written elsewhere: its arguments are not needed again)."""
    live = bytearray(len(graph))
    for node in roots:
        live[node] = 1
    args = graph.args
    for i in range(len(graph) - 1, -1, -1):
        if live[i] and i not in known:
            for a in args[i]:
                live[a] = 1
    return live


def use_counts(graph: Graph, live: bytearray, known: Container[int] = ()) -> list[int]:
    """How often each node's text is mentioned: once per argument of a live node that is
    not `known`."""
    uses = [0] * len(graph)
    args = graph.args
    for i in range(len(graph)):
        if live[i] and i not in known:
            for a in args[i]:
                uses[a] += 1
    return uses


class Fold:
    """The walk that writes a graph as lines (a program's statements, LaTeX's rows): each
    node's text is built from its arguments' — a name (`refs`), the inlined text of an
    unnamed node used only here, or a literal — with only the parentheses `write` says.
    The caller walks the tape, asks `expression(i)` and either names the node (a line
    of its own, then `refs[i] = name`) or offers it to `inlined`, which keeps the text for
    its one use unless it is shared, deeply nested or long. Texts are built per node, so
    a 1e5-node chain takes linear time and no recursion."""

    def __init__(self, graph: Graph, live: bytearray, uses: list[int], write: WriteOp,
                 literal: Callable[[int], tuple[str, int]], max_depth: int = MAX_DEPTH, max_length: int = MAX_LENGTH):
        self.graph, self.live, self.uses = graph, live, uses
        self.write, self.literal = write, literal
        self.max_depth, self.max_length = max_depth, max_length
        self.refs: dict[int, str] = {}  # node -> the name its line gave it
        self.inline: dict[int, tuple[str, int, int]] = {}  # node -> (text, level, depth), until its one use

    def expression(self, i: int) -> tuple[str, int, int]:
        """Node i's expression, its binding level and its nesting depth of inlined text."""
        operands: list[tuple[str, int]] = []
        depth = 0
        for a in self.graph.args[i]:
            ref = self.refs.get(a)
            if ref is not None:
                operands.append((ref, ATOM))
            elif a in self.inline:
                text, level, d = self.inline.pop(a)
                operands.append((text, level))
                depth = max(depth, d)
            else:
                operands.append(self.literal(a))
        text, level = self.write(OPS[self.graph.ops[i]], operands)
        return text, level, depth + 1

    def inlined(self, i: int, text: str, level: int, depth: int) -> bool:
        """Keep node i's text for its one use, if it has one use and is short and shallow
        enough; False: it needs a line of its own."""
        if self.uses[i] != 1 or depth >= self.max_depth or len(text) > self.max_length:
            return False
        self.inline[i] = (text, level, depth)
        return True
