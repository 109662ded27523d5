"""The graph IR: one immutable tape of nodes in topological order.

Node i's arguments all have ids < i, so every pass is a plain loop over the tape.
A node is (op, args, value, names, tags, source position); the graph stores these as
parallel columns, not as a million small objects, and `graph.node(i)` gives a `Node`
view when one is wanted. Repeated constants and inputs are one node each, and `x * x`
is one `mul` node whose args are (x, x).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterator, Mapping, NamedTuple

from .errors import Location, Source


class Tag(NamedTuple):
    """Where a node was built: inside a call of a user function, or a loop iteration."""

    kind: str  # 'call' or 'loop'
    name: str  # the function's name, or the loop variable
    value: int  # the call's number (1 = first call of that function), or the loop variable's value
    line: int  # the line of the call, or of the loop

    def __str__(self) -> str:
        return f"{self.name}#{self.value}" if self.kind == "call" else f"{self.name} = {self.value}"


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    op: str
    args: tuple[int, ...]
    value: float | None  # constants: their value; inputs and params: the declared default
    names: tuple[str, ...]
    tags: tuple[Tag, ...]
    line: int
    column: int
    text: str  # the source text the node came from

    @property
    def name(self) -> str | None:
        return self.names[0] if self.names else None


@dataclass(frozen=True, eq=False)
class Graph:
    source: Source
    ops: tuple[str, ...]
    args: tuple[tuple[int, ...], ...]
    values: tuple[float | None, ...]
    tags: tuple[tuple[Tag, ...], ...]
    lines: array
    columns: array
    spans: array  # start, end offsets of each node's text, interleaved
    names: Mapping[str, int]  # every name -> its node
    node_names: Mapping[int, tuple[str, ...]]  # node -> its names, in the order given
    leaves: tuple[int, ...]  # inputs and params, in order of first appearance
    output: int
    output_name: str

    def __len__(self) -> int:
        return len(self.ops)

    def node(self, i: int) -> Node:
        start, end = self.spans[2 * i], self.spans[2 * i + 1]
        return Node(
            i, self.ops[i], self.args[i], self.values[i], self.node_names.get(i, ()),
            self.tags[i], self.lines[i], self.columns[i], self.source.text[start:end],
        )

    def __iter__(self) -> Iterator[Node]:
        return (self.node(i) for i in range(len(self.ops)))

    def name_of(self, i: int) -> str | None:
        names = self.node_names.get(i)
        return names[0] if names else None

    def text_of(self, i: int) -> str:
        return self.source.text[self.spans[2 * i] : self.spans[2 * i + 1]]

    def location(self, i: int) -> Location:
        return Location(self.source, self.lines[i], self.columns[i])

    @property
    def inputs(self) -> dict[str, int]:
        """Inputs and params by name, in order of first appearance."""
        return {self.node_names[i][0]: i for i in self.leaves}

    def with_output(self, name: str) -> Graph:
        """The same graph, differentiating another named node."""
        from dataclasses import replace

        return replace(self, output=self.names[name], output_name=name)


def freeze_names(node_names: dict[int, list[str]]) -> Mapping[int, tuple[str, ...]]:
    return MappingProxyType({i: tuple(ns) for i, ns in node_names.items()})
