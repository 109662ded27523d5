"""`cgraph grad`: the derivatives of a program, written as a program."""

from __future__ import annotations

import click

from ..errors import InputError
from ..ir.graph import Graph
from ..ir.tape import paused_gc
from ..transform.grad import MAX_ORDER, gradient_program
from ..views.program import program_text
from . import exit_codes_help
from .common import Count, ProgramCommand, output_list, program_options, read_graph

EPILOG = f"""\b
Examples:
  cgraph grad samples/intro.cg
  cgraph grad samples/intro.cg | cgraph eval - --x 1 --y 3 --z -3
  cgraph grad -e 'y = tanh(x)' --wrt x --order 4 -o d4tanh.cg
  cgraph grad samples/neuron.cg --no-simplify | cgraph render - -o backward.svg

\b
The result is an ordinary program: the inputs and params of FILE (with
their defaults), one named statement per gradient the backward pass
computes (dg_dp: d g/d p; a comment says which node of FILE it belongs
to), and `output` of the derivatives: dg_dx, dg_dy, ... for order 1,
d2g_dx_dy (d/dy of dg_dx) for order 2, and so on. Order 1 is reverse
mode (backprop written out); each further order is forward mode over it
(one tangent per --wrt name). Simplified by default: constants folded,
equal nodes shared, exact identities (x*1 -> x, never x*0 -> 0), unused
nodes dropped; --no-simplify shows the transformation as it is.

{exit_codes_help("the graph grows past --max-nodes")}
"""


@click.command("grad", cls=ProgramCommand, epilog=EPILOG, short_help="The gradient, as a program.")
@program_options
@click.option("--wrt", metavar="NAME,...", help="Differentiate with respect to these inputs/params. [default: all]")
@click.option("--order", type=Count(1, MAX_ORDER), default=1, show_default=True,
              help="1: the gradient; 2: second derivatives (the Hessian's entries); and so on.")
@click.option("--simplify/--no-simplify", default=True, show_default=True,
              help="Fold constants, share equal nodes, drop unused ones.")
@click.option("-o", "--out", "out", metavar="FILE", default="-", help="Write the program to FILE (atomically) instead of stdout.")
def grad_command(file: str | None, expr: str | None, input_pairs: tuple[str, ...], inputs_file: str | None,
                 output_name: str | None, max_nodes: int, no_cache: bool, wrt: str | None, order: int, simplify: bool,
                 out: str) -> None:
    """Write the derivatives of FILE's output as a program (.cg text) that
    every command reads: evaluate it, draw it, differentiate it again.

    With several outputs (output a, b, or --output a,b), each output's
    derivatives are written (a Jacobian's entries)."""
    from .output import write_output

    ctx = click.get_current_context()
    if input_pairs or inputs_file or ctx.meta.get("cgraph.input_pairs"):
        raise click.UsageError("grad writes a program and evaluates nothing: give input values to the command "
                               "that reads it (cgraph grad f.cg | cgraph eval - --x 1)")
    with paused_gc():  # (see paused_gc: the whole command builds, transforms and writes one big graph)
        text = _program(read_graph(file, expr, max_nodes, no_cache=no_cache), output_name, wrt, order, simplify, max_nodes)
    write_output(out, text.encode("utf-8"), option="-o")
    if out != "-":
        click.echo(f"wrote {out}", err=True)


def _program(graph: Graph, output_name: str | None, wrt: str | None, order: int, simplify: bool, max_nodes: int) -> str:
    """The text of the derivative program."""
    outputs = output_list(output_name)
    if outputs is not None:
        names = [outputs] if isinstance(outputs, str) else outputs
        unknown = [name for name in names if name not in graph.names]
        if unknown:
            from ..errors import name_hint

            raise InputError(f"--output {unknown[0]}: no node has that name" + name_hint(unknown[0], graph.names))
        graph = graph.with_outputs(names)
    wrt_names = output_list(wrt, "--wrt")
    wrt_list = None if wrt_names is None else [wrt_names] if isinstance(wrt_names, str) else wrt_names
    derivative, notes = gradient_program(graph, wrt_list, order, simplify=simplify, max_nodes=max_nodes)
    what = "gradient" if order == 1 else f"derivatives of order {order}"
    source = graph.source.filename
    header = (f"The {what} of {', '.join(graph.output_names)} in {source}, written by cgraph grad"
              + ("" if simplify else " (not simplified)") + ".")
    by_name: dict[int | str, str] = dict(notes.items())
    return program_text(derivative, notes=by_name, header=header)
