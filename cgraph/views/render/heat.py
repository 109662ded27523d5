"""--heat: edges coloured by the magnitude of their gradient on a log scale, and the legend
that says which magnitude each colour stands for.

Two scales. `relative` spreads the diagram's own smallest..largest |gradient| over all
the colours: the most contrast, but a colour means something else in every diagram.
`absolute` is fixed, log10 |gradient| from ABSOLUTE[0] to ABSOLUTE[1] (0.001 to 10,
clipped at both ends), so two diagrams, or two training steps, can be compared.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..numbers import number
from .style import esc

if TYPE_CHECKING:
    from .model import SceneEdge

HEAT_SCALES = ("relative", "absolute")
ABSOLUTE = (-3.0, 1.0)  # log10 |gradient|: 0.001 (blue) .. 10 (red)
LEGEND_STEPS = 5  # colour cells in the legend's bar


def heat_color(norm: float, theme: dict[str, str]) -> str:
    """The colour of a place 0..1 on the scale, between the theme's heat colours (blue,
    teal, amber, orange, red; the dark theme's lighter, to stand out on its near-black as
    the light theme's do on white)."""
    stops = [_rgb(c) for c in theme["heat"].split()]
    at = min(max(norm, 0.0), 1.0) * (len(stops) - 1)
    k = min(int(at), len(stops) - 2)
    c0, c1, t = stops[k], stops[k + 1], at - k
    r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(c0, c1))
    return f"#{r:02x}{g:02x}{b:02x}"


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def heat_range(scale: str, magnitudes: list[float]) -> tuple[float, float] | None:
    """The scale's ends, log10 |gradient|: fixed, or the finite nonzero magnitudes' own
    (None if there is none: every gradient 0, inf or nan, drawn at the ends, no legend)."""
    if scale == "absolute":
        return ABSOLUTE
    logs = [math.log10(m) for m in magnitudes if m > 0 and math.isfinite(m)]
    return (min(logs), max(logs)) if logs else None


def normalise(edges: list[SceneEdge], span: tuple[float, float]) -> None:
    """Each edge's gradient (in edge.heat) -> its place 0..1 on the scale `span`: zero at
    the blue end, inf or nan at the red end, outside the span clipped to its ends."""
    lo, hi = span
    for edge in edges:
        if edge.heat is None:
            continue
        m = abs(edge.heat)
        if not math.isfinite(m):
            edge.heat = 1.0
        elif m == 0:
            edge.heat = 0.0
        else:
            edge.heat = 0.5 if hi == lo else min(max((math.log10(m) - lo) / (hi - lo), 0.0), 1.0)


def ticks(span: tuple[float, float]) -> list[tuple[float, str]]:
    """The legend's cells: (place 0..1, the |gradient| it stands for), low to high."""
    lo, hi = span
    if hi == lo:
        return [(0.5, number(10 ** lo, 3))]
    places = [k / (LEGEND_STEPS - 1) for k in range(LEGEND_STEPS)]
    return [(t, number(10 ** (lo + t * (hi - lo)), 3)) for t in places]


def legend_html(span: tuple[float, float], scale: str, colours: dict[str, str]) -> str:
    """The legend as an HTML-like table for a Graphviz label: a colour bar with, under each
    colour, the gradient magnitude it stands for."""
    cells = ticks(span)
    bar = "".join(f'<td bgcolor="{heat_color(t, colours)}" width="56" height="8"></td>' for t, _ in cells)
    numbers = "".join(f'<td><font point-size="9">{esc(text)}</font></td>' for _, text in cells)
    ends = "clipped at both ends" if scale == "absolute" else "this diagram's range"
    title = f"|gradient| ({scale} log scale, {ends})"
    return (f'<table border="0" cellspacing="0" cellpadding="1" color="{colours["fg"]}">'
            f'<tr><td colspan="{len(cells)}"><font point-size="9">{esc(title)}</font></td></tr>'
            f"<tr>{bar}</tr><tr>{numbers}</tr></table>")


def legend_text(span: tuple[float, float], scale: str) -> str:
    """The legend in words, for Mermaid's title (it draws no tables)."""
    cells = ticks(span)
    return f"heat: |gradient| {cells[0][1]} (blue) to {cells[-1][1]} (red), {scale} log scale"
