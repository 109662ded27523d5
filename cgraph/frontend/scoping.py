"""Names: what an expression sees (`Env`) and the file's global names (`GlobalNames`).

Scoping, in the order a name is looked up:
  1. loop variables (integers; as values they become constants),
  2. locals: a user function's parameters, or plain names assigned inside a loop body
     (each iteration has its own; they are shown as `z@t=3`),
  3. the file's global names: assigned (`p = ...`), declared (`input`, `param`), or
     free, in which case the first use creates an input.
"""

from __future__ import annotations

from . import syntax as ast
from .located import At, error, line
from ..errors import BuildError, Source
from ..ir.graph import Tag
from ..ir.tape import Scope, TapeWriter


class Env(Scope):
    """What an expression sees besides the file's global names; as a tape `Scope`, the
    tags (function calls, loop iterations) of the nodes built in it."""

    __slots__ = ("ints", "locals", "in_loop")

    def __init__(self, ints: dict[str, int], locals: dict[str, int], tags: tuple[Tag, ...], in_loop: bool = False):
        self.ints = ints  # loop variables in scope
        self.locals = locals  # function parameters or loop-local names -> node
        self.tags = tags
        self.tag_set = -1 if tags else 0  # as Scope's
        self.in_loop = in_loop

    def iteration(self, var: str, value: int, line: int) -> Env:
        return Env({**self.ints, var: value}, dict(self.locals), self.tags + (Tag("loop", var, value, line),), True)

    def loop_tags(self) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.kind == "loop")


class GlobalNames:
    """The bookkeeping of the file's global names besides the tape's `names`: which were
    declared, which were first used as free inputs, which are loop-local.

    A global name is defined once it is assigned or declared: it is then a key of the
    tape's `names` that is not an implicit input, unless that input was declared later."""

    def __init__(self, source: Source, tape: TapeWriter):
        self.source = source
        self.tape = tape
        self.declared: dict[str, tuple[str, int]] = {}  # name -> ('input' or 'param', statement offset)
        self.implicit: dict[str, ast.Ref] = {}  # names first used as free inputs -> that use
        # Plain names assigned in a loop body (local to each iteration) -> the tags of that
        # loop and the last iteration's name (z@t=3): used after the loop, they are an
        # error, not a new input.
        self.loop_locals: dict[str, tuple[tuple[Tag, ...], str]] = {}

    def define(self, key: str, how: str, st: ast.Stmt) -> None:
        """Record that statement `st` defines `key` (`how`: 'assigned', 'input' or 'param');
        a name defined before is an error."""
        if key in self.tape.names and (key not in self.implicit or key in self.declared):
            how_before, pos = self.declared.get(key) or ("assigned", self.tape.name_position(key))
            raise error(
                self.source,
                f"'{key}' is already defined on line {self.source.line_col(pos)[0]}"
                + (f" (as {how_before})" if how_before != "assigned" else ""),
                st, "a name is defined once; give the new value another name", len(key),
            )
        if how != "assigned":
            self.declared[key] = (how, st.pos)

    def used_before(self, key: str, st: ast.Assign) -> BuildError:
        """An assignment to a name an earlier statement used as a free input."""
        used = line(self.source, self.implicit[key])
        return error(
            self.source, f"'{key}' is used on line {used} before it is defined here",
            st, f"move this definition above line {used}", len(st.target.name),
        )

    def release(self) -> None:
        """Let go of what only building needed (before the graph is frozen)."""
        self.declared, self.implicit, self.loop_locals = {}, {}, {}

    def local_error(self, name: str, at: At) -> BuildError:
        """`name` used outside the loop whose iterations each have their own."""
        loops, last = self.loop_locals[name]
        variables = ",".join(t.name for t in loops)
        values = ",".join(str(t.value) for t in loops)
        return error(
            self.source,
            f"'{name}' is local to the loop on line {loops[-1].line}: each iteration has its own (the last is {last})",
            at, f"to use it after the loop, give it an index in the loop ({name}[{variables}] = ...)"
            f" and use one ({name}[{values}])", len(name),
        )
