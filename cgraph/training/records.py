"""What the training loop reports: each update (Update), each epoch (Epoch), the end of a
run (Outcome), and the callbacks that receive them (Callbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import NumericError


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
