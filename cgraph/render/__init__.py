"""Diagrams of a graph and its passes: Graphviz (DOT, SVG, PNG, PDF) and Mermaid.

    >>> import cgraph, cgraph.render
    >>> g = cgraph.load("samples/intro.cg")
    >>> ev = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    >>> cgraph.render.diagram(g, ev)          # a graphviz.Digraph: shows inline in Jupyter

Without an evaluation the diagram shows the structure alone.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Iterator

from ..evaluate import Evaluation
from ..ir import Graph
from . import style
from . import mermaid as _mermaid_module  # noqa: F401  imported first, so the function below keeps the name
from .scene import DEFAULT_MAX_RENDER_NODES, OptionError, Options, RenderError, Scene, Step, build_scene, drawn_units

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "mermaid")
FORMATS = IMAGE_FORMATS + TEXT_FORMATS
DOT_TIMEOUT = 120.0  # seconds Graphviz may take before we give up on it

__all__ = [
    "diagram", "mermaid", "scene", "frames", "image", "options", "Options", "RenderError", "OptionError",
    "FORMATS", "IMAGE_FORMATS", "DEFAULT_MAX_RENDER_NODES",
]


def options(
    rankdir: str = "LR",
    annotate: str | set[str] | None = None,
    precision: int = 4,
    theme: str = "light",
    focus: str | None = None,
    heat: bool = False,
    collapse: bool = False,
    max_render_nodes: int = DEFAULT_MAX_RENDER_NODES,
) -> Options:
    """Checked options; `annotate` is a set or a comma-separated string of values, grads, local."""
    if annotate is None:
        chosen = {"values", "grads"}
    elif isinstance(annotate, str):
        chosen = {a.strip() for a in annotate.split(",") if a.strip()}
    else:
        chosen = set(annotate)
    unknown = chosen - set(style.ANNOTATIONS)
    if unknown:
        raise OptionError(f"--annotate: unknown {', '.join(sorted(unknown))}; choose from {', '.join(style.ANNOTATIONS)}")
    if rankdir not in ("LR", "TB"):
        raise OptionError(f"--rankdir must be LR or TB, not {rankdir}")
    if theme not in style.THEMES:
        raise OptionError(f"--theme must be one of {', '.join(style.THEMES)}, not {theme}")
    if not 1 <= precision <= 17:
        raise OptionError("--precision must be between 1 and 17 significant digits")
    return Options(rankdir, frozenset(chosen), precision, theme, focus, heat, collapse, max_render_nodes)


def scene(graph: Graph, evaluation: Evaluation | None = None, **opts) -> Scene:
    return build_scene(graph, evaluation, options(**opts))


def diagram(graph: Graph, evaluation: Evaluation | None = None, **opts):
    """The annotated diagram as a graphviz.Digraph (`.source` is the DOT text)."""
    from .dot import to_digraph

    return to_digraph(scene(graph, evaluation, **opts))


def mermaid(graph: Graph, evaluation: Evaluation | None = None, **opts) -> str:
    """The annotated diagram as a Mermaid flowchart."""
    from .mermaid import to_mermaid

    return to_mermaid(scene(graph, evaluation, **opts))


def frames(graph: Graph, evaluation: Evaluation, **opts) -> Iterator[tuple[str, Scene]]:
    """The passes step by step: one scene per node as the forward pass computes it, then
    one per node as the backward pass reaches it (the node just done highlighted)."""
    o = options(**opts)
    units = drawn_units(graph, o, evaluation.output)  # (label, first node, last node) per thing drawn
    steps = len(units)
    width = len(str(2 * steps))
    n = len(graph)
    for k, (label, first, last) in enumerate(units):
        s = build_scene(graph, evaluation, o, Step(values_upto=last + 1, grads_from=n + 1, current=last, phase="forward"))
        what = label or _what(graph, last)
        s.caption = f"forward pass, step {k + 1} of {steps}: {what} = {style.number(evaluation.values[last], o.precision)}"
        yield f"{k + 1:0{width}d}-forward", s
    for k, (label, first, last) in enumerate(reversed(units)):
        s = build_scene(graph, evaluation, o, Step(values_upto=n, grads_from=first, current=first, phase="backward"))
        what = label or _what(graph, first)
        s.caption = (
            f"backward pass, step {k + 1} of {steps}: d{evaluation.output_name}/d({what}) = "
            f"{style.number(evaluation.grads[first], o.precision)}"
        )
        yield f"{steps + k + 1:0{width}d}-backward", s


def _what(graph: Graph, i: int) -> str:
    return graph.name_of(i) or graph.text_of(i)


def image(dot_source: str, fmt: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """Run Graphviz's `dot` on DOT text. Raises RenderError (never hangs past `timeout`)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(
            "Graphviz's 'dot' program is not installed, so svg/png/pdf cannot be made",
            hint="install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
            "or write DOT text (-o FILE.dot) or a Mermaid chart (--format mermaid), which need no Graphviz",
        )
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_source.encode("utf-8"), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"Graphviz took longer than {timeout:g} s and was stopped",
            hint="draw less: --collapse, --focus NAME, or write the DOT text with -o FILE.dot",
        ) from None
    if done.returncode < 0:  # killed: out of memory, or by the user
        raise RenderError(
            f"Graphviz was killed (signal {-done.returncode}) before it finished",
            hint="draw less: --collapse, --focus NAME, or write the DOT text with -o FILE.dot",
        )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz failed: {message[-1] if message else f'exit code {done.returncode}'}")
    return done.stdout
