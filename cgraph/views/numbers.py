"""How every view writes a number: the only place that formats one.

Three audiences, three forms: JSON (a real number, or the string "inf", "-inf", "nan",
since RFC 8259 has no such numbers), scripts (full precision: the text round-trips
through float()), people (ten significant digits in tables, `precision` digits on a
diagram or in an explanation). A value that is not finite is always spelled the way
messages spell it (cgraph.errors.non_finite)."""

from __future__ import annotations

import math

from ..errors import non_finite


class Blank(float):
    """A number left for the reader to fill in (an exercise sheet's blank `[3]`): it keeps
    its value, for arithmetic and for the answer key, and carries its blank's number, so
    every view that writes it through `number` writes the blank instead, and JSON null."""

    __slots__ = ("blank",)
    blank: int

    def __new__(cls, value: float, blank: int = 0) -> Blank:
        self = super().__new__(cls, value)
        self.blank = blank
        return self

    def __reduce__(self):  # copies (dataclasses.asdict deep-copies) keep the blank
        return (Blank, (float(self), self.blank))


def blank_text(n: int) -> str:
    """How a blank is written: `[3]`, plain ASCII, so it reads the same in a diagram, a
    terminal, Mermaid and LaTeX math (where `___` would be a subscript)."""
    return f"[{n}]"


def json_number(v: float) -> float | str:
    """A number for JSON: itself when finite, else "inf", "-inf" or "nan"."""
    return v if math.isfinite(v) else non_finite(v)


def text_number(v: float) -> str:
    """Full precision (round-trips through float()), for scripts."""
    return repr(float(v)) if math.isfinite(v) else non_finite(v)


def program_number(v: float) -> str:
    """A constant as a program writes it, reading back as exactly this float: the shortest
    repr (`3`, not `3.0`), and for what the language has no literal of, an expression
    the parser folds to it: `1e999` (inf), `-1e999`, `-0`, and `0/0` (nan, a division)."""
    if v != v:
        return "0/0"
    if math.isinf(v):
        return "1e999" if v > 0 else "-1e999"
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0"
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text


def code_number(v: float, module: str) -> str:
    """A constant as exported Python code writes it, reading back as exactly this float:
    the shortest repr (`0.5`, `-0.0`), and inf and nan as `module`'s (`math.inf`)."""
    if v != v:
        return f"{module}.nan"
    if math.isinf(v):
        return f"{module}.inf" if v > 0 else f"-{module}.inf"
    return repr(float(v))


def short_number(v: float) -> str:
    """Ten significant digits, for people."""
    return format(v, ".10g") if math.isfinite(v) else non_finite(v)


def number(v: float, precision: int) -> str:
    """`precision` significant digits, for a diagram or an explanation; never "-0".
    A blank is written as one (`[3]`)."""
    if isinstance(v, Blank):
        return blank_text(v.blank)
    if not math.isfinite(v):
        return non_finite(v)
    text = format(v, f".{precision}g")
    return "0" if text == "-0" else text


def error_number(v: float) -> str:
    """Three significant digits in scientific notation, for an error's size (1.23e-08)."""
    return format(v, ".2e") if math.isfinite(v) else non_finite(v)
