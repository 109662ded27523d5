"""What every reader of a data file shares: the formats, DataError (a bad file or row,
located; defined with the other errors in cgraph/errors.py), the rows skipped, a chunk of rows, and numbers as the readers read them."""

from __future__ import annotations

import math
import os

import numpy as np

from ...errors import DataError, InputError  # noqa: F401  DataError: the readers take it from here

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DATA_FORMATS = ("csv", "jsonl", "parquet")
STDIN = "-"  # --data - reads standard input (its format from --data-format)
ON_ERROR = ("fail", "skip")
SHOWN_SKIPS = 5  # skipped rows listed by message; the rest are counted
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t"}  # a tab is hard to type as an option's value
_NOT_DELIMITERS = '"\r\n.+-_[]'  # quotes, line ends, and what numbers and names are made of


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
    number in the file (row number for parquet). `source`: the file, when the rows come
    from one file of a data set (a directory or glob), so messages name it."""

    __slots__ = ("columns", "lines", "n", "source")

    def __init__(self, columns: list[np.ndarray], lines: np.ndarray, source: str | None = None):
        self.columns = columns
        self.lines = lines
        self.n = len(lines)
        self.source = source


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



def json_number(raw) -> float | None:
    """A JSON value as a number: an int (+-inf past a float's range), a float, or a string
    float() reads (as in CSV); None for anything else."""
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



class _Source:
    """What the readers of each format know of the DataFile they are part of (DataFile
    sets these)."""

    path: str
    label: str  # the name messages use ("<stdin>" for standard input)
    format: str
    delimiter: str
    columns: dict[str, int | None]
    header_line: int

    def _bad(self, on_error: str, skipped: Skipped, error: DataError) -> None:
        if on_error == "fail":
            raise error
        skipped.add(error)
