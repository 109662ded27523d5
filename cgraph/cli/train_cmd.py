"""`cgraph train`: gradient descent on a file's params over rows of data."""

from __future__ import annotations

import os

import click

from ..frontend.builder import DEFAULT_SEED
from ..ir.graph import Graph
from ..ops import PARAM
from . import exit_codes_help
from .batch_cli import (CHUNK_ROWS_HELP, DATA_FILE_FORMATS, DATA_FORMAT_HELP, DELIMITER_HELP, ON_ERROR_HELP, THREADS_HELP,
                        echo_err, one_stdin, open_data, require_numpy)
from .common import SEED, Count, FiniteFloat, ProgramCommand, with_program
from .dask_cli import check_engine_threads, engine_options
from .train_display import CallbackFanout, ProgressView, SigintGuard, TracePrinter, print_summary

EPILOG = f"""\b
Examples:
  cgraph train samples/linreg.cg --data samples/linreg.csv --lr 0.5 --epochs 200
  cgraph train samples/linreg.cg --data samples/linreg.csv --batch-size 1 --epochs 3 --trace 2
  cgraph train samples/xor.cg --data samples/xor.csv --optimizer adam --lr 0.3 --epochs 500 --save xor.json
  cgraph train -e 'param x = 2; y = x^4 - 2*x^2' --optimizer newton --epochs 8
  cgraph train samples/linreg.cg --data samples/linreg-parts --engine dask --workers 2 --lr 0.5


Then `cgraph eval samples/xor.cg --data samples/xor.csv --params xor.json`
evaluates every row with the learned params, and --init xor.json resumes.

\b
The loss is the file's output (or --loss NAME), averaged over the rows of
each batch. Each step is a forward pass, a backward pass and the update
W = W - lr * dL/dW (sgd; momentum and adam refine the step). Without
--data the given input values (options and declared defaults) are the one
row: the loss is a function of the params, minimized step by step.

newton is damped Newton's method (Levenberg-Marquardt): the step d solves
(H + lam I) d = dL/dW with H the Hessian of the batch's loss w.r.t. the
params (from the second-order gradient graph, as `cgraph hessian`
computes it); lam is 0 (a pure Newton step) while H is positive definite
and the step lowers the loss, else raised tenfold until it does, which
turns the step into a short gradient step; --lr scales the step (default
1). For up to 500 params. --save writes
the params after every epoch (atomically: an interrupt loses at most one
epoch); Ctrl-C stops after the current batch with the last epoch saved
(exit 130). A loss that becomes inf or nan stops the run, names the node
where it started and keeps the params of the last good epoch (exit 1). A
data row with an inf or nan input is a bad row (exit 2, or --on-error skip).

{exit_codes_help('the loss became inf/nan')}
"""

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


@click.command("train", cls=ProgramCommand, epilog=EPILOG, short_help="Learn params by gradient descent over data.")
@one_stdin
@with_program
@click.option("--data", "data_path", metavar="FILE",
              help="Training rows: a .csv, .tsv, .jsonl or .parquet file (- for standard input), or a directory "
                   "or quoted glob of them ('parts/*.csv'). "
                   "Without it the input values given (and defaults) are the one row.")
@click.option("--data-format", type=click.Choice(DATA_FILE_FORMATS), default=None, help=DATA_FORMAT_HELP)
@click.option("--delimiter", metavar="CHAR", default=None, help=DELIMITER_HELP)
@click.option("--allow-defaults", is_flag=True,
              help="Train even if an input the data lacks takes its declared default in every row.")
@click.option("--loss", "loss_name", metavar="NAME", help="The node to minimize (default: the file's output).")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Learning rate (default 0.01); for newton the scale of Newton's step (default 1).")
@click.option("--epochs", type=Count(min=0), default=100, show_default=True, help="Passes over the data (at most).")
@click.option("--batch-size", type=Count(min=1), default=None,
              help="Rows per step (default: all rows, full-batch; 1 is per-row SGD).")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam", "newton"]), default="sgd", show_default=True,
              help="sgd: W -= lr*g; momentum: v = m*v + g, W -= lr*v; adam: Adam (betas 0.9, 0.999); "
                   "newton: W -= lr*d, (H + lam I) d = g, H the Hessian (up to 500 params).")
@click.option("--momentum", type=FiniteFloat(0, 1, max_open=True), default=0.9, show_default=True,
              help="The momentum factor of --optimizer momentum (an error with another optimizer).")
@click.option("--shuffle/--no-shuffle", default=True, show_default=True, help="A new row order every epoch (with batches).")
@click.option("--seed", type=SEED, default=DEFAULT_SEED, show_default=True,
              help="Seed of random param initializations and of shuffling: runs repeat exactly.")
@click.option("--tol", type=FiniteFloat(min=0), default=0.0, help="Stop when an epoch improves the loss by less than this.")
@click.option("--patience", type=Count(min=1), default=None,
              help="Stop after this many epochs in a row without improvement (by more than --tol).")
@click.option("--max-time", type=FiniteFloat(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop after this much time (checked after each batch; --save keeps where training stands, "
                   "in the middle of an epoch if need be, and --init goes on from there).")
@click.option("--trace", type=Count(min=0), default=0, metavar="N",
              help="Print the first N steps: for each param W, dL/dW and W - lr * dL/dW.")
@click.option("--save", "save_path", metavar="FILE.json", help="Write the learned params after every epoch (atomically).")
@click.option("--init", "init_path", metavar="FILE.json", help="Start from params saved by --save (resume).")
@click.option("--params", "params_file", metavar="FILE.json",
              help="Start from these param values (saved by --save, or a plain JSON object), as eval --params "
                   "reads them: a new run from epoch 1 (--init resumes instead); --NAME values override them.")
@click.option("--log", "log_path", metavar="FILE.csv", help="Write the loss per epoch as CSV.")
@click.option("--plot", "plot_path", metavar="FILE", help="Draw the loss curve (.png, .svg or .pdf; needs matplotlib).")
@click.option("--chunk-rows", type=Count(min=1), default=None, help=CHUNK_ROWS_HELP)
@click.option("--threads", type=Count(min=1), default=None, help=THREADS_HELP)
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True, help=ON_ERROR_HELP)
@engine_options
def train_command(graph: Graph, inputs: dict[str, float], output_name: str | None, data_path: str | None,
                  loss_name: str | None, lr: float | None, epochs: int, batch_size: int | None, optimizer: str,
                  momentum: float, shuffle: bool, seed: int, tol: float, patience: int | None,
                  max_time: float | None, trace: int, save_path: str | None, init_path: str | None,
                  log_path: str | None, plot_path: str | None, chunk_rows: int | None, on_error: str,
                  data_format: str | None = None, delimiter: str | None = None, allow_defaults: bool = False,
                  threads: int | None = None, engine: str = "local", scheduler: str | None = None,
                  workers: int | None = None) -> None:
    """Train FILE's params by gradient descent on the rows of --data (or on
    the given input values).

    FILE declares its params (param w = 0.1, or param w = uniform(-1, 1) or
    normal(0, 0.5), drawn from --seed) and a loss, its output. Columns of
    the data bind inputs by name; other inputs come from options (or,
    with --allow-defaults, their defaults). At the end a table shows the learned params and the loss per
    epoch.

    A file with several outputs (output a, b) minimizes the first.
    """
    ctx = click.get_current_context()
    _check_start(ctx, init_path)
    loss_name = _loss_option(ctx, graph, loss_name, output_name)
    _check_momentum(ctx, optimizer)
    if plot_path:
        _check_plot(plot_path)
    require_numpy()
    from ..training.trainer import Settings, resume_point
    from ..training.finite import require_finite

    check_engine_threads(ctx, engine, threads)
    settings = Settings(
        lr=lr,  # type: ignore[arg-type]  # None: the optimizer's default
        epochs=epochs, batch_size=batch_size, optimizer=optimizer, momentum=momentum, shuffle=shuffle,
        seed=seed, tol=tol, patience=patience, max_time=max_time, chunk_rows=chunk_rows, threads=threads,
    )
    require_finite(inputs, "the value of '{}' is {} (given as an option)")
    saved, state = None, None
    if data_path is None:
        _check_no_data_options(ctx)
        data_label = None
        if init_path:
            saved, state = _read_init(init_path, graph, inputs, settings)
        trainer = _no_data_trainer(graph, settings, inputs, saved, loss_name)
    else:
        datafile, binding = open_data(graph, data_path, inputs, params_ok=False, fmt=data_format,
                                      delimiter=delimiter, defaults_ok=allow_defaults)
        data_label = datafile.label
        if init_path:
            saved, state = _read_init(init_path, graph, inputs, settings)
        if engine == "dask":
            from .dask_cli import cluster_trainer

            trainer = cluster_trainer(ctx, graph, datafile, binding, settings, inputs, saved, loss_name, on_error,
                                      scheduler, workers)
        else:
            trainer = _make_trainer(graph, datafile, binding, settings, inputs, saved, loss_name, chunk_rows, on_error)
    first_epoch, rows_done, loss_so_far = 1, 0, 0.0
    if saved is not None:
        first_epoch, rows_done, loss_so_far, note = resume_point(saved, trainer)
        if note:
            echo_err(f"note: --init {init_path}: {note}")
    saver = None
    if save_path:
        from ..training.saving import ParamsSaver

        saver = ParamsSaver(trainer, _SaveFile(save_path), file=graph.source.filename,
                            complete_loss=saved.epoch_loss if saved is not None else None)
    progress = ProgressView(settings.epochs, first_epoch)
    callbacks = CallbackFanout(SigintGuard(first_epoch), saver, TracePrinter(trainer, trace, data_label, progress),
                           progress)
    with trainer:  # its workers stop when the run and the summary's pass at the learned params are done
        with callbacks:
            outcome = trainer.run(callbacks, first_epoch=first_epoch, optimizer_state=state, rows_done=rows_done,
                                  loss_so_far=loss_so_far, keep_workers=True)
        print_summary(graph, trainer, outcome)
    if saver is not None and save_path is not None:
        _report_saved(saver.end(outcome), save_path, trainer.n)
    if log_path:
        _write_log(log_path, outcome)
    if plot_path and outcome.history:
        _plot(plot_path, outcome, trainer.loss_name)
    _exit(ctx, outcome, save_path)


def _check_no_data_options(ctx: click.Context) -> None:
    """Options about the data file, given without one, would be ignored without a word."""
    from click.core import ParameterSource

    for name, option in (("data_format", "--data-format"), ("delimiter", "--delimiter"), ("chunk_rows", "--chunk-rows"),
                         ("threads", "--threads"), ("on_error", "--on-error"), ("allow_defaults", "--allow-defaults")):
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            raise click.UsageError(f"{option} goes with --data FILE; without --data the input values given "
                                   "(and declared defaults) are the one row", ctx)


def _no_data_trainer(graph: Graph, settings, inputs: dict[str, float], saved, loss_name: str | None):
    """Without --data: one row, the given input values (options, then declared defaults)."""
    from ..errors import InputError
    from ..training.trainer import Trainer

    try:
        trainer = Trainer(graph, [], [], settings=settings, loss=loss_name, given=inputs,
                          start=saved.values if saved is not None else {}, data_path="the input values", rows=1)
    except InputError as exc:
        if exc.cli_hint and exc.message.startswith("missing value"):
            exc.cli_hint += "; or train on the rows of a file with --data FILE"
        raise
    defaulted = [n for n, i in graph.inputs.items() if graph.ops[i] != PARAM and n not in inputs]
    if defaulted:
        # Without --data a forgotten data file would otherwise go unnoticed.
        echo_err(f"note: no --data: training on the input values, {', '.join(defaulted[:8])}"
                 f"{', ...' if len(defaulted) > 8 else ''} from {'its' if len(defaulted) == 1 else 'their'} "
                 "declared default" + ("s" if len(defaulted) > 1 else ""))
    if trainer.unused:
        echo_err(f"note: the loss does not depend on {', '.join(trainer.unused[:8])}; "
                 f"{'it stays' if len(trainer.unused) == 1 else 'they stay'} as it starts")
    return trainer


def _exit(ctx: click.Context, outcome, save_path: str | None) -> None:
    """Exit 130 after Ctrl-C; a loss or update that became inf or nan is the run's error."""
    if outcome.stop == "interrupted":
        saved_to = f"; saved to {save_path}" if save_path and outcome.history else ""
        kept = f"the params of epoch {outcome.history[-1].number}" if outcome.history else "the starting params"
        echo_err(f"cgraph: interrupted: stopped with {kept}{saved_to}")
        ctx.exit(130)
    if outcome.error is not None:
        raise outcome.error


def _loss_option(ctx: click.Context, graph: Graph, loss_name: str | None, output_name: str | None) -> str | None:
    """--loss NAME (or --output NAME, the same thing): the node to minimize."""
    if loss_name and output_name and loss_name != output_name:
        raise click.UsageError("--loss and --output name the same thing; give one", ctx)
    if loss_name and loss_name not in graph.names:
        from ..errors import InputError, name_hint

        raise InputError(f"--loss {loss_name}: no node has that name" + name_hint(loss_name, graph.names))
    return loss_name or output_name


def _check_start(ctx: click.Context, init_path: str | None) -> None:
    """--params (a new run from its values) and --init (a resumed run) do not go together."""
    if init_path and ctx.params.get("params_file"):
        raise click.UsageError("--params starts a new run from its values, --init resumes a saved one: give one", ctx)


def _read_init(init_path: str, graph: Graph, inputs: dict[str, float], settings):
    """--init FILE.json: the saved params (and where the run stood), and the optimizer's
    state when it fits this run (else None, with a note)."""
    from ..training.trainer import restorable_state
    from ..training.finite import require_finite
    from ..training.paramsfile import read_params

    names = [n for n, i in graph.inputs.items() if graph.ops[i] == PARAM]
    saved = read_params(init_path, graph, "--init")
    require_finite({n: v for n, v in saved.values.items() if n not in inputs},
                   f"--init {init_path}: the param '{{}}' is {{}}")
    missing = [n for n in names if n not in saved.values]
    if missing:
        echo_err(f"note: --init {init_path} has no value for {', '.join(missing[:8])}"
                 f"{', ...' if len(missing) > 8 else ''}; they start from the file's values")
    state = restorable_state(saved, settings, names)
    if saved.state and state is None:
        echo_err(f"note: --init {init_path}: the optimizer's state is not resumed "
                 f"(it was saved by {saved.optimizer or 'another run'}; this run uses {settings.optimizer})")
    return saved, state


def _make_trainer(graph: Graph, datafile, binding, settings, inputs: dict[str, float], saved,
                  loss_name: str | None, chunk_rows: int | None, on_error: str):
    """The data read whole (bad rows and rows with an inf or nan failed or skipped), and
    the trainer over it."""
    from ..training.trainer import Trainer
    from ..training.data import Skipped
    from ..training.finite import read_finite

    skipped = Skipped()
    rows = read_finite(datafile, binding, chunk_rows or 65536, on_error, skipped)
    summary = skipped.summary(datafile.label)
    if summary:
        echo_err(summary)
    trainer = Trainer(
        graph, binding.names, rows.columns, rows.lines, settings=settings, loss=loss_name,
        given=inputs, start=saved.values if saved is not None else {}, data_path=datafile.label,
    )
    if trainer.unused:
        echo_err(f"note: the loss does not depend on {', '.join(trainer.unused[:8])}; "
                 f"{'it stays' if len(trainer.unused) == 1 else 'they stay'} as it starts")
    return trainer


def _report_saved(saved, save_path: str, rows: int) -> None:
    """What the params file holds at the end (ParamsSaver.end's answer)."""
    if saved is None:
        return
    what, epoch = saved
    if what == "rolled back":
        echo_err(f"saved the params of {'epoch ' + str(epoch.number) if epoch else 'the start'} to {save_path}")
    elif epoch.partial:
        echo_err(f"saved the params of epoch {epoch.number} after {epoch.rows} of its {rows} rows "
                 f"to {save_path} (--init {save_path} trains on the rest of epoch {epoch.number} first)")
    else:
        echo_err(f"saved the params of epoch {epoch.number} to {save_path}")


class _SaveFile:
    """Where --save writes: atomically (temporary file + rename), never over a file the
    run reads."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, data: bytes, fsync: bool) -> None:
        from .output import write_output

        write_output(self.path, data, fsync=fsync, option="--save")

    def sync(self) -> None:
        _sync_file(self.path)


def _check_momentum(ctx: click.Context, optimizer: str) -> None:
    """--momentum means something to --optimizer momentum only: given with another
    optimizer it would be ignored without a word, so it is a usage error."""
    from click.core import ParameterSource

    if optimizer != "momentum" and ctx.get_parameter_source("momentum") not in (
            None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        raise click.UsageError(f"--momentum is the factor of --optimizer momentum; this run uses --optimizer "
                               f"{optimizer} (add --optimizer momentum, or leave --momentum out)", ctx)


def _sync_file(path: str) -> None:
    """Force a file (and its directory entry) to disk; failures here lose nothing written."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _check_plot(path: str) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in PLOT_SUFFIXES:
        raise click.UsageError(f"--plot {path}: the file name must end in .png, .svg or .pdf")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from ..errors import MissingDependency

        raise MissingDependency(
            "--plot needs matplotlib, which is not installed",
            hint="pip install 'cgraph[plot]' (or pip install matplotlib); --log FILE.csv writes the curve as data",
        ) from None


def _plot(path: str, outcome, loss: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .output import write_output

    epochs = [e.number for e in outcome.history]
    losses = [e.loss for e in outcome.history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, losses, marker="o" if len(epochs) <= 30 else None, markersize=3)
    if min(losses) > 0 and max(losses) / min(losses) > 50:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{loss} (mean per row)")
    ax.set_title(f"training loss: {losses[0]:.4g} -> {losses[-1]:.4g}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=os.path.splitext(path)[1][1:].lower())
    plt.close(fig)
    write_output(path, buffer.getvalue(), option="--plot")
    echo_err(f"wrote the loss curve to {path}")


def _write_log(path: str, outcome) -> None:
    from .output import write_output

    lines = ["epoch,loss,seconds,rows"]
    lines += [f"{e.number},{e.loss!r},{e.seconds:.6f},{e.rows}" for e in outcome.history]
    write_output(path, ("\n".join(lines) + "\n").encode(), option="--log")
