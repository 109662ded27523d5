"""DataFile: a data file's format, its columns, and its rows in chunks, whatever the
format (each format's reading is its own module)."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Iterator, Sequence

import numpy as np

from ...errors import InputError
from .base import STDIN, Chunk, Field, Skipped, ON_ERROR, _data_format
from .csvfile import _CsvReader
from .jsonlfile import _JsonlReader
from .parquetfile import _ParquetReader

if TYPE_CHECKING:
    from .binding import _KeyRules


class DataFile(_CsvReader, _JsonlReader, _ParquetReader):
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
        # Parquet: read only the row groups first..end-1 (a partition of the Dask engine);
        # rows keep their numbers in the whole file.
        self.row_groups: tuple[int, int] | None = None
        if self.format == "csv":
            self._csv_header()
        elif self.format == "jsonl":
            self._jsonl_header()
        else:
            self._parquet_header()

    def __repr__(self) -> str:
        return f"<DataFile {self.label} ({self.format}, {len(self.columns)} columns)>"

    def row_count(self) -> int | None:
        """The number of rows when the file records it (Parquet's metadata), else None."""
        if self.format != "parquet":
            return None
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        except Exception:  # only a nicety: without it a progress bar counts rows alone
            return None

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
