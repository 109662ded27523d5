"""What `cgraph eval --data` and `cgraph train` share on the command line: NumPy on
demand, the data options, a data file opened with its notes on stderr, and `eval --data`
itself: the library's rows (training/rows.py) streamed to stdout or written to -o FILE,
with a progress line on a terminal.

Nothing here imports NumPy at module level: `cgraph eval` without --data never loads it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import IO, Any, Callable, Iterator, cast

import click

from ..errors import MissingDependency, clip_message
from ..ir.graph import Graph

ON_ERROR_HELP = "A bad row (a missing column, a non-number): fail (before any output is written) or skip it."
CHUNK_ROWS_HELP = "Rows per vectorized pass (default: sized so memory stays bounded)."
THREADS_HELP = ("Chunks evaluated at a time, each by a worker: a forked process on Linux, a thread elsewhere "
                "(default: $CGRAPH_THREADS, else one per core; 1: all in this process). The output is the same "
                "for every count.")
DATA_FILE_FORMATS = ("csv", "jsonl", "parquet")  # data.DATA_FORMATS, here so that --help does not import NumPy
DATA_FORMAT_HELP = "The data's format, whatever its suffix; needed with --data - (standard input)."
DELIMITER_HELP = "CSV field separator: one character, or tab (default: a comma; a tab for .tsv)."


def one_stdin(command: Callable[..., Any]) -> Callable[..., Any]:
    """Put above @with_program: FILE - and --data - would both read standard input; say so
    before the program is read from it."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        if kwargs.get("data_path") == "-" and kwargs.get("file") == "-":
            raise click.UsageError("the program and --data cannot both be standard input")
        return command(**kwargs)

    return wrapper


def require_numpy() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise MissingDependency(
            "batches and training need NumPy, which is not installed",
            hint="pip install 'cgraph[batch]' (or pip install numpy)",
        ) from None


def echo_err(text: str) -> None:
    """A note or warning on stderr; column names and values it echoes are cut short."""
    click.echo(clip_message(text), err=True)


def open_data(graph: Graph, path: str, given: dict[str, float], *, params_ok: bool, fmt: str | None = None,
              delimiter: str | None = None, defaults_ok: bool = True):
    """The data file and its binding to the graph's inputs; notes about unused columns and
    warnings about inputs left to their defaults to stderr. With `defaults_ok` false
    (training), an input that every row would take from its default is an error."""
    from ..training import data, rows

    # A DataSet (a directory or glob) has what binding and reading use of a DataFile.
    delimiter = None if delimiter is None else data.parse_delimiter(delimiter)
    datafile: Any = data.open_data_set(path, fmt=fmt, delimiter=delimiter)
    binding = data.bind_columns(graph, datafile, given=tuple(given), params_ok=params_ok)
    for note in rows.data_notes(datafile, binding):
        echo_err(note)
    warning = rows.defaulted_warning(graph, datafile, binding, defaults_ok)
    if warning:
        echo_err(warning)
    return datafile, binding


def eval_data(graph: Graph, inputs: dict[str, float], output_name: str | list[str] | None, *, data_path: str,
              fmt: str | None,
              target: str, chunk_rows: int | None, on_error: str, strict: bool, program_file: str | None,
              data_format: str | None = None, delimiter: str | None = None, threads: int | None = None) -> None:
    """`cgraph eval FILE --data rows.csv`: one output line per data row, in chunks.

    To standard output each chunk's rows are written (and flushed) as soon as they are
    computed, so a reader sees the first rows at once; an error met in a later chunk ends
    the stream, the rows before it written. With -o FILE the rows go to a temporary file
    renamed over FILE only at the end: a failed run leaves FILE as it was. Without
    --format, -o FILE's suffix says the format (.jsonl, .parquet; else CSV)."""
    require_numpy()
    from ..training import data
    from ..training.rows import evaluate_rows
    from .output import atomic_writer

    datafile, binding = open_data(graph, data_path, inputs, params_ok=True, fmt=data_format, delimiter=delimiter)
    rows = evaluate_rows(graph, datafile, binding, inputs, output=output_name, chunk_rows=chunk_rows,
                         on_error=on_error, strict=strict, threads=threads)
    sink = _stdout_stream() if target == "-" else atomic_writer(target, inputs=(program_file or "", data_path))
    with sink as out, _Progress(datafile) as progress:
        out_fmt = data.out_format(target, fmt) if target != "-" else (fmt or "csv")
        writer = data.row_writer(cast("IO[bytes]", out), out_fmt, rows.output_name, rows.wrt_names, rows.row_word,
                                 rows.more_output_names)
        if isinstance(writer, data.RowWriter):  # text: made where each chunk is evaluated
            rows.render = functools.partial(_text_of, writer)
        for part in rows:
            _write_rows(writer, out, part, target)
            progress.advance(part.n)
        data.close_writer(writer)
    for warning in rows.warnings():
        echo_err(warning)
    if target != "-":
        echo_err(f"wrote {writer.rows} row{'s' if writer.rows != 1 else ''} to {target}")


def _write_rows(writer, out, part, target: str) -> None:
    """One chunk's lines; to standard output they are flushed at once (the stream). A
    closed pipe or a full disk there ends the run as for every command (cli.run does)."""
    if target == "-":
        _write_part(writer, part)
        out.flush()
        return
    from .output import OutputError

    try:
        _write_part(writer, part)
    except OSError as exc:
        raise OutputError(f"cannot write -o {target}: {exc.strerror or exc}") from None


def _text_of(writer, part) -> bytes:
    return writer.text(part.lines, part.value, part.grads, part.more)


def _write_part(writer, part) -> None:
    if part.text is not None:
        writer.write_text(part.text, part.n)
    else:
        writer.write(part.lines, part.value, part.grads, part.more)


class _StdoutStream:
    """Standard output for rows: what is written is held until the next flush, so the
    header goes out with the first chunk's rows (a bad row in the first chunk prints
    nothing), then each chunk is passed on as soon as it is written."""

    def __init__(self) -> None:
        import sys

        self._out = sys.stdout.buffer
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(data)
        return len(data)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._out.write(data)
        self._out.flush()


@contextlib.contextmanager
def _stdout_stream() -> Iterator[_StdoutStream]:
    stream = _StdoutStream()
    yield stream
    stream.flush()  # the last flush: the header alone when there were no rows


class _Progress:
    """A progress line on stderr while rows are evaluated, only when stderr is a terminal
    (and stdout is not the same terminal: the rows scrolling by show progress there, and
    a live line would be torn by them). Rows done, and of how many when the file says."""

    def __init__(self, datafile) -> None:
        self.datafile = datafile
        self.progress: Any = None  # a rich Progress on a terminal (rich is imported only then)
        self.task: Any = None

    def __enter__(self) -> "_Progress":
        import sys

        from rich.console import Console

        from . import isatty

        console = Console(stderr=True)
        if not console.is_terminal or isatty(sys.stdout):
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = self.datafile.row_count()
        columns: list[Any] = [TextColumn("[bold]evaluating")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn(), TextColumn("rows")]
        else:
            columns += [TextColumn("{task.completed:,} rows")]
        self.progress = Progress(*columns, TimeElapsedColumn(), console=console, transient=True,
                                 redirect_stdout=False, redirect_stderr=False)
        self.progress.start()
        self.task = self.progress.add_task("eval", total=total)
        return self

    def advance(self, rows: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, rows)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
