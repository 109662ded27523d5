"""`cgraph export`: a program (and its gradient) as code for Python, NumPy, PyTorch or JAX."""

from __future__ import annotations

import shlex
from typing import Sequence

import click

from .. import __version__
from ..errors import InputError, did_you_mean, name_hint
from ..frontend.builder import DEFAULT_MAX_NODES
from ..ir.graph import Graph
from . import exit_codes_help
from .common import Count, ProgramCommand, no_cache_option, output_list, read_graph

TARGETS = ("python", "numpy", "torch", "jax", "latex")

EPILOG = f"""\b
Examples:
  cgraph export samples/intro.cg --to python -o intro.py
  cgraph export samples/linreg.cg --to numpy --wrt w,b -o linreg_np.py
  cgraph export samples/linreg.cg --to torch --name LinReg -o linreg_torch.py
  cgraph export samples/mlp.cg --to jax -o mlp_jax.py
  cgraph export samples/intro.cg --to latex --grad

\b
python: forward(inputs) -> float and value_and_grad(inputs) -> (value,
{{name: derivative}}), inputs keyed by cgraph's names ("w[1,2]"), with the
file's defaults; INPUTS and PARAMS; outputs(inputs) for several outputs.
Imports only math; inf and nan as cgraph gives them, never an exception.
numpy: the same functions on arrays (rows broadcast). torch: an nn.Module
whose params are nn.Parameters (float64). jax: f(params, inputs) and PARAMS
for jax.grad and jax.jit. The gradient of python and numpy is cgraph's
gradient graph written as code; torch and jax differentiate the code.
latex: the formulas as an aligned system, one line per named node (--grad:
the gradient's too).

{exit_codes_help("the graph grows past --max-nodes")}
"""


@click.command("export", cls=ProgramCommand, epilog=EPILOG, short_help="The program as Python, NumPy, PyTorch, JAX or LaTeX.")
@click.argument("file", required=False, metavar="FILE")
@click.option("-e", "--expr", metavar="EXPR", help="Export this program text instead of a FILE.")
@click.option("--to", "target", type=click.Choice(TARGETS), required=True, help="The language to write.")
@click.option("-o", "--out", "out", metavar="FILE", default="-", help="Write the code to FILE (atomically) instead of stdout.")
@click.option("--grad/--no-grad", default=None,
              help="python, numpy: write value_and_grad too (the default; torch and jax differentiate by "
                   "themselves); latex: the gradient's formulas too (not by default).")
@click.option("--wrt", metavar="NAME,...", help="python, numpy: the gradient's inputs/params. [default: all]")
@click.option("--name", "func", metavar="FUNC",
              help="The function's name [python, numpy: forward; jax: f], or torch's class [Model].")
@click.option("--output", "output_name", metavar="NAME,...", help="Export these named nodes instead of the file's outputs.")
@click.option("--max-nodes", type=Count(min=1), default=DEFAULT_MAX_NODES, show_default=True,
              help="Refuse to unroll a graph larger than this.")
@no_cache_option
def export_command(file: str | None, expr: str | None, target: str, out: str, grad: bool | None, wrt: str | None,
                   func: str | None, output_name: str | None, max_nodes: int, no_cache: bool) -> None:
    """Write FILE as code for --to: a Python module (the forward pass, one
    statement per named node with its source line in a comment, and for python
    and numpy its gradient; the module needs nothing of cgraph), or LaTeX."""
    from ..views.export_code import function_name_error
    from .output import write_output

    if click.get_current_context().meta.get("cgraph.input_pairs"):
        raise click.UsageError("export writes code and evaluates nothing: the inputs are the exported "
                               "function's arguments (declared defaults are its defaults)")
    wrt_list = _names(wrt, "--wrt")
    if wrt_list is not None and target in ("torch", "jax"):
        raise click.UsageError(f"--wrt applies to python and numpy: {target} differentiates the code itself")
    if func is not None and (why := function_name_error(func)):
        raise click.UsageError(why)
    graph = _chosen(read_graph(file, expr, max_nodes, no_cache=no_cache), output_name, wrt_list)
    grad = (target != "latex") if grad is None else grad  # value_and_grad is the point of a module
    header = _header(graph.source.filename, file, expr, target, out, grad, wrt, func, output_name)
    if target == "latex":
        text = _latex(graph, grad, wrt_list, header, max_nodes)
    else:
        text = module_code(graph, target, grad=grad, wrt=wrt_list, name=func, header=header, max_nodes=max_nodes)
    write_output(out, text.encode("utf-8"), option="-o")
    if out != "-":
        click.echo(f"wrote {out}", err=True)


def _chosen(graph: Graph, output_name: str | None, wrt_list: list[str] | None) -> Graph:
    """The graph with the outputs --output names, once --output and --wrt are checked."""
    outputs = _names(output_name, "--output")
    if outputs is not None:
        unknown = [name for name in outputs if name not in graph.names]
        if unknown:
            raise InputError(f"--output {unknown[0]}: no node has that name" + name_hint(unknown[0], graph.names))
        graph = graph.with_outputs(outputs)
    if wrt_list is not None:
        unknown = [name for name in wrt_list if name not in graph.inputs]
        if unknown:
            raise click.UsageError(f"--wrt {unknown[0]}: not an input or param of the program"
                                   + did_you_mean(unknown[0], graph.inputs))
    return graph


def _names(text: str | None, option: str) -> list[str] | None:
    names = output_list(text, option)
    return None if names is None else [names] if isinstance(names, str) else names


def module_code(graph: Graph, target: str, *, grad: bool = True, wrt: list[str] | None = None, name: str | None = None,
                header: Sequence[str] = (), max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """The exported module's text (python, numpy, torch, jax): for python and numpy with
    `grad`, cgraph's gradient graph of the first output is written as value_and_grad."""
    from ..transform.grad import gradient_program
    from ..views.export_code import Gradient, export_code

    gradient = None
    if grad and target in ("python", "numpy"):
        first = graph.with_outputs([graph.output_name])
        names = wrt if wrt is not None else list(graph.inputs)
        if names:
            derivative, notes = gradient_program(first, names, 1, simplify=True, max_nodes=max_nodes)
            gradient = Gradient(derivative, dict(notes.items()), tuple(names))
        else:  # nothing to differentiate: value_and_grad gives an empty dict
            gradient = Gradient(first, {}, ())
    return export_code(graph, target, gradient=gradient, name=name, header=header)


def _latex(graph: Graph, grad: bool, wrt: list[str] | None, header: Sequence[str], max_nodes: int) -> str:
    """--to latex: the formulas (cgraph/views/export_latex.py), and with --grad those of
    the gradient graph of every output."""
    from ..transform.grad import gradient_program
    from ..views.export_latex import export_latex

    gradient = gradient_program(graph, wrt, 1, max_nodes=max_nodes)[0] if grad and graph.inputs else None
    return export_latex(graph, gradient, wrt=wrt, header="\n".join(header))


def _header(source: str, file: str | None, expr: str | None, target: str, out: str, grad: bool,
            wrt: str | None, func: str | None, output_name: str | None) -> list[str]:
    """The module's first comment lines: where it comes from and how to make it again."""
    words = ["cgraph", "export", *([file] if file is not None else ["-e", expr or ""]), "--to", target]
    if target == "latex":
        words += ["--grad"] if grad else []
    else:
        words += [] if grad else ["--no-grad"]
    words += ["--wrt", wrt] if wrt else []
    words += ["--name", func] if func else []
    words += ["--output", output_name] if output_name else []
    words += ["-o", out] if out != "-" else []
    return [f"Generated by cgraph {__version__} from {source}: edit that, not this file.",
            f"Regenerate with: {shlex.join(words)}"]
