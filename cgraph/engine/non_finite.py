"""Where inf or nan starts in a batch: the diagnosis `Plan.non_finite_origins` runs on a
chunk that `Plan.run` found non-finite, and the tally of origins over a run's chunks.

Kept apart from batch.py's per-chunk loops: it runs only after something went wrong, so
nothing here is on the fast path (the backward pass calls `diagnose_step` only when
diagnosing).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class NonFinite:
    """Where inf or nan first appears in a batch: a node and the rows (indices into the batch)."""

    node: int  # the node whose value (kind "value") or local derivative (kind "gradient") went non-finite
    rows: np.ndarray
    kind: str  # "value" or "gradient"
    arg: int | None  # for "gradient": the argument whose gradient it made non-finite

    __slots__ = ("node", "rows", "kind", "arg")

    def __init__(self, node: int, rows: np.ndarray, kind: str, arg: int | None = None):
        self.node = node
        self.rows = rows
        self.kind = kind
        self.arg = arg


class NonFiniteTally:
    """The origins of inf and nan summed over the chunks of a run: for each (node, kind),
    the number of rows where it is an origin and the first of them (chunks come in order,
    so the first chunk that names a node holds its first row)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str], list] = {}  # -> [rows, first row id, arg]

    def add(self, origins: Sequence[NonFinite], row_ids: Sequence[int] | np.ndarray) -> None:
        """Count one chunk's origins; `row_ids[k]` names the chunk's row k (a line number)."""
        for o in origins:
            entry = self._seen.get((o.node, o.kind))
            if entry is None:
                self._seen[(o.node, o.kind)] = [len(o.rows), int(row_ids[int(o.rows[0])]), o.arg]
            else:
                entry[0] += len(o.rows)

    def __bool__(self) -> bool:
        return bool(self._seen)

    def items(self) -> list[tuple[int, str, int, int, int | None]]:
        """(node, kind, rows, first row id, arg): values in tape order, then gradients."""
        order = sorted(self._seen, key=lambda key: (key[1] != "value", key[0] if key[1] == "value" else -key[0]))
        return [(node, kind, *self._seen[(node, kind)]) for node, kind in order]


def value_origins(args: Sequence[tuple[int, ...]], needed: bytearray, values: list, out: int,
                  n: int) -> tuple[list[NonFinite], np.ndarray]:
    """The "value" origins among the nodes up to `out` that `needed` flags, in tape order,
    and the mask of the rows where every value is finite."""
    finite_rows = np.ones(n, dtype=bool)
    origins: list[NonFinite] = []
    with np.errstate(all="ignore"):
        for i in range(out + 1):
            v = values[i]
            if not needed[i] or v is None:
                continue
            finite = np.isfinite(v)
            if finite.all():
                continue
            bad = ~np.broadcast_to(finite, (n,))
            finite_rows &= ~bad
            for a in args[i]:
                bad = bad & np.isfinite(values[a])
            if bad.any():
                origins.append(NonFinite(i, np.flatnonzero(bad), "value"))
    return origins, finite_rows


def diagnose_step(found: list, i: int, g, ds, targets, rows: np.ndarray, n: int) -> None:
    """Record node i if its local derivatives turn its finite gradient non-finite in
    some of `rows`: one entry per node (the rows of all its arguments together)."""
    bad_rows, first_arg = None, None
    for k, j, _ in targets:
        bad = _non_finite_rows(g * ds[k], g, n, rows)
        if bad is not None:
            bad_rows = bad if bad_rows is None else bad_rows | bad
            first_arg = j if first_arg is None else first_arg
    if bad_rows is not None:
        found.append(NonFinite(i, np.flatnonzero(bad_rows), "gradient", first_arg))


def _non_finite_rows(contribution, g, n: int, rows: np.ndarray) -> np.ndarray | None:
    """A mask of `rows` where grad * local derivative is inf or nan although the gradient is finite."""
    bad = ~np.isfinite(np.broadcast_to(contribution, (n,)))
    bad &= rows
    if not bad.any():
        return None
    bad &= np.isfinite(np.broadcast_to(g, (n,)))
    return bad if bad.any() else None
