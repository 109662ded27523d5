"""Expression lowering: a syntax tree's expression -> nodes on the tape, names resolved,
user functions inlined, sums and means unrolled."""

from __future__ import annotations

from typing import Any

from . import syntax as ast
from .functions import Functions
from .integers import integer, key
from .located import error
from .scoping import Env, GlobalNames
from .size_limits import SizeLimits
from ..errors import Source
from ..ir.tape import ONE, TapeWriter
from ..ops import BINARY_SYMBOLS, FUNCTIONS

REDUCTIONS = ("sum", "mean")
EMPTY_REDUCTION = {"sum": 0.0}  # the value over no terms: a sum of nothing is 0, a mean of nothing has none

# Continuations on the expression walk's stack, each on top of its operands (see `expression`).
_EMIT, _CALL, _REDUCE, _ENV = range(4)
# A consumed call's arguments: as many holes as it had arguments (see `expression`).
_HOLES = tuple((None,) * n for n in range(8))


class Lowering:
    """Lowers expressions onto a tape, in the environment given."""

    def __init__(self, source: Source, tape: TapeWriter, names: GlobalNames, functions: Functions, limits: SizeLimits):
        self.source = source
        self.tape = tape
        self.globals = names
        self.functions = functions
        self.limits = limits

    def resolve(self, ref: ast.Ref, env: Env) -> int:
        """The node a name stands for; a free global name's first use creates an input."""
        if not ref.indices:
            if ref.name in env.ints:
                return self.tape.literal(float(env.ints[ref.name]), ref)
            local = env.locals.get(ref.name)
            if local is not None:
                return local
        name = key(ref, env.ints, self.source) if ref.indices else ref.name
        i = self.tape.names.get(name)
        if i is not None:
            return i
        if not ref.indices:
            self._check_free_name(ref)
        self.globals.implicit[name] = ref
        return self.tape.leaf("input", name, ref, None)

    def _check_free_name(self, ref: ast.Ref) -> None:
        """A plain name about to become an input must not be a function or a loop's local."""
        if ref.name in FUNCTIONS or ref.name in self.functions.defs:
            raise error(self.source, f"'{ref.name}' is a function; call it as {ref.name}(...)", ref, width=len(ref.name))
        if ref.name in self.globals.loop_locals:
            raise self.globals.local_error(ref.name, ref)

    def expression(self, root: ast.Expr, env: Env, consume: bool = False) -> int:
        """The node computing `root`. A post-order walk with one flat stack: a syntax node
        on it is to be visited; an int is a continuation, lying on its operands: _EMIT
        (on the node whose operation to add, its arguments' nodes being on `out`), _CALL
        (on the call whose inlined body to visit), _REDUCE (on a reduction and the next
        value of its variable), _ENV (on the environment to return to once the body above
        it is done). A deep expression costs two stack slots per pending operation.

        This is one long loop on purpose: it runs once per syntax node of every
        expression, and a method call per node would cost a measurable share of a
        million-node build; calls and reductions, rarer, are set up by methods.

        With `consume`, the nodes of `root`'s own tree (not those of a function's body or a
        reduction's, visited in other environments and again later) drop their children
        as these go on the stack, so each syntax node is freed as soon as it is built."""
        out: list[int] = []
        todo: list[Any] = [root]
        del root  # with `consume`, the tree must hang only from the stack
        owner = env if consume else None
        push, literal, resolve = self.tape.push, self.tape.literal, self.resolve
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
                        out[-1] = push(BINARY_SYMBOLS[e.op], out[-1], b, e, env)
                    elif t is Unary:
                        out[-1] = push("neg", out[-1], ONE, e, env)
                    elif len(e.args) == 1:  # a built-in function
                        out[-1] = push(FUNCTIONS[e.func].name, out[-1], ONE, e, env)
                    else:
                        out.append(self.tape.append(FUNCTIONS[e.func].name, _pop(out, len(e.args)), e, env))
                elif action == _ENV:
                    env = e
                elif action == _CALL:
                    env = self._enter_call(e, env, out, todo)
                else:  # _REDUCE: visit the body once per value of the variable, then add the sum
                    env = self._next_term(todo.pop(), e, env, out, todo)
            elif t is Ref:
                out.append(resolve(e, env))
            elif t is Num:
                out.append(literal(e.value, e))
            elif t is Binary:
                left, right = e.left, e.right
                tl, tr = type(left), type(right)
                if (tl is Ref or tl is Num) and (tr is Ref or tr is Num):
                    # Both operands are leaves (w*x, h[t-1]+1): no need for the stack.
                    a = resolve(left, env) if tl is Ref else literal(left.value, left)
                    b = resolve(right, env) if tr is Ref else literal(right.value, right)
                    out.append(push(BINARY_SYMBOLS[e.op], a, b, e, env))
                    continue
                todo.append(e)
                todo.append(_EMIT)
                todo.append(right)
                todo.append(left)
                if env is owner:
                    e.left = e.right = None
            elif t is Call:
                args = e.args
                if e.func in self.functions.defs:
                    self._check_call(e)
                    todo.append(e)
                    todo.append(_CALL)
                else:
                    name = self.functions.builtin(e).name
                    if len(args) == 1:
                        arg = args[0]
                        ta = type(arg)
                        if ta is Ref or ta is Num:  # tanh(x): no need for the stack
                            a = resolve(arg, env) if ta is Ref else literal(arg.value, arg)
                            out.append(push(name, a, ONE, e, env))
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
            else:
                self._start_reduction(e, env, out, todo)
        return out[0]

    def _check_call(self, call: ast.Call) -> None:
        """Before inlining a user function: room for its body, its arguments counted."""
        nodes, steps = self.limits.function_size(call.func)
        self.limits.make_room((nodes, steps + 1), f"this call of {call.func}", call)
        self.limits.spend(1, call)
        self.functions.check_call(call)

    def _enter_call(self, call: ast.Call, env: Env, out: list[int], todo: list[Any]) -> Env:
        """Its arguments' nodes being on `out`: visit the body of the function `call`
        inlines, in an environment of its parameters, then come back to `env`."""
        callee = self.functions.defs[call.func]
        args = _pop(out, len(call.args))
        tag = self.functions.call_tag(call)
        todo.append(env)
        todo.append(_ENV)
        todo.append(callee.body)
        return Env({}, dict(zip(callee.params, args)), env.tags + (tag,))

    def _start_reduction(self, e: ast.Reduction, env: Env, out: list[int], todo: list[Any]) -> None:
        """A sum or mean: sized first, then its first term is put on the walk's stack."""
        if e.func not in REDUCTIONS:
            raise error(self.source, f"'{e.func}(... for ...)' is not a reduction; use sum or mean", e, width=len(e.func))
        lo, hi = integer(e.lo, env.ints, self.source), integer(e.hi, env.ints, self.source)
        count = max(hi - lo + 1, 0)
        self.limits.make_room(self.limits.expression_size(e, env.ints, new_names=True), f"this {e.func}", e)
        self.limits.spend(count, e)
        if count == 0:
            if e.func not in EMPTY_REDUCTION:
                raise error(self.source, f"{e.func} over an empty range {lo}..{hi}", e, width=len(e.func))
            out.append(self.tape.literal(EMPTY_REDUCTION[e.func], e))
        else:
            todo.append(e)
            todo.append(lo)
            todo.append(_REDUCE)

    def _next_term(self, e: ast.Reduction, value: int, env: Env, out: list[int], todo: list[Any]) -> Env:
        """The term of a reduction for its variable's `value`, or once past the last term,
        the node of the sum (or mean) of the terms' nodes on `out`. Returns the environment
        the walk goes on in."""
        hi = integer(e.hi, env.ints, self.source)
        if value <= hi:
            todo.append(e)
            todo.append(value + 1)
            todo.append(_REDUCE)
            todo.append(env)
            todo.append(_ENV)
            todo.append(e.body)
            return env.iteration(e.var, value, self.source.line_col(e.pos)[0])
        n = hi - integer(e.lo, env.ints, self.source) + 1
        out.append(self.tape.append(e.func, _pop(out, n), e, env))
        return env


def _pop(out: list[int], n: int) -> tuple[int, ...]:
    """The top `n` nodes of the stack, taken off it."""
    args = tuple(out[len(out) - n :])
    del out[len(out) - n :]
    return args
