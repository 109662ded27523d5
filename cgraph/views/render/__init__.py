"""Diagrams of a graph and its passes: Graphviz (DOT, SVG, PNG, PDF) and Mermaid.

    >>> import cgraph, cgraph.render
    >>> g = cgraph.load("samples/intro.cg")
    >>> ev = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    >>> dot = cgraph.render.diagram(g, ev)    # a graphviz.Digraph: shows inline in Jupyter
    >>> type(dot).__name__, dot.source.startswith("digraph")
    ('Digraph', True)

Without an evaluation the diagram shows the structure alone.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from typing import Iterator

from ...engine.evaluator import Evaluation
from ...errors import OptionError, RenderError
from ...ir.graph import Graph
from ...ops import LEAF_KINDS
from ..node_text import node_label
from ..numbers import number
from . import style
from . import mermaid as _mermaid_module  # noqa: F401  imported first, so the function below keeps the name
from .scene import DEFAULT_MAX_RENDER_NODES, Options, Scene, Frame, build_scene, drawn_units

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "mermaid")
FORMATS = IMAGE_FORMATS + TEXT_FORMATS
DOT_TIMEOUT = 120.0  # seconds Graphviz may take before we give up on it
DEFAULT_DPI = 192  # PNG pixels per inch: twice Graphviz's 96, sharp on high-density screens and slides
DPI_RANGE = (36, 1200)

__all__ = [
    "diagram", "mermaid", "scene", "frames", "image", "options", "Options", "RenderError", "OptionError",
    "FORMATS", "IMAGE_FORMATS", "DEFAULT_MAX_RENDER_NODES", "DEFAULT_DPI", "DPI_RANGE",
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
    forward_units, backward_units = frame_units(graph, o, evaluation.output)
    steps, back_steps = len(forward_units), len(backward_units)
    width = len(str(steps + back_steps))
    n = len(graph)
    for k, (label, first, last) in enumerate(forward_units):
        s = build_scene(graph, evaluation, o, Frame(values_upto=last + 1, grads_from=n + 1, current=last, phase="forward"))
        where, what = _step_label(graph, last, label)
        s.caption = f"forward pass, step {k + 1} of {steps}: {where}{what} = {number(evaluation.values[last], o.precision)}"
        yield f"{k + 1:0{width}d}-forward", s
    for k, (label, first, last) in enumerate(backward_units):
        s = build_scene(graph, evaluation, o, Frame(values_upto=n, grads_from=first, current=first, phase="backward"))
        where, what = _step_label(graph, first, label)
        s.caption = (
            f"backward pass, step {k + 1} of {back_steps}: {where}d{evaluation.output_name}/{_d(what)} = "
            f"{number(evaluation.grads[first], o.precision)}"
        )
        yield f"{steps + k + 1:0{width}d}-backward", s


def frame_units(graph: Graph, o: Options, output: int) -> tuple[list[tuple[str | None, int, int]], list[tuple[str | None, int, int]]]:
    """The units the forward frames step over, in tape order, and the backward ones, output
    first: the steps `explain` takes. The forward pass computes operations (the inputs,
    params and constants are given, so their values appear with the first step using them);
    the backward pass reaches every node but a literal, a number written in the file, which
    has no gradient. Nodes the output does not depend on take no step."""
    needed = graph.upstream(output)
    units = [u for u in drawn_units(graph, o, output) if u[0] is not None or needed[u[1]]]
    forward = [u for u in units if u[0] is not None or graph.ops[u[1]] not in LEAF_KINDS]
    backward = [u for u in reversed(units) if u[0] is not None or not graph.is_literal(u[1])]
    return forward, backward


def _d(what: str) -> str:
    """d(what), with no second pair of parentheses around a text that has its own."""
    return f"d{what}" if what.startswith("(") and what.endswith(")") else f"d({what})"


def _step_label(graph: Graph, i: int, box: str | None) -> tuple[str, str]:
    """How a frame's caption names its node, as `explain` does: its loop iterations and
    calls (`[t = 4] `, or nothing), and its name or its expression with that iteration's
    indices (`w * h[3]`); a collapsed box by its label alone."""
    if box is not None:
        return "", box
    where = ", ".join(str(t) for t in graph.tags[i])
    return (f"[{where}] " if where else ""), node_label(graph, i)


def image(dot_source: str, fmt: str, timeout: float = DOT_TIMEOUT, dpi: int = DEFAULT_DPI) -> bytes:
    """Run Graphviz's `dot` on DOT text. Raises RenderError (never hangs past `timeout`).

    `dpi` sets a PNG's resolution (its pixel size is the drawing's size in inches times
    `dpi`, recorded in its pHYs chunk); svg and pdf are vector formats and ignore it."""
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise OptionError(f"--dpi must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}, not {dpi}")
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(
            "Graphviz's 'dot' program is not installed, so svg/png/pdf cannot be made",
            hint="install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
            "or write DOT text (-o FILE.dot) or a Mermaid chart (--format mermaid), which need no Graphviz",
        )
    try:
        # Given on the command line, not in the DOT text: there it would also scale an SVG's size.
        argv = [exe, f"-T{fmt}"] + ([f"-Gdpi={dpi}"] if fmt == "png" else [])
        done = subprocess.run(argv, input=dot_source.encode("utf-8"), capture_output=True, timeout=timeout)
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
    if fmt == "png":
        # A drawing too large for a cairo bitmap is scaled down to fit, and says so.
        shrunk = re.search(rb"Scaling by ([0-9.]+) to fit", done.stderr)
        return _png_with_dpi(done.stdout, dpi * float(shrunk.group(1)) if shrunk else dpi)
    return done.stdout


def _png_with_dpi(data: bytes, dpi: float) -> bytes:
    """The PNG with a pHYs chunk saying its resolution (Graphviz writes none), so viewers
    and word processors show a 192-dpi image at its size, not twice as large."""
    signature, ihdr_end = b"\x89PNG\r\n\x1a\n", 8 + 8 + 13 + 4
    if not data.startswith(signature) or data[12:16] != b"IHDR":
        return data
    at = ihdr_end
    while at + 8 <= len(data):  # the chunks before the image data: is there a pHYs already?
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind in (b"pHYs", b"IDAT"):
            if kind == b"pHYs":
                return data
            break
        at += 12 + length
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)  # unit 1: metres
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return data[:ihdr_end] + chunk + data[ihdr_end:]
