"""Rows out: one line per row (the output's value and each gradient), as CSV or JSON Lines."""

from __future__ import annotations

import json
from typing import IO, Sequence

import numpy as np


OUT_FORMATS = ("csv", "jsonl")


class RowWriter:
    """One line per row: the output's value and each gradient, as CSV or JSON Lines.

    CSV: `line,g,dg/dx,dg/dy,...`; JSON Lines: {"line": 2, "value": -12.0, "gradients":
    {"x": -3.0, ...}}. Numbers have full precision (they read back as the same float);
    inf and nan are written inf/nan in CSV and "inf"/"nan" (strings) in JSON."""

    def __init__(self, out: IO[bytes], fmt: str, output: str, names: Sequence[str], row_word: str = "line"):
        if fmt not in OUT_FORMATS:
            raise ValueError(f"format must be one of {OUT_FORMATS}")
        self.out = out
        self.fmt = fmt
        self.rows = 0
        if fmt == "csv":
            import csv
            import io

            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow([row_word, output, *(f"d{output}/d{n}" for n in names)])
            out.write(header.getvalue().encode())
            self.template = ",".join(["{}"] * (2 + len(names))) + "\n"
        else:
            parts = ", ".join(f"{_braces(json.dumps(n))}: {{}}" for n in names)
            self.template = f'{{{{"{row_word}": {{}}, "value": {{}}, "gradients": {{{{{parts}}}}}}}}}\n'
        self.json = fmt == "jsonl"

    def write(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[np.ndarray]) -> None:
        columns = [list(map(str, lines.tolist())), self._numbers(value)]
        columns += [self._numbers(g) for g in grads]
        self.out.write("".join(map(self.template.format, *columns)).encode())
        self.rows += len(lines)

    def _numbers(self, values: np.ndarray) -> list[str]:
        strings = list(map(repr, values.tolist()))
        if self.json and not np.isfinite(values).all():
            for k in np.flatnonzero(~np.isfinite(values)).tolist():
                strings[k] = f'"{strings[k]}"'
        return strings


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
