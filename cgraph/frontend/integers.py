"""Integer evaluation: indices (`x[t-1]`) and loop bounds (`1..n-1`), made of loop
variables, integers, + - * and parentheses. Evaluated with a stack (see `syntax.walk`)."""

from __future__ import annotations

from typing import Mapping

from . import syntax as ast
from .located import error, text
from ..errors import BuildError, Source

_HINT = "indices and loop bounds use loop variables, integers, + - * and parentheses"


def integer(e: ast.Expr, ints: Mapping[str, int], source: Source) -> int:
    """The value of an index or bound, `ints` giving the loop variables in scope."""
    if isinstance(e, ast.Ref):
        if not e.indices and e.name in ints:
            return ints[e.name]
    elif isinstance(e, ast.Num):
        if e.is_int:
            return int(e.value)
    elif isinstance(e, ast.Binary) and (e.op == "-" or e.op == "+"):  # the common t-1, i+1: no walk
        left, right = e.left, e.right
        if isinstance(left, ast.Ref) and not left.indices and left.name in ints and isinstance(right, ast.Num) and right.is_int:
            a, b = ints[left.name], int(right.value)
            return a + b if e.op == "+" else a - b
    return _walk(e, ints, source)


def _walk(e: ast.Expr, ints: Mapping[str, int], source: Source) -> int:
    stack: list[int] = []
    for sub in ast.walk(e):
        if isinstance(sub, ast.Num):
            stack.append(_integer_literal(sub, source))
        elif isinstance(sub, ast.Ref):
            if sub.indices or sub.name not in ints:
                raise error(source, f"'{text(source, sub)}' is not a loop variable", sub, _HINT, len(sub.name))
            stack.append(ints[sub.name])
        elif isinstance(sub, ast.Unary):
            stack.append(-stack.pop() if sub.op == "-" else stack.pop())
        elif isinstance(sub, ast.Binary) and sub.op in "+-*":
            b, a = stack.pop(), stack.pop()
            stack.append(a + b if sub.op == "+" else a - b if sub.op == "-" else a * b)
        else:
            raise error(source, f"'{text(source, sub)}' is not allowed in an index or loop bound", sub, _HINT)
    return stack[0]


def _integer_literal(num: ast.Num, source: Source) -> int:
    if not num.is_int:
        digits = source.text[num.start : num.end].lstrip("-").isdigit()
        raise error(
            source,
            f"an index or loop bound must be an integer{' of at most 2^53' if digits else ''}, not {text(source, num)}",
            num,
        )
    return int(num.value)


def key(ref: ast.Ref, ints: Mapping[str, int], source: Source) -> str:
    """The canonical name: x, x[3], w[1,2]."""
    if not ref.indices:
        return ref.name
    if len(ref.indices) == 1:
        return f"{ref.name}[{integer(ref.indices[0], ints, source)}]"
    return f"{ref.name}[{','.join(str(integer(i, ints, source)) for i in ref.indices)}]"


def known_integer(e: ast.Expr, ints: Mapping[str, int], source: Source) -> int | None:
    """`integer`, or None where it is not known from `ints` (sizing ahead of building)."""
    try:
        return integer(e, ints, source)
    except BuildError:
        return None
