"""Size limits: --max-nodes, and the work of unrolling (statements run, terms summed,
calls inlined: bounded too, so a huge loop of aliases cannot run for minutes).

A construct that multiplies nodes (a loop, a sum or mean, a call of a user function) is
sized from the syntax tree before it is built, so a program far over the limit is
refused at once, not after building as much of it as the limit allows. The sizes are
lower bounds: a graph of exactly --max-nodes nodes is still built."""

from __future__ import annotations

from typing import Mapping, Optional

from . import syntax as ast
from .functions import Functions
from .integers import known_integer
from .located import At
from ..errors import Source
from ..ir.tape import TapeWriter

DEFAULT_MAX_NODES = 10_000_000
STEPS_PER_NODE = 10

# Sizing before building: loop variables -> their first and last values.
_Ranges = dict[str, tuple[int, int]]
# (nodes, steps): lower bounds on what building something adds and runs.
Size = tuple[int, int]
# A body being sized: its statements or expression, how many times it runs, the ranges
# known inside, and (variable, runs per enclosing run) when it is a loop's or a sum's.
_Counted = Optional[tuple[str, int]]


class SizeLimits:
    """Counts the work of unrolling, and sizes constructs before they are built."""

    def __init__(self, source: Source, tape: TapeWriter, functions: Functions):
        self.source = source
        self.tape = tape
        self.functions = functions
        self.max_nodes = tape.max_nodes
        self.steps = 0  # statements run and terms summed, including those that add no node
        self.max_steps = STEPS_PER_NODE * tape.max_nodes + 1000
        # id(statement) -> (the statement, what one run of it surely adds (see
        # statement_size), or None for a statement with a sum, whose size depends on the
        # variables' values). The statement is held so that its id stays its own: a freed
        # statement's id is reused by a later one, which would get the old one's size.
        self._per_run: dict[int, tuple[ast.Assign | ast.ExprStmt, Size | None]] = {}
        self._function_sizes: dict[str, Size] = {}  # user function -> expression_size of its body

    def spend(self, steps: int, site: At) -> None:
        self.steps += steps
        if self.steps > self.max_steps:
            raise self.tape.too_large(f"unrolling runs more than {self.max_steps:,} statements", site.pos)

    def make_room(self, size: Size, what: str, site: At) -> None:
        """Refuse, before building it, a construct that would take the graph (or the work
        of unrolling it) past the limit: at once, not once the graph has grown that far."""
        nodes, steps = size
        if len(self.tape) + nodes > self.max_nodes:
            raise self.tape.too_large(f"{what} adds at least {nodes:,} nodes", site.pos)
        if self.steps + steps > self.max_steps:
            raise self.tape.too_large(f"{what} runs at least {steps:,} terms and calls", site.pos)

    def check_loop(self, loop: ast.For, ints: Mapping[str, int]) -> None:
        """Refuse a loop whose unrolling surely passes a limit: `for t in 1..1000000000`."""
        nodes, steps = self.loop_size(loop, ints)
        if len(self.tape) + nodes > self.max_nodes:
            raise self.tape.too_large(f"unrolling this loop adds at least {nodes:,} nodes", loop.pos)
        if self.steps + steps > self.max_steps:
            raise self.tape.too_large(f"unrolling this loop runs at least {steps:,} statements", loop.pos)

    def loop_size(self, loop: ast.For, ints: Mapping[str, int]) -> Size:
        """Lower bounds on the nodes and statements a loop adds and runs, without building it.

        An inner loop (or sum) whose bounds are affine in an enclosing loop's variable
        (`for s in 1..t`) runs the sum of its trip counts over that variable's range; bounds
        not known that way count as no trips, which keeps these lower bounds."""
        nodes = steps = fresh = 0
        defined = _targets(loop)
        stack: list[tuple[list[ast.Stmt], int, _Ranges, _Counted]] = [([loop], 1, {}, None)]
        while stack and nodes <= self.max_nodes and steps <= self.max_steps:
            body, times, ranges, loop_var = stack.pop()
            steps += times * len(body)
            for st in body:
                if isinstance(st, ast.For):
                    inner = self.inner_runs(st.var, st.lo, st.hi, times, ints, ranges)
                    if inner is not None:
                        runs, inside = inner
                        stack.append((st.body, runs, inside, (st.var, runs // times) if st.var in inside else None))
                    continue
                if isinstance(st, (ast.Assign, ast.ExprStmt)):
                    st_nodes, st_steps = self.statement_size(st, times, ints, ranges)
                    nodes += st_nodes
                    steps += st_steps
                if loop_var is not None and _new_name_each_run(st, loop_var[0], defined):
                    fresh = max(fresh, loop_var[1])
        # A name that differs in each run (`param w[i]`, an input `x[i]`) is a new node each
        # run, less the names there are already (some may be among them).
        return nodes + max(0, fresh - len(self.tape.names)), steps

    def inner_runs(self, var: str, lo: ast.Expr, hi: ast.Expr, times: int, ints: Mapping[str, int],
                   ranges: _Ranges) -> tuple[int, _Ranges] | None:
        """How many times in all the body of a loop or sum over `var` in lo..hi runs, when
        its enclosing body runs `times` times, and the ranges known inside it; None if none
        is known. With bounds known from `ints`, `times` per run: `var` then ranges over them.
        With bounds affine in one variable of `ranges` (`1..t`), the sum of the trip counts
        over that variable's range (their mean times `times`); `var` then has no one range."""
        inside = {k: v for k, v in ranges.items() if k != var}
        a, b = known_integer(lo, ints, self.source), known_integer(hi, ints, self.source)
        if a is not None and b is not None:
            return (times * (b - a + 1), {**inside, var: (a, b)}) if b >= a else None
        v = _affine_variable(lo, hi, ints, ranges)
        if v is None:
            return None
        total = self._affine_runs(lo, hi, times, ints, v, ranges[v])
        # Below, `times` no longer holds v's range as a factor: a count that depends on v
        # again would not be bounded by the mean (`for w in 1..t { for u in t..n {...} }`).
        return (total, {k: r for k, r in inside.items() if k != v}) if total > 0 else None

    def _affine_runs(self, lo: ast.Expr, hi: ast.Expr, times: int, ints: Mapping[str, int], v: str,
                     v_range: tuple[int, int]) -> int:
        """The runs of a body over lo..hi, bounds affine in `v`, when its enclosing body runs
        `times` times (v's range as a factor); 0 if a run is empty somewhere."""
        counts = [self._trip_count(lo, hi, {**ints, v: x}) for x in v_range]
        first, last = counts
        if first is None or last is None or min(first, last) <= 0:
            return 0  # an empty run somewhere: no simple lower bound but none
        # An affine count's sum over first..last is the range's length times its mean.
        return times * (first + last) // 2

    def _trip_count(self, lo: ast.Expr, hi: ast.Expr, ints: Mapping[str, int]) -> int | None:
        a, b = known_integer(lo, ints, self.source), known_integer(hi, ints, self.source)
        return None if a is None or b is None else b - a + 1

    def statement_size(self, st: ast.Assign | ast.ExprStmt, times: int = 1, ints: Mapping[str, int] | None = None,
                       ranges: _Ranges | None = None) -> Size:
        """The nodes `times` runs of a statement surely add and the steps (terms of sums,
        calls of user functions) they surely run (see `expression_size`). A statement
        without a sum or mean is the same each run: its size per run is kept."""
        known = self._per_run.get(id(st))
        if known is None:
            varies = any(type(e) is ast.Reduction for e in ast.walk(st.value))
            known = self._per_run[id(st)] = (st, None if varies else self.expression_size(st.value, {}))
        per_run = known[1]
        if per_run is None:
            return self.expression_size(st.value, ints or {}, ranges=ranges, times=times)
        return per_run[0] * times, per_run[1] * times

    def expression_size(self, root: ast.Expr, ints: Mapping[str, int], new_names: bool = False,
                        ranges: _Ranges | None = None, times: int = 1) -> Size:
        """Lower bounds on the nodes that building `root` `times` times adds and the steps
        it runs (each term of a sum or mean, each call of a user function), without
        building it.

        An operation adds a node each time it runs: a reduction's body runs once per term
        (see `inner_runs`, `ranges` giving the ranges of enclosing loops' variables), a
        user function's body once per call (`function_size`). With `new_names`, a name
        whose index runs with a reduction's variable (`x[i]`, `w[2*i+1, j]`) counts as that
        many names, less the names defined so far: the new inputs the terms create at
        least. Stops once past the limits: enough to refuse."""
        nodes = steps = names = 0
        stack: list[tuple[ast.Expr, int, _Ranges, _Counted]] = [(root, times, ranges or {}, None)]
        while stack and nodes <= self.max_nodes and steps <= self.max_steps:
            e, times, known, reduction = stack.pop()
            if isinstance(e, ast.Reduction):
                inner = self.inner_runs(e.var, e.lo, e.hi, times, ints, known)
                if inner is not None:  # (an empty one is the literal 0: maybe no new node)
                    runs, inside = inner
                    nodes += times
                    steps += runs
                    if e.var not in ints:  # (its variable hiding a loop's: its body is not sized)
                        stack.append((e.body, runs, inside, (e.var, runs // times) if e.var in inside else None))
                continue
            if new_names and reduction is not None and isinstance(e, ast.Ref):
                if _name_runs_with(e, reduction[0]):
                    names = max(names, reduction[1])  # distinct names, one per term
            else:
                e_nodes, e_steps = self._operation_size(e)
                nodes += times * e_nodes
                steps += times * e_steps
            stack.extend((child, times, known, reduction) for child in ast.children(e))
        return nodes + max(0, names - len(self.tape.names)), steps

    def _operation_size(self, e: ast.Expr) -> Size:
        """What one run of an expression's own operation adds and runs (not its operands')."""
        if isinstance(e, ast.Call) and e.func in self.functions.defs:
            body_nodes, body_steps = self.function_size(e.func)
            return body_nodes, body_steps + 1
        if isinstance(e, (ast.Binary, ast.Call)) or (isinstance(e, ast.Unary) and e.op == "-"):
            return 1, 0
        return 0, 0

    def function_size(self, name: str) -> Size:
        """`expression_size` of a user function's body, calls included, worked out once per
        function. The functions it calls are sized first, with a stack (a chain of calls
        may be long); a function not defined yet counts as nothing (still a lower bound)."""
        sizes, defs = self._function_sizes, self.functions.defs
        stack = [(name, False)]
        while stack:
            f, callees_done = stack.pop()
            if f in sizes:
                continue
            if callees_done:
                sizes[f] = self.expression_size(defs[f].body, {})
                continue
            stack.append((f, True))
            stack.extend((c.func, False) for c in self.functions.calls_of[f] if c.func in defs and c.func not in sizes)
        return sizes[name]

    def release(self) -> None:
        """Let go of what only building needed (before the graph is frozen, when a big build peaks)."""
        self._per_run, self._function_sizes = {}, {}


def _affine_variable(lo: ast.Expr, hi: ast.Expr, ints: Mapping[str, int], ranges: _Ranges) -> str | None:
    """The one variable of `ranges` bounds not known from `ints` depend on, if affinely."""
    free = {sub.name for bound in (lo, hi) for sub in ast.walk(bound) if isinstance(sub, ast.Ref) and sub.name not in ints}
    if len(free) != 1:
        return None
    v = free.pop()
    return v if v in ranges and _affine(lo, v) and _affine(hi, v) else None


def _name_runs_with(ref: ast.Ref, var: str) -> bool:
    """Whether an indexed name (`x[i]`, `w[2*i+1, j]`) is another name for each value of `var`."""
    return any(_runs_with(index, var) for index in ref.indices)


def _runs_with(index: ast.Expr, var: str) -> bool:
    """Whether an index takes a different value for each value of `var`: `var` itself,
    plus or minus something without it, or times a nonzero integer (`i`, `2*i + 1`, `n - i`).
    Anything else (`i*i`, `0*i`, `t`) is not known to, which keeps size bounds lower ones."""
    e = index
    while True:
        if isinstance(e, ast.Ref):
            return e.name == var and not e.indices
        if isinstance(e, ast.Unary):
            e = e.operand
            continue
        if not (isinstance(e, ast.Binary) and e.op in "+-*"):
            return False
        if not _mentions(e.right, var):
            inner, other = e.left, e.right
        elif not _mentions(e.left, var):
            inner, other = e.right, e.left
        else:
            return False
        if e.op == "*" and not _nonzero_integer(other):
            return False
        e = inner


def _targets(loop: ast.For) -> set[str]:
    """The names assigned or declared anywhere in a loop (nested loops included)."""
    found: set[str] = set()
    stack: list[ast.Stmt] = [loop]
    while stack:
        st = stack.pop()
        if isinstance(st, ast.For):
            stack.extend(st.body)
        elif isinstance(st, (ast.Assign, ast.Declare)):
            found.add(st.target.name)
    return found


def _new_name_each_run(st: ast.Stmt, var: str, defined: set[str]) -> bool:
    """Whether each run of a statement, in a loop over `var`, makes a node of a name of its
    own: a declaration `param w[i]`, or a use of `x[i]` that no statement of the loop
    defines (an input) outside any sum, its index running with `var` (see `_runs_with`)."""
    if isinstance(st, ast.Declare):
        return any(_runs_with(index, var) for index in st.target.indices)
    if not isinstance(st, (ast.Assign, ast.ExprStmt)):
        return False
    stack: list[ast.Expr] = [st.value]
    while stack:
        e = stack.pop()
        if isinstance(e, ast.Reduction):
            continue  # its body may run for no term (or name the same inputs in every run)
        if isinstance(e, ast.Ref) and e.indices and e.name not in defined and any(_runs_with(i, var) for i in e.indices):
            return True
        stack.extend(ast.children(e))
    return False


def _affine(e: ast.Expr, var: str) -> bool:
    """Whether an integer expression (+ - * of integers and variables) is affine in `var`:
    no product has `var` on both sides."""
    return not any(
        isinstance(sub, ast.Binary) and sub.op == "*" and _mentions(sub.left, var) and _mentions(sub.right, var)
        for sub in ast.walk(e)
    )


def _mentions(e: ast.Expr, var: str) -> bool:
    return any(isinstance(sub, ast.Ref) and sub.name == var for sub in ast.walk(e))


def _nonzero_integer(e: ast.Expr) -> bool:
    return isinstance(e, ast.Num) and e.is_int and e.value != 0
