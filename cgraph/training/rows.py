"""A graph evaluated on every row of a data file: what `cgraph eval --data` computes, as a
library (`evaluate_rows`), with the command line left to write the rows and the messages.

    rows = evaluate_rows(graph, datafile, binding, given, output=None, on_error="fail")
    for part in rows:                 # one vectorized chunk at a time, bounded memory
        write(part.lines, part.value, part.grads)
    for message in rows.warnings():   # after the last chunk: skipped rows, inf/nan origins
        print(message)

Each row gives the output's value and its gradient w.r.t. every input and param
(`rows.wrt_names`). Nothing here prints or writes a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from ..engine import batch
from ..engine.evaluator import output_names
from ..engine.pool import ChunkPool, thread_count
from ..errors import InputError, NumericError
from ..ir.graph import Graph
from .data import Binding, DataFile, Skipped


@dataclass
class RowResults:
    """One chunk's rows: each row's line in the data file (row number for Parquet), the
    output's value and one gradient array per name of `RowEvaluation.wrt_names`."""

    lines: np.ndarray
    value: np.ndarray
    grads: list[np.ndarray | float]  # a float where a gradient is the same in every row
    # The outputs after the first (`output g, p`): each one's value and gradients, alike.
    more: list[tuple[np.ndarray, list[np.ndarray | float]]] = field(default_factory=list)
    # The rows as the output's text, made by the worker (RowEvaluation.render); then the
    # arrays above are not sent back from it, and are empty.
    text: bytes | None = None

    @property
    def n(self) -> int:
        return len(self.lines)


_NO_ROWS = np.empty(0)
_TEXT_NUMBERS_PER_CHUNK = 2**17


def data_notes(datafile: DataFile, binding: Binding) -> list[str]:
    """Notes about columns that bind nothing (an id or a label column is fine): the first
    few, then how many more (a file of a million columns is not a million lines of notes)."""
    shown = [f"note: {datafile.label}: {note}" for note in binding.notes[:_NOTES_SHOWN]]
    more = len(binding.notes) - _NOTES_SHOWN
    if more > 0:
        shown.append(f"note: {datafile.label}: {more:,} more column{'s bind' if more > 1 else ' binds'} nothing; ignored")
    return shown


_NOTES_SHOWN = 8


def defaulted_warning(graph: Graph, datafile: DataFile, binding: Binding, defaults_ok: bool) -> str | None:
    """Inputs the data could give but does not, named in one warning; with `defaults_ok`
    false (training) an input that every row would take from its default is an error."""
    names = binding.defaulted
    if not names:
        return None
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
    return f"warning: {datafile.label} has no column for {what}: every row uses {their}{near}"


def bind_shared(plan: batch.Plan, values: Mapping[str, float], data_label: str) -> list:
    """plan.bind, with a missing input's hint mentioning the data file."""
    try:
        return plan.bind(dict(values))
    except InputError as exc:
        if exc.message.startswith("missing value"):
            exc.cli_hint = (f"give values as columns of {data_label}, or as --NAME VALUE (or --input NAME=VALUE, "
                        "or --inputs FILE.json)")
        raise


class RowEvaluation:
    """The rows of `datafile` evaluated in chunks; iterate once for the results.

    Built eagerly (the plan, the values every row shares), so a missing input is an error
    before any row is read or any output opened. `strict` stops at the first inf or nan
    value (a NumericError naming the row); otherwise where inf or nan starts is tallied
    over all rows and said by `warnings()`.

    `threads` chunks are evaluated at a time, by worker processes (threads where the
    platform cannot fork) that inherit this object as it is when the first chunks go out
    (None: $CGRAPH_THREADS, else one per core; 1: in this process, no pool). The output is the same for every count: a chunk's
    rows are computed from that chunk alone, and the results (and the tally of where inf
    or nan starts) are taken in chunk order."""

    def __init__(self, graph: Graph, datafile: DataFile, binding: Binding, given: Mapping[str, float], *,
                 output: str | Sequence[str] | None = None, chunk_rows: int | None = None, on_error: str = "fail",
                 strict: bool = False, threads: int | None = None):
        self.graph = graph
        self.datafile = datafile
        self.binding = binding
        self.on_error = on_error
        self.strict = strict
        chosen = output_names(graph, output)
        self.plan = batch.Plan(graph, binding.names, output=chosen[0], shared_grads="rows")
        self.base = bind_shared(self.plan, given, datafile.label)
        # Several outputs: a plan each (its own forward and backward pass over the chunk).
        self.more = [_OtherOutput(graph, binding.names, name, given, datafile.label) for name in chosen[1:]]
        for other in self.more:
            other.find_new_nodes(self)  # now, before the workers see this object
        self.threads = thread_count(threads)
        self.chunk_rows = chunk_rows  # None: the plan's, or fewer when rendering (__iter__)
        self.skipped = Skipped()
        self.row_word = "row" if datafile.format == "parquet" else "line"
        self.origins = batch.NonFiniteTally()
        self.first_source: dict[tuple[int, str], str] = {}  # (node, kind) -> the file of its first row (a data set)
        self.shared_finite = self.plan.shared_finite(self.base)
        self.rows = 0  # rows evaluated so far
        # Set before iterating, to have each chunk's rows made into the output's text where
        # the chunk is evaluated (RowResults.text): on 2 workers, formatting the numbers
        # was most of `eval --data`'s time, in this process alone.
        self.render: Callable[[RowResults], bytes] | None = None

    @property
    def output_name(self) -> str:
        return self.plan.output_name

    @property
    def wrt_names(self) -> list[str]:
        return self.plan.wrt_names

    @property
    def more_output_names(self) -> list[str]:
        """The outputs after the first (none for a file with one output)."""
        return [other.name for other in self.more]

    def __iter__(self) -> Iterator[RowResults]:
        chunks = self.datafile.chunks(self.binding.fields, self._rows_per_chunk(), self.on_error, self.skipped)
        with ChunkPool(self.threads, tasks=[self._evaluate]) as pool:
            for part, origins, source in pool.map(self._evaluate, chunks):
                for found in origins:
                    self.tally(found, part.lines, source)
                self.rows += part.n
                yield part

    def _rows_per_chunk(self) -> int:
        """--chunk-rows, else the plan's (its memory budget); when the rows are also made
        into text, few enough that a chunk's text is ~130,000 numbers: writing a number
        (~1 µs) costs as much as evaluating ~400 nodes for it, so the chunks are small
        enough to share out evenly among the workers (1e5 rows of the benchmark's graph in
        chunks of 34k were 3 chunks: one of 2 workers wrote two)."""
        if self.chunk_rows:
            return self.chunk_rows
        rows = self.plan.chunk_rows()
        if self.render is None:
            return rows
        numbers = 1 + (1 + len(self.plan.wrt_names)) * (1 + len(self.more))
        return max(batch.MIN_CHUNK_ROWS, min(rows, _TEXT_NUMBERS_PER_CHUNK // numbers))

    def _evaluate(self, chunk) -> tuple[RowResults, list[list[batch.NonFinite]], str | None]:
        """One chunk's rows, and where inf or nan starts in them (per output: the caller
        tallies them in chunk order). Runs in a worker: it changes nothing shared."""
        value, grads, found = _run_chunk(self, self.plan, self.base, self.shared_finite, chunk)
        origins = [] if found is None else [found]
        more = []
        for other in self.more:
            other_value, other_grads, other_found = other.run(self, chunk)
            more.append((other_value, other_grads))
            if other_found:
                origins.append(other_found)
        part = RowResults(chunk.lines, value, grads, more)
        if self.render is not None:
            part = RowResults(chunk.lines, _NO_ROWS, [], [], self.render(part))
        return part, origins, chunk.source

    def tally(self, origins: list, lines, source: str | None) -> None:
        """Count a chunk's inf/nan origins (and, in a data set, the file of each one's first
        row): on the caller's thread, in chunk order."""
        self.origins.add(origins, lines)
        if source is not None:
            for o in origins:
                self.first_source.setdefault((o.node, o.kind), source)

    def warnings(self) -> list[str]:
        """After the last chunk, in order: the rows skipped, each place where inf or nan
        starts, and a note when no row was evaluated."""
        messages = []
        summary = self.skipped.summary(self.datafile.label)
        if summary:
            messages.append(summary)
        messages += non_finite_warnings(self.graph, self.plan, self.binding, self.origins, self.datafile.label,
                                        self.row_word, self.first_source)
        if self.rows == 0:
            left = " left after skipping bad ones" if self.skipped.count else ""
            messages.append(f"note: {self.datafile.label} has no rows{left}")
        return messages

    def _non_finite_error(self, where, chunk) -> NumericError:
        graph, plan, label = self.graph, self.plan, chunk.source or self.datafile.label
        at = _row_at(label, int(chunk.lines[where.rows[0]]), self.row_word)
        if where.node in plan.batched_leaves:
            what = _column(self.binding, plan.batched_leaves.index(where.node), label)
            return NumericError(f"{what} is inf or nan in the row at {at}", None,
                                "--strict stops at the first inf or nan, in the data or computed")
        return NumericError(
            f"{graph.describe(where.node)} is inf or nan for the row at {at}",
            graph.location(where.node),
            "--strict stops at the first node whose value is inf or nan",
        )


class _OtherOutput:
    """An output after the first, evaluated on the same chunks by a plan of its own. Where
    inf or nan starts is tallied only for the nodes no earlier output's plan looks at
    (those it tallies), so no row is counted twice."""

    def __init__(self, graph: Graph, batched: list[str], name: str, given: Mapping[str, float], label: str):
        self.name = name
        self.plan = batch.Plan(graph, batched, output=name, shared_grads="rows")
        self.base = bind_shared(self.plan, given, label)
        self.shared_finite = self.plan.shared_finite(self.base)
        self.new_nodes: bytearray | None = None  # set by find_new_nodes: the nodes no earlier plan has

    def run(self, rows: RowEvaluation, chunk) -> tuple[np.ndarray, list[np.ndarray | float], list[batch.NonFinite]]:
        """The chunk's values and gradients, and the origins of inf or nan among this
        output's new nodes (for the caller to tally)."""
        value, grads, origins = _run_chunk(rows, self.plan, self.base, self.shared_finite, chunk)
        if origins is None:
            return value, grads, []
        new = self.new_nodes
        assert new is not None  # set by find_new_nodes
        return value, grads, [o for o in origins if new[o.node]]

    def find_new_nodes(self, rows: RowEvaluation) -> None:
        """The nodes of this output's plan that no earlier output's plan looks at."""
        new = self.plan.graph.upstream(self.plan.output)
        for earlier in [rows.plan, *(other.plan for other in rows.more[:rows.more.index(self)])]:
            seen = earlier.graph.upstream(earlier.output)
            for i in range(len(new)):
                if seen[i]:
                    new[i] = 0
        self.new_nodes = new


def _run_chunk(rows: RowEvaluation, plan: batch.Plan, base, shared_finite: bool, chunk):
    """One output's plan over one chunk: its values, its gradients (in `plan.wrt_names`
    order) and where inf or nan starts among its nodes (None when everything is finite).
    With --strict an inf or nan value is the run's error at once."""
    if rows.strict:
        where = plan.first_non_finite(base, chunk.columns, chunk.n)
        if where is not None and where.kind == "value":
            raise rows._non_finite_error(where, chunk)
    result = plan.run(base, chunk.columns, chunk.n, check_values=True)
    grads = [result.grads[name] for name in plan.wrt_names]
    # The common case costs one sum per node and an isfinite pass over the gradients;
    # the node by node diagnosis runs only on a chunk where something is inf or nan.
    if shared_finite and result.values_finite and all(np.isfinite(g).all() for g in grads):
        return result.value, grads, None
    return result.value, grads, plan.non_finite_origins(base, chunk.columns, chunk.n)


def evaluate_rows(graph: Graph, datafile: DataFile, binding: Binding, given: Mapping[str, float], *,
                  output: str | Sequence[str] | None = None, chunk_rows: int | None = None,
                  on_error: str = "fail", strict: bool = False, threads: int | None = None) -> RowEvaluation:
    """Every row of `datafile` (bound to `graph`'s inputs by `binding`; `given` holds the
    values every row shares), ready to iterate chunk by chunk, `threads` chunks at a time
    (None: $CGRAPH_THREADS, else one per core; 1: no workers)."""
    return RowEvaluation(graph, datafile, binding, given, output=output, chunk_rows=chunk_rows,
                         on_error=on_error, strict=strict, threads=threads)


def non_finite_warnings(graph: Graph, plan: batch.Plan, binding: Binding, origins, data_label: str,
                        row_word: str, sources: Mapping[tuple[int, str], str] | None = None) -> list[str]:
    """One warning per place where inf or nan starts, over all rows: a data column that
    holds inf or nan is the data's (named by column), any other node is the program's.
    `sources`: in a data set, the file of each origin's first row."""
    batched = dict(zip(plan.batched_leaves, range(len(plan.batched_leaves))))
    data_warnings, node_warnings = [], []  # the data's first, in the file's column order
    for node, kind, count, first, _arg in origins.items():
        where = (sources or {}).get((node, kind), data_label)
        rows = f"{count} row{'s' if count != 1 else ''} (first at {_row_at(where, first, row_word)})"
        if kind == "value" and node in batched:
            k = batched[node]
            data_warnings.append((k, f"warning: {_column(binding, k, data_label)} is inf or nan in {rows}"))
            continue
        problem = "is inf or nan" if kind == "value" else "makes a gradient inf or nan"
        node_warnings.append(f"{graph.location(node)}: warning: {graph.describe(node)} {problem} in {rows}")
    return [text for _, text in sorted(data_warnings)] + node_warnings


def _column(binding: Binding, k: int, data_label: str) -> str:
    """How the data file names the field of batched input k: its column (and item)."""
    name = binding.names[k]
    field: Sequence = binding.fields[k]
    key, item = (field[0], field[1]) if isinstance(field, tuple) and len(field) == 2 else (name, None)
    text = f"column '{key}'" if item is None else f"item {item + 1} of '{key}'"
    if key != name:
        text += f" (input '{name}')"
    return f"{text} of {data_label}"


def _row_at(data_label: str, line: int, row_word: str) -> str:
    return f"{data_label}:{line}" if row_word == "line" else f"{data_label} row {line}"
