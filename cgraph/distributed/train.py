"""`cgraph train ... --engine dask`: synchronous data-parallel training on a Dask cluster.

The data is read once, one partition (data file) per task, and stays in the workers'
memory for the whole run (the client holds the futures; a worker that dies has its
partitions read again from the files). Each step the client sends the params and each
partition's share of the batch (a range, or row indices); every partition returns the
sum of the loss and of the gradient over its rows; the client adds them up in partition
order (so a run repeats bit for bit), divides by the batch's rows and applies the
optimizer, exactly as the local trainer does with its chunks.

The loop itself (epochs, batches drawn from --seed, stop criteria, callbacks) is the
local Trainer's: ClusterTrainer only replaces where a batch's loss and gradient are
computed. The batch's rows are the local engine's (a permutation of all rows from
--seed per epoch), so each batch draws from every partition in proportion to its rows."""

from __future__ import annotations

import math
import uuid
from typing import Any, Mapping

import numpy as np

from ..errors import CgraphError, InputError
from ..ir.graph import Graph
from ..training.data import Skipped, files_of
from ..training.data.base import SHOWN_SKIPS
from ..training.trainer import Settings, Trainer
from .cluster import worker_failed
from .partitions import partitions
from .local import Failure, ShippedProgram, TrainData, TrainJob, gradient_sum, load_partition, take_rows


def _gather(client, futures: list) -> list:
    try:
        return client.gather(futures)
    except Exception as exc:  # raised on a worker, or the worker died too often
        raise worker_failed(exc) from None


def _identity(value: Any) -> Any:
    return value


def _describe(data: Any) -> Any:
    """A loaded partition's size and skipped rows (or its Failure), small enough to gather."""
    if isinstance(data, Failure):
        return data
    return data.n, data.skipped, data.skipped_first


def _line_at(data: TrainData, i: int) -> int:
    return int(data.lines[i])


class _RemoteLines:
    """The trainer's `lines` (row -> line number in its file) without bringing the data to
    the client: the lines of the rows each step starts with come back with its gradients,
    any other is asked of the worker holding it (only error messages need those)."""

    def __init__(self, trainer: "ClusterTrainer"):
        self.trainer = trainer
        self.known: dict[int, int] = {}

    def remember(self, i: int, line: int) -> None:
        if len(self.known) > 4096:  # only the latest steps' are asked for
            self.known.clear()
        self.known[i] = line

    def __getitem__(self, i: Any) -> int:
        i = int(i)
        if i not in self.known:
            k, local = self.trainer.locate(i)
            self.known[i] = self.trainer.client.submit(_line_at, self.trainer.parts[k], local, pure=False).result()
        return self.known[i]


class ClusterTrainer(Trainer):
    """The local Trainer with each batch's loss and gradient summed on the workers."""

    def __init__(self, client, program: ShippedProgram, graph: Graph, data, binding, *, settings: Settings,
                 loss: str | None, given: Mapping[str, float], start: Mapping[str, float], on_error: str,
                 skipped: Skipped):
        if settings.optimizer == "newton":
            raise InputError("--optimizer newton is not distributed; train with --engine local",
                             hint="Newton's method needs the Hessian over every row, on one machine")
        self.client = client
        files = files_of(data)
        in_set = len(files) > 1
        chunk = settings.chunk_rows or 65536
        self.parts = [client.submit(load_partition, program, part, dict(given), chunk, on_error, in_set, pure=False,
                                    retries=2)
                      for part in partitions(data)]
        sizes = []
        for info in _gather(client, [client.submit(_describe, p, pure=False) for p in self.parts]):
            if isinstance(info, Failure):
                raise info.error()
            n, count, first = info
            sizes.append(n)
            skipped.count += count
            skipped.first.extend(first[: max(0, SHOWN_SKIPS - len(skipped.first))])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        super().__init__(graph, binding.names, [], None, settings=settings, loss=loss, given=given, start=start,
                         data_path=data.label, rows=int(self.offsets[-1]))
        self.from_data = True
        self.remote_lines = _RemoteLines(self)
        self.lines = self.remote_lines  # type: ignore[assignment]  # indexed like the array it stands for
        job = TrainJob(uuid.uuid4().hex, program, list(binding.names), loss, list(self.names),
                       {**start, **given}, self.chunk)
        self.job = client.submit(_identity, job, pure=False)  # sent once; every step refers to it
        self.bytes_sent = 0  # the steps' payload (params and row shares), for the benchmark

    def locate(self, i: int) -> tuple[int, int]:
        """(partition, row within it) of row i of the whole data."""
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return k, i - int(self.offsets[k])

    def shares(self, rows: slice | np.ndarray) -> list[tuple[int, Any]]:
        """Each partition's share of some rows: a (start, stop) range, or its row indices in
        the order given."""
        offsets = self.offsets
        out: list[tuple[int, Any]] = []
        if isinstance(rows, slice):
            for k in range(len(self.parts)):
                a, b = max(rows.start, int(offsets[k])), min(rows.stop, int(offsets[k + 1]))
                if a < b:
                    out.append((k, (a - int(offsets[k]), b - int(offsets[k]))))
            return out
        which = np.searchsorted(offsets, rows, side="right") - 1
        for k in range(len(self.parts)):
            mine = rows[which == k]
            if len(mine):
                out.append((k, mine - offsets[k]))
        return out

    def batch(self, params: np.ndarray, rows: slice | np.ndarray) -> tuple[float, np.ndarray, tuple | None]:
        values = params.tolist()
        shares = self.shares(rows)
        futures = [self.client.submit(gradient_sum, self.job, self.parts[k], values, local, pure=False)
                   for k, local in shares]
        self.bytes_sent += 8 * len(values) * len(shares) + sum(
            16 if isinstance(local, tuple) else 8 * len(local) for _, local in shares)
        first = rows.start if isinstance(rows, slice) else int(rows[0])
        loss_sum, grad_sum, m = 0.0, np.zeros(len(self.names)), 0
        for (k, local), (part_loss, part_grad, part_m, line) in zip(shares, _gather(self.client, futures)):
            if not (math.isfinite(part_loss) and np.isfinite(part_grad).all()):
                return math.nan, grad_sum, self._failed_rows(params, k, local)
            loss_sum += part_loss
            grad_sum += part_grad
            m += part_m
            if k == shares[0][0]:
                self.remote_lines.remember(first, line)
        return loss_sum / m, grad_sum / m, None

    def _failed_rows(self, params: np.ndarray, k: int, local: Any) -> tuple:
        """(base, columns, row indices) of a partition's rows whose loss or gradient is not
        finite, brought to the client for the local trainer's diagnosis."""
        columns, _ = self.client.submit(take_rows, self.parts[k], local, pure=False).result()
        base = self.plan.set_leaves(self.base, dict(zip(self.param_ids, params.tolist())))
        index = (np.arange(*local) if isinstance(local, tuple) else np.asarray(local)) + int(self.offsets[k])
        return base, columns, index

    def loss(self, params: np.ndarray, rows: slice | np.ndarray | None = None) -> float:
        loss, _, failed = self.batch(params, slice(0, self.n) if rows is None else rows)
        return math.nan if failed is not None else loss

    def newton_step(self, *args, **kwargs):  # pragma: no cover - refused in __init__
        raise CgraphError("--optimizer newton is not distributed")
