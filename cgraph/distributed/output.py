"""Rows out for the Dask engine: CSV and JSON Lines as the local engine writes them
(RowWriter), or Parquet; one file written by the client, or one part file per partition
written by the worker that computed it (`-o DIR/`)."""

from __future__ import annotations

import os
from typing import IO, Any, Iterable, Sequence

import numpy as np

from ..training.data import RowWriter

OUT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
PART_SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


def out_format(target: str, fmt: str | None) -> str:
    """The output's format: --format if given, else the file's suffix, else CSV."""
    if fmt is not None:
        return fmt
    return OUT_SUFFIXES.get(os.path.splitext(target)[1].lower(), "csv")


def part_names(directory: str, staging: str, count: int, fmt: str) -> list[tuple[str, str]]:
    """(name while written, final name) of each partition's part file: written into a
    hidden staging directory inside `directory`, moved out only when every part is done."""
    names = []
    for k in range(count):
        final = f"part-{k:05d}{PART_SUFFIX[fmt]}"
        names.append((os.path.join(staging, final), os.path.join(directory, final)))
    return names


class ParquetRows:
    """RowWriter's interface, writing Parquet: a column `line` (or `row`), each output's
    value, then d{output}/d{name} for every output and name (float64, bit for bit)."""

    def __init__(self, out: IO[bytes], output: str, names: Sequence[str], row_word: str = "line",
                 more_outputs: Sequence[str] = ()):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.outputs = [output, *more_outputs]
        self.columns = [row_word, *self.outputs, *(f"d{o}/d{n}" for o in self.outputs for n in names)]
        fields = [pa.field(row_word, pa.int64())] + [pa.field(c, pa.float64()) for c in self.columns[1:]]
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(out, self.schema)
        self.rows = 0

    def write(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[Any],
              more: Sequence[tuple[np.ndarray, Sequence[Any]]] = ()) -> None:
        import pyarrow as pa

        n = len(lines)
        every = [(value, grads), *more]
        arrays = [lines.astype(np.int64)] + [v for v, _ in every] + [np.broadcast_to(g, (n,)) for _, gs in every for g in gs]
        self.writer.write_batch(pa.RecordBatch.from_arrays([pa.array(a) for a in arrays], schema=self.schema))
        self.rows += n

    def close(self) -> None:
        self.writer.close()


def row_writer(out: IO[bytes], fmt: str, output: str, names: Sequence[str], row_word: str,
               more_outputs: Sequence[str]):
    if fmt == "parquet":
        return ParquetRows(out, output, names, row_word, more_outputs)
    return RowWriter(out, fmt, output, names, row_word, more_outputs=more_outputs)


def close_writer(writer) -> None:
    if isinstance(writer, ParquetRows):
        writer.close()


def write_rows(path: str, fmt: str, rows, parts: Iterable) -> None:
    """One partition's rows (RowResults, as computed) into its (temporary) part file, on the worker."""
    with open(path, "wb", buffering=1 << 20) as out:
        writer = row_writer(out, fmt, rows.output_name, rows.wrt_names, rows.row_word, rows.more_output_names)
        for part in parts:
            writer.write(part.lines, part.value, part.grads, part.more)
        close_writer(writer)
        out.flush()
        os.fsync(out.fileno())
