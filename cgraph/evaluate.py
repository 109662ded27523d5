"""Forward and backward passes over the tape: two loops, no recursion.

Forward: each node's value from its arguments' values, in tape order.
Backward: reverse-mode. d(output)/d(output) = 1; walking the tape backwards, each node
reached from the output adds  grad(node) * d node/d arg  to each argument's gradient.
Gradients are accumulated (+=), never assigned, so a value used by several consumers (a
shared weight, or `x * x`) gets the sum of its contributions. Every evaluation starts
from fresh lists: nothing is stored on the graph.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .errors import InputError, NumericError, clip, did_you_mean
from .ir import Graph
from .ops import OPS

_FORWARD = {name: op.forward for name, op in OPS.items()}
_LOCAL = {name: op.local for name, op in OPS.items()}


class Evaluation:
    """The values and gradients of every node, for one set of inputs."""

    __slots__ = ("graph", "values", "grads", "output", "output_name", "warnings")

    def __init__(self, graph: Graph, values: list[float], grads: list[float], output: int, output_name: str,
                 warnings: tuple[str, ...]):
        self.graph = graph
        self.values = values
        self.grads = grads  # d output / d node; 0 for nodes the output does not depend on
        self.output = output
        self.output_name = output_name  # as the user named it (a node may have several names)
        self.warnings = warnings

    def __repr__(self) -> str:
        return f"Evaluation({self.output_name} = {self.value!r}, {len(self.values)} nodes)"

    def label(self, i: int) -> str:
        """How a node is called in reports: the output by the name asked for, others by their first name."""
        if i == self.output:
            return self.output_name
        return self.graph.name_of(i) or f"#{i}"

    @property
    def value(self) -> float:
        return self.values[self.output]

    @property
    def inputs(self) -> dict[str, float]:
        """Every input's and param's value, by name."""
        return {name: self.values[i] for name, i in self.graph.inputs.items()}

    @property
    def gradients(self) -> dict[str, float]:
        """d output / d input for every input and param, by name."""
        return {name: self.grads[i] for name, i in self.graph.inputs.items()}

    def __getitem__(self, name: str) -> float:
        return self.values[self.graph.names[name]]

    def grad(self, name: str) -> float:
        return self.grads[self.graph.names[name]]


def evaluate(
    graph: Graph,
    inputs: Mapping[str, float] | None = None,
    *,
    output: str | None = None,
    strict: bool = False,
) -> Evaluation:
    """Forward and backward pass. `inputs` maps names (`x`, `x[2]`) to values and overrides
    declared defaults; `output` differentiates another named node than the file's output.
    Raises InputError for missing or unknown inputs, NumericError (strict) on inf/nan."""
    out = output_node(graph, output)
    values = forward(graph, inputs)
    origins = non_finite_origins(graph, values)
    if strict and origins:
        first = origins[0]
        more = f" (and {len(origins) - 1} more node{'s' if len(origins) > 2 else ''})" if len(origins) > 1 else ""
        raise NumericError(
            f"{_what(graph, first)} is {_fmt(values[first])}{more}",
            graph.location(first),
            "--strict stops at the first node whose value is inf or nan",
        )
    grads = backward(graph, values, out)
    warnings = tuple(f"{graph.location(i)}: warning: {_what(graph, i)} is {_fmt(values[i])}" for i in origins)
    return Evaluation(graph, values, grads, out, output or graph.output_name, warnings)


def output_node(graph: Graph, name: str | None) -> int:
    if name is None:
        return graph.output
    if name not in graph.names:
        raise InputError(f"--output {name}: no node has that name" + did_you_mean(name, graph.names))
    return graph.names[name]


def bind(graph: Graph, given: Mapping[str, float] | None) -> list[float]:
    """The initial value list: constants, declared defaults, then the given inputs."""
    values = list(graph.values)
    names, ops = graph.names, graph.ops
    unknown = []
    for name, value in (given or {}).items():
        i = names.get(name)
        if i is None or (ops[i] != "input" and ops[i] != "param"):
            unknown.append(name)
            continue
        try:
            values[i] = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"the value of '{name}' must be a number, not {value!r}") from None
    if unknown:
        computed = [names[name] for name in unknown if name in names]
        raise InputError(_unknown_message(graph, unknown), graph.location(computed[0]) if computed else None)
    if None in values and (missing := [i for i in graph.leaves if values[i] is None]):
        listed = _list_names([graph.name_of(i) for i in missing])
        raise InputError(
            f"missing value{'s' if len(missing) > 1 else ''} for {listed}",
            graph.location(missing[0]),  # where the first one is first used
            "give values as --NAME VALUE (or --input NAME=VALUE, or --inputs FILE.json)",
        )
    return values


def _list_names(names: list[str]) -> str:
    """'a, x[1], x[2], ..., x[500] (500 of x), b': a long run of one indexed name is shortened."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("[", 1)[0], []).append(name)
    parts = []
    for base, group in groups.items():
        if len(group) > 4:
            parts.append(f"{group[0]}, {group[1]}, ..., {group[-1]} ({len(group)} of {base})")
        else:
            parts.extend(group)
    return ", ".join(parts)


def _unknown_message(graph: Graph, unknown: list[str]) -> str:
    parts = []
    for name in unknown:
        if name in graph.names:
            i = graph.names[name]
            parts.append(f"'{name}' is computed on line {graph.line_of(i)}, not an input")
            continue
        parts.append(f"'{name}' is not an input of this file" + did_you_mean(name, graph.inputs))
    return "; ".join(parts) + ("; inputs: " + ", ".join(list(graph.inputs)[:30]) if graph.inputs else "")


def forward(graph: Graph, inputs: Mapping[str, float] | None = None) -> list[float]:
    """The value of every node."""
    values = bind(graph, inputs)
    fns = _FORWARD
    for i, op, args in zip(range(len(values)), graph.ops, graph.args):
        n = len(args)
        if n == 2:
            values[i] = fns[op](values[args[0]], values[args[1]])
        elif n == 1:
            values[i] = fns[op](values[args[0]])
        elif n:
            values[i] = fns[op](*[values[j] for j in args])
    return values


def backward(graph: Graph, values: Sequence[float], output: int | None = None) -> list[float]:
    """d output / d node for every node, by reverse-mode accumulation over the tape."""
    out = graph.output if output is None else output
    ops, all_args = graph.ops, graph.args
    grads = [0.0] * len(values)
    reached = bytearray(len(values))  # on a path to the output: skip the rest, as PyTorch does
    grads[out] = 1.0
    reached[out] = 1
    local = _LOCAL
    for i in range(out, -1, -1):
        if not reached[i]:
            continue
        args = all_args[i]
        if not args:
            continue
        g = grads[i]
        if len(args) == 2:
            a, b = args
            da, db = local[ops[i]](values[i], values[a], values[b])
            grads[a] += g * da
            grads[b] += g * db
            reached[a] = reached[b] = 1
        elif len(args) == 1:
            a = args[0]
            grads[a] += g * local[ops[i]](values[i], values[a])[0]
            reached[a] = 1
        else:
            for j, d in zip(args, local[ops[i]](values[i], *[values[j] for j in args])):
                grads[j] += g * d
                reached[j] = 1
    return grads


def local_derivatives(graph: Graph, values: Sequence[float], v: int) -> tuple[float, ...]:
    """d v / d (each of v's arguments) at these values: what the backward pass multiplies by."""
    return _LOCAL[graph.ops[v]](values[v], *[values[a] for a in graph.args[v]])


def non_finite_origins(graph: Graph, values: Sequence[float]) -> list[int]:
    """Nodes whose value is inf or nan while their arguments are finite: where it starts."""
    total = sum(values)  # one pass in C: finite unless some value is inf or nan (or it overflowed)
    if total - total == 0:
        return []
    isfinite = math.isfinite
    origins = []
    for i in range(len(values)):
        v = values[i]
        if v - v == 0:  # finite: the cheap test first
            continue
        if all(isfinite(values[j]) for j in graph.args[i]):
            origins.append(i)
    return origins


def _what(graph: Graph, i: int) -> str:
    text = graph.line_text_of(i)
    name = graph.name_of(i)
    kind = "the input " if graph.ops[i] in ("input", "param") else ""
    return f"{kind}'{clip(text)}'" + (f" ({clip(name)})" if name and name != text else "")


def _fmt(v: float) -> str:
    return "nan" if v != v else ("inf" if v > 0 else "-inf")
