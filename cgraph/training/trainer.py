"""Training: gradient descent on a file's params, over rows of data.

The tutorial's loop, vectorized: for each batch of rows, a forward pass computes the loss
of every row (its mean is the batch's loss), a backward pass the mean gradient w.r.t.
every param, and the optimizer updates the params (SGD: W = W - lr * dL/dW). An epoch is
one pass over the rows, in a fresh order per epoch when shuffling. Stop criteria are
checked after each epoch (`tol`, `patience`, `epochs`) and after each batch
(`max_time`, and `should_stop` for Ctrl-C). `max_time` ends the run where it stands, in
the middle of an epoch if need be (the last Epoch record is then partial and says how
many rows of the epoch's order were trained on); `should_stop` ends it with the params
of the last complete epoch.

The loop reports through callbacks, so the command line draws a progress bar and the
saver (saving.py) writes params while the loop stays free of printing and files:
    on_step(Update)    after each update (the --trace output)
    on_epoch(Epoch)  after each epoch (progress, --save)
    should_stop()    between batches: a reason to stop now (Ctrl-C), or None

Determinism: a run is a function of the params' starting values, the data, the settings
and the seed. The order of epoch e's rows comes from numpy.random.default_rng((seed, e)),
so a run resumed from a saved epoch (with --init) continues exactly as one that was not
interrupted, and a run resumed in the middle of an epoch (`rows_done`) trains on the rest
of that epoch's order, batch for batch as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.batch import Plan
from ..engine.pool import ChunkPool
from ..errors import CgraphError, InputError, NumericError, given_number, non_finite
from ..ir.graph import Graph
from ..ops import PARAM
# The names the trainer's users import from here (cgraph.train re-exports them):
from .batch_failure import epoch_name, non_finite_batch
from .newton import HessianRows
from .optimizers import OPTIMIZERS, Adam, Momentum, Newton, Optimizer, Settings, make_optimizer  # noqa: F401
from .paramsfile import params_document  # noqa: F401
from .patience import Patience
from .records import Callbacks, Epoch, Outcome, Update
from .resume import restorable_state, resume_point  # noqa: F401


__all__ = ["Trainer", "Settings", "OPTIMIZERS", "Optimizer", "Momentum", "Adam", "Newton", "make_optimizer", "Update", "Epoch",
           "Outcome", "Callbacks", "params_document", "resume_point", "restorable_state", "summarize"]


# --- the loop ------------------------------------------------------------------------


class Trainer:
    """Train `graph`'s params on data columns (arrays for the inputs named `data_names`)."""

    def __init__(self, graph: Graph, data_names: Sequence[str], columns: Sequence[np.ndarray],
                 lines: np.ndarray | None = None, *, settings: Settings | None = None,
                 loss: str | None = None, given: Mapping[str, float] | None = None,
                 start: Mapping[str, float] | None = None, data_path: str = "data", rows: int | None = None):
        """`rows`: without data columns, how many rows (1: the given input values are the
        one row, and the loss is a function of the params alone)."""
        self.graph = graph
        self.settings = settings or Settings()
        self.names = _trainable(graph, data_names)
        newton = self.settings.optimizer == "newton"  # (HessianRows refuses too many params)
        self.plan = Plan(graph, data_names, output=loss, wrt=self.names, shared_grads="sum")
        self.loss_name = self.plan.output_name
        self.columns = [np.ascontiguousarray(c, dtype=np.float64) for c in columns]
        self.from_data, self.n = _row_count(self.columns, rows)
        self.lines = lines if lines is not None else np.arange(1, self.n + 1)
        self.data_path = data_path
        if self.n == 0:
            raise InputError(f"{data_path} has no rows to train on")
        self._require_finite(data_names)
        values = {**(start or {}), **(given or {})}  # options win over --init
        self.base = self.plan.bind(values)
        self.param_ids = [graph.inputs[name] for name in self.names]
        self.initial = np.array([self.base[i] for i in self.param_ids], dtype=np.float64)
        self.batch_size = min(self.settings.batch_size or self.n, self.n)
        self.chunk = self.settings.chunk_rows or self.plan.chunk_rows(self.batch_size)
        # Each step's chunks run in these workers (forked at the first step with two or more
        # chunks; the params travel with each chunk); chunk sums are added in chunk order,
        # so the result is the same bits for any count.
        self.pool = ChunkPool(self.settings.threads, tasks=[self._chunk_sums, self._chunk_loss])
        self.unused = [name for name in self.names if not self.plan.uses(name)]  # the loss does not depend on them
        self.batches = -(-self.n // self.batch_size)
        # Rows are shuffled only when there is more than one batch: one batch's mean does
        # not depend on the order.
        self.shuffled = self.settings.shuffle and self.batches > 1
        self.curvature = HessianRows(graph, self.names, data_names, loss, values) if newton else None

    def order(self, epoch: int) -> np.ndarray | None:
        """The order of epoch `epoch`'s rows (None: the file's order). A function of the seed
        and the epoch only, so a resumed run draws the same order as an uninterrupted one."""
        if not self.shuffled:
            return None
        return np.random.default_rng((self.settings.seed, epoch)).permutation(self.n)

    def _require_finite(self, data_names: Sequence[str]) -> None:
        """An inf or nan in the data makes the loss or its gradient inf or nan whatever the
        learning rate: the data's fault, said before training (the command line lets
        --on-error skip leave such rows out first)."""
        for name, column in zip(data_names, self.columns):
            bad = np.flatnonzero(~np.isfinite(column))
            if len(bad):
                r = int(bad[0])
                raise InputError(f"{self.data_path}:{int(self.lines[r])}: the input '{name}' is {non_finite(column[r])}: "
                                 f"training needs finite values")

    def batch(self, params: np.ndarray, rows: slice | np.ndarray) -> tuple[float, np.ndarray, tuple | None]:
        """The mean loss and mean gradient over some rows (a range, or indices), in chunks.
        The third value is None, or (base, columns, row indices) of the first chunk whose
        loss or gradient is not finite (then the first two mean nothing)."""
        base = self.plan.set_leaves(self.base, dict(zip(self.param_ids, params.tolist())))
        parts = self._parts(rows)
        m, loss_sum, grad_sum = _size(rows), 0.0, np.zeros(len(self.names))
        sums = self.pool.map(self._chunk_sums, [(base, part) for part in parts])
        for part, (chunk_loss, chunk_grad) in zip(parts, sums):
            if not (math.isfinite(chunk_loss) and np.isfinite(chunk_grad).all()):
                index = np.arange(part.start, part.stop) if isinstance(part, slice) else part
                return math.nan, grad_sum, (base, [c[part] for c in self.columns], index)
            loss_sum += chunk_loss
            grad_sum += chunk_grad
        return loss_sum / m, grad_sum / m, None

    def _chunk_sums(self, task: tuple[list, slice | np.ndarray]) -> tuple[float, np.ndarray]:
        """One chunk's loss and gradient summed over its rows (in a worker): task is the
        values every row shares (the step's params) and the chunk's rows."""
        base, part = task
        result = self.plan.run(base, [c[part] for c in self.columns], _size(part))
        chunk_grad = np.array([result.grads[name] for name in self.names], dtype=np.float64)
        return float(result.value.sum()), chunk_grad

    def _chunk_loss(self, task: tuple[list, slice | np.ndarray]) -> float:
        """One chunk's loss summed over its rows (a forward pass, in a worker)."""
        base, part = task
        return float(self.plan.forward(base, [c[part] for c in self.columns], _size(part)).sum())

    def at_params(self, params: Mapping[str, float]) -> tuple[float, np.ndarray] | None:
        """The mean loss and mean gradient over every row at these params (by name), or
        None when either is not finite."""
        loss, grad, failed = self.batch(np.array([params[n] for n in self.names]), slice(0, self.n))
        return None if failed else (loss, grad)

    def loss(self, params: np.ndarray, rows: slice | np.ndarray | None = None) -> float:
        """The mean loss over every row (or some rows: a range or indices) at these params
        (a forward pass only)."""
        base = self.plan.set_leaves(self.base, dict(zip(self.param_ids, params.tolist())))
        rows = slice(0, self.n) if rows is None else rows
        sums = self.pool.map(self._chunk_loss, [(base, part) for part in self._parts(rows)])
        return sum(sums, 0.0) / _size(rows)  # in chunk order, whatever the workers

    def _parts(self, rows: slice | np.ndarray) -> list[slice | np.ndarray]:
        """Some rows (a range, or indices) in chunks of `self.chunk`, in order: a range's
        chunks are ranges, so the columns' chunks are views of them, not copies."""
        if isinstance(rows, slice):
            return [slice(a, min(a + self.chunk, rows.stop)) for a in range(rows.start, rows.stop, self.chunk)]
        return [rows[a : a + self.chunk] for a in range(0, len(rows), self.chunk)]

    def newton_step(self, optimizer: Newton, params: np.ndarray, grad: np.ndarray, loss: float,
                    rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A damped Newton step on the mean loss over these rows."""
        assert self.curvature is not None
        hessian = self.curvature.mean(params, [c[rows] for c in self.columns], _size(rows))
        return optimizer.newton_step(params, grad, loss, hessian, lambda p: self.loss(p, rows))

    def run(self, callbacks: Callbacks | None = None, *, first_epoch: int = 1,
            optimizer_state: Mapping[str, Any] | None = None, rows_done: int = 0,
            loss_so_far: float = 0.0, keep_workers: bool = False) -> Outcome:
        """Train for settings.epochs epochs from `first_epoch`. With `rows_done` > 0 the run
        resumes epoch `first_epoch` after that many rows of its order (a run cut short there
        by max_time); `loss_so_far` is the sum of their losses, for the epoch's mean.
        The workers are stopped at the end unless `keep_workers` (then: close())."""
        try:
            return self._run(callbacks, first_epoch, optimizer_state, rows_done, loss_so_far)
        finally:
            if not keep_workers:
                self.close()  # a later batch() or loss() starts new ones

    def close(self) -> None:
        """Stop the workers (the pool and the trainer refer to each other, so dropping the
        trainer stops them only when the garbage collector gets to it); a later batch()
        or loss() starts new ones."""
        self.pool.close()

    def __enter__(self) -> "Trainer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, callbacks: Callbacks | None, first_epoch: int, optimizer_state: Mapping[str, Any] | None,
             rows_done: int, loss_so_far: float) -> Outcome:
        cb = callbacks or Callbacks()
        s = self.settings
        optimizer = make_optimizer(s, len(self.names))
        if optimizer_state:
            optimizer.load_state(optimizer_state)
        if not 0 <= rows_done < self.n:
            rows_done, loss_so_far = 0, 0.0
        params = self.initial.copy()
        start = Epoch(first_epoch - (rows_done == 0), loss_so_far / rows_done if rows_done else math.nan, 0.0,
                      dict(zip(self.names, params.tolist())), rows_done or self.n, partial=rows_done > 0,
                      optimizer_state=optimizer.state())
        run = _Run(params, optimizer, start, first_epoch, _now(), good=params.copy(), good_state=optimizer.state(),
                   last_grad=np.zeros(len(self.names)))
        patience = Patience(s)
        stop, reason = "epochs", f"ran the {s.epochs} epoch{'s' if s.epochs != 1 else ''} asked for"
        for epoch in range(first_epoch, first_epoch + s.epochs):
            first_row = rows_done if epoch == first_epoch else 0
            ended = self._epoch(run, cb, epoch, first_row, loss_so_far if first_row else 0.0)
            if isinstance(ended, Outcome):
                return ended
            record, cut = ended
            verdict = ("max_time", cut) if cut else patience.after(record, epoch)
            if verdict is not None:
                stop, reason = verdict
                break
        return self._outcome(run.good, run.history, stop, reason, run.last_grad, first_epoch, run.good_state,
                             run.steps, start=start)

    def _epoch(self, run: "_Run", cb: Callbacks, epoch: int, first_row: int,
               loss_so_far: float) -> "Outcome | tuple[Epoch, str | None]":
        """One epoch's batches from row `first_row` of its order: the epoch's record and why
        --max-time cut it (or None), or the run's Outcome when it ends here."""
        s = self.settings
        order = self.order(epoch)
        epoch_loss, seen, cut = loss_so_far, first_row, None
        for lo in range(first_row, self.n, self.batch_size):
            b = lo // self.batch_size
            hi = min(lo + self.batch_size, self.n)
            loss, failure = self._step(run, cb, epoch, b, lo, hi, order)
            if failure is not None:
                return failure
            epoch_loss += loss * (hi - lo)
            seen += hi - lo
            cb.on_batch(epoch, b + 1, self.batches, loss)
            interrupt = cb.should_stop()
            if interrupt:
                return self._outcome(run.good, run.history, "interrupted", interrupt, run.last_grad, run.first_epoch,
                                     run.good_state, run.steps, start=run.start)
            if s.max_time is not None and _now() - run.started >= s.max_time:
                cut = f"--max-time {given_number(s.max_time)}s reached in epoch {epoch}"
                if hi < self.n:
                    cut += f" (after {b + 1} of {self.batches} batches)"
                break
        run.good, run.good_state = run.params.copy(), run.optimizer.state()
        record = Epoch(epoch, epoch_loss / seen, _now() - run.started,
                       dict(zip(self.names, run.params.tolist())), seen, partial=seen < self.n,
                       optimizer_state=run.good_state)
        run.history.append(record)
        cb.on_epoch(record)
        return record, cut

    def _step(self, run: "_Run", cb: Callbacks, epoch: int, b: int, lo: int, hi: int,
              order: np.ndarray | None) -> "tuple[float, Outcome | None]":
        """Batch b (rows lo..hi of the epoch's order): the batch's loss, and the run's
        Outcome when the loss or the update is not finite (else None)."""
        rows = order[lo:hi] if order is not None else slice(lo, hi)
        loss, grad, failed = self.batch(run.params, rows)
        if failed is not None:
            # The params that end the previous epoch are good only if a loss at them
            # was finite: with the first batch of this epoch failing, they were not.
            kept = self._kept(run.history, confirmed=b > 0)
            error = non_finite_batch(self, epoch, b + 1, self.batches, failed, kept, stepped=run.steps > 0)
            reason = f"the loss became non-finite in epoch {epoch}; the params of {epoch_name(kept)} are kept"
            return loss, self._failed(kept, run.start, run.history, run.last_grad, run.first_epoch, run.steps,
                                      error, reason)
        if isinstance(run.optimizer, Newton):
            new_params, direction = self.newton_step(run.optimizer, run.params, grad, loss, rows)
        else:
            new_params, direction = run.optimizer.step(run.params, grad)
        if not np.isfinite(new_params).all():
            k = int(np.flatnonzero(~np.isfinite(new_params))[0])
            kept = self._kept(run.history, confirmed=True)
            error = NumericError(
                f"in epoch {epoch}, the update made the param '{self.names[k]}' "
                f"{non_finite(new_params[k])} (its gradient is {grad[k]:.6g}); the params of {epoch_name(kept)} are kept",
                self.graph.location(self.param_ids[k]),
                "a smaller --lr keeps the steps finite",
            )
            reason = f"an update became non-finite in epoch {epoch}; the params of {epoch_name(kept)} are kept"
            return loss, self._failed(kept, run.start, run.history, run.last_grad, run.first_epoch, run.steps,
                                      error, reason)
        run.steps += 1
        line = int(self.lines[lo if order is None else int(order[lo])])
        cb.on_step(Update(run.steps, epoch, b + 1, self.batches, hi - lo, loss, self.names, run.params,
                        grad, direction, new_params, line))
        run.params, run.last_grad = new_params, grad
        return loss, None

    def _kept(self, history: list[Epoch], confirmed: bool) -> Epoch | None:
        """The last epoch whose params gave a finite loss (None: the starting params)."""
        if confirmed:
            return history[-1] if history else None
        return history[-2] if len(history) >= 2 else None

    def _failed(self, kept: Epoch | None, start: Epoch, history, grad, first_epoch, steps, error,
                reason: str) -> Outcome:
        params = np.array([kept.params[n] for n in self.names]) if kept else self.initial
        state = (kept or start).optimizer_state
        outcome = self._outcome(params, history, "non-finite", reason, grad, first_epoch, state, steps, error,
                                start=start)
        outcome.kept = kept
        return outcome

    def _outcome(self, params, history, stop, reason, grad, first_epoch, state, steps, error=None, *,
                 start: Epoch | None = None) -> Outcome:
        return Outcome(
            names=self.names,
            initial=dict(zip(self.names, self.initial.tolist())),
            params=dict(zip(self.names, params.tolist())),
            history=history,
            reason=reason,
            stop=stop,
            grad=dict(zip(self.names, grad.tolist())),
            error=error,
            first_epoch=first_epoch,
            optimizer_state=state,
            steps=steps,
            start=start,
        )


def _size(rows: slice | np.ndarray) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)


def _row_count(columns: Sequence[np.ndarray], rows: int | None) -> tuple[bool, int]:
    """(whether the rows come from data, how many): without columns, `rows` of them (the
    given input values), else the columns' length."""
    if columns:
        return True, len(columns[0])
    return rows is None, rows or 0


def _trainable(graph: Graph, data_names: Sequence[str]) -> list[str]:
    """The graph's params, which the data may not give."""
    names = [name for name, i in graph.inputs.items() if graph.ops[i] == PARAM]
    if not names:
        raise CgraphError(
            f"{graph.source.filename} declares no params to train",
            hint="declare them with a starting value: param w = 0.1 (or param w = uniform(-1, 1))",
        )
    for name in data_names:
        if graph.ops[graph.inputs[name]] == PARAM:
            raise InputError(f"'{name}' is a param; params are learned, not read from data")
    return names


@dataclass
class _Run:
    """What a run carries from batch to batch."""

    params: np.ndarray
    optimizer: Optimizer
    start: Epoch  # where the run started (epoch first_epoch - 1, or a partial epoch resumed)
    first_epoch: int
    started: float  # _now() at the start
    good: np.ndarray  # the params at the end of the last completed epoch
    good_state: dict[str, Any]  # the optimizer's state then
    last_grad: np.ndarray
    history: list[Epoch] = field(default_factory=list)
    steps: int = 0


def _now() -> float:
    """The clock of --max-time (a module function, so tests can stop a run at a chosen batch)."""
    return time.perf_counter()


def summarize(history: Sequence[Epoch], rows: int = 10) -> list[Epoch]:
    """At most `rows` + 1 epochs of a run for a table: the first, the last, the best, and
    geometrically spaced ones between (the loss falls fast early and slowly later)."""
    n = len(history)
    if n <= rows:
        return list(history)
    picked = {0, n - 1, min(range(n), key=lambda j: history[j].loss)}
    picked.update(int(round(x)) - 1 for x in np.geomspace(1, n, rows - 1))
    return [history[j] for j in sorted(picked)]
