"""How the graph stores its columns compactly: a million-node graph is a handful of flat
arrays, not a million small objects. Each class is a read-only sequence (or mapping)
view with the indexing the rest of cgraph expects (`graph.args[i]` is a tuple of ids),
filled by the builder and frozen into a `Graph` (cgraph/ir.py).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from itertools import chain, repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, ItemsView, Iterator, Mapping, Sequence, overload

if TYPE_CHECKING:
    from .graph import Tag

class NodeNames(Mapping[int, tuple[str, ...]]):
    """node id -> its names, as a read-only mapping (filled by the builder with `name`).

    Stored as the first names in the order of their nodes, with those nodes' ids (not
    kept while they are 0, 1, 2, ...: a file of one name per node), plus two small dicts:
    the nodes first named after a later node was (a bare constant named `out` at the
    end), and every node's further names (aliases). A dict keyed by node would cost ~40
    bytes a node, a list slot per node 8 bytes for every unnamed node as well."""

    _keys: list[str]
    _ids: array | None  # None: the nodes of _keys are 0, 1, 2, ...
    _id_type: str
    _late: dict[int, str]
    _more: dict[int, list[str]]  # lists: a node given a million aliases in a loop gets them in linear time

    __slots__ = ("_keys", "_ids", "_id_type", "_late", "_more")

    def __init__(self, id_type: str = "q"):
        self._keys = []
        self._ids = None
        self._id_type = id_type
        self._late = {}
        self._more = {}

    def name(self, i: int, key: str) -> None:
        """Give node `i` one more name (building only: the graph's mapping is read-only)."""
        keys, ids = self._keys, self._ids
        if not keys or i > (len(keys) - 1 if ids is None else ids[-1]):
            if ids is None and i != len(keys):
                ids = self._ids = array(self._id_type, range(len(keys)))
            keys.append(key)
            if ids is not None:
                ids.append(i)
        elif self.first(i) is None:
            self._late[i] = key
        else:
            self._more.setdefault(i, []).append(key)

    def first(self, i: int) -> str | None:
        if type(i) is not int:
            return None
        keys, ids = self._keys, self._ids
        if ids is None:
            if 0 <= i < len(keys):
                return keys[i]
        else:
            k = bisect_left(ids, i)
            if k < len(ids) and ids[k] == i:
                return keys[k]
        return self._late.get(i)

    def primary(self, i: int) -> str:
        """The first name of a node that has one (a leaf, a named constant); KeyError if not."""
        name = self.first(i)
        if name is None:
            raise KeyError(i)
        return name

    def __getitem__(self, i: int) -> tuple[str, ...]:
        name = self.first(i)
        if name is None:
            raise KeyError(i)
        return (name, *self._more.get(i, ()))

    def __iter__(self) -> Iterator[int]:
        yield from range(len(self._keys)) if self._ids is None else self._ids
        yield from self._late

    def items(self) -> ItemsView[int, tuple[str, ...]]:
        return _NodeNameItems(self)

    def _pairs(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """(node, names) in the mapping's order, read off the columns as they are stored:
        Mapping's own items() looks every node up again (a search in the ids), which was
        most of the time of a pass over a 1e5-name graph's names."""
        more = self._more
        for i, key in zip(range(len(self._keys)) if self._ids is None else self._ids, self._keys):
            yield i, (key, *more[i]) if i in more else (key,)
        for i, key in self._late.items():
            yield i, (key, *more.get(i, ()))

    def __len__(self) -> int:
        return len(self._keys) + len(self._late)

    def __contains__(self, i: object) -> bool:
        return self.first(i) is not None  # type: ignore[arg-type]


class _NodeNameItems(ItemsView[int, tuple[str, ...]]):
    """`NodeNames.items()`: a Mapping's items view, iterated straight off the columns."""

    _mapping: NodeNames

    __slots__ = ()

    def __iter__(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        return self._mapping._pairs()


def positions_array(text_length: int) -> array:
    """An array for offsets into a text this long: 4 bytes an offset below 2 GiB."""
    return array("i" if text_length < 2**31 else "q")


class Args(Sequence[tuple[int, ...]]):
    """node id -> its argument node ids, as a tuple: `graph.args[i]`. Stored as two columns
    of ints, not as a tuple per node (~60 bytes with its ints, scattered over the heap).
    For node i, second[i] is
      >= 0  its second argument, first[i] its first (a node of two arguments)
        -1  a node of one argument, first[i]
        -2  a node of more than two: first[i] is i itself, its arguments are more[i]
        -3  a node without arguments (a leaf; first[i] is -1)
    Passes over the whole graph read the columns (`Graph.arg_columns`); this view makes
    each tuple when asked."""

    first: memoryview  # read-only, of ints
    second: memoryview  # read-only, of ints
    more: Mapping[int, tuple[int, ...]]  # read-only

    __slots__ = ("first", "second", "more")

    def __init__(self, first: array, second: array, more: dict[int, tuple[int, ...]]):
        self.first = memoryview(first).toreadonly()
        self.second = memoryview(second).toreadonly()
        self.more = MappingProxyType(more)

    @classmethod
    def of(cls, args: Sequence[tuple[int, ...]]) -> Args:
        """The columns of a sequence of tuples."""
        code = "i" if len(args) < 2**31 else "q"
        first, second, more = array(code), array(code), {}
        for i, ids in enumerate(args):
            k = len(ids)
            if k == 2:
                first.append(ids[0])
                second.append(ids[1])
            elif k == 1:
                first.append(ids[0])
                second.append(-1)
            elif k == 0:
                first.append(-1)
                second.append(-3)
            else:
                first.append(i)
                second.append(-2)
                more[i] = tuple(ids)
        return cls(first, second, more)

    def __len__(self) -> int:
        return len(self.second)

    @overload
    def __getitem__(self, i: int) -> tuple[int, ...]: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[tuple[int, ...], ...]: ...

    def __getitem__(self, i: int | slice) -> tuple[int, ...] | tuple[tuple[int, ...], ...]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self.second))))
        b = self.second[i]
        if b >= 0:
            return (self.first[i], b)
        if b == -1:
            return (self.first[i],)
        if b == -3:
            return ()
        return self.more[self.first[i]]

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        more = self.more
        for a, b in zip(self.first, self.second):
            yield (a, b) if b >= 0 else (a,) if b == -1 else () if b == -3 else more[a]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Args, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<args of {len(self)} nodes>"


class Tags(Sequence[tuple["Tag", ...]]):
    """node id -> where it was built, a tuple of Tags: `graph.tags[i]`. Stored as one index
    per node into the distinct tuples (one per function call and loop iteration that
    built a node; () is the first), not as a pointer per node."""

    ids: memoryview  # read-only, of ints: an index into `sets` per node
    sets: tuple[tuple[Tag, ...], ...]

    __slots__ = ("ids", "sets")

    def __init__(self, ids: array, sets: list[tuple[Tag, ...]]):
        self.ids = memoryview(ids).toreadonly()
        self.sets = tuple(sets)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> tuple[Tag, ...]: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[tuple[Tag, ...], ...]: ...

    def __getitem__(self, i: int | slice) -> tuple[Tag, ...] | tuple[tuple[Tag, ...], ...]:
        if isinstance(i, slice):
            return tuple(map(self.sets.__getitem__, self.ids[i]))
        return self.sets[self.ids[i]]

    def __iter__(self) -> Iterator[tuple[Tag, ...]]:
        return map(self.sets.__getitem__, self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Tags, tuple)):
            return len(self) == len(other) and all(a is b or a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<tags of {len(self)} nodes>"


class Values(Sequence[float | None]):
    """node id -> its value: a constant's, an input's or param's declared default, else
    None: `graph.values[i]`. Stored as a dict of the nodes that have one when they are few
    (most nodes are operations), as a tuple of every node's otherwise."""

    _given: Mapping[int, float] | None  # read-only: the nodes that have a value (when few)
    _all: tuple[float | None, ...] | None  # else every node's
    _n: int

    __slots__ = ("_given", "_all", "_n")

    def __init__(self, values: dict[int, float] | tuple[float | None, ...], n: int):
        self._given = MappingProxyType(values) if isinstance(values, dict) else None
        self._all = None if isinstance(values, dict) else values
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> float | None: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[float | None, ...]: ...

    def __getitem__(self, i: int | slice) -> float | None | tuple[float | None, ...]:
        if self._all is not None:
            return self._all[i]
        given = self._given
        assert given is not None  # one of _all and _given is set
        if isinstance(i, slice):
            return tuple(given.get(j) for j in range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("node index out of range")
        return given.get(i)

    def items(self) -> Iterator[tuple[int, float]]:
        """(node, value) for each node that has a value, in no particular order."""
        if self._all is not None:
            return ((i, v) for i, v in enumerate(self._all) if v is not None)
        assert self._given is not None
        return iter(self._given.items())

    def __iter__(self) -> Iterator[float | None]:
        if self._all is not None:
            return iter(self._all)
        if not self._given:
            return repeat(None, self._n)
        runs: list = []  # runs of None between the values, so that list() copies in C
        start = 0
        for i in sorted(self._given):
            runs.append(repeat(None, i - start))
            runs.append((self._given[i],))
            start = i + 1
        runs.append(repeat(None, self._n - start))
        return chain.from_iterable(runs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Values, tuple)):
            return len(self) == len(other) and all(a is b or a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<values of {len(self)} nodes>"
