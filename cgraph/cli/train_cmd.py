"""`cgraph train`: gradient descent on a file's params over rows of data."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys

import click

from ..errors import non_finite
from ..frontend.builder import DEFAULT_SEED
from ..ir.graph import Graph
from . import exit_codes_help
from .batch_cli import (CHUNK_ROWS_HELP, DATA_FILE_FORMATS, DATA_FORMAT_HELP, DELIMITER_HELP, ON_ERROR_HELP,
                        echo_err, one_stdin, open_data, require_numpy)
from .common import SEED, Count, FiniteFloat, ProgramCommand, with_program

EPILOG = f"""\b
Examples:
  cgraph train samples/linreg.cg --data samples/linreg.csv --lr 0.5 --epochs 200
  cgraph train samples/linreg.cg --data samples/linreg.csv --batch-size 1 --epochs 3 --trace 2
  cgraph train samples/xor.cg --data samples/xor.csv --optimizer adam --lr 0.3 --epochs 500 --save xor.json


Then `cgraph eval samples/xor.cg --data samples/xor.csv --params xor.json`
evaluates every row with the learned params, and --init xor.json resumes.

\b
The loss is the file's output (or --loss NAME), averaged over the rows of
each batch. Each step is a forward pass, a backward pass and the update
W = W - lr * dL/dW (sgd; momentum and adam refine the step). --save writes
the params after every epoch (atomically: an interrupt loses at most one
epoch); Ctrl-C stops after the current batch with the last epoch saved
(exit 130). A loss that becomes inf or nan stops the run, names the node
where it started and keeps the params of the last good epoch (exit 1). A
data row with an inf or nan input is a bad row (exit 2, or --on-error skip).

{exit_codes_help('the loss became inf/nan')}
"""

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
SYNC_SECONDS = 2.0  # --save forces the file to disk at most this often (and after the last epoch)


@click.command("train", cls=ProgramCommand, epilog=EPILOG, short_help="Learn params by gradient descent over data.")
@one_stdin
@with_program
@click.option("--data", "data_path", required=True, metavar="FILE",
              help="Training rows: a .csv, .tsv, .jsonl or .parquet file (- for standard input).")
@click.option("--data-format", type=click.Choice(DATA_FILE_FORMATS), default=None, help=DATA_FORMAT_HELP)
@click.option("--delimiter", metavar="CHAR", default=None, help=DELIMITER_HELP)
@click.option("--allow-defaults", is_flag=True,
              help="Train even if an input the data lacks takes its declared default in every row.")
@click.option("--loss", "loss_name", metavar="NAME", help="The node to minimize (default: the file's output).")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.01, show_default=True, help="Learning rate.")
@click.option("--epochs", type=Count(min=0), default=100, show_default=True, help="Passes over the data (at most).")
@click.option("--batch-size", type=Count(min=1), default=None,
              help="Rows per step (default: all rows, full-batch; 1 is per-row SGD).")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam"]), default="sgd", show_default=True,
              help="sgd: W -= lr*g; momentum: v = m*v + g, W -= lr*v; adam: Adam (betas 0.9, 0.999).")
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
@click.option("--log", "log_path", metavar="FILE.csv", help="Write the loss per epoch as CSV.")
@click.option("--plot", "plot_path", metavar="FILE", help="Draw the loss curve (.png, .svg or .pdf; needs matplotlib).")
@click.option("--chunk-rows", type=Count(min=1), default=None, help=CHUNK_ROWS_HELP)
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True, help=ON_ERROR_HELP)
def train_command(graph: Graph, inputs: dict[str, float], output_name: str | None, data_path: str,
                  loss_name: str | None, lr: float, epochs: int, batch_size: int | None, optimizer: str,
                  momentum: float, shuffle: bool, seed: int, tol: float, patience: int | None,
                  max_time: float | None, trace: int, save_path: str | None, init_path: str | None,
                  log_path: str | None, plot_path: str | None, chunk_rows: int | None, on_error: str,
                  data_format: str | None = None, delimiter: str | None = None, allow_defaults: bool = False) -> None:
    """Train FILE's params by gradient descent on the rows of --data.

    FILE declares its params (param w = 0.1, or param w = uniform(-1, 1) or
    normal(0, 0.5), drawn from --seed) and a loss, its output. Columns of
    the data bind inputs by name; other inputs come from options (or,
    with --allow-defaults, their defaults). At the end a table shows the learned params and the loss per
    epoch.
    """
    ctx = click.get_current_context()
    if loss_name and output_name and loss_name != output_name:
        raise click.UsageError("--loss and --output name the same thing; give one", ctx)
    if loss_name and loss_name not in graph.names:
        from ..errors import InputError, did_you_mean

        raise InputError(f"--loss {loss_name}: no node has that name" + did_you_mean(loss_name, graph.names))
    loss_name = loss_name or output_name
    _check_momentum(ctx, optimizer)
    if plot_path:
        _check_plot(plot_path)
    require_numpy()
    from ..training import trainer as training

    settings = training.Settings(
        lr=lr, epochs=epochs, batch_size=batch_size, optimizer=optimizer, momentum=momentum, shuffle=shuffle,
        seed=seed, tol=tol, patience=patience, max_time=max_time, chunk_rows=chunk_rows,
    )
    _require_finite(inputs, "the value of '{}' is {} (given as an option)")
    datafile, binding = open_data(graph, data_path, inputs, params_ok=False, fmt=data_format, delimiter=delimiter,
                                  defaults_ok=allow_defaults)
    start: dict[str, float] = {}
    saved, state = None, None
    names = [n for n, i in graph.inputs.items() if graph.ops[i] == "param"]
    if init_path:
        from ..training.paramsfile import read_params

        saved = read_params(init_path, graph, "--init")
        start = saved.values
        _require_finite({n: v for n, v in start.items() if n not in inputs},
                        f"--init {init_path}: the param '{{}}' is {{}}")
        missing = [n for n in names if n not in start]
        if missing:
            echo_err(f"note: --init {init_path} has no value for {', '.join(missing[:8])}"
                     f"{', ...' if len(missing) > 8 else ''}; they start from the file's values")
        state = training.restorable_state(saved, settings, names)
        if saved.state and state is None:
            echo_err(f"note: --init {init_path}: the optimizer's state is not resumed "
                     f"(it was saved by {saved.optimizer or 'another run'}; this run uses {optimizer})")
    from ..training.data import Skipped

    skipped = Skipped()
    rows = datafile.read_all(binding.fields, chunk_rows or 65536, on_error, skipped)
    rows = _finite_rows(rows, binding, data_path, datafile, on_error, skipped)
    summary = skipped.summary(datafile.label)
    if summary:
        echo_err(summary)
    trainer = training.Trainer(
        graph, binding.names, rows.columns, rows.lines, settings=settings, loss=loss_name,
        given=inputs, start=start, data_path=datafile.label,
    )
    if trainer.unused:
        echo_err(f"note: the loss does not depend on {', '.join(trainer.unused[:8])}; "
                 f"{'it stays' if len(trainer.unused) == 1 else 'they stay'} as it starts")
    first_epoch, rows_done, loss_so_far = 1, 0, 0.0
    if saved is not None:
        first_epoch, rows_done, loss_so_far, note = training.resume_point(saved, trainer)
        if note:
            echo_err(f"note: --init {init_path}: {note}")
    display = _Display(trainer, settings, trace, save_path, graph, first_epoch, datafile.label,
                       saved.epoch_loss if saved is not None else None)
    with display:
        outcome = trainer.run(display, first_epoch=first_epoch, optimizer_state=state, rows_done=rows_done,
                              loss_so_far=loss_so_far)
    display.finish(outcome)
    if save_path and outcome.stop == "non-finite" and outcome.history and outcome.kept is not outcome.history[-1]:
        display.save_kept(outcome)  # the file holds an epoch whose params gave inf or nan: roll it back
    if log_path:
        _write_log(log_path, outcome)
    if plot_path and outcome.history:
        _plot(plot_path, outcome, trainer.loss_name)
    if outcome.stop == "interrupted":
        saved = f"; saved to {save_path}" if save_path and outcome.history else ""
        kept = f"the params of epoch {outcome.history[-1].number}" if outcome.history else "the starting params"
        echo_err(f"cgraph: interrupted: stopped with {kept}{saved}")
        ctx.exit(130)
    if outcome.error is not None:
        raise outcome.error


class _Display:
    """The callbacks of the training loop: progress bar, --trace, --save, Ctrl-C."""

    def __init__(self, trainer, settings, trace: int, save_path: str | None, graph: Graph, first_epoch: int,
                 data_path: str, complete_loss: float | None = None):
        from rich.console import Console

        self.trainer = trainer
        self.data_path = data_path
        self.settings = settings
        self.trace = trace
        self.save_path = save_path
        self.graph = graph
        self.first_epoch = first_epoch
        self.out = Console(soft_wrap=True, highlight=False)
        self.err = Console(stderr=True)
        self.progress = None
        self.task = None
        self.interrupted: str | None = None
        self.previous_handler = None
        self.epoch = first_epoch
        self.last_loss: float | None = None
        self.last_sync = -SYNC_SECONDS
        # The loss of the last complete epoch: a save in the middle of an epoch keeps it.
        self.start_complete_loss = self.complete_loss = complete_loss

    # context: the progress bar and the Ctrl-C handler live for the loop only
    def __enter__(self):
        if self.err.is_terminal and self.settings.epochs:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                TextColumn("loss [cyan]{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.err, transient=True, redirect_stdout=False, redirect_stderr=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.settings.epochs, loss="...")
        try:
            self.previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread (an embedding program): no handler
            self.previous_handler = None
        return self

    def __exit__(self, *exc) -> None:
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)
        if self.progress is not None:
            self.progress.stop()

    def _on_sigint(self, signum, frame) -> None:
        epoch = self.epoch
        self.interrupted = f"interrupted (Ctrl-C) in epoch {epoch}"
        # A second Ctrl-C stops at once.
        signal.signal(signal.SIGINT, self.previous_handler or signal.default_int_handler)

    # the loop's callbacks
    def should_stop(self) -> str | None:
        return self.interrupted

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.epoch = epoch
        if self.progress is not None:
            done = epoch - self.first_epoch + batch / batches
            self.progress.update(self.task, completed=done, loss=f"{loss:.6g}")

    def on_step(self, step) -> None:
        self.epoch = step.epoch
        if step.number > self.trace:
            return
        lr = self.settings.lr
        loss = self.trainer.loss_name
        rows = f"the row at {self.data_path}:{step.first_line}" if step.rows == 1 else f"{step.rows} rows"
        where = f"epoch {step.epoch}" + (f", batch {step.batch} of {step.batches}" if step.batches > 1 else "")
        lines = [f"step {step.number} ({where}, {rows}): {loss} = {step.loss:.10g}"]
        sgd = self.settings.optimizer == "sgd"
        # Three columns (the param, its gradient, its update), each as wide as its widest
        # entry, so they line up whatever the lengths of the names and numbers.
        width = max(len(n) for n in step.names)
        grads = [f"d{loss}/d{name} = {step.grad[k]:<14.10g}" for k, name in enumerate(step.names)]
        grad_width = max(len(g) for g in grads)
        for k, name in enumerate(step.names):
            g, before, after, d = step.grad[k], step.before[k], step.after[k], step.direction[k]
            update = f"{name} - lr * d{loss}/d{name} = {before:.10g} - {lr:g} * {g:.10g}" if sgd else \
                f"{name} - lr * step = {before:.10g} - {lr:g} * {d:.10g}"
            lines.append(f"  {name:<{width}}  {grads[k]:<{grad_width}} {name} <- {update} = {after:.10g}")
        if step.number == 1 and not sgd:
            lines.insert(1, f"  ({self.settings.optimizer}: W <- {training_explain(self.settings)})")
        text = "\n".join(lines)
        if self.progress is not None and sys.stdout.isatty():
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text)

    def on_epoch(self, epoch) -> None:
        self.epoch = epoch.number + 1
        self.last_loss = epoch.loss
        if self.save_path:
            self._save(self._document(epoch, self.complete_loss))
        if not epoch.partial:
            self.complete_loss = epoch.loss
        if self.progress is not None:
            self.progress.update(self.task, completed=epoch.number - self.first_epoch + 1, loss=f"{epoch.loss:.6g}")

    def _document(self, epoch, complete_loss: float | None) -> dict:
        """The params file of an epoch, with the loss at its params (one forward pass)."""
        import numpy as np

        from ..training import trainer as training

        trainer = self.trainer
        at_params = trainer.loss(np.array([epoch.params[n] for n in trainer.names], dtype=np.float64))
        return training.params_document(
            epoch, file=self.graph.source.filename, loss=trainer.loss_name, settings=self.settings,
            rows=trainer.n, shuffled=trainer.shuffled, loss_at_params=at_params, complete_loss=complete_loss,
        )

    def _save(self, document) -> None:
        """Atomically (temporary file + rename), after every epoch; forced to disk at most
        every SYNC_SECONDS, since an fsync per epoch would cost more than a small epoch."""
        import time

        from .output import write_output

        now = time.monotonic()
        sync = now - self.last_sync >= SYNC_SECONDS
        write_output(self.save_path, (json.dumps(document, indent=2, allow_nan=False) + "\n").encode(), fsync=sync,
                     option="--save")
        if sync:
            self.last_sync = now

    def save_kept(self, outcome) -> None:
        from ..training import trainer as training

        kept = outcome.kept or outcome.start or training.Epoch(0, math.nan, 0.0, dict(outcome.initial), self.trainer.n)
        if outcome.kept is None and not kept.partial and self.start_complete_loss is not None:
            kept = dataclasses.replace(kept, loss=self.start_complete_loss)  # the --init file's epoch
        self._save(self._document(kept, self.start_complete_loss))
        _sync_file(self.save_path)
        echo_err(f"saved the params of {'epoch ' + str(kept.number) if outcome.kept else 'the start'} to {self.save_path}")

    def finish(self, outcome) -> None:
        """The summary: how the run went, the learned params, the loss per epoch."""
        from rich.table import Table

        from ..training import trainer as training
        from ..views.numbers import short_number
        from .output import print_rich

        trainer, s = self.trainer, self.settings
        loss = trainer.loss_name
        batch = "full batch" if not s.batch_size or s.batch_size >= trainer.n else f"batches of {s.batch_size}"
        seconds = outcome.history[-1].seconds if outcome.history else 0.0
        span = ""
        if outcome.history and outcome.first_epoch > 1:  # resumed with --init
            span = f" ({outcome.history[0].number}-{outcome.history[-1].number})"
        if outcome.history and outcome.history[-1].partial:  # --max-time stopped in the middle of it
            span += f", the last partial ({outcome.history[-1].rows} of {trainer.n} rows)"
        self.out.print(
            f"trained {self.graph.source.filename} on {trainer.n} rows: {outcome.epochs} epoch"
            f"{'s' if outcome.epochs != 1 else ''}{span} ({batch}, {s.optimizer}, lr {s.lr:g}) in {seconds:.2f} s",
            markup=False,
        )
        self.out.print(f"stopped: {outcome.reason}", markup=False)
        import numpy as np

        # The loss and its gradient at the learned params, over every row (one more pass;
        # not after Ctrl-C, which asked to stop now).
        final_loss, final_grad, failed = math.nan, None, True
        if outcome.stop != "interrupted":
            final_loss, final_grad, failed = trainer.batch(np.array([outcome.params[n] for n in outcome.names]),
                                                           slice(0, trainer.n))
        table = Table(title="params", title_justify="left",
                      caption=None if failed else f"d{loss}/d(param): mean over all {trainer.n} rows at the learned params")
        table.add_column("param", no_wrap=True)
        table.add_column("initial", justify="right")
        table.add_column("learned", justify="right")
        table.add_column(f"d{loss}/d(param)", justify="right")
        for k, name in enumerate(outcome.names):
            table.add_row(name, short_number(outcome.initial[name]), short_number(outcome.params[name]),
                          "" if failed else short_number(final_grad[k]))
        print_rich(self.out, table)
        if outcome.history:
            best = min(outcome.history, key=lambda e: e.loss)
            losses = Table(title=f"{loss} per epoch (mean over the epoch's rows; best: epoch {best.number})",
                           title_justify="left")
            losses.add_column("epoch", justify="right")
            losses.add_column(loss, justify="right")
            losses.add_column("seconds", justify="right")
            for e in training.summarize(outcome.history):
                losses.add_row(str(e.number) + (" (partial)" if e.partial else ""), short_number(e.loss), f"{e.seconds:.2f}")
            print_rich(self.out, losses)
        if not failed:
            self.out.print(f"{loss} at the learned params: {short_number(final_loss)} (mean over {trainer.n} row{'s' if trainer.n != 1 else ''})",
                           markup=False)
        if self.save_path and outcome.history and outcome.stop != "non-finite":
            _sync_file(self.save_path)
            last = outcome.history[-1]
            if last.partial:
                echo_err(f"saved the params of epoch {last.number} after {last.rows} of its {trainer.n} rows "
                         f"to {self.save_path} (--init {self.save_path} trains on the rest of epoch {last.number} first)")
            else:
                echo_err(f"saved the params of epoch {last.number} to {self.save_path}")


def _check_momentum(ctx: click.Context, optimizer: str) -> None:
    """--momentum means something to --optimizer momentum only: given with another
    optimizer it would be ignored without a word, so it is a usage error."""
    from click.core import ParameterSource

    if optimizer != "momentum" and ctx.get_parameter_source("momentum") not in (
            None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        raise click.UsageError(f"--momentum is the factor of --optimizer momentum; this run uses --optimizer "
                               f"{optimizer} (add --optimizer momentum, or leave --momentum out)", ctx)


def _finite_rows(rows, binding, data_path: str, datafile, on_error: str, skipped):
    """Training needs finite data: a row with an inf or nan input would make the loss or
    its gradient inf or nan whatever the learning rate. Such a row is a bad row, found
    before epoch 1: an error naming its line and column (exit 2), or with --on-error skip
    left out and counted with the other bad rows."""
    import numpy as np

    from ..training.data import Chunk, DataError

    if not rows.columns:
        return rows
    bad = np.zeros(len(rows.lines), dtype=bool)
    for column in rows.columns:
        bad |= ~np.isfinite(column)
    if not bad.any():
        return rows
    row_word = "row" if getattr(datafile, "format", None) == "parquet" else "line"
    for r in np.flatnonzero(bad):
        k = next(k for k, column in enumerate(rows.columns) if not np.isfinite(column[r]))
        key, index = binding.fields[k]
        what = f"column '{key}'" if index is None else f"'{binding.names[k]}' (in the list '{key}')"
        line = int(rows.lines[r])
        text = _line_text(data_path, line, row_word) if on_error != "skip" else None
        column, width = _field_span(text, datafile, key)
        error = DataError(
            f"{what} is {non_finite(rows.columns[k][r])}: training needs finite values",
            datafile.label, line, text, column, width, row_word=row_word,
            hint="correct or remove the row; --on-error skip leaves out the rows with an inf or nan",
        )
        if on_error != "skip":
            raise error
        skipped.add(error)
    keep = ~bad
    return Chunk([column[keep] for column in rows.columns], rows.lines[keep])


def _field_span(text: str | None, datafile, key: str) -> tuple[int, int]:
    """Where the caret goes under a CSV line: the field of column `key` (the whole line
    for JSON Lines, or when the line cannot be read again)."""
    from ..training.data import _field_column

    if not text:
        return 1, 1
    if datafile.format != "csv" or key not in datafile.columns:
        return 1, len(text)
    delimiter = getattr(datafile, "delimiter", ",") or ","
    start = _field_column(text, list(datafile.columns).index(key), delimiter)
    end = text.find(delimiter, start - 1)
    return start, max(1, (len(text) if end < 0 else end) - start + 1)


def _require_finite(values: dict[str, float], message: str) -> None:
    """Values that hold for every row (options, --init params) must be finite, or every
    row's loss would be inf or nan whatever the learning rate."""
    from ..errors import InputError

    for name, value in values.items():
        if not math.isfinite(value):
            raise InputError(message.format(name, non_finite(value)) + ": training needs finite values")


def _line_text(path: str, line: int, row_word: str) -> str | None:
    """The text of a line of a data file, for the error's excerpt (None when it cannot be
    read again: Parquet has rows, not lines)."""
    if row_word != "line" or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            for number, text in enumerate(f, 1):
                if number == line:
                    return text.rstrip("\r\n")
    except OSError:
        return None
    return None


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


def training_explain(settings) -> str:
    from ..training import trainer as training

    return training.make_optimizer(settings, 0).explain()


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
