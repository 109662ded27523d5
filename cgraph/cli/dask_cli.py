"""`--engine dask` on `cgraph eval --data` and `cgraph train`: the options, and the glue
from the command line to cgraph/distributed/ (which imports Dask only when it is used)."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import click

from ..ir.graph import Graph
from .common import Count

ENGINES = ("local", "dask")
ENGINE_HELP = ("local (this process, default) or dask: a Dask cluster, local (--workers N processes) "
               "or --scheduler ADDRESS; a partition per data file or Parquet row groups (pip install 'cgraph[dask]').")


def check_engine_threads(ctx: click.Context, engine: str, threads: int | None) -> None:
    """--threads sizes the local engine's pool; a Dask worker runs one thread (one process per core)."""
    if engine == "dask" and threads is not None:
        raise click.UsageError("--threads is the local engine's; with --engine dask each worker process runs "
                               "one thread (--workers N sets how many)", ctx)


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, --scheduler and --workers; refused where they mean nothing."""
    for option in reversed([
        click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True, help=ENGINE_HELP),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="With --engine dask: an existing cluster's scheduler (tcp://host:8786)."),
        click.option("--workers", type=Count(min=1), default=None,
                     help="With --engine dask and no --scheduler: worker processes of the local cluster "
                          "(default: the number of cores)."),
    ]):
        command = option(command)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        ctx = click.get_current_context()
        engine, scheduler, workers = kwargs["engine"], kwargs["scheduler"], kwargs["workers"]
        if engine != "dask" and (scheduler is not None or workers is not None):
            raise click.UsageError("--scheduler and --workers go with --engine dask", ctx)
        out = kwargs.get("out")
        if engine != "dask" and isinstance(out, str) and out.endswith(("/", os.sep)):
            raise click.UsageError(f"-o {out}: a directory of part files (one per data file) goes with "
                                   "--engine dask; give a file name", ctx)
        if scheduler is not None and workers is not None:
            raise click.UsageError("--workers sizes a local cluster; with --scheduler the cluster has its own", ctx)
        if engine == "dask":
            if kwargs.get("data_path") is None:
                raise click.UsageError("--engine dask needs --data (its rows are what is spread over the workers)", ctx)
            if kwargs.get("data_path") == "-":
                raise click.UsageError("--engine dask reads files the workers can open, not standard input", ctx)
            from ..distributed.cluster import require_dask

            require_dask()
        return command(**kwargs)

    return wrapper


def program_of(graph: Graph):
    """What a worker rebuilds the graph from (the seed and --max-nodes as given)."""
    from ..distributed.local import ShippedProgram
    from ..frontend.builder import DEFAULT_SEED
    from ..frontend.size_limits import DEFAULT_MAX_NODES

    params = click.get_current_context().params
    seed = params.get("seed")
    max_nodes = params.get("max_nodes")
    return ShippedProgram(graph.source.text, graph.source.filename, DEFAULT_SEED if seed is None else seed,
                   DEFAULT_MAX_NODES if max_nodes is None else max_nodes, len(graph))


def _is_directory_target(target: str) -> bool:
    return target.endswith(("/", os.sep)) or os.path.isdir(target)


def eval_dask(graph: Graph, inputs: dict[str, float], outputs, *, data_path: str, fmt: str | None, target: str,
              chunk_rows: int | None, on_error: str, strict: bool, program_file: str | None,
              data_format: str | None, delimiter: str | None, scheduler: str | None, workers: int | None) -> None:
    """`cgraph eval FILE --data DATA --engine dask`: the rows of every partition, in input
    order, to stdout, one file (CSV, JSON Lines or Parquet by its suffix) or DIR/ (a part
    file per partition, written by the workers)."""
    from ..distributed.cluster import connect
    from ..distributed.rows import evaluate_to_parts
    from ..training.data.writer import out_format
    from ..training.rows import evaluate_rows
    from .batch_cli import _Progress, echo_err, open_data, require_numpy

    require_numpy()
    directory = target != "-" and _is_directory_target(target)
    out_fmt = out_format(target, fmt) if target != "-" and not directory else (fmt or "csv")
    datafile, binding = open_data(graph, data_path, inputs, params_ok=True, fmt=data_format, delimiter=delimiter)
    local_rows = evaluate_rows(graph, datafile, binding, inputs, output=outputs, chunk_rows=chunk_rows,
                               on_error=on_error, strict=strict, threads=1)  # checks the inputs; gathers the warnings
    job = _eval_job(graph, inputs, outputs, datafile, on_error, strict, chunk_rows)
    made = False
    try:
        # Made only now, once the data and inputs are known good: a run refused before
        # it starts leaves no directory behind.
        made = directory and _make_directory(target)
        with connect(scheduler, workers) as client, _Progress(datafile) as progress:
            advance = lambda k, n: progress.advance(n)  # noqa: E731
            if directory:
                written = evaluate_to_parts(client, job, datafile, local_rows, target, out_fmt, advance)
                rows_written = local_rows.rows
            else:
                rows_written = _eval_to_one(client, job, datafile, local_rows, target, out_fmt, program_file,
                                            data_path, advance)
    except BaseException:
        if made:
            _remove_if_empty(target)  # the directory this run made: a failed run leaves nothing
        raise
    for warning in local_rows.warnings():
        echo_err(warning)
    _say_written(target, rows_written, written if directory else None)


def _say_written(target: str, rows: int, parts: list[str] | None) -> None:
    from .batch_cli import echo_err

    if parts is not None:
        echo_err(f"wrote {rows} row{'s' if rows != 1 else ''} to {len(parts)} "
                 f"part file{'s' if len(parts) != 1 else ''} in {target}")
    elif target != "-":
        echo_err(f"wrote {rows} row{'s' if rows != 1 else ''} to {target}")


def _eval_job(graph: Graph, inputs: dict[str, float], outputs, datafile, on_error: str, strict: bool,
              chunk_rows: int | None):
    from ..distributed.local import EvalJob
    from ..training import data

    return EvalJob(program_of(graph), dict(inputs), outputs, on_error, strict, chunk_rows,
                   len(data.files_of(datafile)) > 1)


def _eval_to_one(client, job, datafile, local_rows, target: str, fmt: str, program_file: str | None,
                 data_path: str, advance) -> int:
    from typing import IO, cast

    from ..distributed.rows import evaluate_to_writer
    from ..training.data.writer import close_writer, row_writer
    from .batch_cli import _stdout_stream, _write_rows
    from .output import atomic_writer

    if target == "-" and fmt == "parquet":
        raise click.UsageError("Parquet is written to a file: -o FILE.parquet")
    sink = _stdout_stream() if target == "-" else atomic_writer(target, inputs=(program_file or "", data_path))
    with sink as out:
        writer = row_writer(cast("IO[bytes]", out), fmt, local_rows.output_name, local_rows.wrt_names,
                                 local_rows.row_word, local_rows.more_output_names)
        evaluate_to_writer(client, job, datafile, local_rows, lambda part: _write_rows(writer, out, part, target),
                           advance)
        close_writer(writer)
    return writer.rows


def _remove_if_empty(directory: str) -> None:
    try:
        os.rmdir(directory)
    except OSError:
        pass


def _make_directory(target: str) -> bool:
    """Create -o DIR/ (an existing directory was refused with the other outputs: the part
    files go to a new one); True if this run made it (and so may remove it). False only if
    another process made it meanwhile."""
    if os.path.isdir(target):
        return False
    try:
        os.makedirs(target)
    except OSError as exc:
        from .output import OutputError

        raise OutputError(f"cannot create -o {target}: {exc.strerror or exc}") from None
    return True


def cluster_trainer(ctx: click.Context, graph: Graph, datafile, binding, settings, inputs: dict[str, float], saved,
                    loss_name: str | None, on_error: str, scheduler: str | None, workers: int | None):
    """The trainer of `cgraph train --engine dask`: the cluster stays up until the command
    ends (the context closes it), the data on its workers."""
    from ..distributed.cluster import connect
    from ..distributed.train import ClusterTrainer
    from ..training.data import Skipped
    from .batch_cli import echo_err

    from dataclasses import replace

    settings = replace(settings, threads=1)  # the client's own passes: the workers are the parallelism
    client = ctx.with_resource(connect(scheduler, workers))
    skipped = Skipped()
    trainer = ClusterTrainer(client, program_of(graph), graph, datafile, binding, settings=settings, loss=loss_name,
                             given=inputs, start=saved.values if saved is not None else {}, on_error=on_error,
                             skipped=skipped)
    summary = skipped.summary(datafile.label)
    if summary:
        echo_err(summary)
    if trainer.unused:
        echo_err(f"note: the loss does not depend on {', '.join(trainer.unused[:8])}; "
                 f"{'it stays' if len(trainer.unused) == 1 else 'they stay'} as it starts")
    return trainer
