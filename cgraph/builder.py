"""Syntax tree -> graph: names resolved, user functions inlined, loops unrolled.

Everything is a loop over explicit stacks: statements (with loop frames that count their
iterations instead of pre-expanding them) and expressions (a post-order walk with
`_EMIT`/`_CALL`/`_REDUCE` continuations), so neither deep nesting nor long unrolling can
exhaust Python's stack.

Scoping, in the order a name is looked up:
  1. loop variables (integers; as values they become constants),
  2. locals: a user function's parameters, or plain names assigned inside a loop body
     (each iteration has its own; they are shown as `z@t=3`),
  3. the file's global names: assigned (`p = ...`), declared (`input`, `param`), or
     free, in which case the first use creates an input.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from types import MappingProxyType

from . import syntax as ast
from .errors import BuildError, GraphTooLarge, Location, Source, clip, did_you_mean
from .ir import Graph, NodeNames, Tag, one_line
from .ops import BINARY_SYMBOLS, FUNCTIONS, OPS

DEFAULT_MAX_NODES = 10_000_000
# Issue 5: `param w = uniform(a, b)` / `normal(mean, std)` draw from random.Random(seed),
# in statement order, so one seed always gives the same params.
DEFAULT_SEED = 0
RANDOM_INITS = ("uniform", "normal")
STEPS_PER_NODE = 10
REDUCTIONS = ("sum", "mean")
BARE_OUTPUT_NAME = "out"

_VISIT, _EMIT, _CALL, _REDUCE = range(4)


class _Env:
    """What an expression sees besides the file's global names."""

    __slots__ = ("ints", "locals", "tags", "in_loop")

    def __init__(self, ints: dict[str, int], locals: dict[str, int], tags: tuple[Tag, ...], in_loop: bool = False):
        self.ints = ints  # loop variables in scope
        self.locals = locals  # function parameters or loop-local names -> node
        self.tags = tags
        self.in_loop = in_loop

    def iteration(self, var: str, value: int, line: int) -> _Env:
        return _Env({**self.ints, var: value}, dict(self.locals), self.tags + (Tag("loop", var, value, line),), True)


def build(program: ast.Program, source: Source, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED) -> Graph:
    """Unroll a parsed program into a graph. Raises BuildError (located) on a bad program."""
    builder = Builder(source, max_nodes, seed)
    for st in program.statements:
        builder.statement(st)
    return builder.finish()


def _frozen(column: list) -> tuple:
    """The column as a tuple, emptying the list at once so a big graph is not held twice."""
    frozen = tuple(column)
    column.clear()
    return frozen


def _const_key(value: float) -> tuple[float, float]:
    return (value, math.copysign(1.0, value))  # 0.0 and -0.0 are different constants


class Builder:
    def __init__(self, source: Source, max_nodes: int, seed: int = DEFAULT_SEED):
        self.source = source
        self.max_nodes = max_nodes
        self.rng = random.Random(seed)  # issue 5: random initial values of params
        self.ops: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.values: list[float | None] = []
        self.tags: list[tuple[Tag, ...]] = []
        self.positions = array("q")  # (anchor, start, end) offsets per node: no syntax node kept alive
        self.names: dict[str, int] = {}
        self.first_names: dict[int, str] = {}  # node -> its first name
        self.more_names: dict[int, tuple[str, ...]] = {}  # node -> its other names (aliases), rare
        self.leaves: list[int] = []
        self.consts: dict[tuple[float, float], int] = {}
        # Global names defined so far -> the offset of the defining statement (the line is
        # worked out only for an error message), and which of them were declared how.
        self.defined: dict[str, int] = {}
        self.declared: dict[str, str] = {}  # name -> 'input' or 'param'
        self.implicit: dict[str, ast.Ref] = {}  # names first used as free inputs -> that use
        self.defs: dict[str, ast.Def] = {}
        self.calls_of: dict[str, list[ast.Call]] = {}  # function -> the calls in its body
        self.call_counts: Counter[str] = Counter()
        # Statements run and terms summed, including those that add no node (`y[t] = x`):
        # bounded too, so a huge loop of aliases cannot run for minutes.
        self.steps = 0
        self.max_steps = STEPS_PER_NODE * max_nodes + 1000
        self.last_assigned: tuple[int, str] | None = None
        self.node_counts: dict[int, int] = {}  # id(statement) -> least_nodes(statement)
        self.top = _Env({}, {}, ())  # the file's top level
        self.output_stmt: ast.Output | None = None
        self.bare: ast.ExprStmt | None = None  # a bare expression statement, so far the last
        self.bare_output: int | None = None

    # --- errors ------------------------------------------------------------------------

    def error(self, message: str, at, hint: str | None = None, width: int = 1) -> BuildError:
        return BuildError(message, Location.at(self.source, at.pos, width), hint)

    def line(self, at) -> int:
        return self.source.line_col(at.pos)[0]

    # --- nodes -------------------------------------------------------------------------

    def add(self, op: str, args: tuple[int, ...], site: ast.Expr, tags: tuple[Tag, ...], value=None) -> int:
        i = len(self.ops)
        if i >= self.max_nodes:
            raise self.too_large("the graph grows past the limit", site)
        self.ops.append(op)
        self.args.append(args)
        self.values.append(value)
        self.tags.append(tags)
        self.positions.extend((site.pos, site.start, site.end))
        return i

    def const(self, value: float, site: ast.Expr) -> int:
        key = _const_key(value)
        i = self.consts.get(key)
        if i is None:
            i = self.consts[key] = self.add("const", (), site, (), value)
        return i

    def leaf(self, kind: str, key: str, site: ast.Expr, value: float | None) -> int:
        i = self.add(kind, (), site, (), value)
        self.leaves.append(i)
        self.name(i, key)
        return i

    def name(self, i: int, key: str) -> None:
        self.names[key] = i
        if i in self.first_names:
            self.more_names[i] = self.more_names.get(i, ()) + (key,)
        else:
            self.first_names[i] = key

    # --- integers: indices and loop bounds ---------------------------------------------

    def integer(self, e: ast.Expr, env: _Env) -> int:
        t = type(e)
        if t is ast.Ref and not e.indices and e.name in env.ints:
            return env.ints[e.name]
        if t is ast.Num and e.is_int:
            return int(e.value)
        if t is ast.Binary and (e.op == "-" or e.op == "+"):  # the common t-1, i+1: no walk
            left, right = e.left, e.right
            if type(left) is ast.Ref and not left.indices and left.name in env.ints and type(right) is ast.Num and right.is_int:
                a, b = env.ints[left.name], int(right.value)
                return a + b if e.op == "+" else a - b
        stack: list[int] = []
        for sub in ast.walk(e):
            ts = type(sub)
            if ts is ast.Num:
                if not sub.is_int:
                    digits = self.source.text[sub.start : sub.end].lstrip("-").isdigit()
                    raise self.error(
                        f"an index or loop bound must be an integer{' of at most 2^53' if digits else ''}, not {self.text(sub)}",
                        sub,
                    )
                stack.append(int(sub.value))
            elif ts is ast.Ref:
                if sub.indices or sub.name not in env.ints:
                    raise self.error(
                        f"'{self.text(sub)}' is not a loop variable",
                        sub,
                        "indices and loop bounds use loop variables, integers, + - * and parentheses",
                        len(sub.name),
                    )
                stack.append(env.ints[sub.name])
            elif ts is ast.Unary:
                stack.append(-stack.pop() if sub.op == "-" else stack.pop())
            elif ts is ast.Binary and sub.op in "+-*":
                b, a = stack.pop(), stack.pop()
                stack.append(a + b if sub.op == "+" else a - b if sub.op == "-" else a * b)
            else:
                raise self.error(
                    f"'{self.text(sub)}' is not allowed in an index or loop bound",
                    sub,
                    "indices and loop bounds use loop variables, integers, + - * and parentheses",
                )
        return stack[0]

    def key(self, ref: ast.Ref, env: _Env) -> str:
        """The canonical name: x, x[3], w[1,2]."""
        if not ref.indices:
            return ref.name
        if len(ref.indices) == 1:
            return f"{ref.name}[{self.integer(ref.indices[0], env)}]"
        return f"{ref.name}[{','.join(str(self.integer(i, env)) for i in ref.indices)}]"

    # --- constants: declared defaults ---------------------------------------------------

    def constant(self, e: ast.Expr, env: _Env, random_ok: bool = False) -> float:
        stack: list[float] = []
        for sub in ast.walk(e):
            ts = type(sub)
            if ts is ast.Call and sub.func in RANDOM_INITS:  # issue 5: param w = uniform(-1, 1)
                n = len(sub.args)
                args = stack[len(stack) - n :]
                del stack[len(stack) - n :]
                stack.append(self.draw(sub, args, random_ok))
            elif ts is ast.Num:
                stack.append(sub.value)
            elif ts is ast.Ref and not sub.indices and sub.name in env.ints:
                stack.append(float(env.ints[sub.name]))
            elif ts is ast.Unary:
                stack.append(-stack.pop() if sub.op == "-" else stack.pop())
            elif ts is ast.Binary:
                b, a = stack.pop(), stack.pop()
                stack.append(OPS[BINARY_SYMBOLS[sub.op]].forward(a, b))
            elif ts is ast.Call and sub.func in FUNCTIONS:
                op = self.builtin(sub)
                n = len(sub.args)
                args = stack[len(stack) - n :]
                del stack[len(stack) - n :]
                stack.append(op.forward(*args))
            else:
                raise self.error(
                    f"'{self.text(sub)}' is not a constant",
                    sub,
                    "a declared value is a constant expression: numbers, loop variables, operators and functions",
                )
        return stack[0]

    def draw(self, call: ast.Call, args: list[float], random_ok: bool) -> float:
        """Issue 5: a random initial value, uniform(a, b) or normal(mean, std), drawn from
        the builder's seeded generator when the declaration runs (so in statement order)."""
        name = call.func
        if not random_ok:
            raise self.error(
                f"{name}() is only allowed in a param's value", call,
                f"it draws a param's initial value: param w = {name}({'-1, 1' if name == 'uniform' else '0, 0.5'})",
                len(name),
            )
        if len(args) != 2:
            spelled = "uniform(low, high)" if name == "uniform" else "normal(mean, std)"
            raise self.error(f"{name}() takes 2 arguments, got {len(args)}: {spelled}", call, width=len(name))
        a, b = args
        if not (math.isfinite(a) and math.isfinite(b)):
            raise self.error(f"{name}() needs finite arguments, got {a!r} and {b!r}", call, width=len(name))
        if name == "uniform":
            if a > b:
                raise self.error(f"uniform(low, high) needs low <= high, got {a!r} > {b!r}", call, width=len(name))
            return self.rng.uniform(a, b)
        if b < 0:
            raise self.error(f"normal(mean, std) needs std >= 0, got {b!r}", call, width=len(name))
        return self.rng.gauss(a, b)

    # --- expressions -------------------------------------------------------------------

    def builtin(self, call: ast.Call):
        op = FUNCTIONS.get(call.func)
        if op is None and call.func in RANDOM_INITS:  # issue 5
            self.draw(call, [], random_ok=False)
        if op is None:
            raise self.error(
                f"unknown function '{call.func}'" + did_you_mean(call.func, sorted(set(FUNCTIONS) | set(self.defs))),
                call,
                "functions: " + ", ".join(sorted(FUNCTIONS)) + (", and the file's own: " + ", ".join(self.defs) if self.defs else "")
                + "; define a function before the statement that first calls it",
                len(call.func),
            )
        n = len(call.args)
        if op.arity is None and n == 0:
            raise self.error(f"{call.func}() needs at least one argument", call, width=len(call.func))
        if op.arity is not None and n != op.arity:
            raise self.error(
                f"{call.func}() takes {op.arity} argument{'s' if op.arity > 1 else ''}, got {n}", call, width=len(call.func)
            )
        return op

    def resolve(self, ref: ast.Ref, env: _Env) -> int:
        if not ref.indices:
            if ref.name in env.ints:
                return self.const(float(env.ints[ref.name]), ref)
            local = env.locals.get(ref.name)
            if local is not None:
                return local
        key = self.key(ref, env) if ref.indices else ref.name
        i = self.names.get(key)
        if i is not None:
            return i
        if not ref.indices and (ref.name in FUNCTIONS or ref.name in self.defs):
            raise self.error(f"'{ref.name}' is a function; call it as {ref.name}(...)", ref, width=len(ref.name))
        self.implicit[key] = ref
        return self.leaf("input", key, ref, None)

    def expression(self, root: ast.Expr, env: _Env) -> int:
        out: list[int] = []
        todo: list[tuple] = [(_VISIT, root, env, None)]
        while todo:
            action, e, env, extra = todo.pop()
            if action == _VISIT:
                t = type(e)
                if t is ast.Ref:
                    out.append(self.resolve(e, env))
                elif t is ast.Num:
                    out.append(self.const(e.value, e))
                elif t is ast.Binary:
                    left, right = e.left, e.right
                    tl, tr = type(left), type(right)
                    if (tl is ast.Ref or tl is ast.Num) and (tr is ast.Ref or tr is ast.Num):
                        # Both operands are leaves (w*x, h[t-1]+1): no need for the stack.
                        a = self.resolve(left, env) if tl is ast.Ref else self.const(left.value, left)
                        b = self.resolve(right, env) if tr is ast.Ref else self.const(right.value, right)
                        out.append(self.add(BINARY_SYMBOLS[e.op], (a, b), e, env.tags))
                        continue
                    todo.append((_EMIT, e, env, BINARY_SYMBOLS[e.op]))
                    todo.append((_VISIT, e.right, env, None))
                    todo.append((_VISIT, e.left, env, None))
                elif t is ast.Unary:
                    if e.op == "-":
                        todo.append((_EMIT, e, env, "neg"))
                    todo.append((_VISIT, e.operand, env, None))
                elif t is ast.Call:
                    callee = self.defs.get(e.func)
                    if callee is not None:
                        if len(e.args) != len(callee.params):
                            raise self.error(
                                f"{e.func}() takes {len(callee.params)} argument{'s' if len(callee.params) != 1 else ''}"
                                f" ({', '.join(callee.params)}), got {len(e.args)}",
                                e, f"{e.func} is defined on line {self.line(callee)}", len(e.func),
                            )
                        todo.append((_CALL, e, env, callee))
                    else:
                        todo.append((_EMIT, e, env, self.builtin(e).name))
                    for arg in reversed(e.args):
                        todo.append((_VISIT, arg, env, None))
                else:  # Reduction
                    if e.func not in REDUCTIONS:
                        raise self.error(
                            f"'{e.func}(... for ...)' is not a reduction; use sum or mean", e, width=len(e.func)
                        )
                    lo, hi = self.integer(e.lo, env), self.integer(e.hi, env)
                    count = max(hi - lo + 1, 0)
                    self.spend(count, e)
                    if count == 0:
                        if e.func == "mean":
                            raise self.error(f"mean over an empty range {lo}..{hi}", e, width=len(e.func))
                        out.append(self.const(0.0, e))
                    else:
                        todo.append((_REDUCE, e, env, lo))
            elif action == _EMIT:
                t = type(e)
                n = 2 if t is ast.Binary else 1 if t is ast.Unary else len(e.args)
                args = tuple(out[len(out) - n :])
                del out[len(out) - n :]
                out.append(self.add(extra, args, e, env.tags))
            elif action == _CALL:
                n = len(e.args)
                args = out[len(out) - n :]
                del out[len(out) - n :]
                self.call_counts[e.func] += 1
                tag = Tag("call", e.func, self.call_counts[e.func], self.line(e))
                body_env = _Env({}, dict(zip(extra.params, args)), env.tags + (tag,))
                todo.append((_VISIT, extra.body, body_env, None))
            else:  # _REDUCE: visit the body once per value of the variable, then add the sum
                hi = self.integer(e.hi, env)
                if extra <= hi:
                    todo.append((_REDUCE, e, env, extra + 1))
                    todo.append((_VISIT, e.body, env.iteration(e.var, extra, self.line(e)), None))
                else:
                    n = hi - self.integer(e.lo, env) + 1
                    args = tuple(out[len(out) - n :])
                    del out[len(out) - n :]
                    out.append(self.add(e.func, args, e, env.tags))
        return out[0]

    # --- statements --------------------------------------------------------------------

    def spend(self, steps: int, site) -> None:
        self.steps += steps
        if self.steps > self.max_steps:
            raise self.too_large(f"unrolling runs more than {self.max_steps:,} statements", site)

    def too_large(self, message: str, site) -> GraphTooLarge:
        return GraphTooLarge(
            f"{message} (the limit is {self.max_nodes:,} nodes)",
            Location.at(self.source, site.pos),
            "raise the limit with --max-nodes N (or max_nodes= in the API) if you mean it",
        )

    def define(self, key: str, how: str, st: ast.Stmt) -> None:
        if key in self.defined:
            how_before = self.declared.get(key, "assigned")
            line = self.source.line_col(self.defined[key])[0]
            raise self.error(
                f"'{key}' is already defined on line {line}" + (f" (as {how_before})" if how_before != "assigned" else ""),
                st, "a name is defined once; give the new value another name", len(key),
            )
        self.defined[key] = st.pos
        if how != "assigned":
            self.declared[key] = how

    def assign(self, st: ast.Assign, env: _Env) -> None:
        first_new = len(self.ops)
        node = self.expression(st.value, env)
        if self.ops[node] == "const":
            if node < first_new:  # a named constant is its own node, not a shared literal
                node = self.add("const", (), st.value, env.tags, self.values[node])
            else:  # made by this statement: it becomes this name's own node
                del self.consts[_const_key(self.values[node])]
        target = st.target
        if env.in_loop and not target.indices and target.name not in self.names:
            if target.name in env.locals:
                raise self.error(f"'{target.name}' is already assigned in this iteration", st, width=len(target.name))
            env.locals[target.name] = node
            where = ",".join(f"{t.name}={t.value}" for t in env.tags if t.kind == "loop")
            key = f"{target.name}@{where}"
        else:
            key = self.key(target, env)
            if key in self.implicit:
                use = self.implicit[key]
                raise self.error(
                    f"'{key}' is used on line {self.line(use)} before it is defined here",
                    st, f"move this definition above line {self.line(use)}", len(target.name),
                )
            self.define(key, "assigned", st)
        self.name(node, key)
        self.last_assigned = (node, key)

    def declare(self, st: ast.Declare, env: _Env) -> None:
        key = self.key(st.target, env)
        value = self.constant(st.value, env, random_ok=st.kind == "param") if st.value is not None else None
        self.define(key, st.kind, st)
        node = self.names.get(key)
        if node is None:
            self.leaf(st.kind, key, st.target, value)
        else:  # used before its declaration: it was an input all along
            self.ops[node] = st.kind
            self.values[node] = value

    def statement(self, st: ast.Stmt) -> None:
        """Run one top-level statement. The parser calls this as soon as a statement is
        parsed, so a big file's syntax tree never exists whole."""
        if self.bare is not None:
            raise self.error(
                "an expression on its own is only allowed as the last statement of a file",
                self.bare, "give it a name: NAME = ...",
            )
        t = type(st)
        if t is ast.Def:
            self.define_function(st)
        elif t is ast.Output:
            if self.output_stmt is not None:
                raise self.error(f"the output is already chosen on line {self.line(self.output_stmt)}", st)
            self.output_stmt = st
        elif t is ast.ExprStmt:  # the output, if nothing follows it
            self.spend(1, st)
            self.bare = st
            self.bare_output = self.expression(st.value, self.top)
        else:
            self.execute(st)

    def execute(self, first: ast.Stmt) -> None:
        """Run a statement, unrolling loops with explicit frames."""
        frames: list[tuple] = [([first], 0, self.top)]
        while frames:
            frame = frames.pop()
            if type(frame[0]) is ast.For:  # a loop frame: (for, next value, hi, env)
                st, value, hi, env = frame
                if value <= hi:
                    frames.append((st, value + 1, hi, env))
                    frames.append((st.body, 0, env.iteration(st.var, value, self.line(st))))
                continue
            stmts, index, env = frame
            if index >= len(stmts):
                continue
            frames.append((stmts, index + 1, env))
            st = stmts[index]
            self.spend(1, st)
            t = type(st)
            if t is ast.Assign:
                self.assign(st, env)
            elif t is ast.Declare:
                self.declare(st, env)
            elif t is ast.For:
                if st.var in env.ints:
                    raise self.error(f"loop variable '{st.var}' is already used by an enclosing loop", st)
                lo, hi = self.integer(st.lo, env), self.integer(st.hi, env)
                nodes, steps = self.least_work(st, env)
                if len(self.ops) + nodes > self.max_nodes:
                    raise self.too_large(f"unrolling this loop adds at least {nodes:,} nodes", st)
                if self.steps + steps > self.max_steps:
                    raise self.too_large(f"unrolling this loop runs at least {steps:,} statements", st)
                if st.body:  # an empty body unrolls to nothing
                    frames.append((st, lo, hi, env))
            else:
                what = {ast.Def: "'def'", ast.Output: "'output'"}.get(t, "an expression on its own")
                raise self.error(f"{what} is only allowed at the top level of a file, not inside a loop", st)

    def finish(self) -> Graph:
        """The graph, once every statement has run."""
        output, output_name = self.choose_output(self.output_stmt, self.bare_output, self.top)
        return Graph(
            source=self.source,
            ops=_frozen(self.ops),
            args=_frozen(self.args),
            values=_frozen(self.values),
            tags=_frozen(self.tags),
            positions=self.positions,
            names=MappingProxyType(self.names),
            node_names=NodeNames(self.first_names, self.more_names),
            leaves=tuple(self.leaves),
            output=output,
            output_name=output_name,
        )

    def least_work(self, loop: ast.For, env: _Env) -> tuple[int, int]:
        """Lower bounds on the nodes and statements a loop adds and runs, without building it.

        Bounds of inner loops that depend on a variable not yet bound are skipped, which
        keeps them lower bounds; `for t in 1..1000000000 {...}` is refused at once.
        """
        nodes = steps = 0
        stack = [([loop], 1)]
        while stack and nodes <= self.max_nodes and steps <= self.max_steps:
            body, times = stack.pop()
            steps += times * len(body)
            nodes += times * sum(self.least_nodes(st) for st in body)
            for st in body:
                if type(st) is ast.For:
                    try:
                        trips = self.integer(st.hi, env) - self.integer(st.lo, env) + 1
                    except BuildError:
                        continue
                    if trips > 0:
                        stack.append((st.body, times * trips))
        return nodes, steps

    def least_nodes(self, st: ast.Stmt) -> int:
        """The nodes one run of a statement surely adds: one per operation in it."""
        count = self.node_counts.get(id(st))
        if count is None:
            count = 0
            if type(st) is ast.Assign or type(st) is ast.ExprStmt:
                for e in ast.walk(st.value):
                    t = type(e)
                    if t is ast.Call and e.func in self.defs:
                        count += self.body_nodes(e.func)
                    elif t is ast.Binary or t is ast.Call or t is ast.Reduction or (t is ast.Unary and e.op == "-"):
                        count += 1
            self.node_counts[id(st)] = count
        return count

    def body_nodes(self, name: str) -> int:
        """The nodes a user function's body adds by itself, not counting functions it calls."""
        return sum(
            1 for e in ast.walk(self.defs[name].body)
            if type(e) in (ast.Binary, ast.Reduction) or (type(e) is ast.Call and e.func not in self.defs)
            or (type(e) is ast.Unary and e.op == "-")
        )

    def choose_output(self, output_stmt, bare_output, env) -> tuple[int, str]:
        if output_stmt is not None:
            key = self.key(output_stmt.target, env)
            if key not in self.names:
                raise self.error(
                    f"output '{key}' is not a name in this file" + did_you_mean(key, self.names),
                    output_stmt.target, width=len(output_stmt.target.name),
                )
            return self.names[key], key
        if bare_output is not None:
            name = BARE_OUTPUT_NAME
            while name in self.names:
                name += "_"
            self.name(bare_output, name)
            return bare_output, name
        if self.last_assigned is not None:
            return self.last_assigned
        raise BuildError(
            "nothing to compute: the file has no assignment and no expression",
            Location.at(self.source, 0),
            "write an expression, or NAME = expression",
        )

    # --- user functions ----------------------------------------------------------------

    def define_function(self, st: ast.Def) -> None:
        """Register a `def`. Its body may call functions defined later (they are looked up
        when it is inlined), but a cycle of calls is refused as soon as it closes."""
        if st.name in FUNCTIONS:
            raise self.error(f"'{st.name}' is a built-in function and cannot be redefined", st, width=len(st.name))
        if st.name in self.defs:
            raise self.error(f"function '{st.name}' is already defined on line {self.line(self.defs[st.name])}", st)
        if len(set(st.params)) != len(st.params):
            raise self.error(f"function '{st.name}' has a repeated parameter name", st)
        self.defs[st.name] = st
        self.calls_of[st.name] = [e for e in ast.walk(st.body) if type(e) is ast.Call and e.func not in FUNCTIONS]
        # Depth-first search, with a stack, for a path of calls leading back to st.name.
        path = [st.name]
        pending = [iter(self.calls_of[st.name])]
        seen = {st.name}
        while pending:
            call = next(pending[-1], None)
            if call is None:
                pending.pop()
                path.pop()
                continue
            if call.func == st.name:
                cycle = " -> ".join(path + [call.func])
                raise self.error(
                    f"recursion is not supported: {cycle}" if len(path) > 1 else f"'{st.name}' calls itself: recursion is not supported",
                    call, "functions are inlined at each call; unroll with a for loop instead", len(call.func),
                )
            if call.func in self.defs and call.func not in seen:
                seen.add(call.func)
                path.append(call.func)
                pending.append(iter(self.calls_of[call.func]))

    def text(self, e: ast.Expr) -> str:
        """An expression's text for an error message: one line, cut short."""
        return clip(one_line(self.source.text[e.start : e.end]))
