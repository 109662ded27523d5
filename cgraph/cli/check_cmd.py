"""`cgraph check`: backprop's gradients checked against central finite differences."""

from __future__ import annotations

import json

import click

from ..engine import gradient_check
from ..errors import EXIT_FILE_ERROR
from ..frontend.builder import DEFAULT_MAX_NODES
from ..ir.graph import Graph
from ..views import checkview
from . import EXIT_CODES_HELP
from .common import Count, FiniteFloat, ProgramCommand, evaluation_options, with_program


CHECK_EPILOG = f"""\b
Examples:
  cgraph check samples/mlp.cg
  cgraph check samples/intro.cg --x 1 --y 3 --z -3 --format json
  cgraph check -e 'relu(x) * y' --x 0 --y 2
  cgraph check -e 'exp(x*y) + log(x)' --x 1 --y 0.5 --order 2

With --order 2 the Hessian (from the gradient graph, as `cgraph hessian`
computes it) is checked against central differences of the backward
pass's gradient, entry by entry (row x, column y: d/dy (dg/dx)), and for
symmetry: max |H[i][j] - H[j][i]| within atol + rtol * max |H|.

Exit code 0 when every gradient matches (or sits on a kink, flagged
KINK), 1 when one does not (FAIL) or is inf or nan (NONFINITE). {EXIT_CODES_HELP[len(chr(8)) + 1:]}
"""


@click.command("check", cls=ProgramCommand, epilog=CHECK_EPILOG, short_help="Check gradients against finite differences.")
@with_program
@evaluation_options
@click.option("--eps", type=FiniteFloat(0, gradient_check.MAX_EPS, min_open=True, max_open=True),
              default=gradient_check.DEFAULT_EPS, show_default=True, help="Relative step of the central difference: h = eps * max(1, |x|).")
@click.option("--rtol", type=FiniteFloat(min=0), default=gradient_check.DEFAULT_RTOL, show_default=True,
              help="Relative tolerance.")
@click.option("--atol", type=FiniteFloat(min=0), default=gradient_check.DEFAULT_ATOL, show_default=True,
              help="Absolute tolerance.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="How to print the result.")
@click.option("--order", type=Count(1, 2), default=1, show_default=True,
              help="1: the gradient; 2: the Hessian against differences of the gradient, and its symmetry.")
def check_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, eps: float,
                  rtol: float, atol: float, fmt: str, order: int = 1, max_nodes: int = DEFAULT_MAX_NODES) -> None:
    """Check FILE's backprop gradients against central finite differences,
    as PyTorch's gradcheck does, for every input and param: a row per
    input with the analytic and numeric gradient, their absolute and
    relative error, and OK, FAIL, KINK (relu/abs at 0, a max/min tie:
    not differentiable there, so not a failure) or NONFINITE (the
    analytic or the numeric gradient is inf or nan, as sqrt's at 0: no
    number to compare, so it counts as a failure, exit 1).

    A file with several outputs (output a, b) is checked for the first."""
    if order == 2:
        _check_hessian(graph, inputs, output_name, strict, eps, rtol, atol, fmt, max_nodes)
        return
    rows = gradient_check.gradcheck(graph, inputs, output=output_name, eps=eps, rtol=rtol, atol=atol, strict=strict)
    if fmt == "json":
        click.echo(json.dumps(checkview.to_dict(rows, eps, rtol, atol), indent=2, allow_nan=False))
    else:
        from rich.console import Console

        from .output import print_rich

        print_rich(Console(soft_wrap=False), checkview.table(rows))
    if not checkview.passed(rows):
        raise click.exceptions.Exit(EXIT_FILE_ERROR)


def _check_hessian(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, eps: float,
                   rtol: float, atol: float, fmt: str, max_nodes: int) -> None:
    """--order 2: a row per entry of the Hessian, and its symmetry."""
    from ..engine.hessian import hessian_check
    from ..views import hessianview

    result = hessian_check(graph, inputs, output=output_name, eps=eps, rtol=rtol, atol=atol, strict=strict,
                           max_nodes=max_nodes)
    if fmt == "json":
        click.echo(json.dumps(hessianview.check_to_dict(result, eps, rtol, atol), indent=2, allow_nan=False))
    else:
        from rich.console import Console

        from .output import print_rich

        print_rich(Console(soft_wrap=False), hessianview.check_table(result))
    if not result.passed:
        raise click.exceptions.Exit(EXIT_FILE_ERROR)
