"""The Hessian of a program's output, from its gradient graph, and its check.

Forward over reverse, as a graph: `grad(graph, wrt, order=2)` (cgraph/transform/grad.py)
is the gradient program with each output's tangent along each wrt name written as nodes,
its outputs H[i][j] = d/d w_j (d out/d w_i), row-major, with the same ops as any program;
one forward pass of it gives the whole matrix, and it is the graph `cgraph grad --order 2`
shows. The value and the gradient come from the ordinary forward and backward pass.

The check compares H with central differences of the backward pass's gradient:
    column j  ~  (grad(x + h e_j) - grad(x - h e_j)) / 2h,   h = eps * max(1, |x_j|)
(float64), entry by entry with gradient_check's tolerances and kink rule, and says how
far H is from symmetric (exact second derivatives are: H[i][j] = H[j][i]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..errors import CgraphError
from ..ir.graph import Graph
from .evaluator import evaluate, forward, output_node
from .gradient_check import CheckRow, _check_tolerances, _crosses_kink, _status, DEFAULT_ATOL, DEFAULT_EPS, DEFAULT_RTOL


@dataclass(frozen=True)
class Hessian:
    """The value of `output`, its gradient and its Hessian w.r.t. the names of `wrt`, in
    that order: hessian[i][j] = d2 output / d wrt[i] d wrt[j]."""

    output: str
    value: float
    wrt: tuple[str, ...]
    gradient: tuple[float, ...]
    hessian: tuple[tuple[float, ...], ...]
    warnings: tuple[str, ...] = ()  # where a value is inf or nan, as `evaluate` says it

    def asymmetry(self) -> float:
        """max |H[i][j] - H[j][i]| (0 for equal entries, inf ones too; nan when an entry is)."""
        return max_asymmetry(self.hessian)


def max_asymmetry(matrix: Sequence[Sequence[float]]) -> float:
    worst = 0.0
    n = len(matrix)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = matrix[i][j], matrix[j][i]
            d = 0.0 if a == b else abs(a - b)  # equal infs are symmetric: inf - inf would be nan
            if not d <= worst:  # a nan difference is the worst there is
                worst = d
    return worst


def wrt_names(graph: Graph, wrt: Sequence[str] | None) -> list[str]:
    """The names to differentiate w.r.t. (default: every input and param), each once."""
    if not graph.inputs:
        raise CgraphError(f"{graph.source.filename} has no inputs or params: a Hessian is taken with respect to them",
                          hint="declare one: input x (or param w = 0.1)")
    if wrt is None:
        return list(graph.inputs)
    from ..errors import InputError, did_you_mean

    names = list(dict.fromkeys(wrt))
    for name in names:
        if name not in graph.inputs:
            raise InputError(f"--wrt {name}: not an input or param of {graph.source.filename}"
                             + did_you_mean(name, graph.inputs))
    if not names:
        raise InputError("--wrt names no input or param")
    return names


def hessian_graph(graph: Graph, wrt: Sequence[str], output: str | None = None, *,
                  max_nodes: int = 10_000_000) -> Graph:
    """The program of the second derivatives of `output` (default: the graph's first
    output) w.r.t. `wrt`: its outputs are H row by row."""
    from ..transform.grad import grad

    output_node(graph, output)  # an unknown name is an error that names it
    name = output or graph.output_name
    target = graph if len(graph.outputs) == 1 and name == graph.output_name else graph.with_output(name)
    return grad(target, list(wrt), order=2, max_nodes=max_nodes)


def matrix(graph: Graph, values: Sequence[float], n: int) -> tuple[tuple[float, ...], ...]:
    """The n x n matrix of a Hessian graph's outputs, from its node values."""
    flat = [values[i] for i in graph.outputs]
    return tuple(tuple(flat[i * n:(i + 1) * n]) for i in range(n))


def hessian(graph: Graph, inputs: Mapping[str, float] | None = None, wrt: Sequence[str] | None = None, *,
            output: str | None = None, strict: bool = False, max_nodes: int = 10_000_000) -> Hessian:
    """The value, gradient and Hessian of `output` (default: the graph's output) w.r.t.
    `wrt` (default: every input and param), at `inputs` (declared defaults fill the rest)."""
    names = wrt_names(graph, wrt)
    ev = evaluate(graph, inputs, output=output, strict=strict)
    second = hessian_graph(graph, names, output, max_nodes=max_nodes)
    h = matrix(second, forward(second, inputs), len(names))
    gradients = ev.gradients
    return Hessian(ev.output_name, ev.value, tuple(names), tuple(gradients[n] for n in names), h, ev.warnings)


# --- the check ------------------------------------------------------------------------


@dataclass(frozen=True)
class HessianCheck:
    """One row per entry (name "x, y" is H[x][y] = d/dy (d out/dx)), and the symmetry."""

    rows: list[CheckRow]
    asymmetry: float  # max |H[i][j] - H[j][i]|
    symmetry_tolerance: float  # atol + rtol * max |H[i][j]|

    @property
    def symmetric(self) -> bool:
        return self.asymmetry <= self.symmetry_tolerance

    @property
    def passed(self) -> bool:
        return self.symmetric and all(row.passed for row in self.rows)


def hessian_check(graph: Graph, inputs: Mapping[str, float] | None = None, *, output: str | None = None,
                  eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  strict: bool = False, max_nodes: int = 10_000_000) -> HessianCheck:
    """The Hessian (from the gradient graph) against central differences of the backward
    pass's gradient, w.r.t. every input and param."""
    _check_tolerances(eps, rtol, atol)
    result = hessian(graph, inputs, output=output, strict=strict, max_nodes=max_nodes)
    names = list(result.wrt)
    base = dict(inputs or {})
    mid = evaluate(graph, base, output=output)
    out = mid.output
    rows: list[CheckRow] = []
    columns = []
    for name in names:
        leaf = graph.inputs[name]
        x = mid.values[leaf]
        h = eps * max(1.0, abs(x)) if math.isfinite(x) else eps
        up = evaluate(graph, {**base, name: x + h}, output=output)
        down = evaluate(graph, {**base, name: x - h}, output=output)
        step = (x + h) - (x - h)  # the step actually taken, after rounding
        kink = _crosses_kink(graph, leaf, mid.values, up.values, down.values, out)
        columns.append(([(up.gradients[n] - down.gradients[n]) / step if step else math.nan for n in names], kink))
    for i, row_name in enumerate(names):
        for j, col_name in enumerate(names):
            numeric, kink = columns[j][0][i], columns[j][1]
            analytic = result.hessian[i][j]
            abs_error = abs(analytic - numeric)
            rel_error = abs_error / abs(numeric) if numeric else (0.0 if abs_error == 0 else math.inf)
            status = "KINK" if kink else _status(analytic, numeric, abs_error, rtol, atol)
            rows.append(CheckRow(f"{row_name}, {col_name}", analytic, numeric, abs_error, rel_error, status))
    scale = max((abs(v) for row in result.hessian for v in row if math.isfinite(v)), default=0.0)
    return HessianCheck(rows, result.asymmetry(), atol + rtol * scale)


__all__ = ["Hessian", "HessianCheck", "hessian", "hessian_check", "hessian_graph", "matrix", "max_asymmetry",
           "wrt_names"]
