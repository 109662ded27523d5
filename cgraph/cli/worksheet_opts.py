"""--blank, --blank-nodes and --answers: `render` and `explain` as exercise sheets, one
set of options with one meaning on both, so a diagram and its steps share one key."""

from __future__ import annotations

from typing import Any, Callable

import click

from ..engine.evaluator import Evaluation
from ..errors import InputError, clip, did_you_mean
from ..views.worksheet import KINDS, Worksheet, answer_key, answers_format, worksheet
from .common import output_list
from .output import write_output

ANSWERS_HELP = ("Write the answer key, blank by blank: FILE.json, .csv (full precision), .md (a table), "
                "any other name text ([1] p = 4, with --precision digits).")


def worksheet_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--blank", "blank", metavar="LIST",
                     help="An exercise sheet: numbered blanks [1], [2], ... instead of these numbers: any of "
                          "values, grads, local (comma-separated). Given numbers stay: the inputs' values, "
                          "literals, the seed 1."),
        click.option("--blank-nodes", "blank_nodes", metavar="NAME,...",
                     help="Blank only these nodes' numbers (their values, gradients, and the local derivatives "
                          "of their uses), inputs too; with --blank, only its kinds. [default: every node]"),
        click.option("--answers", "answers", metavar="FILE", help=ANSWERS_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def blank_kinds(blank: str | None, blank_nodes: str | None, answers: str | None,
                stdout_taken: bool = False) -> frozenset[str] | None:
    """The kinds of numbers left blank (None: not an exercise sheet), checked before any
    work. `stdout_taken`: the sheet itself goes to standard output, so the key may not."""
    if answers == "-" and stdout_taken:
        raise click.UsageError("--answers - would mix the key into the sheet on standard output: give it a file")
    if blank is None and blank_nodes is None:
        if answers is not None:
            raise click.UsageError("--answers writes the key of an exercise sheet: give --blank values|grads|local "
                                   "or --blank-nodes NAME,... too")
        return None
    if blank is None:
        return frozenset(KINDS)
    kinds = {part.strip() for part in blank.split(",")}
    for kind in sorted(kinds):
        if kind not in KINDS:
            raise click.BadParameter(f"unknown '{clip(kind)}'; choose from {', '.join(KINDS)}" + did_you_mean(kind, KINDS),
                                     param_hint="'--blank'")
    return frozenset(kinds)


def make_sheet(ev: Evaluation | None, kinds: frozenset[str] | None, blank_nodes: str | None,
               missing: tuple[str, ...] | list[str] = ()) -> Worksheet | None:
    """The exercise sheet of this evaluation, or None without --blank/--blank-nodes."""
    if kinds is None:
        return None
    if ev is None:
        raise InputError("an exercise sheet blanks the numbers of an evaluation, so it needs input values: missing "
                         + ", ".join(missing))
    listed = output_list(blank_nodes, "--blank-nodes")
    names = [listed] if isinstance(listed, str) else listed
    if names == [""]:
        raise click.BadParameter("give one or more node names", param_hint="'--blank-nodes'")
    return worksheet(ev, kinds, names)


def write_answers(sheet: Worksheet | None, path: str | None, precision: int) -> None:
    if sheet is None or path is None:
        return
    write_output(path, answer_key(sheet, answers_format(path), precision).encode("utf-8"), option="--answers")
    if path != "-":
        click.echo(f"wrote {path}", err=True)
