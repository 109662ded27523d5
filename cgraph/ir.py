"""The graph IR: one immutable tape of nodes in topological order.

Node i's arguments all have ids < i, so every pass is a plain loop over the tape.
A node is (op, args, value, names, tags, source position); the graph stores these as
parallel columns, not as a million small objects, and `graph.node(i)` gives a `Node`
view when one is wanted. Repeated constants and inputs are one node each, and `x * x`
is one `mul` node whose args are (x, x).
"""

from __future__ import annotations

import re
from array import array
from typing import Callable, Iterator, Mapping, NamedTuple, TypeVar

from .errors import Location, Source

_T = TypeVar("_T")


class Tag(NamedTuple):
    """Where a node was built: inside a call of a user function, or a loop iteration."""

    kind: str  # 'call' or 'loop'
    name: str  # the function's name, or the loop variable
    value: int  # the call's number (1 = first call of that function), or the loop variable's value
    line: int  # the line of the call, or of the loop

    def __str__(self) -> str:
        return f"{self.name}#{self.value}" if self.kind == "call" else f"{self.name} = {self.value}"


class NodeNames(Mapping):
    """node id -> its names, as a read-only mapping. Stored as the first name of each
    node plus the rare extra ones, since a tuple per node costs ~100 bytes a node."""

    __slots__ = ("_first", "_more")

    def __init__(self, first: dict[int, str], more: dict[int, tuple[str, ...]]):
        self._first = first
        self._more = more

    def __getitem__(self, i: int) -> tuple[str, ...]:
        return (self._first[i],) + self._more.get(i, ())

    def __iter__(self) -> Iterator[int]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, i: object) -> bool:
        return i in self._first

    def first(self, i: int) -> str | None:
        return self._first.get(i)


class Node:
    """A view of one node of a graph (the graph itself stores columns, not Node objects)."""

    __slots__ = ("id", "op", "args", "value", "names", "tags", "line", "column", "text")

    def __init__(self, id: int, op: str, args: tuple[int, ...], value: float | None, names: tuple[str, ...],
                 tags: tuple[Tag, ...], line: int, column: int, text: str):
        self.id = id
        self.op = op
        self.args = args
        self.value = value  # constants: their value; inputs and params: the declared default
        self.names = names
        self.tags = tags
        self.line = line
        self.column = column
        self.text = text  # the source text the node came from

    @property
    def name(self) -> str | None:
        return self.names[0] if self.names else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"Node({self.id}, {self.op!r}, args={self.args}, names={self.names}, line={self.line}, text={self.text!r})"


_GRAPH_FIELDS = (
    "source", "ops", "args", "values", "tags", "positions",
    "names", "node_names", "leaves", "output", "output_name",
)


_COMMENT = re.compile(r"#[^\n]*")


def one_line(text: str) -> str:
    """Source text without comments, line continuations and line breaks: `(x # note\\n + 1)`
    -> `(x + 1)`. In the language a `#` always starts a comment and a `\\` outside one
    always ends a line."""
    return " ".join(_COMMENT.sub(" ", text).replace("\\", " ").split())


class Graph:
    """An immutable tape. Columns, one entry per node:

    ops      op name ('add', 'tanh', 'input', 'param', 'const', ...)
    args     argument node ids (all smaller than the node's own id)
    values   constants: their value; inputs and params: the declared default or None
    tags     where the node was built (function calls, loop iterations)
    positions  3 offsets per node into the source: the spot errors point at, and the start
             and end of the node's text (nodes unrolled from one loop body share them)
    """

    __slots__ = _GRAPH_FIELDS + ("_cache",)  # _cache: see `cached`

    def __init__(self, *, source: Source, ops: tuple[str, ...], args: tuple[tuple[int, ...], ...],
                 values: tuple[float | None, ...], tags: tuple[tuple[Tag, ...], ...], positions: array,
                 names: Mapping[str, int], node_names: NodeNames, leaves: tuple[int, ...],
                 output: int, output_name: str):
        given = dict(locals())
        for field in _GRAPH_FIELDS:
            value = given[field]
            if isinstance(value, array):
                value = memoryview(value).toreadonly()
            object.__setattr__(self, field, value)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Graph is immutable")

    def __repr__(self) -> str:
        return f"<Graph of {len(self.ops)} nodes from {self.source.filename}, output {self.output_name!r}>"

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

    def text_of(self, i: int) -> str:
        """The source text the node came from."""
        return self.source.text[self.positions[3 * i + 1] : self.positions[3 * i + 2]]

    def line_text_of(self, i: int) -> str:
        """The node's source text on one line, for a line of text (explain, a table, a
        message): an expression written over several lines loses its comments and line
        breaks, so no comment (or control character in one) reaches a Markdown list or a
        terminal."""
        text = self.source.text[self.positions[3 * i + 1] : self.positions[3 * i + 2]]
        if "\n" in text or "#" in text or "\\" in text or "\r" in text or "\f" in text:
            return one_line(text)
        return text

    def line_col(self, i: int) -> tuple[int, int]:
        return self.source.line_col(self.positions[3 * i])

    def line_of(self, i: int) -> int:
        return self.line_col(i)[0]

    def location(self, i: int) -> Location:
        return Location.at(self.source, self.positions[3 * i])

    @property
    def inputs(self) -> dict[str, int]:
        """Inputs and params by name, in order of first appearance."""
        first = self.node_names.first
        return {first(i): i for i in self.leaves}

    def cached(self, key: str, build: Callable[[Graph], _T]) -> _T:
        """`build(self)`, computed on first use and kept: the graph never changes, so what
        is derived from it (columns for the evaluator) is built once, not on every pass."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = build(self)
            return value

    def arg_columns(self) -> tuple[array, array]:
        """Every node's arguments as two flat int arrays, `first` and `second`, built on
        first use and kept. For node i, second[i] is
          >= 0  its second argument, first[i] its first (a node of two arguments)
            -1  a node of one argument, first[i]
            -2  a node of more than two: first[i] is i itself, its arguments are args[i]
            -3  a node without arguments (a leaf; first[i] is -1)
        The evaluator's loops read these rather than the `args` tuples: iterating an array
        makes each id afresh next to the last one, where a tuple holds the argument's shared
        int object, wherever the heap put it when that node was built (a cache miss per
        argument on a large graph with fan-out). 8 bytes a node: 8 MB at a million nodes."""
        return self.cached("arg_columns", _arg_columns)

    def upstream(self, node: int) -> bytearray:
        """Flags: 1 for `node` and every node it depends on."""
        flags = bytearray(len(self.ops))
        flags[node] = 1
        args = self.args
        for i in range(node, -1, -1):
            if flags[i]:
                for a in args[i]:
                    flags[a] = 1
        return flags

    def downstream(self, node: int, upto: int | None = None) -> bytearray:
        """Flags: 1 for `node` and every node (up to `upto`) that depends on it."""
        flags = bytearray(len(self.ops))
        flags[node] = 1
        args = self.args
        for i in range(node + 1, (len(self.ops) if upto is None else upto + 1)):
            for a in args[i]:
                if flags[a]:
                    flags[i] = 1
                    break
        return flags

    def with_output(self, name: str) -> Graph:
        """The same graph, differentiating another named node."""
        fields = {field: getattr(self, field) for field in _GRAPH_FIELDS}
        fields.update(output=self.names[name], output_name=name)
        return Graph(**fields)


def _arg_columns(graph: Graph) -> tuple[array, array]:
    n = len(graph.args)
    code = "i" if n < 2**31 else "q"
    first, second = array(code, [-1]) * n, array(code, [-3]) * n
    for i, args in enumerate(graph.args):
        k = len(args)
        if k == 2:
            first[i], second[i] = args
        elif k == 1:
            first[i] = args[0]
            second[i] = -1
        elif k:
            first[i] = i
            second[i] = -2
    return first, second
