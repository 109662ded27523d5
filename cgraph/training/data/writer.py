"""Rows out: one line per row (the output's value and each gradient), as CSV or JSON Lines,
or Parquet (a file named .parquet), for both engines."""

from __future__ import annotations

import json
import os
from typing import IO, Any, Sequence

import numpy as np

from ...errors import MissingDependency

OUT_FORMATS = ("csv", "jsonl")
OUT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def out_format(target: str, fmt: str | None) -> str:
    """The output's format: --format if given, else the file's suffix, else CSV."""
    if fmt is not None:
        return fmt
    return OUT_SUFFIXES.get(os.path.splitext(target)[1].lower(), "csv")


class RowWriter:
    """One line per row: the output's value and each gradient, as CSV or JSON Lines.

    CSV: `line,g,dg/dx,dg/dy,...`; JSON Lines: {"line": 2, "value": -12.0, "gradients":
    {"x": -3.0, ...}}. Numbers have full precision (they read back as the same float);
    inf and nan are written inf/nan in CSV and "inf"/"nan" (strings) in JSON.

    With `more_outputs` (the outputs after the first, `output g, p`), CSV has every
    output's value, then every output's gradients: `line,g,p,dg/dx,...,dp/dx,...`;
    JSON Lines adds "outputs" ({"g": ..., "p": ...}) and "jacobian" ({"g": {"x": ...},
    "p": {...}}) after "gradients", which stay the first output's."""

    def __init__(self, out: IO[bytes], fmt: str, output: str, names: Sequence[str], row_word: str = "line",
                 more_outputs: Sequence[str] = ()):
        if fmt not in OUT_FORMATS:
            raise ValueError(f"format must be one of {OUT_FORMATS}")
        self.out = out
        self.fmt = fmt
        self.rows = 0
        if fmt == "csv":
            import csv
            import io

            header = io.StringIO()
            outputs = [output, *more_outputs]
            csv.writer(header, lineterminator="\n").writerow(
                [row_word, *outputs, *(f"d{o}/d{n}" for o in outputs for n in names)])
            out.write(header.getvalue().encode())
            self.template = ",".join(["{}"] * (1 + len(outputs) * (1 + len(names)))) + "\n"
        else:
            parts = ", ".join(f"{_braces(json.dumps(n))}: {{}}" for n in names)
            jacobian = _jacobian_template([output, *more_outputs], parts) if more_outputs else ""
            self.template = f'{{{{"{row_word}": {{}}, "value": {{}}, "gradients": {{{{{parts}}}}}{jacobian}}}}}\n'
        self.json = fmt == "jsonl"

    def write(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[np.ndarray],
              more: Sequence[tuple[np.ndarray, Sequence[np.ndarray]]] = ()) -> None:
        """One line per row; `more` holds each further output's (value, gradients)."""
        self.write_text(self.text(lines, value, grads, more), len(lines))

    def write_text(self, text: bytes, rows: int) -> None:
        """Rows already made into text by `text` (in a worker, say)."""
        self.out.write(text)
        self.rows += rows

    def text(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[np.ndarray],
             more: Sequence[tuple[np.ndarray, Sequence[np.ndarray]]] = ()) -> bytes:
        """What `write` writes for these rows. Touches nothing but its arguments, so a worker
        process can make the text of its chunk (most of `eval --data`'s time is here)."""
        numbers = self._numbers
        columns = [list(map(str, lines.tolist())), numbers(value)]
        if not more:
            columns += [numbers(g) for g in grads]
        elif self.json:  # "gradients", then the first output again in "outputs" and "jacobian"
            every = [(value, grads), *more]
            columns += [numbers(g) for g in grads]
            columns += [numbers(v) for v, _ in every] + [numbers(g) for _, gs in every for g in gs]
        else:  # every output's value, then every output's gradients
            columns += [numbers(v) for v, _ in more]
            columns += [numbers(g) for _, gs in [(value, grads), *more] for g in gs]
        return "".join(map(self.template.format, *columns)).encode()

    def _numbers(self, values: np.ndarray) -> list[str]:
        strings = list(map(repr, values.tolist()))
        if self.json and not np.isfinite(values).all():
            for k in np.flatnonzero(~np.isfinite(values)).tolist():
                strings[k] = f'"{strings[k]}"'
        return strings


def _jacobian_template(outputs: Sequence[str], parts: str) -> str:
    """JSON Lines' `, "outputs": {...}, "jacobian": {...}` for several outputs, as a
    format template (each output's gradients are `parts` again)."""
    names = [_braces(json.dumps(o)) for o in outputs]
    values = ", ".join(f"{name}: {{}}" for name in names)
    rows = ", ".join(f"{name}: {{{{{parts}}}}}" for name in names)
    return f', "outputs": {{{{{values}}}}}, "jacobian": {{{{{rows}}}}}'


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class ParquetRows:
    """RowWriter's interface, writing Parquet: a column `line` (or `row`), each output's
    value, then d{output}/d{name} for every output and name (float64, bit for bit)."""

    def __init__(self, out: IO[bytes], output: str, names: Sequence[str], row_word: str = "line",
                 more_outputs: Sequence[str] = ()):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingDependency("writing .parquet files needs pyarrow, which is not installed",
                                    hint="pip install 'cgraph[parquet]' (or pip install pyarrow), or -o a .csv file") from None
        self.outputs = [output, *more_outputs]
        self.columns = [row_word, *self.outputs, *(f"d{o}/d{n}" for o in self.outputs for n in names)]
        fields = [pa.field(row_word, pa.int64())] + [pa.field(c, pa.float64()) for c in self.columns[1:]]
        self.schema = pa.schema(fields)
        self.writer = pq.ParquetWriter(out, self.schema)
        self.rows = 0

    def write(self, lines: np.ndarray, value: np.ndarray, grads: Sequence[Any],
              more: Sequence[tuple[np.ndarray, Sequence[Any]]] = ()) -> None:
        import pyarrow as pa

        n = len(lines)
        every = [(value, grads), *more]
        arrays = [lines.astype(np.int64)] + [v for v, _ in every] + [np.broadcast_to(g, (n,)) for _, gs in every for g in gs]
        self.writer.write_batch(pa.RecordBatch.from_arrays([pa.array(a) for a in arrays], schema=self.schema))
        self.rows += n

    def close(self) -> None:
        self.writer.close()


def row_writer(out: IO[bytes], fmt: str, output: str, names: Sequence[str], row_word: str,
               more_outputs: Sequence[str]):
    if fmt == "parquet":
        return ParquetRows(out, output, names, row_word, more_outputs)
    return RowWriter(out, fmt, output, names, row_word, more_outputs=more_outputs)


def close_writer(writer) -> None:
    if isinstance(writer, ParquetRows):
        writer.close()
