"""The syntax tree the parser produces and the builder consumes.

Every node keeps where it came from as character offsets (see `Expr`). The tree is
walked only with explicit stacks.
"""

from __future__ import annotations


class Expr:
    """Base of expressions. Positions are character offsets into the source: `pos` is the
    anchor errors point at (the operator, the function name, the name), `start`/`end`
    the whole text. Lines and columns are derived from offsets only when needed, which
    keeps a million-node syntax tree small."""

    __slots__ = ("pos", "start", "end")
    pos: int
    start: int
    end: int

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in (*Expr.__slots__, *self.__slots__))
        return f"{type(self).__name__}({fields})"


class Num(Expr):
    __slots__ = ("value", "is_int")  # is_int: written as digits only, so usable as an index
    value: float
    is_int: bool

    def __init__(self, start: int, end: int, value: float, is_int: bool):
        self.pos = self.start = start
        self.end = end
        self.value, self.is_int = value, is_int


class Ref(Expr):
    __slots__ = ("name", "indices")  # w[i, j] and w[i][j] both have indices (i, j)
    name: str
    indices: tuple[Expr, ...]

    def __init__(self, start: int, end: int, name: str, indices: tuple[Expr, ...] = ()):
        self.pos = self.start = start
        self.end = end
        self.name, self.indices = name, indices


class Unary(Expr):
    __slots__ = ("op", "operand")  # op: '+' or '-'
    op: str
    operand: Expr

    def __init__(self, start: int, end: int, op: str, operand: Expr):
        self.pos = self.start = start
        self.end = end
        self.op, self.operand = op, operand


class Binary(Expr):
    __slots__ = ("op", "left", "right")  # op: '+', '-', '*', '/', '^'; pos: the operator
    op: str
    left: Expr
    right: Expr

    def __init__(self, pos: int, op: str, left: Expr, right: Expr):
        self.pos, self.start, self.end = pos, left.start, right.end
        self.op, self.left, self.right = op, left, right


class Call(Expr):
    __slots__ = ("func", "args")
    func: str
    args: tuple[Expr, ...]

    def __init__(self, start: int, end: int, func: str, args: tuple[Expr, ...]):
        self.pos = self.start = start
        self.end = end
        self.func, self.args = func, args


class Reduction(Expr):
    """sum(body for var in lo..hi), and the same for mean."""

    __slots__ = ("func", "body", "var", "lo", "hi")
    func: str
    body: Expr
    var: str
    lo: Expr
    hi: Expr

    def __init__(self, start: int, end: int, func: str, body: Expr, var: str, lo: Expr, hi: Expr):
        self.pos = self.start = start
        self.end = end
        self.func, self.body, self.var, self.lo, self.hi = func, body, var, lo, hi


class Stmt:
    """Base of statements; `pos` is the offset of the name the statement is about."""

    __slots__ = ("pos",)
    pos: int

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("pos", *self.__slots__))
        return f"{type(self).__name__}({fields})"


class Assign(Stmt):
    __slots__ = ("target", "value")
    target: Ref
    value: Expr

    def __init__(self, target: Ref, value: Expr):
        self.pos, self.target, self.value = target.pos, target, value


class Declare(Stmt):
    __slots__ = ("kind", "target", "value")  # kind: 'input' or 'param'; value may be None
    kind: str
    target: Ref
    value: Expr | None

    def __init__(self, kind: str, target: Ref, value: Expr | None):
        self.pos, self.kind, self.target, self.value = target.pos, kind, target, value


class Output(Stmt):
    __slots__ = ("target",)
    target: Ref

    def __init__(self, target: Ref):
        self.pos, self.target = target.pos, target


class Def(Stmt):
    __slots__ = ("name", "params", "body")
    name: str
    params: tuple[str, ...]
    body: Expr

    def __init__(self, pos: int, name: str, params: tuple[str, ...], body: Expr):
        self.pos, self.name, self.params, self.body = pos, name, params, body


class For(Stmt):
    __slots__ = ("var", "lo", "hi", "body")
    var: str
    lo: Expr
    hi: Expr
    body: list[Stmt]

    def __init__(self, pos: int, var: str, lo: Expr, hi: Expr, body: list[Stmt]):
        self.pos, self.var, self.lo, self.hi, self.body = pos, var, lo, hi, body


class ExprStmt(Stmt):
    __slots__ = ("value",)
    value: Expr

    def __init__(self, value: Expr):
        self.pos, self.value = value.pos, value


class Program:
    __slots__ = ("statements",)
    statements: list[Stmt]

    def __init__(self, statements: list[Stmt]):
        self.statements = statements


def children(e: Expr) -> tuple[Expr, ...]:
    """Sub-expressions evaluated as values (not the indices of a name)."""
    if isinstance(e, Binary):
        return (e.left, e.right)
    if isinstance(e, Unary):
        return (e.operand,)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Reduction):
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
