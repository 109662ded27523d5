"""cgraph: evaluate, differentiate and draw computational graphs written as small programs.

    >>> import cgraph
    >>> g = cgraph.parse("p = x + y\\ng = p * z")
    >>> r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    >>> r.value, r.gradients
    (-12.0, {'x': -3.0, 'y': -3.0, 'z': 4.0})
"""

from __future__ import annotations

__version__ = "0.1.0"

from .builder import DEFAULT_MAX_NODES
from .errors import BuildError, CgraphError, GraphTooLarge, InputError, NumericError, ParseError, Source
from .evaluate import Evaluation, backward, evaluate, forward
from .ir import Graph, Node, Tag
from .loading import load, parse

__all__ = [
    "parse", "load", "evaluate", "gradients", "forward", "backward",
    "Graph", "Node", "Tag", "Evaluation", "Source",
    "CgraphError", "ParseError", "BuildError", "GraphTooLarge", "InputError", "NumericError",
    "DEFAULT_MAX_NODES",
]


def gradients(graph: Graph, inputs=None, *, output: str | None = None) -> dict[str, float]:
    """d output / d input for every input and param of `graph`."""
    return evaluate(graph, inputs, output=output).gradients
