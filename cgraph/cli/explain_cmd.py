"""`cgraph explain` and `cgraph check`: the chain rule step by step, and gradients checked numerically."""

from __future__ import annotations

import json

import click

from ..engine import check as checking
from ..views import explain as explaining
from ..engine.evaluator import evaluate
from ..ir.graph import Graph
from ..views.numbers import json_number, short_number
from . import EXIT_CODES_HELP
from .common import PRECISION, Count, FiniteFloat, ProgramCommand, evaluation_options, with_program

EXPLAIN_EPILOG = f"""\b
Examples:
  cgraph explain samples/intro.cg --x 1 --y 3 --z -3
  cgraph explain samples/neuron.cg --only backward
  cgraph explain samples/rnn.cg --node 'h[3]' --format markdown

{EXIT_CODES_HELP}
"""


@click.command("explain", cls=ProgramCommand, epilog=EXPLAIN_EPILOG, short_help="Both passes, step by step.")
@with_program
@evaluation_options
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="text for the terminal, markdown (with LaTeX math) for notes, json for programs.")
@click.option("--only", type=click.Choice(["forward", "backward"]), help="Just one of the passes.")
@click.option("--node", metavar="NAME", help="Just the steps on the paths from NAME to the output.")
@click.option("--max-steps", type=Count(min=1), default=explaining.DEFAULT_MAX_STEPS, show_default=True,
              help="Stop after this many steps (a note says how many more there are).")
@click.option("--precision", type=PRECISION, default=6, show_default=True, help="Significant digits.")
def explain_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, fmt: str,
                    only: str | None, node: str | None, max_steps: int, precision: int) -> None:
    """Explain FILE's forward and backward passes in the words of a backprop
    lecture: each node's value from its arguments, then each gradient as the
    chain rule's product of the upstream gradient and the local derivative.
    A value used several times shows the sum of its contributions."""
    ev = evaluate(graph, inputs, output=output_name, strict=strict)
    for warning in ev.warnings:
        click.echo(warning, err=True)
    exp = explaining.steps(ev, only=only, node=node, max_steps=max_steps, precision=precision)
    if fmt == "json":
        click.echo(json.dumps(explaining.to_dict(exp), indent=2, allow_nan=False))
    elif fmt == "markdown":
        click.echo(explaining.to_markdown(exp), nl=False)
    else:
        from rich.console import Console
        from rich.text import Text

        console = Console(soft_wrap=True, highlight=False)
        section = None
        for phase, line in explaining.lines(exp):
            if phase != section:
                console.print(Text("Forward pass" if phase == "forward" else "Backward pass", style="bold"))
                section = phase
            console.print(Text("  " + line, style="green" if phase == "forward" else "red"))
        if exp.omitted:
            console.print(Text(f"  ... and {exp.omitted} more steps (raise --max-steps to see them)", style="dim"))


CHECK_EPILOG = f"""\b
Examples:
  cgraph check samples/mlp.cg
  cgraph check samples/intro.cg --x 1 --y 3 --z -3 --format json
  cgraph check -e 'relu(x) * y' --x 0 --y 2

Exit code 0 when every gradient matches (or sits on a kink, flagged
KINK), 1 when one does not. {EXIT_CODES_HELP[len(chr(8)) + 1:]}
"""


@click.command("check", cls=ProgramCommand, epilog=CHECK_EPILOG, short_help="Check gradients against finite differences.")
@with_program
@evaluation_options
@click.option("--eps", type=FiniteFloat(0, checking.MAX_EPS, min_open=True, max_open=True), default=checking.DEFAULT_EPS,
              show_default=True, help="Relative step of the central difference: h = eps * max(1, |x|).")
@click.option("--rtol", type=FiniteFloat(min=0), default=checking.DEFAULT_RTOL, show_default=True,
              help="Relative tolerance.")
@click.option("--atol", type=FiniteFloat(min=0), default=checking.DEFAULT_ATOL, show_default=True,
              help="Absolute tolerance.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="How to print the result.")
def check_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, eps: float,
                  rtol: float, atol: float, fmt: str) -> None:
    """Check FILE's backprop gradients against central finite differences,
    as PyTorch's gradcheck does, for every input and param: a row per
    input with the analytic and numeric gradient, their absolute and
    relative error, and OK, FAIL or KINK (relu/abs at 0, a max/min tie:
    not differentiable there, so not a failure)."""
    rows = checking.gradcheck(graph, inputs, output=output_name, eps=eps, rtol=rtol, atol=atol, strict=strict)
    passed = all(row.passed for row in rows)
    if fmt == "json":
        click.echo(json.dumps({
            "passed": passed, "eps": eps, "rtol": rtol, "atol": atol,
            "rows": [{"name": r.name, "analytic": json_number(r.analytic), "numeric": json_number(r.numeric),
                      "abs_error": json_number(r.abs_error), "rel_error": json_number(r.rel_error), "status": r.status}
                     for r in rows],
        }, indent=2, allow_nan=False))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"gradient check: {'all passed' if passed else 'FAILED'}", title_justify="left")
        for col in ("input", "analytic", "numeric", "abs error", "rel error", "status"):
            table.add_column(col, justify="left" if col in ("input", "status") else "right")
        for r in rows:
            style = {"OK": "green", "KINK": "yellow"}.get(r.status, "bold red")
            table.add_row(r.name, short_number(r.analytic), short_number(r.numeric),
                          format(r.abs_error, ".2e"), format(r.rel_error, ".2e"), r.status, style=style)
        from .output import print_rich

        print_rich(Console(soft_wrap=False), table)
    if not passed:
        raise click.exceptions.Exit(1)
