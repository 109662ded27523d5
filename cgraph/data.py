"""Rows in and rows out: data files read in chunks, columns bound to inputs, results written.

Formats, by the file's suffix:
  .csv             a header line of names, then one row per line (blank lines are skipped)
  .jsonl, .ndjson  one JSON object per line: {"x": 1, "w[2]": 0.5, "h": [0.1, 0.2]}
  .parquet         numeric columns (needs pyarrow: pip install 'cgraph[parquet]')

Column names bind inputs as on the command line: `x`, indexed `x[1]` or `w[1,2]`; in
JSON Lines a list binds the indices the file uses (`"x": [1, 2]` is x[1], x[2]).

Reading is chunked (`rows` per chunk) so a file of any length streams in bounded memory.
Each chunk is parsed by one C-level call (numpy.loadtxt, json.loads, pyarrow) when it is
well formed; a chunk that is not is re-read line by line to say which row is bad and why
(`on_error="fail"`: raise a DataError naming file:line; `"skip"`: leave the row out and
count it). Values are numbers as Python's float() reads them, plus inf, -inf and nan.
"""

from __future__ import annotations

import json
import math
import os
from itertools import islice
from typing import IO, Iterator, Sequence

import numpy as np

from . import inputs as input_values
from .errors import InputError, Location, MissingDependency, Source, did_you_mean
from .ir import Graph

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
ON_ERROR = ("fail", "skip")
SHOWN_SKIPS = 5  # skipped rows listed by message; the rest are counted


class DataError(InputError):
    """A data file cannot be read, or one of its rows is bad (exit code 2).

    Printed as `rows.csv:17:5: error: ...` with the line and a caret when the row is known."""

    def __init__(self, message: str, path: str, line: int | None = None, text: str | None = None,
                 column: int = 1, width: int = 1, hint: str | None = None, row_word: str = "line"):
        location = None
        if line is not None and text is not None:
            location = Location(_OneLine(text, path, line), line, column, width)
        super().__init__(message, location, hint)
        self.path = path
        self.line = line
        self.row_word = row_word

    def __str__(self) -> str:
        if self.location is None and self.line is not None:  # parquet: rows, no lines
            head = f"{self.path}: {self.row_word} {self.line}: error: {self.message}"
            return head + (f"\n  hint: {self.hint}" if self.hint else "")
        if self.location is None:
            return f"{self.path}: error: {self.message}" + (f"\n  hint: {self.hint}" if self.hint else "")
        return super().__str__()


class _OneLine(Source):
    """A Source that knows one line of a data file, enough for an error's excerpt."""

    def __init__(self, text: str, filename: str, line: int):
        super().__init__(text, filename)
        self._line = line

    def line_text(self, line: int) -> str:
        return self.text if line == self._line else ""


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


class DataFile:
    """A data file: its format, its columns, and its rows in chunks."""

    def __init__(self, path: str):
        self.path = path
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in FORMATS:
            raise InputError(
                f"--data {path}: unknown data format '{suffix or '(no suffix)'}'",
                hint="data files are .csv, .jsonl (or .ndjson) and .parquet",
            )
        self.format = FORMATS[suffix]
        if not os.path.exists(path):
            raise InputError(f"--data {path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"--data {path} is a directory, not a file")
        self.header_line = 0
        # The file's columns: key -> None (a number) or the length of a list (JSON Lines).
        self.columns: dict[str, int | None] = {}
        if self.format == "csv":
            self._csv_header()
        elif self.format == "jsonl":
            self._jsonl_header()
        else:
            self._parquet_header()

    def __repr__(self) -> str:
        return f"<DataFile {self.path} ({self.format}, {len(self.columns)} columns)>"

    # --- headers -------------------------------------------------------------------------

    def _open_text(self) -> IO[str]:
        try:
            return open(self.path, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise InputError(f"--data {self.path}: cannot read it: {exc.strerror or exc}") from None

    def _lines(self, f: IO[str]) -> Iterator[str]:
        try:
            yield from f
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason})", self.path) from None

    def _csv_header(self) -> None:
        import csv

        with self._open_text() as f:
            number = 0
            for number, line in enumerate(self._lines(f), 1):
                if line.strip():
                    break
            else:
                raise DataError("the file is empty; expected a header line of column names", self.path)
        self.header_line = number
        names = next(csv.reader([line]))
        self._header = names
        for k, raw in enumerate(names):
            name = raw.strip()
            if not name:
                raise DataError(f"column {k + 1} of the header has no name", self.path, number, line.rstrip("\r\n"))
            if name in self.columns:
                raise DataError(f"column '{name}' appears twice in the header", self.path, number, line.rstrip("\r\n"))
            self.columns[name] = None

    def _jsonl_header(self) -> None:
        with self._open_text() as f:
            for number, line in enumerate(self._lines(f), 1):
                if line.strip():
                    break
            else:
                raise DataError("the file is empty; expected one JSON object per line", self.path)
        try:
            first = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", self.path, number, line.rstrip("\r\n"), exc.colno) from None
        if type(first) is not dict:
            raise DataError("expected a JSON object {\"name\": value, ...}", self.path, number, line.rstrip("\r\n"))
        for key, value in first.items():
            self.columns[key] = len(value) if type(value) is list else None

    def _parquet_header(self) -> None:
        pq = _pyarrow_parquet()
        try:
            schema = pq.read_schema(self.path)
        except Exception as exc:  # pyarrow raises its own errors for a bad file
            raise DataError(f"cannot read it as Parquet: {exc}", self.path) from None
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
        with self._open_text() as f:
            lines = self._lines(f)
            for _ in range(self.header_line):
                next(lines)
            first = self.header_line + 1
            while True:
                block = list(islice(lines, rows))
                if not block:
                    return
                chunk = self._csv_fast(block, first, usecols, width)
                if chunk is None:
                    chunk = self._csv_slow(block, first, usecols, width, on_error, skipped)
                first += len(block)
                if chunk.n:
                    yield chunk

    def _csv_fast(self, block: list[str], first: int, usecols: list[int], width: int) -> Chunk | None:
        """One numpy.loadtxt call for a well-formed block; None to read it line by line."""
        if not usecols:
            return None
        joined = "".join(block)
        if '"' in joined or joined.count(",") != (width - 1) * len(block):
            return None  # quoted fields, a missing or extra field, or blank lines
        try:
            table = np.loadtxt(block, delimiter=",", usecols=usecols, dtype=np.float64, ndmin=2,
                               comments=None, encoding=None)
        except ValueError:
            return None
        if table.shape[0] != len(block):
            return None
        columns = list(np.ascontiguousarray(table.T))
        return Chunk(columns, np.arange(first, first + len(block), dtype=np.int64))

    def _csv_slow(self, block, first, usecols, width, on_error, skipped) -> Chunk:
        import csv

        names = [self._header[k].strip() for k in usecols]
        good = _Rows(len(usecols))
        for offset, line in enumerate(block):
            if not line.strip():
                continue
            number = first + offset
            text = line.rstrip("\r\n")
            fields = next(csv.reader([text]))
            if len(fields) != width:
                self._bad(on_error, skipped, DataError(
                    f"{len(fields)} field{'s' if len(fields) != 1 else ''}, but the header has {width} columns",
                    self.path, number, text, 1, len(text),
                ))
                continue
            row = []
            for name, k in zip(names, usecols):
                raw = fields[k]
                value = _strict_number(raw) if raw.strip() else None
                if value is None:
                    column = _field_column(text, k)
                    message = (f"missing value for '{name}' (column {k + 1})" if not raw.strip()
                               else f"'{raw.strip()}' in column '{name}' is not a number")
                    self._bad(on_error, skipped, DataError(message, self.path, number, text, column, max(len(raw), 1)))
                    break
                row.append(value)
            else:
                good.keep(number, row)
        return good.chunk()

    # JSON Lines

    def _jsonl_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        with self._open_text() as f:
            lines = self._lines(f)
            first = 1
            while True:
                block = list(islice(lines, rows))
                if not block:
                    return
                chunk = self._jsonl_fast(block, first, fields)
                if chunk is None:
                    chunk = self._jsonl_slow(block, first, fields, on_error, skipped)
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

    def _jsonl_slow(self, block, first, fields, on_error, skipped) -> Chunk:
        good = _Rows(len(fields))
        for offset, line in enumerate(block):
            if not line.strip():
                continue
            number = first + offset
            text = line.rstrip("\r\n")
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                self._bad(on_error, skipped, DataError(f"invalid JSON: {exc.msg}", self.path, number, text, exc.colno))
                continue
            except RecursionError:
                self._bad(on_error, skipped, DataError("invalid JSON: nested too deeply", self.path, number, text))
                continue
            if type(obj) is not dict:
                self._bad(on_error, skipped, DataError(
                    "expected a JSON object {\"name\": value, ...}", self.path, number, text, 1, len(text)))
                continue
            row = []
            for key, index in fields:
                error = None
                if key not in obj:
                    error = f"missing '{key}'"
                else:
                    raw = obj[key]
                    if index is not None:
                        if type(raw) is not list or len(raw) != self.columns[key]:
                            got = f"{len(raw)} values" if type(raw) is list else json.dumps(raw)
                            error = f"'{key}' must be a list of {self.columns[key]} numbers (as on the first row), not {got}"
                        else:
                            raw = raw[index]
                    if error is None:
                        value = _json_number(raw)
                        if value is None:
                            what = f"{key}[{index}]" if index is not None else key
                            error = f"'{what}' must be a number, not {json.dumps(raw)}"
                if error is not None:
                    column = text.find(json.dumps(key)) + 1 if key in obj else 1
                    self._bad(on_error, skipped, DataError(error, self.path, number, text, max(column, 1),
                                                           len(json.dumps(key)) if key in obj else 1))
                    break
                row.append(value)
            else:
                good.keep(number, row)
        return good.chunk()

    # Parquet

    def _parquet_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        pq = _pyarrow_parquet()
        import pyarrow as pa
        import pyarrow.compute as pc

        keys = [key for key, _ in fields]
        for key in keys:
            if not self._parquet_types[key]:
                raise DataError(f"column '{key}' is not numeric", self.path,
                                hint="inputs are read from integer, floating-point or decimal columns")
        start = 0
        parquet = pq.ParquetFile(self.path)
        for batch in parquet.iter_batches(batch_size=rows, columns=sorted(set(keys)) or None):
            n = batch.num_rows
            columns, bad = [], np.zeros(n, dtype=bool)
            for key in keys:
                array = batch.column(batch.schema.get_field_index(key))
                if array.null_count:
                    nulls = array.is_null().to_numpy(zero_copy_only=False)
                    for r in np.flatnonzero(nulls & ~bad):
                        self._bad(on_error, skipped, DataError(
                            f"missing value for '{key}'", self.path, start + int(r) + 1, row_word="row"))
                    bad |= nulls
                columns.append(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
            lines = np.arange(start + 1, start + n + 1, dtype=np.int64)
            start += n
            if bad.any():
                keep = ~bad
                columns = [np.ascontiguousarray(c[keep]) for c in columns]
                lines = lines[keep]
            if len(lines):
                yield Chunk(columns, lines)


def _field_column(text: str, k: int) -> int:
    """The 1-based character column where field k of an (unquoted) CSV line starts."""
    position = 0
    for _ in range(k):
        comma = text.find(",", position)
        if comma < 0:
            return position + 1
        position = comma + 1
    return position + 1


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
    """Which fields of a data file give which inputs, and the notes about the rest."""

    def __init__(self, names: list[str], fields: list[Field], notes: list[str]):
        self.names = names  # the inputs, as the graph names them
        self.fields = fields  # where each comes from in the file
        self.notes = notes  # columns that bind nothing


def bind_columns(graph: Graph, data: DataFile, *, given: Sequence[str] = (), params_ok: bool = True) -> Binding:
    """Match a data file's columns to the graph's inputs.

    A column naming an input binds it; one naming a computed node, or an input also given
    on the command line (`given`), is an error; a column naming a param is an error when
    `params_ok` is false (training: params are learned, not read). Other columns are
    ignored with a note (an id or a label column is fine)."""
    leaves = graph.inputs
    names: list[str] = []
    fields: list[Field] = []
    notes: list[str] = []
    for key, length in data.columns.items():
        if length is None:
            try:
                name = input_values.canonical(key)
            except InputError:
                notes.append(f"column '{key}' is not an input name; ignored")
                continue
            targets = [(name, (key, None))]
        else:
            try:
                base = input_values.canonical(key)
                expanded = input_values.expand(graph, base, [0.0] * length, f"--data {data.path}: '{key}'")
            except InputError as exc:
                if input_values.indexed_names(graph, key) or key in leaves:
                    raise InputError(exc.message) from None
                notes.append(f"'{key}' is not an input of {graph.source.filename}; ignored")
                continue
            targets = [(name, (key, k if length else None)) for k, name in enumerate(expanded)]
        for name, field in targets:
            if name in leaves:
                i = leaves[name]
                if graph.ops[i] == "param" and not params_ok:
                    raise InputError(
                        f"--data {data.path}: column '{key}' is the param '{name}'; params are learned, not read from data",
                        graph.location(i), "rename or drop the column; --init FILE.json sets params' starting values",
                    )
                if name in given:
                    raise InputError(
                        f"'{name}' is given both as a column of {data.path} and on the command line",
                        hint="give each input one value: drop the option or the column",
                    )
                names.append(name)
                fields.append(field)
            elif name in graph.names:
                i = graph.names[name]
                raise InputError(
                    f"--data {data.path}: column '{key}' " + (f"names '{name}', which " if key != name else "")
                    + f"is computed on line {graph.line_of(i)}; only inputs can be read from data",
                    graph.location(i),
                )
            else:
                indexed = input_values.indexed_names(graph, name)
                hint = f" (the file's inputs are {', '.join(indexed[:4])}{', ...' if len(indexed) > 4 else ''})" if indexed else ""
                notes.append(
                    f"column '{key}' is not an input of {graph.source.filename}; ignored"
                    + (hint or did_you_mean(name, leaves))
                )
    return Binding(names, fields, notes)


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
