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

The loop reports through callbacks, so the command line draws a progress bar and saves
params while the library stays free of printing:
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

from .. import __version__
from ..engine.batch import Plan
from ..errors import CgraphError, InputError, NumericError, clip, non_finite
from ..ir.graph import Graph
from .paramsfile import PARAMS_FORMAT, ParamsFile

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass
class Settings:
    lr: float = 0.01
    epochs: int = 100
    batch_size: int | None = None  # None: every row in one batch (full-batch gradient descent)
    optimizer: str = "sgd"
    momentum: float = 0.9  # for "momentum"
    betas: tuple[float, float] = (0.9, 0.999)  # for "adam"
    eps: float = 1e-8  # for "adam"
    shuffle: bool = True
    seed: int = 0
    tol: float = 0.0  # an epoch improves on the best loss by more than this, or counts against patience
    patience: int | None = None  # stop after this many epochs in a row without improvement
    max_time: float | None = None  # seconds
    chunk_rows: int | None = None  # rows per vectorized pass (default: sized by the plan)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a positive number, not {self.lr!r}")
        if self.epochs < 0:
            raise InputError("--epochs must be 0 or more")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError("--batch-size must be 1 or more")
        if self.tol < 0:
            raise InputError("--tol must be 0 or more")
        if self.patience is None and self.tol > 0:
            self.patience = 1  # --tol alone: stop at the first epoch that improves by less


# --- optimizers ----------------------------------------------------------------------


class Optimizer:
    """An update rule over the vector of params. `state` is saved with the params, so a
    resumed run continues with the same momentum / moment estimates."""

    name = "sgd"

    def __init__(self, settings: Settings, size: int):
        self.lr = settings.lr

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """The step the params move against: params - lr * direction."""
        return grad

    def step(self, params: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A huge --lr may overflow to inf: the loss check after the step reports it, so
        # NumPy's own RuntimeWarning would only repeat it in Python's words.
        with np.errstate(all="ignore"):
            direction = self.direction(grad)
            return params - self.lr * direction, direction

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        pass

    def explain(self) -> str:
        return "W - lr * dL/dW"


class Momentum(Optimizer):
    name = "momentum"

    def __init__(self, settings: Settings, size: int):
        super().__init__(settings, size)
        self.mu = settings.momentum
        self.velocity = np.zeros(size)

    def direction(self, grad: np.ndarray) -> np.ndarray:
        self.velocity = self.mu * self.velocity + grad  # as torch.optim.SGD(momentum=mu)
        return self.velocity

    def state(self) -> dict[str, Any]:
        return {"velocity": self.velocity.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.velocity = np.array(state["velocity"], dtype=np.float64)

    def explain(self) -> str:
        return f"W - lr * v, v = {self.mu:g} * v + dL/dW"


class Adam(Optimizer):
    name = "adam"

    def __init__(self, settings: Settings, size: int):
        super().__init__(settings, size)
        self.b1, self.b2 = settings.betas
        self.eps = settings.eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def direction(self, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        return m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self) -> dict[str, Any]:
        return {"t": self.t, "m": self.m.tolist(), "v": self.v.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.t = int(state["t"])
        self.m = np.array(state["m"], dtype=np.float64)
        self.v = np.array(state["v"], dtype=np.float64)

    def explain(self) -> str:
        return "W - lr * m^ / (sqrt(v^) + eps), Adam's moment estimates of dL/dW"


_OPTIMIZER_CLASSES = {"sgd": Optimizer, "momentum": Momentum, "adam": Adam}


def make_optimizer(settings: Settings, size: int) -> Optimizer:
    return _OPTIMIZER_CLASSES[settings.optimizer](settings, size)


# --- what the loop reports -----------------------------------------------------------


@dataclass
class Update:
    """One update (what --trace prints)."""

    number: int  # 1-based, over the whole run
    epoch: int
    batch: int  # 1-based within the epoch
    batches: int
    rows: int
    loss: float  # the batch's mean loss, before the update
    names: list[str]
    before: np.ndarray
    grad: np.ndarray  # mean dL/dW over the batch
    direction: np.ndarray  # what lr multiplies (the gradient, for SGD)
    after: np.ndarray
    first_line: int  # where the batch's first row is in the data file (its row, for Parquet)


@dataclass
class Epoch:
    """Where training stands after an epoch (or, when `partial`, part of one)."""

    number: int
    loss: float  # mean loss over the epoch's rows trained on, each at the params of its batch
    seconds: float  # since the start of the run
    params: dict[str, float]
    rows: int  # rows of the epoch's order trained on (before a resume too): all of them unless partial
    partial: bool = False  # cut short by max_time: `rows` rows of the epoch's order were trained on
    optimizer_state: dict[str, Any] = field(default_factory=dict)  # saved with the params, for resuming


@dataclass
class Outcome:
    """The end of a run."""

    names: list[str]
    initial: dict[str, float]
    params: dict[str, float]  # the learned params (of the last good epoch)
    history: list[Epoch]
    reason: str  # why it stopped, for people
    stop: str  # "epochs", "tol", "patience", "max_time", "interrupted", "non-finite"
    grad: dict[str, float] = field(default_factory=dict)  # the last batch's mean gradient
    error: NumericError | None = None  # set when stop == "non-finite"
    first_epoch: int = 1
    optimizer_state: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    kept: Epoch | None = None  # stop == "non-finite": the epoch whose params are kept (None: the start)
    start: Epoch | None = None  # where the run started (epoch first_epoch - 1, or a partial epoch resumed)

    @property
    def epochs(self) -> int:
        return len(self.history)


class Callbacks:
    def on_step(self, step: Update) -> None:
        pass

    def on_epoch(self, epoch: Epoch) -> None:
        pass

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        pass

    def should_stop(self) -> str | None:
        return None


# --- the loop ------------------------------------------------------------------------


class Trainer:
    """Train `graph`'s params on data columns (arrays for the inputs named `data_names`)."""

    def __init__(self, graph: Graph, data_names: Sequence[str], columns: Sequence[np.ndarray],
                 lines: np.ndarray | None = None, *, settings: Settings | None = None,
                 loss: str | None = None, given: Mapping[str, float] | None = None,
                 start: Mapping[str, float] | None = None, data_path: str = "data"):
        self.graph = graph
        self.settings = settings or Settings()
        self.names = [name for name, i in graph.inputs.items() if graph.ops[i] == "param"]
        if not self.names:
            raise CgraphError(
                f"{graph.source.filename} declares no params to train",
                hint="declare them with a starting value: param w = 0.1 (or param w = uniform(-1, 1))",
            )
        for name in data_names:
            if graph.ops[graph.inputs[name]] == "param":
                raise InputError(f"'{name}' is a param; params are learned, not read from data")
        self.plan = Plan(graph, data_names, output=loss, wrt=self.names, shared_grads="sum")
        self.loss_name = self.plan.output_name
        self.columns = [np.ascontiguousarray(c, dtype=np.float64) for c in columns]
        self.n = len(self.columns[0]) if self.columns else 0
        self.lines = lines if lines is not None else np.arange(1, self.n + 1)
        self.data_path = data_path
        if self.n == 0:
            raise InputError(f"{data_path} has no rows to train on")
        self._require_finite(data_names)
        self.base = self.plan.bind({**(start or {}), **(given or {})})  # options win over --init
        self.param_ids = [graph.inputs[name] for name in self.names]
        self.initial = np.array([self.base[i] for i in self.param_ids], dtype=np.float64)
        self.chunk = self.settings.chunk_rows or self.plan.chunk_rows()
        self.unused = [name for name in self.names if not self.plan.uses(name)]  # the loss does not depend on them
        self.batch_size = min(self.settings.batch_size or self.n, self.n)
        self.batches = -(-self.n // self.batch_size)
        # Rows are shuffled only when there is more than one batch: one batch's mean does
        # not depend on the order.
        self.shuffled = self.settings.shuffle and self.batches > 1

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
        if isinstance(rows, slice):  # a range: its chunks are views of the columns, not copies
            parts = [slice(a, min(a + self.chunk, rows.stop)) for a in range(rows.start, rows.stop, self.chunk)]
            m = rows.stop - rows.start
        else:
            parts = [rows[a : a + self.chunk] for a in range(0, len(rows), self.chunk)]
            m = len(rows)
        loss_sum = 0.0
        grad_sum = np.zeros(len(self.names))
        for part in parts:
            columns = [c[part] for c in self.columns]
            size = part.stop - part.start if isinstance(part, slice) else len(part)
            result = self.plan.run(base, columns, size)
            chunk_loss = float(result.value.sum())
            chunk_grad = np.array([result.grads[name] for name in self.names], dtype=np.float64)
            if not (math.isfinite(chunk_loss) and np.isfinite(chunk_grad).all()):
                index = np.arange(part.start, part.stop) if isinstance(part, slice) else part
                return math.nan, grad_sum, (base, columns, index)
            loss_sum += chunk_loss
            grad_sum += chunk_grad
        return loss_sum / m, grad_sum / m, None

    def loss(self, params: np.ndarray) -> float:
        """The mean loss over every row at these params (a forward pass only)."""
        base = self.plan.set_leaves(self.base, dict(zip(self.param_ids, params.tolist())))
        total = 0.0
        for start in range(0, self.n, self.chunk):
            total += float(self.plan.forward(base, [c[start : start + self.chunk] for c in self.columns]).sum())
        return total / self.n

    def run(self, callbacks: Callbacks | None = None, *, first_epoch: int = 1,
            optimizer_state: Mapping[str, Any] | None = None, rows_done: int = 0,
            loss_so_far: float = 0.0) -> Outcome:
        """Train for settings.epochs epochs from `first_epoch`. With `rows_done` > 0 the run
        resumes epoch `first_epoch` after that many rows of its order (a run cut short there
        by max_time); `loss_so_far` is the sum of their losses, for the epoch's mean."""
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
        good = params.copy()  # the params at the end of the last completed epoch
        good_state = optimizer.state()
        batch_size, batches = self.batch_size, self.batches
        started = _now()
        history: list[Epoch] = []
        best, waited = math.inf, 0
        step_number = 0
        last_grad = np.zeros(len(self.names))
        outcome = dict(stop="epochs", reason=f"ran the {s.epochs} epoch{'s' if s.epochs != 1 else ''} asked for")
        for epoch in range(first_epoch, first_epoch + s.epochs):
            order = self.order(epoch)
            first_row = rows_done if epoch == first_epoch else 0
            epoch_loss, seen, cut = (loss_so_far, first_row, None) if first_row else (0.0, 0, None)
            for lo in range(first_row, self.n, batch_size):
                b = lo // batch_size
                hi = min(lo + batch_size, self.n)
                rows = order[lo:hi] if order is not None else slice(lo, hi)
                loss, grad, failed = self.batch(params, rows)
                if failed is not None:
                    # The params that end the previous epoch are good only if a loss at them
                    # was finite: with the first batch of this epoch failing, they were not.
                    kept = self._kept(history, confirmed=b > 0)
                    error = self._non_finite(epoch, b + 1, batches, failed, kept, stepped=step_number > 0)
                    reason = f"the loss became non-finite in epoch {epoch}; the params of {_epoch_name(kept)} are kept"
                    return self._failed(kept, start, history, last_grad, first_epoch, step_number, error, reason)
                new_params, direction = optimizer.step(params, grad)
                if not np.isfinite(new_params).all():
                    k = int(np.flatnonzero(~np.isfinite(new_params))[0])
                    kept = self._kept(history, confirmed=True)
                    error = NumericError(
                        f"in epoch {epoch}, the update made the param '{self.names[k]}' "
                        f"{non_finite(new_params[k])} (its gradient is {grad[k]:.6g}); the params of {_epoch_name(kept)} are kept",
                        self.graph.location(self.param_ids[k]),
                        "a smaller --lr keeps the steps finite",
                    )
                    reason = f"an update became non-finite in epoch {epoch}; the params of {_epoch_name(kept)} are kept"
                    return self._failed(kept, start, history, last_grad, first_epoch, step_number, error, reason)
                step_number += 1
                line = int(self.lines[lo if order is None else int(order[lo])])
                cb.on_step(Update(step_number, epoch, b + 1, batches, hi - lo, loss, self.names, params,
                                grad, direction, new_params, line))
                params, last_grad = new_params, grad
                epoch_loss += loss * (hi - lo)
                seen += hi - lo
                cb.on_batch(epoch, b + 1, batches, loss)
                interrupt = cb.should_stop()
                if interrupt:
                    return self._outcome(good, history, "interrupted", interrupt, last_grad, first_epoch,
                                         good_state, step_number, start=start)
                if s.max_time is not None and _now() - started >= s.max_time:
                    cut = f"--max-time {s.max_time:g}s reached in epoch {epoch}"
                    if hi < self.n:
                        cut += f" (after {b + 1} of {batches} batches)"
                    break
            good, good_state = params.copy(), optimizer.state()
            record = Epoch(epoch, epoch_loss / seen, _now() - started,
                           dict(zip(self.names, params.tolist())), seen, partial=seen < self.n,
                           optimizer_state=good_state)
            history.append(record)
            cb.on_epoch(record)
            if cut:
                outcome = dict(stop="max_time", reason=cut)
                break
            if s.patience is not None:
                if record.loss < best - s.tol:
                    best, waited = record.loss, 0
                else:
                    waited += 1
                    if waited >= s.patience:
                        if s.tol > 0 and s.patience == 1:
                            outcome = dict(stop="tol", reason=(
                                f"the loss improved by less than --tol {s.tol:g} in epoch {epoch}"))
                        else:
                            outcome = dict(stop="patience", reason=(
                                f"no improvement of more than {s.tol:g} for {s.patience} epoch"
                                f"{'s' if s.patience != 1 else ''} (--patience) by epoch {epoch}"))
                        break
                best = min(best, record.loss)
        return self._outcome(good, history, outcome["stop"], outcome["reason"], last_grad, first_epoch,
                             good_state, step_number, start=start)

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

    def _non_finite(self, epoch: int, batch: int, batches: int, failed: tuple, kept_epoch: Epoch | None, *,
                    stepped: bool = True) -> NumericError:
        base, columns, index = failed
        origins = self.plan.non_finite_origins(base, columns, len(index))
        where = origins[0] if origins else None
        kept = _epoch_name(kept_epoch)
        in_batch = f" (batch {batch} of {batches})" if batches > 1 else ""
        if where is None:  # pragma: no cover - the chunk was non-finite, so something is
            return NumericError(f"the loss or its gradient is not finite in epoch {epoch}{in_batch}; the params of {kept} are kept")
        graph = self.graph
        rows = where.rows
        first_line = int(self.lines[index[int(rows[0])]]) if len(rows) else None
        what = graph.describe(where.node)
        count = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
        at = f" (first at {self.data_path}:{first_line})" if first_line is not None else ""
        if where.kind == "value":
            detail = f"{what} is the first node to go non-finite, in {count}{at}"
        else:
            arg = f"'{clip(graph.line_text_of(where.arg))}'" if where.arg is not None else "its argument"
            detail = (f"the gradient went non-finite at {what}: its local derivative w.r.t. {arg} "
                      f"makes it inf or nan in {count}{at}")
        detail += self._other_origins(origins[1:], index)
        # Before the first update the learning rate has played no part: the starting params
        # (or the data) give inf or nan by themselves.
        hint = ("a smaller --lr, or a guard in the formula (e.g. log(max(p, 1e-12))), keeps it finite" if stepped else
                "it is inf or nan before any update, so not because of --lr: a guard in the formula "
                "(e.g. log(max(p, 1e-12))), other starting values, or leaving out that row keep it finite")
        return NumericError(
            f"the loss became non-finite in epoch {epoch}{in_batch}: {detail}; the params of {kept} are kept",
            graph.location(where.node), hint,
        )

    def _other_origins(self, others: list, index) -> str:
        """The other nodes where inf or nan starts in some row of the batch, each once."""
        if not others:
            return ""
        graph, parts = self.graph, []
        for o in others:
            what = graph.describe(o.node)
            verb = "" if o.kind == "value" else " (its local derivative)"
            parts.append(f"{what}{verb} in {len(o.rows)} row{'s' if len(o.rows) != 1 else ''} "
                         f"(first at {self.data_path}:{int(self.lines[index[int(o.rows[0])]])})")
        return "; inf or nan also starts at " + ", ".join(parts)


def _now() -> float:
    """The clock of --max-time (a module function, so tests can stop a run at a chosen batch)."""
    return time.perf_counter()


def _epoch_name(epoch: Epoch | None) -> str:
    return f"epoch {epoch.number}" if epoch else "the start"


# --- params files --------------------------------------------------------------------


def params_document(epoch: Epoch, *, file: str, loss: str, settings: Settings, rows: int | None = None,
                    shuffled: bool | None = None, loss_at_params: float | None = None,
                    complete_loss: float | None = None) -> dict[str, Any]:
    """The JSON saved by --save: the params, where training stands, and what resuming needs.

    "epoch" is the number of complete epochs; "epoch_loss" is the mean loss over the last
    one's rows during it (each row at the params of its batch; null if unknown). A run cut
    short by --max-time in the middle of an epoch says so in "partial_epoch" (null
    otherwise): that epoch's number, how many rows of its order were trained on (the
    order that "seed" and "shuffled" give for "rows" rows) and their mean loss, so --init
    trains on the rest of it first. "loss_at_params" is the mean loss over all rows at the
    saved params (null if not given). For a partial `epoch`, `complete_loss` is the loss
    of the last complete epoch; `rows` and `shuffled` default to the epoch's rows and
    settings.shuffle (Trainer.n and Trainer.shuffled say them exactly)."""
    partial = None
    if epoch.partial:
        partial = {"epoch": epoch.number, "rows_done": epoch.rows, "rows": rows if rows is not None else epoch.rows,
                   "shuffled": shuffled if shuffled is not None else settings.shuffle, "loss": _real(epoch.loss)}
    return {
        "format": PARAMS_FORMAT,
        "cgraph": __version__,
        "file": file,
        "loss": loss,
        "epoch": epoch.number - 1 if epoch.partial else epoch.number,
        "epoch_loss": _real(complete_loss if epoch.partial else epoch.loss),
        "partial_epoch": partial,
        "loss_at_params": _real(loss_at_params),
        "params": dict(epoch.params),
        "optimizer": {"name": settings.optimizer, "lr": settings.lr,
                      "state": _named_state(epoch.optimizer_state, list(epoch.params))},
        "seed": settings.seed,
    }


def _real(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _named_state(state: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """An optimizer's per-param vectors as {name: value} (readable, and matched by name on resume)."""
    return {key: dict(zip(names, value)) if isinstance(value, list) else value for key, value in state.items()}


def resume_point(saved: ParamsFile, trainer: Trainer) -> tuple[int, int, float, str | None]:
    """Where a run with --init goes on: (first epoch, rows of it already done, the sum of
    their losses, a note or None). A file saved in the middle of an epoch resumes that
    epoch after its rows done, in the same order when the rows, the seed and shuffling
    are the same (the order is a function of them); otherwise the note says so."""
    if saved.complete:
        return saved.epoch + 1, 0, 0.0, None
    done, epoch = saved.rows_done or 0, saved.epoch + 1
    note = None
    differences = []
    if saved.rows != trainer.n:
        differences.append(f"{trainer.n} rows, not {saved.rows}")
    if saved.shuffled != trainer.shuffled:
        differences.append("rows in the file's order" if not trainer.shuffled else "shuffled rows")
    elif trainer.shuffled and saved.seed != trainer.settings.seed:
        differences.append(f"--seed {trainer.settings.seed}, not {saved.seed}")
    if differences:
        rest = (f"the rest of epoch {epoch} is rows {done + 1}-{trainer.n} of this run's order"
                if done < trainer.n else f"epoch {epoch + 1} starts now")
        note = (f"epoch {epoch} stopped after {done} of its {saved.rows} rows, but this run has "
                f"{' and '.join(differences)}: {rest}")
    if done >= trainer.n:
        return epoch + 1, 0, 0.0, note
    return epoch, done, (saved.partial_loss or 0.0) * done, note


def restorable_state(params_file: ParamsFile, settings: Settings, names: Sequence[str]) -> dict[str, Any] | None:
    """The saved optimizer state if it fits this run (the same optimizer, a value for every
    param), as the optimizer's own vectors in this run's param order; else None."""
    if params_file.optimizer != settings.optimizer or not params_file.state:
        return None
    state: dict[str, Any] = {}
    for key, value in params_file.state.items():
        if isinstance(value, dict):
            if sorted(value) != sorted(names):
                return None
            value = [value[name] for name in names]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                return None
        state[key] = value
    try:
        make_optimizer(settings, len(names)).load_state(state)
    except (KeyError, TypeError, ValueError):
        return None
    return state


def summarize(history: Sequence[Epoch], rows: int = 10) -> list[Epoch]:
    """At most `rows` + 1 epochs of a run for a table: the first, the last, the best, and
    geometrically spaced ones between (the loss falls fast early and slowly later)."""
    n = len(history)
    if n <= rows:
        return list(history)
    picked = {0, n - 1, min(range(n), key=lambda j: history[j].loss)}
    picked.update(int(round(x)) - 1 for x in np.geomspace(1, n, rows - 1))
    return [history[j] for j in sorted(picked)]
