"""Parquet data (needs pyarrow): numeric columns read in record batches, each value the
double nearest to it."""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from ...errors import InputError, MissingDependency, open_finite, stdin_buffer
from .base import STDIN, Chunk, DataError, _Source


class _ParquetReader(_Source):
    """The Parquet side of a DataFile."""

    _parquet_types: dict[str, bool]

    def _is_stream(self) -> bool:
        return self.path == STDIN or not os.path.isfile(self.path)

    def _parquet_source(self):
        """What pyarrow reads: the path, or a stream's bytes (Parquet needs to seek)."""
        if not self._is_stream():
            return self.path
        if getattr(self, "_parquet_bytes", None) is None:
            import pyarrow as pa

            raw = stdin_buffer("--data -").read() if self.path == STDIN else _read_stream(self.path)
            self._parquet_bytes = pa.BufferReader(raw)
        return self._parquet_bytes

    def _parquet_header(self) -> None:
        pq = _pyarrow_parquet()
        source = self._parquet_source()  # a closed or endless stdin is refused as such, not as bad Parquet
        try:
            schema = pq.read_schema(source)
        except Exception as exc:  # pyarrow raises its own errors for a bad file
            raise DataError(f"cannot read it as Parquet: {exc}", self.label) from None
        import pyarrow.types as pat

        self._parquet_types = {}  # name -> whether it holds numbers
        for field in schema:
            self.columns[field.name] = None
            numeric = pat.is_integer(field.type) or pat.is_floating(field.type) or pat.is_decimal(field.type)
            self._parquet_types[field.name] = numeric

    def _parquet_chunks(self, fields, rows, on_error, skipped) -> Iterator[Chunk]:
        pq = _pyarrow_parquet()

        keys = [key for key, _ in fields]
        for key in keys:
            if not self._parquet_types[key]:
                raise DataError(f"column '{key}' is not numeric", self.label,
                                hint="inputs are read from integer, floating-point or decimal columns")
        start = 0
        parquet = pq.ParquetFile(self._parquet_source())
        groups = getattr(self, "row_groups", None)  # (first, end): a Dask partition reads only these
        selected = None
        if groups is not None:
            selected = list(range(*groups))
            start = sum(parquet.metadata.row_group(g).num_rows for g in range(groups[0]))
        for batch in parquet.iter_batches(batch_size=rows, row_groups=selected, columns=sorted(set(keys)) or None):
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



def _read_stream(path: str) -> bytes:
    """A named stream's bytes (a pipe, `<(...)`): Parquet is read from memory."""
    try:
        with open_finite(path, f"--data {path}", "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"--data {path}: cannot read it: {exc.strerror or exc}") from None


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(
            "reading .parquet files needs pyarrow, which is not installed",
            hint="pip install 'cgraph[parquet]' (or pip install pyarrow)",
        ) from None
    return pq
