"""A Hessian and its check as data, text and tables: `cgraph hessian`'s formats and
`cgraph check --order 2`'s. These return dicts, strings and rich Tables; only the CLI prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.hessian import Hessian, HessianCheck
from . import checkview
from .numbers import error_number, json_number, number, text_number

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

FORMATS = ("table", "json", "csv", "plain")


def to_dict(h: Hessian) -> dict[str, Any]:
    """{"output", "value", "wrt", "gradient", "hessian"}: real numbers, or "inf", "-inf",
    "nan" as every JSON output of cgraph spells a number that is not finite."""
    return {"output": h.output, "value": json_number(h.value), "wrt": list(h.wrt),
            "gradient": [json_number(v) for v in h.gradient],
            "hessian": [[json_number(v) for v in row] for row in h.hessian]}


def to_csv(h: Hessian) -> str:
    """A header (wrt, gradient, then each wrt name) and a row per wrt name: its gradient
    and its row of the Hessian, at full precision."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["wrt", "gradient", *h.wrt])
    for name, g, row in zip(h.wrt, h.gradient, h.hessian):
        writer.writerow([name, text_number(g), *(text_number(v) for v in row)])
    return out.getvalue()


def to_plain(h: Hessian) -> str:
    """Lines for awk: `value V`, then `gradient NAME G` per name, `hessian ROW COLUMN H`
    per entry, at full precision."""
    lines = [f"value {text_number(h.value)}"]
    lines += [f"gradient {name} {text_number(g)}" for name, g in zip(h.wrt, h.gradient)]
    lines += [f"hessian {a} {b} {text_number(v)}" for a, row in zip(h.wrt, h.hessian) for b, v in zip(h.wrt, row)]
    return "\n".join(lines) + "\n"


def table(h: Hessian, precision: int = 10) -> RenderableType:
    """The value, then the gradient and the Hessian side by side: a row per wrt name, a
    column per wrt name (row i, column j: d2 out/(d i d j))."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    out = h.output
    matrix = Table()
    matrix.add_column("", no_wrap=True)
    matrix.add_column(f"d{out}/d(row)", justify="right", no_wrap=True)
    for name in h.wrt:
        matrix.add_column(name, justify="right", no_wrap=True)
    for name, g, row in zip(h.wrt, h.gradient, h.hessian):
        matrix.add_row(name, number(g, precision), *(number(v, precision) for v in row))
    return Group(Text(f"{out} = {number(h.value, precision)}"),
                 Text(f"gradient d{out}/d(row) and Hessian d2{out}/(d row d column):"), matrix)


# --- check --order 2 -------------------------------------------------------------------


def check_to_dict(check: HessianCheck, eps: float, rtol: float, atol: float) -> dict[str, Any]:
    """The order-1 check's document with the entries of H as rows ("x, y": H[x][y]), the
    order and the symmetry."""
    document = checkview.to_dict(check.rows, eps, rtol, atol)
    document["passed"] = check.passed
    document["order"] = 2
    document["symmetry"] = {"max_abs_difference": json_number(check.asymmetry),
                            "tolerance": json_number(check.symmetry_tolerance), "symmetric": check.symmetric}
    return document


def check_table(check: HessianCheck) -> RenderableType:
    """The order-1 check's table with a row per entry of H, then a line on its symmetry."""
    from rich.console import Group
    from rich.text import Text

    verdict = "all passed" if check.passed else "FAILED"
    result = checkview.table(check.rows)
    result.title = f"Hessian check: {verdict}"
    result.columns[0].header = "entry"
    # Text, not markup: the brackets of H[i][j] are not style tags.
    symmetry = Text(f"symmetry: max |H[i][j] - H[j][i]| = {error_number(check.asymmetry)} "
                    f"({'OK' if check.symmetric else 'FAIL'}; tolerance {error_number(check.symmetry_tolerance)})")
    return Group(result, Text("entry x, y: d/dy (d out/dx)"), symmetry)
