"""`cgraph eval`: values and gradients of every node."""

from __future__ import annotations

import click

from .. import report
from ..evaluate import evaluate
from ..ir import Graph
from . import EXIT_CODES_HELP
from .common import ProgramCommand, with_program

EPILOG = f"""\b
Examples:
  cgraph eval samples/intro.cg --x 1 --y 3 --z -3
  cgraph eval samples/rnn.cg --x 0.1,0.2,0.3,0.4,0.5 --show inputs
  cgraph eval -e 'tanh(w*x + b)' --w 0.5 --x 2 --b 0 --format json
  cgraph eval samples/mlp.cg --output 'h[2]' --format plain

{EXIT_CODES_HELP}
"""


@click.command("eval", cls=ProgramCommand, epilog=EPILOG, short_help="Values and gradients of every node.")
@with_program
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="table", show_default=True, help="How to print the result.")
@click.option(
    "--show", type=click.Choice(report.SHOW), default="named", show_default=True,
    help="Rows: inputs (output and inputs/params only), named (every named node), all (every node).",
)
@click.option("--strict", is_flag=True, help="Fail (exit 1) if any node's value is inf or nan.")
def eval_command(graph: Graph, inputs: dict[str, float], output_name: str | None, fmt: str, show: str, strict: bool) -> None:
    """Evaluate FILE: the value of every node and its gradient by backprop.

    Inputs are given as --NAME VALUE (negative values fine: --z -3); an
    indexed input takes a list: --x 1,2,3 binds x[1], x[2], x[3]. Names
    declared with a default (input x = 1.5, param w = 0.1) may be left out.
    FILE may be - for standard input.
    """
    result = evaluate(graph, inputs, output=output_name, strict=strict)
    for warning in result.warnings:
        click.echo(warning, err=True)
    if fmt == "table":
        from rich.console import Console

        Console(soft_wrap=False).print(report.to_table(result, show))
    elif fmt == "json":
        click.echo(report.to_json(result, show))
    elif fmt == "csv":
        click.echo(report.to_csv(result, show), nl=False)
    else:
        click.echo(report.to_plain(result, show), nl=False)
