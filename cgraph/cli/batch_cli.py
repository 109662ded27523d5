"""What `cgraph eval --data` and `cgraph train` share: NumPy on demand, data files bound
to inputs, params files, and `eval --data` itself (rows in, one line per row out).

Nothing here imports NumPy at module level: `cgraph eval` without --data never loads it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from ..errors import InputError, MissingDependency, NumericError
from ..ir import Graph

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
    click.echo(text, err=True)


def open_data(graph: Graph, path: str, given: dict[str, float], *, params_ok: bool, fmt: str | None = None,
              delimiter: str | None = None, defaults_ok: bool = True):
    """The data file and its binding to the graph's inputs; notes about unused columns and
    warnings about inputs left to their defaults to stderr. With `defaults_ok` false
    (training), an input that every row would take from its default is an error."""
    from .. import data

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


def params_values(graph: Graph, path: str | None, what: str) -> dict[str, float]:
    if not path:
        return {}
    from ..paramsfile import read_params

    return read_params(path, graph, what).values


def eval_data(graph: Graph, inputs: dict[str, float], output_name: str | None, *, data_path: str, fmt: str,
              target: str, chunk_rows: int | None, on_error: str, strict: bool, program_file: str | None,
              data_format: str | None = None, delimiter: str | None = None) -> None:
    """`cgraph eval FILE --data rows.csv`: one output line per data row, streamed in chunks."""
    require_numpy()
    import numpy as np

    from .. import batch, data
    from .output import OutputError, atomic_writer

    datafile, binding = open_data(graph, data_path, inputs, params_ok=True, fmt=data_format, delimiter=delimiter)
    plan = batch.Plan(graph, binding.names, output=output_name, shared_grads="rows")
    base = bind_shared(plan, inputs, data_path)
    rows = chunk_rows or plan.chunk_rows()
    skipped = data.Skipped()
    row_word = "row" if datafile.format == "parquet" else "line"
    origins: dict[tuple[int, str], list[int]] = {}  # (node, kind) -> [rows, first data line]
    with atomic_writer(target, inputs=(program_file or "", data_path)) as out:
        writer = data.RowWriter(out, fmt, plan.output_name, plan.wrt_names, row_word)
        for chunk in datafile.chunks(binding.fields, rows, on_error, skipped):
            if strict:
                where = plan.first_non_finite(base, chunk.columns, chunk.n)
                if where is not None and where.kind == "value":
                    raise _non_finite_error(graph, where, chunk, data_path, row_word)
            result = plan.run(base, chunk.columns, chunk.n)
            grads = [result.grads[name] for name in plan.wrt_names]
            if not (np.isfinite(result.value).all() and all(np.isfinite(g).all() for g in grads)):
                where = plan.first_non_finite(base, chunk.columns, chunk.n)
                if where is not None:
                    seen = origins.setdefault((where.node, where.kind), [0, int(chunk.lines[where.rows[0]])])
                    seen[0] += len(where.rows)
            try:
                writer.write(chunk.lines, result.value, grads)
            except OSError as exc:
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    summary = skipped.summary(data_path)
    if summary:
        echo_err(summary)
    for (node, kind), (count, line) in origins.items():
        problem = "is inf or nan" if kind == "value" else "makes a gradient inf or nan"
        echo_err(f"{graph.location(node)}: warning: {_what(graph, node)} {problem} in {count} "
                 f"row{'s' if count != 1 else ''} (first at {_row_at(data_path, line, row_word)})")
    if writer.rows == 0:
        echo_err(f"note: {data_path} has no rows" + (" left after skipping bad ones" if skipped.count else ""))
    if target != "-":
        echo_err(f"wrote {writer.rows} row{'s' if writer.rows != 1 else ''} to {target}")


def _what(graph: Graph, i: int) -> str:
    text = graph.text_of(i)
    name = graph.name_of(i)
    return f"'{text}'" + (f" ({name})" if name and name != text else "")


def _row_at(data_path: str, line: int, row_word: str) -> str:
    return f"{data_path}:{line}" if row_word == "line" else f"{data_path} row {line}"


def _non_finite_error(graph: Graph, where, chunk, data_path: str, row_word: str) -> NumericError:
    at = _row_at(data_path, int(chunk.lines[where.rows[0]]), row_word)
    return NumericError(
        f"{_what(graph, where.node)} is inf or nan for the row at {at}",
        graph.location(where.node),
        "--strict stops at the first node whose value is inf or nan",
    )
