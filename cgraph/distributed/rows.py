"""`cgraph eval --data ... --engine dask`: each partition (data file) evaluated on a worker
by the local engine, the rows brought back (or written to part files by the workers) in
input order, and the warnings of the whole run said once, as the local engine says them.

    summary = evaluate_on_cluster(client, program, data, local_rows, job, sink)

`local_rows` is the local engine's RowEvaluation for the same run, built (not iterated)
on the client: it checks the inputs before any work is sent, and gathers the partitions'
skipped rows and inf/nan origins to word the warnings exactly as a local run would."""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any, Callable, Sequence

from ..training.data import files_of
from ..training.data.base import SHOWN_SKIPS
from .cluster import worker_failed
from .local import EvalJob, Failure, PartResult, evaluate_partition
from .output import part_names
from .partitions import Partition, partitions


def _submit(client, job: EvalJob, parts: Sequence[Partition], targets: Sequence[str | None], fmt: str) -> list:
    # pure=False: a rerun of the command is a new computation (the files may have changed).
    return [client.submit(evaluate_partition, job, part, target, fmt, pure=False, retries=2)
            for part, target in zip(parts, targets)]


def _sources(data, parts: Sequence[Partition]) -> list[str | None]:
    """The file each partition names in messages, when the data is a set of files."""
    several = len(files_of(data)) > 1
    return [part.label if several else None for part in parts]


def _take(local_rows, part: PartResult, source: str | None = None) -> None:
    """Add a partition's counts to the client's RowEvaluation (for its warnings());
    `source`: the partition's file, when it is one of a data set's."""
    local_rows.rows += part.rows
    skipped = local_rows.skipped
    skipped.count += part.skipped
    skipped.first.extend(part.skipped_first[: max(0, SHOWN_SKIPS - len(skipped.first))])
    seen = local_rows.origins._seen  # partitions come in order: the first to name a node has its first row
    for node, kind, count, first, arg in part.origins:
        entry = seen.get((node, kind))
        if entry is None:
            seen[(node, kind)] = [count, first, arg]
            if source is not None:
                local_rows.first_source[(node, kind)] = source
        else:
            entry[0] += count


def _result(future) -> PartResult:
    try:
        part = future.result()
    except Exception as exc:  # raised on a worker, or the worker died too often
        raise worker_failed(exc) from None
    if isinstance(part, Failure):
        raise part.error()
    return part


def evaluate_to_writer(client, job: EvalJob, data, local_rows, write: Callable[[Any], None],
                       on_part: Callable[[int, int], None] | None = None) -> None:
    """Every partition's rows, handed to `write` (a RowResults at a time) in input order."""
    parts = partitions(data)
    sources = _sources(data, parts)
    futures = _submit(client, job, parts, [None] * len(parts), "csv")
    try:
        for k, future in enumerate(futures):
            part = _result(future)
            futures[k] = None  # the client holds no more than it writes
            for rows in part.parts:
                write(rows)
            _take(local_rows, part, sources[k])
            if on_part is not None:
                on_part(k, part.rows)
    finally:
        for future in futures:
            if future is not None:
                future.cancel()


def evaluate_to_parts(client, job: EvalJob, data, local_rows, directory: str, fmt: str,
                      on_part: Callable[[int, int], None] | None = None) -> list[str]:
    """Every partition's rows written by its worker to DIR/part-NNNNN.EXT: each into a
    hidden staging directory, all moved out once every partition has succeeded. A failed
    or interrupted run removes the staging directory: no part file is left, and a task
    still running then (Dask cannot stop one) fails to open its file instead of leaving
    one behind. The part files' names, in order."""
    parts = partitions(data)
    sources = _sources(data, parts)
    staging = os.path.join(directory, f".cgraph-parts-{uuid.uuid4().hex[:12]}")
    os.mkdir(staging)
    names = part_names(directory, staging, len(parts), fmt)
    futures = _submit(client, job, parts, [temp for temp, _ in names], fmt)
    done = False
    try:
        for k, future in enumerate(futures):
            part = _result(future)
            _take(local_rows, part, sources[k])
            if on_part is not None:
                on_part(k, part.rows)
        for temp, final in names:
            os.replace(temp, final)
        done = True
    finally:
        if not done:
            for future in futures:
                future.cancel()
        shutil.rmtree(staging, ignore_errors=True)
    return [final for _, final in names]
