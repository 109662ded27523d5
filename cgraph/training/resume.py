"""Resuming a run from a params file (--init): where it goes on, and the optimizer state
it keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .optimizers import Settings, make_optimizer
from .paramsfile import ParamsFile

if TYPE_CHECKING:  # the trainer re-exports this module's functions
    from .trainer import Trainer


def resume_point(saved: ParamsFile, trainer: "Trainer") -> tuple[int, int, float, str | None]:
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
