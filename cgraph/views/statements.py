"""The one walk that turns a graph into statements, for every language cgraph writes.

`write_statements` goes once over the tape and builds each node's expression from its
arguments' text: a name (an input, a named node, a temporary), or the inlined text of an
unnamed node used only here. It asks for a statement for every named node, every node
used more than once or that must stand alone, and the head of an expression nested past
`max_depth` or longer than `max_length` (so no line is pathological and no parser or
compiler has to read an expression nested deeper than that: a 100,000-deep chain becomes
a chain of temporaries). How an op, a number and a statement are written is the
caller's (a `Spelling`): the .cg program text (program.py) and the exported code
(export_code.py) share this walk and differ only in spelling.

One loop, no recursion, text built per statement: linear in the size of the graph.
"""

from __future__ import annotations

from typing import Callable, Container, Mapping, Protocol, Sequence

from ..ir.graph import Graph
from ..ops import CONST, OPS, Op

# An operand as a spelling sees it: its text, its binding level, and whether it is a plain
# number (a number written in place, or arithmetic on such numbers only): a language whose
# functions take only its own kind of value (torch's tensors) converts those.
Operand = tuple[str, int, bool]


class Spelling(Protocol):
    def op(self, op: Op, operands: list[Operand]) -> tuple[str, int, bool]:
        """`op` applied to operands, with only the parentheses needed, its level, and
        whether the result is a plain number."""
        ...

    def constant(self, value: float) -> tuple[str, int]:
        """A number written in place, and its binding level."""
        ...


# emit(node, text, temporary, plain) writes a statement computing `text` (a plain number:
# see Operand) for `node` and answers the name later uses read it by (None: they write the
# number again, for a constant). What a name refers to is never plain: a language that
# minds converts a plain statement's value.
Emit = Callable[[int, str, bool, bool], "str | None"]


def write_statements(graph: Graph, spelling: Spelling, *, live: Sequence[int], uses: Sequence[int],
                     named: Container[object], alone: Container[object], refs: dict[int, str], emit: Emit,
                     max_depth: int, max_length: int, atom: int) -> None:
    """Emit the statements of every live node that is not in `refs` already (the leaves,
    bound by the caller): `named` nodes (a named constant too) always get one, and so do
    nodes in `alone`; other nodes used once are inlined into their consumer.
    `atom`: the binding level of a name."""
    inline: dict[int, tuple[str, int, int, bool]] = {}  # node -> (text, level, depth, plain), until its one use
    ops, values = graph.ops, graph.values
    for i in range(len(graph)):
        if not live[i] or i in refs:
            continue
        if ops[i] == CONST:
            if i in named:
                value = values[i]
                assert value is not None, "a constant has a value"
                ref = emit(i, spelling.constant(value)[0], False, True)
                if ref is not None:
                    refs[i] = ref
            continue
        operands, depth = _operands(graph, i, spelling, refs, inline, atom)
        text, level, plain = spelling.op(OPS[ops[i]], operands)
        if i in named:
            refs[i] = _named(emit(i, text, False, plain))
        elif uses[i] != 1 or i in alone or depth >= max_depth or len(text) > max_length:
            refs[i] = _named(emit(i, text, True, plain))
        else:
            inline[i] = (text, level, depth, plain)


def _operands(graph: Graph, i: int, spelling: Spelling, refs: dict[int, str],
              inline: dict[int, tuple[str, int, int, bool]], atom: int) -> tuple[list[Operand], int]:
    """Node i's operands (a name, an inlined node's text, taken out of `inline`, or a number)
    and the nesting depth of node i's text."""
    operands: list[Operand] = []
    depth = 0
    for a in graph.args[i]:
        ref = refs.get(a)
        if ref is not None:
            operands.append((ref, atom, False))
        elif a in inline:
            text, level, d, plain = inline.pop(a)
            operands.append((text, level, plain))
            depth = max(depth, d)
        else:
            value = graph.values[a]
            assert value is not None, "an unnamed argument written in place is a constant"
            operands.append((*spelling.constant(value), True))
    return operands, depth + 1


def _named(ref: str | None) -> str:
    assert ref is not None, "a statement of an op node names it"
    return ref


def live_and_uses(graph: Graph, roots: Mapping[int, object] | Sequence[int]) -> tuple[bytearray, list[int]]:
    """Flags: 1 for every node a root depends on (roots included, leaves always); and how
    often each node's text is mentioned: once per argument of a live node."""
    g = graph
    live = bytearray(len(g))
    for node in roots:
        live[node] = 1
    for node in g.leaves:
        live[node] = 1
    args = g.args
    for i in range(len(g) - 1, -1, -1):
        if live[i]:
            for a in args[i]:
                live[a] = 1
    uses = [0] * len(g)
    for i in range(len(g)):
        if live[i]:
            for a in args[i]:
                uses[a] += 1
    return live, uses
