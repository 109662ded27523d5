"""Gradient check: backprop's gradients against central finite differences, as
PyTorch's gradcheck does, for every input and param (and named constant).

The numeric derivative of the output f with respect to an input x is
    (f(x + h) - f(x - h)) / 2h,   h = eps * max(1, |x|)
in float64. Where a kink (relu or abs at 0, a max/min tie: each op's `kink` in the op
table) lies within [x - h, x + h] the function is not differentiable there and the row
says KINK instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from .evaluator import evaluate, forward, output_node
from ..ir.graph import Graph
from ..ops import KINKS

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
# A step as large as x itself measures a secant, not a derivative: eps stays below 1.
MAX_EPS = 1.0


@dataclass(frozen=True)
class CheckRow:
    name: str
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    status: str  # OK, FAIL, KINK (not differentiable here), NONFINITE

    @property
    def passed(self) -> bool:
        return self.status in ("OK", "KINK")


def gradcheck(
    graph: Graph,
    inputs: Mapping[str, float] | None = None,
    *,
    output: str | None = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    strict: bool = False,
) -> list[CheckRow]:
    """One row per input and param, in the order of graph.inputs, then one per named
    constant (`f = 3`: moved like an input, since d out/d f is reported like any other).
    `strict`: an inf or nan value at the given inputs raises NumericError, as `evaluate` does."""
    _check_tolerances(eps, rtol, atol)
    out = output_node(graph, output)
    base = dict(inputs or {})
    ev = evaluate(graph, base, output=output, strict=strict)
    rows = []
    leaves = graph.inputs
    for name, i in {**leaves, **graph.constants}.items():
        x = ev.values[i]
        analytic = ev.grads[i]
        h = eps * max(1.0, abs(x)) if math.isfinite(x) else eps
        hi, lo = x + h, x - h
        h2 = hi - lo  # the step actually taken, after rounding
        if name in leaves:
            up, down = forward(graph, {**base, name: hi}), forward(graph, {**base, name: lo})
        else:
            up, down = forward(graph, base, constants={i: hi}), forward(graph, base, constants={i: lo})
        numeric = (up[out] - down[out]) / h2 if h2 else math.nan
        abs_error = abs(analytic - numeric)
        rel_error = abs_error / abs(numeric) if numeric else (0.0 if abs_error == 0 else math.inf)
        if _crosses_kink(graph, i, ev.values, up, down, out):
            status = "KINK"  # not differentiable here: neither number is the derivative
        else:
            status = _status(analytic, numeric, abs_error, rtol, atol)
        rows.append(CheckRow(name, analytic, numeric, abs_error, rel_error, status))
    return rows


def _check_tolerances(eps: float, rtol: float, atol: float) -> None:
    if not (math.isfinite(eps) and 0 < eps < MAX_EPS):
        raise ValueError(f"eps must be a finite number in (0, {MAX_EPS}), not {eps}")
    if not (math.isfinite(rtol) and rtol >= 0 and math.isfinite(atol) and atol >= 0):
        raise ValueError(f"rtol and atol must be finite and >= 0, not {rtol} and {atol}")


def _status(analytic: float, numeric: float, abs_error: float, rtol: float, atol: float) -> str:
    """NONFINITE, OK or FAIL for a row away from any kink."""
    if not (math.isfinite(analytic) and math.isfinite(numeric)):
        return "NONFINITE"
    if abs_error <= atol + rtol * abs(numeric):
        return "OK"
    return "FAIL"


def _crosses_kink(graph: Graph, x: int, mid: list[float], up: list[float], down: list[float], out: int) -> bool:
    """Is there a kink op between input x and the output that sits on its kink at x, or
    changes branch between x - h and x + h?"""
    needed = graph.upstream(out)
    moved = graph.downstream(x, out)  # what depends on x
    for i in range(x + 1, out + 1):
        kink = KINKS.get(graph.ops[i])
        if kink is None or not needed[i] or not moved[i]:
            continue
        args = graph.args[i]
        sides = set()
        for values in (down, mid, up):
            offset = kink(*[values[a] for a in args])
            sides.add((offset > 0) - (offset < 0))
        if len(sides) > 1 or 0 in sides:
            return True
    return False


__all__ = ["gradcheck", "CheckRow", "DEFAULT_EPS", "DEFAULT_RTOL", "DEFAULT_ATOL", "MAX_EPS"]
