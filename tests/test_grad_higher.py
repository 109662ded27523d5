"""Higher derivatives as graphs (cgraph/transform/grad.py, `order=n`) against references
that share nothing with it: derivatives worked out by hand (exact integer polynomials for
tanh and sigmoid, closed forms for exp, log, sin, cos, powers, 1/x), Taylor-series jets
(tests/support/jets.py) for generated smooth programs, central differences of the
evaluator's gradients for mixed second derivatives. Then the properties of the
transformation itself: simplified == raw (inf and nan included), first order == the
evaluator's backward pass for every output and any wrt list, the kink conventions carried
to higher orders, the 3n size bound, and deep programs (no recursion)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import cgraph
from cgraph import ops
from cgraph.transform.grad import grad
from support import jets
from support.numeric import relative_step
from support.paths import SAMPLES
from support.programs import programs
from support.samples import SAMPLE_CASES, SAMPLE_IDS

inf, nan = math.inf, math.nan
ALL_SAMPLES = SAMPLE_IDS + ["xor", "linreg"]


# --- helpers ------------------------------------------------------------------------------


def derivatives(graph: cgraph.Graph, point: dict[str, float], wrt: list[str] | None = None, order: int = 1,
                simplify: bool = True) -> list[float]:
    """The values of the order-n derivative graph's outputs at `point`."""
    derivative = grad(graph, wrt, order, simplify=simplify)
    values = cgraph.forward(derivative, point)
    return [values[i] for i in derivative.outputs]


def close(got: float, want: float, rel: float) -> bool:
    """Within `rel` relative; inf and nan exactly (nan where nan, inf of the same sign)."""
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    if math.isinf(got) or math.isinf(want):
        return got == want
    return abs(got - want) <= rel * max(abs(got), abs(want))


def nth(source: str, name: str, n: int, point: dict[str, float]) -> float:
    """d^n out / d name^n of a one-output program at `point`."""
    return derivatives(cgraph.parse(source), point, [name], n)[0]


# --- exact derivatives, worked out by hand --------------------------------------------------
#
# For f' = R(f) with R a polynomial (tanh: 1 - o^2, sigmoid: s - s^2), every derivative is a
# polynomial in f: P_0(f) = f, P_(n+1)(f) = P_n'(f) * R(f). The coefficients are integers,
# so the polynomials are exact; evaluated in Fractions at f's float value, the only
# rounding left is f's own (1 ulp) and the final conversion.

Poly = list[int]  # coefficients, lowest degree first


def poly_mul(p: Poly, q: Poly) -> Poly:
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def poly_derivative(p: Poly) -> Poly:
    return [k * p[k] for k in range(1, len(p))] or [0]


def derivative_polynomials(r: Poly, n: int) -> list[Poly]:
    polys = [[0, 1]]
    for _ in range(n):
        polys.append(poly_mul(poly_derivative(polys[-1]), r))
    return polys


def poly_value(p: Poly, f: float) -> float:
    x = Fraction(f)
    return float(sum(Fraction(c) * x ** k for k, c in enumerate(p)))


TANH_R = [1, 0, -1]  # tanh' = 1 - tanh^2
SIGMOID_R = [0, 1, -1]  # sigmoid' = s - s^2


def test_the_derivative_polynomials_are_the_known_ones():
    """The recurrence itself, against the textbook: tanh'' = -2o + 2o^3, tanh''' = -2 + 8o^2 - 6o^4,
    sigmoid'' = s - 3s^2 + 2s^3."""
    tanh = derivative_polynomials(TANH_R, 3)
    assert tanh[2] == [0, -2, 0, 2] and tanh[3] == [-2, 0, 8, 0, -6]
    assert derivative_polynomials(SIGMOID_R, 2)[2] == [0, 1, -3, 2]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def falling(c: float, n: int) -> float:
    """c (c-1) ... (c-n+1)."""
    return math.prod(c - k for k in range(n))


# (program, the name differentiated, the point, n -> the exact n-th derivative). The points
# keep every derivative of orders 1..8 away from 0 (no relative comparison of a rounding
# residue), and the magnitudes moderate.
EXACT = {
    "tanh": ("y = tanh(x)", "x", {"x": 0.3},
             lambda n: poly_value(derivative_polynomials(TANH_R, n)[n], math.tanh(0.3))),
    "tanh at -1.1": ("y = tanh(x)", "x", {"x": -1.1},
                     lambda n: poly_value(derivative_polynomials(TANH_R, n)[n], math.tanh(-1.1))),
    "sigmoid": ("y = sigmoid(x)", "x", {"x": 0.7},
                lambda n: poly_value(derivative_polynomials(SIGMOID_R, n)[n], sigmoid(0.7))),
    "exp": ("y = exp(x)", "x", {"x": 0.6}, lambda n: math.exp(0.6)),
    "log": ("y = log(x)", "x", {"x": 1.7}, lambda n: (-1) ** (n - 1) * math.factorial(n - 1) / 1.7 ** n),
    "sin": ("y = sin(x)", "x", {"x": 0.4}, lambda n: [math.sin, math.cos, lambda x: -math.sin(x),
                                                     lambda x: -math.cos(x)][n % 4](0.4)),
    "cos": ("y = cos(x)", "x", {"x": 0.4}, lambda n: [math.cos, lambda x: -math.sin(x), lambda x: -math.cos(x),
                                                     math.sin][n % 4](0.4)),
    "x^2.5": ("y = x ^ 2.5", "x", {"x": 1.3}, lambda n: falling(2.5, n) * 1.3 ** (2.5 - n)),
    "x^-1.5": ("y = x ^ -1.5", "x", {"x": 0.8}, lambda n: falling(-1.5, n) * 0.8 ** (-1.5 - n)),
    # An integer power: the falling factorial reaches 0 at n = 4 and the derivatives stay
    # exactly 0 after: the graph must give 0 there too (0 compares only to 0).
    "x^3": ("y = x ^ 3", "x", {"x": -1.4}, lambda n: falling(3, n) * (-1.4) ** (3 - n)),
    "x^p wrt p": ("y = x ^ p", "p", {"x": 1.9, "p": 0.6}, lambda n: math.log(1.9) ** n * 1.9 ** 0.6),
    "1/x": ("y = 1 / x", "x", {"x": 1.2}, lambda n: (-1) ** n * math.factorial(n) / 1.2 ** (n + 1)),
}


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("case", EXACT, ids=list(EXACT))
def test_higher_derivatives_equal_the_exact_ones(case, n):
    source, name, point, exact = EXACT[case]
    got = nth(source, name, n, point)
    want = exact(n)
    assert close(got, want, 1e-9), (case, n, got, want)


@pytest.mark.parametrize("case", EXACT, ids=list(EXACT))
def test_the_jets_give_the_exact_derivatives(case):
    """The reference checked against the other reference: every derivative to order 8."""
    source, name, point, exact = EXACT[case]
    jet = jets.taylor(cgraph.parse(source), point, name, 8)
    for n in range(1, 9):
        assert close(jet.derivatives()[n], exact(n), 1e-12), (case, n)


# --- generated smooth programs against jets --------------------------------------------------


CONSTANTS = ["0.5", "1.5", "2", "3", "0.25"]


def positive(draw, names: list[str], depth: int) -> str:
    """An expression that is positive wherever it is defined: the argument of log and sqrt,
    a denominator, the base of a power with a variable exponent."""
    inner = smooth_expression(draw, names, depth)
    form = draw(st.sampled_from(["({e} * {e} + 0.5)", "(2 + sin({e}))", "(1.5 + tanh({e}))", "exp({e})",
                                 "sigmoid({e})", "(1 + {e} ^ 2)"]))
    return form.replace("{e}", inner)


def smooth_expression(draw, names: list[str], depth: int) -> str:
    """A smooth expression of `names` (relu, abs, max and min too: at a random point they
    are off their kinks with probability 1; a drawn tie is skipped by the test)."""
    if depth <= 0 or draw(st.integers(0, 5)) == 0:
        # Mostly a name (the program's inputs and earlier statements), sometimes a constant.
        return draw(st.sampled_from(names if draw(st.integers(0, 3)) else CONSTANTS))
    sub = lambda: smooth_expression(draw, names, depth - 1)  # noqa: E731
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        return f"({sub()} {draw(st.sampled_from(['+', '-', '*']))} {sub()})"
    if kind == 3:
        return f"({sub()} / {positive(draw, names, depth - 1)})"
    if kind == 4:
        function = draw(st.sampled_from(["sin", "cos", "tanh", "sigmoid", "exp", "tan", "relu", "abs", "-"]))
        return f"{function}({sub()})"
    if kind == 5:
        return f"{draw(st.sampled_from(['log', 'sqrt']))}({positive(draw, names, depth - 1)})"
    if kind == 6:
        exponent = draw(st.sampled_from(["2", "3", "0.5", "-1", "1.5", "-0.5"]))
        base = positive(draw, names, depth - 1) if exponent not in ("2", "3") else f"({sub()})"
        return f"{base} ^ {exponent}"
    if kind == 7:
        return f"{positive(draw, names, depth - 1)} ^ ({sub()})"
    if kind == 8:
        return f"{draw(st.sampled_from(['max', 'min']))}({sub()}, {sub()})"
    return f"{draw(st.sampled_from(['sum', 'mean']))}({sub()}, {sub()}, {sub()})"


@st.composite
def smooth_programs(draw, names: tuple[str, ...] = ("x",)) -> str:
    """1 to 3 statements, each may use the ones before (fan-out) and is combined with the
    one before it, so the output depends on all; the last is the output. Every name is
    used, so each is an input of the program."""
    scope = list(names)
    lines = []
    for k in range(draw(st.integers(1, 3))):
        combined = f" {draw(st.sampled_from(['+', '*']))} v{k - 1}" if k else ""
        lines.append(f"v{k} = {smooth_expression(draw, scope, 3)}{combined}")
        scope.append(f"v{k}")
    used = " + ".join(f"0 * {n}" for n in names)  # 0*n: keeps every name an input, adds nothing
    lines.append(f"out = {scope[-1]} + {used}")
    return "\n".join(lines)


points = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
MAX_MAGNITUDE = 1e8  # derivatives beyond this come from near-poles (tan, 1/(...)): not "well-conditioned"
MAX_CONDITION = 1e4  # see jets.py: a derivative that is a difference of terms 1e4 times larger


def reference_jet(graph: cgraph.Graph, point: dict[str, float], name: str, order: int) -> jets.Jet:
    """The jet, or the drawn case skipped where there is none: a relu/abs/max/min at its
    kink (a tie of constants), or a value outside a function's domain (x/0, overflow)."""
    try:
        jet = jets.taylor(graph, point, name, order)
    except (jets.Kink, ValueError, ZeroDivisionError, OverflowError):
        assume(False)
        raise
    return jet


@given(smooth_programs(), points, st.integers(2, 8))
def test_higher_derivatives_of_generated_programs_equal_the_jets(source, x, n):
    note(source)
    graph = cgraph.parse(source)
    jet = reference_jet(graph, {"x": x}, "x", n)
    want = jet.derivatives()[n]
    # Numerical reasons only: the reference must be finite, of moderate size and not a
    # cancellation of much larger terms, or no float64 evaluation is good to 1e-9.
    assume(math.isfinite(want) and abs(want) <= MAX_MAGNITUDE and jet.condition(n) <= MAX_CONDITION)
    got = derivatives(graph, {"x": x}, ["x"], n)[0]
    assert close(got, want, 1e-9), (n, got, want, jet.condition(n))


@pytest.mark.parametrize("n", [1, 4, 8])
def test_a_fixed_program_to_order_8_equals_its_jet(n):
    """A program with every smooth op the generator draws, at one point: each order's jet."""
    source = ("u = sin(x) * exp(-x / 3) + sqrt(x * x + 1)\nv = tanh(u) / (1.5 + cos(x)) + x ^ 3 - log(2 + x)\n"
              "out = sigmoid(v) * (1.2 ^ x) + tan(0.3 * x) - max(u, -5) + min(abs(x), 4) + relu(v + 9)")
    graph = cgraph.parse(source)
    want = jets.taylor(graph, {"x": 0.45}, "x", n).derivatives()[n]
    assert close(derivatives(graph, {"x": 0.45}, ["x"], n)[0], want, 1e-9)


# --- mixed second derivatives against central differences ------------------------------------


def hessian(graph: cgraph.Graph, point: dict[str, float], names: list[str]) -> list[list[float]]:
    """H[i][j] = d/d names[j] (d out/d names[i]): the order-2 outputs, row-major."""
    flat = derivatives(graph, point, names, 2)
    m = len(names)
    assert len(flat) == m * m
    return [flat[i * m:(i + 1) * m] for i in range(m)]


def stepped(point: dict[str, float]) -> list[dict[str, float]]:
    """The points a central difference visits."""
    return [{**point, j: point[j] + sign * relative_step(point[j], 1e-5)} for j in point for sign in (1, -1)]


def same_branches(graph: cgraph.Graph, a: dict[str, float], b: dict[str, float]) -> bool:
    first: list[bool] = []
    second: list[bool] = []
    try:
        jets.taylor(graph, a, "x", 0, first)
        jets.taylor(graph, b, "x", 0, second)
    except (jets.Kink, ValueError, ZeroDivisionError, OverflowError):
        return False
    return first == second


def gradient_difference(graph: cgraph.Graph, point: dict[str, float], name: str, j: str) -> tuple[float, float]:
    """d/d j of the evaluator's d out/d name, by a central difference, and the gradient's size."""
    h = relative_step(point[j], 1e-5)
    up, down = {**point, j: point[j] + h}, {**point, j: point[j] - h}
    g_up, g_down = cgraph.evaluate(graph, up).gradients[name], cgraph.evaluate(graph, down).gradients[name]
    return (g_up - g_down) / (2 * h), max(abs(g_up), abs(g_down))


@given(smooth_programs(("x", "y", "z")), st.tuples(points, points, points))
def test_mixed_second_derivatives_equal_central_differences_of_the_gradients(source, xyz):
    note(source)
    graph = cgraph.parse(source)
    point = dict(zip(("x", "y", "z"), xyz))
    names = ["x", "y", "z"]
    for name in names:
        # Skips a drawn kink (a tie) or a point off the domain; and a point where the
        # derivatives to order 4 along an axis are large: the difference's truncation error
        # h^2/6 |d3 gradient| is small only where those are moderate.
        jet = reference_jet(graph, point, name, 4)
        assume(all(abs(d) <= 1e3 for d in jet.derivatives()))
    # A central difference is only good where the function is smooth over the whole step:
    # skip a point whose relu/abs/max/min branches change within a step.
    assume(all(same_branches(graph, point, moved) for moved in stepped(point)))
    H = hessian(graph, point, names)
    assume(all(math.isfinite(h) and abs(h) <= 1e4 for row in H for h in row))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            difference, size = gradient_difference(graph, point, a, b)
            assume(size <= 1e4)
            # With h = 1e-5 (x) max(1, |x|): truncation h^2/6 |d3 gradient| ~ 2e-11 per unit
            # of 4th derivative (<= 1e3 along the axes, above: ~2e-8), rounding eps |g| / h
            # ~ 2e-11 per unit gradient, times the evaluation's own error growth (< 100 for
            # programs this small): < 1e-7 per unit of scale. 1e-6 leaves 10x to spare and
            # still catches any wrong term (an error of the size of a term of H).
            scale = 1.0 + abs(H[i][j]) + size
            assert abs(H[i][j] - difference) <= 1e-6 * scale, (a, b, H[i][j], difference)


def assert_symmetric(H: list[list[float]]) -> None:
    """H[i][j] and H[j][i] are computed by different walks: equal to rounding."""
    for i in range(len(H)):
        for j in range(i):
            a, b = H[i][j], H[j][i]
            assert abs(a - b) <= 1e-10 * max(1.0, abs(a), abs(b)), (i, j, a, b)


@given(smooth_programs(("x", "y", "z")), st.tuples(points, points, points))
def test_generated_hessians_are_symmetric(source, xyz):
    note(source)
    graph = cgraph.parse(source)
    point = dict(zip(("x", "y", "z"), xyz))
    H = hessian(graph, point, ["x", "y", "z"])
    assume(all(math.isfinite(h) and abs(h) <= 1e6 for row in H for h in row))
    assert_symmetric(H)


@pytest.mark.parametrize(("name", "inputs"), [(c[0], c[1]) for c in SAMPLE_CASES], ids=SAMPLE_IDS)
def test_the_samples_hessians_are_symmetric(name, inputs):
    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    assert_symmetric(hessian(graph, inputs, list(graph.inputs)[:6]))


# --- simplified == raw, at every kind of point, orders 1 to 3 ----------------------------------

SPECIAL = [0.0, -0.0, inf, -inf, nan, 1.0, -1.0, 0.75, 2.0, 0.5]  # zeros, kinks, ties, non-finite


def special_points(names):
    """A value for each input: mostly the special values (the same value twice makes ties
    of max/min and zero differences), sometimes any finite number."""
    return st.fixed_dictionaries({n: st.one_of(st.sampled_from(SPECIAL), st.floats(-3, 3)) for n in names})


def assert_simplified_equals_raw(graph: cgraph.Graph, point: dict[str, float], wrt: list[str], order: int) -> None:
    simplified = derivatives(graph, point, wrt, order)
    raw = derivatives(graph, point, wrt, order, simplify=False)
    assert len(simplified) == len(raw) == len(wrt) ** order * len(graph.outputs)
    for k, (s, r) in enumerate(zip(simplified, raw)):
        assert close(s, r, 1e-12), (order, k, s, r)


@given(st.data(), programs(max_statements=5), st.integers(1, 3))
def test_simplified_and_raw_derivative_graphs_agree_everywhere(data, source, order):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(graph.inputs)  # a program of constants has nothing to differentiate
    # Order 3 of many names has names^3 outputs: two names at order 3, three at order 2.
    wrt = list(graph.inputs)[: {1: 4, 2: 3, 3: 2}[order]]
    point = data.draw(special_points(list(graph.inputs)), label="point")
    assert_simplified_equals_raw(graph, point, wrt, order)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_the_samples_simplified_and_raw_derivative_graphs_agree(name, order):
    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    inputs = dict(SAMPLE_CASES[SAMPLE_IDS.index(name)][1]) if name in SAMPLE_IDS else {}
    wrt = list(graph.inputs)[: {1: 20, 2: 4, 3: 2}[order]]
    for moved in [{}, {wrt[0]: 0.0}, {wrt[0]: -0.0}, {wrt[0]: inf}, {wrt[0]: -inf}, {wrt[0]: nan}]:
        assert_simplified_equals_raw(graph, {**inputs, **moved}, wrt, order)


# --- first order == the evaluator's backward pass (beyond tests/test_grad_graph.py) ------------
#
# test_grad_graph.py compares every input's gradient of one-output programs at finite
# points. Here: the inf/nan/zero/tie points, a chosen wrt list in any order (a subset,
# reversed), and programs of several outputs, where each output's block of the gradient
# graph is d that output/d wrt, which the evaluator gives with `output=`.


@given(st.data(), programs(max_statements=6))
def test_first_order_equals_the_backward_pass_at_special_points_for_any_wrt_list(data, source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(graph.inputs)
    point = data.draw(special_points(list(graph.inputs)), label="point")
    wrt = data.draw(st.permutations(list(graph.inputs)), label="wrt")[: data.draw(st.integers(1, len(graph.inputs)))]
    expected = cgraph.evaluate(graph, point).gradients
    got = derivatives(graph, point, wrt)
    for name, value in zip(wrt, got):
        assert close(value, expected[name], 1e-12), (name, value, expected[name])


@given(st.data(), programs(max_statements=6))
def test_each_output_of_a_several_output_program_gets_its_own_gradients(data, source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(graph.inputs)
    names = [n for n in graph.names if not graph.is_literal(graph.names[n])]
    outputs = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=3, unique=True), label="outputs")
    several = graph.with_outputs(outputs)
    point = {n: 0.75 for n in graph.inputs}
    wrt = list(graph.inputs)
    got = derivatives(several, point, wrt)
    for k, out in enumerate(outputs):
        expected = cgraph.evaluate(several, point, output=out).gradients
        for j, name in enumerate(wrt):
            assert close(got[k * len(wrt) + j], expected[name], 1e-12), (out, name)


# --- kinks at higher orders --------------------------------------------------------------------
#
# The first-order graph writes the kink conventions with step (relu' = step(x), 0 at 0),
# sign (abs' = sign(x), 0 at 0), eq (a max/min tie splits 0.5/0.5) and zero_if (pow's
# selects). Each of those is constant on either side of its kink and its derivative is 0 by
# its own convention, so the n-th order graph is the derivative of the (n-1)-th order
# convention: the selectors stay put and only the smooth factors are differentiated.
# (expected by hand, with the reason, per case.)

KINKS = [
    # relu' = step(x): piecewise constant, its derivative 0 everywhere (at 0 too).
    ("y = relu(x)", ["x"], 2, {"x": 0.0}, [0.0]),
    ("y = relu(x)", ["x"], 2, {"x": -0.0}, [0.0]),
    ("y = relu(x)", ["x"], 2, {"x": 1.5}, [0.0]),
    ("y = relu(x)", ["x"], 3, {"x": 0.0}, [0.0]),
    # relu(x)^2 by a product: y' = 2 relu(x) step(x), y'' = 2 step(x)^2 = 2 for x > 0, 0 for
    # x < 0, and 0 at x = 0 (step(0) = 0).
    ("y = relu(x) * relu(x)", ["x"], 2, {"x": 1.0}, [2.0]),
    ("y = relu(x) * relu(x)", ["x"], 2, {"x": 0.0}, [0.0]),
    ("y = relu(x) * relu(x)", ["x"], 2, {"x": -1.0}, [0.0]),
    # tanh(relu(x)): y'' = tanh''(relu x) step(x)^2 + tanh'(relu x) * 0: 0 at the kink and left of it.
    ("y = tanh(relu(x))", ["x"], 2, {"x": 0.0}, [0.0]),
    ("y = tanh(relu(x))", ["x"], 2, {"x": 0.5}, [-2 * math.tanh(0.5) * (1 - math.tanh(0.5) ** 2)]),
    # abs' = sign(x), piecewise constant: abs'' = 0 everywhere.
    ("y = abs(x)", ["x"], 2, {"x": 0.0}, [0.0]),
    ("y = abs(x)", ["x"], 2, {"x": -2.0}, [0.0]),
    # x |x|: y' = sign(x) x + |x| = 2|x|, y'' = 2 sign(x): 2, -2, and 0 at 0 (sign(0) = 0).
    ("y = abs(x) * x", ["x"], 2, {"x": 2.0}, [2.0]),
    ("y = abs(x) * x", ["x"], 2, {"x": -2.0}, [-2.0]),
    ("y = abs(x) * x", ["x"], 2, {"x": 0.0}, [0.0]),
    # max(x, x^2): off a tie the larger branch's second derivative (x^2 at 2: 2; x at 0.5: 0);
    # at the ties x = 1 and x = 0, y' = 0.5*1 + 0.5*2x with constant selectors, so y'' = 0.5*2 = 1.
    ("y = max(x, x * x)", ["x"], 2, {"x": 2.0}, [2.0]),
    ("y = max(x, x * x)", ["x"], 2, {"x": 0.5}, [0.0]),
    ("y = max(x, x * x)", ["x"], 2, {"x": 1.0}, [1.0]),
    ("y = max(x, x * x)", ["x"], 2, {"x": 0.0}, [1.0]),
    # min picks the other branch off the ties, and splits the same way on them.
    ("y = min(x, x * x)", ["x"], 2, {"x": 2.0}, [0.0]),
    ("y = min(x, x * x)", ["x"], 2, {"x": 0.5}, [2.0]),
    ("y = min(x, x * x)", ["x"], 2, {"x": 1.0}, [1.0]),
    # max(x, z) is linear on each side and 0.5 x + 0.5 z on a tie: every second derivative 0.
    ("y = max(x, z)", ["x", "z"], 2, {"x": 1.0, "z": 1.0}, [0.0, 0.0, 0.0, 0.0]),
    ("y = min(x, z)", ["x", "z"], 2, {"x": 1.0, "z": 3.0}, [0.0, 0.0, 0.0, 0.0]),
    # max(x z, 1) on the tie x z = 1: y_x = 0.5 z, y_z = 0.5 x: H = [[0, .5], [.5, 0]];
    # off it (x z = 2 > 1) y = x z: H = [[0, 1], [1, 0]].
    ("y = max(x * z, 1)", ["x", "z"], 2, {"x": 2.0, "z": 0.5}, [0.0, 0.5, 0.5, 0.0]),
    ("y = max(x * z, 1)", ["x", "z"], 2, {"x": 2.0, "z": 1.0}, [0.0, 1.0, 1.0, 0.0]),
    # Powers of a zero base with constant exponents: the ordinary falling factorials, 0^0 = 1.
    ("y = x ^ 2", ["x"], 2, {"x": 0.0}, [2.0]),
    ("y = x ^ 3", ["x"], 2, {"x": 0.0}, [0.0]),
    ("y = x ^ 3", ["x"], 3, {"x": 0.0}, [6.0]),
    ("y = x ^ 1", ["x"], 2, {"x": 0.0}, [0.0]),
]


@pytest.mark.parametrize(("source", "wrt", "order", "point", "expected"), KINKS,
                         ids=[f"{c[0][4:]} order {c[2]} at {c[3]}" for c in KINKS])
def test_higher_orders_keep_the_kink_conventions(source, wrt, order, point, expected):
    got = derivatives(cgraph.parse(source), point, wrt, order)
    assert len(got) == len(expected)
    assert all(close(g, e, 1e-15) for g, e in zip(got, expected)), (got, expected)


# a^b with a variable base and exponent at a = 0. The first-order convention:
#   d/da = 0 where b == 0, else b a^(b-1);    d/db = 0 where a == 0 and b >= 0, else a^b log a.
POW_AT_ZERO = [
    # (0, 2): d/da d/da = b (b-1) a^(b-2) = 2 * 1 * 0^0 = 2.
    #   d/db d/da = d/db (b a^(b-1)) = a^(b-1) + b * [d/db a^(b-1)] = 0 + 2 * 0 (the convention
    #   again: a = 0, b - 1 >= 0) = 0.
    #   d/da d/db: d/db as a function of a (b = 2) is 0 at a = 0 and a^2 log a for a > 0 (nan
    #   for a < 0, log of a negative): its derivative from the only side where it is a number
    #   is lim a log a = 0; and 0 is d/db d/da, which a symmetric Hessian needs.
    #   d/db d/db: with a = 0, d/db is 0 for every b >= 0, so constant near b = 2: 0.
    ({"a": 0.0, "b": 2.0}, [2.0, 0.0, 0.0, 0.0]),
    # (0, 3): d2/da2 = 3 * 2 * 0^1 = 0; the rest as at (0, 2).
    ({"a": 0.0, "b": 3.0}, [0.0, 0.0, 0.0, 0.0]),
]


@pytest.mark.parametrize(("point", "expected"), POW_AT_ZERO, ids=["a=0,b=2", "a=0,b=3"])
def test_pow_at_a_zero_base_keeps_the_convention_at_order_2(point, expected):
    got = derivatives(cgraph.parse("y = a ^ b"), point, ["a", "b"], 2)
    assert all(close(g, e, 1e-15) for g, e in zip(got, expected)), (got, expected)


def test_pow_with_a_zero_exponent_has_a_zero_second_derivative_in_the_base():
    """At b = 0, d/da = 0 for every a (the convention), so d2/da2 = 0 (a = 0 included)."""
    for a in (0.0, 1.5, -2.0):
        assert derivatives(cgraph.parse("y = a ^ b"), {"a": a, "b": 0.0}, ["a"], 2) == [0.0], a


# The exponent passing through 0. The convention d/da a^b = 0 where b == 0 is the value
# b a^(b-1) has there anyway (a != 0), so as a function of b it is differentiable at 0:
# d/db (b a^(b-1)) = a^(b-1) + b a^(b-1) log a = 1/a at b = 0.
EXPONENT_AT_ZERO = [
    # x^p at (1.5, 0): H = [[p (p-1) x^(p-2), 1/x], [1/x, log(x)^2 x^p]] = [[0, 2/3], [2/3, log(1.5)^2]].
    ("y = x ^ p", ["x", "p"], 2, {"x": 1.5, "p": 0.0}, [0.0, 1 / 1.5, 1 / 1.5, math.log(1.5) ** 2]),
    # (1 + x)^x = exp(x log(1 + x)) = exp(x^2 - x^3/2 + ...) = 1 + x^2 - x^3/2 + O(x^4):
    # the second derivative at 0 is 2, the third 6 * (-1/2) = -3.
    ("y = (x + 1) ^ x", ["x"], 2, {"x": 0.0}, [2.0]),
    ("y = (x + 1) ^ x", ["x"], 3, {"x": 0.0}, [-3.0]),
    # x^x at 1: the rule's own power x^(x-1) has the exponent 0 there. f = x^x,
    # f' = f (1 + ln x), f'' = f ((1 + ln x)^2 + 1/x), the third (1 + ln x)^3 + 3 (1 + ln x)/x
    # - 1/x^2 times f: 1 + 3 - 1 = 3 at x = 1.
    ("y = x ^ x", ["x"], 3, {"x": 1.0}, [3.0]),
]


@pytest.mark.parametrize(("source", "wrt", "order", "point", "expected"), EXPONENT_AT_ZERO,
                         ids=["x^p H at p=0", "(x+1)^x order 2 at 0", "(x+1)^x order 3 at 0", "x^x order 3 at 1"])
def test_higher_derivatives_of_a_power_whose_exponent_passes_through_zero(source, wrt, order, point, expected):
    got = derivatives(cgraph.parse(source), point, wrt, order)
    assert all(close(g, e, 1e-12) for g, e in zip(got, expected)), (got, expected)


# --- the size bound: first order <= 3n ---------------------------------------------------------


# What a pow with an exponent that is not a constant costs beyond 3 nodes a node: its
# conventions where a == 0 or b == 0 (README, "Derivatives as graphs") are selects on
# conditions, about 20 nodes, all folded away for a constant exponent such as x^2.
VARIABLE_POW = 20


def assert_within_three_n(graph: cgraph.Graph) -> None:
    """At most 3n nodes, plus the gradient's own constants (1, -1, 0.5: the same few for
    any n, which weigh on a program of two or three nodes) and VARIABLE_POW a pow with an
    exponent that is not a constant."""
    n = len(graph)
    derivative = grad(graph)
    constants = sum(1 for i in range(len(derivative)) if derivative.is_literal(i))
    pows = sum(1 for i in range(n) if graph.ops[i] == "pow" and not graph.is_literal(graph.args[i][1]))
    assert len(derivative) <= 3 * n + constants + VARIABLE_POW * pows, (len(derivative), n, constants, pows)


def one_op_program(name: str) -> str:
    """`y = op(a, b, ...)` in the op's own notation (three arguments for sum and mean)."""
    op = ops.OPS[name]
    args = ["a", "b", "c"][: op.arity or 3]
    if op.notation == ops.INFIX:
        return f"y = a {op.symbol} b"
    if op.notation == ops.PREFIX:
        return f"y = {op.symbol}a"
    return f"y = {op.symbol}({', '.join(args)})"


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_ops_first_order_gradient_graph_has_at_most_3n_nodes(name):
    """The bound, program by program, starts with each op alone: its rule's nodes, the
    contributions and the sums must fit in 3 * (its arguments + 1)."""
    assert_within_three_n(cgraph.parse(one_op_program(name)))


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_the_samples_first_order_gradient_graphs_have_at_most_3n_nodes(name):
    assert_within_three_n(cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg"))


@given(programs())
def test_generated_programs_first_order_gradient_graphs_have_at_most_3n_nodes(source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(graph.inputs)
    assert_within_three_n(graph)


# --- deep programs: loops, never recursion -------------------------------------------------------


def chain(steps: int) -> cgraph.Graph:
    """h[t] = h[t-1] + 0.01 tanh(w h[t-1]): four operations per step on one long path, whose
    derivatives neither vanish nor overflow over thousands of steps."""
    return cgraph.parse(f"input x = 0.5\nparam w = 0.9\nh[0] = x\n"
                        f"for t in 1..{steps} {{ h[t] = h[t-1] + 0.01 * tanh(w * h[t-1]) }}", max_nodes=1_000_000)


def test_the_gradient_graph_of_a_100000_node_chain():
    graph = chain(25_000)
    assert len(graph) >= 100_000
    derivative = grad(graph)
    assert len(derivative) <= 3 * len(graph)
    values = cgraph.forward(derivative, {})
    expected = cgraph.evaluate(graph).gradients
    for name, node in zip(graph.inputs, derivative.outputs):
        assert close(values[node], expected[name], 1e-12), name


def test_the_second_derivative_of_a_1000_node_chain():
    graph = chain(250)
    derivative = grad(graph, ["x"], order=2)
    got = cgraph.forward(derivative, {})[derivative.outputs[0]]
    want = jets.taylor(graph, {}, "x", 2).derivatives()[2]
    assert close(got, want, 1e-9), (got, want)
