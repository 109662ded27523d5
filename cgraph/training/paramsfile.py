"""Params files: the JSON `cgraph train --save` writes, read back by `--init` and by
`cgraph eval --params`.

The file is {"format": "cgraph-params/2", "params": {"w": 0.5, "b[1]": 0.1}, "epoch": 12,
"partial_epoch": null, "optimizer": {"name": ..., "state": ...}, ...}, where "epoch"
counts complete epochs and "partial_epoch" is {"epoch": 13, "rows_done": 96, "rows": 200,
"shuffled": true, "loss": ...} when a run stopped in the middle of epoch 13. Files of
"cgraph-params/1" (complete epochs only) and a plain object of name: value pairs are
accepted too. Every name must be a param of the graph.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from ..errors import InputError, clip
from ..ir.graph import Graph

PARAMS_FORMAT = "cgraph-params/2"
READ_FORMATS = ("cgraph-params/1", PARAMS_FORMAT)


class ParamsFile:
    """A params file read back: values by name, and (for our own format) where it left off.

    `epoch` is the number of complete epochs, `epoch_loss` the last one's loss. `rows_done`
    is None, or how many rows of epoch `epoch` + 1 were trained on (a stop in the middle
    of it); `rows`, `shuffled`, `seed` say which order that was, `partial_loss` is the mean
    loss over those rows."""

    def __init__(self, values: dict[str, float], epoch: int = 0, optimizer: str | None = None,
                 state: Mapping[str, Any] | None = None, *, rows_done: int | None = None,
                 rows: int | None = None, shuffled: bool | None = None, seed: int | None = None,
                 epoch_loss: float | None = None, partial_loss: float | None = None):
        self.values = values
        self.epoch = epoch
        self.optimizer = optimizer
        self.state = state or {}
        self.rows_done = rows_done
        self.rows = rows
        self.shuffled = shuffled
        self.seed = seed
        self.epoch_loss = epoch_loss
        self.partial_loss = partial_loss

    @property
    def complete(self) -> bool:
        return self.rows_done is None


def read_params(path: str, graph: Graph, what: str = "--params") -> ParamsFile:
    """Read params saved by --save, or a plain JSON object {"w": 0.5, "b[1]": 0.1}.
    Every name must be a param of the graph; values are numbers (or "inf"/"nan")."""
    from ..engine import input_values

    document = input_values.read_json_object(path, what)
    ours = document.get("format") in READ_FORMATS
    raw = document.get("params") if ours else document
    if not isinstance(raw, dict):
        raise InputError(f"{what} {path}: \"params\" must be an object of name: value pairs")
    values = param_values(graph, raw, f"{what} {path}")
    if not ours:
        return ParamsFile(values)
    optimizer = document.get("optimizer") or {}
    if not isinstance(optimizer, dict):
        optimizer = {}
    epoch = document.get("epoch", 0)
    epoch = epoch if _is_int(epoch) and epoch >= 0 else 0
    partial = _partial_epoch(document, epoch, f"{what} {path}")
    seed = document.get("seed")
    loss = document.get("epoch_loss", document.get("loss_value"))  # "loss_value": cgraph-params/1
    return ParamsFile(values, epoch, optimizer.get("name"), optimizer.get("state"),
                      rows_done=partial[0] if partial else None, rows=partial[1] if partial else None,
                      shuffled=partial[2] if partial else None, seed=seed if _is_int(seed) else None,
                      epoch_loss=float(loss) if _is_number(loss) else None,
                      partial_loss=partial[3] if partial else None)


def _partial_epoch(document: Mapping[str, Any], epoch: int, what: str) -> tuple[int, int, bool, float | None] | None:
    """(rows done, rows, shuffled, mean loss) of the epoch a run stopped in the middle of,
    or None. One that does not make sense is an error: ignoring it would skip the rest of
    that epoch without a word."""
    partial = document.get("partial_epoch")
    if partial is None:
        return None
    ok = isinstance(partial, dict)
    number, done, rows, shuffled, loss = (partial.get(k) for k in ("epoch", "rows_done", "rows", "shuffled", "loss")) \
        if ok else (None,) * 5
    if not (ok and _is_int(number) and number == epoch + 1 and _is_int(done) and _is_int(rows) and 0 <= done < rows
            and isinstance(shuffled, bool)):
        raise InputError(f"{what}: \"partial_epoch\" is not readable: it needs \"epoch\" (the one after "
                         f"\"epoch\" {epoch}), \"rows_done\" (0 or more, below \"rows\"), \"rows\" and "
                         f"\"shuffled\" (true or false)")
    return done, rows, shuffled, float(loss) if _is_number(loss) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- names and values ---------------------------------------------------------------------


def param_values(graph: Graph, raw: Mapping[str, object], what: str) -> dict[str, float]:
    """{name: value} of a params object, every name a param of the graph: `"w": 0.5`,
    `"b[1]": 0.1`, or a list for every index of an indexed param, `"b": [0.1, 0.2]`.
    Errors name params as params (an input of the same name is said to be one)."""
    from ..engine import input_values

    leaves = graph.inputs
    params = [name for name, i in leaves.items() if graph.ops[i] == "param"]
    result: dict[str, float] = {}
    for raw_name, raw_value in raw.items():
        key = str(raw_name)
        try:
            name = input_values.canonical(key)
        except InputError:
            name = key
        items = raw_value if isinstance(raw_value, list) else [raw_value]
        numbers = [_param_number(item, key, what) for item in items]
        if name in leaves and len(numbers) == 1:
            targets = [name]
        else:
            targets = input_values.indexed_names(graph, name, leaves) if _is_plain(name) else []
            if not targets and name not in leaves:
                raise InputError(f"{what}: '{clip(key)}' is not a param of {graph.source.filename}"
                                 + _did_you_mean_param(params, key))
            if not targets:
                raise InputError(f"{what}: the param '{clip(key)}' takes one value, got {len(numbers)}")
            if len(targets) != len(numbers):
                shown = ", ".join(targets[:6]) + (", ..." if len(targets) > 6 else "")
                raise InputError(f"{what}: '{clip(key)}' has {len(targets)} indexed params ({shown}), "
                                 f"got {len(numbers)} value{'s' if len(numbers) != 1 else ''}")
        for target in targets:
            if graph.ops[leaves[target]] != "param":
                raise InputError(f"{what}: '{target}' is an input of {graph.source.filename}, not a param")
        result.update(zip(targets, numbers))
    return result


def _param_number(item: object, key: str, what: str) -> float:
    if isinstance(item, str):
        try:
            return float(item.strip())
        except ValueError:
            pass
    elif isinstance(item, (int, float)) and not isinstance(item, bool):
        try:
            return float(item)
        except OverflowError:  # a JSON integer too large for a float is +-inf, as float('1e400') is
            return math.inf if item > 0 else -math.inf
    shown = json.dumps(item) if not isinstance(item, str) else repr(item)
    raise InputError(f"{what}: the value of the param '{clip(key)}' must be a number "
                     f"(or a list of numbers), not {clip(shown)}")


def _is_plain(name: str) -> bool:
    return name.isidentifier()


def _did_you_mean_param(params: list[str], name: str) -> str:
    from ..errors import did_you_mean

    return did_you_mean(name, params)
