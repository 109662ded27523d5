"""CSV (and TSV) data: the header, then chunks of rows. A well-formed block is one
numpy.loadtxt call (the fast path); a block that is not is read record by record with the
csv module, to say which row is bad and why."""

from __future__ import annotations

from itertools import islice, repeat
from typing import Iterator

import numpy as np

from ...errors import clip
from .base import Chunk, DataError, _Rows, _strict_number
from .text import _TextFile


class _CsvReader(_TextFile):
    """The CSV side of a DataFile."""

    _header: list[str]
    _first_text: str
    _header_excerpt: str

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
                column = field_column(text, k, self.delimiter)
                if column > len(shown) + 1:  # the field starts on a later line of the row
                    column = 1
                message = (f"missing value for '{name}' (column {k + 1})" if not raw.strip()
                           else f"'{clip(raw.strip())}' in column '{name}' is not a number")
                self._bad(on_error, skipped, DataError(message, self.label, number, shown, column, max(len(raw), 1)))
                return None
            row.append(value)
        return row


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


def field_column(text: str, k: int, delimiter: str = ",") -> int:
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
