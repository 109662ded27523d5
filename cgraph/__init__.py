"""cgraph: evaluate, differentiate and draw computational graphs written as small programs.

    >>> import cgraph
    >>> g = cgraph.parse("p = x + y\\ng = p * z")
    >>> r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    >>> r.value, r.gradients
    (-12.0, {'x': -3.0, 'y': -3.0, 'z': 4.0})
"""

from __future__ import annotations

__version__ = "0.1.0"

try:
    from .engine.evaluator import Evaluation, backward, evaluate, forward
    from .errors import BuildError, CgraphError, GraphTooLarge, InputError, NumericError, ParseError, Source
    from .frontend.builder import DEFAULT_MAX_NODES
    from .frontend.loading import load, parse
    from .ir import Graph, Node, Tag
except KeyboardInterrupt:
    # The `cgraph` command imports this package before its own handler is in place (some
    # 30 ms): a Ctrl-C then ends the command as one a moment later would, without a
    # traceback. Imported by anything else, the interrupt goes on as it came.
    import sys as _sys

    if _sys.argv and _sys.argv[0].replace("\\", "/").rsplit("/", 1)[-1] in ("cgraph", "cgraph.exe", "cgraph-script.py"):
        _sys.stderr.write("cgraph: interrupted\n")
        raise SystemExit(130) from None
    raise

__all__ = [
    "parse", "load", "evaluate", "gradients", "grad", "hessian", "jvp", "forward", "backward",
    "Graph", "Node", "Tag", "Evaluation", "Source",
    "CgraphError", "ParseError", "BuildError", "GraphTooLarge", "InputError", "NumericError",
    "DEFAULT_MAX_NODES",
]


# Submodules a notebook reaches as `cgraph.render.diagram(...)` after a plain `import cgraph`.
# They are imported on first use, not here: render pulls in graphviz, data/batch/train pull in
# NumPy, and `cgraph eval` of a scalar file must start without either.
_LAZY_SUBMODULES = frozenset({
    "batch", "data", "train", "render",  # the public entry points
    "ir", "ops", "errors", "frontend", "engine", "transform", "views", "training",  # the stages
})


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES)


def gradients(graph: Graph, inputs=None, *, output: str | None = None) -> dict[str, float]:
    """d output / d input for every input and param of `graph`."""
    return evaluate(graph, inputs, output=output).gradients


def grad(graph: Graph, wrt=None, order: int = 1, *, simplify: bool = True) -> Graph:
    """The derivatives of `graph`'s outputs w.r.t. `wrt` (default: every input and param),
    as a graph, as `cgraph grad` writes them: outputs dg_dx, ... (order 2: d2g_dx_dy, ...)."""
    from .transform.grad import grad as _grad  # imported on use: a command that does not differentiate graphs never needs it

    return _grad(graph, wrt, order, simplify=simplify)


def hessian(graph: Graph, inputs=None, wrt=None, *, output: str | None = None):
    """The value, gradient and Hessian of `graph`'s output w.r.t. `wrt` (default: every
    input and param), as `cgraph hessian` computes them: an object with .value,
    .gradient, .hessian (rows in the order of .wrt)."""
    from .engine.hessian import hessian as _hessian  # imported on use: it brings the grad transformation

    return _hessian(graph, inputs, wrt, output=output)


def jvp(graph: Graph, inputs=None, direction=None, *, output: str | None = None):
    """Forward mode: every node's value and tangent (its derivative along `direction`,
    input or param name -> number, names left out 0) and the output's directional
    derivative, gradient · direction: `cgraph.jvp(g, {"x": 1}, {"x": 1}).directional_derivative`.
    Returns a cgraph.engine.tangent.JVP (imported on first use)."""
    from .engine import tangent  # imported on use, as the two above

    return tangent.jvp(graph, inputs, direction, output=output)
