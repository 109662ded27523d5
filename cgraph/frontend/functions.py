"""Functions: the built-in ones a call may name (checked against the op table), and the
file's own `def`s, inlined at each call. A cycle of calls is refused as soon as the
`def` that closes it is read (depth-first search with a stack, not recursion)."""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from . import syntax as ast
from .constants import RANDOM_INITS, misplaced_draw
from .located import error, line
from ..errors import BuildError, Source, did_you_mean
from ..ir.graph import Tag
from ..ops import FUNCTIONS, Op


class Functions:
    """The user functions defined so far, and the calls made of each."""

    def __init__(self, source: Source):
        self.source = source
        self.defs: dict[str, ast.Def] = {}
        self.calls_of: dict[str, list[ast.Call]] = {}  # function -> the calls in its body
        self.call_counts: Counter[str] = Counter()
        self._called: set[str] = set()  # every function a registered body calls

    def define(self, st: ast.Def) -> None:
        """Register a `def`. Its body may call functions defined later (they are looked up
        when it is inlined), but a cycle of calls is refused as soon as it closes."""
        if st.name in FUNCTIONS:
            raise error(self.source, f"'{st.name}' is a built-in function and cannot be redefined", st, width=len(st.name))
        if st.name in self.defs:
            earlier = line(self.source, self.defs[st.name])
            raise error(self.source, f"function '{st.name}' is already defined on line {earlier}", st)
        if len(set(st.params)) != len(st.params):
            raise error(self.source, f"function '{st.name}' has a repeated parameter name", st)
        self.defs[st.name] = st
        calls = self.calls_of[st.name] = [e for e in ast.walk(st.body) if type(e) is ast.Call and e.func not in FUNCTIONS]
        # A cycle through this def ends with a call of it, from its own body or from a body
        # registered before: without one there is nothing to search (20,000 defs, each
        # calling the one above, would otherwise search the whole chain at every def).
        closes = st.name in self._called or any(call.func == st.name for call in calls)
        self._called.update(call.func for call in calls)
        cycle = self._cycle_through(st.name) if closes else None
        if cycle is not None:
            path, call = cycle
            raise error(
                self.source,
                f"recursion is not supported: {' -> '.join(path)}" if len(path) > 2
                else f"'{st.name}' calls itself: recursion is not supported",
                call, "functions are inlined at each call; unroll with a for loop instead", len(call.func),
            )

    def _cycle_through(self, name: str) -> tuple[list[str], ast.Call] | None:
        """A path of calls from `name` back to it (the names, and the call that closes it)."""
        path = [name]
        pending: list[Iterator[ast.Call]] = [iter(self.calls_of[name])]
        seen = {name}
        while pending:
            call = next(pending[-1], None)
            if call is None:
                pending.pop()
                path.pop()
                continue
            if call.func == name:
                return path + [call.func], call
            if call.func in self.defs and call.func not in seen:
                seen.add(call.func)
                path.append(call.func)
                pending.append(iter(self.calls_of[call.func]))
        return None

    def builtin(self, call: ast.Call) -> Op:
        """The op a call of a built-in function computes, its arguments counted."""
        op = FUNCTIONS.get(call.func)
        if op is None:
            raise self._unknown(call)
        n = len(call.args)
        if op.arity is None and n == 0:
            raise error(self.source, f"{call.func}() needs at least one argument", call, width=len(call.func))
        if op.arity is not None and n != op.arity:
            raise error(
                self.source, f"{call.func}() takes {op.arity} argument{'s' if op.arity > 1 else ''}, got {n}",
                call, width=len(call.func),
            )
        return op

    def _unknown(self, call: ast.Call) -> BuildError:
        if call.func in RANDOM_INITS:
            return misplaced_draw(self.source, call)
        return error(
            self.source,
            f"unknown function '{call.func}'" + did_you_mean(call.func, sorted(set(FUNCTIONS) | set(self.defs))),
            call,
            "functions: " + ", ".join(sorted(FUNCTIONS)) + (", and the file's own: " + ", ".join(self.defs) if self.defs else "")
            + "; define a function before the statement that first calls it",
            len(call.func),
        )

    def check_call(self, call: ast.Call) -> ast.Def:
        """The user function a call inlines, its arguments counted."""
        callee = self.defs[call.func]
        n, params = len(call.args), callee.params
        if n != len(params):
            raise error(
                self.source,
                f"{call.func}() takes {len(params)} argument{'s' if len(params) != 1 else ''} ({', '.join(params)}), got {n}",
                call, f"{call.func} is defined on line {line(self.source, callee)}", len(call.func),
            )
        return callee

    def call_tag(self, call: ast.Call) -> Tag:
        """The tag of the nodes of one more inlined call: the function, which call of it."""
        self.call_counts[call.func] += 1
        return Tag("call", call.func, self.call_counts[call.func], line(self.source, call))
