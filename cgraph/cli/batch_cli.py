"""What `cgraph eval --data` and `cgraph train` share: NumPy on demand, data files bound
to inputs, params files, and `eval --data` itself (rows in, one line per row out).

Nothing here imports NumPy at module level: `cgraph eval` without --data never loads it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import click

from ..errors import InputError, MissingDependency, NumericError, clip_message
from ..ir.graph import Graph

ON_ERROR_HELP = "A bad row (a missing column, a non-number): fail (before any output is written) or skip it."
CHUNK_ROWS_HELP = "Rows per vectorized pass (default: sized so memory stays bounded)."
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
    from ..training import data

    datafile = data.DataFile(path, fmt=fmt, delimiter=None if delimiter is None else data.parse_delimiter(delimiter))
    binding = data.bind_columns(graph, datafile, given=tuple(given), params_ok=params_ok)
    for note in binding.notes:
        echo_err(f"note: {datafile.label}: {note}")
    if binding.defaulted:
        _defaulted(graph, datafile, binding, defaults_ok)
    return datafile, binding


def _defaulted(graph: Graph, datafile, binding, defaults_ok: bool) -> None:
    """Inputs the data could give but does not, named in one warning (an error when training)."""
    names = binding.defaulted
    shown = ", ".join(f"'{n}'" for n in names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    near = "".join(f"; column '{c}' is not '{n}' (names are case-sensitive)" if c.lower() == n.lower()
                   else f"; column '{c}' is not '{n}'" for n, c in list(binding.near.items())[:4])
    their = (f"its default, {graph.values[graph.inputs[names[0]]]!r}" if len(names) == 1 else "their defaults")
    what = f"input{'s' if len(names) > 1 else ''} {shown}"
    if not defaults_ok:
        raise InputError(
            f"{datafile.label} has no column for {what}: every row would use {their}{near}",
            hint="add the column, give the value as an option (--NAME VALUE), or pass --allow-defaults",
        )
    echo_err(f"warning: {datafile.label} has no column for {what}: every row uses {their}{near}")


def bind_shared(plan, values: dict[str, float], data_path: str) -> list:
    """plan.bind, with a missing input's hint mentioning the data file."""
    try:
        return plan.bind(values)
    except InputError as exc:
        if exc.message.startswith("missing value"):
            exc.hint = f"give values as columns of {data_path}, or as --NAME VALUE (or --input NAME=VALUE, or --inputs FILE.json)"
        raise


def eval_data(graph: Graph, inputs: dict[str, float], output_name: str | None, *, data_path: str, fmt: str,
              target: str, chunk_rows: int | None, on_error: str, strict: bool, program_file: str | None,
              data_format: str | None = None, delimiter: str | None = None) -> None:
    """`cgraph eval FILE --data rows.csv`: one output line per data row, in chunks.

    To standard output each chunk's rows are written (and flushed) as soon as they are
    computed, so a reader sees the first rows at once; an error met in a later chunk ends
    the stream, the rows before it written. With -o FILE the rows go to a temporary file
    renamed over FILE only at the end: a failed run leaves FILE as it was."""
    require_numpy()
    import numpy as np

    from ..engine import batch
    from ..training import data
    from .output import atomic_writer

    datafile, binding = open_data(graph, data_path, inputs, params_ok=True, fmt=data_format, delimiter=delimiter)
    plan = batch.Plan(graph, binding.names, output=output_name, shared_grads="rows")
    base = bind_shared(plan, inputs, datafile.label)
    rows = chunk_rows or plan.chunk_rows()
    skipped = data.Skipped()
    row_word = "row" if datafile.format == "parquet" else "line"
    origins = batch.NonFiniteTally()
    shared_finite = plan.shared_finite(base)
    sink = _stdout_stream() if target == "-" else atomic_writer(target, inputs=(program_file or "", data_path))
    with sink as out, _Progress(datafile) as progress:
        writer = data.RowWriter(out, fmt, plan.output_name, plan.wrt_names, row_word)
        for chunk in datafile.chunks(binding.fields, rows, on_error, skipped):
            if strict:
                where = plan.first_non_finite(base, chunk.columns, chunk.n)
                if where is not None and where.kind == "value":
                    raise _non_finite_error(graph, plan, binding, where, chunk, datafile.label, row_word)
            result = plan.run(base, chunk.columns, chunk.n, check_values=True)
            grads = [result.grads[name] for name in plan.wrt_names]
            # The common case costs one sum per node and an isfinite pass over the gradients;
            # the node by node diagnosis runs only on a chunk where something is inf or nan.
            if not (shared_finite and result.values_finite and all(np.isfinite(g).all() for g in grads)):
                origins.add(plan.non_finite_origins(base, chunk.columns, chunk.n), chunk.lines)
            _write_rows(writer, out, chunk, result.value, grads, target)
            progress.advance(chunk.n)
    summary = skipped.summary(datafile.label)
    if summary:
        echo_err(summary)
    for warning in non_finite_warnings(graph, plan, binding, origins, datafile.label, row_word):
        echo_err(warning)
    if writer.rows == 0:
        echo_err(f"note: {datafile.label} has no rows" + (" left after skipping bad ones" if skipped.count else ""))
    if target != "-":
        echo_err(f"wrote {writer.rows} row{'s' if writer.rows != 1 else ''} to {target}")


def _write_rows(writer, out, chunk, value, grads, target: str) -> None:
    """One chunk's lines; to standard output they are flushed at once (the stream)."""
    from .output import OutputError

    try:
        writer.write(chunk.lines, value, grads)
        if target == "-":
            out.flush()
    except BrokenPipeError:
        _reader_gone()
    except OSError as exc:
        where = "standard output" if target == "-" else target
        raise OutputError(f"cannot write {where}: {exc.strerror or exc}") from None


def _reader_gone() -> None:
    """The reader of standard output went away (`| head -1`): stop quietly, exit 0.
    (Handled here: click turns a broken pipe into exit 1 before the CLI's own handler.)"""
    from . import _quiet_stdout

    _quiet_stdout()
    raise click.exceptions.Exit(0)


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
    _write_rows_end(stream)


def _write_rows_end(stream: _StdoutStream) -> None:
    """The last flush: the header alone when there were no rows."""
    from .output import OutputError

    try:
        stream.flush()
    except BrokenPipeError:
        _reader_gone()
    except OSError as exc:
        raise OutputError(f"cannot write standard output: {exc.strerror or exc}") from None


class _Progress:
    """A progress line on stderr while rows are evaluated, only when stderr is a terminal
    (and stdout is not the same terminal: the rows scrolling by show progress there, and
    a live line would be torn by them). Rows done, and of how many when the file says."""

    def __init__(self, datafile) -> None:
        self.datafile = datafile
        self.progress = None
        self.task = None

    def __enter__(self) -> "_Progress":
        import sys

        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal or _isatty(sys.stdout):
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        total = _row_count(self.datafile)
        columns = [TextColumn("[bold]evaluating")]
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


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _row_count(datafile) -> int | None:
    """The number of rows when the file records it (Parquet's metadata), else None."""
    if datafile.format != "parquet":
        return None
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(datafile.path).metadata.num_rows)
    except Exception:  # only a nicety: without it the bar counts rows alone
        return None


def non_finite_warnings(graph: Graph, plan, binding, origins, data_path: str, row_word: str) -> list[str]:
    """One warning per place where inf or nan starts, over all rows: a data column that
    holds inf or nan is the data's (named by column), any other node is the program's."""
    batched = dict(zip(plan.batched_leaves, range(len(plan.batched_leaves))))
    data_warnings, node_warnings = [], []  # the data's first, in the file's column order
    for node, kind, count, first, _arg in origins.items():
        rows = f"{count} row{'s' if count != 1 else ''} (first at {_row_at(data_path, first, row_word)})"
        if kind == "value" and node in batched:
            k = batched[node]
            data_warnings.append((k, f"warning: {_column(binding, k, data_path)} is inf or nan in {rows}"))
            continue
        problem = "is inf or nan" if kind == "value" else "makes a gradient inf or nan"
        node_warnings.append(f"{graph.location(node)}: warning: {graph.describe(node)} {problem} in {rows}")
    return [text for _, text in sorted(data_warnings)] + node_warnings


def _column(binding, k: int, data_path: str) -> str:
    """How the data file names the field of batched input k: its column (and item)."""
    name = binding.names[k]
    field = binding.fields[k]
    key, item = (field[0], field[1]) if isinstance(field, tuple) and len(field) == 2 else (name, None)
    text = f"column '{key}'" if item is None else f"item {item + 1} of '{key}'"
    if key != name:
        text += f" (input '{name}')"
    return f"{text} of {data_path}"


def _row_at(data_path: str, line: int, row_word: str) -> str:
    return f"{data_path}:{line}" if row_word == "line" else f"{data_path} row {line}"


def _non_finite_error(graph: Graph, plan, binding, where, chunk, data_path: str, row_word: str) -> NumericError:
    at = _row_at(data_path, int(chunk.lines[where.rows[0]]), row_word)
    if where.node in plan.batched_leaves:
        what = _column(binding, plan.batched_leaves.index(where.node), data_path)
        return NumericError(f"{what} is inf or nan in the row at {at}", None,
                            "--strict stops at the first inf or nan, in the data or computed")
    return NumericError(
        f"{graph.describe(where.node)} is inf or nan for the row at {at}",
        graph.location(where.node),
        "--strict stops at the first node whose value is inf or nan",
    )
