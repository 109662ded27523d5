"""`cgraph explain`: the chain rule step by step."""

from __future__ import annotations

import json

import click

from ..engine.evaluator import evaluate
from ..ir.graph import Graph
from ..views import explain
from . import EXIT_CODES_HELP
from .common import PRECISION, Count, ProgramCommand, evaluation_options, with_program
from .worksheet_opts import blank_kinds, make_sheet, worksheet_options, write_answers

EXPLAIN_EPILOG = f"""\b
Examples:
  cgraph explain samples/intro.cg --x 1 --y 3 --z -3
  cgraph explain samples/neuron.cg --only backward
  cgraph explain samples/rnn.cg --node 'h[3]' --format markdown
  cgraph explain samples/intro.cg --x 1 --y 3 --z -3 --blank grads --answers key.txt
  cgraph explain samples/intro.cg --x 1 --y 3 --z -3 --format latex

{EXIT_CODES_HELP}
"""


@click.command("explain", cls=ProgramCommand, epilog=EXPLAIN_EPILOG, short_help="Both passes, step by step.")
@with_program
@evaluation_options
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "latex", "json"]), default="text",
              show_default=True, help="text for the terminal, markdown (with LaTeX math) for notes, latex (an "
              "align* environment to \\input into a .tex file), json for programs.")
@click.option("--only", type=click.Choice(["forward", "backward"]), help="Just one of the passes.")
@click.option("--node", metavar="NAME", help="Just the steps on the paths from NAME to the output.")
@click.option("--max-steps", type=Count(min=1), default=explain.DEFAULT_MAX_STEPS, show_default=True,
              help="Stop after this many steps (a note says how many more there are).")
@click.option("--precision", type=PRECISION, default=6, show_default=True, help="Significant digits.")
@worksheet_options
def explain_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool, fmt: str,
                    only: str | None, node: str | None, max_steps: int, precision: int,
                    blank: str | None, blank_nodes: str | None, answers: str | None) -> None:
    """Explain FILE's forward and backward passes in the words of a backprop
    lecture: each node's value from its arguments, then each gradient as the
    chain rule's product of the upstream gradient and the local derivative.
    A value used several times shows the sum of its contributions.

    A file with several outputs (output a, b) is explained for the first.

    With --blank (or --blank-nodes) the steps are an exercise sheet: numbered
    blanks instead of those numbers, numbered as `render` numbers them for the
    same options, and --answers FILE writes the key."""
    kinds = blank_kinds(blank, blank_nodes, answers, stdout_taken=True)
    ev = evaluate(graph, inputs, output=output_name, strict=strict)
    for warning in ev.warnings:
        click.echo(warning, err=True)
    sheet = make_sheet(ev, kinds, blank_nodes)
    exp = explain.steps(ev, only=only, node=node, max_steps=max_steps, precision=precision, blanks=sheet)
    write_answers(sheet, answers, precision)
    if fmt == "json":
        click.echo(json.dumps(explain.to_dict(exp), indent=2, allow_nan=False))
    elif fmt == "markdown":
        click.echo(explain.to_markdown(exp), nl=False)
    elif fmt == "latex":
        click.echo(explain.to_latex(exp), nl=False)
    else:
        from rich.console import Console
        from rich.text import Text

        console = Console(soft_wrap=True, highlight=False)
        for line, kind in explain.layout(exp):
            console.print(Text(line, style=explain.STYLES[kind]))
