"""What the Dask engine splits the data into: one partition per data file, and a Parquet
file with several row groups into runs of its row groups (so that one large table still
spreads over the workers). Rows keep their order: partitions in file order, then row
group order; each partition's rows keep their numbers in their file."""

from __future__ import annotations

import os
from typing import NamedTuple

from ..training.data import files_of

# A partition of a Parquet file holds at least this many rows (row groups are joined
# until it does): fewer, larger tasks when a file was written with small row groups.
MIN_PARTITION_ROWS = 1 << 18


class Partition(NamedTuple):
    path: str  # absolute: a worker's working directory is not the client's
    row_groups: tuple[int, int] | None  # Parquet: row groups first..end-1; None: the whole file
    format: str  # the file's, as the client read it (the suffix, or --data-format)
    delimiter: str | None  # CSV's
    label: str  # the file as the user named it, for messages


def partitions(data, min_rows: int | None = None) -> list[Partition]:
    min_rows = min_rows or MIN_PARTITION_ROWS
    out: list[Partition] = []
    for f in files_of(data):
        runs = _row_group_runs(f.path, min_rows) if f.format == "parquet" else []
        delimiter = f.delimiter if f.format == "csv" else None
        for run in (runs if len(runs) > 1 else [None]):
            out.append(Partition(os.path.abspath(f.path), run, f.format, delimiter, f.label))
    return out


def _row_group_runs(path: str, min_rows: int) -> list[tuple[int, int]]:
    """Consecutive row groups joined into runs of at least `min_rows` rows (the last run
    may be smaller; a last run under half of min_rows joins the one before)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception:  # the reader says what is wrong with the file, on the worker
        return []
    sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    runs: list[tuple[int, int]] = []
    first, rows = 0, 0
    for g, size in enumerate(sizes):
        rows += size
        if rows >= min_rows:
            runs.append((first, g + 1))
            first, rows = g + 1, 0
    if first < len(sizes):
        if runs and rows < min_rows // 2:
            runs[-1] = (runs[-1][0], len(sizes))
        else:
            runs.append((first, len(sizes)))
    return runs
