"""Numeric references the gradient tests compare against."""

from __future__ import annotations

from typing import Callable

import cgraph


def relative_step(x: float, scale: float = 1e-6) -> float:
    """A finite-difference step for an argument near x: `scale` for small x, scaled with
    |x| above 1 so the step is not lost to rounding."""
    return scale * max(1.0, abs(x))


def central_difference(f: Callable[..., float], args: list[float], k: int) -> float:
    """d f / d args[k] by a central difference with a step scaled to the argument."""
    h = relative_step(args[k])
    up, down = list(args), list(args)
    up[k] += h
    down[k] -= h
    return (f(*up) - f(*down)) / (2 * h)


def graph_central_difference(graph: cgraph.Graph, point: dict[str, float], name: str) -> float:
    """d output / d input `name` of `graph` at `point`, by a central difference of two
    evaluations."""
    h = relative_step(point[name])
    up, down = dict(point), dict(point)
    up[name] += h
    down[name] -= h
    return (cgraph.evaluate(graph, up).value - cgraph.evaluate(graph, down).value) / (2 * h)


def graph_directional_difference(graph: cgraph.Graph, point: dict[str, float], direction: dict[str, float],
                                 h: float = 1e-6) -> float:
    """The output's derivative along `direction` (input name -> component; others 0) at
    `point` (declared defaults fill the rest), by a central difference of f(x ± h·d)."""
    start = {n: graph.values[i] for n, i in graph.inputs.items() if graph.values[i] is not None}
    start.update(point)

    def f(t: float) -> float:
        return cgraph.evaluate(graph, {n: v + t * direction.get(n, 0.0) for n, v in start.items()}).value

    return (f(h) - f(-h)) / (2 * h)
