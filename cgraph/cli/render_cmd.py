"""`cgraph render`: the graph as an annotated diagram (svg, png, pdf, dot, mermaid)."""

from __future__ import annotations

import os
from typing import Any, Callable

import click

from ..views import render
from ..views.render.blanks import blank_scene
from ..errors import InputError
from ..engine.evaluator import Evaluation, evaluate
from ..ir.graph import Graph
from . import EXIT_CODES_HELP
from .common import PRECISION, Count, ProgramCommand, evaluation_options, output_list, with_program
from .output import OutputClash, OutputError, run_files, write_output
from .worksheet_opts import blank_kinds, make_sheet, worksheet_options, write_answers

_EXTENSION = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "mermaid": "mmd", "html": "html"}
EXTENSIONS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
              ".html": "html", ".htm": "html"}
FORMATS = render.FORMATS + ("html",)
PAGE_START = 1.0  # where the page starts an input that has no value: it must show numbers

EPILOG = f"""\b
Examples:
  cgraph render samples/intro.cg --x 1 --y 3 --z -3 -o intro.svg
  cgraph render samples/intro.cg
  cgraph render samples/rnn.cg --heat -o rnn.png
  cgraph render samples/mlp.cg --heat --heat-scale absolute -o mlp.png
  cgraph render samples/rnn.cg --dpi 96 -o rnn-small.png
  cgraph render samples/neuron.cg --annotate values,grads,local -o - --format dot
  cgraph render samples/mlp.cg --collapse --format mermaid -o mlp.mmd
  cgraph render samples/intro.cg --x 1 --y 3 --z -3 --frames frames/
  cgraph render samples/intro.cg --x 1 --y 3 --z -3 --backward -o intro-backward.png
  cgraph render samples/intro.cg --x 1 --y 3 --z -3 --blank grads --answers key.txt -o sheet.svg
  cgraph render samples/neuron.cg -o neuron.html

Without input values (the second example) the diagram shows the
structure alone. --backward adds the gradient graph (`cgraph grad`'s
program) in purple, read right to left, its dashed edges bringing the
forward values it reuses. Formats svg, png and pdf need Graphviz's dot program;
dot (DOT text) and mermaid do not. --blank makes an exercise sheet: numbered
blanks instead of the numbers, the key in --answers FILE.
Format html writes one self-contained interactive page: a field and a
slider for every input and param, and every value and gradient
recomputed in the page as they change (an input without a value starts
at 1).

{EXIT_CODES_HELP}
"""


def diagram_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How the diagram is drawn: the options render and serve share (one place each)."""
    options = [
        click.option("--rankdir", type=click.Choice(["LR", "TB"]), default="LR", show_default=True, help="Inputs on the left (LR) or at the top (TB)."),
        click.option("--annotate", default="values,grads", show_default=True, metavar="LIST", help="What edges show: any of values, grads, local (the local derivative d consumer/d argument)."),
        click.option("--precision", type=PRECISION, default=4, show_default=True, help="Significant digits of the numbers."),
        click.option("--theme", type=click.Choice(["light", "dark"]), default="light", show_default=True, help="Colours."),
        click.option("--focus", metavar="NAME", help="Only the nodes on paths from NAME to the output."),
        click.option("--heat", is_flag=True, help="Colour edges by gradient magnitude (log scale): vanishing blue, exploding red, with a legend."),
        click.option("--heat-scale", type=click.Choice(["relative", "absolute"]), default=None,
                     help="With --heat: relative spreads this diagram's smallest..largest |gradient| over the colours; "
                     "absolute is fixed, 0.001 (blue) to 10 (red), so diagrams compare. [default: relative]"),
        click.option("--collapse", is_flag=True, help="Fold each function call and each loop iteration into one box."),
        click.option("--max-render-nodes", type=Count(min=1), default=render.DEFAULT_MAX_RENDER_NODES, show_default=True, help="Refuse diagrams with more nodes than this."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("render", cls=ProgramCommand, epilog=EPILOG, short_help="Draw the graph with values and gradients.")
@with_program
@evaluation_options
@click.option("-o", "--out", "out", metavar="FILE", help="Where to write: FILE.svg/.png/.pdf/.dot/.mmd/.html, or - for standard output. [default: FILE's stem + .svg (or the --format's extension)]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format. [default: from -o's extension, else svg]")
@diagram_options
@click.option("--frames", "frames_dir", metavar="DIR", help="Also write one diagram per step of the forward and backward passes into DIR.")
@click.option("--dpi", type=Count(*render.DPI_RANGE), default=None, metavar="N",
              help=f"PNG resolution in pixels per inch, {render.DPI_RANGE[0]} to {render.DPI_RANGE[1]}; "
              f"svg and pdf are vector formats and ignore it. [default: {render.DEFAULT_DPI}, twice Graphviz's 96]")
@click.option("--backward", is_flag=True,
              help="Also draw the gradient graph, the backward pass as nodes (the program `cgraph grad` writes): "
              "in purple, with its values, and dashed edges from the forward values it reuses.")
@click.option("--wrt", metavar="NAME,...", help="With --backward: the inputs and params to differentiate with "
              "respect to. [default: all]")
@click.option("--no-simplify", "raw", is_flag=True, help="With --backward: the raw transformation, every node of the "
              "backward pass (the seed 1, each g * 1), not folded or shared.")
@worksheet_options
def render_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, out: str | None, fmt: str | None,
                   rankdir: str, annotate: str, precision: int, theme: str, focus: str | None, heat: bool, heat_scale: str | None,
                   collapse: bool, max_render_nodes: int, frames_dir: str | None, dpi: int | None,
                   backward: bool, wrt: str | None, raw: bool,
                   blank: str | None, blank_nodes: str | None, answers: str | None) -> None:
    """Draw FILE's graph: one node per operation, inputs on the left, and on
    every edge the forward value (green) and the gradient flowing back (red).

    Input values are given as for eval (--x 1, --input, --inputs); without
    them the diagram shows the structure alone. Function calls and loop
    iterations are drawn as labelled clusters.
    """
    fmt = _format(out, fmt)
    dpi = _dpi(dpi, fmt)
    _check_backward_options(backward, wrt, raw, focus, frames_dir)
    if heat_scale is not None and not heat:
        raise click.UsageError("--heat-scale goes with --heat, which colours the edges")
    if fmt == "html":
        _check_page_options(frames_dir, backward, blank)
    kinds = blank_kinds(blank, blank_nodes, answers, stdout_taken=out == "-")
    annotate = _sheet_annotate(kinds, annotate, collapse, backward, frames_dir)
    if fmt == "html":
        _write_page(graph, inputs, output_name, strict, out, opts_of(rankdir, annotate, precision, theme, focus, heat,
                                                                   heat_scale, collapse, max_render_nodes))
        return
    ev, missing = _evaluate_if_given(graph, inputs, output_name, strict)
    sheet = make_sheet(ev, kinds, blank_nodes, missing)
    opts = dict(rankdir=rankdir, annotate=annotate, precision=precision, theme=theme, focus=focus,
                heat=heat, collapse=collapse, max_render_nodes=max_render_nodes,
                heat_scale=heat_scale or "relative")
    source_file = graph.source.filename
    target = out or (None if frames_dir is not None else _default_name(source_file, fmt))
    _claim_targets(target, out, frames_dir, source_file, fmt)
    if frames_dir is not None:
        if ev is None:
            raise InputError("--frames shows the passes, so it needs input values: missing " + ", ".join(missing))
        _write_frames(graph, ev, frames_dir, fmt, source_file, opts, dpi)
    if target is None:
        return
    if backward:
        scene = _backward_scene(graph, ev, inputs, output_name, wrt, not raw, opts)
    else:
        scene = render.scene(graph, ev, **opts)
    if sheet is not None:
        blank_scene(scene, graph, sheet)
    write_output(target, _encode(scene, fmt, dpi), option="-o")
    if target != "-":
        click.echo(f"wrote {target}", err=True)
    write_answers(sheet, answers, precision)


def opts_of(rankdir: str, annotate: str, precision: int, theme: str, focus: str | None, heat: bool,
            heat_scale: str | None, collapse: bool, max_render_nodes: int) -> dict:
    return dict(rankdir=rankdir, annotate=annotate, precision=precision, theme=theme, focus=focus,
                heat=heat, collapse=collapse, max_render_nodes=max_render_nodes,
                heat_scale=heat_scale or "relative")


def _check_page_options(frames_dir: str | None, backward: bool, blank: str | None) -> None:
    """The page recomputes the forward graph's numbers; what it cannot redraw yet is refused."""
    for option, on in (("--frames", frames_dir is not None), ("--backward", backward), ("--blank", blank is not None)):
        if on:
            raise click.UsageError(f"{option} does not go with the html page, which recomputes the forward graph's "
                                   "numbers as its inputs change: draw an image (-o FILE.svg)")


def _write_page(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, out: str | None,
                opts: dict) -> None:
    """The interactive page, at the given inputs; an input without a value starts at PAGE_START."""
    from ..views.page import page

    missing = [graph.node_names.primary(i) for i in graph.leaves
               if graph.values[i] is None and graph.node_names.primary(i) not in inputs]
    notes = tuple(f"{name} had no value: it starts at {PAGE_START:g}" for name in missing)
    ev = evaluate(graph, {**dict.fromkeys(missing, PAGE_START), **inputs}, output=output_name, strict=strict)
    for warning in ev.warnings:
        click.echo(warning, err=True)
    target = out or _default_name(graph.source.filename, "html")
    _claim_targets(target, out, None, graph.source.filename, "html")
    title = os.path.basename(graph.source.filename).strip("<>") or "graph"
    text = page(graph, ev, render.options(**opts), title, notes)
    write_output(target, text.encode("utf-8"), option="-o")
    if target != "-":
        click.echo(f"wrote {target}", err=True)


def _sheet_annotate(kinds: frozenset[str] | None, annotate: str, collapse: bool, backward: bool,
                    frames_dir: str | None) -> str:
    """An exercise sheet draws the numbers it blanks (--blank local adds the local
    derivatives to --annotate); it blanks single quantities, which a collapsed box's
    sums, the gradient graph's nodes and the frames' captions are not."""
    if kinds is None:
        return annotate
    clash = [option for option, on in (("--collapse", collapse), ("--backward", backward),
                                       ("--frames", frames_dir is not None)) if on]
    if clash:
        raise click.UsageError(f"--blank draws an exercise sheet of the expanded forward graph: not with {clash[0]}")
    shown = [a.strip() for a in annotate.split(",") if a.strip()]
    return ",".join(shown + [kind for kind in sorted(kinds) if kind not in shown])


def _check_backward_options(backward: bool, wrt: str | None, raw: bool, focus: str | None, frames_dir: str | None) -> None:
    if not backward:
        given = [name for name, on in (("--wrt", wrt is not None), ("--no-simplify", raw)) if on]
        if given:
            raise click.UsageError(f"{' and '.join(given)} {'go' if len(given) > 1 else 'goes'} with --backward, "
                                   "which draws the gradient graph")
        return
    if frames_dir is not None:
        raise click.UsageError("--frames draws the passes step by step on the forward graph; --backward draws the "
                               "gradient graph: use one or the other")
    if focus is not None:
        raise click.UsageError("--focus draws a part of the forward graph; --backward draws all of it with its "
                               "gradient graph: use one or the other (--wrt NAME draws the gradient of one input)")


def _backward_scene(graph: Graph, ev: Evaluation | None, inputs: dict[str, float], output_name: str | None,
                    wrt: str | None, simplify: bool, opts: dict):
    """The forward graph with its gradient graph: the derivatives of the output drawn (the
    first declared, or --output's) with respect to --wrt's names (default: all inputs and params)."""
    from ..engine.evaluator import forward, output_node
    from ..transform.grad import grad
    from ..views.render.backward import backward_scene

    listed = output_list(wrt, "--wrt")  # as `cgraph grad --wrt` reads it: w[1,2] is one name
    names = [listed] if isinstance(listed, str) else listed
    if not opts["collapse"] and len(graph) > opts["max_render_nodes"]:
        render.scene(graph, None, **opts)  # refuses the forward graph alone, before differentiating it
    differentiated = graph
    if output_name is not None:
        output_node(graph, output_name)  # an unknown name: the message eval gives
        differentiated = graph.with_outputs([output_name])
    gradient = grad(differentiated, names, simplify=simplify)
    values = forward(gradient, inputs) if ev is not None else None
    return backward_scene(graph, ev, gradient, values, render.options(**opts), simplified=simplify)


def _dpi(dpi: int | None, fmt: str) -> int:
    if dpi is not None and fmt != "png":
        click.echo(f"note: --dpi applies to png only; {fmt} ignores it", err=True)
    return render.DEFAULT_DPI if dpi is None else dpi


def _evaluate_if_given(graph: Graph, inputs: dict[str, float], output_name: str | None,
                       strict: bool) -> tuple[Evaluation | None, list[str]]:
    """The evaluation (its warnings printed), or None when no input value is given and
    some are needed: the diagram then shows the structure alone. Also the leaves without
    a value, for --frames' message."""
    missing = [graph.node_names.primary(i) for i in graph.leaves
               if graph.values[i] is None and graph.node_names.primary(i) not in inputs]  # a leaf always has a name
    ev = None if (missing and not inputs) else evaluate(graph, inputs, output=output_name, strict=strict)
    if ev is not None:
        for warning in ev.warnings:
            click.echo(warning, err=True)
    return ev, missing


def _format(out: str | None, fmt: str | None) -> str:
    ext = os.path.splitext(out)[1].lower() if out and out != "-" else ""
    by_ext = EXTENSIONS.get(ext)
    if fmt and by_ext and fmt != by_ext:
        raise click.UsageError(f"-o {out} says {by_ext} but --format says {fmt}")
    if out and out != "-" and ext and not by_ext and not fmt:
        raise click.UsageError(f"-o {out}: unknown extension {ext}; use {', '.join(EXTENSIONS)} or --format")
    return fmt or by_ext or "svg"


def _default_name(source_file: str, fmt: str = "svg") -> str:
    """The input's stem with the format's extension (intro.cg -> intro.svg), in the current directory."""
    stem = os.path.splitext(os.path.basename(source_file))[0].strip("<>") or "graph"
    return f"{stem}.{_EXTENSION[fmt]}"


def _encode(scene, fmt: str, dpi: int = render.DEFAULT_DPI) -> bytes:
    from ..views.render.dot import to_digraph
    from ..views.render.mermaid import to_mermaid

    if fmt == "mermaid":
        return to_mermaid(scene).encode("utf-8")
    source = to_digraph(scene).source
    if fmt == "dot":
        return source.encode("utf-8")
    return render.image(source, fmt, dpi=dpi)


def _claim_targets(target: str | None, given: str | None, frames_dir: str | None, source_file: str, fmt: str) -> None:
    """Before drawing anything: the default -o name and the frames' names, which the
    options do not spell out, must not name a file this run reads or writes."""
    files = run_files()
    if files is None:
        return
    try:
        files.write("-o", target)
    except OutputClash as exc:
        if target is None or target == given:
            raise
        raise OutputClash(f"{exc.message} (without -o the diagram goes to the program's name with .{_EXTENSION[fmt]})") from None
    if frames_dir is not None:
        stem, ext = _frame_stem(source_file), _EXTENSION[fmt]
        files.write_pattern("--frames", frames_dir, *(f"{stem}-[0-9]*-{phase}.{ext}" for phase in ("forward", "backward")))


def _frame_stem(source_file: str) -> str:
    return os.path.splitext(_default_name(source_file))[0]


def _write_frames(graph: Graph, ev, directory: str, fmt: str, source_file: str, opts: dict,
                  dpi: int = render.DEFAULT_DPI) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"--frames {directory}: cannot create it: {exc.strerror or exc}") from None
    stem = _frame_stem(source_file)
    ext = _EXTENSION[fmt]
    count = 0
    for label, data in _frame_files(graph, ev, fmt, opts, dpi):
        write_output(os.path.join(directory, f"{stem}-{label}.{ext}"), data, option="--frames")
        count += 1
    click.echo(f"wrote {count} frames to {directory}", err=True)


def _frame_files(graph: Graph, ev: Evaluation, fmt: str, opts: dict, dpi: int):
    """Each frame's file label and contents: images all drawn at one layout; DOT and
    Mermaid text as they are (laid out by whoever draws them)."""
    if fmt in render.IMAGE_FORMATS:
        yield from render.frame_images(graph, ev, fmt, dpi=dpi, **opts)
        return
    for label, scene in render.frames(graph, ev, **opts):
        yield label, _encode(scene, fmt, dpi)
