"""Plain top-level assignments built straight onto the tape, without a syntax tree.

`lalr.run` replays a short statement's reductions from a `Script` (the callbacks the
LALR tables call for that shape of statement, worked out once per shape). For most
statements of a big file (`s3 = s2 * w`, `d7 = tanh(d6*w1 + x2)`) those callbacks are
only names, numbers, operators and built-in calls under one assignment; `Direct` runs
them as tape pushes instead of building `syntax` nodes that `Lowering` then walks.
Measured (CPU time, bench_core's 1e5-node files, same run): the one-operation chain
11.1 -> 6.1 µs/node and the random DAG 8.6 -> 4.4 against replaying the same scripts
into syntax trees for the builder.

It only takes a statement when nothing in it can go wrong: every name it reads is
already defined, the name it assigns is new, every call is of a built-in function with
the right number of arguments. Anything else (an error to report, a first use that
makes an input, a user function, an index, a unary minus, parentheses) returns False
and the statement is built the ordinary way, so every error and its order stay those of
the syntax-tree path. The nodes pushed are those `Lowering.expression` pushes, in the
same order (post-order, left to right) with the same positions; tests/test_statement_shortcut.py
compares the two paths on generated programs and the fuzzer's corpus.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..ir.tape import ONE, Span
from ..ops import BINARY_SYMBOLS, CONST, FUNCTIONS

if TYPE_CHECKING:
    from .builder import Builder
    from .shapes import Script

_SUPPORTED = frozenset({"ref", "number", "binary", "call", "assign", "top"})
# A plan's steps: (what, ...) with registers counted from the first step's value.
_SKIP, _REF, _NUMBER, _BINARY, _CALL, _ASSIGN = range(6)


class _Plan:
    """A script `Direct` can run: what to check before (the names it reads, the name it
    assigns, its calls as (name's token, argument count)), and its steps as small tuples
    (see `Direct._run`)."""

    __slots__ = ("operands", "target", "calls", "steps")

    def __init__(self, operands: tuple[int, ...], target: int, calls: tuple[tuple[int, int], ...], steps: list[tuple]):
        self.operands, self.target, self.calls, self.steps = operands, target, calls, steps


def _plan(script: Script) -> _Plan | None:
    """`script` as a plan; None if it has other callbacks or is not one assignment."""
    refs: dict[int, int] = {}  # register of a ref step -> its token's register
    calls: list[tuple[int, int]] = []
    steps: list[tuple] = []
    target = -1
    n = script.size
    for index, (callback, args) in enumerate(script.steps):
        if callback not in _SUPPORTED or (callback == "ref" and len(args) != 1):
            return None  # (an indexed name: its indices are evaluated, the tree's way)
        if callback == "ref":
            refs[n + index] = args[0]
            steps.append((_REF, args[0]))
        elif callback == "number":
            steps.append((_NUMBER, args[0]))
        elif callback == "binary":
            steps.append((_BINARY, args[0] - n, args[1], args[2] - n))
        elif callback == "call":
            calls.append((args[0], len(args) - 3))  # name "(" args... ")"
            steps.append((_CALL, args[0], tuple(i - n for i in args[2:-1]), args[-1]))
        elif callback == "assign":
            if target >= 0 or args[0] not in refs:
                return None
            target = refs.pop(args[0])
            steps[args[0] - n] = (_SKIP,)  # the assigned name is not looked up
            steps.append((_ASSIGN, args[1] - n))
        else:
            steps.append((_SKIP,))
    if target < 0:
        return None
    return _Plan(tuple(refs.values()), target, tuple(calls), steps)


class Direct:
    """Runs scripts of plain assignments on the builder's tape (see the module's doc)."""

    def __init__(self, builder: Builder):
        self.builder = builder
        self.tape = builder.tape
        self.limits = builder.limits
        self.plans: dict[Script, _Plan | None] = {}
        self.binary = {**BINARY_SYMBOLS, "**": BINARY_SYMBOLS["^"]}  # the grammar's two spellings of ^

    def build(self, script: Script, texts: tuple, spans: tuple) -> bool:
        """Build the statement (its tokens' `texts` and `spans`), if it is one `Direct`
        takes (see the module's doc): nothing in it can fail."""
        plan = self.plans.get(script)
        if plan is None:
            if script in self.plans:
                return False
            plan = self.plans[script] = _plan(script)
            if plan is None:
                return False
        names = self.tape.names
        limits = self.limits
        if texts[plan.target] in names or self.builder.bare is not None or limits.steps >= limits.max_steps:
            return False  # a name defined before or used as an input; the errors the tree's path reports
        for i in plan.operands:
            if texts[i] not in names:  # its first use makes an input
                return False
        defs = self.builder.functions.defs
        for i, count in plan.calls:
            name = texts[i]
            op = FUNCTIONS.get(name)
            if op is None or name in defs or (count != op.arity if op.arity is not None else count == 0):
                return False
        self._run(plan, texts, spans)
        return True

    def _run(self, plan: _Plan, texts: tuple, spans: tuple) -> None:
        """The steps as `Lowering.expression` and `Statements.assign` run them at the top
        level: the same nodes in the same order, with the same sites. A step's value is
        (node, anchor, start, end)."""
        builder = self.builder
        tape, env = self.tape, builder.top
        names, push, binary = tape.names, tape.push, self.binary
        pos = spans[plan.target][0]
        self.limits.steps += 1  # `SizeLimits.spend(1)` of the statement, which cannot fail here
        first_new = len(tape.ops)
        values: list[Any] = []
        for step in plan.steps:
            what = step[0]
            if what == _REF:
                start, end = spans[step[1]]
                values.append((names[texts[step[1]]], start, start, end))
            elif what == _BINARY:
                left, right = values[step[1]], values[step[3]]
                anchor = spans[step[2]][0]
                node = push(binary[texts[step[2]]], left[0], right[0], Span(anchor, left[2], right[3]), env)
                values.append((node, anchor, left[2], right[3]))
            elif what == _CALL:
                start, end = spans[step[1]][0], spans[step[3]][1]
                op_name = FUNCTIONS[texts[step[1]]].name
                args = [values[i][0] for i in step[2]]
                site = Span(start, start, end)
                if len(args) == 1:
                    node = push(op_name, args[0], ONE, site, env)
                else:
                    node = tape.append(op_name, tuple(args), site, env)
                values.append((node, start, start, end))
            elif what == _NUMBER:
                start, end = spans[step[1]]
                values.append((tape.literal(float(texts[step[1]]), Span(start, start, end)), start, start, end))
            elif what == _ASSIGN:
                value = values[step[1]]
                node = value[0]
                if tape.ops[node] == CONST and tape.is_literal(node):  # `f = 3`: a constant of its own
                    node = tape.own_constant(node, first_new, Span(*value[1:]), env)
                # (GlobalNames.define records nothing of a new assigned name: naming it is all.)
                name = sys.intern(texts[plan.target])  # as the parser's callbacks do: one string per name
                tape.name(node, name, pos)
                builder.statements.last_assigned = (node, name)
                values.append(None)
            else:
                values.append(None)
