"""The syntax tree the parser produces and the builder consumes.

Every node keeps where it came from: `line`/`column` of its anchor (the operator, the
function name, the first character of a name) for errors, and `start`/`end` offsets of
its whole text in the source for display. The tree is walked only with explicit stacks.
"""

from __future__ import annotations


class Expr:
    """Base of expressions: where the node is, for errors and for display."""

    __slots__ = ("line", "column", "start", "end")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Num(Expr):
    __slots__ = ("value", "is_int")  # is_int: written as digits only, so usable as an index

    def __init__(self, line: int, column: int, start: int, end: int, value: float, is_int: bool):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.value, self.is_int = value, is_int


class Ref(Expr):
    __slots__ = ("name", "indices")  # w[i, j] and w[i][j] both have indices (i, j)

    def __init__(self, line: int, column: int, start: int, end: int, name: str, indices: tuple[Expr, ...] = ()):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.name, self.indices = name, indices


class Unary(Expr):
    __slots__ = ("op", "operand")  # op: '+' or '-'

    def __init__(self, line: int, column: int, start: int, end: int, op: str, operand: Expr):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.op, self.operand = op, operand


class Binary(Expr):
    __slots__ = ("op", "left", "right")  # op: '+', '-', '*', '/', '^'

    def __init__(self, line: int, column: int, start: int, end: int, op: str, left: Expr, right: Expr):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.op, self.left, self.right = op, left, right


class Call(Expr):
    __slots__ = ("func", "args")

    def __init__(self, line: int, column: int, start: int, end: int, func: str, args: tuple[Expr, ...]):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.func, self.args = func, args


class Reduction(Expr):
    """sum(body for var in lo..hi), and the same for mean."""

    __slots__ = ("func", "body", "var", "lo", "hi")

    def __init__(self, line: int, column: int, start: int, end: int, func: str, body: Expr, var: str, lo: Expr, hi: Expr):
        self.line, self.column, self.start, self.end = line, column, start, end
        self.func, self.body, self.var, self.lo, self.hi = func, body, var, lo, hi


class Stmt:
    """Base of statements: the line and column of the name they are about."""

    __slots__ = ("line", "column")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Assign(Stmt):
    __slots__ = ("target", "value")

    def __init__(self, line: int, column: int, target: Ref, value: Expr):
        self.line, self.column, self.target, self.value = line, column, target, value


class Declare(Stmt):
    __slots__ = ("kind", "target", "value")  # kind: 'input' or 'param'; value may be None

    def __init__(self, line: int, column: int, kind: str, target: Ref, value: Expr | None):
        self.line, self.column, self.kind, self.target, self.value = line, column, kind, target, value


class Output(Stmt):
    __slots__ = ("target",)

    def __init__(self, line: int, column: int, target: Ref):
        self.line, self.column, self.target = line, column, target


class Def(Stmt):
    __slots__ = ("name", "params", "body")

    def __init__(self, line: int, column: int, name: str, params: tuple[str, ...], body: Expr):
        self.line, self.column, self.name, self.params, self.body = line, column, name, params, body


class For(Stmt):
    __slots__ = ("var", "lo", "hi", "body")

    def __init__(self, line: int, column: int, var: str, lo: Expr, hi: Expr, body: list[Stmt]):
        self.line, self.column, self.var, self.lo, self.hi, self.body = line, column, var, lo, hi, body


class ExprStmt(Stmt):
    __slots__ = ("value",)

    def __init__(self, line: int, column: int, value: Expr):
        self.line, self.column, self.value = line, column, value


class Program:
    __slots__ = ("statements",)

    def __init__(self, statements: list[Stmt]):
        self.statements = statements


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
