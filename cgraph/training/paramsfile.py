"""Params files: the JSON `cgraph train --save` writes (params_document), read back by
`--init` and by `cgraph eval --params` (read_params). Both sides live here, so the
schema below is stated once.

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
from typing import TYPE_CHECKING, Any, Mapping, TypeGuard

from .. import __version__
from ..errors import InputError, clip
from ..ir.graph import Graph
from ..ops import PARAM

if TYPE_CHECKING:  # the trainer imports this module; these are for the annotations only
    from .trainer import Epoch, Settings

PARAMS_FORMAT = "cgraph-params/2"  # what params_document writes
READ_FORMATS = ("cgraph-params/1", PARAMS_FORMAT)  # what read_params takes as ours
PARTIAL_KEYS = ("epoch", "rows_done", "rows", "shuffled", "loss")  # of "partial_epoch"


# --- writing --------------------------------------------------------------------------


def params_document(epoch: "Epoch", *, file: str, loss: str, settings: "Settings", rows: int | None = None,
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
        values = (epoch.number, epoch.rows, rows if rows is not None else epoch.rows,
                  shuffled if shuffled is not None else settings.shuffle, _real(epoch.loss))
        partial = dict(zip(PARTIAL_KEYS, values))
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


def encode_params(document: dict[str, Any]) -> bytes:
    """A params document as the file's bytes (strict JSON: a non-finite number is an error)."""
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()


def _real(value: float | None) -> float | None:
    """JSON numbers are real or null: an unknown or non-finite loss is null."""
    return value if value is not None and math.isfinite(value) else None


def _named_state(state: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """An optimizer's per-param vectors as {name: value} (readable, and matched by name on resume)."""
    return {key: dict(zip(names, value)) if isinstance(value, list) else value for key, value in state.items()}


# --- reading --------------------------------------------------------------------------


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
    ours = _is_ours(document, f"{what} {path}")
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


def _is_ours(document: Mapping[str, Any], what: str) -> bool:
    """Whether the document is a file --save wrote (else a plain object of name: value)."""
    fmt = document.get("format")
    if isinstance(fmt, str) and fmt.startswith("cgraph-params/") and fmt not in READ_FORMATS:
        # A newer cgraph's file: read as a plain object, its "format" was called a bad param.
        raise InputError(f"{what}: the file is {clip(fmt)}, a format this cgraph cannot read "
                         f"(it reads {', '.join(READ_FORMATS)})", hint="save it again with this cgraph's train --save")
    return fmt in READ_FORMATS


def _partial_epoch(document: Mapping[str, Any], epoch: int, what: str) -> tuple[int, int, bool, float | None] | None:
    """(rows done, rows, shuffled, mean loss) of the epoch a run stopped in the middle of,
    or None. One that does not make sense is an error: ignoring it would skip the rest of
    that epoch without a word."""
    partial = document.get("partial_epoch")
    if partial is None:
        return None
    ok = isinstance(partial, dict)
    number, done, rows, shuffled, loss = (partial.get(k) for k in PARTIAL_KEYS) if ok else (None,) * 5
    if not (ok and _is_int(number) and number == epoch + 1 and _is_int(done) and _is_int(rows) and 0 <= done < rows
            and isinstance(shuffled, bool)):
        raise InputError(f"{what}: \"partial_epoch\" is not readable: it needs \"epoch\" (the one after "
                         f"\"epoch\" {epoch}), \"rows_done\" (0 or more, below \"rows\"), \"rows\" and "
                         f"\"shuffled\" (true or false)")
    return done, rows, shuffled, float(loss) if _is_number(loss) else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- names and values ---------------------------------------------------------------------


def param_values(graph: Graph, raw: Mapping[str, object], what: str) -> dict[str, float]:
    """{name: value} of a params object, every name a param of the graph: `"w": 0.5`,
    `"b[1]": 0.1`, or a list for every index of an indexed param, `"b": [0.1, 0.2]`.
    Errors name params as params (an input of the same name is said to be one)."""
    from ..engine import input_values

    leaves = graph.inputs
    params = [name for name, i in leaves.items() if graph.ops[i] == PARAM]
    result: dict[str, float] = {}
    for raw_name, raw_value in raw.items():
        key = str(raw_name)
        try:
            name = input_values.canonical(key)
        except InputError:
            name = key
        items = raw_value if isinstance(raw_value, list) else [raw_value]
        numbers = [_param_number(item, key, what) for item in items]
        targets = _param_targets(graph, params, key, name, len(numbers), what)
        for target in targets:
            if graph.ops[leaves[target]] != PARAM:
                raise InputError(f"{what}: '{target}' is an input of {graph.source.filename}, not a param")
        result.update(zip(targets, numbers))
    return result


def _param_targets(graph: Graph, params: list[str], key: str, name: str, count: int, what: str) -> list[str]:
    """The leaves a params-object key gives `count` values to: itself, or every index of
    an indexed param (a list)."""
    from ..engine import input_values

    leaves = graph.inputs
    if name in leaves and count == 1:
        return [name]
    targets = input_values.indexed_names(graph, name, leaves) if _is_plain(name) else []
    if not targets and name not in leaves:
        raise InputError(f"{what}: '{clip(key)}' is not a param of {graph.source.filename}"
                         + _did_you_mean_param(params, key))
    if not targets:
        raise InputError(f"{what}: the param '{clip(key)}' takes one value, got {count}")
    if len(targets) != count:
        shown = ", ".join(targets[:6]) + (", ..." if len(targets) > 6 else "")
        raise InputError(f"{what}: '{clip(key)}' has {len(targets)} indexed params ({shown}), "
                         f"got {count} value{'s' if count != 1 else ''}")
    return targets


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
