"""--patience and --tol: when a run stops for lack of progress (checked after each epoch)."""

from __future__ import annotations

import math

from ..errors import given_number
from .optimizers import Settings
from .records import Epoch


class Patience:
    """--patience and --tol: after each epoch, whether the run stops for lack of progress."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.best = math.inf
        self.waited = 0

    def after(self, record: Epoch, epoch: int) -> tuple[str, str] | None:
        """(stop, reason) when the run stops after this epoch, else None."""
        s = self.settings
        if s.patience is None:
            return None
        if record.loss < self.best - s.tol:
            self.best, self.waited = record.loss, 0
        else:
            self.waited += 1
            if self.waited >= s.patience:
                if s.tol > 0 and s.patience == 1:
                    return "tol", f"the loss improved by less than --tol {given_number(s.tol)} in epoch {epoch}"
                return "patience", (f"no improvement of more than {given_number(s.tol)} for {s.patience} epoch"
                                    f"{'s' if s.patience != 1 else ''} (--patience) by epoch {epoch}")
        self.best = min(self.best, record.loss)
        return None
