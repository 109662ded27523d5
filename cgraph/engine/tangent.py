"""Forward mode: one sweep over the tape carrying, beside each node's value, its tangent,
the directional derivative along a direction in the inputs' space (d node/d t of
node(inputs + t * direction) at t = 0).

    tangent(input x) = direction[x]   (0 for an input or param the direction leaves out)
    tangent(node)    = sum over its arguments a of  local(node, a) * tangent(a)

with the op table's float `local` derivatives, the very numbers the backward pass
multiplies by. Each node's tangent is its gradient (as the backward pass computes it,
differentiating that node) dotted with the direction: the same sum over paths of products
of local derivatives, grouped from the inputs forwards instead of from the output
backwards. One sweep gives every node's derivative along one direction; the backward pass
gives one node's derivative along every input at once. Hence backprop for a loss of many
params, and forward mode for many outputs of few inputs.

Zeros, inf and nan. The backward pass only passes gradients on from nodes on a path to
the output: a node off it never multiplies its 0 by an inf or nan local derivative (0 * inf
would be nan), while a node on it does, even if its gradient is 0. The mirror image here:
a node that depends on no input with a non-zero direction has a *structural* zero tangent
(None below, 0 in results) and contributes nothing, whatever its local derivative; a node
that does depend on one multiplies, even when its tangent happens to be 0. So
`y = x * sqrt(z)` at z = 0 along x gives the true 0, where multiplying every 0 would give
0 * inf = nan from sqrt's derivative; and along z it gives nan, as the reverse pass's
d y/d z = x * inf (or 0 * inf) does. With this rule an inf or nan local derivative on an
edge u -> v reaches the tangent of the output exactly when u depends on a direction input
and v is on a path to the output, which is exactly when it reaches, backwards, the
gradient of a direction input. Hence

    tangent(out) == sum over inputs x with direction[x] != 0 of  gradient[x] * direction[x]

to rounding (the sums are grouped differently) wherever the right side is finite, and
both are inf or nan together otherwise (an intermediate product that overflows on one
side only aside). Inputs with a 0 direction are left out of the dot product as they are
out of the sweep: `0 * gradient` would turn an infinite gradient the direction does not
look at into nan. The kinks are the backward pass's (relu'(0) = 0, abs'(0) = 0, ties of
max/min split 0.5/0.5), since both read the same `local`: at a kink the tangent is that
convention's gradient · direction, not a one-sided derivative.

Plain Python floats and lists, no NumPy: `cgraph eval --tangent` of a scalar file starts
as fast as without it. The loop goes over the tape once, never recursing.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, cast

from ..errors import InputError, clip, did_you_mean, non_finite
from ..ir.graph import Graph
from ..ops import FORWARD, LOCAL
from .evaluator import bind, non_finite_origins, output_node
from .input_values import split_items

_FORWARD = cast("dict[str, Callable[..., float]]", FORWARD)
_LOCAL = cast("dict[str, Callable[..., tuple]]", LOCAL)


class JVP:
    """The values and tangents of every node for one set of inputs and one direction
    (what `cgraph.jvp` returns). `values` and `tangents` are by name, as reports name
    nodes (every name of a node, the output under its name too); `node_values` and
    `node_tangents` by node id."""

    graph: Graph
    node_values: list[float]
    node_tangents: list[float]
    direction: dict[str, float]  # every input and param, 0 for those left out
    output: int
    output_name: str
    warnings: tuple[str, ...]

    __slots__ = ("graph", "node_values", "node_tangents", "direction", "output", "output_name", "warnings")

    def __init__(self, graph: Graph, values: list[float], tangents: list[float], direction: dict[str, float],
                 output: int, output_name: str, warnings: tuple[str, ...]):
        self.graph = graph
        self.node_values = values
        self.node_tangents = tangents
        self.direction = direction
        self.output = output
        self.output_name = output_name
        self.warnings = warnings

    def __repr__(self) -> str:
        return (f"JVP({self.output_name} = {self.value!r}, "
                f"d{self.output_name} along the direction = {self.directional_derivative!r})")

    @property
    def value(self) -> float:
        return self.node_values[self.output]

    @property
    def directional_derivative(self) -> float:
        """The output's tangent: gradient · direction."""
        return self.node_tangents[self.output]

    @property
    def directional_derivatives(self) -> dict[str, float]:
        """Every output's tangent, by output name, the headline (the first) first."""
        return {name: self.node_tangents[i] for name, i in self.outputs().items()}

    @property
    def values(self) -> dict[str, float]:
        return {name: self.node_values[i] for name, i in self._names().items()}

    @property
    def tangents(self) -> dict[str, float]:
        return {name: self.node_tangents[i] for name, i in self._names().items()}

    def outputs(self) -> dict[str, int]:
        """Output name -> node: the headline first, then the graph's other outputs; only
        the node asked for if `output=` named one that is not an output."""
        if self.output_name not in self.graph.output_names:
            return {self.output_name: self.output}
        return {self.output_name: self.output, **dict(zip(self.graph.output_names, self.graph.outputs))}

    def _names(self) -> dict[str, int]:
        names = dict(self.graph.names)
        names.setdefault(self.output_name, self.output)
        return names


def jvp(graph: Graph, inputs: Mapping[str, float] | None = None, direction: Mapping[str, float] | None = None,
        *, output: str | None = None) -> JVP:
    """Values and tangents of every node along `direction` (input or param name -> a
    finite number; names left out: 0). `inputs` as for `evaluate`; `output` picks another
    named node as the headline. Raises InputError for a bad input or direction."""
    out = output_node(graph, output)
    seeds = direction_seeds(graph, direction or {})
    values = bind(graph, inputs)
    tangents = sweep(graph, values, seeds)
    warnings = tuple(f"{graph.location(i)}: warning: {graph.describe(i)} is {non_finite(cast(float, values[i]))}"
                     for i in non_finite_origins(graph, cast("list[float]", values)))
    full = {name: seeds.get(i, 0.0) for name, i in graph.inputs.items()}
    return JVP(graph, cast("list[float]", values), tangents, full, out, output or graph.output_name, warnings)


def direction_seeds(graph: Graph, direction: Mapping[str, float], what: str = "direction") -> dict[int, float]:
    """Input node -> its non-zero direction component. Every name must be an input or a
    param and every value a finite number (an inf direction has no derivative along it)."""
    inputs, seeds = graph.inputs, {}
    for name, value in direction.items():
        if name not in inputs:
            raise InputError(f"{what}: " + _not_an_input(graph, name))
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{what}: the value of '{clip(name)}' must be a number, not {clip(repr(value))}") from None
        if not math.isfinite(number):
            raise InputError(f"{what}: the value of '{clip(name)}' is {number}; a direction is finite numbers")
        if number != 0:
            seeds[inputs[name]] = number
    return seeds


def _not_an_input(graph: Graph, name: str) -> str:
    if name in graph.names:
        return (f"'{clip(name)}' is computed on line {graph.line_of(graph.names[name])}, not an input: "
                "a direction moves inputs and params only")
    return f"'{clip(name)}' is not an input or param of this file" + did_you_mean(name, graph.inputs)


def sweep(graph: Graph, values: list[float | None], seeds: Mapping[int, float]) -> list[float]:
    """Fill `values` (leaves bound, as `bind` leaves them) by the forward pass and return
    every node's tangent, the input nodes in `seeds` starting at their component. See the
    module's docstring for why a node depending on no seed contributes nothing.

    Laid out as the evaluator's forward loop (the argument ids from the graph's flat
    columns, see Graph.arg_columns; the op's functions looked up in C by `map`), with the
    one- and two-argument cases spelled out: twice as fast as a generic loop over argument
    tuples on a long chain, and these are nearly all nodes."""
    n = len(values)
    tangents: list[float | None] = [None] * n  # None: depends on no seed (a structural zero)
    for i, t in seeds.items():
        tangents[i] = float(t)
    first, second = graph.arg_columns()
    ops = graph.ops
    for i, fn, local, a, b in zip(range(n), map(_FORWARD.__getitem__, ops), map(_LOCAL.__getitem__, ops),
                                  first, second):
        if b >= 0:
            x, y = values[a], values[b]
            v = values[i] = fn(x, y)
            ta, tb = tangents[a], tangents[b]
            if ta is not None or tb is not None:
                da, db = local(v, x, y)
                tangents[i] = (da * ta if tb is None else db * tb if ta is None else da * ta + db * tb)
        elif b == -1:
            x = values[a]
            v = values[i] = fn(x)
            if (ta := tangents[a]) is not None:
                tangents[i] = local(v, x)[0] * ta
        elif b == -2:
            _variadic(graph.args[i], i, fn, local, values, tangents)
    return [0.0 if t is None else t for t in tangents]


def _variadic(args: tuple[int, ...], i: int, fn: Callable[..., float], local: Callable[..., tuple],
              values: list[float | None], tangents: list[float | None]) -> None:
    """Node i of three or more arguments (sum, mean): its value and, if an argument
    moves, its tangent, the moving arguments' terms added left to right."""
    xs = [values[j] for j in args]
    v = values[i] = fn(*xs)
    moving = [(k, t) for k, t in enumerate(tangents[j] for j in args) if t is not None]
    if moving:
        ds = local(v, *xs)
        total = ds[moving[0][0]] * moving[0][1]
        for k, t in moving[1:]:
            total += ds[k] * t
        tangents[i] = total


def parse_direction(graph: Graph, texts: tuple[str, ...] | list[str], what: str = "--tangent") -> dict[str, float]:
    """`x=1,y=0.5` (and `w[1,2]=1`: commas inside brackets belong to the name) -> the
    direction by canonical input name. Each text is one option's value; a name may be
    given once in all. Raises InputError on anything else, naming the item."""
    from .input_values import canonical

    result: dict[str, float] = {}
    for text in texts:
        for item in split_items(text):
            name_text, eq, value_text = item.partition("=")
            if not eq or not name_text.strip():
                # `--tangent 3` meant for an input called tangent: the option takes that spelling now
                option = what.lstrip("-")
                hint = f" (the input {option} takes --input {option}=VALUE)" if option in graph.inputs and "=" not in text else ""
                raise InputError(f"{what} '{clip(item)}': expected NAME=VALUE, as in {what} x=1,y=0.5{hint}")
            name = canonical(name_text)
            if name in result:
                raise InputError(f"{what}: '{clip(name)}' is given twice")
            result[name] = _component(what, name, value_text)
    direction_seeds(graph, result, what)  # names checked now, with did-you-mean
    return result


def _component(what: str, name: str, text: str) -> float:
    if not text.strip():
        raise InputError(f"{what}: '{clip(name)}=' has no value")
    try:
        value = float(text.strip())
    except ValueError:
        raise InputError(f"{what}: the value of '{clip(name)}' must be a number, not '{clip(text)}'") from None
    if not math.isfinite(value):
        raise InputError(f"{what}: the value of '{clip(name)}' is {value}; a direction is finite numbers")
    return value
