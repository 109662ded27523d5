"""Any graph written back as a cgraph program: the text `cgraph grad` prints.

`program_text(graph)` is valid input to every command, and parsing it gives a graph with
the same value at every named node and every output (and so the same gradients): the
declarations first, in the graph's leaf order; then one statement per named node, in tape
order; then `output a, b`. A node used once and named by nobody is written inside its
consumer's expression, with only the parentheses the grammar needs; one used more than
once gets a temporary name (`t1`), as does the head of a long chain of such nodes (no
pathological line, and no expression nested deeper than a parser should have to read).

Names are data: a name is written only if the grammar reads it back as the same name
(`x`, `h[3]`, `w[1,2]`); any other gets a safe name derived from it. Comments (notes,
a header) are cleaned to one line, so no text given can end a comment and become code.

One loop over the tape, and text built per statement, so a 1e5-node chain is written in
linear time with no recursion. The op table says how each op is written (infix, prefix,
or a call); this module knows only the grammar's precedence of the symbols.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import TYPE_CHECKING, Mapping

from ..ir.graph import Graph
from ..ops import CONST, INFIX, INPUT, OPS, PARAM, PREFIX
from .numbers import program_number

# How tightly a piece of text binds, as the grammar (grammar/cgraph.lark) nests its rules:
# expr (+ -) < product (* /) < factor (unary -, ^) < atom (names, numbers, calls, parens).
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5
ATOM, UNARY = _ATOM, _UNARY  # a name's level (never parenthesized), and a negation's
if TYPE_CHECKING:
    from ..ops import Op
# The grammar's infix symbols: (level of the result, level the left operand needs, level
# the right operand needs). + - * / are left-associative, ^ right-associative and its base
# is an atom (so (-2)^2 and (a^b)^c keep their parentheses).
_INFIX = {
    "+": (_SUM, _SUM, _PRODUCT), "-": (_SUM, _SUM, _PRODUCT),
    "*": (_PRODUCT, _PRODUCT, _UNARY), "/": (_PRODUCT, _PRODUCT, _UNARY),
    "^": (_POWER, _ATOM, _UNARY),
}
_SPACED = frozenset("+-*/")  # written `a + b`; `^` is written tight, `x^2`
# The grammar's reserved words: never a name (tests/test_program_text.py checks this
# against the parser's own list).
KEYWORDS = frozenset({"input", "param", "output", "def", "for", "in"})

# A name the parser gives back unchanged: an identifier, and integer indices in the
# canonical spelling (`w[1,2]`: no spaces, no leading zeros, no -0), of at most 15 digits
# (the parser takes integers up to 2^53).
_INDEX = r"(?:0|-?[1-9][0-9]{0,14})"
_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]*(?:\[{_INDEX}(?:,{_INDEX})*\])?")
_IDENT_JUNK = re.compile(r"[^A-Za-z0-9_]+")

# Past this nesting of inlined expressions, or this length of one, a temporary is named.
MAX_DEPTH = 8
MAX_LENGTH = 100



def program_text(graph: Graph, notes: Mapping[int | str, str] | None = None, header: str | None = None) -> str:
    """The graph as a cgraph program. `notes`: node -> a comment after its statement (a
    node with a note gets a statement of its own, unless it is an unnamed number), or
    name -> a comment after the statement that gives that name;
    `header`: comment lines at the top."""
    return _Writer(graph, notes or {}).write(header)


def comment(text: str) -> str:
    """`text` as one line that cannot leave a comment: line breaks and other control or
    separator characters become spaces."""
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    return " ".join(cleaned.split())


def is_writable_name(name: str) -> bool:
    """Whether the grammar reads `name` back as itself, a name (not a keyword)."""
    return _NAME.fullmatch(name) is not None and name.split("[", 1)[0] not in KEYWORDS


def constant(value: float) -> tuple[str, int]:
    """A constant as text that reads back as exactly that value (numbers.program_number),
    and its binding level: `0/0` is a quotient, `-2` and `-0` negations."""
    text = program_number(value)
    if value != value:
        return text, _PRODUCT
    return text, (_UNARY if value < 0 or text.startswith("-") else _ATOM)


class _Writer:
    def __init__(self, graph: Graph, notes: Mapping[int | str, str]):
        self.graph = graph
        self.notes = notes
        self.taken: set[str] = set(graph.names) | set(graph.output_names)
        self.temps = 0
        self.live = self._live()
        self.uses = self._uses()
        self.written = self._written_names()  # node -> the names its statements give it
        self.lines: list[str] = []

    # --- what to write -----------------------------------------------------------------

    def _live(self) -> bytearray:
        """Flags: 1 for every node a named node or an output depends on (an unnamed node
        nothing uses is not written)."""
        g = self.graph
        live = bytearray(len(g))
        for node in g.node_names:
            live[node] = 1
        for node in g.outputs:
            live[node] = 1
        for node in g.leaves:
            live[node] = 1
        args = g.args
        for i in range(len(g) - 1, -1, -1):
            if live[i]:
                for a in args[i]:
                    live[a] = 1
        return live

    def _uses(self) -> list[int]:
        """How often each node's text is mentioned: once per argument of a live node."""
        g = self.graph
        uses = [0] * len(g)
        live, args = self.live, g.args
        for i in range(len(g)):
            if live[i]:
                for a in args[i]:
                    uses[a] += 1
        return uses

    def _written_names(self) -> dict[int, list[str]]:
        """Each named node's names as written: a name is written by the node the graph
        finally binds it to, if the grammar reads it back; a node left with none gets one
        made from its first name. An output's name is its node's too (see _name_outputs)."""
        g = self.graph
        written: dict[int, list[str]] = {}
        for node, names in g.node_names.items():
            written[node] = [n for n in names if g.names.get(n) == node and is_writable_name(n)]
        for leaf in g.leaves:  # declared by name, even one whose every name is another node's
            written.setdefault(leaf, [])
        self._name_outputs(written)
        for node, own in written.items():
            if not own:
                own.append(self._fresh(g.name_of(node) or "t"))
        return written

    def _name_outputs(self, written: dict[int, list[str]]) -> None:
        """Give each output its name where the grammar can say it and no other node has it;
        an output with no name to write gets one made from its node's, or its own."""
        g = self.graph
        claimed: set[str] = set()
        for node, name in zip(g.outputs, g.output_names):
            own = written.setdefault(node, [])
            if name in own:
                continue
            if is_writable_name(name) and name not in g.names and name not in claimed:
                own.append(name)
                claimed.add(name)
            elif not own:
                own.append(self._fresh(g.name_of(node) or name))

    def _fresh(self, wanted: str) -> str:
        """A name like `wanted` that no other node has and the grammar reads back."""
        base = _IDENT_JUNK.sub("_", wanted).strip("_") or "t"
        if base[0].isdigit():
            base = "n" + base
        if base in KEYWORDS:
            base += "_"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def _temp(self) -> str:
        while True:
            self.temps += 1
            name = f"t{self.temps}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    # --- writing -----------------------------------------------------------------------

    def write(self, header: str | None) -> str:
        if header is not None:
            self.lines += [f"# {comment(line)}".rstrip() for line in header.splitlines() or [""]]
        self._declarations()
        self._statements()
        self.lines.append("output " + ", ".join(self._output_refs()))
        return "\n".join(self.lines) + "\n"

    def _line(self, text: str, node: int, name: str | None = None) -> None:
        note = self.notes.get(name) if name is not None and name in self.notes else self.notes.get(node)
        self.lines.append(f"{text}  # {comment(note)}" if note else text)

    def _declarations(self) -> None:
        g = self.graph
        aliases: list[tuple[str, str]] = []  # (statement, the name it gives)
        for leaf in g.leaves:
            name, *others = self.written[leaf]
            value = g.values[leaf]
            if value is None:
                # A param always has a value in a file; one without (a graph built by hand)
                # is given by the caller, as an input is.
                self._line(f"input {name}", leaf, name)
            else:
                kind = PARAM if g.ops[leaf] == PARAM else INPUT  # the leaf kinds are the keywords
                self._line(f"{kind} {name} = {constant(value)[0]}", leaf, name)
            aliases += [(f"{other} = {name}", other) for other in others]
        for text, other in aliases:
            self._line(text, -1, other)

    def _statements(self) -> None:
        """One pass over the tape: each node's text is built from its arguments' (a name,
        or the inlined text of a node used only here), and a statement is written for a
        named node, a node used more than once, and the head of a long inlined chain."""
        g = self.graph
        live, uses, written, notes = self.live, self.uses, self.written, self.notes
        leaves = set(g.leaves)
        inline: dict[int, tuple[str, int, int]] = {}  # node -> (text, level, depth), until its one use
        refs: dict[int, str] = {}  # node -> the name its statement gave it
        for i in range(len(g)):
            if not live[i] or i in leaves:
                if i in leaves:
                    refs[i] = written[i][0]
                continue
            if g.ops[i] == CONST:
                if i in written:  # a named constant (`f = 3`), or a number that is an output
                    self._assign(i, written[i], self._literal(i)[0], refs)
                    if i not in g.node_names:
                        del refs[i]  # a shared number: its other uses still write it as a number
                continue
            text, level, depth = self._expression(i, refs, inline)
            if i in written:
                self._assign(i, written[i], text, refs)
            elif uses[i] != 1 or i in notes or depth >= MAX_DEPTH or len(text) > MAX_LENGTH:
                self._assign(i, [self._temp()], text, refs)
            else:
                inline[i] = (text, level, depth)

    def _assign(self, node: int, names: list[str], text: str, refs: dict[int, str]) -> None:
        name = names[0]
        self._line(f"{name} = {text}", node, name)
        for other in names[1:]:
            self._line(f"{other} = {name}", -1, other)
        refs[node] = name

    def _expression(self, i: int, refs: dict[int, str], inline: dict[int, tuple[str, int, int]]) -> tuple[str, int, int]:
        """Node i's expression, its binding level and its nesting depth of inlined text."""
        g = self.graph
        op = OPS[g.ops[i]]
        operands: list[tuple[str, int]] = []
        depth = 0
        for a in g.args[i]:
            ref = refs.get(a)
            if ref is not None:
                operands.append((ref, _ATOM))
            else:
                text, level, d = inline.pop(a) if a in inline else self._literal(a)
                operands.append((text, level))
                depth = max(depth, d)
        text, level = write_op(op, operands)
        return text, level, depth + 1

    def _literal(self, node: int) -> tuple[str, int, int]:
        value = self.graph.values[node]
        assert value is not None, "an unnamed argument written in place is a constant"
        text, level = constant(value)
        return text, level, 0

    def _output_refs(self) -> list[str]:
        """The names the `output` statement lists: each output's name if its node was
        written with it, else the node's own; a name listed twice gets an alias."""
        g = self.graph
        listed: list[str] = []
        for node, name in zip(g.outputs, g.output_names):
            own = self.written[node]
            ref = name if name in own else own[0]
            if ref in listed:
                alias = self._fresh(name)
                self.lines.append(f"{alias} = {ref}")
                ref = alias
            listed.append(ref)
        return listed


def write_op(op: Op, operands: list[tuple[str, int]]) -> tuple[str, int]:
    """`op` applied to operands given as (text, binding level), with only the parentheses
    the grammar needs, and the level of the result."""
    if op.notation == INFIX and op.symbol in _INFIX:
        level, left, right = _INFIX[op.symbol]
        (first, first_level), (second, second_level) = operands
        sep = f" {op.symbol} " if op.symbol in _SPACED else op.symbol
        return f"{_wrap(first, first_level, left)}{sep}{_wrap(second, second_level, right)}", level
    if op.notation == PREFIX:
        (only, only_level), = operands
        # Parenthesized when it starts with a minus too: -(-x), not --x.
        inner = f"({only})" if only_level < _UNARY or only.startswith("-") else only
        return f"{op.symbol}{inner}", _UNARY
    return f"{op.name}({', '.join(text for text, _ in operands)})", _ATOM


def _wrap(text: str, level: int, needed: int) -> str:
    return text if level >= needed else f"({text})"
