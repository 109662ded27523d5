"""A built graph as bytes, and back: the on-disk format of the graph cache.

A cache file is plain data, never code: a fixed header, a JSON object (the small
parts: op names, tag sets, outputs, the odd names) and flat arrays of machine ints and
floats (the per-node columns), checked by a SHA-256 of everything after the header.

    magic (8 bytes) | format version, JSON length, payload length (<IIQ) | sha256 (32)
    | JSON (UTF-8) | payload (the arrays named in the JSON's "columns", in order)

The reader trusts nothing: a file that is truncated, foreign, of another version or
byte order, or crafted with a valid checksum but lying lengths, op codes out of range,
arguments that point forward, names that are not names, is refused (`decode` returns
None) before any Graph is made, so the caller parses the file instead. The checks are
the invariants every pass relies on (a node's arguments come before it; each op gets
its number of arguments; constants have a value; inputs and params are named leaves).

Why one module of ~400 lines: the writer and the reader are the two halves of one
format (the columns, their type codes, the JSON's fields); split, a change to one half
would silently break the other.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from array import array
from itertools import compress, islice
from operator import eq, le, lt
from types import MappingProxyType
from typing import Any

from ..errors import Source
from ..ops import CONST, INPUT_KINDS, LEAF_KINDS, OPS
from .columns import Args, NodeNames, Tags, Values
from .graph import Graph, Tag

MAGIC = b"CGRAPHgc"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<IIQ")
HEADER_SIZE = len(MAGIC) + _HEAD.size + 32
# Names are stored joined by newlines: no name has one (nor any control character).
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_JOINED = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # the same, bar the newlines between names
_SEP = "\n"
_Column = array | bytes | memoryview
# Every column the payload holds, with the type codes it may have (ids: "i" or "q").
_COLUMNS = {
    "ops": ("B",), "first": ("i", "q"), "second": ("i", "q"), "tag_ids": ("i", "q"),
    "positions": ("i", "q"), "more_nodes": ("q",), "more_lengths": ("q",), "more_args": ("q",),
    "value_nodes": ("q",), "value_numbers": ("d",), "name_keys": ("B",), "name_nodes": ("q",),
    "node_name_keys": ("q",), "node_name_ids": ("i", "q"),
}


def sha256(data: bytes | memoryview = b"", size: int | None = None) -> Any:
    """A SHA-256 hash object. For a little data (`size`, default len(data)), the
    interpreter's built-in one: hashlib would load OpenSSL first, ~2-3 ms of every
    start of a small file's run; for more, hashlib's (OpenSSL's is several times faster)."""
    if (len(data) if size is None else size) < 2**20:
        try:
            from _sha256 import sha256 as builtin  # type: ignore[import-not-found]  # (3.12+: _sha2)
        except ImportError:
            try:
                from _sha2 import sha256 as builtin  # type: ignore[import-not-found]
            except ImportError:
                builtin = None
        if builtin is not None:
            return builtin(data)
    import hashlib

    return hashlib.sha256(data)


class Refused(Exception):
    """What is wrong with a cache file (the reader's own signal: never shown to a user)."""


# --- writing -------------------------------------------------------------------------


def encode(graph: Graph, key: str) -> bytes | None:
    """The graph as a cache file's bytes, or None if it cannot be stored (a name with a
    control character: the format joins names with newlines)."""
    chunks = encode_chunks(graph, key)
    return None if chunks is None else b"".join(chunks)


def encode_chunks(graph: Graph, key: str) -> list[bytes | memoryview] | None:
    """`encode`'s bytes as consecutive pieces, to be written one after another: the
    graph's own columns are among them as they are, so writing a million-node graph's
    file does not hold a second (and third) copy of it in memory."""
    head: dict[str, Any] = {"key": key, "byteorder": sys.byteorder, "nodes": len(graph),
                            "text_length": len(graph.source.text)}
    op_names = sorted(set(graph.ops))
    names = _encode_names(graph, head)
    if names is None or len(op_names) > 256:
        return None
    code = {name: k for k, name in enumerate(op_names)}
    head["op_names"] = op_names
    columns = [("ops", array("B", map(code.__getitem__, graph.ops))), *_node_columns(graph, head), *names]
    head["leaves"], head["outputs"], head["output_names"] = list(graph.leaves), list(graph.outputs), list(graph.output_names)
    head["columns"] = [[name, _typecode(column), len(column)] for name, column in columns]
    text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    pieces = [column if isinstance(column, (bytes, memoryview)) else memoryview(column) for _, column in columns]
    pieces = [piece.cast("B") if isinstance(piece, memoryview) else piece for piece in pieces]
    payload_length = sum(len(piece) for piece in pieces)
    digest = sha256(text, len(text) + payload_length)
    for piece in pieces:
        digest.update(piece)
    return [MAGIC + _HEAD.pack(FORMAT_VERSION, len(text), payload_length) + digest.digest(), text, *pieces]


def _node_columns(graph: Graph, head: dict[str, Any]) -> list[tuple[str, _Column]]:
    """Arguments, tags, positions and values (the tag sets go into `head`). The graph's
    own read-only views are written as they are (their bytes are the arrays')."""
    columns: list[tuple[str, _Column]] = []
    first, second = graph.arg_columns()
    columns += [("first", first), ("second", second)]
    more = graph.args.more
    columns += [("more_nodes", array("q", more)), ("more_lengths", array("q", map(len, more.values()))),
                ("more_args", array("q", (a for ids in more.values() for a in ids)))]
    columns += [("tag_ids", graph.tags.ids), ("positions", graph.positions)]
    head["tag_sets"] = [[list(tag) for tag in tags] for tags in graph.tags.sets]
    given = graph.values._given
    head["values_all"] = given is None
    pairs = [(i, v) for i, v in enumerate(graph.values) if v is not None] if given is None else list(given.items())
    columns += [("value_nodes", array("q", (i for i, _ in pairs))), ("value_numbers", array("d", (v for _, v in pairs)))]
    return columns


def _typecode(column: _Column) -> str:
    if isinstance(column, array):
        return column.typecode
    return "B" if isinstance(column, bytes) else column.format


def _encode_names(graph: Graph, head: dict[str, Any]) -> list[tuple[str, _Column]] | None:
    node_names = graph.node_names
    keys = list(graph.names)
    index = {name: k for k, name in enumerate(keys)}
    if not index.keys() >= set(node_names._keys):  # (a parsed graph's always are)
        return None
    every = keys + list(node_names._late.values()) + [n for t in node_names._more.values() for n in t]
    every += list(graph.output_names) + [tag.name for tags in graph.tags.sets for tag in tags]
    if not all(every) or _NOT_IN_NAMES.search("".join(every)):
        return None
    head["name_count"] = len(keys)
    head["node_name_count"] = len(node_names._keys)
    head["node_name_ids"] = node_names._ids is not None
    head["id_type"] = node_names._id_type
    head["late_names"] = [[i, name] for i, name in node_names._late.items()]
    head["more_names"] = [[i, list(names)] for i, names in node_names._more.items()]
    ids = node_names._ids if node_names._ids is not None else array(node_names._id_type)
    return [("name_keys", _SEP.join(keys).encode()), ("name_nodes", array("q", graph.names.values())),
            ("node_name_keys", array("q", map(index.__getitem__, node_names._keys))), ("node_name_ids", ids)]


# --- reading -------------------------------------------------------------------------


def decode(data: bytes, key: str, source: Source, max_nodes: int) -> Graph | None:
    """The graph stored in `data` for `key` over `source`'s text, or None if `data` is not
    a whole, well-formed cache file of that key (then the caller parses the program)."""
    try:
        return _decode(memoryview(data), key, source, max_nodes)
    except (Refused, ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeDecodeError, RecursionError):
        # ValueError covers json's errors; the others a structure of the wrong shape.
        return None


def _decode(data: memoryview, key: str, source: Source, max_nodes: int) -> Graph:
    head, payload = _split(data)
    _check(head["key"] == key and head["byteorder"] == sys.byteorder, "another key or byte order")
    n = _int(head["nodes"], 1, max_nodes)
    _check(head["text_length"] == len(source.text), "another text")
    cols = _columns(head, payload, n)
    op_names = head["op_names"]
    _check(isinstance(op_names, list) and all(isinstance(o, str) and (o in OPS or o in LEAF_KINDS) for o in op_names),
           "an unknown op")
    codes = cols["ops"]
    code_bytes = codes.tobytes()
    _check(len(codes) == n and not code_bytes.translate(None, bytes(range(len(op_names)))), "op codes")
    ops = tuple(map(op_names.__getitem__, codes))
    more = _more_args(cols, n)
    first, second = cols["first"], cols["second"]
    _check(len(first) == n and len(second) == n and first.typecode == second.typecode, "argument columns")
    _check_args(op_names, codes, first, second, more)
    tags = _tags(head, cols["tag_ids"], n)
    positions = cols["positions"]
    _check(len(positions) == 3 * n and min(positions) >= 0 and max(positions) <= len(source.text), "positions")
    values = _values(head, cols, ops, _nodes_of(code_bytes, op_names, {CONST}), n)
    names, node_names = _names(head, cols, n)
    leaves, outputs, output_names = _ends(head, _nodes_of(code_bytes, op_names, INPUT_KINDS), names, node_names, n)
    return Graph(source=source, ops=ops, args=Args(first, second, more), values=values, tags=tags,
                 positions=positions, names=MappingProxyType(names), node_names=node_names, leaves=leaves,
                 outputs=outputs, output_names=output_names)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise Refused(what)


def _int(value: object, low: int, high: int) -> int:
    _check(isinstance(value, int) and not isinstance(value, bool) and low <= value <= high, "an integer out of range")
    return value  # type: ignore[return-value]


def _split(data: memoryview) -> tuple[dict[str, Any], memoryview]:
    _check(len(data) >= HEADER_SIZE and data[: len(MAGIC)] == MAGIC, "not a cache file")
    version, text_length, payload_length = _HEAD.unpack_from(data, len(MAGIC))
    _check(version == FORMAT_VERSION, "another format version")
    _check(len(data) == HEADER_SIZE + text_length + payload_length, "lengths")
    body = data[HEADER_SIZE:]
    _check(sha256(body).digest() == data[HEADER_SIZE - 32 : HEADER_SIZE], "checksum")
    head = json.loads(bytes(body[:text_length]).decode("utf-8"))
    _check(isinstance(head, dict), "not an object")
    return head, body[text_length:]


def _columns(head: dict[str, Any], payload: memoryview, n: int) -> dict[str, array]:
    """The payload cut into the arrays the JSON declares: each a known column of an
    allowed type code, the counts adding up to the payload's length exactly (checked
    before any array is made, so a lying count allocates nothing)."""
    declared = head["columns"]
    _check(isinstance(declared, list) and len(declared) == len(_COLUMNS), "columns")
    plan = []
    offset = 0
    for entry in declared:
        _check(isinstance(entry, list) and len(entry) == 3, "a column")
        name, code, count = entry
        _check(name in _COLUMNS and code in _COLUMNS[name] and type(count) is int and count >= 0, "a column")
        size = array(code).itemsize * count
        plan.append((name, code, offset, size))
        offset += size
    _check(offset == len(payload) and len({name for name, *_ in plan}) == len(_COLUMNS), "column sizes")
    cols = {}
    for name, code, start, size in plan:
        column = array(code)
        column.frombytes(payload[start : start + size])
        cols[name] = column
    return cols


def _more_args(cols: dict[str, array], n: int) -> dict[int, tuple[int, ...]]:
    nodes, lengths, flat = cols["more_nodes"], cols["more_lengths"], cols["more_args"]
    _check(len(nodes) == len(lengths) and sum(lengths) == len(flat), "the arguments of nodes of many")
    more: dict[int, tuple[int, ...]] = {}
    at = 0
    for node, k in zip(nodes, lengths):
        ids = tuple(flat[at : at + k])
        at += k
        _check(0 <= node < n and k > 2 and node not in more and all(0 <= a < node for a in ids), "arguments")
        more[node] = ids
    return more


def _check_args(op_names: list[str], codes: array, first: array, second: array,
                more: dict[int, tuple[int, ...]]) -> None:
    """Each node's arguments point backwards, and are as many as its op takes. In passes
    that run in C (map, zip, set over the columns): a loop over the nodes in Python would
    cost more than the rest of reading a file."""
    n = len(first)
    # second[i]: >= 0 two arguments, -1 one, -2 more than two (first[i] is i), -3 none (first[i] is -1)
    _check(min(second) >= -3 and min(first) >= -1, "arguments")
    _check(all(map(lt, second, range(n))) and all(map(le, first, range(n))), "an argument that is not before its node")
    _check(sum(map(eq, first, range(n))) == len(more) and all(first[i] == i and second[i] == -2 for i in more),
           "nodes of many arguments")
    # Each op's nodes have as many arguments as it takes: the nodes of ops of one arity
    # picked out by a mask (bytes.translate of the op codes), their `second` read in C.
    arity = [0 if op in LEAF_KINDS else OPS[op].arity for op in op_names]
    code_bytes = codes.tobytes()

    def picked(want: int | None) -> bytes:
        return code_bytes.translate(bytes(int(k < len(arity) and arity[k] == want) for k in range(256)))

    leaves = picked(0)
    _check(set(compress(second, leaves)) <= {-3} and set(compress(first, leaves)) <= {-1}, "a leaf with arguments")
    _check(first.count(-1) == leaves.count(1), "an operation without arguments")
    _check(set(compress(second, picked(1))) <= {-1}, "an op of one argument with another number")
    _check(not picked(2).count(1) or min(compress(second, picked(2))) >= 0, "an op of two arguments with another number")
    _check(-3 not in set(compress(second, picked(None))), "an op without its arguments")
    many = code_bytes.translate(bytes(int(k < len(arity) and (arity[k] or 0) > 2) for k in range(256)))
    _check(set(compress(second, many)) <= {-2}, "an op of many arguments with another number")
    for i, ids in more.items():
        _check(arity[codes[i]] is None or len(ids) == arity[codes[i]], "an op with the wrong number of arguments")


def _nodes_of(code_bytes: bytes, op_names: list[str], kinds: set[str] | frozenset[str]) -> list[int]:
    """The nodes whose op is one of `kinds`, in order (found by bytes.find: they are few)."""
    found = []
    for code, name in enumerate(op_names):
        if name in kinds:
            byte = bytes((code,))
            i = code_bytes.find(byte)
            while i >= 0:
                found.append(i)
                i = code_bytes.find(byte, i + 1)
    return sorted(found)


def _tags(head: dict[str, Any], ids: array, n: int) -> Tags:
    sets = head["tag_sets"]
    _check(isinstance(sets, list) and len(sets) >= 1 and sets[0] == [], "tag sets")
    made = [tuple(_tag(tag) for tag in _list(tags)) for tags in sets]
    _check(len(ids) == n and min(ids) >= 0 and max(ids) < len(made), "tag ids")
    return Tags(ids, made)


def _list(value: object) -> list:
    _check(isinstance(value, list), "a list")
    return value  # type: ignore[return-value]


def _tag(value: object) -> Tag:
    kind, name, number, line = _list(value)
    _check(kind in ("call", "loop") and _good_name(name) and type(number) is int and type(line) is int and line >= 1,
           "a tag")
    return Tag(kind, name, number, line)


def _good_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and not _NOT_IN_NAMES.search(name)


def _values(head: dict[str, Any], cols: dict[str, array], ops: tuple[str, ...], constants: list[int], n: int) -> Values:
    nodes, numbers = cols["value_nodes"], cols["value_numbers"]
    _check(len(nodes) == len(numbers) and _in_range(nodes, n), "values")
    given = dict(zip(nodes, numbers))
    _check(len(given) == len(nodes), "values")
    _check(all(i in given for i in constants), "a constant without a value")
    _check(all(ops[i] in LEAF_KINDS for i in given), "a value on an operation")
    if head["values_all"] is True:
        return Values(tuple(map(given.get, range(n))), n)
    _check(head["values_all"] is False, "values")
    return Values(given, n)


def _split_names(blob: array, count: object) -> list[str]:
    _int(count, 0, 2**62)
    if count == 0:
        _check(len(blob) == 0, "names")
        return []
    text = blob.tobytes().decode("utf-8")
    _check(not _NOT_IN_JOINED.search(text), "names")
    names = text.split(_SEP)
    _check(len(names) == count and all(names), "names")
    return names


def _in_range(column: array, n: int) -> bool:
    """Every entry of `column` is a node id below `n` (or whatever else counts to n)."""
    return not column or (min(column) >= 0 and max(column) < n)


def _names(head: dict[str, Any], cols: dict[str, array], n: int) -> tuple[dict[str, int], NodeNames]:
    keys = _split_names(cols["name_keys"], head["name_count"])
    nodes = cols["name_nodes"]
    _check(len(nodes) == len(keys) and _in_range(nodes, n), "names")
    names = dict(zip(keys, nodes))
    _check(len(names) == len(keys), "a name given twice")
    return names, _node_names(head, cols, keys, n)


def _node_names(head: dict[str, Any], cols: dict[str, array], keys: list[str], n: int) -> NodeNames:
    """node -> names: the first names (indices into the names' keys: the same strings),
    with their nodes' ids when those are not 0, 1, 2, ..., and the late and further names."""
    id_type = head["id_type"]
    _check(id_type in ("i", "q"), "id type")
    node_names = NodeNames(id_type)
    key_index = cols["node_name_keys"]
    _check(len(key_index) == head["node_name_count"] and _in_range(key_index, len(keys)), "named nodes")
    node_names._keys = list(map(keys.__getitem__, key_index))
    ids = cols["node_name_ids"]
    if head["node_name_ids"] is True:
        _check(len(ids) == len(key_index) and ids.typecode == id_type and _in_range(ids, n), "named nodes")
        _check(all(map(lt, ids, islice(ids, 1, None))), "named nodes out of order")
        node_names._ids = ids
    else:
        _check(head["node_name_ids"] is False and len(ids) == 0 and len(key_index) <= n, "named nodes")
    _later_names(head, node_names, n)
    return node_names


def _later_names(head: dict[str, Any], node_names: NodeNames, n: int) -> None:
    """The few nodes named after a later node was, and the further names (aliases)."""
    for entry in _list(head["late_names"]):
        i, name = _list(entry)
        _check(type(i) is int and 0 <= i < n and _good_name(name) and node_names.first(i) is None, "a late name")
        node_names._late[i] = name
    for entry in _list(head["more_names"]):
        i, more = _list(entry)
        _check(type(i) is int and node_names.first(i) is not None and i not in node_names._more, "more names")
        _check(bool(more) and all(_good_name(name) for name in _list(more)), "more names")
        node_names._more[i] = list(more)


def _ends(head: dict[str, Any], inputs: list[int], names: dict[str, int], node_names: NodeNames, n: int
          ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """Leaves (every input and param, named, its name its own), outputs (each the node
    its name names) and their names."""
    leaves = tuple(_list(head["leaves"]))
    _check(all(type(i) is int and 0 <= i < n and names.get(node_names.first(i)) == i for i in leaves),  # type: ignore[arg-type]
           "leaves")
    _check(len(set(leaves)) == len(leaves) and set(leaves) == set(inputs), "leaves")
    outputs = tuple(_list(head["outputs"]))
    output_names = tuple(_list(head["output_names"]))
    _check(len(outputs) >= 1 and len(outputs) == len(output_names), "outputs")
    _check(all(type(i) is int and 0 <= i < n for i in outputs) and all(map(_good_name, output_names)), "outputs")
    _check(all(names.get(name) == i for name, i in zip(output_names, outputs)), "outputs that are not their names' nodes")
    return leaves, outputs, output_names
