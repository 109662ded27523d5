"""An evaluation as data and text: JSON, CSV, plain lines, and a rich table.

These return strings and objects; only the CLI prints them. `show` picks the rows in
every format: "inputs" (the output and every input and param), "named" (every node with
a name), "all" (anonymous intermediate nodes too).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine.evaluator import Evaluation
from ..ops import INPUT_KINDS, PARAM
from .numbers import json_number, short_number, text_number

if TYPE_CHECKING:
    from rich.table import Table

    from ..engine.tangent import JVP

T = TypeVar("T")
SHOW = ("inputs", "named", "all")
TABLE_EXPRESSION_WIDTH = 120
# Characters of a node's source text in JSON and CSV (`expr`): past them it is cut, ending
# in `...`. The nodes of one expression nested 100,000 deep each span most of it, and the
# whole text per node made a 200 KB file's JSON tens of gigabytes.
EXPR_LIMIT = 1000
# A table is read at a terminal, and rich lays out 3,000-5,000 rows a second (a
# 600,000-node chain took 108 s and 1 GB): past TABLE_MAX_ROWS rows, the first and last
# TABLE_END_ROWS are shown around a row saying how many are left out and which formats
# print every one (csv, json and plain are not cut).
TABLE_MAX_ROWS = 2_000
TABLE_END_ROWS = 500
FORMATS = ("table", "plain", "json", "csv")


def rows(ev: Evaluation, show: str = "named") -> list[int]:
    """Node ids to list, in tape order."""
    graph = ev.graph
    if show == "all":
        return list(range(len(graph)))
    if show == "named":
        ids = set(graph.node_names)
    elif show == "inputs":
        ids = set(graph.leaves)
    else:
        raise ValueError(f"show must be one of {SHOW}, not {show!r}")
    ids.add(ev.output)
    ids.update(node for node, _, _ in ev.more)  # every output is a row
    return sorted(ids)


def labelled_rows(ev: Evaluation, show: str = "named") -> list[tuple[int, str]]:
    """(node id, label) per row of the text formats: with "named" and "all", a node with
    several names (`g = f` makes g another name of f's node) has a row per name, so every
    name the file gives can be looked up; anonymous nodes are labelled "" (#id in plain)."""
    names_of = ev.graph.node_names.get
    result = []
    for i in rows(ev, show):
        names = names_of(i, ())
        if show == "inputs" or len(names) < 2:
            result.append((i, ev.label(i) if names else ""))
            continue
        labels = list(names)
        if i == ev.output and ev.output_name not in labels:  # a bare expression's `out`
            labels.append(ev.output_name)
        result.extend((i, label) for label in labels)
    return result


# A literal's gradient in the text formats: blank in a table or a CSV cell, a dash in
# `plain`, whose fields are split on spaces (a blank there would shift the tangent column).
NO_GRADIENT = ""
PLAIN_NO_GRADIENT = "-"


def node_grad(ev: Evaluation, i: int, grads: list[float] | None = None) -> float | None:
    """d out/d node as every report gives it: None for a literal (a number written in the
    file, or a loop variable's value), since nobody can vary a 3 and d out/d 3 is noise (the
    nan of d/db a^b at a < 0 for the 2 of x^2); a named constant (`f = 3`) keeps its gradient.
    `grads`: another output's gradients than the first's."""
    if ev.graph.is_literal(i):
        return None
    return (ev.grads if grads is None else grads)[i]


def json_grad(g: float | None) -> float | str | None:
    return None if g is None else json_number(g)


def text_grad(g: float | None, blank: str = NO_GRADIENT) -> str:
    return blank if g is None else text_number(g)


def short_grad(g: float | None) -> str:
    return NO_GRADIENT if g is None else short_number(g)


def to_dict(ev: Evaluation, show: str = "named") -> dict[str, Any]:
    graph = ev.graph
    nodes = []
    for i in rows(ev, show):
        names = graph.node_names.get(i, ())
        line, column = graph.line_col(i)
        nodes.append({
            "id": i,
            "name": ev.label(i) if names else None,
            "names": list(names),
            "op": graph.ops[i],
            "args": list(graph.args[i]),
            "value": json_number(ev.values[i]),
            "grad": json_grad(node_grad(ev, i)),
            "line": line,
            "column": column,
            "expr": graph.text_of(i, EXPR_LIMIT),
            "tags": [{"kind": t.kind, "name": t.name, "value": t.value, "line": t.line} for t in graph.tags[i]],
        })
    result = {
        "output": ev.output_name,
        "value": json_number(ev.value),
        "inputs": {k: json_number(v) for k, v in ev.inputs.items()},
        "params": [graph.name_of(i) for i in graph.leaves if graph.ops[i] == PARAM],
        "gradients": {k: json_number(v) for k, v in ev.gradients.items()},
        "nodes": nodes,
        "warnings": list(ev.warnings),
    }
    if ev.more:  # several outputs: `outputs` and `jacobian` added, nothing else changed
        from .jacobian import add_to_dict

        return add_to_dict(result, ev)
    return result


def to_json(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> str:
    import json

    data = to_dict(ev, show)
    if tangent is not None:
        data.update(tangent_fields(ev, tangent, show))
    return json.dumps(data, indent=2, allow_nan=False)


def tangent_fields(ev: Evaluation, tangent: JVP, show: str = "named") -> dict[str, Any]:
    """JSON's forward-mode keys: `tangents` (the rows --show lists, by the name the text
    formats give them) and `directional_derivative` (the first output's), and with several
    outputs `directional_derivatives` (each output's)."""
    t = tangent.node_tangents
    fields: dict[str, Any] = {
        "tangents": {label or ev.label(i): json_number(t[i]) for i, label in labelled_rows(ev, show)},
        "directional_derivative": json_number(tangent.directional_derivative),
    }
    if ev.more:  # several outputs: each one's, as `outputs` lists them
        fields["directional_derivatives"] = {name: json_number(t[node]) for node, name, _ in ev.per_output}
    return fields


def tangent_cells(tangent: JVP | None, i: int) -> list[str]:
    """The tangent column's cell for node i, or none without --tangent."""
    return [] if tangent is None else [text_number(tangent.node_tangents[i])]


def to_csv(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> str:
    if ev.more:  # several outputs: a gradient column per output
        from . import jacobian

        return jacobian.to_csv(ev, show, tangent)
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "name", "op", "value", "grad", "line", "expr"] + (["tangent"] if tangent is not None else []))
    graph = ev.graph
    for i, label in labelled_rows(ev, show):
        writer.writerow([
            i, label, graph.ops[i], text_number(ev.values[i]), text_grad(node_grad(ev, i)), graph.line_of(i), graph.text_of(i, EXPR_LIMIT),
            *tangent_cells(tangent, i),
        ])
    return out.getvalue()


def to_plain(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> str:
    """One `name value grad` line per row (anonymous nodes are #id), for awk and friends;
    `name value grad tangent` with a tangent."""
    if ev.more:  # several outputs: a gradient per output on each line
        from . import jacobian

        return jacobian.to_plain(ev, show, tangent)
    return "".join(
        " ".join([f"{label or ev.label(i)} {text_number(ev.values[i])} {text_grad(node_grad(ev, i), PLAIN_NO_GRADIENT)}",
                  *tangent_cells(tangent, i)]) + "\n"
        for i, label in labelled_rows(ev, show)
    )


# Spaces (and tabs) at the end of a line, before any colour codes that close it.
_LINE_END_SPACES = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)


def strip_line_ends(text: str) -> str:
    """`text` without the spaces rich pads every line of a table to its width with
    (a title, a short last column): invisible on a terminal, noise for diff and grep."""
    return _LINE_END_SPACES.sub(r"\1", text)


def cut_rows(rows: list[T]) -> list[T | int]:
    """A table's rows (any table's: eval's, train's params): past TABLE_MAX_ROWS, the first
    and last TABLE_END_ROWS with, between them, the number of rows left out (an int) where
    the gap row goes."""
    if len(rows) <= TABLE_MAX_ROWS:
        return list(rows)
    return [*rows[:TABLE_END_ROWS], len(rows) - 2 * TABLE_END_ROWS, *rows[-TABLE_END_ROWS:]]


def table_rows(ev: Evaluation, show: str = "named") -> list[tuple[int, str] | int]:
    """`labelled_rows` for a table, cut as `cut_rows` cuts them."""
    return cut_rows(labelled_rows(ev, show))


def gap_row(left_out: int, columns: int) -> list:
    """The row standing for the rows a long table leaves out."""
    from rich.text import Text

    note = Text(f"{left_out:,} rows left out: --format csv, json or plain prints every one", style="italic")
    return [Text("…"), Text(""), note, *[Text("")] * (columns - 3)]


def to_table(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> Table:
    if ev.more:  # several outputs: a gradient column per output
        from . import jacobian

        return jacobian.to_table(ev, show, tangent)
    from rich.table import Table
    from rich.text import Text

    graph = ev.graph
    out = ev.output_name
    table = Table(  # Text, not str: no markup or emoji parsing of user names
        title=Text(f"{out} = {short_number(ev.value)}"),
        caption=Text(f"gradients are d{out}/d(node)") if len(out) < 20 else None,
        title_justify="left",
    )
    table.add_column(Text("node"), no_wrap=True)
    table.add_column(Text("op"), no_wrap=True)  # one word: no wrapping to measure (-23% per row)
    table.add_column(Text("expression"), overflow="fold")
    table.add_column(Text("value"), justify="right", no_wrap=True)
    table.add_column(Text(f"d{out}/d(node)" if len(out) < 20 else "gradient"), justify="right", no_wrap=True)
    if tangent is not None:
        table.add_column(Text("tangent"), justify="right", no_wrap=True)
    for row in table_rows(ev, show):
        if isinstance(row, int):
            table.add_row(*gap_row(row, len(table.columns)))
            continue
        i, label = row
        op = graph.ops[i]
        style = "bold" if i == ev.output else "cyan" if op in INPUT_KINDS else None
        # One line without comments (none reaches the terminal), and cut short: in a long
        # chain every intermediate node's text holds the whole chain so far.
        expr = "" if op in INPUT_KINDS else graph.clipped_line_text(i, TABLE_EXPRESSION_WIDTH)
        table.add_row(
            Text(label or ev.label(i)), Text(op), Text(expr), Text(short_number(ev.values[i])), Text(short_grad(node_grad(ev, i))),
            *([] if tangent is None else [Text(short_number(tangent.node_tangents[i]))]),
            style=style,
        )
    return table
