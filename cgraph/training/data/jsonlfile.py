"""JSON Lines data: one object per line, its first row giving the columns. A well-formed
block is one json.loads call (the fast path); a block that is not is read line by line,
each row checked against the first by the binding's rules."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ...engine.input_values import DuplicateKey, json_loads, unique_keys
from ...errors import clip
from .base import Chunk, DataError, _Rows, json_number
from .text import _TextFile

if TYPE_CHECKING:
    from .binding import _KeyRules


class _JsonlReader(_TextFile):
    """The JSON Lines side of a DataFile."""

    rules: "_KeyRules | None"
    _first_text: str

    def _jsonl_header(self) -> None:
        f = self._header_text()
        try:
            for number, line in enumerate(f, 1):
                self._pushback.append(line)
                self._check_text([line], number)
                if line.strip():
                    break
            else:
                raise DataError("the file is empty; expected one JSON object per line", self.label)
            text = line.rstrip("\r\n")
            first = self._first_object(text, number)
        except BaseException:
            self._done_with_header(f, failed=True)
            raise
        self._done_with_header(f)
        if self._stream is None:
            self._pushback = []
        self.header_line = number
        self._first_text = text
        for key, value in first.items():
            self.columns[key] = len(value) if type(value) is list else None

    def _first_object(self, text: str, number: int) -> dict:
        try:
            first = json_loads(text, object_pairs_hook=unique_keys)
        except DuplicateKey as exc:
            raise _given_twice(exc.key, self.label, number, text) from None
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", self.label, number, text, exc.colno) from None
        except RecursionError:
            raise DataError("invalid JSON: nested too deeply", self.label, number, text) from None
        if type(first) is not dict:
            raise DataError("expected a JSON object {\"name\": value, ...}", self.label, number, text)
        return first

    def _jsonl_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        rules = self.rules
        with self._row_lines() as lines:
            first = 1
            while True:
                block = list(islice(lines, rows))
                if not block:
                    return
                block, lines, _ = self._cut_undecoded(block, lines, first, "".join(block))
                chunk = self._jsonl_fast(block, first, fields)
                if chunk is None:
                    chunk = self._jsonl_slow(block, first, fields, on_error, skipped, rules)
                first += len(block)
                if chunk.n:
                    yield chunk

    def _jsonl_fast(self, block: list[str], first: int, fields) -> Chunk | None:
        """One json.loads for the block, one list per column; None to read it line by line."""
        try:
            # unique_keys: a row giving a key twice is an error (json keeps the last without a
            # word, as a CSV header naming a column twice is refused); ~9% of the parse.
            objects = json_loads("[" + ",".join(block) + "]", object_pairs_hook=unique_keys)
        except (json.JSONDecodeError, RecursionError, DuplicateKey):
            return None  # a bad line, a blank one (an empty element), a key given twice
        if len(objects) != len(block) or set(map(type, objects)) != {dict}:
            return None
        # A key the first row lacks may bind an input (an error, or the other form of an
        # indexed input): such rows are read one by one.
        if self.rules is not None and not set().union(*objects) <= self.rules.known:
            return None
        columns = self._jsonl_columns(objects, fields)
        if columns is None:
            return None
        return Chunk(columns, np.arange(first, first + len(block), dtype=np.int64))

    def _jsonl_columns(self, objects: list[dict], fields) -> list[np.ndarray] | None:
        """One float64 array per field of a block's objects (a comprehension per column,
        in C); None when a value is not a number or a list's length is not the first row's."""
        columns = []
        numbers = {int, float}
        try:
            for key, index in fields:
                values = [o[key] for o in objects] if index is None else [o[key][index] for o in objects]
                if not set(map(type, values)) <= numbers:
                    return None
                columns.append(np.array(values, dtype=np.float64))
            for key in {key for key, index in fields if index is not None}:
                if len(set(map(len, (o[key] for o in objects)))) != 1 or len(objects[0][key]) != self.columns[key]:
                    return None
        except (KeyError, IndexError, TypeError, OverflowError):
            return None
        return columns

    def _jsonl_slow(self, block, first, fields, on_error, skipped, rules) -> Chunk:
        good = _Rows(len(fields))
        for offset, line in enumerate(block):
            if not line.strip():
                continue
            number = first + offset
            text = line.rstrip("\r\n")
            try:
                obj = json_loads(text, object_pairs_hook=unique_keys)
            except DuplicateKey as exc:
                self._bad(on_error, skipped, _given_twice(exc.key, self.label, number, text))
                continue
            except json.JSONDecodeError as exc:
                self._bad(on_error, skipped, DataError(f"invalid JSON: {exc.msg}", self.label, number, text, exc.colno))
                continue
            except RecursionError:
                self._bad(on_error, skipped, DataError("invalid JSON: nested too deeply", self.label, number, text))
                continue
            if type(obj) is not dict:
                self._bad(on_error, skipped, DataError(
                    "expected a JSON object {\"name\": value, ...}", self.label, number, text, 1, len(text)))
                continue
            if rules is not None:
                row, problem = rules.row(obj, fields, number, text)
            else:
                row, problem = self._jsonl_row(obj, fields)
            if problem is not None:
                message, key = problem
                found = text.find(json.dumps(key)) if key is not None else -1
                width = len(json.dumps(key)) if found >= 0 else 1
                self._bad(on_error, skipped, DataError(message, self.label, number, text, max(found + 1, 1), width))
                continue
            good.keep(number, row)
        return good.chunk()

    def _jsonl_row(self, obj: dict, fields) -> tuple[list[float] | None, tuple[str, str | None] | None]:
        """One row's values for bare fields (no binding): (values, None) or (None, (message, key))."""
        row = []
        for key, index in fields:
            if key not in obj:
                return None, (f"missing '{key}'", None)
            raw = obj[key]
            if index is not None:
                if type(raw) is not list or len(raw) != self.columns[key]:
                    got = f"{len(raw)} values" if type(raw) is list else clip(json.dumps(raw))
                    return None, (f"'{key}' must be a list of {self.columns[key]} numbers (as on the first row), "
                                  f"not {got}", key)
                raw = raw[index]
            value = json_number(raw)
            if value is None:
                what = f"{key}[{index}]" if index is not None else key
                return None, (f"'{what}' must be a number, not {clip(json.dumps(raw))}", key)
            row.append(value)
        return row, None


def _given_twice(key: str, label: str, number: int, text: str) -> DataError:
    """A row naming a key twice, located at its second appearance."""
    quoted = json.dumps(key)
    second = text.find(quoted, text.find(quoted) + 1)
    return DataError(f"'{clip(key)}' is given twice in one row; give each name one value", label, number, text,
                     second + 1 if second >= 0 else 1, len(quoted) if second >= 0 else 1)
