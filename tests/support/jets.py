"""Truncated Taylor series ("jets") in float64: an independent reference for higher derivatives.

A jet of order N is the Taylor polynomial of a value along one input, the coefficients
c_0..c_N of f(x0 + t) = sum c_k t^k + O(t^(N+1)); the k-th derivative is k! * c_k. Each
operation is the textbook recurrence on coefficients (Griewank & Walther, "Evaluating
Derivatives", ch. 13; Knuth, TAOCP vol. 2, 4.7): products are Cauchy products, and a
function f of a series u is found from the ODE f satisfies, v' = f'(u) u', compared
coefficient by coefficient (exp: v' = v u'; log: u v' = u'; tanh: v' = (1 - v^2) u'; ...).
Nothing here reads cgraph's op table or its derivative rules; only `taylor` maps the
graph's op names onto these functions, so that one program text drives both sides.

Each coefficient also carries a magnitude: the sum of the absolute values of the terms it
was computed from (propagated through the same recurrences). magnitude / |value| is the
coefficient's condition number with respect to rounding: a coefficient that is a small
difference of large terms cannot be had to 1e-9 in float64, by this jet or by any other
evaluation order, and `condition` lets a test skip such a drawn case for that stated reason.

The kinks (relu and abs at 0, max/min ties) have no Taylor series: they raise `Kink`.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence


class Kink(ValueError):
    """A jet asked for at a point where the function is not smooth."""


class Num:
    """A float64 value and the magnitude of the terms it was summed from."""

    __slots__ = ("v", "m")

    def __init__(self, v: float, m: float | None = None):
        self.v = v
        self.m = abs(v) if m is None else m

    def __add__(self, o: Num) -> Num:
        return Num(self.v + o.v, self.m + o.m)

    def __sub__(self, o: Num) -> Num:
        return Num(self.v - o.v, self.m + o.m)

    def __mul__(self, o: Num) -> Num:
        return Num(self.v * o.v, self.m * o.m)

    def __truediv__(self, o: Num) -> Num:
        return Num(self.v / o.v, self.m / abs(o.v))

    def scale(self, k: float) -> Num:
        return Num(self.v * k, self.m * abs(k))

    def __neg__(self) -> Num:
        return Num(-self.v, self.m)


ZERO = Num(0.0)


def _total(terms: Sequence[Num]) -> Num:
    out = ZERO
    for t in terms:
        out = out + t
    return out


class Jet:
    """c[0] + c[1] t + ... + c[N] t^N."""

    __slots__ = ("c",)

    def __init__(self, c: list[Num]):
        self.c = c

    @property
    def order(self) -> int:
        return len(self.c) - 1

    @classmethod
    def constant(cls, value: float, order: int) -> Jet:
        return cls([Num(value)] + [ZERO] * order)

    @classmethod
    def variable(cls, value: float, order: int) -> Jet:
        """The input being differentiated: x0 + t."""
        return cls(([Num(value), Num(1.0)] + [ZERO] * order)[: order + 1])

    def is_constant(self) -> bool:
        return all(c.v == 0 for c in self.c[1:])

    def derivatives(self) -> list[float]:
        """f, f', f'', ...: k! * c_k."""
        return [c.v * math.factorial(k) for k, c in enumerate(self.c)]

    def condition(self, k: int) -> float:
        """How much larger than derivative k its terms were (1: no cancellation)."""
        c = self.c[k]
        if c.m == 0:
            return 1.0
        return math.inf if c.v == 0 else c.m / abs(c.v)

    # --- arithmetic -------------------------------------------------------------------
    def __add__(self, o: Jet) -> Jet:
        return Jet([a + b for a, b in zip(self.c, o.c)])

    def __sub__(self, o: Jet) -> Jet:
        return Jet([a - b for a, b in zip(self.c, o.c)])

    def __neg__(self) -> Jet:
        return Jet([-a for a in self.c])

    def __mul__(self, o: Jet) -> Jet:
        """Cauchy product: c_k = sum_i a_i b_(k-i)."""
        a, b = self.c, o.c
        return Jet([_total([a[i] * b[k - i] for i in range(k + 1)]) for k in range(len(a))])

    def __truediv__(self, o: Jet) -> Jet:
        """q = a / b, from a = q b: q_k = (a_k - sum_(i=1..k) b_i q_(k-i)) / b_0."""
        a, b = self.c, o.c
        q: list[Num] = []
        for k in range(len(a)):
            q.append((a[k] - _total([b[i] * q[k - i] for i in range(1, k + 1)])) / b[0])
        return Jet(q)


def _ode(u: Jet, v0: float, factor: Callable[[list[Num], int], Num]) -> Jet:
    """v = f(u) where v' = g * u' and g_m = factor(v, m) depends on v_0..v_m only:
    k v_k = sum_(j=1..k) j u_j g_(k-j)."""
    v = [Num(v0)]
    g: list[Num] = []
    for k in range(1, len(u.c)):
        g.append(factor(v, k - 1))
        v.append(_total([u.c[j].scale(j) * g[k - j] for j in range(1, k + 1)]).scale(1.0 / k))
    return Jet(v)


def _square(v: list[Num], m: int) -> Num:
    """Coefficient m of v*v."""
    return _total([v[i] * v[m - i] for i in range(m + 1)])


def exp(u: Jet) -> Jet:
    """v' = v u'."""
    return _ode(u, math.exp(u.c[0].v), lambda v, m: v[m])


def log(u: Jet) -> Jet:
    """u v' = u': v_k = (u_k - (1/k) sum_(j=1..k-1) j v_j u_(k-j)) / u_0."""
    a = u.c
    if a[0].v <= 0:
        raise ValueError("log of a non-positive number")
    v = [Num(math.log(a[0].v))]
    for k in range(1, len(a)):
        inner = _total([v[j].scale(j) * a[k - j] for j in range(1, k)]).scale(1.0 / k)
        v.append((a[k] - inner) / a[0])
    return Jet(v)


def sqrt(u: Jet) -> Jet:
    """v v = u: v_k = (u_k - sum_(j=1..k-1) v_j v_(k-j)) / (2 v_0)."""
    a = u.c
    if a[0].v <= 0:
        raise ValueError("sqrt at or below 0 has no Taylor series")
    v = [Num(math.sqrt(a[0].v))]
    for k in range(1, len(a)):
        v.append((a[k] - _total([v[j] * v[k - j] for j in range(1, k)])) / v[0].scale(2.0))
    return Jet(v)


def sin_cos(u: Jet) -> tuple[Jet, Jet]:
    """s' = c u', c' = -s u'."""
    s, c = [Num(math.sin(u.c[0].v))], [Num(math.cos(u.c[0].v))]
    for k in range(1, len(u.c)):
        terms = [(u.c[j].scale(j), k - j) for j in range(1, k + 1)]
        s.append(_total([du * c[i] for du, i in terms]).scale(1.0 / k))
        c.append(-_total([du * s[i] for du, i in terms]).scale(1.0 / k))
    return Jet(s), Jet(c)


def sin(u: Jet) -> Jet:
    return sin_cos(u)[0]


def cos(u: Jet) -> Jet:
    return sin_cos(u)[1]


def tan(u: Jet) -> Jet:
    """v' = (1 + v^2) u'."""
    one = Num(1.0)
    return _ode(u, math.tan(u.c[0].v), lambda v, m: (one if m == 0 else ZERO) + _square(v, m))


def tanh(u: Jet) -> Jet:
    """v' = (1 - v^2) u'."""
    one = Num(1.0)
    return _ode(u, math.tanh(u.c[0].v), lambda v, m: (one if m == 0 else ZERO) - _square(v, m))


def sigmoid(u: Jet) -> Jet:
    """v' = v (1 - v) u' = (v - v^2) u'."""
    x = u.c[0].v
    v0 = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    return _ode(u, v0, lambda v, m: v[m] - _square(v, m))


def power(u: Jet, p: float) -> Jet:
    """v = u^p for a constant p, from u v' = p v u':
    v_k = (1 / (k u_0)) sum_(j=1..k) (p j - (k - j)) u_j v_(k-j)."""
    a = u.c
    if a[0].v == 0:
        raise Kink("a power of 0 has no Taylor series in general")
    v = [Num(math.pow(a[0].v, p))]
    for k in range(1, len(a)):
        v.append(_total([a[j].scale(p * j - (k - j)) * v[k - j] for j in range(1, k + 1)]) / a[0].scale(k))
    return Jet(v)


def pow(u: Jet, w: Jet) -> Jet:  # noqa: A001 - the op's name
    """u^w: repeated products for a small whole exponent (exact at u = 0, and nothing is
    divided by a u_0^p that may underflow), the power recurrence for another constant
    exponent, else exp(w log u) (u > 0)."""
    if w.is_constant():
        p = w.c[0].v
        if p == int(p) and 0 <= p <= 16:
            out = Jet.constant(1.0, u.order)
            for _ in range(int(p)):
                out = out * u
            return out
        return power(u, p)
    return exp(w * log(u))


def _branch(x: float, what: str) -> None:
    if x == 0 or x != x:
        raise Kink(f"{what} at its kink")


def relu(u: Jet) -> Jet:
    _branch(u.c[0].v, "relu")
    return u if u.c[0].v > 0 else Jet([ZERO] * len(u.c))


def abs_(u: Jet) -> Jet:
    _branch(u.c[0].v, "abs")
    return u if u.c[0].v > 0 else -u


def maximum(u: Jet, w: Jet) -> Jet:
    _branch(u.c[0].v - w.c[0].v, "max")
    return u if u.c[0].v > w.c[0].v else w


def minimum(u: Jet, w: Jet) -> Jet:
    _branch(u.c[0].v - w.c[0].v, "min")
    return u if u.c[0].v < w.c[0].v else w


def _sum(*xs: Jet) -> Jet:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _mean(*xs: Jet) -> Jet:
    return _sum(*xs) * Jet.constant(1.0 / len(xs), xs[0].order)


# The language's op names -> the jet functions above.
FUNCTIONS: dict[str, Callable[..., Jet]] = {
    "add": Jet.__add__, "sub": Jet.__sub__, "mul": Jet.__mul__, "div": Jet.__truediv__, "neg": Jet.__neg__,
    "pow": pow, "exp": exp, "log": log, "sqrt": sqrt, "sin": sin, "cos": cos, "tan": tan, "tanh": tanh,
    "sigmoid": sigmoid, "relu": relu, "abs": abs_, "max": maximum, "min": minimum, "sum": _sum, "mean": _mean,
}


PIECEWISE = {"relu": 1, "abs": 1, "max": 2, "min": 2}  # op -> arguments that pick the branch


def taylor(graph, point: dict[str, float], name: str, order: int, branches: list[bool] | None = None) -> Jet:
    """The jet of `graph`'s first output along input `name` at `point` (inputs not in
    `point` take their declared defaults). Raises Kink / ValueError where there is none.
    `branches`, if given, receives the branch each relu, abs, max and min took, in order:
    two points with the same branches are on one smooth piece (as far as these ops go)."""
    jets: list[Jet] = []
    inputs = {i: n for n, i in graph.inputs.items()}
    for i, op in enumerate(graph.ops):
        if i in inputs:
            n = inputs[i]
            value = point.get(n, graph.values[i])
            jets.append(Jet.variable(value, order) if n == name else Jet.constant(value, order))
        elif op == "const":
            jets.append(Jet.constant(graph.values[i], order))
        else:
            if op not in FUNCTIONS:
                raise NotImplementedError(f"no jet for {op}")
            args = [jets[a] for a in graph.args[i]]
            if branches is not None and op in PIECEWISE:
                a = args[0].c[0].v
                branches.append(a > 0 if PIECEWISE[op] == 1 else a > args[1].c[0].v)
            jets.append(FUNCTIONS[op](*args))
    return jets[graph.outputs[0]]
