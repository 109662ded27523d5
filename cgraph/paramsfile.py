"""Params files: the JSON `cgraph train --save` writes, read back by `--init` and by
`cgraph eval --params`.

The file is {"format": "cgraph-params/1", "params": {"w": 0.5, "b[1]": 0.1}, "epoch": 12,
"optimizer": {"name": ..., "state": ...}, ...}; a plain object of name: value pairs is
accepted too. Every name must be a param of the graph.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import InputError
from .ir import Graph

PARAMS_FORMAT = "cgraph-params/1"


class ParamsFile:
    """A params file read back: values by name, and (for our own format) where it left off."""

    def __init__(self, values: dict[str, float], epoch: int = 0, optimizer: str | None = None,
                 state: Mapping[str, Any] | None = None):
        self.values = values
        self.epoch = epoch
        self.optimizer = optimizer
        self.state = state or {}


def read_params(path: str, graph: Graph, what: str = "--params") -> ParamsFile:
    """Read params saved by --save, or a plain JSON object {"w": 0.5, "b[1]": 0.1}.
    Every name must be a param of the graph; values are numbers (or "inf"/"nan")."""
    from . import inputs as input_values

    document = input_values.read_json_object(path, what)
    ours = document.get("format") == PARAMS_FORMAT
    raw = document.get("params") if ours else document
    if not isinstance(raw, dict):
        raise InputError(f"{what} {path}: \"params\" must be an object of name: value pairs")
    values = input_values.from_mapping(graph, raw, f"{what} {path}")
    leaves = graph.inputs
    for name in values:
        if name not in leaves:
            raise InputError(f"{what} {path}: '{name}' is not a param of {graph.source.filename}"
                             + _did_you_mean_param(graph, name))
        if graph.ops[leaves[name]] != "param":
            raise InputError(f"{what} {path}: '{name}' is an input of {graph.source.filename}, not a param")
    if not ours:
        return ParamsFile(values)
    optimizer = document.get("optimizer") or {}
    epoch = document.get("epoch", 0)
    return ParamsFile(values, int(epoch) if isinstance(epoch, int) else 0,
                      optimizer.get("name") if isinstance(optimizer, dict) else None,
                      optimizer.get("state") if isinstance(optimizer, dict) else None)


def _did_you_mean_param(graph: Graph, name: str) -> str:
    from .errors import did_you_mean

    return did_you_mean(name, [n for n, i in graph.inputs.items() if graph.ops[i] == "param"])
