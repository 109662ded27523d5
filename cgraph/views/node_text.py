"""How a view names a node built inside a loop iteration or a function call: with that
iteration's indices and that call's arguments in place (`w * h[3] + u * x[4]`, not the
loop body's `w*h[t-1] + u*x[t]`), so two iterations' nodes never read alike.

The text is built from the graph, not from the source: the node's op (written as the op
table's notation says, with the grammar's parentheses, see program.py), its arguments'
names, its literals' values and, for an unnamed argument, that argument's text in turn.
A node outside every loop and call is named by its source text, as written. Each text is
clipped and kept per graph, so an expression is built once, in one loop (no recursion),
and never grows past a line however deep the expressions nest.
"""

from __future__ import annotations

from ..errors import clip
from ..ir.graph import Graph
from ..ops import CONST, LEAF_KINDS, OPS
from .numbers import short_number
from .program import ATOM, UNARY, write_op

TEXT_LIMIT = 60  # characters of a built text: one line of a caption or a step
# Characters of a diagram node's source text in its tooltip: a node deep in one long
# expression would otherwise carry most of the file, and a diagram all of it per node.
TOOLTIP_TEXT_LIMIT = 200
_MORE_TERMS = 6  # a sum of more arguments is written with its first three, ... and its last


def node_text(graph: Graph, i: int) -> str:
    """The node's expression on one line: its source text, or built from the graph for a
    node made in a loop iteration or a call (a leaf's text is its name or value)."""
    if not graph.tags[i] or graph.ops[i] in LEAF_KINDS:
        return graph.line_text_of(i)
    return _built(graph, i)[0]


def node_label(graph: Graph, i: int) -> str:
    """What a caption calls a node: its name, else its expression (`node_text`), clipped."""
    name = graph.name_of(i)
    return clip(name) if name else clip(node_text(graph, i))


def node_expression(graph: Graph, i: int) -> str:
    """The node's own expression, even for a named node (`h[3]` is `tanh(w * h[2] + u * x[3])`):
    built from its arguments in a loop iteration or a call, else its source text."""
    if not graph.tags[i] or graph.ops[i] in LEAF_KINDS:
        return graph.line_text_of(i)
    memo = _memo(graph)
    _build(graph, [a for a in graph.args[i] if _needs_building(graph, a)], memo)
    return _compose(graph, i, memo)[0]


def node_tooltip(graph: Graph, i: int) -> str:
    """A diagram node's tooltip: `h[3] = tanh(w * h[2] + u * x[3]) (line 12, t = 3)`, the
    node's expression with its iteration's indices, its line, and its iterations and calls."""
    name = graph.name_of(i)
    where = "".join(f", {tag}" for tag in graph.tags[i])
    if graph.ops[i] in LEAF_KINDS:  # `x[1]`, not the `x[t]` its loop declares it as
        text = name or graph.clipped_line_text(i, TOOLTIP_TEXT_LIMIT)
    elif not graph.tags[i]:
        text = f"{name + ' = ' if name else ''}{graph.clipped_line_text(i, TOOLTIP_TEXT_LIMIT)}"
    else:
        text = f"{name + ' = ' if name else ''}{node_expression(graph, i)}"
    return f"{text} (line {graph.line_of(i)}{where})"


def _memo(graph: Graph) -> dict[int, tuple[str, int]]:
    """The built texts of this graph so far: node -> (text, binding level)."""
    return graph.cached("node_text", lambda g: {})


def _needs_building(graph: Graph, i: int) -> bool:
    return graph.ops[i] not in LEAF_KINDS and i not in graph.node_names


def _built(graph: Graph, i: int) -> tuple[str, int]:
    memo = _memo(graph)
    if i not in memo:
        _build(graph, [i], memo)
    return memo[i]


def _build(graph: Graph, roots: list[int], memo: dict[int, tuple[str, int]]) -> None:
    """Build the texts of `roots` and of the unnamed operations they use, arguments first,
    with an explicit stack."""
    stack = [r for r in roots if r not in memo]
    while stack:
        j = stack[-1]
        if j in memo:
            stack.pop()
            continue
        pending = [a for a in graph.args[j] if a not in memo and _needs_building(graph, a)]
        if pending:
            stack.extend(pending)
            continue
        memo[j] = _compose(graph, j, memo)
        stack.pop()


def _piece(graph: Graph, a: int, memo: dict[int, tuple[str, int]]) -> tuple[str, int]:
    """An argument as an operand: its name, its value (a literal), or its built text."""
    name = graph.name_of(a)
    if name:
        return clip(name), ATOM
    if graph.ops[a] == CONST:  # a literal, as the table writes a value (a negative one binds as -x)
        text = short_number(graph.values[a] or 0.0)
        return text, (UNARY if text.startswith("-") else ATOM)
    return memo[a]


def _compose(graph: Graph, j: int, memo: dict[int, tuple[str, int]]) -> tuple[str, int]:
    args = graph.args[j]
    operands = [_piece(graph, a, memo) for a in args]
    if len(operands) > _MORE_TERMS:  # sum(x[i] for i in 1..100): its ends show what it adds
        operands = operands[:3] + [("...", ATOM), operands[-1]]
    text, level = write_op(OPS[graph.ops[j]], operands)
    return clip(text, TEXT_LIMIT), level
