"""Plain top-level assignments built straight onto the tape, without a syntax tree.

`lalr.run` replays a short statement's reductions from a `Script` (the callbacks the
LALR tables call for that shape of statement, worked out once per shape). For most
statements of a big file (`s3 = s2 * w`, `d7 = tanh(d6*w1 + x2)`) those callbacks are
only names, numbers, operators and built-in calls under one assignment; `Direct` runs
them as tape pushes instead of building `syntax` nodes that `Lowering` then walks. On
bench/bench_core.py's one-operation chain this halves the builder's share of a
statement (measured: about 5 µs of 7 per node went to syntax objects and the walk).

It only takes a statement when nothing in it can go wrong: every name it reads is
already defined, the name it assigns is new, every call is of a built-in function with
the right number of arguments. Anything else (an error to report, a first use that
makes an input, a user function, an index, a unary minus, parentheses) returns False
and the statement is built the ordinary way, so every error and its order stay those of
the syntax-tree path. The nodes pushed are those `Lowering.expression` pushes, in the
same order (post-order, left to right) with the same positions; tests/test_parser_loop.py
compares the two paths on generated programs and the fuzzer's corpus.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..ir.tape import ONE, Span
from ..ops import BINARY_SYMBOLS, CONST, FUNCTIONS

if TYPE_CHECKING:
    from .builder import Builder
    from .lalr import Script

# A plan: (operand token registers, target token register, calls as (name register,
# argument count)) of a script Direct can run; None for one it cannot.
_Plan = tuple[tuple[int, ...], int, tuple[tuple[int, int], ...]]
_SUPPORTED = frozenset({"ref", "number", "binary", "call", "assign", "top"})


def _plan(script: Script) -> _Plan | None:
    """What to check before running `script` directly; None if it has other callbacks."""
    refs: dict[int, int] = {}  # register of a ref step -> its token's register
    calls: list[tuple[int, int]] = []
    target = -1
    assigns = 0
    for index, (callback, args) in enumerate(script.steps):
        if callback not in _SUPPORTED:
            return None
        if callback == "ref":
            if len(args) != 1:
                return None  # an indexed name: its indices are evaluated (the tree's way)
            refs[script.size + index] = args[0]
        elif callback == "call":
            calls.append((args[0], len(args) - 3))  # name "(" args... ")"
        elif callback == "assign":
            assigns += 1
            target = refs.pop(args[0], -1)
    if assigns != 1 or target < 0:
        return None
    return tuple(refs.values()), target, tuple(calls)


class Direct:
    """Runs scripts of plain assignments on the builder's tape (see the module's doc)."""

    def __init__(self, builder: Builder):
        self.builder = builder
        self.tape = builder.tape
        self.plans: dict[Script, _Plan | None] = {}

    def build(self, script: Script, texts: tuple, spans: tuple) -> bool:
        """Build the statement (its tokens' `texts` and `spans`), if it is one `Direct`
        takes (see the module's doc)."""
        if script not in self.plans:
            self.plans[script] = _plan(script)
        plan = self.plans[script]
        if plan is None or not self._fits(plan, texts):
            return False
        self._run(script, texts, spans, plan[1])
        return True

    def _fits(self, plan: _Plan, texts: tuple) -> bool:
        builder = self.builder
        limits = builder.limits
        if builder.bare is not None or limits.steps + 1 > limits.max_steps:
            return False  # the ordinary path reports the error
        names = self.tape.names
        operands, target, calls = plan
        if texts[target] in names:  # defined before, or used as an input
            return False
        for i in operands:
            if texts[i] not in names:  # its first use makes an input
                return False
        defs = builder.functions.defs
        for i, count in calls:
            name = texts[i]
            op = FUNCTIONS.get(name)
            if op is None or name in defs or (count != op.arity if op.arity is not None else count == 0):
                return False
        return True

    def _run(self, script: Script, texts: tuple, spans: tuple, target: int) -> None:
        """The steps as `Lowering` and `Statements.assign` would run them at the top level.
        A step's value is (node, anchor, start, end); registers below `script.size` are
        the tokens (read from `texts` and `spans`)."""
        builder = self.builder
        tape, env = self.tape, builder.top
        names, push = tape.names, tape.push
        target_pos = spans[target][0]
        builder.limits.spend(1, Span(target_pos))  # (cannot fail: checked)
        first_new = len(tape.ops)
        registers: list[Any] = [None] * script.size
        value: Any = None
        for callback, args in script.steps:
            if callback == "ref":
                start, end = spans[args[0]]
                value = (names.get(texts[args[0]], -1), start, start, end)
            elif callback == "binary":
                left, right = registers[args[0]], registers[args[2]]
                symbol = texts[args[1]]
                anchor = spans[args[1]][0]
                site = Span(anchor, left[2], right[3])
                value = (push(BINARY_SYMBOLS["^" if symbol == "**" else symbol], left[0], right[0], site, env),
                         anchor, left[2], right[3])
            elif callback == "call":
                start = spans[args[0]][0]
                site = Span(start, start, spans[args[-1]][1])
                op_name = FUNCTIONS[texts[args[0]]].name
                if len(args) == 4:
                    node = push(op_name, registers[args[2]][0], ONE, site, env)
                else:
                    node = tape.append(op_name, tuple(registers[i][0] for i in args[2:-1]), site, env)
                value = (node, start, start, site.end)
            elif callback == "number":
                start, end = spans[args[0]]
                value = (tape.literal(float(texts[args[0]]), Span(start, start, end)), start, start, end)
            elif callback == "assign":
                self._assign(texts[target], target_pos, registers[args[1]], first_new)
                value = None
            else:  # top: the statement is done; the parser forgets it
                value = None
            registers.append(value)

    def _assign(self, target: str, pos: int, value: tuple[int, int, int, int], first_new: int) -> None:
        """`Statements.assign` of a new global name at the top level."""
        tape = self.tape
        node = value[0]
        if tape.ops[node] == CONST and tape.is_literal(node):  # `f = 3`: a constant of its own
            node = tape.own_constant(node, first_new, Span(*value[1:]), self.builder.top)
        # (GlobalNames.define records nothing of a new assigned name: naming it is all.)
        name = sys.intern(target)  # as the parser's callbacks do: one string per name
        tape.name(node, name, pos)
        self.builder.statements.last_assigned = (node, name)
