"""Input values from text: command-line strings and JSON files -> {name: float}.

`--x 1,2,3` (or `"x": [1, 2, 3]` in JSON) binds the indices the file uses for x, in
ascending order: x[1], x[2], x[3]. `--input 'x[2]=5'` binds one; `w[1][2]`, `w[1, 2]` and
`w[1,2]` are one name, as in the language. Numbers are anything Python's float() reads,
plus inf/-inf/nan. Names and values echoed in messages are clipped (errors.clip).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from ..errors import InputError, clip, clip_path, open_finite
from ..ir.graph import Graph

# x[1], w[1,2], w[ 1 , 2 ], and w[1][2] (the language's other spelling of w[1,2]).
_INDEX_GROUP = r"\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]"
_INDEXED = re.compile(rf"^([A-Za-z_][A-Za-z0-9_]*)((?:\s*{_INDEX_GROUP})+)$")
_INDEX = re.compile(r"-?\d+")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# JSON's integer -0 (json.loads reads it as the int 0): a bare "-0", not "-0.5" or "-01".
_NEGATIVE_ZERO = re.compile(r"-0(?![0-9.eE])")


def json_int(digits: str) -> int | float:
    """How every JSON reader takes an integer: -0 is the float -0.0, as float("-0") reads it
    on the command line and in CSV (json's int 0 would turn 1/x from -inf into inf); one
    with more digits than Python converts to an int (4,300, its guard against slow
    conversions) is far past a float's range anyway, so it is read as the float it is
    (+-inf), as CSV reads the same digits."""
    if digits == "-0":
        return -0.0
    return int(digits) if len(digits) < 4000 else float(digits)


def json_loads(text: str, **hooks: Any) -> Any:
    """json.loads with integers read by `json_int`. Its hook costs a call per integer, so it
    is passed only where it changes something: a text with a -0, or one whose parse failed
    on an integer past Python's digit limit (a ValueError that is not a JSONDecodeError)."""
    import json

    if _NEGATIVE_ZERO.search(text):
        return json.loads(text, parse_int=json_int, **hooks)
    try:
        return json.loads(text, **hooks)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return json.loads(text, parse_int=json_int, **hooks)


def number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        raise InputError(f"{what}: '{clip(text)}' is not a number") from None
    return value


def _float(value: int | float) -> float:
    """JSON integers have no size limit: one too large for a float is +-inf, as float('1e400') is."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def canonical(name: str) -> str:
    """'x[ 1, 2 ]' -> 'x[1,2]'; plain names unchanged. Raises on anything else."""
    name = name.strip()
    if _NAME.match(name):
        return name
    m = _INDEXED.match(name)
    if not m:
        raise InputError(f"'{clip(name)}' is not a valid input name "
                         "(a name like x, or an indexed one like x[2] or w[1,2])")
    indices = ",".join(str(int(i)) for i in _INDEX.findall(m.group(2)))
    return f"{m.group(1)}[{indices}]"


def _index_key(name: str) -> tuple[int, ...]:
    return tuple(int(i) for i in name[name.index("[") + 1 : -1].split(","))


def indexed_names(graph: Graph, base: str, inputs: Mapping[str, int] | None = None) -> list[str]:
    """The file's inputs x[...] for base x, in ascending index order."""
    prefix = base + "["
    return sorted((n for n in (graph.inputs if inputs is None else inputs) if n.startswith(prefix)), key=_index_key)


def expand(graph: Graph, name: str, values: list[float], what: str,
           inputs: Mapping[str, int] | None = None) -> dict[str, float]:
    """Bind values to `name`: one value to a plain name, a list to its indexed inputs.
    `inputs` is `graph.inputs`, made once by a caller binding many names (it is built
    on each use: looking it up per name made 10,000 names take seconds)."""
    if inputs is None:
        inputs = graph.inputs
    if len(values) == 1 and name in inputs:
        return {name: values[0]}
    names = indexed_names(graph, name, inputs)
    if names:
        if len(names) != len(values):
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise InputError(f"{what}: '{clip(name)}' has {_count(len(names), 'indexed input')} ({shown}), "
                             f"got {_count(len(values), 'value')}")
        return dict(zip(names, values))
    if len(values) != 1:
        raise InputError(f"{what}: '{clip(name)}' takes one value, got {len(values)}")
    return {name: values[0]}  # an unknown name is reported, with suggestions, when binding


def from_pairs(graph: Graph, pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Command-line pairs (name, text): `--x 1`, `--x 1,2,3`, `--input x[2]=5`."""
    result: dict[str, float] = {}
    inputs = graph.inputs
    for raw_name, text in pairs:
        name = canonical(raw_name)
        what = f"--{clip(raw_name)}"
        values = [number(part, what) for part in text.split(",")] if text.strip() else []
        if not values:
            raise InputError(f"{what}: missing value")
        result.update(expand(graph, name, values, what, inputs))
    return result


class DuplicateKey(Exception):
    """A JSON object gives a key twice (raised by `unique_keys`, turned into each reader's error)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys differ: Python's json keeps the last of a repeated key without
    a word, as CSV's repeated column name is refused."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return document


def read_json_object(path: str, what: str) -> dict:
    """A JSON object from a file; every failure is one InputError naming `what path`."""
    import json

    try:
        # utf-8-sig: a file saved by Windows Notepad starts with a byte-order mark.
        with open_finite(path, f"{what} {path}", encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(f"{what} {clip_path(path)}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        raise InputError(f"{what} {clip_path(path)}: cannot read it: {reason}") from None
    try:
        document = json_loads(text, object_pairs_hook=unique_keys)
    except DuplicateKey as exc:
        raise InputError(f"{what} {clip_path(path)}: '{clip(exc.key)}' is given twice in one object; "
                         "give each name one value") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {clip_path(path)}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:  # the json module recurses into nested arrays and objects
        raise InputError(f"{what} {clip_path(path)}: invalid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise InputError(f"{what} {clip_path(path)}: expected a JSON object of name: value pairs")
    return document


def from_json_file(graph: Graph, path: str) -> dict[str, float]:
    """`--inputs values.json`: {"x": 1, "w[2]": 0.5, "h": [0.1, 0.2], "y": "inf"}."""
    return from_mapping(graph, read_json_object(path, "--inputs"), f"--inputs {clip_path(path)}")


def from_mapping(graph: Graph, data: Mapping[str, object], what: str) -> dict[str, float]:
    import json

    result: dict[str, float] = {}
    inputs = graph.inputs
    for raw_name, raw in data.items():
        name = canonical(str(raw_name))
        shown = f"{what}: '{clip(str(raw_name))}'"
        items = raw if isinstance(raw, list) else [raw]
        values = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                raise InputError(f"{shown} must be a number (or a list of numbers), not {clip(json.dumps(item))}")
            values.append(number(item, shown) if isinstance(item, str) else _float(item))
        result.update(expand(graph, name, values, shown, inputs))
    return result


def split_items(text: str) -> list[str]:
    """Split on the commas outside brackets: 'w[1,2]=1,b=0' -> ['w[1,2]=1', 'b=0']."""
    items, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:k])
            start = k + 1
    items.append(text[start:])
    return [item.strip() for item in items]


def _count(n: int, noun: str) -> str:
    """'1 value', '3 values'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
