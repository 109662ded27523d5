"""A hypothesis strategy for random well-formed cgraph programs, built from the language.

`programs()` draws the text of a program statement by statement, tracking what is in
scope, so every program parses and builds: expressions with every operator and function
of the op table (read from cgraph/ops.py, so a new op is drawn too),
names used many times (fan-out), `input` and `param` declarations with constant
defaults, `def` functions calling earlier ones, `for` loops (nested, with indexed names
such as `h[t-1]` and `w[i, j]`, loop-local names, params declared inside), `sum`/`mean`
comprehensions, `output`, a bare final expression, and the layouts the grammar allows
(`;`, comments, blank lines, Windows line endings, a `\\` continuation, newlines inside
parentheses, no final newline). The text is only ever handed to `cgraph.parse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from cgraph import ops

# The ops come from the op table as the program is drawn (not when this module is
# imported), so an op added to the table reaches every property test with no edit here.


def functions(arity: int | None) -> list[str]:
    """What a file may call with this many arguments (None: any number; 2: two or more)."""
    if arity == 2:
        return [name for name, op in ops.FUNCTIONS.items() if op.arity is not None and op.arity >= 2]
    return [name for name, op in ops.FUNCTIONS.items() if op.arity == arity]


def operators() -> list[str]:
    """The binary operators, and `**`, the grammar's other spelling of `^`."""
    return [op.symbol for op in ops.OPS.values() if op.notation == ops.INFIX] + ["**"]


def signs() -> list[str]:
    """Prefix operators (negation), and unary plus, which the grammar drops."""
    prefix = [op.symbol for op in ops.OPS.values() if op.notation == ops.PREFIX]
    return prefix + ["+"] + prefix


FREE = ["a", "b", "c", "d"]  # free names: inputs on first use
LITERALS = ["0", "1", "2", "3", "0.5", ".25", "1.0", "2.", "1e-3", "2.5E+1", "3e0", "10", "0.1"]


@dataclass
class Scope:
    values: list[str]  # expressions usable as values here: names, indexed names
    ints: list[str] = field(default_factory=list)  # loop variables in scope
    defs: dict[str, int] = field(default_factory=dict)  # callable user functions -> arity
    fresh: list[int] = field(default_factory=lambda: [0])  # counter for reduction variables
    reductions: bool = True  # not in a declared default, which is a constant expression


numbers = st.one_of(
    st.sampled_from(LITERALS),
    st.floats(0, 10, allow_nan=False, allow_infinity=False).map(lambda f: repr(round(f, 4))),
    st.integers(0, 50).map(str),
)


def _leaf(draw, scope: Scope) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5 and scope.values:
        # Mostly recent names, sometimes any: long edges and shared nodes.
        if draw(st.booleans()):
            return scope.values[-1 - draw(st.integers(0, min(3, len(scope.values) - 1)))]
        return draw(st.sampled_from(scope.values))
    if kind <= 6 and scope.ints:
        return draw(st.sampled_from(scope.ints))
    return draw(numbers)


def expression(draw, scope: Scope, depth: int) -> str:
    """The text of an expression, with at most `depth` levels of operations."""
    if depth <= 0 or draw(st.integers(0, 9)) < 3:
        return _leaf(draw, scope)
    kind = draw(st.integers(0, 11))
    sub = lambda: expression(draw, scope, depth - 1)  # noqa: E731
    if kind <= 3:
        op = draw(st.sampled_from(operators()))
        left, right = sub(), sub()
        if op in ("^", "**"):
            left = f"({left})"  # a power of a power is fine too, but keep magnitudes sane
        return f"{left} {op} {right}" if draw(st.booleans()) else f"({left}{op}{right})"
    if kind == 4:
        return f"{draw(st.sampled_from(signs()))}{_leaf(draw, scope) if draw(st.booleans()) else '(' + sub() + ')'}"
    if kind <= 6:
        return f"{draw(st.sampled_from(functions(1)))}({sub()})"
    if kind == 7:
        name = draw(st.sampled_from(functions(2)))
        return f"{name}({', '.join(sub() for _ in range(ops.OPS[name].arity))})"
    if kind == 8:
        args = [sub() for _ in range(draw(st.integers(1, 4)))]
        return f"{draw(st.sampled_from(functions(None)))}({', '.join(args)})"
    if kind == 9 and scope.defs:
        name = draw(st.sampled_from(sorted(scope.defs)))
        return f"{name}({', '.join(sub() for _ in range(scope.defs[name]))})"
    if kind == 10 and scope.reductions:
        # A comprehension: its variable indexes a free array and is a value in the body.
        scope.fresh[0] += 1
        var = f"i{scope.fresh[0]}"
        inner = Scope(scope.values + [f"q[{var}]", f"q[{var}+1]"], scope.ints + [var], scope.defs, scope.fresh)
        lo = draw(st.integers(0, 2))
        hi = lo + draw(st.integers(0, 3))
        func = draw(st.sampled_from(functions(None)))
        return f"{func}({expression(draw, inner, depth - 1)} for {var} in {lo}..{hi})"
    inner = sub()
    if draw(st.integers(0, 5)) == 0:
        return f"( # a note\n  {inner}\n)"  # a comment and newlines inside parentheses
    return f"({inner})"


def constant(draw, ints: list[str] = ()) -> str:
    """A declared default: numbers, loop variables, operators and built-in functions."""
    return expression(draw, Scope([], list(ints), reductions=False), 2)


@st.composite
def programs(draw, max_statements: int = 8) -> str:
    scope = Scope(list(FREE[: draw(st.integers(1, len(FREE)))]))
    lines: list[str] = []
    assigned: list[str] = []
    count = draw(st.integers(1, max_statements))
    for k in range(count):
        kind = draw(st.integers(0, 11))
        if kind <= 4 or (k == count - 1 and not assigned):
            name = f"v{k}"
            lines.append(f"{name} = {expression(draw, scope, 4)}")
            scope.values.append(name)
            assigned.append(name)
        elif kind == 5:
            name = f"k{k}"
            default = f" = {constant(draw)}" if draw(st.booleans()) else ""
            lines.append(f"input {name}{default}")
            scope.values.append(name)
        elif kind == 6:
            name = f"p{k}"
            lines.append(f"param {name} = {constant(draw)}")
            scope.values.append(name)
        elif kind == 7:
            arity = draw(st.integers(0, 3))
            params = [f"z{j}" for j in range(arity)]
            name = f"f{k}"
            body = expression(draw, Scope(params + scope.values[-3:], [], dict(scope.defs), scope.fresh), 3)
            lines.append(f"def {name}({', '.join(params)}) = {body}")
            scope.defs[name] = arity
        elif kind <= 9:
            lines.append(_loop(draw, scope, k, assigned))
        else:
            # Fan-out: one value used by several new nodes in one statement.
            shared = draw(st.sampled_from(scope.values))
            name = f"v{k}"
            lines.append(f"{name} = {shared} * {shared} + tanh({shared}) - {shared}")
            scope.values.append(name)
            assigned.append(name)
    ending = draw(st.integers(0, 5))
    if ending == 0 and assigned:
        lines.append(f"output {draw(st.sampled_from(assigned))}")
    elif ending == 1:
        lines.append(expression(draw, scope, 3))  # a bare expression: the output, called out
    return _layout(draw, lines)


def _loop(draw, scope: Scope, k: int, assigned: list[str]) -> str:
    """`for t in lo..hi { ... }`: a recurrence over h[t], maybe a local, maybe a nested loop."""
    h, t = f"h{k}", f"t{k}"
    lo = draw(st.integers(0, 2))
    hi = lo + draw(st.integers(-1, 3))  # hi < lo: an empty loop
    body_scope = Scope(scope.values + [f"{h}[{t}-1]", f"x{k}[{t}]"], scope.ints + [t], scope.defs, scope.fresh)
    body = []
    if draw(st.booleans()):
        body.append(f"param w{k}[{t}] = {constant(draw, [t])}")
        body_scope.values.append(f"w{k}[{t}]")
    if draw(st.booleans()):
        body.append(f"z = {expression(draw, body_scope, 3)}")  # local to the iteration
        body_scope.values.append("z")
    if draw(st.integers(0, 3)) == 0:
        j = f"j{k}"
        inner = Scope(body_scope.values + [f"m{k}[{t}, {j}-1]", f"u{k}[{t}][{j}]"], body_scope.ints + [j],
                      scope.defs, scope.fresh)
        body.append(f"for {j} in 1..2 {{ m{k}[{t}, {j}] = {expression(draw, inner, 2)} }}")
        body_scope.values.append(f"m{k}[{t},2]")
    body.append(f"{h}[{t}] = {expression(draw, body_scope, 3)}")
    separator = draw(st.sampled_from(["\n    ", "; ", "\n\n    "]))
    scope.values.append(f"{h}[{hi}]")  # defined by the loop, or an input if it is empty
    if hi >= lo:
        assigned.append(f"{h}[{hi}]")
    return f"for {t} in {lo}..{hi} {{\n    " + separator.join(body) + "\n}"


def _layout(draw, lines: list[str]) -> str:
    parts = []
    for line in lines:
        if draw(st.integers(0, 7)) == 0 and " + " in line and "\n" not in line:
            line = line.replace(" + ", " + \\\n    ", 1)  # a line continuation
        parts.append(line)
        parts.append(draw(st.sampled_from(["\n", "\n", "\n", ";", "  # a comment\n", "\n\n"])))
    text = "".join(parts)
    if draw(st.integers(0, 5)) == 0:
        text = text.replace("\n", "\r\n")
    if draw(st.integers(0, 3)) == 0:
        text = text.rstrip("\r\n;")  # no final newline
    return text


@st.composite
def values(draw, names) -> dict[str, float]:
    """A value for each input: moderate finite numbers."""
    return {name: draw(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)) for name in names}


# Anything at all, and soup made of the language's own tokens: mostly invalid programs.
TOKENS = ["x", "y", "t", "=", "+", "-", "*", "/", "^", "**", "(", ")", "[", "]", ",", ";", "\n", "..", "{", "}",
          "for", "in", "def", "input", "param", "output", "sum", "mean", "tanh", "max", "1", "2.5", "1e400", "#",
          "\\\n", " ", "é", "\x00", "\r\n"]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)
