"""Forward and backward passes over the tape: two loops, no recursion.

Forward: each node's value from its arguments' values, in tape order.
Backward: reverse-mode. d(output)/d(output) = 1; walking the tape backwards, each node
reached from the output adds  grad(node) * d node/d arg  to each argument's gradient.
Gradients are accumulated (+=), never assigned, so a value used by several consumers (a
shared weight, or `x * x`) gets the sum of its contributions. Every evaluation starts
from fresh lists; what the graph keeps (Graph.cached) depends only on its tape: the
argument columns the loops read, and for a large graph with scattered arguments which
nodes its output depends on.

Speed: the loops' per-node bookkeeping (the op's function and the argument ids; going
backwards also the node's own value and gradient, and whether the pass reaches it) comes
from iterators that run in C, so the Python bytecode per node is little more than the
call of the op table's function and the reads and writes of its arguments' values and
gradients.
"""

from __future__ import annotations

import math
from array import array
from itertools import compress, repeat
from operator import is_not
from typing import Callable, Iterable, Mapping, Sequence, cast

from ..errors import InputError, NumericError, did_you_mean, name_hint, non_finite
from ..ir.graph import Graph
from ..ops import CONST, FORWARD, INPUT_KINDS, LOCAL

# Each op's forward function and local derivatives, by op name: the op table's own dicts,
# so an op registered later is found. The leaves map to None, but the loops call these
# only for nodes with arguments (b >= -2), which leaves never have: typed as always
# callable for the loops' sake.
_FORWARD = cast("dict[str, Callable[..., float]]", FORWARD)
_LOCAL = cast("dict[str, Callable[..., tuple]]", LOCAL)

# From this many nodes on, a graph whose arguments reach far back to many different nodes
# is differentiated on flat arrays of doubles (see `backward`). Below it, the lists of
# values and gradients and their float objects (~64 bytes a node) mostly stay in cache;
# on the random DAG of bench/bench_core.py the arrays start to pay between 1e5 and 3e5.
_FLAT_FROM = 1 << 18


class Evaluation:
    """The values and gradients of every node, for one set of inputs."""

    graph: Graph
    values: list[float]
    grads: list[float]  # d output / d node; 0 for nodes the output does not depend on
    output: int
    output_name: str  # as the user named it (a node may have several names)
    warnings: tuple[str, ...]
    # The outputs after the first (`output a, b`), each (node, name, d it / d node): one
    # backward sweep each. Empty for one output, which is all `value` and `grads` describe.
    more: tuple[tuple[int, str, list[float]], ...]

    __slots__ = ("graph", "values", "grads", "output", "output_name", "warnings", "more")

    def __init__(self, graph: Graph, values: list[float], grads: list[float], output: int, output_name: str,
                 warnings: tuple[str, ...], more: tuple[tuple[int, str, list[float]], ...] = ()):
        self.graph = graph
        self.values = values
        self.grads = grads
        self.output = output
        self.output_name = output_name
        self.warnings = warnings
        self.more = more

    def __repr__(self) -> str:
        return f"Evaluation({self.output_name} = {self.value!r}, {len(self.values)} nodes)"

    def label(self, i: int) -> str:
        """How a node is called in reports: an output by the name asked for, others by their first name."""
        if i == self.output:
            return self.output_name
        for node, name, _ in self.more:
            if node == i:
                return name
        return self.graph.name_of(i) or f"#{i}"

    @property
    def per_output(self) -> list[tuple[int, str, list[float]]]:
        """(node, name, d output / d node for every node) per output, in declared order."""
        return [(self.output, self.output_name, self.grads), *self.more]

    @property
    def outputs(self) -> dict[str, float]:
        """Every output's value, by name, in declared order."""
        values = self.values
        return {name: values[node] for node, name, _ in self.per_output}

    @property
    def jacobian(self) -> dict[str, dict[str, float]]:
        """d output / d input for every output and every input and param: output name ->
        input name -> derivative (the first output's row is `gradients`)."""
        leaves = self.graph.inputs.items()
        return {name: {leaf: grads[i] for leaf, i in leaves} for _, name, grads in self.per_output}

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
    output: str | Sequence[str] | None = None,
    strict: bool = False,
) -> Evaluation:
    """Forward and backward pass. `inputs` maps names (`x`, `x[2]`) to values and overrides
    declared defaults; `output` differentiates another named node (or several, a list of
    names) than the file's outputs. Each output after the first costs one more backward
    sweep (`Evaluation.jacobian`). Raises InputError for missing or unknown inputs or
    outputs, NumericError (strict) on inf/nan."""
    if output is None and len(graph.outputs) == 1:  # the common case, kept as cheap as it was
        out, name, further = graph.output, graph.output_name, None
    elif output is None:  # the graph's own outputs, by node (a built graph's need not be names)
        out, name = graph.output, graph.output_name
        further = list(zip(graph.outputs[1:], graph.output_names[1:]))
    else:
        chosen = output_names(graph, output)
        out, name = output_node(graph, chosen[0]), chosen[0]
        further = [(output_node(graph, other), other) for other in chosen[1:]]
    values = forward(graph, inputs)
    origins = non_finite_origins(graph, values)
    if strict and origins:
        first = origins[0]
        more = f" (and {len(origins) - 1} more node{'s' if len(origins) > 2 else ''})" if len(origins) > 1 else ""
        raise NumericError(
            f"{graph.describe(first)} is {non_finite(values[first])}{more}",
            graph.location(first),
            "strict=True stops at the first node whose value is inf or nan",
            cli_hint="--strict stops at the first node whose value is inf or nan",
        )
    grads = backward(graph, values, out)
    warnings = tuple(f"{graph.location(i)}: warning: {graph.describe(i)} is {non_finite(values[i])}" for i in origins)
    if not further:
        return Evaluation(graph, values, grads, out, name, warnings)
    return Evaluation(graph, values, grads, out, name, warnings, _more_sweeps(graph, values, out, grads, further))


def output_names(graph: Graph, output: str | Sequence[str] | None) -> list[str]:
    """The names of the outputs to differentiate: the file's, or those asked for."""
    if output is None:
        return list(graph.output_names)
    if isinstance(output, str):
        return [output]
    if not output:
        raise InputError("no output named: give one or more names")
    if len(set(output)) < len(output):
        twice = next(name for k, name in enumerate(output) if name in output[:k])
        raise InputError(f"the output '{twice}' is named twice")
    return list(output)


def _more_sweeps(graph: Graph, values: list[float], first: int, first_grads: list[float],
                 further: list[tuple[int, str]]) -> tuple[tuple[int, str, list[float]], ...]:
    """One backward sweep for each output after the first; an output that is the same node
    as an earlier one (two names of it) shares that one's gradients."""
    done = {first: first_grads}
    more = []
    for node, name in further:
        if node not in done:
            done[node] = backward(graph, values, node)
        more.append((node, name, done[node]))
    return tuple(more)


def output_node(graph: Graph, name: str | None) -> int:
    if name is None:
        return graph.output
    if name not in graph.names:
        raise InputError(f"--output {name}: no node has that name" + name_hint(name, graph.names))
    return graph.names[name]


def bind(graph: Graph, given: Mapping[str, float] | None) -> list[float | None]:
    """The initial value list: constants, declared defaults, then the given inputs (None
    for the operations' nodes, which the forward pass fills)."""
    values = list(graph.values)
    unknown = _set_given(graph, values, given)
    if unknown:
        names = graph.names
        computed = [names[name] for name in unknown if name in names]
        raise InputError(_unknown_message(graph, unknown), graph.location(computed[0]) if computed else None)
    if None in values:
        _refuse_missing(graph, values)
    return values


def _set_given(graph: Graph, values: list[float | None], given: Mapping[str, float] | None) -> list[str]:
    """Put the given inputs' values into `values`; the names that are no input, to report
    them all at once. A value that is not a number is refused at once."""
    names, ops = graph.names, graph.ops
    unknown = []
    for name, value in (given or {}).items():
        i = names.get(name)
        if i is None or ops[i] not in INPUT_KINDS:
            unknown.append(name)
            continue
        try:
            values[i] = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"the value of '{name}' must be a number, not {value!r}") from None
    return unknown


def _refuse_missing(graph: Graph, values: list[float | None]) -> None:
    """Raise InputError naming every leaf still without a value, if any."""
    if missing := [i for i in graph.leaves if values[i] is None]:
        listed = _list_names([graph.node_names.primary(i) for i in missing])
        raise InputError(
            f"missing value{'s' if len(missing) > 1 else ''} for {listed}",
            graph.location(missing[0]),  # where the first one is first used
            "give their values in `inputs`, a dict such as {'x': 1.0, 'w[2]': 0.5}",
            cli_hint="give values as --NAME VALUE (or --input NAME=VALUE, or --inputs FILE.json)",
        )


def _list_names(names: list[str]) -> str:
    """'a, x[1], ..., x[500] (500 of x), b': a long run of one indexed name is shortened, and so is a long list."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("[", 1)[0], []).append(name)
    parts = []
    for base, group in groups.items():
        if len(group) > 4:
            parts.append(f"{group[0]}, {group[1]}, ..., {group[-1]} ({len(group)} of {base})")
        else:
            parts.extend(group)
    return _first_of(parts)


_LISTED = 20  # names a message lists before it says how many more there are


def _first_of(parts: list[str]) -> str:  # 'a, b, ... (N more)'
    if len(parts) <= _LISTED:
        return ", ".join(parts)
    return ", ".join(parts[:_LISTED]) + f", ... ({len(parts) - _LISTED:,} more)"


def _unknown_message(graph: Graph, unknown: list[str]) -> str:
    parts = []
    for name in unknown:
        if name in graph.names:
            i = graph.names[name]
            parts.append(f"'{name}' is computed on line {graph.line_of(i)}, not an input")
            continue
        parts.append(f"'{name}' is not an input of this file" + did_you_mean(name, graph.inputs))
    shown = "; ".join(parts[:_LISTED]) + (f"; ... ({len(parts) - _LISTED:,} more)" if len(parts) > _LISTED else "")
    return shown + ("; inputs: " + _first_of(list(graph.inputs)) if graph.inputs else "")


def forward(graph: Graph, inputs: Mapping[str, float] | None = None, *,
            constants: Mapping[int, float] | None = None) -> list[float]:
    """The value of every node. `constants` gives other values to named constants (by
    node), as a gradient check moves them; inputs are given by name in `inputs`."""
    values = bind(graph, inputs)
    for i, value in (constants or {}).items():
        if graph.ops[i] != CONST:
            raise ValueError(f"node {i} is a {graph.ops[i]}, not a constant")
        values[i] = float(value)
    first, second = graph.arg_columns()
    all_args = graph.args
    # The iterators run in C: `map` looks up each node's forward function, the argument ids
    # come from flat arrays (see Graph.arg_columns for what second's negative values mean).
    for i, fn, a, b in zip(range(len(values)), map(_FORWARD.__getitem__, graph.ops), first, second):
        if b >= 0:
            values[i] = fn(values[a], values[b])
        elif b == -1:
            values[i] = fn(values[a])
        elif b == -2:
            values[i] = fn(*[values[j] for j in all_args[i]])
    return cast("list[float]", values)  # every node's slot is filled now


# Gradients start at -0.0, the identity of IEEE addition (0.0 + -0.0 is 0.0): a lone -0.0
# contribution (d(a*b)/da at b = -0.0) stays -0.0, as in PyTorch and the batch engine.
_UNREACHED = -0.0


def backward(graph: Graph, values: Sequence[float], output: int | None = None) -> list[float]:
    """d output / d node for every node, by reverse-mode accumulation over the tape."""
    out = graph.output if output is None else output
    n = len(values)
    if n != len(graph.ops):  # the columns below are walked side by side
        raise ValueError(f"{n} values for a graph of {len(graph.ops)} nodes")
    first, second = graph.arg_columns()
    all_args = graph.args
    # Only nodes on a path to the output pass their gradient on (as PyTorch does: the others
    # have gradient 0, and 0 times an inf or nan derivative would be nan); `compress` drops
    # the others in C. The walk goes over the whole tape backwards, so each column is read
    # through a reversed iterator; nodes after the output are not on a path to it.
    if n >= _FLAT_FROM and graph.cached("scattered", _scattered):
        # A large graph whose arguments reach far back at random: reading a value or a
        # gradient from a list costs two cache misses (the list's slot, then the float
        # object), from an array of doubles one, which outweighs the array's slower
        # indexing (a million-node random DAG: backward 0.59 -> 0.47 µs a node; a chain
        # would lose 0.11, hence `_scattered`). Same doubles, same arithmetic, same bits.
        # The arrays cannot tell reached nodes apart (below), so the nodes on a path to
        # the output are flagged beforehand.
        # (The casts tell the type checker what the format "d" means: floats.)
        grads: list[float] | memoryview[float] = cast("memoryview[float]", memoryview(array("d", [-0.0]) * n))
        arg_values: Sequence[float] = cast("memoryview[float]", memoryview(array("d", values)))
        flags = _on_path(graph, out)
        on_path: Iterable[object] = reversed(flags)
    else:
        # A node is on a path exactly when a consumer has added to its gradient, and `+=`
        # always stores a new float object: a slot still holding the very `zero` object is
        # a node the output does not depend on. The reversed iterator reads a node's slot
        # only when the walk gets there, after all its consumers (later on the tape).
        zero, flags = _UNREACHED, b""  # (no flags: the list's slots tell)
        grads = [zero] * n
        arg_values = values
        on_path = map(is_not, reversed(grads), repeat(zero))
    grads[out] = 1.0
    nodes = zip(map(_LOCAL.__getitem__, reversed(graph.ops)), reversed(first), reversed(second),
                reversed(values), reversed(grads))
    for local, a, b, v, g in compress(nodes, on_path):  # v, g: the node's value and gradient
        if b >= 0:
            da, db = local(v, arg_values[a], arg_values[b])
            grads[a] += g * da
            grads[b] += g * db
        elif b == -1:
            grads[a] += g * local(v, arg_values[a])[0]
        elif b == -2:
            args = all_args[a]  # a is the node itself here
            for j, d in zip(args, local(v, *[arg_values[j] for j in args])):
                grads[j] += g * d
    return _unreached_to_zero(grads, flags)


def _unreached_to_zero(grads: list[float] | memoryview[float], on_path: bytes) -> list[float]:
    """The gradients, +0.0 for a node off the output's paths (still _UNREACHED, or off `on_path`)."""
    if isinstance(grads, list):
        return [0.0 if g is _UNREACHED else g for g in grads]
    return [g if f else 0.0 for g, f in zip(grads.tolist(), on_path)]


def _scattered(graph: Graph) -> bool:
    """Whether the arguments reach far back to many different nodes: a random DAG with
    fan-out, not a chain, a nested expression or a loop, whose far arguments are the same
    few shared weights (and stay in cache). Judged on 4,096 nodes spread over the tape:
    their arguments more than 16,384 nodes back are more than 512 different nodes (one
    per eight nodes looked at)."""
    first, second = graph.arg_columns()
    step = max(1, len(first) // 4096)
    far = set()
    for i in range(0, len(first), step):
        for a in (first[i], second[i]):
            if 0 <= a < i - 16384:
                far.add(a)
    return len(far) * 8 > len(first) // step


def _on_path(graph: Graph, out: int) -> bytes:
    """Flags: 1 for `out` and the nodes it depends on; kept with the graph for its output."""
    if out == graph.output:
        return graph.cached("on_path", lambda g: bytes(g.upstream(g.output)))
    return bytes(graph.upstream(out))


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
