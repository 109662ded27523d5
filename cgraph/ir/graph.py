"""The graph IR: one immutable tape of nodes in topological order.

Node i's arguments all have ids < i, so every pass is a plain loop over the tape.
A node is (op, args, value, names, tags, source position); the graph stores these as
parallel columns, not as a million small objects (cgraph/columns.py says how), and
`graph.node(i)` gives a `Node` view when one is wanted. Repeated constants and inputs are one node each, and `x * x`
is one `mul` node whose args are (x, x).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence, TypeVar, cast

from .columns import Args, NodeNames, Tags, Values
from ..errors import Location, Source, clip
from ..ops import CONST, INPUT_KINDS

_T = TypeVar("_T")


class Tag(NamedTuple):
    """Where a node was built: inside a call of a user function, or a loop iteration."""

    kind: str  # 'call' or 'loop'
    name: str  # the function's name, or the loop variable
    value: int  # the call's number (1 = first call of that function), or the loop variable's value
    line: int  # the line of the call, or of the loop

    def __str__(self) -> str:
        return f"{self.name}#{self.value}" if self.kind == "call" else f"{self.name} = {self.value}"


class Node:
    """A view of one node of a graph (the graph itself stores columns, not Node objects)."""

    id: int
    op: str
    args: tuple[int, ...]
    value: float | None  # constants: their value; inputs and params: the declared default
    names: tuple[str, ...]
    tags: tuple[Tag, ...]
    line: int
    column: int
    text: str  # the source text the node came from

    __slots__ = ("id", "op", "args", "value", "names", "tags", "line", "column", "text")

    def __init__(self, id: int, op: str, args: tuple[int, ...], value: float | None, names: tuple[str, ...],
                 tags: tuple[Tag, ...], line: int, column: int, text: str):
        self.id = id
        self.op = op
        self.args = args
        self.value = value
        self.names = names
        self.tags = tags
        self.line = line
        self.column = column
        self.text = text

    @property
    def name(self) -> str | None:
        return self.names[0] if self.names else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"Node({self.id}, {self.op!r}, args={self.args}, names={self.names}, line={self.line}, text={self.text!r})"


_COMMENT = re.compile(r"#[^\n]*")
_BREAKS = re.compile(r"[\n#\\\r\f]")  # what line_text_of looks for


def one_line(text: str) -> str:
    """Source text without comments, line continuations and line breaks: `(x # note\\n + 1)`
    -> `(x + 1)`. In the language a `#` always starts a comment and a `\\` outside one
    always ends a line."""
    return " ".join(_COMMENT.sub(" ", text).replace("\\", " ").split())


def _inputs(graph: Graph) -> Mapping[str, int]:
    first = graph.node_names.first
    # Every input and param has a name (`first` is never None here); the cast keeps
    # the loop free of a per-leaf check.
    return MappingProxyType(cast("dict[str, int]", {first(i): i for i in graph.leaves}))


class Graph:
    """An immutable tape. Columns, one entry per node:

    ops      op name ('add', 'tanh', 'input', 'param', 'const', ...)       (a tuple)
    args     argument node ids (all smaller than the node's own id)
             (an `Args` sequence of tuples, stored as two columns of ints)
    values   constants: their value; inputs and params: the declared default or None
             (a `Values` sequence: most nodes have none)
    tags     where the node was built (function calls, loop iterations)
             (a `Tags` sequence: an index per node into the distinct tuples)
    positions  3 offsets per node into the source: the spot errors point at, and the start
             and end of the node's text (nodes unrolled from one loop body share them)
             (a read-only memoryview of 4-byte ints, 8 for a text past 2 GiB)
    node_names  node -> its names (a `NodeNames` mapping), the inverse of `names`
    """

    # The fields, declared for readers and type checkers; `__slots__` stores them (a slot
    # is read as fast as a dataclass field, and a Graph has no per-instance dict).
    source: Source
    ops: tuple[str, ...]
    args: Args
    values: Values
    tags: Tags
    positions: memoryview  # read-only
    names: Mapping[str, int]  # name -> node
    node_names: NodeNames
    leaves: tuple[int, ...]  # inputs and params, in order of first appearance
    outputs: tuple[int, ...]  # `output a, b`: one or more nodes, in declared order
    output_names: tuple[str, ...]  # their names
    output: int  # the first output: the node that is differentiated
    output_name: str
    _cache: dict[str, Any]  # see `cached`

    __slots__ = ("source", "ops", "args", "values", "tags", "positions", "names", "node_names",
                 "leaves", "outputs", "output_names", "output", "output_name", "_cache")

    def __init__(self, *, source: Source, ops: tuple[str, ...], args: Args | Sequence[tuple[int, ...]],
                 values: Values, tags: Tags, positions: array | memoryview,
                 names: Mapping[str, int], node_names: NodeNames, leaves: tuple[int, ...],
                 outputs: tuple[int, ...], output_names: tuple[str, ...]):
        assert outputs and len(outputs) == len(output_names), "a graph has one or more outputs, each named"
        # Graph refuses attribute assignment (it is immutable), so the constructor sets
        # its slots through object's own __setattr__.
        init = object.__setattr__
        init(self, "source", source)
        init(self, "ops", ops)
        init(self, "args", args if isinstance(args, Args) else Args.of(args))
        init(self, "values", values)
        init(self, "tags", tags)
        init(self, "positions", memoryview(positions).toreadonly())
        init(self, "names", names)
        init(self, "node_names", node_names)
        init(self, "leaves", leaves)
        init(self, "outputs", outputs)
        init(self, "output_names", output_names)
        init(self, "output", outputs[0])
        init(self, "output_name", output_names[0])
        init(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Graph is immutable")

    def __repr__(self) -> str:
        outputs = ", ".join(repr(n) for n in self.output_names)
        return f"<Graph of {len(self.ops)} nodes from {self.source.filename}, output{'s' if len(self.outputs) > 1 else ''} {outputs}>"

    def __len__(self) -> int:
        return len(self.ops)

    def node(self, i: int) -> Node:
        line, column = self.source.line_col(self.positions[3 * i])
        return Node(
            i, self.ops[i], self.args[i], self.values[i], self.node_names.get(i, ()),
            self.tags[i], line, column, self.text_of(i),
        )

    def __iter__(self) -> Iterator[Node]:
        return (self.node(i) for i in range(len(self.ops)))

    def name_of(self, i: int) -> str | None:
        return self.node_names.first(i)

    def text_of(self, i: int, limit: int | None = None) -> str:
        """The source text the node came from; with a `limit`, a longer text is cut to that
        many characters, the last three `...`, and only that much is read: the nodes of one
        expression nested 100,000 deep each span most of it, and a copy of every node's
        text would be quadratic."""
        start, end = self.positions[3 * i + 1], self.positions[3 * i + 2]
        if limit is not None and end - start > limit:
            return self.source.text[start : start + limit - 3] + "..."
        return self.source.text[start:end]

    def line_text_of(self, i: int) -> str:
        """The node's source text on one line, for a line of text (explain, a table, a
        message): an expression written over several lines loses its comments and line
        breaks, so no comment (or control character in one) reaches a Markdown list or a
        terminal."""
        text = self.source.text[self.positions[3 * i + 1] : self.positions[3 * i + 2]]
        if "\n" in text or "#" in text or "\\" in text or "\r" in text or "\f" in text:
            return one_line(text)
        return text

    def clipped_line_text(self, i: int, limit: int = 60) -> str:
        """`clip(self.line_text_of(i), limit)`, reading no more of a long text than the
        words it shows (as `text_of` with a limit, for the same reason)."""
        start, end = self.positions[3 * i + 1], self.positions[3 * i + 2]
        window = 4 * limit + 64
        if end - start <= window:
            return clip(self.line_text_of(i), limit)
        text = self.source.text
        if not self._breaks_within(start, end):  # line_text_of keeps such a text as it is
            return clip(text[start : start + limit + 1], limit)
        while window < end - start:
            head = one_line(text[start : start + window])
            cut = head.rfind(" ")  # the words before the window's last are the whole text's first
            if cut > limit:
                return clip(head[:cut], limit)
            window *= 4
        return clip(self.line_text_of(i), limit)

    def _breaks_within(self, start: int, end: int) -> bool:
        """Whether the source between these offsets holds a character that makes
        line_text_of rewrite the text on one line (a line break, a comment, a `\\`)."""
        spots = self.cached("text_breaks", lambda g: [m.start() for m in _BREAKS.finditer(g.source.text)])
        k = bisect_left(spots, start)
        return k < len(spots) and spots[k] < end

    def label(self, i: int) -> str:
        """What a line of output calls node i: its name, or its source text on one line,
        clipped (a 5 KB expression must not become a 5 KB caption)."""
        name = self.name_of(i)
        return clip(name) if name else self.clipped_line_text(i)

    def describe(self, i: int) -> str:
        """Node i as every message names it: `'log(w*x)' (r)`, or `the input 'x'`. The text
        is on one line and clipped, so a multi-line expression with comments, or one of
        several kilobytes, still gives a one-line warning; this is the only spelling, so
        the evaluator, batches, training and diagrams agree."""
        text = self.line_text_of(i)
        name = self.name_of(i)
        kind = "the input " if self.ops[i] in INPUT_KINDS else ""
        return f"{kind}'{clip(text)}'" + (f" ({clip(name)})" if name and name != text else "")

    def line_col(self, i: int) -> tuple[int, int]:
        return self.source.line_col(self.positions[3 * i])

    def line_of(self, i: int) -> int:
        return self.line_col(i)[0]

    def location(self, i: int) -> Location:
        return Location.at(self.source, self.positions[3 * i])

    @property
    def inputs(self) -> Mapping[str, int]:
        """Inputs and params by name, in order of first appearance. Built once and kept
        (read-only): code that looks up each param's node by name would otherwise rebuild
        it per param (training 10,000 params: minutes)."""
        return self.cached("inputs", _inputs)

    @property
    def constants(self) -> dict[str, int]:
        """Named constants (`f = 3`) by their first name, in tape order. Each is its own
        node, never shared with a literal `3` elsewhere, so d out/d f is f's alone."""
        ops, first = self.ops, self.node_names.first
        return cast("dict[str, int]", {first(i): i for i in sorted(self.node_names) if ops[i] == CONST})  # all named

    def is_literal(self, i: int) -> bool:
        """Whether node i is an unnamed constant: a number written in the file (or a loop
        variable's value), shared by its uses. Nobody asks for d out/d 3, so reports leave
        its gradient out; a named constant's is shown like any other node's."""
        return self.ops[i] == CONST and i not in self.node_names

    def cached(self, key: str, build: Callable[[Graph], _T]) -> _T:
        """`build(self)`, computed on first use and kept: the graph never changes, so what
        is derived from it (columns for the evaluator) is built once, not on every pass."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = build(self)
            return value

    def arg_columns(self) -> tuple[memoryview, memoryview]:
        """Every node's arguments as two flat sequences of ints, `first` and `second`
        (read-only memoryviews of int arrays): how `args` is stored (see `Args` for what
        second's negative values mean). The evaluator's loops read these rather than the
        tuples: iterating an array makes each id afresh next to the last one, where a tuple
        would hold the argument's shared int object, wherever the heap put it when that node
        was built (a cache miss per argument on a large graph with fan-out)."""
        return self.args.first, self.args.second

    def upstream(self, node: int, *more: int) -> bytearray:
        """Flags: 1 for `node` (and `more` nodes) and every node they depend on."""
        flags = bytearray(len(self.ops))
        for n in (node, *more):
            flags[n] = 1
        first, second = self.arg_columns()
        for i in range(max((node, *more)), -1, -1):
            if flags[i]:
                b = second[i]
                if b >= 0:
                    flags[first[i]] = flags[b] = 1
                elif b == -1:
                    flags[first[i]] = 1
                elif b == -2:
                    for a in self.args.more[i]:
                        flags[a] = 1
        return flags

    def downstream(self, node: int, upto: int | None = None) -> bytearray:
        """Flags: 1 for `node` and every node (up to `upto`) that depends on it."""
        flags = bytearray(len(self.ops))
        flags[node] = 1
        first, second = self.arg_columns()
        for i in range(node + 1, (len(self.ops) if upto is None else upto + 1)):
            b = second[i]
            if b >= 0:
                flags[i] = flags[first[i]] | flags[b]
            elif b == -1:
                flags[i] = flags[first[i]]
            elif b == -2:
                for a in self.args.more[i]:
                    if flags[a]:
                        flags[i] = 1
                        break
        return flags

    def with_output(self, name: str) -> Graph:
        """The same graph, with the named node its one output."""
        return self.with_outputs([name])

    def with_outputs(self, names: Sequence[str]) -> Graph:
        """The same graph, with the named nodes its outputs (the first differentiated)."""
        return Graph(
            source=self.source, ops=self.ops, args=self.args, values=self.values, tags=self.tags,
            positions=self.positions, names=self.names, node_names=self.node_names,
            leaves=self.leaves, outputs=tuple(self.names[n] for n in names), output_names=tuple(names),
        )

