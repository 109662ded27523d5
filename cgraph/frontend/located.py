"""Errors and texts located at syntax nodes: every unit of the builder words its errors
with these, so each points at the file, line and column of the construct at fault."""

from __future__ import annotations

from typing import Protocol

from . import syntax as ast
from ..errors import BuildError, Location, Source, clip
from ..ir.graph import one_line


class At(Protocol):
    """Anything with an offset to point at: an expression or a statement."""

    pos: int


def error(source: Source, message: str, at: At, hint: str | None = None, width: int = 1) -> BuildError:
    return BuildError(message, Location.at(source, at.pos, width), hint)


def line(source: Source, at: At) -> int:
    return source.line_col(at.pos)[0]


def text(source: Source, e: ast.Expr) -> str:
    """An expression's text for an error message: one line, cut short."""
    return clip(one_line(source.text[e.start : e.end]))
