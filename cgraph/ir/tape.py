"""The tape writer: appends nodes to growing columns and finishes them into a `Graph`.

Whatever makes a graph appends through a `TapeWriter`: the frontend's builder does, node
by node as it lowers a program, and so can any pass that writes a new graph (a gradient
graph, say). It speaks the IR's terms only: an op name, argument node ids, a source
span, the tags of the scope the node is built in, a value. It keeps the IR's two
sharing rules: a literal constant (`3`) is one node however often it is written, and an
input is one node however often it is used (by name: the caller looks names up first);
a constant that gets a name is a node of its own (see `own_constant`), so d out/d f is
f's alone (`Graph.is_literal`, `Graph.constants`).

`push` is the hot path (once per node of a million-node build): it takes the arguments
as the columns store them, so it neither builds nor unpacks a tuple.

Why one module of ~450 lines: appending (`push`), copying a graph back into a writer
column by column (`copy_of`, for the passes) and finishing into a Graph all read and
write the same private columns in the same encodings (ONE/NONE/_MORE, values given or
all, tag sets); split, a change to one encoding would silently break the others.
"""

from __future__ import annotations

import gc
import math
import sys
from contextlib import contextmanager
from array import array
from types import MappingProxyType
from typing import Any, Callable, Iterator, Protocol, Sequence, TypeVar

from ..errors import GraphTooLarge, Location, Source
from ..ops import CONST, INPUT_KINDS
from .columns import Args, NodeNames, Tags, Values, positions_array
from .graph import Graph, Tag

# How `push` takes arguments, as `columns.Args` stores them: (x, y) for two, (x, ONE)
# for one, (NO_ARG, NONE) for none.
ONE = -1
NONE = -3
NO_ARG = -1
_MORE = -2  # more than two: the first column holds the node itself, `more` the tuple

# A big build gives malloc's free memory back to the OS every this many nodes.
RELEASE_EVERY = 65_536
_malloc_trim: Callable[[int], Any] | bool | None = None  # glibc's, once looked up; False where none

_T = TypeVar("_T")


class Site(Protocol):
    """Where a node comes from: offsets into the source of the spot an error points at
    (`pos`) and of the node's whole text (`start`, `end`). Syntax nodes are sites."""

    pos: int
    start: int
    end: int


class Scope:
    """The tags shared by the nodes built in one place (a loop iteration, a function
    call). The tape interns a scope's tuple of tags with the first node built in it and
    keeps the index on the scope, so the next nodes cost one attribute read. A scope
    belongs to one tape; a scope of no tags uses tag set 0, always ()."""

    __slots__ = ("tags", "tag_set")

    def __init__(self, tags: tuple[Tag, ...] = ()):
        self.tags = tags
        self.tag_set = -1 if tags else 0


def release_free_memory() -> None:
    """Hand the free pages inside glibc's heap back to the OS (malloc_trim(0)).

    A build grows a dozen big buffers at once (the columns, the dicts of names). When one
    outgrows its block, realloc moves it and frees the old block: a hole, resident until
    reused. glibc takes big blocks from mmap instead, which would not leave holes, but it
    raises that threshold to the size of any such block freed (reading a big file does:
    after a 22 MB program, a million-node build ended with ~55 MB of holes, a fifth of its
    peak). Releasing them every RELEASE_EVERY nodes costs ~1 ms a call, ~15 ms a million
    nodes, and changes no setting of malloc's. Elsewhere than glibc this does nothing."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError, TypeError):
                pass
    if callable(_malloc_trim):
        _malloc_trim(0)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Cyclic garbage collection paused for a pass that builds or writes a big graph: such a
    pass allocates a few objects per node (nodes, names, texts, dict keys) and frees none
    and makes no cycles, so the collector's passes over the whole heap, again and again as
    the objects pile up, would find nothing and cost 7-17% of the time (parsing, `grad`'s
    transformation and the program writer, each measured on 1e5-node programs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _frozen(column: list[_T]) -> tuple[_T, ...]:
    """The column as a tuple, emptying the list at once so a big graph is not held twice."""
    frozen = tuple(column)
    column.clear()
    return frozen


def _kept_ids(graph: Graph, keep: bytearray | None) -> tuple[Sequence[int], list[int]]:
    """The ids `copy_of` keeps (every leaf too), in order, and the old id -> new id map (-1:
    dropped). A range when every node is kept (a gradient's usual case): then the columns
    are copied whole rather than node by node."""
    n = len(graph)
    if keep is not None:
        ops = graph.ops
        kept = [i for i in range(n) if keep[i] or ops[i] in INPUT_KINDS]
        if len(kept) < n:
            new_id = [-1] * n
            for j, i in enumerate(kept):
                new_id[i] = j
            return kept, new_id
    return range(n), list(range(n))


def _literal_key(value: float) -> tuple[float, float]:
    return (value, math.copysign(1.0, value))  # 0.0 and -0.0 are different constants


class TapeWriter:
    """The columns of a graph being written, one entry per node appended so far."""

    def __init__(self, source: Source, max_nodes: int):
        self.source = source
        self.max_nodes = max_nodes
        self._check_at = min(RELEASE_EVERY, max_nodes)  # the next size at which push looks up
        self.ops: list[str] = []
        # Arguments as two columns (see columns.Args and ONE/NONE above); the tuples of
        # nodes of more than two arguments in `_more_args`.
        id_type = "i" if max_nodes < 2**31 else "q"
        self._first = array(id_type)
        self._second = array(id_type)
        self._more_args: dict[int, tuple[int, ...]] = {}
        # Values (constants', declared defaults) of the few nodes that have one, by node;
        # once most nodes have one, a list of every node's (see columns.Values).
        self._given_values: dict[int, float] | None = {}
        self._all_values: list[float | None] | None = None
        # Tags as one index per node into the distinct tuples (see columns.Tags); a tuple
        # enters the list with the first node built in its scope.
        self._tag_ids = array(id_type)
        self._tag_sets: list[tuple[Tag, ...]] = [()]
        self.root = Scope()  # the scope of no tags: leaves and literals are built in it
        # (anchor, start, end) offsets per node: no syntax node kept alive
        self._positions = positions_array(len(source.text) + 1)
        self.names: dict[str, int] = {}  # read it, write with `name`
        self._node_names = NodeNames(id_type)  # node -> its names
        # One entry per key of `names`, in their order: the offset given with it (-1 if
        # none). Read only to word an error, by finding the key's place (`name_position`).
        self._name_pos = positions_array(len(source.text) + 1)
        self._leaves: list[int] = []
        self._literals: dict[tuple[float, float], int] = {}

    def __len__(self) -> int:
        return len(self.ops)

    @classmethod
    def reopen(cls, graph: Graph, max_nodes: int) -> TapeWriter:
        """A writer holding a copy of `graph`'s nodes (the same ids, names, values, tags and
        sites), to append more: a pass that extends a graph, with its gradient say."""
        return cls.copy_of(graph, max_nodes)[0]

    @classmethod
    def copy_of(cls, graph: Graph, max_nodes: int, keep: bytearray | None = None) -> tuple[TapeWriter, list[int]]:
        """A writer holding a copy of `graph`'s nodes flagged in `keep` (default: all), in
        order, with their names, values, tags and sites, and the old id -> new id map (-1
        for a node not kept). Every leaf is kept (a graph keeps its declarations), and a
        kept node's arguments must be kept too. Dropping dead nodes is a copy of the live.
        Column by column, not node by node through `append`: a pass over a big graph
        copies it once or twice, and appending was half of a gradient's time."""
        tape = cls(graph.source, max_nodes)
        ops = graph.ops
        kept, new_id = _kept_ids(graph, keep)
        if len(kept) > max_nodes:
            raise tape.too_large("the graph grows past the limit", graph.positions[3 * graph.output])
        tape.ops = [ops[i] for i in kept]
        tape._copy_args(graph, kept, new_id)
        given = tape._copy_values(graph, kept, new_id)
        tag_ids = graph.tags.ids
        tape._tag_ids.extend(tag_ids[i] for i in kept)
        tape._tag_sets = list(graph.tags.sets)
        positions = graph.positions
        if isinstance(kept, range):
            tape._positions.frombytes(positions.tobytes())
        else:
            for i in kept:
                tape._positions.extend(positions[3 * i : 3 * i + 3])
        # (Over the nodes that have a value only: a loop over every node was a tenth of a
        # gradient's time.)
        literals, new_ops, named = tape._literals, tape.ops, graph.node_names
        for j, value in given.items():
            if new_ops[j] == CONST and kept[j] not in named:  # kept: new id -> old id
                literals[_literal_key(value)] = j  # so a pass's constants share them
        tape._leaves = [new_id[i] for i in graph.leaves]
        tape._copy_names(graph, new_id)
        tape._check_at = min(len(tape.ops) + RELEASE_EVERY, max_nodes)
        return tape, new_id

    def _copy_args(self, graph: Graph, kept: Sequence[int], new_id: list[int]) -> None:
        first, second = graph.arg_columns()
        more = graph.args.more
        if isinstance(kept, range):
            self._first.frombytes(first.tobytes()) if first.format == self._first.typecode else self._first.extend(first)
            self._second.frombytes(second.tobytes()) if second.format == self._second.typecode else self._second.extend(second)
            self._more_args = dict(more)
            return
        new_first, new_second = self._first, self._second
        for j, i in enumerate(kept):
            b = second[i]
            if b >= 0:
                new_first.append(new_id[first[i]])
                new_second.append(new_id[b])
            elif b == ONE:
                new_first.append(new_id[first[i]])
                new_second.append(ONE)
            elif b == NONE:
                new_first.append(NO_ARG)
                new_second.append(NONE)
            else:
                new_first.append(j)
                new_second.append(_MORE)
                self._more_args[j] = tuple(new_id[a] for a in more[i])

    def _copy_values(self, graph: Graph, kept: Sequence[int], new_id: list[int]) -> dict[int, float]:
        """Copies the values of the kept nodes; returns them, new id -> value."""
        given = {new_id[i]: v for i, v in graph.values.items() if new_id[i] >= 0}
        if len(given) > 1024 and 4 * len(given) > len(kept):
            self._all_values = [given.get(j) for j in range(len(kept))]
            self._given_values = None
        else:
            self._given_values = dict(given)
        return given

    def _copy_names(self, graph: Graph, new_id: list[int]) -> None:
        """The names of `graph`'s nodes that were copied, under their new ids."""
        for node, names in graph.node_names.items():
            if new_id[node] >= 0:
                for name in names:
                    self._node_names.name(new_id[node], name)
        # In the graph's order; a name given again maps to its last node.
        self.names = {name: new_id[node] for name, node in graph.names.items() if new_id[node] >= 0}
        self._name_pos.extend([-1] * len(self.names))

    # --- appending ---------------------------------------------------------------------

    def push(self, op: str, first: int, second: int, site: Site, scope: Scope, value: float | None = None) -> int:
        """Append a node whose arguments are given as the columns store them: `push(op, x,
        y, ...)` for two, `push(op, x, ONE, ...)` for one, `push(op, NO_ARG, NONE, ...)`
        for none (`append` takes any number). Returns the node's id."""
        i = len(self.ops)
        if i >= self._check_at:
            self._grow(i, site)
        self.ops.append(op)
        self._first.append(first)
        self._second.append(second)
        if self._all_values is not None:
            self._all_values.append(value)
        elif value is not None:
            self._give_value(i, value)
        tag_set = scope.tag_set
        if tag_set < 0:
            tag_set = scope.tag_set = len(self._tag_sets)
            self._tag_sets.append(scope.tags)
        self._tag_ids.append(tag_set)
        self._positions.extend((site.pos, site.start, site.end))
        return i

    def append(self, op: str, args: tuple[int, ...], site: Site, scope: Scope, value: float | None = None) -> int:
        """Append a node of any number of arguments (ids of nodes already on the tape)."""
        n = len(args)
        if n == 2:
            return self.push(op, args[0], args[1], site, scope, value)
        if n == 1:
            return self.push(op, args[0], ONE, site, scope, value)
        if n == 0:
            return self.push(op, NO_ARG, NONE, site, scope, value)
        i = self.push(op, len(self.ops), _MORE, site, scope, value)
        self._more_args[i] = args
        return i

    def literal(self, value: float, site: Site) -> int:
        """The constant `value` as written in a program: one shared node per value."""
        key = _literal_key(value)
        i = self._literals.get(key)
        if i is None:
            i = self._literals[key] = self.push("const", NO_ARG, NONE, site, self.root, value)
        return i

    def own_constant(self, node: int, since: int, site: Site, scope: Scope) -> int:
        """A constant node of its own with the value of the shared literal `node`, to be
        named: naming the shared node would make d out/d f include the uses of every other
        `3`. If `node` is the last node and was appended at or after `since` (nothing uses
        it yet), it leaves the pool of shared literals and is the answer; otherwise it is
        copied into a new node (in `scope`)."""
        value = self.value_of(node)
        assert value is not None, "own_constant of a node that is not a constant"
        if node == len(self.ops) - 1 and node >= since:
            del self._literals[_literal_key(value)]
            return node
        return self.push("const", NO_ARG, NONE, site, scope, value)

    def leaf(self, op: str, name: str, site: Site, value: float | None) -> int:
        """Append a named leaf (an input or a param; `value` its default, if any)."""
        i = self.push(op, NO_ARG, NONE, site, self.root, value)
        self._leaves.append(i)
        self.name(i, name)
        return i

    def name(self, node: int, name: str, pos: int = -1) -> None:
        """Give `node` the name `name` (one more, if it has some): `names[name]` is then
        `node`. `pos`: an offset to remember for the name (see `name_position`)."""
        names = self.names
        count = len(names)
        names[name] = node
        if len(names) > count:  # a new key (a name may be given again to a later node)
            self._name_pos.append(pos)
        self._node_names.name(node, name)

    def relabel_leaf(self, node: int, op: str, value: float | None) -> None:
        """Make leaf `node` another kind of leaf with another value (an input used before
        the statement that declares it a param)."""
        self.ops[node] = op
        if self._all_values is not None:
            self._all_values[node] = value
        elif value is not None:
            assert self._given_values is not None
            self._given_values[node] = value

    # --- reading -----------------------------------------------------------------------

    def value_of(self, node: int) -> float | None:
        if self._all_values is None:
            assert self._given_values is not None
            return self._given_values.get(node)
        return self._all_values[node]

    def site_of(self, node: int) -> Span:
        """The site a node appended so far was given."""
        p = self._positions
        return Span(p[3 * node], p[3 * node + 1], p[3 * node + 2])

    def args_of(self, node: int) -> tuple[int, ...]:
        """The argument ids of a node appended so far (as `Graph.args[node]`)."""
        b = self._second[node]
        if b >= 0:
            return (self._first[node], b)
        if b == ONE:
            return (self._first[node],)
        return () if b == NONE else self._more_args[node]

    def is_shared_literal(self, node: int) -> bool:
        """Whether `node` is the one node of its value that `literal` hands out."""
        value = self.value_of(node) if self.ops[node] == CONST else None
        return value is not None and self._literals.get(_literal_key(value)) == node

    def is_literal(self, node: int) -> bool:
        """Whether `node` is an unnamed constant (as `Graph.is_literal`)."""
        return self.ops[node] == CONST and node not in self._node_names

    def name_position(self, name: str) -> int:
        """The offset given when `name` was first named (a walk over the names: for errors)."""
        for index, key in enumerate(self.names):
            if key == name:
                return self._name_pos[index]
        raise KeyError(name)

    # --- limits and finishing ----------------------------------------------------------

    def too_large(self, message: str, pos: int) -> GraphTooLarge:
        """The error for a graph that would grow past `max_nodes`, located at offset `pos`."""
        return GraphTooLarge(
            f"{message} (the limit is {self.max_nodes:,} nodes)",
            Location.at(self.source, pos),
            "raise the limit with --max-nodes N (or max_nodes= in the API) if you mean it",
        )

    def finish(self, output: int, output_name: str) -> Graph:
        """The immutable graph of every node appended, with one output. The writer is
        spent: its columns move into the graph (a big graph is not held twice)."""
        return self.finish_outputs([(output, output_name)])

    def finish_outputs(self, outputs: Sequence[tuple[int, str]]) -> Graph:
        """`finish`, with one or more outputs (node, name), the first the one differentiated."""
        # What only writing needed goes before the columns are copied into the graph's
        # tuples, which is when a big build peaks.
        self._literals = {}
        self._name_pos = array(self._name_pos.typecode)
        size = len(self.ops)
        values = self._given_values if self._all_values is None else _frozen(self._all_values)
        assert values is not None
        return Graph(
            source=self.source,
            ops=_frozen(self.ops),
            args=Args(self._first, self._second, self._more_args),
            values=Values(values, size),
            tags=Tags(self._tag_ids, self._tag_sets),
            positions=self._positions,
            names=MappingProxyType(self.names),
            node_names=self._node_names,
            leaves=tuple(self._leaves),
            outputs=tuple(node for node, _ in outputs),
            output_names=tuple(name for _, name in outputs),
        )

    def _give_value(self, i: int, value: float) -> None:
        given = self._given_values
        assert given is not None
        given[i] = value
        if len(given) > 1024 and 4 * len(given) > i:
            self._all_values = [given.get(j) for j in range(i + 1)]
            self._given_values = None

    def _grow(self, i: int, site: Site) -> None:
        """Past another RELEASE_EVERY nodes: refuse at the limit, else return free memory."""
        if i >= self.max_nodes:
            raise self.too_large("the graph grows past the limit", site.pos)
        release_free_memory()
        self._check_at = min(i + RELEASE_EVERY, self.max_nodes)


class Span:
    """A site given explicitly: the offsets of the spot and of the text a node comes from."""

    __slots__ = ("pos", "start", "end")

    def __init__(self, pos: int = 0, start: int = 0, end: int = 0):
        self.pos, self.start, self.end = pos, start, end


class RuleWriter:
    """The op table's graph rules (`Op.rule`) write their nodes onto a tape through this:
    it is the `ops.NodeWriter` of a `TapeWriter`. Constants are the tape's shared literals
    (one node per value); every node gets the same site and scope, those of the node
    being differentiated, so an error or a diagram can point at it."""

    __slots__ = ("tape", "site", "scope")

    def __init__(self, tape: TapeWriter, site: Site | None = None, scope: Scope | None = None):
        self.tape = tape
        self.site: Site = site if site is not None else Span()
        self.scope = scope if scope is not None else tape.root

    def const(self, value: float) -> int:
        return self.tape.literal(value, self.site)

    def op(self, name: str, *args: int) -> int:
        return self.tape.append(name, args, self.site, self.scope)
