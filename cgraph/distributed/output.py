"""Rows out for the Dask engine: the local engine's row writers (CSV, JSON Lines, Parquet);
one file written by the client, or one part file per partition written by the worker that
computed it (`-o DIR/`)."""

from __future__ import annotations

import os
from typing import Iterable

from ..training.data.writer import close_writer, row_writer

PART_SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}


def part_names(directory: str, staging: str, count: int, fmt: str) -> list[tuple[str, str]]:
    """(name while written, final name) of each partition's part file: written into a
    hidden staging directory inside `directory`, moved out only when every part is done."""
    names = []
    for k in range(count):
        final = f"part-{k:05d}{PART_SUFFIX[fmt]}"
        names.append((os.path.join(staging, final), os.path.join(directory, final)))
    return names


def write_rows(path: str, fmt: str, rows, parts: Iterable) -> None:
    """One partition's rows (RowResults, as computed) into its (temporary) part file, on the worker."""
    with open(path, "wb", buffering=1 << 20) as out:
        writer = row_writer(out, fmt, rows.output_name, rows.wrt_names, rows.row_word, rows.more_output_names)
        for part in parts:
            writer.write(part.lines, part.value, part.grads, part.more)
        close_writer(writer)
        out.flush()
        os.fsync(out.fileno())
