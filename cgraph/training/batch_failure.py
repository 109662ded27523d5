"""What a training run says when a batch's loss or gradient goes inf or nan: the node
where it starts (found node by node on the chunk that failed), the rows, the data line of
the first, the other places it starts, and what would keep it finite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NumericError, clip
from .records import Epoch

if TYPE_CHECKING:
    from .trainer import Trainer


def epoch_name(epoch: Epoch | None) -> str:
    return f"epoch {epoch.number}" if epoch else "the start"


def non_finite_batch(trainer: Trainer, epoch: int, batch: int, batches: int, failed: tuple,
                     kept_epoch: Epoch | None, *, stepped: bool = True) -> NumericError:
    """The error that ends a run whose batch `batch` gave a non-finite loss or gradient:
    `failed` is (base, columns, row indices) of its first such chunk (Trainer.batch)."""
    base, columns, index = failed
    origins = trainer.plan.non_finite_origins(base, columns, len(index))
    where = origins[0] if origins else None
    kept = epoch_name(kept_epoch)
    in_batch = f" (batch {batch} of {batches})" if batches > 1 else ""
    if where is None:  # pragma: no cover - the chunk was non-finite, so something is
        return NumericError(f"the loss or its gradient is not finite in epoch {epoch}{in_batch}; the params of {kept} are kept")
    graph = trainer.graph
    rows = where.rows
    first_line = int(trainer.lines[index[int(rows[0])]]) if len(rows) else None
    what = graph.describe(where.node)
    count = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    at = f" (first at {trainer.data_path}:{first_line})" if first_line is not None and trainer.from_data else ""
    if where.kind == "value":
        detail = f"{what} is the first node to go non-finite, in {count}{at}"
    else:
        arg = f"'{clip(graph.line_text_of(where.arg))}'" if where.arg is not None else "its argument"
        detail = (f"the gradient went non-finite at {what}: its local derivative w.r.t. {arg} "
                  f"makes it inf or nan in {count}{at}")
    detail += _other_origins(trainer, origins[1:], index)
    # Before the first update the learning rate has played no part: the starting params
    # (or the data) give inf or nan by themselves.
    hint = ("a smaller --lr, or a guard in the formula (e.g. log(max(p, 1e-12))), keeps it finite" if stepped else
            "it is inf or nan before any update, so not because of --lr: a guard in the formula "
            "(e.g. log(max(p, 1e-12))), other starting values, or leaving out that row keep it finite")
    return NumericError(
        f"the loss became non-finite in epoch {epoch}{in_batch}: {detail}; the params of {kept} are kept",
        graph.location(where.node), hint,
    )

def _other_origins(trainer: Trainer, others: list, index) -> str:
    """The other nodes where inf or nan starts in some row of the batch, each once."""
    if not others:
        return ""
    graph, parts = trainer.graph, []
    for o in others:
        what = graph.describe(o.node)
        verb = "" if o.kind == "value" else " (its local derivative)"
        where = f" (first at {trainer.data_path}:{int(trainer.lines[index[int(o.rows[0])]])})" if trainer.from_data else ""
        parts.append(f"{what}{verb} in {len(o.rows)} row{'s' if len(o.rows) != 1 else ''}{where}")
    return "; inf or nan also starts at " + ", ".join(parts)
