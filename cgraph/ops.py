"""The op table: every operation's forward function and local derivatives, side by side.

Each `Op` has
  forward(*args) -> value                      for Python floats (IEEE results, never raises)
  local(out, *args) -> (d out/d arg, ...)       one entry per argument; may use the output
and the same pair for NumPy arrays (`np_forward`, `np_local`) where the float versions
do not already work on arrays. Everything else the program knows about an op is on its
entry too: how diagrams show it (`symbol`), how a file and an explanation write it
(`notation`), the local derivatives as text for explanations (`formulas`), the values
they read (`saves`), where its derivative jumps (`kink`), its forward and local
derivatives in JavaScript for the interactive page (`js`), and how exported code writes
it in Python, NumPy, PyTorch and JAX (`code`, with the helper functions of CODE_HELPERS). No other module names an op:
the parser, evaluator, batch, diagrams, explanations, the gradient check, `cgraph export`
and the property tests all read this table.
(The NumPy versions use np.divide, not `/`: an argument may be a plain float, a constant
shared by every row, and 1.0/0.0 raises where NumPy gives inf.)
Each op also has a graph `rule(w, out, *args) -> (node id, ...)`: the same local
derivatives written as new nodes of the graph (through a `NodeWriter`, which speaks node
ids, not values), so a derivative can itself be a graph, evaluated, drawn and
differentiated again. A rule mirrors its float `local` exactly, inf and nan included; the
kinks are written with the ops `step`, `sign`, `above`, `eq`, `zero_if` and `one_if`, which are in the table
like any other op (piecewise constant: their derivatives are 0).
Adding an op is one entry here (or one `register` call) plus its tests (tests/test_ops.py
checks every entry against central finite differences; tests/test_op_table.py shows that
every consumer picks a new entry up).

Why one module: an op's forward, its float derivatives and its graph rule must agree
bit for bit, so they are written a few lines apart, not in a module per pass.

Conventions at kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0, and max/min split the
gradient 0.5/0.5 between equal arguments (as torch.maximum does).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

inf = math.inf
nan = math.nan


class _LazyNumpy:
    """NumPy is imported on first use, so scalar evaluation never pays for it."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)


np = _LazyNumpy()

# --- the leaves: nodes with no arguments, whose value comes from outside the op table -----

INPUT = "input"  # `input x`, or a name used before it is assigned: given by the caller
PARAM = "param"  # `param w = 0.1`: given by the caller too, and what training moves
CONST = "const"  # a number in the file, or a named constant (`f = 3`)
LEAF_KINDS: frozenset[str] = frozenset({INPUT, PARAM, CONST})
INPUT_KINDS: frozenset[str] = frozenset({INPUT, PARAM})  # what Graph.inputs maps: the caller's

# --- what a graph rule writes with --------------------------------------------------------


class NodeWriter(Protocol):
    """Appends nodes to a graph being written and answers their ids (cgraph.ir.tape's
    RuleWriter is one). The op table cannot import the IR, so it names only this."""

    def const(self, value: float) -> int:
        """A constant node of this value."""
        ...

    def op(self, name: str, *args: int) -> int:
        """A node of op `name` (a table entry) applied to the nodes `args`."""
        ...


# rule(w: NodeWriter, out: int, *args: int) -> one id per argument, or None for an argument
# the op's value does not move with at all (a piecewise-constant op's, a select's condition):
# a tangent pass gives it nothing rather than 0 * its tangent, which is nan for an inf one.
Rule = Callable[..., tuple["int | None", ...]]

# simplify(args, values, ops, args_of) -> None, or a node id equal to op(args), or
# (op name, *args) to write instead: an identity exact in IEEE arithmetic (x*1 -> x), never
# one that changes an inf or a nan (x*0 -> 0 does). `values` has each argument's value if it
# is a constant, else None; `ops` (every node's op) and args_of read the graph being written.
Simplify = Callable[[tuple[int, ...], list, Sequence[str], Callable[[int], tuple[int, ...]]],
                    "int | tuple | None"]

# The words of a formula that stand for an operand (group "arg"); "on a tie" is matched
# as a whole so that its article is not taken for the operand a.
FORMULA_TERMS = r"on a tie|\b(?P<arg>a|b|out|n)\b"

# --- how an op is written: `a + b` (infix), `-a` (prefix) or `f(a, ...)` (call) ------------

INFIX, PREFIX, CALL = "infix", "prefix", "call"


class Op:
    """One operation. (A plain class: `dataclasses` would cost the command line ~10 ms
    of start-up for importing `inspect`.)"""

    __slots__ = ("name", "symbol", "arity", "forward", "local", "formulas", "np_forward", "np_local", "saves",
                 "notation", "function", "tight", "kink", "rule", "simplify", "select", "latex", "commutative", "js",
                 "code")

    def __init__(
        self,
        name: str,
        symbol: str,  # how diagrams show it, and the operator an infix or prefix op is written with
        arity: int | None,  # None: variadic, one or more arguments
        forward: Callable[..., float],
        local: Callable[..., tuple],
        # The local derivative per argument as explanations write it, in a, b, n (the count)
        # and out (the result); those words are replaced by the operands' names (see
        # FORMULA_TERMS), so a formula has no other words than if, else, the phrase
        # "on a tie" and function names.
        formulas: tuple[str, ...],
        np_forward: Callable[..., Any] | None = None,  # None: `forward` works on arrays as is
        np_local: Callable[..., tuple] | None = None,
        # What `local` and `np_local` read: "out", "args" (the arguments' values), both, or
        # neither (add's derivatives are constants). A pass over many rows keeps only
        # those values for the backward pass and frees the others as soon as the forward
        # pass is past them (tests/test_op_table.py calls every local derivative with the
        # rest left out).
        saves: tuple[str, ...] = ("out", "args"),
        notation: str = CALL,  # INFIX, PREFIX or CALL
        function: bool | None = None,  # a file may call it by name; None: if its notation is CALL
        tight: tuple[int, ...] = (),  # arguments a negative number must be parenthesized in: (-2)^2
        kink: Callable[..., float] | None = None,  # see `Op.kink`
        rule: Rule | None = None,  # `local` written as graph nodes (see the module's docstring)
        simplify: Simplify | None = None,  # identities exact in IEEE arithmetic (see `Simplify`)
        select: bool = False,  # op(c, x): x or a constant as c says (see `select_tangent`)
        latex: str | None = None,  # see `Op.latex`
        # Whether the arguments may be swapped without changing the result. An op that is
        # not (a - b, a / b, a ^ b) has its operands marked a, b, ... in diagrams, which
        # draw them in order: without the marks, y - t and t - y look the same.
        commutative: bool = False,
        js: tuple[str, str] | None = None,  # see `Op.js`
        code: dict[str, str] | None = None,  # see `Op.code`
    ):
        self.name, self.symbol, self.arity = name, symbol, arity
        self.forward, self.local, self.formulas = forward, local, formulas
        self.np_forward, self.np_local = np_forward, np_local
        self.saves = saves
        self.notation, self.tight = notation, tight
        self.function = notation == CALL if function is None else function
        # kink(*args) -> a signed offset of the arguments from the point where the
        # derivative jumps: its sign says which branch the op is on (0: on the kink), its
        # size how far the arguments are from it. None: the derivative never jumps.
        self.kink = kink
        self.rule = rule
        self.simplify = simplify
        self.select = select
        # How LaTeX math writes it: an operator's TeX (r"\cdot"), or a template in which #
        # stands for what the op applies to: r"\tanh(#)" for a function's
        # arguments, r"^{#}" for an operator's right operand (an exponent). None: the
        # symbol, or \operatorname{name}(...) for a function.
        self.latex = latex
        self.commutative = commutative
        # The forward function and the local derivatives in JavaScript, for the interactive
        # page (`render --format html`), which evaluates the tape in the browser: two arrow
        # functions' source, `(a, b) => value` and `(o, a, b) => [d/da, d/db]` (a variadic
        # op's take `...xs`), giving the same IEEE results as `forward` and `local`. They
        # may call the helpers of JS_HELPERS. None: the page cannot compute this op.
        self.js = js
        # How `cgraph export` writes it in each target language (see CODE_TARGETS): an
        # operator of that language (+ - * /: infix for two arguments, prefix for one), or a
        # call in which # stands for the arguments, comma-separated ("np.exp(#)"). A call
        # may name a helper of CODE_HELPERS[target], which the exported module then defines.
        self.code = code or {}

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    @property
    def vector_forward(self) -> Callable[..., Any]:
        return self.np_forward or self.forward

    @property
    def vector_local(self) -> Callable[..., tuple]:
        return self.np_local or self.local


# --- IEEE-754 versions of what Python's float arithmetic and `math` raise on ----------


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:  # x/0 is +-inf, 0/0 and nan/0 are nan
        if a == 0 or a != a:
            return nan
        return math.copysign(inf, a) * math.copysign(1.0, b)


def _is_odd_integer(b: float) -> bool:
    return math.isfinite(b) and b == int(b) and int(b) % 2 == 1


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except OverflowError:
        return -inf if a < 0 and _is_odd_integer(b) else inf
    except ValueError:  # 0 to a negative power, or a negative base to a fractional one
        if a == 0:
            return math.copysign(inf, a) if _is_odd_integer(b) else inf
        return nan


def _pow_local(out: float, a: float, b: float) -> tuple[float, float]:
    # As PyTorch: d/da is 0 where b == 0 (where b*a^(b-1) would be 0*inf or 0*nan: a^-1 is
    # not finite, for a 0, a nan, and a subnormal a, whose reciprocal overflows; elsewhere
    # it is 0 anyway), d/db is 0 where a == 0 and b >= 0.
    power = _pow(a, b - 1.0)
    da = 0.0 if b == 0 and not math.isfinite(power) else b * power
    if a == 0 and b >= 0:
        db = 0.0
    else:
        db = out * _log(a)
    return da, db


def _pow_rule(w: NodeWriter, o: int, a: int, b: int) -> tuple[int, int]:
    """_pow_local as nodes, with selects (0*inf would be nan). Each select covers only the
    points its convention is about, so elsewhere these nodes' own derivatives are the true
    ones: d/da is b*a^(b-1), but 0 where b == 0 and a^-1 is not finite (a is 0, nan or
    subnormal, where 0*a^-1 is nan; a select on b == 0 alone would hide d/db of b*a^(b-1),
    which is 1/a at b = 0); d/db is out*log(a), but 0 where a == 0 and b >= 0. And a select's other branch is computed where it is not taken, so
    its arguments are moved there to where it is finite (a base of 1): otherwise a higher
    derivative would multiply the select's 0 by an inf from that branch, and give nan.
    A constant b or a folds the conditions away (x^2's derivative is 2*x)."""
    zero, one = w.const(0.0), w.const(1.0)
    a_bad = w.op("sub", one, w.op("eq", w.op("mul", zero, w.op("div", one, a)), zero))  # 1 where 1/a is inf or nan
    bad = w.op("zero_if", w.op("sub", one, w.op("eq", b, zero)), a_bad)  # and b == 0
    da = w.op("zero_if", bad, w.op("mul", b, w.op("pow", w.op("one_if", bad, a), w.op("sub", b, one))))
    b_at_least_0 = w.op("add", w.op("step", b), w.op("eq", b, zero))  # 0 or 1, and 0 for nan
    on_zero = w.op("zero_if", w.op("sub", one, w.op("eq", a, zero)), b_at_least_0)
    db = w.op("zero_if", on_zero, w.op("mul", o, w.op("log", w.op("one_if", on_zero, a))))
    return da, db


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return inf


def _log(a: float) -> float:
    if a > 0:
        return math.log(a)
    return -inf if a == 0 else nan


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0 else nan


def _periodic(fn: Callable[[float], float]) -> Callable[[float], float]:
    def safe(a: float) -> float:
        try:
            return fn(a)
        except ValueError:  # sin(inf)
            return nan

    return safe


_sin, _cos, _tan = _periodic(math.sin), _periodic(math.cos), _periodic(math.tan)


def _sigmoid(a: float) -> float:
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    if a < 0:
        e = _exp(a)
        return e / (1.0 + e)
    return nan


def _relu(a: float) -> float:
    return 0.0 if a <= 0 else a  # nan stays nan


def _sign(a: float) -> float:
    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0 if a == 0 else nan


def _max(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    return a if a >= b else b


def _min(a: float, b: float) -> float:
    if a != a or b != b:
        return nan
    return a if a <= b else b


def _pick(a: float, b: float) -> tuple[float, float]:
    """d max(a, b): 1 to the larger argument, 0.5 each on a tie."""
    if a > b:
        return 1.0, 0.0
    if a < b:
        return 0.0, 1.0
    return (0.5, 0.5) if a == b else (0.0, 0.0)


def _pick_rule(w: NodeWriter, a: int, b: int) -> tuple[int, int]:
    """_pick as nodes: the op `above` is _pick's first half, so one node per argument."""
    return w.op("above", a, b), w.op("above", b, a)


def _above(a: float, b: float) -> float:
    """1 if a > b, 0.5 on a tie, else 0 (and 0 for nan): d max(a, b)/da."""
    return 1.0 if a > b else 0.5 if a == b else 0.0


def _np_pick(a, b):
    da = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))
    db = np.where(b > a, 1.0, np.where(a == b, 0.5, 0.0))
    return da, db


def _np_max(a, b):
    """np.maximum with the scalar version's tie: on a tie NumPy returns its second argument,
    so max(-0.0, 0.0) would be 0.0 there, where the scalar max (and torch.maximum) give
    the first, -0.0 (and 1/max(x, 0) at x = -0.0 would be inf in a batch, -inf alone)."""
    return np.maximum(b, a)


def _np_min(a, b):
    """np.minimum, with the first argument on a tie (see _np_max)."""
    return np.minimum(b, a)


def _np_pow(a, b):
    """np.power, except that NumPy takes x**0.5 and x**-0.5 as square roots, so (-inf)**0.5
    is nan there where IEEE/C pow (and the scalar version) give inf (and 0 for -0.5)."""
    out = np.power(a, b)
    odd = (np.equal(a, -np.inf)) & (np.equal(b, 0.5) | np.equal(b, -0.5))
    if np.any(odd):
        out = np.where(odd, np.where(np.greater(b, 0), np.inf, 0.0), out)
    return out


def _np_pow_local(out, a, b):
    power = _np_pow(a, b - 1.0)
    da = np.where(np.equal(b, 0) & ~np.isfinite(power), 0.0, b * power)
    db = np.where((a == 0) & (b >= 0), 0.0, out * np.log(a))
    return da, db


def _np_sigmoid(a):
    """The scalar formulas, 1/(1 + e) for a >= 0 and e/(1 + e) below, with e = exp(-|a|)
    (never overflows); ~5x faster than exp(-logaddexp(0, -a))."""
    e = np.abs(a, out=np.empty(np.shape(a)))  # an array even for a 0-d input, so out= below works
    np.negative(e, out=e)
    np.exp(e, out=e)
    # The numerator, 1 where a >= 0 and e below, as max(e, a >= 0): e <= 1, and max keeps
    # a nan. The same bits as np.where(a >= 0, 1.0, e), which branches on each row's sign:
    # the sigmoid measured 3.1 against 3.9 ns per row on random signs (16k rows).
    result = np.maximum(e, np.greater_equal(a, 0), out=np.empty(np.shape(a)))
    e += 1.0
    result /= e
    return result


def _ones(out: float, *args: float) -> tuple[float, ...]:
    return (1.0,) * len(args)


def _ones_rule(w: NodeWriter, o: int, *args: int) -> tuple[int, ...]:
    return (w.const(1.0),) * len(args)


def _zeros(out: float, *args: float) -> tuple[float, ...]:
    """The local derivatives of a piecewise constant op (where it jumps: see its kink)."""
    return (0.0,) * len(args)


def _zeros_rule(w: NodeWriter, o: int, *args: int) -> tuple[int | None, ...]:
    return (None,) * len(args)  # piecewise constant: no argument moves it


def _sum(*args):
    """Left to right, so a batch (NumPy) sum of each row gives the same bits as a scalar one."""
    total = args[0]
    for a in args[1:]:
        total = total + a
    return total


def _np_sum(*args):
    """_sum with NumPy's additions: the same bits, and leading row-shared arguments (plain
    floats) are added by NumPy too, which reports an overflow to inf (Python's float
    addition overflows silently, and the batch engine learns of inf and nan from the flags)."""
    total = args[0]
    for a in args[1:]:
        total = np.add(total, a)
    return total


def _on_zero(a: float) -> float:
    """The kink of relu and abs: the argument's sign."""
    return a


def _on_tie(a: float, b: float) -> float:
    """The kink of max and min: which argument is larger. (a - b is 0 only when a == b:
    IEEE subtraction does not underflow to 0.)"""
    return a - b


def _unit_right(args, values, ops, args_of):
    """x op 1 -> x (x*1, x/1, x^1)."""
    return args[0] if values[1] == 1.0 else None


def _is_negative_zero(value: float | None) -> bool:
    return value == 0.0 and math.copysign(1.0, value) < 0  # (None == 0.0 is False)


def _negated(a, ops, args_of):
    """x if node a is -x, else None."""
    return args_of(a)[0] if ops[a] == "neg" else None


def _mul_identities(args, values, ops, args_of):
    """x*1, 1*x -> x; x*(-1), (-1)*x -> -x; (-x)*y, x*(-y) -> -(x*y); (-x)*(-y) -> x*y;
    c*(-x) -> (-c)*x. Exact: IEEE rounding is symmetric, so negation commutes with products."""
    a, b = args
    for k in (0, 1):
        if values[k] == 1.0:
            return args[1 - k]
        if values[k] == -1.0:
            return ("neg", args[1 - k])
    na, nb = _negated(a, ops, args_of), _negated(b, ops, args_of)
    if na is not None and nb is not None:
        return ("mul", na, nb)
    if na is not None or nb is not None:
        return ("neg", ("mul", a if na is None else na, b if nb is None else nb))
    return None


def _add_identities(args, values, ops, args_of):
    """x + (-0), (-0) + x -> x; x + x -> 2*x; x + (-y) -> x - y; (-x) + y -> y - x. Each
    exact in IEEE arithmetic, to the sign of a zero: x + 0 stays, as -0 + 0 is +0 (and
    1/(-0 + 0) is inf where 1/-0 is -inf), and so does (-x) + (-y), +0 where -(x + y) is -0."""
    a, b = args
    if _is_negative_zero(values[1]):
        return a
    if _is_negative_zero(values[0]):
        return b
    if a == b:
        return ("mul", ("const", 2.0), a)
    na, nb = _negated(a, ops, args_of), _negated(b, ops, args_of)
    if nb is not None and na is None:
        return ("sub", a, nb)
    if na is not None and nb is None:
        return ("sub", b, na)
    return None


def _sub_identities(args, values, ops, args_of):
    """x - 0 -> x; x - (-y) -> x + y (IEEE defines x - y as x + (-y)). Not x - (-0), which
    is +0 where x is -0, nor 0 - x, +0 where -x is -0."""
    a, b = args
    if values[1] == 0.0 and not _is_negative_zero(values[1]):
        return a
    nb = _negated(b, ops, args_of)
    return ("add", a, nb) if nb is not None else None


def _select_identities(args, values, ops, args_of):
    """zero_if(c, x) with a constant condition: 0 or x, whatever x is (a select)."""
    if values[0] is None:
        return None
    return ("const", 0.0) if values[0] > 0 else args[1]


def _one_if_identities(args, values, ops, args_of):
    """one_if(c, x) with a constant condition: 1 or x."""
    if values[0] is None:
        return None
    return ("const", 1.0) if values[0] > 0 else args[1]


def _neg_identities(args, values, ops, args_of):
    """--x -> x."""
    return args_of(args[0])[0] if ops[args[0]] == "neg" else None


# --- how `cgraph export` writes the ops (Op.code): the languages, and their helpers ---------

CODE_TARGETS = ("python", "numpy", "torch", "jax")


def _code(python: str, numpy: str, torch: str, jax: str) -> dict[str, str]:
    return dict(zip(CODE_TARGETS, (python, numpy, torch, jax)))


def _same(template: str) -> dict[str, str]:
    """A helper of the same name in every target (each target's CODE_HELPERS defines it)."""
    return _code(template, template, template, template)


# Each target's helper functions, written into an exported module that calls them: the
# same results as the forward functions above (IEEE: inf and nan, never an exception; the
# same conventions at kinks), in that target's own arithmetic. Source text, never run by
# cgraph; each defines the function its key names.
# Left to right, as _sum above: the same source for every target (terms may be arrays).
_SUM_AND_MEAN = {
    "_sum": """\
def _sum(*args):
    total = args[0]
    for a in args[1:]:
        total = total + a
    return total""",
    "_mean": """\
def _mean(*args):
    return _sum(*args) / len(args)""",
}
CODE_HELPERS: dict[str, dict[str, str]] = {
    "python": {
        "_div": """\
def _div(a, b):
    try:
        return a / b
    except ZeroDivisionError:  # x/0 is +-inf, 0/0 and nan/0 are nan
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)""",
        "_is_odd_integer": """\
def _is_odd_integer(b):
    return math.isfinite(b) and b == int(b) and int(b) % 2 == 1""",
        "_pow": """\
def _pow(a, b):
    try:
        return math.pow(a, b)
    except OverflowError:
        return -math.inf if a < 0 and _is_odd_integer(b) else math.inf
    except ValueError:  # 0 to a negative power, or a negative base to a fractional one
        if a == 0:
            return math.copysign(math.inf, a) if _is_odd_integer(b) else math.inf
        return math.nan""",
        "_exp": """\
def _exp(a):
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf""",
        "_log": """\
def _log(a):
    if a > 0:
        return math.log(a)
    return -math.inf if a == 0 else math.nan""",
        "_sqrt": """\
def _sqrt(a):
    return math.sqrt(a) if a >= 0 else math.nan""",
        "_sin": """\
def _sin(a):
    return math.sin(a) if math.isfinite(a) else math.nan""",
        "_cos": """\
def _cos(a):
    return math.cos(a) if math.isfinite(a) else math.nan""",
        "_tan": """\
def _tan(a):
    return math.tan(a) if math.isfinite(a) else math.nan""",
        "_sigmoid": """\
def _sigmoid(a):
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    if a < 0:
        e = _exp(a)
        return e / (1.0 + e)
    return math.nan""",
        "_relu": """\
def _relu(a):
    return 0.0 if a <= 0 else a  # nan stays nan""",
        "_max": """\
def _max(a, b):
    if a != a or b != b:
        return math.nan
    return a if a >= b else b""",
        "_min": """\
def _min(a, b):
    if a != a or b != b:
        return math.nan
    return a if a <= b else b""",
        **_SUM_AND_MEAN,
        "_step": """\
def _step(a):
    return 1.0 if a > 0 else 0.0""",
        "_sign": """\
def _sign(a):
    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0 if a == 0 else math.nan""",
        "_above": """\
def _above(a, b):
    return 1.0 if a > b else 0.5 if a == b else 0.0""",
        "_eq": """\
def _eq(a, b):
    return 1.0 if a == b else 0.0""",
        "_zero_if": """\
def _zero_if(c, x):
    return 0.0 if c > 0 else x""",
        "_one_if": """\
def _one_if(c, x):
    return 1.0 if c > 0 else x""",
    },
    "numpy": {
        "_pow": """\
def _pow(a, b):
    # NumPy takes x**0.5 and x**-0.5 as square roots: (-inf)**0.5 would be nan, not inf.
    out = np.power(a, b)
    odd = np.equal(a, -np.inf) & (np.equal(b, 0.5) | np.equal(b, -0.5))
    return np.where(odd, np.where(np.greater(b, 0), np.inf, 0.0), out)""",
        "_sigmoid": """\
def _sigmoid(a):
    e = np.exp(-np.abs(a))  # never overflows
    return np.where(a >= 0, 1.0, e) / (e + 1.0)""",
        "_relu": """\
def _relu(a):
    return np.where(a > 0, a, np.where(a <= 0, 0.0, a))""",
        # NumPy returns the second argument on a tie (max(-0.0, 0.0)), cgraph the first.
        "_max": """\
def _max(a, b):
    return np.maximum(b, a)""",
        "_min": """\
def _min(a, b):
    return np.minimum(b, a)""",
        **_SUM_AND_MEAN,
        "_step": """\
def _step(a):
    return np.where(np.greater(a, 0), 1.0, 0.0)""",
        "_sign": """\
def _sign(a):
    return np.sign(a) + 0.0""",
        "_above": """\
def _above(a, b):
    return np.where(np.greater(a, b), 1.0, np.where(np.equal(a, b), 0.5, 0.0))""",
        "_eq": """\
def _eq(a, b):
    return np.where(np.equal(a, b), 1.0, 0.0)""",
        "_zero_if": """\
def _zero_if(c, x):
    return np.where(np.greater(c, 0), 0.0, x)""",
        "_one_if": """\
def _one_if(c, x):
    return np.where(np.greater(c, 0), 1.0, x)""",
    },
    "torch": {
        **_SUM_AND_MEAN,
        "_step": """\
def _step(a):
    return torch.where(a > 0, 1.0, 0.0).to(DTYPE)""",
        "_sign": """\
def _sign(a):
    return torch.sign(a) + 0.0""",
        "_above": """\
def _above(a, b):
    return torch.where(a > b, 1.0, torch.where(a == b, 0.5, 0.0)).to(DTYPE)""",
        "_eq": """\
def _eq(a, b):
    return torch.where(a == b, 1.0, 0.0).to(DTYPE)""",
        "_zero_if": """\
def _zero_if(c, x):
    return torch.where(c > 0, 0.0, x)""",
        "_one_if": """\
def _one_if(c, x):
    return torch.where(c > 0, 1.0, x)""",
    },
    "jax": {
        "_abs": """\
def _abs(a):
    return jnp.sign(a) * a  # jnp.abs has the derivative 1 at 0; cgraph (and torch) 0""",
        **_SUM_AND_MEAN,
        "_step": """\
def _step(a):
    return jnp.where(a > 0, 1.0, 0.0)""",
        "_sign": """\
def _sign(a):
    return jnp.sign(a) + 0.0""",
        "_above": """\
def _above(a, b):
    return jnp.where(a > b, 1.0, jnp.where(a == b, 0.5, 0.0))""",
        "_eq": """\
def _eq(a, b):
    return jnp.where(a == b, 1.0, 0.0)""",
        "_zero_if": """\
def _zero_if(c, x):
    return jnp.where(c > 0, 0.0, x)""",
        "_one_if": """\
def _one_if(c, x):
    return jnp.where(c > 0, 1.0, x)""",
    },
}


_OPS = [
    #  name       symbol  arity  forward                         local(out, args...) -> d/d each arg                         formulas
    #  and under it rule(w, out, args...): the same derivatives as nodes of the graph
    Op("add",     "+",    2, lambda a, b: a + b,              lambda o, a, b: (1.0, 1.0),                             ("1", "1"), notation=INFIX,
       saves=(),
       js=("(a, b) => a + b", "(o, a, b) => [1, 1]"),
       rule=_ones_rule,                                       simplify=_add_identities, commutative=True,
       code=_code("+", "+", "+", "+")),
    Op("sub",     "-",    2, lambda a, b: a - b,              lambda o, a, b: (1.0, -1.0),                            ("1", "-1"), notation=INFIX,
       saves=(),
       js=("(a, b) => a - b", "(o, a, b) => [1, -1]"),
       rule=lambda w, o, a, b: (w.const(1.0), w.const(-1.0)),                                      simplify=_sub_identities,
       code=_code("-", "-", "-", "-")),
    Op("mul",     "*",    2, lambda a, b: a * b,              lambda o, a, b: (b, a),                                 ("b", "a"), notation=INFIX,
       saves=("args",),
       js=("(a, b) => a * b", "(o, a, b) => [b, a]"),
       rule=lambda w, o, a, b: (b, a),                        simplify=_mul_identities,
       latex=r"\cdot", commutative=True,
       code=_code("*", "*", "*", "*")),
    Op("div",     "/",    2, _div,                            lambda o, a, b: (_div(1.0, b), _div(-o, b)),            ("1/b", "-a/b^2"), notation=INFIX,
       js=("(a, b) => a / b", "(o, a, b) => [1 / b, -o / b]"),
       np_forward=lambda a, b: np.divide(a, b),               np_local=lambda o, a, b: (np.divide(1.0, b), np.divide(-o, b)),
       rule=lambda w, o, a, b: (w.op("div", w.const(1.0), b), w.op("div", w.op("neg", o), b)), simplify=_unit_right,
       code=_code("_div(#)", "np.divide(#)", "torch.div(#)", "jnp.divide(#)")),
    Op("pow",     "^",    2, _pow,                            _pow_local,                                             ("b*a^(b-1)", "out*log(a)"), notation=INFIX, function=True, tight=(0,),
       js=("(a, b) => powIEEE(a, b)", "(o, a, b) => { const p = powIEEE(a, b - 1); return [b === 0 && !Number.isFinite(p) ? 0 : b * p, a === 0 && b >= 0 ? 0 : o * Math.log(a)]; }"),
       np_forward=_np_pow,                                    np_local=_np_pow_local,
       rule=_pow_rule,                                        simplify=_unit_right,
       latex=r"^{#}",
       code=_code("_pow(#)", "_pow(#)", "torch.pow(#)", "jnp.power(#)")),
    Op("neg",     "-",    1, lambda a: -a,                    lambda o, a: (-1.0,),                                   ("-1",), notation=PREFIX, tight=(0,),
       saves=(),
       js=("(a) => -a", "(o, a) => [-1]"),
       rule=lambda w, o, a: (w.const(-1.0),),                 simplify=_neg_identities,
       code=_code("-", "-", "-", "-")),
    Op("exp",     "exp",  1, _exp,                            lambda o, a: (o,),                                      ("out",),
       saves=("out",),
       js=("(a) => Math.exp(a)", "(o, a) => [o]"),
       np_forward=lambda a: np.exp(a),
       rule=lambda w, o, a: (o,),
       latex=r"\exp(#)",
       code=_code("_exp(#)", "np.exp(#)", "torch.exp(#)", "jnp.exp(#)")),
    Op("log",     "log",  1, _log,                            lambda o, a: (_div(1.0, a),),                           ("1/a",),
       saves=("args",),
       js=("(a) => Math.log(a)", "(o, a) => [1 / a]"),
       np_forward=lambda a: np.log(a),                        np_local=lambda o, a: (np.divide(1.0, a),),
       rule=lambda w, o, a: (w.op("div", w.const(1.0), a),),
       latex=r"\log(#)",
       code=_code("_log(#)", "np.log(#)", "torch.log(#)", "jnp.log(#)")),
    Op("sqrt",    "sqrt", 1, _sqrt,                           lambda o, a: (_div(0.5, o),),                           ("1/(2*out)",),
       saves=("out",),
       js=("(a) => Math.sqrt(a)", "(o, a) => [0.5 / o]"),
       np_forward=lambda a: np.sqrt(a),                       np_local=lambda o, a: (np.divide(0.5, o),),
       rule=lambda w, o, a: (w.op("div", w.const(0.5), o),),
       latex=r"\sqrt{#}",
       code=_code("_sqrt(#)", "np.sqrt(#)", "torch.sqrt(#)", "jnp.sqrt(#)")),
    Op("sin",     "sin",  1, _sin,                            lambda o, a: (_cos(a),),                                ("cos(a)",),
       saves=("args",),
       js=("(a) => Math.sin(a)", "(o, a) => [Math.cos(a)]"),
       np_forward=lambda a: np.sin(a),                        np_local=lambda o, a: (np.cos(a),),
       rule=lambda w, o, a: (w.op("cos", a),),
       latex=r"\sin(#)",
       code=_code("_sin(#)", "np.sin(#)", "torch.sin(#)", "jnp.sin(#)")),
    Op("cos",     "cos",  1, _cos,                            lambda o, a: (-_sin(a),),                               ("-sin(a)",),
       saves=("args",),
       js=("(a) => Math.cos(a)", "(o, a) => [-Math.sin(a)]"),
       np_forward=lambda a: np.cos(a),                        np_local=lambda o, a: (-np.sin(a),),
       rule=lambda w, o, a: (w.op("neg", w.op("sin", a)),),
       latex=r"\cos(#)",
       code=_code("_cos(#)", "np.cos(#)", "torch.cos(#)", "jnp.cos(#)")),
    Op("tan",     "tan",  1, _tan,                            lambda o, a: (1.0 + o * o,),                            ("1 + out^2",),
       saves=("out",),
       js=("(a) => Math.tan(a)", "(o, a) => [1 + o * o]"),
       np_forward=lambda a: np.tan(a),
       rule=lambda w, o, a: (w.op("add", w.const(1.0), w.op("mul", o, o)),),
       latex=r"\tan(#)",
       code=_code("_tan(#)", "np.tan(#)", "torch.tan(#)", "jnp.tan(#)")),
    Op("tanh",    "tanh", 1, math.tanh,                       lambda o, a: (1.0 - o * o,),                            ("1 - out^2",),
       saves=("out",),
       js=("(a) => Math.tanh(a)", "(o, a) => [1 - o * o]"),
       np_forward=lambda a: np.tanh(a),
       rule=lambda w, o, a: (w.op("sub", w.const(1.0), w.op("mul", o, o)),),
       latex=r"\tanh(#)",
       code=_code("math.tanh(#)", "np.tanh(#)", "torch.tanh(#)", "jnp.tanh(#)")),
    Op("sigmoid", "sigmoid", 1, _sigmoid,                     lambda o, a: (o * (1.0 - o),),                          ("out*(1 - out)",),
       saves=("out",),
       js=("(a) => a >= 0 ? 1 / (1 + Math.exp(-a)) : a < 0 ? Math.exp(a) / (1 + Math.exp(a)) : NaN", "(o, a) => [o * (1 - o)]"),
       np_forward=_np_sigmoid,
       rule=lambda w, o, a: (w.op("mul", o, w.op("sub", w.const(1.0), o)),),
       latex=r"\sigma(#)",
       code=_code("_sigmoid(#)", "_sigmoid(#)", "torch.sigmoid(#)", "jax.nn.sigmoid(#)")),
    Op("relu",    "relu", 1, _relu,                           lambda o, a: (1.0 if a > 0 else 0.0,),                  ("1 if a > 0 else 0",),
       saves=("args",),
       js=("(a) => a <= 0 ? 0 : a", "(o, a) => [a > 0 ? 1 : 0]"),
       np_forward=lambda a: np.where(a > 0, a, np.where(a <= 0, 0.0, a)), np_local=lambda o, a: (np.where(a > 0, 1.0, 0.0),), kink=_on_zero,
       rule=lambda w, o, a: (w.op("step", a),),
       code=_code("_relu(#)", "_relu(#)", "torch.relu(#)", "jax.nn.relu(#)")),
    Op("abs",     "abs",  1, abs,                             lambda o, a: (_sign(a),),                               ("sign(a)",),
       saves=("args",),
       js=("(a) => Math.abs(a)", "(o, a) => [signIEEE(a)]"),
       np_forward=lambda a: np.abs(a),                        np_local=lambda o, a: (np.sign(a),), kink=_on_zero,
       rule=lambda w, o, a: (w.op("sign", a),),
       latex=r"\left|#\right|",
       code=_code("abs(#)", "np.abs(#)", "torch.abs(#)", "_abs(#)")),
    Op("max",     "max",  2, _max,                            lambda o, a, b: _pick(a, b),                            ("1 if a > b, 0.5 on a tie, else 0", "1 if b > a, 0.5 on a tie, else 0"),
       saves=("args",),
       js=("(a, b) => a !== a || b !== b ? NaN : a >= b ? a : b", "(o, a, b) => pickIEEE(a, b)"),
       np_forward=_np_max,                                    np_local=lambda o, a, b: _np_pick(a, b), kink=_on_tie,
       rule=lambda w, o, a, b: _pick_rule(w, a, b),
       latex=r"\max(#)", commutative=True,
       code=_code("_max(#)", "_max(#)", "torch.maximum(#)", "jnp.maximum(#)")),
    Op("min",     "min",  2, _min,                            lambda o, a, b: _pick(b, a),                            ("1 if a < b, 0.5 on a tie, else 0", "1 if b < a, 0.5 on a tie, else 0"),
       saves=("args",),
       js=("(a, b) => a !== a || b !== b ? NaN : a <= b ? a : b", "(o, a, b) => pickIEEE(b, a)"),
       np_forward=_np_min,                                    np_local=lambda o, a, b: _np_pick(b, a), kink=_on_tie,
       rule=lambda w, o, a, b: _pick_rule(w, b, a),
       latex=r"\min(#)", commutative=True,
       code=_code("_min(#)", "_min(#)", "torch.minimum(#)", "jnp.minimum(#)")),
    Op("sum",     "sum",  None, _sum,                         _ones,                                                  ("1",),
       saves=(),
       np_forward=_np_sum,
       js=("(...xs) => xs.reduce((t, x) => t + x)", "(o, ...xs) => xs.map(() => 1)"),
       rule=_ones_rule, commutative=True,
       code=_same("_sum(#)")),
    Op("mean",    "mean", None, lambda *xs: _sum(*xs) / len(xs), lambda o, *xs: (1.0 / len(xs),) * len(xs),           ("1/n",),
       saves=(),
       np_forward=lambda *xs: np.divide(_np_sum(*xs), len(xs)),
       js=("(...xs) => xs.reduce((t, x) => t + x) / xs.length", "(o, ...xs) => xs.map(() => 1 / xs.length)"),
       rule=lambda w, o, *xs: (w.const(1.0 / len(xs)),) * len(xs), commutative=True,
       code=_same("_mean(#)")),
    # The kinks of the ops above, as ops of their own so that a derivative graph can say
    # them: each is piecewise constant, so its derivatives are 0 (where it jumps: its kink).
    Op("step",    "step", 1, lambda a: 1.0 if a > 0 else 0.0, _zeros,                                                 ("0",),  # 0 for nan, as relu'
       saves=(),
       js=("(a) => a > 0 ? 1 : 0", "(o, a) => [0]"),
       np_forward=lambda a: np.where(np.greater(a, 0), 1.0, 0.0), kink=_on_zero,
       rule=_zeros_rule,
       code=_same("_step(#)")),
    Op("sign",    "sign", 1, _sign,                           _zeros,                                                 ("0",),  # sign(0) = 0, as abs'
       saves=(),
       js=("(a) => signIEEE(a)", "(o, a) => [0]"),
       np_forward=lambda a: np.sign(a) + 0.0, kink=_on_zero,  # + 0.0: sign(-0.0) is 0.0, as the scalar's
       rule=_zeros_rule,
       code=_same("_sign(#)")),
    Op("above",   "above", 2, _above,                         _zeros,                                                 ("0", "0"),  # max/min's pick
       saves=(),
       js=("(a, b) => a > b ? 1 : a === b ? 0.5 : 0", "(o, a, b) => [0, 0]"),
       np_forward=lambda a, b: np.where(np.greater(a, b), 1.0, np.where(np.equal(a, b), 0.5, 0.0)), kink=_on_tie,
       rule=_zeros_rule,
       code=_same("_above(#)")),
    Op("eq",      "eq",   2, lambda a, b: 1.0 if a == b else 0.0, _zeros,                                             ("0", "0"),  # max/min's tie
       saves=(),
       js=("(a, b) => a === b ? 1 : 0", "(o, a, b) => [0, 0]"),
       np_forward=lambda a, b: np.where(np.equal(a, b), 1.0, 0.0), kink=_on_tie,
       rule=_zeros_rule, commutative=True,
       code=_same("_eq(#)")),
    # zero_if(c, x) = 0 if c > 0 else x: a select (where a product with a 0/1 condition would turn inf into nan)
    Op("zero_if", "zero_if", 2, lambda c, x: 0.0 if c > 0 else x, lambda o, c, x: (0.0, 0.0 if c > 0 else 1.0),   ("0", "0 if a > 0 else 1"),
       saves=("args",),
       js=("(c, x) => c > 0 ? 0 : x", "(o, c, x) => [0, c > 0 ? 0 : 1]"),
       np_forward=lambda c, x: np.where(np.greater(c, 0), 0.0, x), np_local=lambda o, c, x: (0.0, np.where(np.greater(c, 0), 0.0, 1.0)),
       kink=lambda c, x: c,
       rule=lambda w, o, c, x: (None, w.op("zero_if", c, w.const(1.0))), simplify=_select_identities, select=True,
       code=_same("_zero_if(#)")),
    # one_if(c, x) = 1 if c > 0 else x: a select's other branch moved where it is finite (pow's rule)
    Op("one_if",  "one_if", 2, lambda c, x: 1.0 if c > 0 else x, lambda o, c, x: (0.0, 0.0 if c > 0 else 1.0),   ("0", "0 if a > 0 else 1"),
       saves=("args",),
       js=("(c, x) => c > 0 ? 1 : x", "(o, c, x) => [0, c > 0 ? 0 : 1]"),
       np_forward=lambda c, x: np.where(np.greater(c, 0), 1.0, x), np_local=lambda o, c, x: (0.0, np.where(np.greater(c, 0), 0.0, 1.0)),
       kink=lambda c, x: c,
       rule=lambda w, o, c, x: (None, w.op("zero_if", c, w.const(1.0))), simplify=_one_if_identities, select=True,
       code=_same("_one_if(#)")),
]

# The helpers the ops' JavaScript (Op.js) may call: C's pow (Python's math.pow), which
# JavaScript's Math.pow is not at 1^nan, 1^inf and (-1)^inf (nan there, 1 in C); abs's
# derivative (sign, 0 at 0); and max/min's split of the gradient (see _pick).
JS_HELPERS = """\
function powIEEE(a, b) {
  return a === 1 || (a === -1 && (b === Infinity || b === -Infinity)) ? 1 : Math.pow(a, b);
}
function signIEEE(a) {
  return a > 0 ? 1 : a < 0 ? -1 : a === 0 ? 0 : NaN;
}
function pickIEEE(a, b) {
  return a > b ? [1, 0] : a < b ? [0, 1] : a === b ? [0.5, 0.5] : [0, 0];
}
"""

# --- the chain rule's own arithmetic, for the passes that write derivatives as nodes -----


def chain_product(w: NodeWriter, grad: int, local: int) -> int:
    """A contribution: a gradient (or tangent) times a local derivative."""
    return w.op("mul", grad, local)


def chain_sum(w: NodeWriter, terms: list[int]) -> int:
    """The sum of a node's contributions, left to right as the backward pass adds them:
    one `sum` node for three or more (a weight used at every step of a loop gets one
    node, not one `add` per use: what keeps a gradient graph within 3x its program)."""
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2:
        return w.op("add", terms[0], terms[1])
    return w.op("sum", *terms)


def select_tangent(w: NodeWriter, condition: int, tangent: int) -> int:
    """The tangent of a select op(c, x) (Op.select) whose x has `tangent`: that tangent where
    x is taken, 0 where the constant is. A select, not tangent * (0 or 1), so the branch
    not taken passes on a 0 even where its tangent is inf or nan (as JAX's `where` does)."""
    return w.op("zero_if", condition, tangent)


# --- the lookups everything else reads, kept in step with the table by `register` ---------

OPS: dict[str, Op] = {}
# What a file may call by name: sqrt(x), pow(a, b).
FUNCTIONS: dict[str, Op] = {}
# The operators written between their arguments: "+" -> "add".
BINARY_SYMBOLS: dict[str, str] = {}
# Each node kind's forward function and local derivatives (None for the leaves): the
# evaluator's loops look a node's function up here, one dict read per node.
FORWARD: dict[str, Callable[..., float] | None] = dict.fromkeys(LEAF_KINDS)
LOCAL: dict[str, Callable[..., tuple] | None] = dict.fromkeys(LEAF_KINDS)
# The ops whose derivative jumps somewhere, with the function that says where.
KINKS: dict[str, Callable[..., float]] = {}
# Each op's graph rule (Op.rule), for the passes that write derivatives as nodes.
RULES: dict[str, Rule] = {}


def register(op: Op) -> None:
    """Add an op (or replace one of the same name) everywhere the program looks ops up."""
    if op.name in LEAF_KINDS:
        raise ValueError(f"'{op.name}' is a leaf kind, not an op name")
    unregister(op.name)
    OPS[op.name] = op
    FORWARD[op.name], LOCAL[op.name] = op.forward, op.local
    if op.function:
        FUNCTIONS[op.name] = op
    if op.notation == INFIX:
        BINARY_SYMBOLS[op.symbol] = op.name
    if op.kink is not None:
        KINKS[op.name] = op.kink
    if op.rule is not None:
        RULES[op.name] = op.rule


def unregister(name: str) -> None:
    """Take an op out of every lookup (a test that registered one puts things back)."""
    op = OPS.pop(name, None)
    if op is None:
        return
    for table in (FORWARD, LOCAL, FUNCTIONS, KINKS, RULES):
        table.pop(name, None)
    if BINARY_SYMBOLS.get(op.symbol) == name:
        del BINARY_SYMBOLS[op.symbol]


for _op in _OPS:
    register(_op)
del _op
