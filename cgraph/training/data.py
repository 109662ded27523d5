"""Rows in and rows out: data files read in chunks, columns bound to inputs, results written.

Formats, by the file's suffix (or --data-format; standard input, "-", needs it):
  .csv, .tsv       a header line of names, then one row per record (blank lines are skipped;
                   a quoted field may hold the delimiter, "" and line breaks, RFC 4180);
                   the delimiter is a comma (a tab for .tsv) unless given
  .jsonl, .ndjson  one JSON object per line: {"x": 1, "w[2]": 0.5, "h": [0.1, 0.2]}
  .parquet         numeric columns (needs pyarrow: pip install 'cgraph[parquet]')

Column names bind inputs as on the command line: `x`, indexed `x[1]` or `w[1,2]`; in
JSON Lines a list binds the indices the file uses (`"x": [1, 2]` is x[1], x[2]). Every
JSON Lines row gives the inputs its first row gives (either form, per row): a row that
gives another input, or lacks one, is a bad row naming its line and key.

Reading is chunked (`rows` per chunk) so a file of any length streams in bounded memory.
Each chunk is parsed by one C-level call (numpy.loadtxt, json.loads, pyarrow) when it is
well formed; a chunk that is not is re-read record by record to say which row is bad and
why (`on_error="fail"`: raise a DataError naming file:line; `"skip"`: leave the row out
and count it). Values are numbers as Python's float() reads them, plus inf, -inf and nan.
Text must be UTF-8 (a byte-order mark is fine); invalid UTF-8 is an error naming its line.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import sys
from contextlib import contextmanager
from itertools import chain, islice, repeat
from typing import IO, Iterator, Sequence

import numpy as np

from ..engine import input_values
from ..errors import DataError, InputError, MissingDependency, clip, did_you_mean
from ..ir.graph import Graph

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DATA_FORMATS = ("csv", "jsonl", "parquet")
STDIN = "-"  # --data - reads standard input (its format from --data-format)
ON_ERROR = ("fail", "skip")
SHOWN_SKIPS = 5  # skipped rows listed by message; the rest are counted
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}  # a tab is hard to type as an option's value
_NOT_DELIMITERS = '"\r\n.+-_[]'  # quotes, line ends, and what numbers and names are made of

# Invalid UTF-8 read with errors="surrogateescape" becomes U+DC80..U+DCFF: a block of lines is
# checked for these with one isascii() (ASCII data, the usual case, costs nothing more).
_UNDECODED = re.compile("[\udc80-\udcff]")


class Skipped:
    """Rows left out with on_error="skip": how many, and the first few messages."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def add(self, error: DataError) -> None:
        self.count += 1
        if len(self.first) < SHOWN_SKIPS:
            where = f"{error.row_word} {error.line}" if error.line is not None else "?"
            self.first.append(f"{where}: {error.message}")

    def summary(self, path: str) -> str | None:
        if not self.count:
            return None
        rows = "row" if self.count == 1 else "rows"
        path = "<stdin>" if path == STDIN else path
        lines = [f"warning: skipped {self.count} bad {rows} of {path}:"] + [f"  {m}" for m in self.first]
        if self.count > len(self.first):
            lines.append(f"  ... and {self.count - len(self.first)} more")
        return "\n".join(lines)


class Chunk:
    """Rows of a data file: one float64 array per requested field, and each row's line
    number in the file (row number for parquet)."""

    __slots__ = ("columns", "lines", "n")

    def __init__(self, columns: list[np.ndarray], lines: np.ndarray):
        self.columns = columns
        self.lines = lines
        self.n = len(lines)


class _Rows:
    """The rows a slow reader (CSV, JSON Lines) found good in a block, column by column."""

    __slots__ = ("values", "lines")

    def __init__(self, width: int):
        self.values: list[list[float]] = [[] for _ in range(width)]
        self.lines: list[int] = []

    def keep(self, number: int, row: list[float]) -> None:
        self.lines.append(number)
        for column_values, value in zip(self.values, row):
            column_values.append(value)

    def chunk(self) -> Chunk:
        return Chunk([np.array(v, dtype=np.float64) for v in self.values], np.array(self.lines, dtype=np.int64))


# A field is (key, index): the file's column `key`, or element `index` of the list under
# `key` in a JSON Lines file (index None for a plain value).
Field = tuple[str, "int | None"]


def _strict_number(text: str) -> float | None:
    """float(), as numpy.loadtxt reads numbers: no '_' separators; None if not a number."""
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_delimiter(text: str) -> str:
    """--delimiter's value: one character, or `tab` (also written \\t)."""
    value = DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1 or value in _NOT_DELIMITERS or value.isalnum():
        raise InputError(
            f"--delimiter {text!r}: expected one character such as ';' or '|' (or tab)",
            hint="a delimiter cannot be a letter, a digit, a quote, or one of . + - _ [ ]",
        )
    return value


def _data_format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in DATA_FORMATS:
            raise InputError(f"--data-format {fmt}: expected one of {', '.join(DATA_FORMATS)}")
        return fmt
    if path == STDIN:
        raise InputError("--data - (standard input) needs --data-format csv or jsonl",
                         hint="a file's format comes from its suffix; standard input has none")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        raise InputError(
            f"--data {path}: unknown data format '{suffix or '(no suffix)'}'",
            hint="data files are .csv, .tsv, .jsonl (or .ndjson) and .parquet; --data-format csv|jsonl|parquet reads any other name",
        )
    return FORMATS[suffix]


class DataFile:
    """A data file: its format, its columns, and its rows in chunks.

    `path` may be "-" (standard input); `fmt` ("csv", "jsonl", "parquet") overrides the
    suffix; `delimiter` is CSV's field separator (default: a tab for .tsv, else a comma).
    Standard input and other streams (a pipe) are read once: `chunks` can be called once."""

    def __init__(self, path: str, *, fmt: str | None = None, delimiter: str | None = None):
        self.path = path
        self.label = "<stdin>" if path == STDIN else path  # the name messages use
        self.format = _data_format(path, fmt)
        if delimiter is not None and self.format != "csv":
            raise InputError(f"--delimiter goes with CSV data, not {self.format}")
        tsv = path != STDIN and os.path.splitext(path)[1].lower() == ".tsv"
        self.delimiter = delimiter or ("\t" if tsv else ",")
        if path != STDIN:
            if not os.path.exists(path):
                raise InputError(f"--data {path}: no such file")
            if os.path.isdir(path):
                raise InputError(f"--data {path} is a directory, not a file")
        # A stream (stdin, a pipe) cannot be reopened: its one handle stays open, and the
        # lines the header took that are rows (JSON Lines) are kept to be read again.
        self._stream: IO[str] | None = None
        self._stream_read = False
        self._pushback: list[str] = []
        self._skip = 0  # lines before the first row (CSV: through the header)
        self.header_line = 0
        # The file's columns: key -> None (a number) or the length of a list (JSON Lines).
        self.columns: dict[str, int | None] = {}
        self.rules: _KeyRules | None = None  # set by bind_columns: what later JSON Lines keys bind
        if self.format == "csv":
            self._csv_header()
        elif self.format == "jsonl":
            self._jsonl_header()
        else:
            self._parquet_header()

    def __repr__(self) -> str:
        return f"<DataFile {self.label} ({self.format}, {len(self.columns)} columns)>"

    # --- text ----------------------------------------------------------------------------

    def _is_stream(self) -> bool:
        return self.path == STDIN or not os.path.isfile(self.path)

    def _open_text(self) -> IO[str]:
        if self.path == STDIN:
            return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            return open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="")
        except OSError as exc:
            raise InputError(f"--data {self.path}: cannot read it: {exc.strerror or exc}") from None

    def _header_text(self) -> IO[str]:
        """The text to read the header from: a file's own handle, or the stream kept for the rows."""
        f = self._open_text()
        if self._is_stream():
            self._stream = f
        return f

    def _done_with_header(self, f: IO[str], failed: bool = False) -> None:
        if self._stream is None:
            f.close()
        elif failed:
            self._release_stream()

    @contextmanager
    def _row_lines(self) -> Iterator[Iterator[str]]:
        """The lines from the first row on (line number self._skip + 1)."""
        if self._stream is not None:
            if self._stream_read:
                raise ValueError(f"{self.label} is a stream and has been read already")
            self._stream_read = True
            try:
                yield chain(self._pushback, self._stream)
            finally:
                self._pushback = []
                self._release_stream()
            return
        with self._open_text() as f:
            for _ in islice(f, self._skip):
                pass
            yield iter(f)

    def _release_stream(self) -> None:
        if self.path == STDIN:
            self._stream.detach()  # standard input itself stays open for whoever owns it
        else:
            self._stream.close()

    def _check_text(self, block: list[str], first: int) -> None:
        """Invalid UTF-8 is an error naming its line (read with surrogateescape, it shows as U+DCxx)."""
        bad = self._first_undecoded(block, "".join(block))
        if bad is not None:
            raise self._undecoded_error(block[bad], first + bad)

    def _cut_undecoded(self, block: list[str], lines: Iterator[str], first: int, joined: str):
        """(block, lines, joined) with a block holding invalid UTF-8 cut before its first bad
        line, which goes back to `lines`: the rows before it are read first, so whatever the
        chunk size the first error in the file is the one reported. A bad first line raises."""
        bad = self._first_undecoded(block, joined)
        if bad is None:
            return block, lines, joined
        if bad == 0:
            raise self._undecoded_error(block[0], first)
        return block[:bad], chain(block[bad:], lines), "".join(block[:bad])

    @staticmethod
    def _first_undecoded(block: list[str], joined: str) -> int | None:
        if joined.isascii() or not _UNDECODED.search(joined):
            return None
        return next(k for k, line in enumerate(block) if _UNDECODED.search(line))

    def _undecoded_error(self, line: str, number: int) -> DataError:
        found = _UNDECODED.search(line)
        byte = ord(found.group()) - 0xDC00
        return DataError(
            f"invalid UTF-8 (byte 0x{byte:02x}): data files are UTF-8 text", self.label,
            number, line.rstrip("\r\n"), found.start() + 1,
            hint="convert the file, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        )

    # --- headers -------------------------------------------------------------------------

    def _csv_header(self) -> None:
        import csv

        f = self._header_text()
        try:
            lines = iter(f)
            reader = csv.reader(self._checked(lines), delimiter=self.delimiter, strict=True)
            consumed = 0
            for names in reader:
                start, consumed = consumed + 1, reader.line_num
                if len(names) > 1 or (names and names[0].strip()):  # not a blank line
                    break
            else:
                raise DataError("the file is empty; expected a header line of column names", self.label)
        except csv.Error as exc:
            self._done_with_header(f, failed=True)
            raise DataError(f"the header: {_csv_problem(exc)}", self.label) from None
        except BaseException:
            self._done_with_header(f, failed=True)
            raise
        self._done_with_header(f)
        self.header_line = start
        self._skip = consumed
        self._header = names
        text = self._first_text = self._header_excerpt
        for k, raw in enumerate(names):
            name = raw.strip()
            if not name:
                raise DataError(f"column {k + 1} of the header has no name", self.label, start, text)
            if name in self.columns:
                raise DataError(f"column '{name}' appears twice in the header", self.label, start, text)
            self.columns[name] = None

    def _checked(self, lines: Iterator[str]) -> Iterator[str]:
        """Header lines, each checked for invalid UTF-8; the first non-blank one kept for messages."""
        self._header_excerpt = ""
        for number, line in enumerate(lines, 1):
            self._check_text([line], number)
            if not self._header_excerpt and line.strip():
                self._header_excerpt = line.rstrip("\r\n")
            yield line

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
            first = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", self.label, number, text, exc.colno) from None
        except RecursionError:
            raise DataError("invalid JSON: nested too deeply", self.label, number, text) from None
        if type(first) is not dict:
            raise DataError("expected a JSON object {\"name\": value, ...}", self.label, number, text)
        return first

    def _parquet_source(self):
        """What pyarrow reads: the path, or a stream's bytes (Parquet needs to seek)."""
        if not self._is_stream():
            return self.path
        if getattr(self, "_parquet_bytes", None) is None:
            import pyarrow as pa

            raw = sys.stdin.buffer.read() if self.path == STDIN else open(self.path, "rb").read()
            self._parquet_bytes = pa.BufferReader(raw)
        return self._parquet_bytes

    def _parquet_header(self) -> None:
        pq = _pyarrow_parquet()
        try:
            schema = pq.read_schema(self._parquet_source())
        except Exception as exc:  # pyarrow raises its own errors for a bad file
            raise DataError(f"cannot read it as Parquet: {exc}", self.label) from None
        import pyarrow.types as pat

        self._parquet_types = {}  # name -> whether it holds numbers
        for field in schema:
            self.columns[field.name] = None
            numeric = pat.is_integer(field.type) or pat.is_floating(field.type) or pat.is_decimal(field.type)
            self._parquet_types[field.name] = numeric

    # --- chunks --------------------------------------------------------------------------

    def chunks(self, fields: Sequence[Field], rows: int, on_error: str = "fail",
               skipped: Skipped | None = None) -> Iterator[Chunk]:
        """The rows in chunks of at most `rows`, one array per field."""
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}")
        skipped = skipped if skipped is not None else Skipped()
        if self.format == "csv":
            return self._csv_chunks(fields, rows, on_error, skipped)
        if self.format == "jsonl":
            return self._jsonl_chunks(fields, rows, on_error, skipped)
        return self._parquet_chunks(fields, rows, on_error, skipped)

    def read_all(self, fields: Sequence[Field], rows: int = 65536, on_error: str = "fail",
                 skipped: Skipped | None = None) -> Chunk:
        """Every row at once (training keeps its data in memory)."""
        parts = list(self.chunks(fields, rows, on_error, skipped))
        if not parts:
            return Chunk([np.zeros(0) for _ in fields], np.zeros(0, dtype=np.int64))
        if len(parts) == 1:
            return parts[0]
        columns = [np.concatenate([p.columns[k] for p in parts]) for k in range(len(fields))]
        return Chunk(columns, np.concatenate([p.lines for p in parts]))

    def _bad(self, on_error: str, skipped: Skipped, error: DataError) -> None:
        if on_error == "fail":
            raise error
        skipped.add(error)

    # CSV

    def _csv_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        index = {name.strip(): k for k, name in enumerate(self._header)}
        usecols = [index[key] for key, _ in fields]
        width = len(self._header)
        with self._row_lines() as lines:
            first = self._skip + 1
            while True:
                block = list(islice(lines, rows))
                if not block:
                    return
                joined = "".join(block)
                block, lines, joined = self._cut_undecoded(block, lines, first, joined)
                chunk = self._csv_fast(block, joined, first, usecols, width)
                taken = 0
                if chunk is None:
                    chunk, taken = self._csv_slow(block, lines, first, usecols, width, on_error, skipped)
                first += len(block) + taken
                if chunk.n:
                    yield chunk

    def _csv_fast(self, block: list[str], joined: str, first: int, usecols: list[int], width: int) -> Chunk | None:
        """One numpy.loadtxt call for a well-formed block; None to read it record by record."""
        if not usecols:
            return None
        # Every line must have exactly width - 1 delimiters: numpy.loadtxt with usecols
        # would read a short row and a long one in the same block without a word.
        if '"' in joined or set(map(str.count, block, repeat(self.delimiter))) != {width - 1}:
            return None  # quoted fields, a missing or extra field, or blank lines
        try:
            table = np.loadtxt(block, delimiter=self.delimiter, usecols=usecols, dtype=np.float64, ndmin=2,
                               comments=None, encoding=None)
        except ValueError:
            return None
        if table.shape[0] != len(block):
            return None
        columns = list(np.ascontiguousarray(table.T))
        return Chunk(columns, np.arange(first, first + len(block), dtype=np.int64))

    def _csv_slow(self, block, more, first, usecols, width, on_error, skipped) -> tuple[Chunk, int]:
        """Record by record with the csv module: a quoted field may hold the delimiter, quotes
        ("") and line breaks. A record still open at the end of the block takes lines from
        `more`; returns the good rows and how many lines were taken past the block."""
        import csv

        taken: list[str] = []

        def source() -> Iterator[str]:
            yield from block
            for line in more:  # only while a quoted field runs on past the block
                self._check_text([line], first + len(block) + len(taken))
                taken.append(line)
                yield line

        def lines_between(start: int, end: int) -> str:
            if end <= len(block):
                return block[start] if end == start + 1 else "".join(block[start:end])
            return "".join(block[start:] + taken[: end - len(block)])

        names = [self._header[k].strip() for k in usecols]
        reader = csv.reader(source(), delimiter=self.delimiter, strict=True)
        good = _Rows(len(usecols))
        consumed = 0
        while consumed < len(block):
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                number = first + consumed
                text = lines_between(consumed, consumed + 1).rstrip("\r\n")
                consumed = reader.line_num
                self._bad(on_error, skipped, DataError(_csv_problem(exc), self.label, number, text, 1, len(text)))
                continue
            number = first + consumed
            record = lines_between(consumed, reader.line_num)
            consumed = reader.line_num
            if not record.strip():
                continue
            row = self._csv_row(fields, record, number, names, usecols, width, on_error, skipped)
            if row is not None:
                good.keep(number, row)
        return good.chunk(), len(taken)

    def _csv_row(self, fields, record, number, names, usecols, width, on_error, skipped) -> list[float] | None:
        text = record.rstrip("\r\n")
        shown = text.split("\n", 1)[0].rstrip("\r")  # the excerpt is the row's first line
        if len(fields) != width:
            spans = text.count("\n")
            hint = (f"the row runs over {spans + 1} lines because of a quoted field: is a closing quote missing?"
                    if spans else None)
            self._bad(on_error, skipped, DataError(
                f"{len(fields)} field{'s' if len(fields) != 1 else ''}, but the header has {width} columns",
                self.label, number, shown, 1, len(shown), hint=hint,
            ))
            return None
        row = []
        for name, k in zip(names, usecols):
            raw = fields[k]
            value = _strict_number(raw) if raw.strip() else None
            if value is None:
                column = _field_column(text, k, self.delimiter)
                if column > len(shown) + 1:  # the field starts on a later line of the row
                    column = 1
                message = (f"missing value for '{name}' (column {k + 1})" if not raw.strip()
                           else f"'{clip(raw.strip())}' in column '{name}' is not a number")
                self._bad(on_error, skipped, DataError(message, self.label, number, shown, column, max(len(raw), 1)))
                return None
            row.append(value)
        return row

    # JSON Lines

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
            objects = json.loads("[" + ",".join(block) + "]")
        except (json.JSONDecodeError, RecursionError):
            return None  # a bad line, or a blank one (an empty element)
        if len(objects) != len(block) or set(map(type, objects)) != {dict}:
            return None
        # A key the first row lacks may bind an input (an error, or the other form of an
        # indexed input): such rows are read one by one.
        if self.rules is not None and not set().union(*objects) <= self.rules.known:
            return None
        columns = []
        numbers = {int, float}
        try:
            for key, index in fields:
                if index is None:
                    values = [o[key] for o in objects]
                    if not set(map(type, values)) <= numbers:
                        return None
                    columns.append(np.array(values, dtype=np.float64))
                else:
                    values = [o[key][index] for o in objects]
                    if not set(map(type, values)) <= numbers:
                        return None
                    columns.append(np.array(values, dtype=np.float64))
            for key in {key for key, index in fields if index is not None}:
                if len(set(map(len, (o[key] for o in objects)))) != 1 or len(objects[0][key]) != self.columns[key]:
                    return None
        except (KeyError, IndexError, TypeError, OverflowError):
            return None
        return Chunk(columns, np.arange(first, first + len(block), dtype=np.int64))

    def _jsonl_slow(self, block, first, fields, on_error, skipped, rules) -> Chunk:
        good = _Rows(len(fields))
        for offset, line in enumerate(block):
            if not line.strip():
                continue
            number = first + offset
            text = line.rstrip("\r\n")
            try:
                obj = json.loads(text)
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
            value = _json_number(raw)
            if value is None:
                what = f"{key}[{index}]" if index is not None else key
                return None, (f"'{what}' must be a number, not {clip(json.dumps(raw))}", key)
            row.append(value)
        return row, None

    # Parquet

    def _parquet_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        pq = _pyarrow_parquet()

        keys = [key for key, _ in fields]
        for key in keys:
            if not self._parquet_types[key]:
                raise DataError(f"column '{key}' is not numeric", self.label,
                                hint="inputs are read from integer, floating-point or decimal columns")
        start = 0
        parquet = pq.ParquetFile(self._parquet_source())
        for batch in parquet.iter_batches(batch_size=rows, columns=sorted(set(keys)) or None):
            n = batch.num_rows
            columns, bad = [], np.zeros(n, dtype=bool)
            for key in keys:
                array = batch.column(batch.schema.get_field_index(key))
                if array.null_count:
                    nulls = array.is_null().to_numpy(zero_copy_only=False)
                    for r in np.flatnonzero(nulls & ~bad):
                        self._bad(on_error, skipped, DataError(
                            f"missing value for '{key}'", self.label, start + int(r) + 1, row_word="row"))
                    bad |= nulls
                columns.append(_parquet_floats(array))
            lines = np.arange(start + 1, start + n + 1, dtype=np.int64)
            start += n
            if bad.any():
                keep = ~bad
                columns = [np.ascontiguousarray(c[keep]) for c in columns]
                lines = lines[keep]
            if len(lines):
                yield Chunk(columns, lines)


def _parquet_floats(array) -> np.ndarray:
    """A numeric Arrow column as float64, each value the double nearest to it (as float()
    reads the number's text, and as CSV gives it). Arrow's own safe cast refuses integers
    past 2^53, and its decimal-to-double cast is not correctly rounded; its string-to-double
    is, and NumPy's int64/uint64-to-double rounds to nearest. Nulls become nan (their rows
    are dropped)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    kind = array.type
    if pat.is_integer(kind):
        if array.null_count:
            array = array.fill_null(0)
        return array.to_numpy(zero_copy_only=False).astype(np.float64)
    if pat.is_decimal(kind):
        array = pc.cast(array, pa.string())
    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _csv_problem(exc: Exception) -> str:
    """The csv module's complaint about malformed quoting, in the user's terms."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is not closed before the end of the file"
    if "expected after" in text:
        return "a closing quote must be followed by the delimiter or the end of the line"
    if "field limit" in text:
        return "a field longer than 131,072 characters (is a closing quote missing?)"
    return f"cannot read the row: {text}"


def _field_column(text: str, k: int, delimiter: str = ",") -> int:
    """The 1-based character column where field k of a CSV record starts (quotes respected)."""
    if k == 0:
        return 1
    quoted = False
    field = 0
    for position, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            field += 1
            if field == k:
                return position + 2
    return len(text) + 1


def _json_number(raw) -> float | None:
    if type(raw) is int:
        try:
            return float(raw)
        except OverflowError:
            return math.inf if raw > 0 else -math.inf
    if type(raw) is float:
        return raw
    if type(raw) is str:
        return _strict_number(raw)
    return None


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(
            "reading .parquet files needs pyarrow, which is not installed",
            hint="pip install 'cgraph[parquet]' (or pip install pyarrow)",
        ) from None
    return pq


# --- binding columns to inputs -------------------------------------------------------


class Binding:
    """Which fields of a data file give which inputs, and what the data leaves out.

    names      the inputs the data gives, as the graph names them
    fields     where each comes from in the file
    notes      columns that bind nothing
    defaulted  inputs with a declared default that the data could give but does not (and
               no option gives): every row uses the default
    near       defaulted input -> a column that nearly names it (a case or spelling slip)"""

    def __init__(self, names: list[str], fields: list[Field], notes: list[str],
                 defaulted: Sequence[str] = (), near: dict[str, str] | None = None):
        self.names = names
        self.fields = fields
        self.notes = notes
        self.defaulted = list(defaulted)
        self.near = near or {}


class _KeyRules:
    """What a key of a data file binds: for the header, and for the keys a later JSON
    Lines row brings that the first row did not have.

    Every row of a JSON Lines file gives the inputs its first row gives, no more and no
    fewer (each indexed input as `"x[2]": v` or in a list `"x": [...]`, the form may change
    from row to row); keys that bind nothing may come and go."""

    def __init__(self, graph: Graph, data: DataFile, given: Sequence[str], params_ok: bool):
        self.graph = graph
        self.data = data
        self.given = set(given)
        self.params_ok = params_ok
        self.leaves = graph.inputs
        self.known: set[str] = set(data.columns)  # keys any row may have without a second look
        self.source: dict[str, str] = {}  # bound input -> the key that gives it
        self.name_of: dict[Field, str] = {}
        self.list_form: dict[str, tuple[str, int, int]] = {}  # x[2] -> ("x", position, count)
        self.bases: set[str] = set()  # the x of each bound x[...]

    def _where(self, key: str, line: int | None) -> str:
        return f"column '{key}'" if line is None else f"'{key}' on line {line}"

    def targets(self, key: str, length: int | None, line: int | None = None,
                text: str | None = None) -> list[tuple[str, Field]] | str:
        """The inputs `key` binds, as (input, field); or a note saying why it binds nothing.
        Raises for a key that names a computed node, a param when training, or an input
        also given as an option."""
        what = f"--data {self.data.label}: '{key}'"
        try:
            base = input_values.canonical(key)
        except InputError:
            return f"column '{clip(key)}' is not an input name; ignored"
        if length is None:
            targets = [(base, (key, None))]
        else:
            try:
                expanded = input_values.expand(self.graph, base, [0.0] * length, what, self.leaves)
            except InputError as exc:
                if input_values.indexed_names(self.graph, base, self.leaves) or base in self.leaves:
                    raise self._error(exc.message, line, text, key) from None
                return f"'{clip(key)}' is not an input of {self.graph.source.filename}; ignored"
            targets = [(name, (key, k if length else None)) for k, name in enumerate(expanded)]
        for name, _ in targets:
            self._check(key, name, line, text)
        if not all(name in self.leaves for name, _ in targets):
            name = targets[0][0]
            indexed = input_values.indexed_names(self.graph, name, self.leaves)
            hint = (f" (the file's inputs are {', '.join(indexed[:4])}{', ...' if len(indexed) > 4 else ''})"
                    if indexed else "")
            return (f"column '{clip(key)}' is not an input of {self.graph.source.filename}; ignored"
                    + (hint or did_you_mean(name, self.leaves)))
        return targets

    def _check(self, key: str, name: str, line: int | None, text: str | None) -> None:
        graph = self.graph
        if name in self.leaves:
            i = self.leaves[name]
            if graph.ops[i] == "param" and not self.params_ok:
                raise self._error(
                    f"{self._where(key, line)} is the param '{name}'; params are learned, not read from data",
                    line, text, key, "rename or drop the column; --init FILE.json sets params' starting values",
                    graph.location(i) if line is None else None,
                )
            if name in self.given:
                first = "" if line is None else f" ('{clip(key)}', first on line {line})"
                raise self._error(
                    f"'{name}' is given both as a column of {self.data.label}{first} and on the command line",
                    line, text, key, "give each input one value: drop the option or the column",
                )
        elif name in graph.names:
            i = graph.names[name]
            raise self._error(
                f"{self._where(key, line)} " + (f"names '{name}', which " if key != name else "")
                + f"is computed on line {graph.line_of(i)}; only inputs can be read from data",
                line, text, key, None, graph.location(i) if line is None else None,
            )

    def _error(self, message: str, line: int | None, text: str | None, key: str, hint: str | None = None,
               location=None) -> InputError:
        if line is not None and text is not None:
            found = text.find(json.dumps(key))
            width = len(json.dumps(key)) if found >= 0 else 1
            return DataError(message, self.data.label, line, text, max(found + 1, 1), width, hint=hint)
        if location is not None:
            return InputError(f"--data {self.data.label}: {message}", location, hint)
        return InputError(message, hint=hint)

    def bound(self, names: list[str], fields: list[Field]) -> None:
        """Remember what the first row binds, to check later rows against it."""
        families: dict[str, dict[str, int]] = {}  # base -> {x[k]: position}, each made once
        for name, field in zip(names, fields):
            self.source[name] = field[0]
            self.name_of[field] = name
            if "[" in name:
                base = name[: name.index("[")]
                if base not in families:
                    family = input_values.indexed_names(self.graph, base, self.leaves)
                    families[base] = {n: k for k, n in enumerate(family)}
                self.list_form[name] = (base, families[base][name], len(families[base]))
        self.bases = set(families)
        # A first-row key naming an input or a base without binding it (a base whose value
        # is not a list): rows with it are read one by one, where it is judged per row.
        sources = set(self.source.values())
        for key in list(self.known):
            if key not in sources and (_canonical(key) in self.bases or _canonical(key) in self.leaves):
                self.known.discard(key)

    # --- later rows of a JSON Lines file ------------------------------------------------

    def _new_key(self, key: str, raw, line: int, text: str) -> tuple[str, str] | None:
        """A key the first row lacks: None if it is fine in this row, else (message, key).
        A key that binds nothing is remembered as harmless."""
        length = len(raw) if type(raw) is list else None
        try:
            base = input_values.canonical(key)
        except InputError:
            self.known.add(key)
            return None
        # An input's own name, or an indexed input's base with a list (its list form).
        if base in self.leaves:
            names = [base]
        elif length is not None:
            names = input_values.indexed_names(self.graph, base, self.leaves)
        else:
            names = []
        if not names:
            self.targets(key, length, line, text)  # raises for a computed node's name
            if base not in self.bases:  # a base's key stays unknown: with a list it is the list form
                self.known.add(key)
            return None
        for name in names:
            self._check(key, name, line, text)
        missing = [n for n in names if n not in self.source]
        if missing:
            first = self.data.header_line
            gives = f"'{clip(key)}'" if missing[0] == base else f"'{clip(key)}' gives '{missing[0]}', which"
            return (f"{gives} is not in the first row (line {first}); every row must give the inputs "
                    "the first row gives", key)
        return None  # the other form of inputs the first row gives

    def row(self, obj: dict, fields: Sequence[Field], line: int, text: str):
        """One row's values: (values, None), or (None, (message, key)) for a bad row."""
        for key in obj:
            if key not in self.known:
                problem = self._new_key(key, obj[key], line, text)
                if problem is not None:
                    return None, problem
        by_name: dict[str, str] = {}
        for key in obj:
            try:
                name = input_values.canonical(key)
            except InputError:
                continue
            if name in by_name and (name in self.source or name in self.bases):
                return None, (f"'{name}' is given twice: as '{by_name[name]}' and as '{clip(key)}'", key)
            by_name.setdefault(name, key)
        row = []
        for field in fields:
            name = self.name_of.get(field)
            if name is None:  # a field the binding does not know: read as given
                values, problem = self.data._jsonl_row(obj, [field])
                if problem is not None:
                    return None, problem
                row.extend(values)
                continue
            value, problem = self._value(obj, by_name, name, field)
            if problem is not None:
                return None, problem
            row.append(value)
        return row, None

    def _value(self, obj: dict, by_name: dict[str, str], name: str, field: Field):
        """Input `name` in one row: by its own key, or from its list; never both."""
        own = by_name.get(name)
        listed = None
        base_key = None
        if name in self.list_form:
            base, position, count = self.list_form[name]
            base_key = by_name.get(base)
            if base_key is not None and type(obj[base_key]) is list:  # anything else is not the list form
                listed = base_key
        if own is not None and listed is not None:
            return None, (f"'{name}' is given twice: as '{own}' and in the list '{listed}'", own)
        if own is not None:
            raw = obj[own]
            if type(raw) is list and len(raw) == 1:
                raw = raw[0]
            value = _json_number(raw)
            if value is None:
                return None, (f"'{name}' must be a number, not {clip(json.dumps(raw))}", own)
            return value, None
        if listed is not None:
            raw = obj[listed]
            if len(raw) != count:
                return None, (f"'{listed}' must be a list of {count} numbers, not {len(raw)} values", listed)
            value = _json_number(raw[position])
            if value is None:
                return None, (f"'{name}' (in the list '{listed}') must be a number, not {clip(json.dumps(raw[position]))}",
                              listed)
            return value, None
        if base_key is not None:
            return None, (f"missing '{name}' ('{base_key}' is not a list of {count} numbers: "
                          f"{clip(json.dumps(obj[base_key]))})", base_key)
        return None, (f"missing '{field[0]}'", None)


def bind_columns(graph: Graph, data: DataFile, *, given: Sequence[str] = (), params_ok: bool = True) -> Binding:
    """Match a data file's columns to the graph's inputs.

    A column naming an input binds it; one naming a computed node, or an input also given
    on the command line (`given`), is an error; a column naming a param is an error when
    `params_ok` is false (training: params are learned, not read). Other columns are
    ignored with a note (an id or a label column is fine). A file none of whose columns
    binds an input is an error (with what the columns nearly name). From then on `data`
    checks each JSON Lines row against the first: a later key that gives an input is the
    other form of one the first row gives, or an error naming its line."""
    rules = _KeyRules(graph, data, given, params_ok)
    names: list[str] = []
    fields: list[Field] = []
    notes: list[str] = []
    owner: dict[str, str] = {}
    first_text = getattr(data, "_first_text", None)
    for key, length in data.columns.items():
        targets = rules.targets(key, length)
        if isinstance(targets, str):
            notes.append(targets)
            continue
        for name, field in targets:
            if name in owner:
                where = (f"line {data.header_line} of {data.label}" if data.format == "jsonl"
                         else f"the header of {data.label}")
                raise DataError(f"'{name}' is given twice in {where}: by '{owner[name]}' and by '{key}'",
                                data.label, data.header_line if first_text else None, first_text)
            owner[name] = key
            names.append(name)
            fields.append(field)
    rules.bound(names, fields)
    data.rules = rules
    if not names:
        raise _binds_nothing(graph, data, notes)
    defaulted = [n for n, i in graph.inputs.items()
                 if graph.ops[i] == "input" and n not in owner and n not in rules.given and graph.values[i] is not None]
    near = _near_columns(defaulted[:8], data.columns, set(owner.values()))  # messages name the first few
    return Binding(names, fields, notes, defaulted, near)


def _canonical(key: str) -> str | None:
    try:
        return input_values.canonical(key)
    except InputError:
        return None


def _near_columns(inputs: Sequence[str], columns, used, cutoff: float = 0.75) -> dict[str, str]:
    """input -> an unused column naming it but for case or a slip of spelling."""
    import difflib

    free = [c for c in columns if c not in used]
    lower = {c.strip().lower().replace(" ", ""): c for c in free}
    near = {}
    for name in inputs:
        base = name.split("[", 1)[0]
        match = lower.get(name.lower()) or lower.get(base.lower())
        if match is None:
            close = difflib.get_close_matches(name, free, n=1, cutoff=cutoff)
            match = close[0] if close else None
        if match is not None:
            near[name] = match
    return near


def _binds_nothing(graph: Graph, data: DataFile, notes: list[str]) -> DataError:
    """The error for a file that gives no input, with the likeliest reason as its hint."""
    inputs = [n for n, i in graph.inputs.items() if graph.ops[i] == "input"] or list(graph.inputs)
    shown = ", ".join(inputs[:6]) + (", ..." if len(inputs) > 6 else "")
    columns = list(data.columns)
    listed = ", ".join(f"'{clip(c, 30)}'" for c in columns[:6]) + (", ..." if len(columns) > 6 else "") or "none"
    message = f"no column of {data.label} is an input of {graph.source.filename} (columns: {listed}; inputs: {shown or 'none'})"
    hint = _separator_hint(graph, data) or _case_hint(inputs, columns)
    if hint is None:
        near = _near_columns(inputs[:20], columns[:200], (), cutoff=0.6)
        if near:
            hint = "did you mean " + ", ".join(f"'{n}' for column '{clip(c, 30)}'" for n, c in list(near.items())[:4]) + "?"
    return DataError(message, data.label, hint=hint or "name the columns after the inputs: x, x[1], w[1,2]")


def _separator_hint(graph: Graph, data: DataFile) -> str | None:
    """'the header looks ;-separated' when splitting it at another separator names inputs."""
    if data.format != "csv":
        return None
    header = data.delimiter.join(data._header)
    for separator, spelled in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','"), (" ", "' '")):
        if separator == data.delimiter or separator not in header:
            continue
        parts = [p.strip().strip('"') for p in header.split(separator)]
        if len(parts) > 1 and any(_names_input(graph, p) for p in parts):
            shown = "tab" if separator == "\t" else separator
            return f"the header looks {shown}-separated: use --delimiter {spelled}"
    return None


def _names_input(graph: Graph, key: str) -> bool:
    try:
        name = input_values.canonical(key)
    except InputError:
        return False
    return name in graph.inputs or bool(input_values.indexed_names(graph, name))


def _case_hint(inputs: Sequence[str], columns: Sequence[str]) -> str | None:
    lower = {n.lower(): n for n in inputs}
    bases = {n.split("[", 1)[0].lower(): n.split("[", 1)[0] for n in inputs}
    pairs = []
    for column in columns:
        try:
            key = input_values.canonical(column).lower()
        except InputError:
            continue
        match = lower.get(key) or bases.get(key)
        if match is not None:
            pairs.append(f"'{match}' for column '{clip(column, 30)}'")
    if not pairs:
        return None
    return f"did you mean {', '.join(pairs[:4])}? (names are case-sensitive)"


# --- writing rows out ----------------------------------------------------------------

OUT_FORMATS = ("csv", "jsonl")


class RowWriter:
    """One line per row: the output's value and each gradient, as CSV or JSON Lines.

    CSV: `line,g,dg/dx,dg/dy,...`; JSON Lines: {"line": 2, "value": -12.0, "gradients":
    {"x": -3.0, ...}}. Numbers have full precision (they read back as the same float);
    inf and nan are written inf/nan in CSV and "inf"/"nan" (strings) in JSON."""

    def __init__(self, out: IO[bytes], fmt: str, output: str, names: Sequence[str], row_word: str = "line"):
        if fmt not in OUT_FORMATS:
            raise ValueError(f"format must be one of {OUT_FORMATS}")
        self.out = out
        self.fmt = fmt
        self.rows = 0
        if fmt == "csv":
            import csv
            import io

            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow([row_word, output, *(f"d{output}/d{n}" for n in names)])
            out.write(header.getvalue().encode())
            self.template = ",".join(["{}"] * (2 + len(names))) + "\n"
        else:
            parts = ", ".join(f"{_braces(json.dumps(n))}: {{}}" for n in names)
            self.template = f'{{{{"{row_word}": {{}}, "value": {{}}, "gradients": {{{{{parts}}}}}}}}}\n'
        self.json = fmt == "jsonl"

    def write(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[np.ndarray]) -> None:
        columns = [list(map(str, lines.tolist())), self._numbers(value)]
        columns += [self._numbers(g) for g in grads]
        self.out.write("".join(map(self.template.format, *columns)).encode())
        self.rows += len(lines)

    def _numbers(self, values: np.ndarray) -> list[str]:
        strings = list(map(repr, values.tolist()))
        if self.json and not np.isfinite(values).all():
            for k in np.flatnonzero(~np.isfinite(values)).tolist():
                strings[k] = f'"{strings[k]}"'
        return strings


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
