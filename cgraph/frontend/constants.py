"""Declared values: `param w = 0.5`, `input x = 2*k`, and the seeded random draws
`param w = uniform(a, b)` / `normal(mean, std)`, drawn from random.Random(seed) in
statement order, so one seed always gives the same params."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

from . import syntax as ast
from .located import error, text
from ..errors import BuildError, Source
from ..ops import BINARY_SYMBOLS, FUNCTIONS, OPS

if TYPE_CHECKING:
    from random import Random

    from .functions import Functions

DEFAULT_SEED = 0
RANDOM_INITS = ("uniform", "normal")


def misplaced_draw(source: Source, call: ast.Call) -> BuildError:
    """uniform() or normal() anywhere but in a param's value."""
    name = call.func
    return error(
        source, f"{name}() is only allowed in a param's value", call,
        f"it draws a param's initial value: param w = {name}({'-1, 1' if name == 'uniform' else '0, 0.5'})",
        len(name),
    )


class Constants:
    """Evaluates declared values, with the generator the random draws come from."""

    def __init__(self, source: Source, functions: Functions, seed: int = DEFAULT_SEED):
        self.source = source
        self.functions = functions  # to check calls of built-in functions
        self.seed = seed
        self._rng: Random | None = None

    @property
    def rng(self) -> Random:
        """The generator of the draws, made at the first one: most programs draw nothing,
        and importing `random` is a few percent of a small file's start-up."""
        if self._rng is None:
            from random import Random

            self._rng = Random(self.seed)
        return self._rng

    def value(self, e: ast.Expr, ints: Mapping[str, int], random_ok: bool = False) -> float:
        """The value of a constant expression: numbers, loop variables (`ints`), operators
        and built-in functions; with `random_ok` (a param's value), draws too."""
        stack: list[float] = []
        for sub in ast.walk(e):
            if isinstance(sub, ast.Call) and sub.func in RANDOM_INITS:
                stack.append(self.draw(sub, _pop(stack, len(sub.args)), random_ok))
            elif isinstance(sub, ast.Num):
                stack.append(sub.value)
            elif isinstance(sub, ast.Ref) and not sub.indices and sub.name in ints:
                stack.append(float(ints[sub.name]))
            elif isinstance(sub, ast.Unary):
                stack.append(-stack.pop() if sub.op == "-" else stack.pop())
            elif isinstance(sub, ast.Binary):
                b, a = stack.pop(), stack.pop()
                stack.append(OPS[BINARY_SYMBOLS[sub.op]].forward(a, b))
            elif isinstance(sub, ast.Call) and sub.func in FUNCTIONS:
                op = self.functions.builtin(sub)
                stack.append(op.forward(*_pop(stack, len(sub.args))))
            else:
                raise error(
                    self.source, f"'{text(self.source, sub)}' is not a constant", sub,
                    "a declared value is a constant expression: numbers, loop variables, operators and functions",
                )
        return stack[0]

    def draw(self, call: ast.Call, args: list[float], random_ok: bool) -> float:
        """A random initial value, uniform(a, b) or normal(mean, std), drawn from the
        seeded generator when the declaration runs (so in statement order)."""
        name = call.func
        if not random_ok:
            raise misplaced_draw(self.source, call)
        if len(args) != 2:
            spelled = "uniform(low, high)" if name == "uniform" else "normal(mean, std)"
            raise self._error(f"{name}() takes 2 arguments, got {len(args)}: {spelled}", call)
        a, b = args
        if not (math.isfinite(a) and math.isfinite(b)):
            raise self._error(f"{name}() needs finite arguments, got {a!r} and {b!r}", call)
        if name == "uniform":
            if a > b:
                raise self._error(f"uniform(low, high) needs low <= high, got {a!r} > {b!r}", call)
            return self.rng.uniform(a, b)
        if b < 0:
            raise self._error(f"normal(mean, std) needs std >= 0, got {b!r}", call)
        return self.rng.gauss(a, b)

    def _error(self, message: str, call: ast.Call) -> BuildError:
        return error(self.source, message, call, width=len(call.func))


def _pop(stack: list[float], n: int) -> list[float]:
    """The top `n` values of the stack, taken off it."""
    args = stack[len(stack) - n :]
    del stack[len(stack) - n :]
    return args
