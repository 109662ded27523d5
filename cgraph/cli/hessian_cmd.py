"""`cgraph hessian`: the output's value, gradient and Hessian matrix."""

from __future__ import annotations

import json

import click

from ..frontend.builder import DEFAULT_MAX_NODES
from ..ir.graph import Graph
from ..views import hessianview
from . import EXIT_CODES_HELP
from .common import PRECISION, ProgramCommand, evaluation_options, output_list, with_program
from .output import format_for

EPILOG = f"""\b
Examples:
  cgraph hessian -e 'x^2 * y' --x 1 --y 3
  cgraph hessian samples/intro.cg --x 1 --y 3 --z -3 --wrt x,z --format json
  cgraph hessian -e 'exp(x*y)' --x 1 --y 0.5 --format csv -o hessian.csv

\b
The Hessian is computed from the gradient graph, forward over reverse:
the program `cgraph grad --order 2` writes (whose outputs are d/dy (dg/dx)
for every pair x, y) is evaluated at the given inputs. The value and the
gradient come from the ordinary forward and backward pass.

{EXIT_CODES_HELP}
"""


@click.command("hessian", cls=ProgramCommand, epilog=EPILOG, short_help="Value, gradient and Hessian matrix.")
@with_program
@evaluation_options
@click.option("--wrt", metavar="NAME,...", help="The inputs and params to differentiate with respect to, in this "
                                                "order (default: all of them).")
@click.option("--format", "fmt", type=click.Choice(hessianview.FORMATS), default=None,
              help="table (the default), json ({output, value, wrt, gradient, hessian}), csv (a row per wrt name) "
                   "or plain; without it, -o FILE's suffix says (.json, .csv).")
@click.option("--precision", type=PRECISION, default=10, show_default=True,
              help="Significant digits in the table (json, csv and plain are full precision).")
@click.option("-o", "--out", "out", metavar="FILE", default="-", help="Write the result to FILE (atomically) instead of stdout.")
def hessian_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, wrt: str | None,
                    fmt: str | None, precision: int, out: str, max_nodes: int = DEFAULT_MAX_NODES) -> None:
    """The value of FILE's output, its gradient and its Hessian (the
    matrix of second derivatives d2g/(dx dy)) w.r.t. its inputs and params
    (or --wrt NAME,...), at the given input values."""
    from ..engine.hessian import hessian

    listed = output_list(wrt, "--wrt")  # as `cgraph grad --wrt` reads it: w[1,2] is one name
    names = [listed] if isinstance(listed, str) else listed
    result = hessian(graph, inputs, names, output=output_name, strict=strict, max_nodes=max_nodes)
    for warning in result.warnings:
        click.echo(warning, err=True)
    fmt = format_for(out, fmt, {".json": "json", ".csv": "csv"}, "table")
    if fmt == "table" and out == "-":
        from rich.console import Console

        from .output import print_rich

        print_rich(Console(soft_wrap=False), hessianview.table(result, precision))
        return
    text = _render(result, fmt, precision)
    if out == "-":
        click.echo(text, nl=False)
        return
    from .output import write_output

    write_output(out, text.encode(), option="-o")
    click.echo(f"wrote {out}", err=True)


def _render(result, fmt: str, precision: int) -> str:
    if fmt == "json":
        return json.dumps(hessianview.to_dict(result), indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return hessianview.to_csv(result)
    if fmt == "plain":
        return hessianview.to_plain(result)
    import io

    from rich.console import Console

    from ..views.report import strip_line_ends

    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True, soft_wrap=False).print(hessianview.table(result, precision))
    return strip_line_ends(buffer.getvalue())
