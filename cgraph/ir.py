"""The graph IR: one immutable tape of nodes in topological order.

Node i's arguments all have ids < i, so every pass is a plain loop over the tape.
A node is (op, args, value, names, tags, source position); the graph stores these as
parallel columns, not as a million small objects, and `graph.node(i)` gives a `Node`
view when one is wanted. Repeated constants and inputs are one node each, and `x * x`
is one `mul` node whose args are (x, x).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Iterator, Mapping, NamedTuple, Protocol

from .errors import Location, Source


class Site(Protocol):
    """Where a node came from in the source (a syntax node of cgraph.syntax)."""

    line: int
    column: int
    start: int
    end: int


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
    "source", "ops", "args", "values", "tags", "sites",
    "names", "node_names", "leaves", "output", "output_name",
)


class Graph:
    """An immutable tape. Columns, one entry per node:

    ops      op name ('add', 'tanh', 'input', 'param', 'const', ...)
    args     argument node ids (all smaller than the node's own id)
    values   constants: their value; inputs and params: the declared default or None
    tags     where the node was built (function calls, loop iterations)
    sites    the syntax node it came from: `.line`, `.column`, and `.start`/`.end` offsets
             of its text (nodes unrolled from one loop body share one site)
    """

    __slots__ = _GRAPH_FIELDS

    def __init__(self, *, source: Source, ops: tuple[str, ...], args: tuple[tuple[int, ...], ...],
                 values: tuple[float | None, ...], tags: tuple[tuple[Tag, ...], ...], sites: tuple[Site, ...],
                 names: Mapping[str, int], node_names: Mapping[int, tuple[str, ...]], leaves: tuple[int, ...],
                 output: int, output_name: str):
        given = dict(locals())
        for field in _GRAPH_FIELDS:
            object.__setattr__(self, field, given[field])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Graph is immutable")

    def __repr__(self) -> str:
        return f"<Graph of {len(self.ops)} nodes from {self.source.filename}, output {self.output_name!r}>"

    def __len__(self) -> int:
        return len(self.ops)

    def node(self, i: int) -> Node:
        site = self.sites[i]
        return Node(
            i, self.ops[i], self.args[i], self.values[i], self.node_names.get(i, ()),
            self.tags[i], site.line, site.column, self.source.text[site.start : site.end],
        )

    def __iter__(self) -> Iterator[Node]:
        return (self.node(i) for i in range(len(self.ops)))

    def name_of(self, i: int) -> str | None:
        names = self.node_names.get(i)
        return names[0] if names else None

    def text_of(self, i: int) -> str:
        site = self.sites[i]
        return self.source.text[site.start : site.end]

    def line_of(self, i: int) -> int:
        return self.sites[i].line

    def location(self, i: int) -> Location:
        site = self.sites[i]
        return Location(self.source, site.line, site.column)

    @property
    def inputs(self) -> dict[str, int]:
        """Inputs and params by name, in order of first appearance."""
        return {self.node_names[i][0]: i for i in self.leaves}

    def with_output(self, name: str) -> Graph:
        """The same graph, differentiating another named node."""
        fields = {field: getattr(self, field) for field in _GRAPH_FIELDS}
        fields.update(output=self.names[name], output_name=name)
        return Graph(**fields)


def freeze_names(node_names: dict[int, list[str]]) -> Mapping[int, tuple[str, ...]]:
    return MappingProxyType({i: tuple(ns) for i, ns in node_names.items()})
