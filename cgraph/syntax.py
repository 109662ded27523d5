"""The syntax tree the parser produces and the builder consumes.

Every node keeps where it came from: `line`/`column` of its anchor (the operator, the
function name, the first character of a name) for errors, and `start`/`end` offsets of
its whole text in the source for display. The tree is walked only with explicit stacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Expr:
    line: int
    column: int
    start: int
    end: int


@dataclass(slots=True, eq=False)
class Num(Expr):
    value: float
    is_int: bool  # written without '.' or exponent, so usable as an index


@dataclass(slots=True, eq=False)
class Ref(Expr):
    name: str
    indices: tuple[Expr, ...] = ()  # w[i, j] and w[i][j] both give (i, j)


@dataclass(slots=True, eq=False)
class Unary(Expr):
    op: str  # '+' or '-'
    operand: Expr


@dataclass(slots=True, eq=False)
class Binary(Expr):
    op: str  # '+', '-', '*', '/', '^'
    left: Expr
    right: Expr


@dataclass(slots=True, eq=False)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]


@dataclass(slots=True, eq=False)
class Reduction(Expr):
    """sum(body for var in lo..hi), and the same for mean."""

    func: str
    body: Expr
    var: str
    lo: Expr
    hi: Expr


@dataclass(slots=True, eq=False)
class Stmt:
    line: int
    column: int


@dataclass(slots=True, eq=False)
class Assign(Stmt):
    target: Ref
    value: Expr


@dataclass(slots=True, eq=False)
class Declare(Stmt):
    kind: str  # 'input' or 'param'
    target: Ref
    value: Expr | None


@dataclass(slots=True, eq=False)
class Output(Stmt):
    target: Ref


@dataclass(slots=True, eq=False)
class Def(Stmt):
    name: str
    params: tuple[str, ...]
    body: Expr


@dataclass(slots=True, eq=False)
class For(Stmt):
    var: str
    lo: Expr
    hi: Expr
    body: list[Stmt] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ExprStmt(Stmt):
    value: Expr


@dataclass(slots=True, eq=False)
class Program:
    statements: list[Stmt]


def children(e: Expr) -> tuple[Expr, ...]:
    """Sub-expressions evaluated as values (not the indices of a name)."""
    t = type(e)
    if t is Binary:
        return (e.left, e.right)
    if t is Unary:
        return (e.operand,)
    if t is Call:
        return e.args
    if t is Reduction:
        return (e.lo, e.hi, e.body)
    return ()


def walk(root: Expr):
    """Every sub-expression of `root` in post-order (children first), with a stack, not recursion."""
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        e, expanded = stack.pop()
        if expanded:
            yield e
            continue
        stack.append((e, True))
        for child in reversed(children(e)):
            stack.append((child, False))
