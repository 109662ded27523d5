"""A gradient check's result as data and as a table: `cgraph check`'s two formats.

These return a dict and a rich Table; only the CLI prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..engine.gradient_check import CheckRow
from .numbers import error_number, json_number, short_number

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = ("input", "analytic", "numeric", "abs error", "rel error", "status")
_STATUS_STYLES = {"OK": "green", "KINK": "yellow"}  # anything else is a failure: bold red


def passed(rows: Sequence[CheckRow]) -> bool:
    return all(row.passed for row in rows)


def to_dict(rows: Sequence[CheckRow], eps: float, rtol: float, atol: float) -> dict[str, Any]:
    """The JSON document: the verdict, the settings, and a row per input with real
    numbers (or "inf"/"nan" strings, never a placeholder)."""
    return {
        "passed": passed(rows), "eps": eps, "rtol": rtol, "atol": atol,
        "rows": [{"name": r.name, "analytic": json_number(r.analytic), "numeric": json_number(r.numeric),
                  "abs_error": json_number(r.abs_error), "rel_error": json_number(r.rel_error), "status": r.status}
                 for r in rows],
    }


def table(rows: Sequence[CheckRow]) -> Table:
    """The rich table: a row per input, coloured by its status."""
    from rich.table import Table

    result = Table(title=f"gradient check: {'all passed' if passed(rows) else 'FAILED'}", title_justify="left")
    for col in COLUMNS:
        result.add_column(col, justify="left" if col in (COLUMNS[0], COLUMNS[-1]) else "right")  # the names, the status
    for r in rows:
        result.add_row(r.name, short_number(r.analytic), short_number(r.numeric), error_number(r.abs_error),
                       error_number(r.rel_error), r.status, style=_STATUS_STYLES.get(r.status, "bold red"))
    return result
