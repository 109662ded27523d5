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
from . import style
from . import mermaid as _mermaid_module  # noqa: F401  imported first, so the function below keeps the name
from .frameset import frame_scenes, frame_sources, frame_units, iter_frame_scenes  # noqa: F401  frame_units: where it always was
from .heat import HEAT_SCALES
from .scene import DEFAULT_MAX_RENDER_NODES, Options, Scene, build_scene
from .svg import svg_titles

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "mermaid")
FORMATS = IMAGE_FORMATS + TEXT_FORMATS
DOT_TIMEOUT = 120.0  # seconds Graphviz may take before we give up on it
DEFAULT_DPI = 192  # PNG pixels per inch: twice Graphviz's 96, sharp on high-density screens and slides
DPI_RANGE = (36, 1200)

__all__ = [
    "diagram", "mermaid", "scene", "frames", "frame_images", "pinned_frames", "image", "options", "Options", "RenderError", "OptionError",
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
    heat_scale: str = "relative",
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
    if heat_scale not in HEAT_SCALES:
        raise OptionError(f"--heat-scale must be one of {', '.join(HEAT_SCALES)}, not {heat_scale}")
    return Options(rankdir, frozenset(chosen), precision, theme, focus, heat, collapse, max_render_nodes, heat_scale)


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
    yield from iter_frame_scenes(graph, evaluation, options(**opts))


def frame_images(graph: Graph, evaluation: Evaluation, fmt: str, dpi: int = DEFAULT_DPI,
                 timeout: float = DOT_TIMEOUT, **opts) -> Iterator[tuple[str, bytes]]:
    """The frames as svg, png or pdf, every one drawn at the same node positions on the
    same canvas: Graphviz lays the diagram out once, then draws each frame at that layout."""
    for label, source in pinned_frames(graph, evaluation, timeout, **opts):
        yield label, image(source, fmt, timeout, dpi, pinned=True)


def pinned_frames(graph: Graph, evaluation: Evaluation, timeout: float = DOT_TIMEOUT, **opts) -> list[tuple[str, str]]:
    """Each frame's DOT text with every position pinned (one `dot` layout for them all),
    as `neato -n2` draws it: what frame_images draws."""
    o = options(**opts)

    def run_dot(source: str, out: str) -> bytes:
        return _graphviz(source, out, timeout)

    return frame_sources(graph, evaluation, o, frame_scenes(graph, evaluation, o), run_dot)


def image(dot_source: str, fmt: str, timeout: float = DOT_TIMEOUT, dpi: int = DEFAULT_DPI,
          pinned: bool = False) -> bytes:
    """Run Graphviz's `dot` on DOT text. Raises RenderError (never hangs past `timeout`).

    `dpi` sets a PNG's resolution (its pixel size is the drawing's size in inches times
    `dpi`, recorded in its pHYs chunk); svg and pdf are vector formats and ignore it.
    `pinned`: the text holds every position already (a frame), drawn as it is by `neato -n2`.
    An SVG's tooltips are <title> elements (see svg.py)."""
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise OptionError(f"--dpi must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}, not {dpi}")
    # Given on the command line, not in the DOT text: there it would also scale an SVG's size.
    extra = ([f"-Gdpi={dpi}"] if fmt == "png" else []) + (["-Kneato", "-n2"] if pinned else [])
    data = _graphviz(dot_source, fmt, timeout, extra)
    return svg_titles(data) if fmt == "svg" else data


def _graphviz(dot_source: str, fmt: str, timeout: float, extra: list[str] | None = None) -> bytes:
    """Graphviz's output for DOT text, or a RenderError saying why there is none."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(
            "Graphviz's 'dot' program is not installed, so svg/png/pdf/html cannot be made",
            hint="install it (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
            "or write DOT text (-o FILE.dot) or a Mermaid chart (--format mermaid), which need no Graphviz",
        )
    try:
        argv = [exe, f"-T{fmt}"] + (extra or [])
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
        dpi = float(next((a[len("-Gdpi="):] for a in extra or [] if a.startswith("-Gdpi=")), DEFAULT_DPI))
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
