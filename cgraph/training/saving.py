"""What --save keeps, and when: the params file after every epoch, where training stands
(a partial epoch when --max-time stopped in the middle of one), and at the end either a
last forced write to disk or, when the last saved params gave inf or nan, the params the
run keeps instead.

The caller says where, through a `ParamsSink`: `write(data, fsync)` replaces the file
atomically (so an interrupt loses at most one epoch) and `sync()` forces it to disk.
Nothing here opens a file.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Protocol

import numpy as np

from .paramsfile import encode_params, params_document
from .records import Callbacks, Epoch, Outcome

SYNC_SECONDS = 2.0  # forced to disk at most this often (and at the end): an fsync per epoch costs more than a small epoch


class ParamsSink(Protocol):
    def write(self, data: bytes, fsync: bool) -> None: ...

    def sync(self) -> None: ...


class ParamsSaver(Callbacks):
    """Saves `trainer`'s params after every epoch (on_epoch) and settles the file at the
    end (end). `complete_loss` is the loss of the last complete epoch of the --init file
    the run resumes, if any: a save in the middle of an epoch keeps it."""

    def __init__(self, trainer, sink: ParamsSink, *, file: str, complete_loss: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.trainer = trainer
        self.sink = sink
        self.file = file
        self.clock = clock
        self.last_sync = -SYNC_SECONDS
        self.start_complete_loss = self.complete_loss = complete_loss

    def on_epoch(self, epoch: Epoch) -> None:
        self._save(self._document(epoch, self.complete_loss))
        if not epoch.partial:
            self.complete_loss = epoch.loss

    def end(self, outcome: Outcome) -> tuple[str, Epoch | None] | None:
        """Settle the file after the run: ("saved", the last epoch) once it is on disk;
        ("rolled back", the epoch kept, None for the start) when the last epoch saved gave
        inf or nan and the kept params were written over it; None when nothing was saved."""
        if not outcome.history:
            return None
        if outcome.stop != "non-finite":
            self.sink.sync()
            return "saved", outcome.history[-1]
        if outcome.kept is outcome.history[-1]:
            return None
        self._roll_back(outcome)
        return "rolled back", outcome.kept

    def _roll_back(self, outcome: Outcome) -> None:
        """The file holds an epoch whose params gave inf or nan: write the kept ones."""
        kept = outcome.kept or outcome.start or Epoch(0, math.nan, 0.0, dict(outcome.initial), self.trainer.n)
        if outcome.kept is None and not kept.partial and self.start_complete_loss is not None:
            kept = dataclasses.replace(kept, loss=self.start_complete_loss)  # the --init file's epoch
        self._save(self._document(kept, self.start_complete_loss))
        self.sink.sync()

    def _document(self, epoch: Epoch, complete_loss: float | None) -> dict:
        """The params file of an epoch, with the loss at its params (one forward pass)."""
        trainer = self.trainer
        at_params = trainer.loss(np.array([epoch.params[n] for n in trainer.names], dtype=np.float64))
        return params_document(
            epoch, file=self.file, loss=trainer.loss_name, settings=trainer.settings,
            rows=trainer.n, shuffled=trainer.shuffled, loss_at_params=at_params, complete_loss=complete_loss,
        )

    def _save(self, document: dict) -> None:
        now = self.clock()
        sync = now - self.last_sync >= SYNC_SECONDS
        self.sink.write(encode_params(document), sync)
        if sync:
            self.last_sync = now
