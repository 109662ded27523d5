"""Statements: assignments and declarations, and loops unrolled with explicit frames
that count their iterations instead of pre-expanding them (no recursion, however deep
the nesting or long the loop)."""

from __future__ import annotations

from typing import Union

from . import syntax as ast
from .constants import Constants
from .expressions import Lowering
from .integers import integer, key
from .located import error
from .scoping import Env, GlobalNames
from .size_limits import SizeLimits
from ..errors import Source
from ..ir.tape import TapeWriter
from ..ops import CONST, PARAM

# A frame of `execute`: (statements, index of the next, env), or a loop's
# (for, next value of its variable, last value, env).
_Frame = Union[tuple[list[ast.Stmt], int, Env], tuple[ast.For, int, int, Env]]


class Statements:
    """Runs assignments, declarations and loops (the top level's other statements are
    the builder's: `def`, `output`, a bare expression)."""

    def __init__(self, source: Source, tape: TapeWriter, names: GlobalNames, lowering: Lowering,
                 constants: Constants, limits: SizeLimits, top: Env, consume: bool):
        self.source = source
        self.tape = tape
        self.globals = names
        self.lowering = lowering
        self.constants = constants
        self.limits = limits
        self.top = top
        self.consume = consume
        self.last_assigned: tuple[int, str] | None = None
        self._lines: dict[int, int] = {}  # a loop statement's offset -> its line

    def execute(self, first: ast.Stmt) -> None:
        """Run a top-level statement, unrolling loops with explicit frames."""
        if type(first) is ast.Assign:  # most statements of a big file: the frames' work for one
            # (the same spend and assign the frame loop would do for this one statement)
            self.limits.spend(1, first)
            self.assign(first, self.top)
            return
        frames: list[_Frame] = [([first], 0, self.top)]
        while frames:
            frame = frames.pop()
            if isinstance(frame[0], ast.For):  # a loop frame
                loop, value, hi, env = frame
                assert isinstance(loop, ast.For) and isinstance(hi, int)
                if value <= hi:
                    frames.append((loop, value + 1, hi, env))
                    frames.append((loop.body, 0, env.iteration(loop.var, value, self._line(loop.pos))))
                continue
            stmts, index, env = frame
            if index >= len(stmts):
                continue
            frames.append((stmts, index + 1, env))
            st = stmts[index]
            self.limits.spend(1, st)
            if isinstance(st, ast.Assign):
                self.assign(st, env)
            elif isinstance(st, ast.Declare):
                self.declare(st, env)
            elif isinstance(st, ast.For):
                loop_frame = self.enter_loop(st, env)
                if loop_frame is not None:
                    frames.append(loop_frame)
            else:
                what = {ast.Def: "'def'", ast.Output: "'output'"}.get(type(st), "an expression on its own")
                raise error(self.source, f"{what} is only allowed at the top level of a file, not inside a loop", st)

    def _line(self, pos: int) -> int:
        """A loop's line, for its iterations' tags: looked up once per loop, not per iteration."""
        line = self._lines.get(pos)
        if line is None:
            line = self._lines[pos] = self.source.line_col(pos)[0]
        return line

    def enter_loop(self, st: ast.For, env: Env) -> tuple[ast.For, int, int, Env] | None:
        """The frame of a loop about to run, once it is known to fit (None: nothing to run)."""
        if st.var in env.ints:
            raise error(self.source, f"loop variable '{st.var}' is already used by an enclosing loop", st)
        lo, hi = integer(st.lo, env.ints, self.source), integer(st.hi, env.ints, self.source)
        if hi < lo or not st.body:  # no runs, or nothing to run: it unrolls to nothing, and the
            return None             # size check (~4 us) is skipped: an empty inner loop can run a million times
        self.limits.check_loop(st, env.ints)
        return st, lo, hi, env

    def value_node(self, value: ast.Expr, env: Env) -> int:
        """The node of an expression to be named: a literal (`f = 3`) gets one of its own
        (see `TapeWriter.own_constant`); any other node is named as it is (`g = f`, `g = x`,
        `h[t] = h[t-1]`), so d out/d g is d out/d f: one node, whatever it computes or holds."""
        tape = self.tape
        first_new = len(tape.ops)
        node = self.lowering.expression(value, env, self.consume and env is self.top)
        if tape.ops[node] == CONST and tape.is_literal(node):  # (most nodes: no call)
            node = tape.own_constant(node, first_new, value, env)
        return node

    def assign(self, st: ast.Assign, env: Env) -> None:
        node = self.value_node(st.value, env)
        target = st.target
        pos = -1
        if env.in_loop and not target.indices and target.name not in self.tape.names:
            name = self._loop_local(st, env, node)
        else:
            pos = st.pos
            name = key(target, env.ints, self.source)
            if name in self.globals.implicit:
                raise self.globals.used_before(name, st)
            self.globals.define(name, "assigned", st)
        self.tape.name(node, name, pos)
        self.last_assigned = (node, name)

    def _loop_local(self, st: ast.Assign, env: Env, node: int) -> str:
        """A plain name assigned in a loop body: this iteration's own (`z@t=3`)."""
        name = st.target.name
        if name in env.locals:
            raise error(self.source, f"'{name}' is already assigned in this iteration", st, width=len(name))
        env.locals[name] = node
        loops = env.loop_tags()
        local = f"{name}@{','.join(f'{t.name}={t.value}' for t in loops)}"
        self.globals.loop_locals[name] = (loops, local)
        return local

    def declare(self, st: ast.Declare, env: Env) -> None:
        name = key(st.target, env.ints, self.source)
        value = None
        if st.value is not None:
            value = self.constants.value(st.value, env.ints, random_ok=st.kind == PARAM)
        self.globals.define(name, st.kind, st)
        node = self.tape.names.get(name)
        if node is None:
            self.tape.leaf(st.kind, name, st.target, value)
        else:  # used before its declaration: it was an input all along
            self.tape.relabel_leaf(node, st.kind, value)
