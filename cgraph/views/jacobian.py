"""An evaluation with several outputs (`output a, b`) as data and text: the report's
formats with one gradient column per output, and JSON's `outputs` and `jacobian`.

report.py hands an evaluation here only when it has several outputs, so a file with one
output is reported exactly as before (no new keys, no new columns). The rows are
report.py's: every output is a row, whatever `show` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.evaluator import Evaluation
from ..ops import INPUT_KINDS
from .numbers import json_number, short_number, text_number
from .report import (EXPR_LIMIT, PLAIN_NO_GRADIENT, TABLE_EXPRESSION_WIDTH, gap_row, json_grad, labelled_rows, node_grad,
                     short_grad, table_rows, tangent_cells, text_grad)

if TYPE_CHECKING:
    from rich.table import Table

    from ..engine.tangent import JVP

# Longer output names make a column header too wide: it says which output by position.
_HEADER_NAME_WIDTH = 20


def gradient_header(ev: Evaluation, k: int) -> str:
    """The header of output k's gradient column: `dg/d(node)`."""
    name = ev.per_output[k][1]
    return f"d{name}/d(node)" if len(name) < _HEADER_NAME_WIDTH else f"d(output {k + 1})/d(node)"


def headline(ev: Evaluation) -> str:
    """`a = 6, b = 3`: every output's value, in declared order."""
    return ", ".join(f"{name} = {short_number(value)}" for name, value in ev.outputs.items())


def add_to_dict(result: dict[str, Any], ev: Evaluation) -> dict[str, Any]:
    """report.to_dict's result with `outputs` and `jacobian` after `gradients`, and each
    node's gradient per output (`grads`) after its `grad` (the first output's)."""
    every = ev.per_output
    extended: dict[str, Any] = {}
    for key, value in result.items():
        extended[key] = value
        if key == "gradients":
            extended["outputs"] = {name: json_number(v) for name, v in ev.outputs.items()}
            extended["jacobian"] = {name: {leaf: json_number(g) for leaf, g in row.items()}
                                    for name, row in ev.jacobian.items()}
    extended["nodes"] = [_with_grads(ev, node, every) for node in result["nodes"]]
    return extended


def _with_grads(ev: Evaluation, node: dict[str, Any], every: list[tuple[int, str, list[float]]]) -> dict[str, Any]:
    i = node["id"]
    extended: dict[str, Any] = {}
    for key, value in node.items():
        extended[key] = value
        if key == "grad":
            extended["grads"] = {name: json_grad(node_grad(ev, i, grads)) for _, name, grads in every}
    return extended


def to_csv(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> str:
    """report.to_csv with a `dg/d(node)` column per output where one output has `grad`."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    every = ev.per_output
    writer.writerow(["id", "name", "op", "value", *(gradient_header(ev, k) for k in range(len(every))), "line", "expr",
                     *(["tangent"] if tangent is not None else [])])
    graph = ev.graph
    for i, label in labelled_rows(ev, show):
        writer.writerow([
            i, label, graph.ops[i], text_number(ev.values[i]), *(text_grad(node_grad(ev, i, grads)) for _, _, grads in every),
            graph.line_of(i), graph.text_of(i, EXPR_LIMIT), *tangent_cells(tangent, i),
        ])
    return out.getvalue()


def to_plain(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> str:
    """One `name value grad1 grad2 ...` line per row: a gradient per output, in declared order."""
    every = ev.per_output
    return "".join(
        f"{label or ev.label(i)} {text_number(ev.values[i])} "
        + " ".join([*(text_grad(node_grad(ev, i, grads), PLAIN_NO_GRADIENT) for _, _, grads in every), *tangent_cells(tangent, i)]) + "\n"
        for i, label in labelled_rows(ev, show)
    )


def to_table(ev: Evaluation, show: str = "named", tangent: JVP | None = None) -> Table:
    """report.to_table with every output in the title and a gradient column per output."""
    from rich.table import Table
    from rich.text import Text

    graph = ev.graph
    every = ev.per_output
    outputs = {node for node, _, _ in every}
    table = Table(  # Text, not str: no markup or emoji parsing of user names
        title=Text(headline(ev)),
        caption=Text("one gradient column per output: d(output)/d(node)"),
        title_justify="left",
    )
    table.add_column(Text("node"), no_wrap=True)
    table.add_column(Text("op"), no_wrap=True)  # one word: no wrapping to measure (-23% per row)
    table.add_column(Text("expression"), overflow="fold")
    table.add_column(Text("value"), justify="right", no_wrap=True)
    for k in range(len(every)):
        table.add_column(Text(gradient_header(ev, k)), justify="right", no_wrap=True)
    if tangent is not None:
        table.add_column(Text("tangent"), justify="right", no_wrap=True)
    for row in table_rows(ev, show):
        if isinstance(row, int):
            table.add_row(*gap_row(row, len(table.columns)))
            continue
        i, label = row
        op = graph.ops[i]
        style = "bold" if i in outputs else "cyan" if op in INPUT_KINDS else None
        expr = "" if op in INPUT_KINDS else graph.clipped_line_text(i, TABLE_EXPRESSION_WIDTH)
        table.add_row(
            Text(label or ev.label(i)), Text(op), Text(expr), Text(short_number(ev.values[i])),
            *(Text(short_grad(node_grad(ev, i, grads))) for _, _, grads in every),
            *([] if tangent is None else [Text(short_number(tangent.node_tangents[i]))]),
            style=style,
        )
    return table
