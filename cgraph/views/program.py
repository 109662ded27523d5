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
from ..ops import CONST, INFIX, INPUT, PARAM, PREFIX
from .numbers import program_number
from .statements import Operand, live_and_uses, write_statements

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

_PLAIN = re.compile(r"[ -~]*")

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
    if _PLAIN.fullmatch(text):  # printable ASCII (the common case): nothing to clean
        return " ".join(text.split())
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
        self.live, self.uses = live_and_uses(graph, [*graph.node_names, *graph.outputs])
        self.written = self._written_names()  # node -> the names its statements give it
        self.lines: list[str] = []

    # --- what to write -----------------------------------------------------------------

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
        """One statement per named node, node used more than once, node with a note, and
        head of a long inlined chain (statements.py's walk); the rest inlined."""
        g = self.graph
        written = self.written
        refs = {leaf: written[leaf][0] for leaf in g.leaves}

        def emit(node: int, text: str, temporary: bool, plain: bool) -> str | None:
            names = [self._temp()] if temporary else written[node]
            self._assign(node, names, text)
            if g.ops[node] == CONST and node not in g.node_names:
                return None  # a shared number that is an output: its other uses still write it as a number
            return names[0]

        write_statements(g, _CG, live=self.live, uses=self.uses, named=written, alone=self.notes, refs=refs,
                         emit=emit, max_depth=MAX_DEPTH, max_length=MAX_LENGTH, atom=_ATOM)

    def _assign(self, node: int, names: list[str], text: str) -> None:
        name = names[0]
        self._line(f"{name} = {text}", node, name)
        for other in names[1:]:
            self._line(f"{other} = {name}", -1, other)

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


class _CgSpelling:
    """The walk's spelling of the cgraph language."""

    def op(self, op: Op, operands: list[Operand]) -> tuple[str, int, bool]:
        return (*write_op(op, [(text, level) for text, level, _ in operands]), False)

    def constant(self, value: float) -> tuple[str, int]:
        return constant(value)


_CG = _CgSpelling()


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
