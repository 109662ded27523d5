"""Training needs finite values: an inf or nan in a data row, an option or an --init param
would make the loss or its gradient inf or nan whatever the learning rate, so each is
refused (or, for a data row with on_error="skip", left out) before epoch 1."""

from __future__ import annotations

import math
import os
from typing import Mapping

import numpy as np

from ..errors import InputError, non_finite
from .data import Binding, Chunk, DataError, DataFile, Skipped, field_column


def require_finite(values: Mapping[str, float], message: str) -> None:
    """Values that hold for every row (options, --init params) must be finite. `message`
    has two {} slots: the name and the value's word (inf, -inf, nan)."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise InputError(message.format(name, non_finite(value)) + ": training needs finite values")


def finite_rows(rows: Chunk, binding: Binding, datafile: DataFile, on_error: str, skipped: Skipped) -> Chunk:
    """The rows without an inf or nan input. Such a row is a bad row: an error naming its
    line and column (exit 2), or with on_error="skip" left out and counted with the other
    bad rows."""
    if not rows.columns:
        return rows
    bad = np.zeros(len(rows.lines), dtype=bool)
    for column in rows.columns:
        bad |= ~np.isfinite(column)
    if not bad.any():
        return rows
    for r in np.flatnonzero(bad):
        error = _bad_row(rows, int(r), binding, datafile, with_text=on_error != "skip")
        if on_error != "skip":
            raise error
        skipped.add(error)
    keep = ~bad
    return Chunk([column[keep] for column in rows.columns], rows.lines[keep])


def _bad_row(rows: Chunk, r: int, binding: Binding, datafile: DataFile, with_text: bool) -> DataError:
    row_word = "row" if getattr(datafile, "format", None) == "parquet" else "line"
    k = next(k for k, column in enumerate(rows.columns) if not np.isfinite(column[r]))
    key, index = binding.fields[k]
    what = f"column '{key}'" if index is None else f"'{binding.names[k]}' (in the list '{key}')"
    line = int(rows.lines[r])
    text = _line_text(datafile.path, line, row_word) if with_text else None
    column, width = _field_span(text, datafile, key)
    return DataError(
        f"{what} is {non_finite(rows.columns[k][r])}: training needs finite values",
        datafile.label, line, text, column, width, row_word=row_word,
        hint="correct or remove the row; --on-error skip leaves out the rows with an inf or nan",
    )


def _field_span(text: str | None, datafile: DataFile, key: str) -> tuple[int, int]:
    """Where the caret goes under a CSV line: the field of column `key` (the whole line
    for JSON Lines, or when the line cannot be read again)."""
    if not text:
        return 1, 1
    if datafile.format != "csv" or key not in datafile.columns:
        return 1, len(text)
    delimiter = getattr(datafile, "delimiter", ",") or ","
    start = field_column(text, list(datafile.columns).index(key), delimiter)
    end = text.find(delimiter, start - 1)
    return start, max(1, (len(text) if end < 0 else end) - start + 1)


def _line_text(path: str, line: int, row_word: str) -> str | None:
    """The text of a line of a data file, for the error's excerpt (None when it cannot be
    read again: Parquet has rows, not lines; standard input is gone)."""
    if row_word != "line" or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            for number, text in enumerate(f, 1):
                if number == line:
                    return text.rstrip("\r\n")
    except OSError:
        return None
    return None


def read_finite(data, binding: Binding, chunk_rows: int, on_error: str, skipped: Skipped) -> Chunk:
    """Every row of a data file or set, read whole, without the rows holding an inf or nan
    (each file checked on its own, so that a bad row is named by its file and line)."""
    from .data import files_of
    from .data.dataset import merge_skipped

    files = files_of(data)
    if len(files) == 1:
        return finite_rows(files[0].read_all(binding.fields, chunk_rows, on_error, skipped), binding, files[0],
                           on_error, skipped)
    parts = []
    for f in files:
        mine = Skipped()
        parts.append(finite_rows(f.read_all(binding.fields, chunk_rows, on_error, mine), binding, f, on_error, mine))
        merge_skipped(skipped, mine, f.label)
    columns = [np.concatenate([p.columns[k] for p in parts]) for k in range(len(binding.fields))]
    return Chunk(columns, np.concatenate([p.lines for p in parts]))
