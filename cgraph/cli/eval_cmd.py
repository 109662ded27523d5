"""`cgraph eval`: values and gradients of every node (with --data: of every row of a file)."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from ..views import report
from ..engine.evaluator import evaluate
from ..engine.tangent import JVP, jvp, parse_direction
from ..ir.graph import Graph
from . import EXIT_CODES_HELP
from .batch_cli import (CHUNK_ROWS_HELP, DATA_FILE_FORMATS, DATA_FORMAT_HELP, DELIMITER_HELP, THREADS_HELP, eval_data,
                        one_stdin)
from .common import Count, ProgramCommand, evaluation_options, output_list, with_program
from .output import format_for
from .dask_cli import check_engine_threads, engine_options

EPILOG = f"""\b
Examples:
  cgraph eval samples/intro.cg --x 1 --y 3 --z -3
  cgraph eval samples/rnn.cg --x 0.1,0.2,0.3,0.4,0.5 --show inputs
  cgraph eval -e 'tanh(w*x + b)' --w 0.5 --x 2 --b 0 --format json
  cgraph eval samples/mlp.cg --output 'h[2]' --format plain
  cgraph eval samples/intro.cg --x 1 --y 3 --z -3 --tangent x=1,y=0.5
  cgraph eval samples/linreg.cg --data samples/linreg.csv -o predictions.csv
  cgraph eval samples/xor.cg --data samples/xor.csv --format jsonl --seed 0
  tr , ';' < samples/linreg.csv | cgraph eval samples/linreg.cg --data - --data-format csv --delimiter ';'
  cgraph eval samples/linreg.cg --data 'samples/linreg-parts/*.csv' --engine dask --workers 2 -o rows.parquet

\b
With --data, the file is evaluated for every row (columns bind inputs by
name: x, x[1], w[1,2]) and one line per row is written: the data row's
line number, the output's value and the gradient w.r.t. every input and
param (--format csv, the default, or jsonl). Rows are evaluated in
vectorized chunks and streamed, so files of any length fit in memory:
to stdout each chunk's rows are written as soon as they are computed (an
error in a later row ends the output there, with exit 2 for a bad row);
-o FILE is written only when every row succeeded. --data may be a
directory or a quoted glob ('parts/*.csv'): the files in sorted order, as
one. --engine dask spreads the files over a Dask cluster's workers (the
same rows, bit for bit; -o DIR/ writes a part file per partition, and
-o FILE.parquet writes Parquet). On a terminal, stderr
shows the rows done. --show does not apply (every row gives the output
and all gradients).

\b
With --tangent (forward mode), every node's derivative along a direction
in the inputs' space is added: a tangent column, and JSON "tangents" and
"directional_derivative" (= gradient · direction). Inputs and params the
direction leaves out move by 0; indexed names are fine: --tangent
'w[1,2]=1,b=-0.5'. Not with --data.

{EXIT_CODES_HELP}
"""

EVAL_ON_ERROR_HELP = ("A bad row (a missing column, a non-number): fail (exit 2; rows before it are already on "
                      "stdout, -o FILE is left as it was) or skip it. Needs --data.")
SCALAR_FORMATS = report.FORMATS
DATA_FORMATS = ("csv", "jsonl")
TANGENT_HELP = ("Forward mode: also each node's derivative along this direction (x=1,y=0.5; inputs and params "
                "left out: 0), gradient · direction. May be repeated. Not with --data.")


@click.command("eval", cls=ProgramCommand, epilog=EPILOG, short_help="Values and gradients of every node.")
@one_stdin
@with_program
@evaluation_options
@click.option("--format", "fmt", type=click.Choice(SCALAR_FORMATS + ("jsonl",)), default=None,
              help="How to print the result: table (default), plain, json or csv; with --data csv (default) or jsonl.")
@click.option(
    "--show", type=click.Choice(report.SHOW), default="named", show_default=True,
    help="Rows: inputs (output and inputs/params only), named (every named node), all (every node). Not with --data.",
)
@click.option("--data", "data_path", metavar="FILE",
              help="Evaluate for every row of a .csv, .tsv, .jsonl or .parquet file (- for standard input), "
                   "or of a directory or quoted glob of them ('parts/*.csv', in sorted order).")
@click.option("--data-format", type=click.Choice(DATA_FILE_FORMATS), default=None, help=DATA_FORMAT_HELP)
@click.option("--delimiter", metavar="CHAR", default=None, help=DELIMITER_HELP)
@click.option("-o", "--out", "out", metavar="FILE", default="-", help="Write the result to FILE (atomically) instead of stdout; without --format the suffix says the format (.json, .csv; with --data .jsonl, .parquet, else CSV).")
@click.option("--chunk-rows", type=Count(min=1), default=None, help=CHUNK_ROWS_HELP + " Needs --data.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default=None, help=EVAL_ON_ERROR_HELP)
@click.option("--threads", type=Count(min=1), default=None, help=THREADS_HELP + " Needs --data.")
@click.option("--tangent", "tangent_texts", multiple=True, metavar="NAME=V,...", help=TANGENT_HELP)
@engine_options
def eval_command(graph: Graph, inputs: dict[str, float], output_name: str | None, strict: bool,
                 fmt: str | None, show: str, data_path: str | None, out: str, chunk_rows: int | None, on_error: str | None,
                 data_format: str | None, delimiter: str | None, threads: int | None = None,
                 tangent_texts: tuple[str, ...] = (), engine: str = "local", scheduler: str | None = None,
                 workers: int | None = None) -> None:
    """Evaluate FILE: the value of every node and its gradient by backprop.

    Inputs are given as --NAME VALUE (negative values fine: --z -3); an
    indexed input takes a list: --x 1,2,3 binds x[1], x[2], x[3]. Names
    declared with a default (input x = 1.5, param w = 0.1) may be left out.
    FILE may be - for standard input.

    Several outputs (output a, b in the file, or --output a,b) give the
    Jacobian: a gradient column per output (JSON adds "outputs" and
    "jacobian"; with --data, every output's value and gradients per row).
    """
    ctx = click.get_current_context()
    outputs = output_list(output_name)  # --output a,b: several outputs, a Jacobian
    _refuse_tangent_with_data(ctx, tangent_texts, data_path)
    if data_path is not None:
        _check_data_options(ctx, fmt, show, out)
        options: dict[str, Any] = dict(data_path=data_path, target=out, chunk_rows=chunk_rows, on_error=on_error or "fail",
                       strict=strict, program_file=ctx.params.get("file"), data_format=data_format,
                       delimiter=delimiter)
        check_engine_threads(ctx, engine, threads)
        if engine == "dask":
            from .dask_cli import eval_dask

            eval_dask(graph, inputs, outputs, fmt=fmt, scheduler=scheduler, workers=workers, **options)
        else:
            eval_data(graph, inputs, outputs, fmt=fmt, threads=threads, **options)
        return
    for given, name in ((chunk_rows, "--chunk-rows"), (on_error, "--on-error"), (data_format, "--data-format"),
                        (delimiter, "--delimiter"), (threads, "--threads")):
        if given is not None:
            raise click.UsageError(f"{name} goes with --data FILE", ctx)
    if fmt == "jsonl":
        raise click.UsageError("--format jsonl goes with --data FILE (one line per row); for one evaluation use json", ctx)
    fmt = format_for(out, fmt, {".json": "json", ".csv": "csv"}, "table")
    tangent = _forward_mode(graph, inputs, outputs, tangent_texts)  # a bad direction fails before any work
    result = evaluate(graph, inputs, output=outputs, strict=strict)
    for warning in result.warnings:
        click.echo(warning, err=True)
    if out != "-":
        from .output import write_output

        write_output(out, _render(result, fmt, show, tangent).encode(), option="-o")
        click.echo(f"wrote {out}", err=True)
    elif fmt == "table":
        from rich.console import Console

        from .output import print_rich

        print_rich(Console(soft_wrap=False), report.to_table(result, show, tangent))
    else:
        click.echo(_render(result, fmt, show, tangent), nl=False)


def _refuse_tangent_with_data(ctx: click.Context, texts: tuple[str, ...], data_path: str | None) -> None:
    # Tangents per row would be another report (a tangent column beside each row's
    # gradients, and a direction per row?); forward mode is shown on one evaluation, so
    # --tangent with --data is refused rather than ignored.
    if texts and data_path is not None:
        raise click.UsageError("--tangent goes with one evaluation, not with --data", ctx)


def _forward_mode(graph: Graph, inputs: dict[str, float], outputs: str | list[str] | None,
                  texts: tuple[str, ...]) -> JVP | None:
    """The tangents along --tangent's direction, None without it. (Every node's tangent
    comes from the one sweep; the outputs only pick the headline, the first.)"""
    if not texts:
        return None
    headline = outputs[0] if isinstance(outputs, list) else outputs
    return jvp(graph, inputs, parse_direction(graph, texts), output=headline)


def _check_data_options(ctx: click.Context, fmt: str | None, show: str, out: str) -> None:
    """What --format, --show and -o may be with --data."""
    if fmt is not None and fmt not in DATA_FORMATS:
        raise click.UsageError(f"with --data, --format is csv or jsonl, not {fmt}", ctx)
    if format_for(out, fmt, {".json": "json"}, "csv") == "json":  # CSV in a .json file would be no one's wish
        raise click.UsageError(f"-o {out}: with --data each row is a line: name it .jsonl for JSON Lines "
                               "(or .csv, .parquet), or give --format csv|jsonl", ctx)
    if ctx.get_parameter_source("show") not in (None, ParameterSource.DEFAULT):
        # Each row gives the output's value and every gradient, whatever --show says:
        # refusing beats silently ignoring it.
        raise click.UsageError(
            f"--show {show} goes with one evaluation; with --data each row has the output's value and "
            "its gradient w.r.t. every input and param (use --output NAME for another node's)", ctx)


def _render(result, fmt: str, show: str, tangent: JVP | None = None) -> str:
    if fmt == "json":
        return report.to_json(result, show, tangent) + "\n"
    if fmt == "csv":
        return report.to_csv(result, show, tangent)
    if fmt == "plain":
        return report.to_plain(result, show, tangent)
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True, soft_wrap=False).print(report.to_table(result, show, tangent))
    return report.strip_line_ends(buffer.getvalue())
