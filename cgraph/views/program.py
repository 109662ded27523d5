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

Speed: `cgraph grad` writes programs of a few 1e5 nodes with a note on most statements, and
the writer's time is per node, so the per-node loops read the graph's columns directly
(not a tuple view per node), look an op's spelling up once per op (not per node), and
skip the character-by-character work for the common name and comment (plain ASCII).
bench/bench_program_text.py measures it; tests/test_program_text_pinned.py pins the
output byte for byte.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain, compress
from typing import Mapping, NamedTuple

from ..ir.graph import Graph
from ..ir.tape import paused_gc
from ..ops import CALL, CONST, INFIX, INPUT, OPS, PARAM, PREFIX, Op
from .numbers import program_number

# How tightly a piece of text binds, as the grammar (grammar/cgraph.lark) nests its rules:
# expr (+ -) < product (* /) < factor (unary -, ^) < atom (names, numbers, calls, parens).
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5
# The levels by name, for the other writers that fold expressions (fold.py, export_latex):
# a name is an atom (never parenthesized), a negation is unary.
SUM, PRODUCT, UNARY, POWER, ATOM = _SUM, _PRODUCT, _UNARY, _POWER, _ATOM
# The grammar's infix symbols: (level of the result, level the left operand needs, level
# the right operand needs). + - * / are left-associative, ^ right-associative and its base
# is an atom (so (-2)^2 and (a^b)^c keep their parentheses).
INFIX_LEVELS = _INFIX = {
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
    with paused_gc():
        return _Writer(graph, notes or {}).write(header)


def comment(text: str) -> str:
    """`text` as one line that cannot leave a comment: line breaks and other control or
    separator characters become spaces."""
    if text.isascii() and text.isprintable():
        # Nearly every note: printable ASCII has no control or separator character but the
        # space, so only runs of spaces are squeezed (most often none), without the per-
        # character Unicode lookup below, which took most of the writer's time on a gradient program.
        if "  " not in text and text[:1] != " " and text[-1:] != " ":
            return text
        return " ".join(text.split())
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    return " ".join(cleaned.split())


def is_writable_name(name: str) -> bool:
    """Whether the grammar reads `name` back as itself, a name (not a keyword)."""
    if name.isascii() and name.isidentifier():
        # Most names: an ASCII identifier is exactly `[A-Za-z_][A-Za-z0-9_]*`, the pattern's
        # part without an index, and a string method is cheaper than the regex.
        return name not in KEYWORDS
    return _NAME.fullmatch(name) is not None and name.split("[", 1)[0] not in KEYWORDS


def constant(value: float) -> tuple[str, int]:
    """A constant as text that reads back as exactly that value (numbers.program_number),
    and its binding level: `0/0` is a quotient, `-2` and `-0` negations."""
    text = program_number(value)
    if value != value:
        return text, _PRODUCT
    return text, (_UNARY if value < 0 or text.startswith("-") else _ATOM)


class _Form(NamedTuple):
    """How one op is written: `kind` INFIX (one of the grammar's infix symbols), PREFIX or
    CALL; `text` its symbol, spaced as written, or its function name; `level` the result's
    binding level; `left` and `right` the levels its operands need (INFIX only)."""
    kind: str
    text: str
    level: int
    left: int = 0
    right: int = 0


def _form(op: Op) -> _Form:
    if op.notation == INFIX and op.symbol in _INFIX:
        level, left, right = _INFIX[op.symbol]
        return _Form(INFIX, f" {op.symbol} " if op.symbol in _SPACED else op.symbol, level, left, right)
    if op.notation == PREFIX:
        return _Form(PREFIX, op.symbol, _UNARY)
    return _Form(CALL, op.name, _ATOM)


def _expression(form: _Form, operands: list[tuple[str, int, int]]) -> tuple[str, int, int]:
    """A node's expression from its operands' (text, binding level, nesting depth): its text,
    level and depth of inlined text (once per node: no call per operand for the usual shapes)."""
    kind, text, level, left, right = form
    if kind == INFIX:
        (a, a_level, a_depth), (b, b_level, b_depth) = operands
        a = a if a_level >= left else f"({a})"
        b = b if b_level >= right else f"({b})"
        return f"{a}{text}{b}", level, (a_depth if a_depth > b_depth else b_depth) + 1
    if kind == PREFIX:
        (only, only_level, depth), = operands
        # Parenthesized when it starts with a minus too: -(-x), not --x.
        inner = f"({only})" if only_level < _UNARY or only.startswith("-") else only
        return f"{text}{inner}", _UNARY, depth + 1
    if len(operands) == 1:  # f(x), most calls
        (only, _, depth), = operands
        return f"{text}({only})", _ATOM, depth + 1
    depth = max([d for _, _, d in operands], default=0)
    return f"{text}({', '.join([t for t, _, _ in operands])})", _ATOM, depth + 1


def write_op(op: Op, operands: list[tuple[str, int]]) -> tuple[str, int]:
    """`op` applied to operands given as (text, binding level), with only the parentheses
    the grammar needs, and the level of the result (for one-line texts of nodes)."""
    text, level, _depth = _expression(_form(op), [(t, lvl, 0) for t, lvl in operands])
    return text, level


class _Writer:
    def __init__(self, graph: Graph, notes: Mapping[int | str, str]):
        self.graph = graph
        self.notes = notes
        self.taken: set[str] = {*graph.names, *graph.output_names}  # one set built, not three
        self.temps = 0
        self.live, self.uses = self._live_and_uses()
        self.written = self._written_names()  # node -> the names its statements give it
        self.lines: list[str] = []

    # --- what to write -----------------------------------------------------------------

    def _live_and_uses(self) -> tuple[bytearray, list[int]]:
        """Flags: 1 for every node a named node or an output depends on (an unnamed node
        nothing uses is not written); and how often each node's text is mentioned: once per
        argument of a live node. One pass back over the tape: a node's consumers all come
        after it, so whether it is live is settled when the pass reaches it."""
        g = self.graph
        live = bytearray(len(g))
        uses = [0] * len(g)
        for node in chain(g.node_names, g.outputs, g.leaves):
            live[node] = 1
        # The argument columns, not `g.args[i]`: a tuple made per node cost a third of this pass.
        first, second = g.arg_columns()
        more = g.args.more
        for i in range(len(g) - 1, -1, -1):
            if not live[i]:
                continue
            b = second[i]
            if b >= 0:
                a = first[i]
                live[a] = live[b] = 1
                uses[a] += 1
                uses[b] += 1
            elif b == -1:
                live[first[i]] = 1
                uses[first[i]] += 1
            elif b == -2:
                for a in more[i]:
                    live[a] = 1
                    uses[a] += 1
        return live, uses

    def _written_names(self) -> dict[int, list[str]]:
        """Each named node's names as written: a name is written by the node the graph
        finally binds it to, if the grammar reads it back; a node left with none gets one
        made from its first name. An output's name is its node's too (see _name_outputs)."""
        g = self.graph
        bound = g.names.get
        written: dict[int, list[str]] = {}
        for node, names in g.node_names.items():
            written[node] = [n for n in names if bound(n) == node and is_writable_name(n)]
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
        self.lines.append("")  # the final line break, without copying the whole text again
        return "\n".join(self.lines)

    def _line(self, text: str, node: int, name: str) -> None:
        notes = self.notes
        note = notes.get(name)
        if note is None and name not in notes:  # one lookup when the name has a note
            note = notes.get(node)
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
        named node, a node used more than once, and the head of a long inlined chain.

        One long loop on purpose: it runs once per node of programs of 1e5 nodes and more,
        and is measured (bench/bench_program_text.py): a helper call per node or per argument
        cost a measurable share, so only the rare case, a constant, is a helper."""
        g = self.graph
        live, uses, written, notes, ops = self.live, self.uses, self.written, self.notes, g.ops
        # Read per node, so taken out of the graph once: the argument columns (see
        # _live_and_uses) and each op's spelling (the op table's entry, looked at once per op).
        first, second = g.arg_columns()
        more = g.args.more
        forms = {name: _form(op) for name, op in OPS.items()}
        inline: dict[int, tuple[str, int, int]] = {}  # node -> (text, level, depth), until its one use
        # node -> (text, level, depth) where it is the same at every use: the name its statement
        # gave it, or a number (one 0 or 1 may be used thousands of times). A list, not a dict:
        # indexing a list is the cheapest lookup there is, and there are about two per node.
        refs: list[tuple[str, int, int] | None] = [None] * len(g)
        todo = bytearray(live)  # the live nodes but the leaves (declared already), as flags
        for leaf in g.leaves:
            refs[leaf], todo[leaf] = (written[leaf][0], _ATOM, 0), 0

        def literal_at(a: int) -> tuple[str, int, int]:  # an argument neither named nor inlined
            text = refs[a] = self._literal(a)
            return text

        for i in compress(range(len(g)), todo):  # picked out in C, not by a test per node
            op = ops[i]
            if op == CONST:
                self._constant(i, refs)
                continue
            # The arguments as `Args` stores them (cgraph/ir/columns.py), two (most nodes) without
            # a loop; each one's text is its name or number, else its inlined text (used here only,
            # so taken out), else a new number (a text tuple is never false: `or` looks no further).
            x, y = first[i], second[i]
            if y >= 0:
                operands = [refs[x] or inline.pop(x, None) or literal_at(x),
                            refs[y] or inline.pop(y, None) or literal_at(y)]
            elif y == -1:
                operands = [refs[x] or inline.pop(x, None) or literal_at(x)]
            else:
                operands = [refs[a] or inline.pop(a, None) or literal_at(a) for a in (more[i] if y == -2 else ())]
            expression = _expression(forms[op], operands)
            text, _, depth = expression
            names = written.get(i)
            if names is not None:
                self._assign(i, names, text, refs)
            elif uses[i] != 1 or i in notes or depth >= MAX_DEPTH or len(text) > MAX_LENGTH:
                self._assign(i, [self._temp()], text, refs)
            else:
                inline[i] = expression

    def _constant(self, node: int, refs: list[tuple[str, int, int] | None]) -> None:
        """A named constant (`f = 3`), or a number that is an output, gets a statement; any
        other number is written in place at each use."""
        if node in self.written:
            self._assign(node, self.written[node], self._literal(node)[0], refs)
            if node not in self.graph.node_names:
                refs[node] = None  # a shared number: its other uses still write it as a number

    def _assign(self, node: int, names: list[str], text: str, refs: list[tuple[str, int, int] | None]) -> None:
        name = names[0]
        self._line(f"{name} = {text}", node, name)
        if len(names) > 1:  # a node with aliases (most have none: no list is sliced for them)
            for other in names[1:]:
                self._line(f"{other} = {name}", -1, other)
        refs[node] = (name, _ATOM, 0)

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
        seen: set[str] = set()  # `listed` as a set: a gradient program may list 1e5 outputs
        for node, name in zip(g.outputs, g.output_names):
            own = self.written[node]
            ref = name if name in own else own[0]
            if ref in seen:
                alias = self._fresh(name)
                self.lines.append(f"{alias} = {ref}")
                ref = alias
            listed.append(ref)
            seen.add(ref)
        return listed

