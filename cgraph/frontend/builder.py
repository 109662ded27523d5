"""Syntax tree -> graph: names resolved, user functions inlined, loops unrolled.

Everything is a loop over explicit stacks: statements (with loop frames that count their
iterations instead of pre-expanding them) and expressions (a post-order walk with
`_EMIT`/`_CALL`/`_REDUCE`/`_ENV` continuations), so neither deep nesting nor long
unrolling can exhaust Python's stack.

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
import sys
from array import array
from collections import Counter
from types import MappingProxyType

from . import syntax as ast
from ..errors import BuildError, GraphTooLarge, Location, Source, clip, did_you_mean
from ..ir.columns import Args, NodeNames, Tags, Values, positions_array
from ..ir.graph import Graph, Tag, one_line
from ..ops import BINARY_SYMBOLS, FUNCTIONS, OPS

DEFAULT_MAX_NODES = 10_000_000
# Issue 5: `param w = uniform(a, b)` / `normal(mean, std)` draw from random.Random(seed),
# in statement order, so one seed always gives the same params.
DEFAULT_SEED = 0
RANDOM_INITS = ("uniform", "normal")
STEPS_PER_NODE = 10
REDUCTIONS = ("sum", "mean")
BARE_OUTPUT_NAME = "out"

# Sizing before building (see `Builder.least_size`): loop variables -> their first and last values.
_Ranges = dict[str, tuple[int, int]]

# Continuations on the expression walk's stack, each on top of its operands (see `expression`).
_EMIT, _CALL, _REDUCE, _ENV = range(4)
# A consumed call's arguments: as many holes as it had arguments (see `expression`).
_HOLES = tuple((None,) * n for n in range(8))


class _Env:
    """What an expression sees besides the file's global names."""

    __slots__ = ("ints", "locals", "tags", "in_loop", "tag_set")

    def __init__(self, ints: dict[str, int], locals: dict[str, int], tags: tuple[Tag, ...], in_loop: bool = False):
        self.ints = ints  # loop variables in scope
        self.locals = locals  # function parameters or loop-local names -> node
        self.tags = tags
        self.in_loop = in_loop
        self.tag_set = -1  # its index in the builder's tag_sets, once a node has these tags

    def iteration(self, var: str, value: int, line: int) -> _Env:
        return _Env({**self.ints, var: value}, dict(self.locals), self.tags + (Tag("loop", var, value, line),), True)


def build(program: ast.Program, source: Source, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED) -> Graph:
    """Unroll a parsed program into a graph. Raises BuildError (located) on a bad program.
    The program is left as it was (see `Builder`'s `consume`)."""
    builder = Builder(source, max_nodes, seed, consume=False)
    for st in program.statements:
        builder.statement(st)
    return builder.finish()


def _frozen(column: list) -> tuple:
    """The column as a tuple, emptying the list at once so a big graph is not held twice."""
    frozen = tuple(column)
    column.clear()
    return frozen


# A big build gives malloc's free memory back to the OS every this many nodes.
RELEASE_EVERY = 65_536
_malloc_trim = None  # glibc's malloc_trim once looked up, False where there is none


def _release_free_memory() -> None:
    """Hand the free pages inside glibc's heap back to the OS (malloc_trim(0)).

    A build grows a dozen big buffers at once (the columns, the dicts of names). When one
    outgrows its block, realloc moves it and frees the old block: a hole, resident until
    reused. glibc takes big blocks from mmap instead, which would not leave holes, but it
    raises that threshold to the size of any such block freed (reading a big file does:
    after a 22 MB program, a million-node build ended with ~55 MB of holes, a fifth of its
    peak). Releasing them every RELEASE_EVERY nodes costs ~1 ms a call, ~15 ms a million
    nodes, and changes no setting of malloc's. Elsewhere than glibc this does nothing."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError, TypeError):
                pass
    if _malloc_trim:
        _malloc_trim(0)


def _runs_with(index: ast.Expr, var: str) -> bool:
    """Whether an index takes a different value for each value of `var`: `var` itself,
    plus or minus something without it, or times a nonzero integer (`i`, `2*i + 1`, `n - i`).
    Anything else (`i*i`, `0*i`, `t`) is not known to, which keeps size bounds lower ones."""
    e = index
    while True:
        t = type(e)
        if t is ast.Ref:
            return e.name == var and not e.indices
        if t is ast.Unary:
            e = e.operand
        elif t is ast.Binary and e.op in "+-*":
            left, right = e.left, e.right
            if not _mentions(right, var):
                if e.op == "*" and not _nonzero_integer(right):
                    return False
                e = left
            elif not _mentions(left, var):
                if e.op == "*" and not _nonzero_integer(left):
                    return False
                e = right
            else:
                return False
        else:
            return False


def _targets(loop: ast.For) -> set[str]:
    """The names assigned or declared anywhere in a loop (nested loops included)."""
    found: set[str] = set()
    stack: list[ast.Stmt] = [loop]
    while stack:
        st = stack.pop()
        if type(st) is ast.For:
            stack.extend(st.body)
        elif type(st) is ast.Assign or type(st) is ast.Declare:
            found.add(st.target.name)
    return found


def _new_name_each_run(st: ast.Stmt, var: str, defined: set[str]) -> bool:
    """Whether each run of a statement, in a loop over `var`, makes a node of a name of its
    own: a declaration `param w[i]`, or a use of `x[i]` that no statement of the loop
    defines (an input) outside any sum, its index running with `var` (see `_runs_with`)."""
    if type(st) is ast.Declare:
        return any(_runs_with(index, var) for index in st.target.indices)
    if type(st) is not ast.Assign and type(st) is not ast.ExprStmt:
        return False
    stack: list[ast.Expr] = [st.value]
    while stack:
        e = stack.pop()
        t = type(e)
        if t is ast.Reduction:
            continue  # its body may run for no term (or name the same inputs in every run)
        if t is ast.Ref and e.indices and e.name not in defined and any(_runs_with(i, var) for i in e.indices):
            return True
        stack.extend(ast.children(e))
    return False


def _affine(e: ast.Expr, var: str) -> bool:
    """Whether an integer expression (+ - * of integers and variables) is affine in `var`:
    no product has `var` on both sides."""
    return not any(
        type(sub) is ast.Binary and sub.op == "*" and _mentions(sub.left, var) and _mentions(sub.right, var)
        for sub in ast.walk(e)
    )


def _mentions(e: ast.Expr, var: str) -> bool:
    return any(type(sub) is ast.Ref and sub.name == var for sub in ast.walk(e))


def _nonzero_integer(e: ast.Expr) -> bool:
    return type(e) is ast.Num and e.is_int and e.value != 0


def _const_key(value: float) -> tuple[float, float]:
    return (value, math.copysign(1.0, value))  # 0.0 and -0.0 are different constants


class Builder:
    """Builds a graph statement by statement.

    With `consume` (the default, for statements handed over by the parser and then
    dropped), a top-level statement's expression is taken apart as it is built: each
    syntax node lets go of its children once they are on the walk's stack, so a deep
    expression's tree is freed while its graph grows instead of living on beside it.
    Loop and function bodies, which run many times, are never touched.
    """

    def __init__(self, source: Source, max_nodes: int, seed: int = DEFAULT_SEED, consume: bool = True):
        self.source = source
        self.consume = consume
        self.max_nodes = max_nodes
        self.node_check = min(RELEASE_EVERY, max_nodes)  # the next size at which add() looks up
        self.rng = random.Random(seed)  # issue 5: random initial values of params
        self.ops: list[str] = []
        # Arguments as two columns (see columns.Args): for two arguments, both; for one, it and
        # -1; for none, -1 and -3; for more, the node itself and -2, the tuple in more_args.
        id_type = "i" if max_nodes < 2**31 else "q"
        self.first_args, self.second_args = array(id_type), array(id_type)
        self.more_args: dict[int, tuple[int, ...]] = {}
        # Values (constants', declared defaults) of the few nodes that have one, by node;
        # once most nodes have one, a list of every node's (see columns.Values).
        self.given_values: dict[int, float] | None = {}
        self.all_values: list[float | None] | None = None
        # Tags as one index per node into the distinct tuples of tags (see columns.Tags); a
        # tuple enters the list with the first node built in its environment.
        self.tag_ids = array(id_type)
        self.tag_sets: list[tuple[Tag, ...]] = [()]
        # (anchor, start, end) offsets per node: no syntax node kept alive
        self.positions = positions_array(len(source.text) + 1)
        self.names: dict[str, int] = {}
        self.node_names = NodeNames(id_type)  # node -> its names
        # One entry per key of `names`, in their order: the offset of the statement that
        # assigned it (-1 for others). Read only to word an error, by finding the key's place.
        self.name_pos = positions_array(len(source.text) + 1)
        self.leaves: list[int] = []
        self.consts: dict[tuple[float, float], int] = {}
        # A global name is defined once it is assigned or declared: it is then a key of
        # `names` that is not an implicit input, unless that input was declared later.
        self.declared: dict[str, tuple[str, int]] = {}  # name -> ('input' or 'param', statement offset)
        self.implicit: dict[str, ast.Ref] = {}  # names first used as free inputs -> that use
        # Plain names assigned in a loop body (local to each iteration) -> the line of that
        # loop and the last iteration's name (z@t=3): used after the loop, they are an error,
        # not a new input.
        self.loop_locals: dict[str, tuple[tuple[Tag, ...], str]] = {}
        self.defs: dict[str, ast.Def] = {}
        self.calls_of: dict[str, list[ast.Call]] = {}  # function -> the calls in its body
        self.call_counts: Counter[str] = Counter()
        # Statements run and terms summed, including those that add no node (`y[t] = x`):
        # bounded too, so a huge loop of aliases cannot run for minutes.
        self.steps = 0
        self.max_steps = STEPS_PER_NODE * max_nodes + 1000
        self.last_assigned: tuple[int, str] | None = None
        # id(statement) -> what one run of it surely adds (see least_nodes), or None for a
        # statement with a sum, whose size depends on the variables' values
        self.node_counts: dict[int, tuple[int, int] | None] = {}
        self.function_sizes: dict[str, tuple[int, int]] = {}  # user function -> least_size of its body
        self.top = _Env({}, {}, ())  # the file's top level
        self.top.tag_set = 0
        self.output_stmt: ast.Output | None = None
        self.bare: ast.ExprStmt | None = None  # a bare expression statement, so far the last
        self.bare_output: int | None = None

    # --- errors ------------------------------------------------------------------------

    def error(self, message: str, at, hint: str | None = None, width: int = 1) -> BuildError:
        return BuildError(message, Location.at(self.source, at.pos, width), hint)

    def line(self, at) -> int:
        return self.source.line_col(at.pos)[0]

    # --- nodes -------------------------------------------------------------------------

    def add(self, op: str, a: int, b: int, site: ast.Expr, env: _Env, value=None) -> int:
        """A node: `a`, `b` are its arguments as stored (see `first_args`): `add(op, x, y)`,
        `add(op, x, -1)` for one argument, `add(op, -1, -3)` for none; `add_n` for any."""
        i = len(self.ops)
        if i >= self.node_check:
            if i >= self.max_nodes:
                raise self.too_large("the graph grows past the limit", site)
            _release_free_memory()
            self.node_check = min(i + RELEASE_EVERY, self.max_nodes)
        self.ops.append(op)
        self.first_args.append(a)
        self.second_args.append(b)
        if self.all_values is not None:
            self.all_values.append(value)
        elif value is not None:
            given = self.given_values
            given[i] = value
            if len(given) > 1024 and 4 * len(given) > i:
                self.all_values = [given.get(j) for j in range(i + 1)]
                self.given_values = None
        tag_set = env.tag_set
        if tag_set < 0:
            tag_set = env.tag_set = len(self.tag_sets)
            self.tag_sets.append(env.tags)
        self.tag_ids.append(tag_set)
        self.positions.extend((site.pos, site.start, site.end))
        return i

    def add_n(self, op: str, args: tuple[int, ...], site: ast.Expr, env: _Env) -> int:
        """A node of any number of arguments (a call of a built-in function, a reduction)."""
        n = len(args)
        if n == 2:
            return self.add(op, args[0], args[1], site, env)
        if n == 1:
            return self.add(op, args[0], -1, site, env)
        if n == 0:
            return self.add(op, -1, -3, site, env)
        i = self.add(op, len(self.ops), -2, site, env)
        self.more_args[i] = args
        return i

    def value_of(self, i: int) -> float | None:
        return self.given_values.get(i) if self.all_values is None else self.all_values[i]

    def const(self, value: float, site: ast.Expr) -> int:
        key = _const_key(value)
        i = self.consts.get(key)
        if i is None:
            i = self.consts[key] = self.add("const", -1, -3, site, self.top, value)
        return i

    def leaf(self, kind: str, key: str, site: ast.Expr, value: float | None) -> int:
        i = self.add(kind, -1, -3, site, self.top, value)
        self.leaves.append(i)
        self.name(i, key)
        return i

    def name(self, i: int, key: str, pos: int = -1) -> None:
        names = self.names
        count = len(names)
        names[key] = i
        if len(names) > count:  # a new key (a loop-local name of a later loop may come again)
            self.name_pos.append(pos)
        self.node_names.name(i, key)

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
        if not ref.indices and ref.name in self.loop_locals:
            raise self.local_error(ref.name, ref)
        self.implicit[key] = ref
        return self.leaf("input", key, ref, None)

    def expression(self, root: ast.Expr, env: _Env, consume: bool = False) -> int:
        """The node computing `root`. A post-order walk with one flat stack: a syntax node
        on it is to be visited; an int is a continuation, lying on its operands: _EMIT
        (on the node whose operation to add, its arguments' nodes being on `out`), _CALL
        (on the call whose inlined body to visit), _REDUCE (on a reduction and the next
        value of its variable), _ENV (on the environment to return to once the body above
        it is done). A deep expression costs two stack slots per pending operation.

        With `consume`, the nodes of `root`'s own tree (not those of a function's body or a
        reduction's, visited in other environments and again later) drop their children
        as these go on the stack, so each syntax node is freed as soon as it is built."""
        out: list[int] = []
        todo: list = [root]
        del root  # with `consume`, the tree must hang only from the stack
        owner = env if consume else None
        Ref, Num, Binary, Unary, Call = ast.Ref, ast.Num, ast.Binary, ast.Unary, ast.Call
        while todo:
            e = todo.pop()
            t = type(e)
            if t is int:  # a continuation
                action = e
                e = todo.pop()
                if action == _EMIT:
                    t = type(e)
                    if t is Binary:
                        b = out.pop()
                        out[-1] = self.add(BINARY_SYMBOLS[e.op], out[-1], b, e, env)
                    elif t is Unary:
                        out[-1] = self.add("neg", out[-1], -1, e, env)
                    else:  # a built-in function
                        n = len(e.args)
                        if n == 1:
                            out[-1] = self.add(FUNCTIONS[e.func].name, out[-1], -1, e, env)
                        else:
                            args = tuple(out[len(out) - n :])
                            del out[len(out) - n :]
                            out.append(self.add_n(FUNCTIONS[e.func].name, args, e, env))
                elif action == _ENV:
                    env = e
                elif action == _CALL:
                    callee = self.defs[e.func]
                    n = len(e.args)
                    args = out[len(out) - n :]
                    del out[len(out) - n :]
                    self.call_counts[e.func] += 1
                    tag = Tag("call", e.func, self.call_counts[e.func], self.line(e))
                    todo.append(env)
                    todo.append(_ENV)
                    env = _Env({}, dict(zip(callee.params, args)), env.tags + (tag,))
                    todo.append(callee.body)
                else:  # _REDUCE: visit the body once per value of the variable, then add the sum
                    value = e
                    e = todo.pop()
                    hi = self.integer(e.hi, env)
                    if value <= hi:
                        todo.append(e)
                        todo.append(value + 1)
                        todo.append(_REDUCE)
                        todo.append(env)
                        todo.append(_ENV)
                        env = env.iteration(e.var, value, self.line(e))
                        todo.append(e.body)
                    else:
                        n = hi - self.integer(e.lo, env) + 1
                        args = tuple(out[len(out) - n :])
                        del out[len(out) - n :]
                        out.append(self.add_n(e.func, args, e, env))
            elif t is Ref:
                out.append(self.resolve(e, env))
            elif t is Num:
                out.append(self.const(e.value, e))
            elif t is Binary:
                left, right = e.left, e.right
                tl, tr = type(left), type(right)
                if (tl is Ref or tl is Num) and (tr is Ref or tr is Num):
                    # Both operands are leaves (w*x, h[t-1]+1): no need for the stack.
                    a = self.resolve(left, env) if tl is Ref else self.const(left.value, left)
                    b = self.resolve(right, env) if tr is Ref else self.const(right.value, right)
                    out.append(self.add(BINARY_SYMBOLS[e.op], a, b, e, env))
                    continue
                todo.append(e)
                todo.append(_EMIT)
                todo.append(right)
                todo.append(left)
                if env is owner:
                    e.left = e.right = None
            elif t is Call:
                callee = self.defs.get(e.func)
                args = e.args
                if callee is not None:
                    nodes, steps = self.function_size(e.func)
                    self.make_room((nodes, steps + 1), f"this call of {e.func}", e)
                    self.spend(1, e)
                    if len(args) != len(callee.params):
                        raise self.error(
                            f"{e.func}() takes {len(callee.params)} argument{'s' if len(callee.params) != 1 else ''}"
                            f" ({', '.join(callee.params)}), got {len(args)}",
                            e, f"{e.func} is defined on line {self.line(callee)}", len(e.func),
                        )
                    todo.append(e)
                    todo.append(_CALL)
                else:
                    name = self.builtin(e).name
                    if len(args) == 1:
                        arg = args[0]
                        ta = type(arg)
                        if ta is Ref or ta is Num:  # tanh(x): no need for the stack
                            a = self.resolve(arg, env) if ta is Ref else self.const(arg.value, arg)
                            out.append(self.add(name, a, -1, e, env))
                            continue
                    todo.append(e)
                    todo.append(_EMIT)
                todo.extend(reversed(args))
                if env is owner:
                    n = len(args)
                    e.args = _HOLES[n] if n < len(_HOLES) else (None,) * n  # the count stays
            elif t is Unary:
                if e.op == "-":
                    todo.append(e)
                    todo.append(_EMIT)
                todo.append(e.operand)
                if env is owner:
                    e.operand = None
            else:  # Reduction
                if e.func not in REDUCTIONS:
                    raise self.error(
                        f"'{e.func}(... for ...)' is not a reduction; use sum or mean", e, width=len(e.func)
                    )
                lo, hi = self.integer(e.lo, env), self.integer(e.hi, env)
                count = max(hi - lo + 1, 0)
                self.make_room(self.least_size(e, env.ints, new_names=True), f"this {e.func}", e)
                self.spend(count, e)
                if count == 0:
                    if e.func == "mean":
                        raise self.error(f"mean over an empty range {lo}..{hi}", e, width=len(e.func))
                    out.append(self.const(0.0, e))
                else:
                    todo.append(e)
                    todo.append(lo)
                    todo.append(_REDUCE)
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
        if key in self.names and (key not in self.implicit or key in self.declared):
            how_before, pos = self.declared.get(key) or ("assigned", self.assigned_at(key))
            line = self.source.line_col(pos)[0]
            raise self.error(
                f"'{key}' is already defined on line {line}" + (f" (as {how_before})" if how_before != "assigned" else ""),
                st, "a name is defined once; give the new value another name", len(key),
            )
        if how != "assigned":
            self.declared[key] = (how, st.pos)

    def assigned_at(self, key: str) -> int:
        """The offset of the statement that assigned `key` (for an error: a walk over the names)."""
        for index, k in enumerate(self.names):
            if k == key:
                return self.name_pos[index]
        raise KeyError(key)

    def assign(self, st: ast.Assign, env: _Env) -> None:
        first_new = len(self.ops)
        node = self.expression(st.value, env, self.consume and env is self.top)
        if self.ops[node] == "const" and node not in self.node_names:
            node = self.own_constant(node, first_new, st.value, env)
        # Otherwise the name is one more name of that node (`g = f`, `g = x`, `h[t] = h[t-1]`),
        # so d out/d g is d out/d f: one node, whatever it computes or holds.
        target = st.target
        pos = -1
        if env.in_loop and not target.indices and target.name not in self.names:
            if target.name in env.locals:
                raise self.error(f"'{target.name}' is already assigned in this iteration", st, width=len(target.name))
            env.locals[target.name] = node
            where = ",".join(f"{t.name}={t.value}" for t in env.tags if t.kind == "loop")
            key = f"{target.name}@{where}"
            self.loop_locals[target.name] = (tuple(t for t in env.tags if t.kind == "loop"), key)
        else:
            pos = st.pos
            key = self.key(target, env)
            if key in self.implicit:
                use = self.implicit[key]
                raise self.error(
                    f"'{key}' is used on line {self.line(use)} before it is defined here",
                    st, f"move this definition above line {self.line(use)}", len(target.name),
                )
            self.define(key, "assigned", st)
        self.name(node, key, pos)
        self.last_assigned = (node, key)

    def own_constant(self, node: int, first_new: int, site: ast.Expr, env: _Env) -> int:
        """The node a name assigned a literal (or a loop variable's value) gets: one of its own.

        Literal constants are shared (every `3` in the file is one node), so naming the
        shared node would make d out/d f include the uses of every other `3`. The literal
        this statement just built, with nothing built after it, becomes the name's node and
        leaves the pool of shared literals; an older one (or one that a later node of this
        statement uses, `k(3, 3*x)`) is copied into a new node."""
        if node == len(self.ops) - 1 and node >= first_new:
            del self.consts[_const_key(self.value_of(node))]
            return node
        return self.add("const", -1, -3, site, env, self.value_of(node))

    def declare(self, st: ast.Declare, env: _Env) -> None:
        key = self.key(st.target, env)
        value = self.constant(st.value, env, random_ok=st.kind == "param") if st.value is not None else None
        self.define(key, st.kind, st)
        node = self.names.get(key)
        if node is None:
            self.leaf(st.kind, key, st.target, value)
        else:  # used before its declaration: it was an input all along
            self.ops[node] = st.kind
            if self.all_values is not None:
                self.all_values[node] = value
            elif value is not None:
                self.given_values[node] = value

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
            first_new = len(self.ops)
            node = self.expression(st.value, self.top, self.consume)
            if self.ops[node] == "const" and node not in self.node_names:
                node = self.own_constant(node, first_new, st.value, self.top)  # it is named `out`
            self.bare_output = node
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
        # What only building needed goes before the columns are copied into the graph's
        # tuples, which is when a big build peaks.
        self.implicit, self.consts, self.declared, self.node_counts, self.function_sizes = {}, {}, {}, {}, {}
        self.loop_locals = {}
        self.name_pos = array(self.name_pos.typecode)
        size = len(self.ops)
        return Graph(
            source=self.source,
            ops=_frozen(self.ops),
            args=Args(self.first_args, self.second_args, self.more_args),
            values=Values(self.given_values if self.all_values is None else _frozen(self.all_values), size),
            tags=Tags(self.tag_ids, self.tag_sets),
            positions=self.positions,
            names=MappingProxyType(self.names),
            node_names=self.node_names,
            leaves=tuple(self.leaves),
            output=output,
            output_name=output_name,
        )

    def least_work(self, loop: ast.For, env: _Env) -> tuple[int, int]:
        """Lower bounds on the nodes and statements a loop adds and runs, without building it.

        An inner loop (or sum) whose bounds are affine in an enclosing loop's variable
        (`for s in 1..t`) runs the sum of its trip counts over that variable's range; bounds
        not known that way count as no trips, which keeps these lower bounds.
        `for t in 1..1000000000 {...}` is refused at once.
        """
        nodes = steps = fresh = 0
        defined = _targets(loop)
        stack: list[tuple[list[ast.Stmt], int, _Ranges, tuple[str, int] | None]] = [([loop], 1, {}, None)]
        while stack and nodes <= self.max_nodes and steps <= self.max_steps:
            body, times, ranges, loop_var = stack.pop()
            steps += times * len(body)
            for st in body:
                if type(st) is ast.For:
                    inner = self.inner_runs(st.var, st.lo, st.hi, times, env.ints, ranges)
                    if inner is not None:
                        runs, inside = inner
                        stack.append((st.body, runs, inside, (st.var, runs // times) if st.var in inside else None))
                    continue
                if type(st) is ast.Assign or type(st) is ast.ExprStmt:
                    st_nodes, st_steps = self.least_nodes(st, times, env.ints, ranges)
                    nodes += st_nodes
                    steps += st_steps
                if loop_var is not None and _new_name_each_run(st, loop_var[0], defined):
                    fresh = max(fresh, loop_var[1])
        # A name that differs in each run (`param w[i]`, an input `x[i]`) is a new node each
        # run, less the names there are already (some may be among them).
        return nodes + max(0, fresh - len(self.names)), steps

    def inner_runs(self, var: str, lo: ast.Expr, hi: ast.Expr, times: int, ints: dict[str, int],
                   ranges: _Ranges) -> tuple[int, _Ranges] | None:
        """How many times in all the body of a loop or sum over `var` in lo..hi runs, when
        its enclosing body runs `times` times, and the ranges known inside it; None if none
        is known. With bounds known from `ints`, `times` per run: `var` then ranges over them.
        With bounds affine in one variable of `ranges` (`1..t`), the sum of the trip counts
        over that variable's range (their mean times `times`); `var` then has no one range."""
        known = _Env(ints, {}, ())
        inside = {k: v for k, v in ranges.items() if k != var}
        try:
            a, b = self.integer(lo, known), self.integer(hi, known)
        except BuildError:
            pass
        else:
            return (times * (b - a + 1), {**inside, var: (a, b)}) if b >= a else None
        free = {sub.name for bound in (lo, hi) for sub in ast.walk(bound) if type(sub) is ast.Ref and sub.name not in ints}
        if len(free) != 1 or (v := free.pop()) not in ranges or not (_affine(lo, v) and _affine(hi, v)):
            return None
        first, last = ranges[v]
        try:
            counts = [self.integer(hi, _Env({**ints, v: x}, {}, ())) - self.integer(lo, _Env({**ints, v: x}, {}, ())) + 1
                      for x in (first, last)]
        except BuildError:
            return None
        if min(counts) <= 0:  # an empty run somewhere: no simple lower bound but none
            return None
        # An affine count's sum over first..last is the range's length times its mean; `times`
        # holds the length of v's range as a factor.
        total = times * (counts[0] + counts[1]) // 2
        # Below, `times` no longer holds v's range as a factor: a count that depends on v
        # again would not be bounded by the mean (`for w in 1..t { for u in t..n {...} }`).
        return (total, {k: r for k, r in inside.items() if k != v}) if total > 0 else None

    def least_nodes(self, st: ast.Stmt, times: int = 1, ints: dict[str, int] | None = None,
                    ranges: _Ranges | None = None) -> tuple[int, int]:
        """The nodes `times` runs of a statement surely add and the steps (terms of sums,
        calls of user functions) they surely run (see `least_size`). A statement without a
        sum or mean is the same each run: its size per run is kept."""
        key = id(st)
        if key not in self.node_counts:
            varies = any(type(e) is ast.Reduction for e in ast.walk(st.value))
            self.node_counts[key] = None if varies else self.least_size(st.value, {})
        per_run = self.node_counts[key]
        if per_run is None:
            return self.least_size(st.value, ints or {}, ranges=ranges, times=times)
        return per_run[0] * times, per_run[1] * times

    def least_size(self, root: ast.Expr, ints: dict[str, int], new_names: bool = False,
                   ranges: _Ranges | None = None, times: int = 1) -> tuple[int, int]:
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
        stack: list[tuple[ast.Expr, int, _Ranges, tuple[str, int] | None]] = [(root, times, ranges or {}, None)]
        while stack and nodes <= self.max_nodes and steps <= self.max_steps:
            e, times, known, reduction = stack.pop()
            t = type(e)
            if t is ast.Binary or (t is ast.Unary and e.op == "-"):
                nodes += times
            elif t is ast.Call:
                if e.func in self.defs:
                    body_nodes, body_steps = self.function_size(e.func)
                    nodes += times * body_nodes
                    steps += times * (body_steps + 1)
                else:
                    nodes += times
            elif t is ast.Reduction:
                inner = self.inner_runs(e.var, e.lo, e.hi, times, ints, known)
                if inner is not None:  # (an empty one is the literal 0: maybe no new node)
                    runs, inside = inner
                    nodes += times
                    steps += runs
                    if e.var not in ints:  # (its variable hiding a loop's: its body is not sized)
                        stack.append((e.body, runs, inside, (e.var, runs // times) if e.var in inside else None))
                continue
            elif t is ast.Ref and new_names and reduction is not None and e.indices:
                var, count = reduction
                if any(_runs_with(index, var) for index in e.indices):
                    names = max(names, count)  # distinct names, one per term
            stack.extend((child, times, known, reduction) for child in ast.children(e))
        return nodes + max(0, names - len(self.names)), steps

    def function_size(self, name: str) -> tuple[int, int]:
        """`least_size` of a user function's body, calls included, worked out once per
        function. The functions it calls are sized first, with a stack (a chain of calls
        may be long); a function not defined yet counts as nothing (still a lower bound)."""
        sizes = self.function_sizes
        stack = [(name, False)]
        while stack:
            f, callees_done = stack.pop()
            if f in sizes:
                continue
            if callees_done:
                sizes[f] = self.least_size(self.defs[f].body, {})
                continue
            stack.append((f, True))
            stack.extend((c.func, False) for c in self.calls_of[f] if c.func in self.defs and c.func not in sizes)
        return sizes[name]

    def make_room(self, size: tuple[int, int], what: str, site) -> None:
        """Refuse, before building it, a construct that would take the graph (or the work
        of unrolling it) past the limit: at once, not once the graph has grown that far."""
        nodes, steps = size
        if len(self.ops) + nodes > self.max_nodes:
            raise self.too_large(f"{what} adds at least {nodes:,} nodes", site)
        if self.steps + steps > self.max_steps:
            raise self.too_large(f"{what} runs at least {steps:,} terms and calls", site)

    def local_error(self, name: str, at) -> BuildError:
        """`name` used outside the loop whose iterations each have their own."""
        loops, last = self.loop_locals[name]
        variables = ",".join(t.name for t in loops)
        values = ",".join(str(t.value) for t in loops)
        return self.error(
            f"'{name}' is local to the loop on line {loops[-1].line}: each iteration has its own (the last is {last})",
            at, f"to use it after the loop, give it an index in the loop ({name}[{variables}] = ...)"
            f" and use one ({name}[{values}])", len(name),
        )

    def choose_output(self, output_stmt, bare_output, env) -> tuple[int, str]:
        if output_stmt is not None:
            key = self.key(output_stmt.target, env)
            if key not in self.names and key in self.loop_locals:
                raise self.local_error(key, output_stmt.target)
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
