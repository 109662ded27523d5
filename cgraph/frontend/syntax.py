"""The syntax tree the parser produces and the builder consumes.

Every node keeps where it came from as character offsets (see `Expr`). The tree is
walked only with explicit stacks.
"""

from __future__ import annotations

from typing import Iterator


class Expr:
    """Base of expressions. Positions are character offsets into the source: `pos` is the
    anchor errors point at (the operator, the function name, the name), `start`/`end`
    the whole text. Lines and columns are derived from offsets only when needed, which
    keeps a million-node syntax tree small."""

    pos: int
    start: int
    end: int

    __slots__ = ("pos", "start", "end")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in (*Expr.__slots__, *self.__slots__))
        return f"{type(self).__name__}({fields})"


class Num(Expr):
    value: float
    is_int: bool  # written as digits only, so usable as an index

    __slots__ = ("value", "is_int")

    def __init__(self, start: int, end: int, value: float, is_int: bool):
        self.pos = self.start = start
        self.end = end
        self.value, self.is_int = value, is_int


class Ref(Expr):
    name: str
    indices: tuple[Expr, ...]  # w[i, j] and w[i][j] both have indices (i, j)

    __slots__ = ("name", "indices")

    def __init__(self, start: int, end: int, name: str, indices: tuple[Expr, ...] = ()):
        self.pos = self.start = start
        self.end = end
        self.name, self.indices = name, indices


class Unary(Expr):
    op: str  # '+' or '-'
    operand: Expr

    __slots__ = ("op", "operand")

    def __init__(self, start: int, end: int, op: str, operand: Expr):
        self.pos = self.start = start
        self.end = end
        self.op, self.operand = op, operand


class Binary(Expr):
    op: str  # '+', '-', '*', '/', '^'; pos is the operator's offset
    left: Expr
    right: Expr

    __slots__ = ("op", "left", "right")

    def __init__(self, pos: int, op: str, left: Expr, right: Expr):
        self.pos, self.start, self.end = pos, left.start, right.end
        self.op, self.left, self.right = op, left, right


class Call(Expr):
    func: str
    args: tuple[Expr, ...]

    __slots__ = ("func", "args")

    def __init__(self, start: int, end: int, func: str, args: tuple[Expr, ...]):
        self.pos = self.start = start
        self.end = end
        self.func, self.args = func, args


class Reduction(Expr):
    """sum(body for var in lo..hi), and the same for mean."""

    func: str  # 'sum' or 'mean'
    body: Expr
    var: str
    lo: Expr
    hi: Expr

    __slots__ = ("func", "body", "var", "lo", "hi")

    def __init__(self, start: int, end: int, func: str, body: Expr, var: str, lo: Expr, hi: Expr):
        self.pos = self.start = start
        self.end = end
        self.func, self.body, self.var, self.lo, self.hi = func, body, var, lo, hi


class Stmt:
    """Base of statements; `pos` is the offset of the name the statement is about."""

    pos: int

    __slots__ = ("pos",)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("pos", *self.__slots__))
        return f"{type(self).__name__}({fields})"


class Assign(Stmt):
    target: Ref
    value: Expr

    __slots__ = ("target", "value")

    def __init__(self, target: Ref, value: Expr):
        self.pos, self.target, self.value = target.pos, target, value


class Declare(Stmt):
    kind: str  # 'input' or 'param'
    target: Ref
    value: Expr | None  # the default, if declared with one

    __slots__ = ("kind", "target", "value")

    def __init__(self, kind: str, target: Ref, value: Expr | None):
        self.pos, self.kind, self.target, self.value = target.pos, kind, target, value


class Output(Stmt):
    targets: tuple[Ref, ...]  # `output a, b`: one or more, in the order written

    __slots__ = ("targets",)

    def __init__(self, targets: tuple[Ref, ...]):
        self.pos, self.targets = targets[0].pos, targets


class Def(Stmt):
    name: str
    params: tuple[str, ...]
    body: Expr

    __slots__ = ("name", "params", "body")

    def __init__(self, pos: int, name: str, params: tuple[str, ...], body: Expr):
        self.pos, self.name, self.params, self.body = pos, name, params, body


class For(Stmt):
    var: str
    lo: Expr
    hi: Expr
    body: list[Stmt]

    __slots__ = ("var", "lo", "hi", "body")

    def __init__(self, pos: int, var: str, lo: Expr, hi: Expr, body: list[Stmt]):
        self.pos, self.var, self.lo, self.hi, self.body = pos, var, lo, hi, body


class ExprStmt(Stmt):
    value: Expr

    __slots__ = ("value",)

    def __init__(self, value: Expr):
        self.pos, self.value = value.pos, value


class Program:
    statements: list[Stmt]

    __slots__ = ("statements",)

    def __init__(self, statements: list[Stmt]):
        self.statements = statements


def children(e: Expr) -> tuple[Expr, ...]:
    """Sub-expressions evaluated as values (not the indices of a name)."""
    # One type() and identity tests: twice as fast as isinstance on a leaf, which is most
    # nodes; mypy does not narrow through `t`, hence the ignores.
    t = type(e)
    if t is Binary:
        return (e.left, e.right)  # type: ignore[attr-defined]
    if t is Unary:
        return (e.operand,)  # type: ignore[attr-defined]
    if t is Call:
        return e.args  # type: ignore[attr-defined]
    if t is Reduction:
        return (e.lo, e.hi, e.body)  # type: ignore[attr-defined]
    return ()


def walk(root: Expr) -> Iterator[Expr]:
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


def flatten(root: Expr | Stmt | Program) -> list:
    """Every node under `root` as (class name, field names) followed by its fields, in
    pre-order, with a stack: two trees are equal exactly when their flattenings are (the
    tests and the fuzzer compare cgraph's parser loop with Lark's this way)."""
    out: list = []
    stack: list = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, (Expr, Stmt, Program)):
            fields = [f for cls in reversed(type(item).__mro__) for f in getattr(cls, "__slots__", ())]
            out.append((type(item).__name__, tuple(fields)))
            stack.extend(getattr(item, f) for f in reversed(fields))
        elif isinstance(item, (list, tuple)):
            out.append(("seq", len(item)))
            stack.extend(reversed(item))
        else:
            out.append(item)  # a name, a number, an offset, None
    return out
