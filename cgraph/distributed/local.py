"""What runs on a worker: the local engine over one partition (a data file). This module is
the one place that calls the local engine (cgraph.training.rows, the trainer's Plan, the
data readers) for the Dask engine, so a change in the local engine's API is fitted here.

Each function is a plain function of picklable values: Dask ships it with its arguments
to a worker process, and runs it again on another worker if the first one dies (so it
must not depend on anything but its arguments and the files it reads).

Errors cgraph raises on purpose are returned, not raised: their constructors take more
than the message, so they do not survive pickling as exceptions (`Failure` carries one
across and `Failure.error()` rebuilds it on the client)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CgraphError
from ..ir.graph import Graph
from .partitions import Partition

@dataclass(frozen=True)
class ShippedProgram:
    """What a worker builds the graph from: the program's text as the client read it, and
    the options that shape the graph (a Graph itself holds memoryviews, which do not pickle;
    parsing again with the same seed gives the same nodes and the same random params)."""

    text: str
    filename: str
    seed: int
    max_nodes: int
    nodes: int  # the client's node count, checked on the worker

    def graph(self) -> Graph:
        key = (self.text, self.filename, self.seed, self.max_nodes)
        graph = _GRAPHS.get(key)
        if graph is None:
            from ..frontend.loading import parse

            graph = parse(self.text, self.filename, max_nodes=self.max_nodes, seed=self.seed)
            if len(graph) != self.nodes:  # pragma: no cover - a different cgraph on the worker
                raise CgraphError(f"the worker built {len(graph)} nodes from {self.filename}, not {self.nodes}",
                                  hint="install the same cgraph version on the client and every worker")
            if len(_GRAPHS) > 4:
                _GRAPHS.clear()
            _GRAPHS[key] = graph
        return graph


_GRAPHS: dict[tuple, Graph] = {}

# A worker keeps each training job's compiled Plan and bound values between steps (one
# compile per job, not per step); keyed by the job's token, a few jobs at most.
_PLANS: dict[str, Any] = {}


class Failure:
    """A CgraphError raised on a worker, carried back as its class and attributes."""

    def __init__(self, exc: CgraphError):
        self.kind = type(exc)
        self.state = dict(exc.__dict__)

    def error(self) -> CgraphError:
        exc = self.kind.__new__(self.kind)
        Exception.__init__(exc, self.state.get("message", ""))
        exc.__dict__.update(self.state)
        return exc


@dataclass
class EvalJob:
    """What every partition of an `eval --data` run shares."""

    program: ShippedProgram
    given: dict[str, float]
    outputs: list[str] | None
    on_error: str
    strict: bool
    chunk_rows: int | None
    in_set: bool  # the partition is one file of several: skipped rows are named with their file


@dataclass
class PartResult:
    """One partition's rows in chunks (none when its part file was written on the worker),
    and what the warnings need."""

    parts: list  # the local engine's RowResults, chunk by chunk
    rows: int
    skipped: int
    skipped_first: list[str]
    origins: list[tuple]  # (node, kind, rows, first row, arg) as NonFiniteTally.items() gives them
    names: dict[str, Any] = field(default_factory=dict)  # output, wrt, more, row_word


def _open(graph: Graph, part: Partition, given: Mapping[str, float], params_ok: bool):
    """A partition's data file (its messages name it as the user did) and its binding."""
    from ..errors import InputError
    from ..training import data

    if not os.path.isfile(part.path):
        raise InputError(f"--data {part.label}: a Dask worker cannot open {part.path}",
                         hint="every worker reads the data itself: it needs the same path (a shared file system)")
    datafile = data.DataFile(part.path, fmt=part.format, delimiter=part.delimiter)
    datafile.label = part.label
    datafile.row_groups = part.row_groups
    binding = data.bind_columns(graph, datafile, given=tuple(given), params_ok=params_ok)
    return datafile, binding


def evaluate_partition(job: EvalJob, part: Partition, part_target: str | None = None, out_format: str = "csv"):
    """Every row of one file, as the local engine evaluates it (same plan, same chunks, so
    the same bits). With `part_target`, the rows are written there by the worker (in the
    staging directory the client moves them out of) and only the counts come back."""
    from ..training.rows import evaluate_rows

    try:
        graph = job.program.graph()
        datafile, binding = _open(graph, part, job.given, True)
        rows = evaluate_rows(graph, datafile, binding, job.given, output=job.outputs, chunk_rows=job.chunk_rows,
                             on_error=job.on_error, strict=job.strict,
                             threads=1)  # a worker process per core is the parallelism: no pool inside
        if part_target is not None:
            from .output import write_rows

            write_rows(part_target, out_format, rows, rows)  # chunk by chunk: bounded memory
            parts = []
        else:
            parts = list(rows)
    except CgraphError as exc:
        return Failure(exc)
    return _part_result(rows, parts, part.label, job.in_set)


def _part_result(rows, parts: list, path: str, in_set: bool) -> PartResult:
    skipped = rows.skipped
    first = [f"{path}: {m}" for m in skipped.first] if in_set else list(skipped.first)  # as DataSet names them
    names = {"output": rows.output_name, "wrt": rows.wrt_names, "more": rows.more_output_names,
             "row_word": rows.row_word}
    return PartResult(parts, rows.rows, skipped.count, first, rows.origins.items(), names)


# --- training ----------------------------------------------------------------------------


@dataclass
class TrainData:
    """One partition's rows, kept in a worker's memory for the whole run (Dask persists it)."""

    columns: list[np.ndarray]
    lines: np.ndarray
    skipped: int
    skipped_first: list[str]

    @property
    def n(self) -> int:
        return len(self.lines)


def load_partition(program: ShippedProgram, part: Partition, given: Mapping[str, float], chunk_rows: int, on_error: str,
                   in_set: bool):
    """One file's rows for training: read whole, rows with an inf or nan failed or skipped
    as the local engine does."""
    from ..training.data import Skipped
    from ..training.finite import read_finite

    try:
        datafile, binding = _open(program.graph(), part, given, False)
        skipped = Skipped()
        rows = read_finite(datafile, binding, chunk_rows, on_error, skipped)
    except CgraphError as exc:
        return Failure(exc)
    first = [f"{part.label}: {m}" for m in skipped.first] if in_set else list(skipped.first)
    return TrainData([np.ascontiguousarray(c) for c in rows.columns], rows.lines, skipped.count, first)


@dataclass
class TrainJob:
    """What every step of a training run shares: compiled once per worker (by `token`)."""

    token: str
    program: ShippedProgram
    data_names: list[str]
    loss: str | None
    names: list[str]  # the params, in the trainer's order
    values: dict[str, float]  # the starting values and the given inputs
    chunk: int


def _plan(job: TrainJob):
    entry = _PLANS.get(job.token)
    if entry is None:
        from ..engine.batch import Plan

        graph = job.program.graph()
        plan = Plan(graph, job.data_names, output=job.loss, wrt=job.names, shared_grads="sum")
        base = plan.bind(job.values)
        ids = [graph.inputs[name] for name in job.names]
        if len(_PLANS) > 4:
            _PLANS.clear()
        entry = _PLANS[job.token] = (plan, base, ids)
    return entry


def gradient_sum(job: TrainJob, data: TrainData, params: Sequence[float], rows: Any):
    """(sum of the loss, sum of the gradient, rows, first row's line) over some rows of a partition at these
    params: `rows` is a (start, stop) range or an array of the partition's row indices.
    Sums, not means: the client adds the partitions' sums in a fixed order, then divides."""
    plan, base, ids = _plan(job)
    base = plan.set_leaves(base, dict(zip(ids, params)))
    if isinstance(rows, tuple):
        parts: list = [slice(a, min(a + job.chunk, rows[1])) for a in range(rows[0], rows[1], job.chunk)]
    else:
        parts = [rows[a: a + job.chunk] for a in range(0, len(rows), job.chunk)]
    loss_sum, grad_sum, m = 0.0, np.zeros(len(job.names)), 0
    first = rows[0] if isinstance(rows, tuple) else int(rows[0])
    for part in parts:
        columns = [c[part] for c in data.columns]
        size = part.stop - part.start if isinstance(part, slice) else len(part)
        result = plan.run(base, columns, size)
        loss_sum += float(result.value.sum())
        grad_sum += np.array([result.grads[name] for name in job.names], dtype=np.float64)
        m += size
    # The line of the share's first row: the step's record (--trace) names it.
    return loss_sum, grad_sum, m, int(data.lines[first])


def take_rows(data: TrainData, rows: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Some rows' columns and lines (to diagnose a non-finite loss on the client)."""
    index = np.arange(rows[0], rows[1]) if isinstance(rows, tuple) else np.asarray(rows)
    return [c[index] for c in data.columns], data.lines[index]


def worker_pid() -> int:
    return os.getpid()
