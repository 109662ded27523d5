"""What `cgraph train` shows while and after it trains, one job per part: the loop's
callbacks fanned out (CallbackFanout) to a Ctrl-C guard, a progress bar, a --trace printer
(and the library's params saver), then the summary: a headline, the params table and the
loss per epoch."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any

import click

from ..errors import given_number
from ..ir.graph import Graph


class CallbackFanout:
    """The loop's callbacks handed to every part in turn (a part may be None: not asked
    for); the parts that are context managers live for the loop only."""

    def __init__(self, *parts) -> None:
        self.parts = [part for part in parts if part is not None]
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "CallbackFanout":
        with contextlib.ExitStack() as stack:  # a part that fails to start undoes the ones before it
            for part in self.parts:
                if hasattr(part, "__enter__"):
                    stack.enter_context(part)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    def on_step(self, step) -> None:
        for part in self.parts:
            part.on_step(step)

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        for part in self.parts:
            part.on_batch(epoch, batch, batches, loss)

    def on_epoch(self, epoch) -> None:
        for part in self.parts:
            part.on_epoch(epoch)

    def should_stop(self) -> str | None:
        for part in self.parts:
            reason = part.should_stop()
            if reason:
                return reason
        return None


class Part:
    """A callback part that answers nothing it is not about."""

    def on_step(self, step) -> None:
        pass

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        pass

    def on_epoch(self, epoch) -> None:
        pass

    def should_stop(self) -> str | None:
        return None


class SigintGuard(Part):
    """Ctrl-C stops the run after the current batch (the loop asks should_stop); a second
    Ctrl-C stops at once. The handler is installed for the loop only."""

    def __init__(self, first_epoch: int) -> None:
        self.epoch = first_epoch  # the epoch under way, for the message
        self.interrupted: str | None = None
        self.previous_handler: Any = None  # whatever signal.signal returned: a handler, SIG_DFL or None

    def __enter__(self) -> "SigintGuard":
        try:
            self.previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread (an embedding program): no handler
            self.previous_handler = None
        return self

    def __exit__(self, *exc) -> None:
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = f"interrupted (Ctrl-C) in epoch {self.epoch}"
        signal.signal(signal.SIGINT, self.previous_handler or signal.default_int_handler)

    def on_step(self, step) -> None:
        self.epoch = step.epoch

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.epoch = epoch

    def on_epoch(self, epoch) -> None:
        self.epoch = epoch.number + 1

    def should_stop(self) -> str | None:
        return self.interrupted


class ProgressView(Part):
    """A progress bar on stderr while training, when stderr is a terminal: epochs done
    and the last loss."""

    def __init__(self, epochs: int, first_epoch: int) -> None:
        from rich.console import Console

        self.epochs = epochs
        self.first_epoch = first_epoch
        self.err = Console(stderr=True)
        self.progress: Any = None  # a rich Progress on a terminal (rich is imported only then)
        self.task: Any = None

    def __enter__(self) -> "ProgressView":
        if self.err.is_terminal and self.epochs:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
                TextColumn("loss [cyan]{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=self.err, transient=True, redirect_stdout=False, redirect_stderr=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.epochs, loss="...")
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        if self.progress is not None:
            done = epoch - self.first_epoch + batch / batches
            self.progress.update(self.task, completed=done, loss=f"{loss:.6g}")

    def on_epoch(self, epoch) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=epoch.number - self.first_epoch + 1, loss=f"{epoch.loss:.6g}")

    def echo(self, text: str) -> None:
        """A line on stdout; above the bar when both are the terminal, so it is not torn."""
        if self.progress is not None and sys.stdout.isatty():
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text)


class TracePrinter(Part):
    """--trace N: the first N steps, each param's gradient and update."""

    def __init__(self, trainer, limit: int, data_label: str | None, view: ProgressView) -> None:
        """`data_label`: the data file (None: trained on the given input values)."""
        self.trainer = trainer
        self.settings = trainer.settings
        self.limit = limit
        self.data_label = data_label
        self.view = view

    def on_step(self, step) -> None:
        if step.number <= self.limit:
            self.view.echo(self.text(step))

    def text(self, step) -> str:
        lr = self.settings.lr
        loss = self.trainer.loss_name
        rows = f"{step.rows} rows" if step.rows != 1 else \
            f"the row at {self.data_label}:{step.first_line}" if self.data_label else "the input values"
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
            update = f"{name} - lr * d{loss}/d{name} = {before:.10g} - {given_number(lr)} * {g:.10g}" if sgd else \
                f"{name} - lr * step = {before:.10g} - {given_number(lr)} * {d:.10g}"
            lines.append(f"  {name:<{width}}  {grads[k]:<{grad_width}} {name} <- {update} = {after:.10g}")
        if step.number == 1 and not sgd:
            lines.insert(1, f"  ({self.settings.optimizer}: W <- {training_explain(self.settings)})")
        return "\n".join(lines)


# --- the summary ----------------------------------------------------------------------


def print_summary(graph: Graph, trainer, outcome) -> None:
    """How the run went, the learned params, the loss per epoch, the loss at the end."""
    from rich.console import Console

    from .output import print_rich

    out = Console(soft_wrap=True, highlight=False)
    out.print(_headline(graph, trainer, outcome), markup=False)
    out.print(f"stopped: {outcome.reason}", markup=False)
    # The loss and its gradient at the learned params, over every row (one more pass;
    # not after Ctrl-C, which asked to stop now).
    final = None if outcome.stop == "interrupted" else trainer.at_params(outcome.params)
    print_rich(out, _params_table(trainer, outcome, final))
    if outcome.history:
        print_rich(out, _loss_table(trainer.loss_name, outcome.history))
    if final is not None:
        from ..views.numbers import short_number

        over = f" (mean over {trainer.n} row{'s' if trainer.n != 1 else ''})" if trainer.from_data else ""
        out.print(f"{trainer.loss_name} at the learned params: {short_number(final[0])}{over}", markup=False)


def _headline(graph: Graph, trainer, outcome) -> str:
    s = trainer.settings
    batch = "full batch" if not s.batch_size or s.batch_size >= trainer.n else f"batches of {s.batch_size}"
    seconds = outcome.history[-1].seconds if outcome.history else 0.0
    span = ""
    if outcome.history and outcome.first_epoch > 1:  # resumed with --init
        span = f" ({outcome.history[0].number}-{outcome.history[-1].number})"
    if outcome.history and outcome.history[-1].partial:  # --max-time stopped in the middle of it
        span += f", the last partial ({outcome.history[-1].rows} of {trainer.n} rows)"
    data = f"{trainer.n} rows" if trainer.from_data else "the input values"
    return (f"trained {graph.source.filename} on {data}: {outcome.epochs} epoch"
            f"{'s' if outcome.epochs != 1 else ''}{span} ({batch}, {s.optimizer}, lr {given_number(s.lr)}) in {seconds:.2f} s")


def _params_table(trainer, outcome, final):
    """Each param's starting and learned value, and the gradient at the learned params
    (`final`: (loss, gradient) over all rows, or None when not computed or not finite)."""
    from rich.table import Table

    from ..views import report
    from ..views.numbers import short_number

    loss = trainer.loss_name
    over = f"mean over all {trainer.n} rows " if trainer.from_data else ""
    rows = report.cut_rows(list(enumerate(outcome.names)))  # as eval's table: rich draws ~0.5 ms a row
    left_out = next((row for row in rows if isinstance(row, int)), 0)
    notes = [] if final is None else [f"d{loss}/d(param): {over}at the learned params"]
    if left_out:
        notes.append(f"{left_out:,} params left out of the table: --save FILE.json writes every one")
    table = Table(title="params", title_justify="left", caption="; ".join(notes) or None)
    table.add_column("param", no_wrap=True)
    table.add_column("initial", justify="right")
    table.add_column("learned", justify="right")
    table.add_column(f"d{loss}/d(param)", justify="right")
    for row in rows:
        if isinstance(row, int):
            table.add_row("…", "", "", "")
            continue
        k, name = row
        table.add_row(name, short_number(outcome.initial[name]), short_number(outcome.params[name]),
                      "" if final is None else short_number(final[1][k]))
    return table


def _loss_table(loss: str, history):
    """The loss per epoch: the first, the last, the best and some between."""
    from rich.table import Table

    from ..training.trainer import summarize
    from ..views.numbers import short_number

    best = min(history, key=lambda e: e.loss)
    losses = Table(title=f"{loss} per epoch (mean over the epoch's rows; best: epoch {best.number})",
                   title_justify="left")
    losses.add_column("epoch", justify="right")
    losses.add_column(loss, justify="right")
    losses.add_column("seconds", justify="right")
    for e in summarize(history):
        losses.add_row(str(e.number) + (" (partial)" if e.partial else ""), short_number(e.loss), f"{e.seconds:.2f}")
    return losses



def training_explain(settings) -> str:
    from ..training.trainer import make_optimizer

    return make_optimizer(settings, 0).explain()
