"""The op table (cgraph.ops.OPS), checked entry by entry.

* local derivatives == central finite differences at smooth random points;
* the NumPy versions (vector_forward / vector_local) == the scalar versions elementwise,
  including at 0, -0, inf and nan;
* IEEE edge cases of the scalar forwards == NumPy's results;
* the PyTorch conventions at kinks;
* end to end: every function of the language, differentiated through cgraph.evaluate.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

import cgraph
from cgraph.ops import FUNCTIONS, OPS

from support.numeric import central_difference

inf, nan = math.inf, math.nan

RTOL = 1e-5
ATOL = 1e-7
POINTS_PER_OP = 6


# --- helpers -------------------------------------------------------------------------


def assert_close(actual: float, expected: float, what: str = "") -> None:
    assert abs(actual - expected) <= RTOL * abs(expected) + ATOL, f"{what}: {actual!r} != {expected!r}"


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE values: nan equals nan, and the sign of a zero matters."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _uniform(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def _away_from_zero(rng: random.Random, lo: float = 0.2, hi: float = 2.5) -> float:
    return rng.choice((-1.0, 1.0)) * rng.uniform(lo, hi)


def _distinct_pair(rng: random.Random) -> tuple[float, float]:
    a = rng.uniform(-2.0, 2.0)
    return a, a + _away_from_zero(rng, 0.2, 2.0)


# Where each op is smooth, so a central difference is a fair reference. An op not listed
# (for example a new one) gets arguments in [-2, 2].
SMOOTH_ARGS = {
    "div": lambda rng: (_uniform(rng, -2, 2), _away_from_zero(rng, 0.3, 2.5)),
    "pow": lambda rng: (_uniform(rng, 0.3, 2.5), _uniform(rng, -2.5, 2.5)),
    "log": lambda rng: (_uniform(rng, 0.1, 5.0),),
    "sqrt": lambda rng: (_uniform(rng, 0.1, 5.0),),
    "tan": lambda rng: (_uniform(rng, -1.3, 1.3),),
    "relu": lambda rng: (_away_from_zero(rng),),
    "abs": lambda rng: (_away_from_zero(rng),),
    "max": _distinct_pair,
    "min": _distinct_pair,
}


def smooth_points(name: str) -> list[tuple[float, ...]]:
    """Seeded smooth points for op `name`; a variadic op gets 1 to 5 arguments."""
    op = OPS[name]
    rng = random.Random(f"smooth-{name}")
    points = []
    for i in range(POINTS_PER_OP):
        if name in SMOOTH_ARGS:
            points.append(tuple(SMOOTH_ARGS[name](rng)))
        else:
            n = op.arity if op.arity is not None else 1 + i % 5
            points.append(tuple(rng.uniform(-2.0, 2.0) for _ in range(n)))
    return points


def as_array(value, shape) -> np.ndarray:
    """A vector_local entry may be a scalar (add's 1.0): broadcast it to the batch."""
    return np.broadcast_to(np.asarray(value, dtype=float), shape)


# --- the table itself ----------------------------------------------------------------


def test_every_op_is_well_formed():
    for name, op in OPS.items():
        assert op.name == name
        assert op.arity is None or op.arity >= 1
        expected = op.arity if op.arity is not None else 1  # variadic ops have one formula
        assert len(op.formulas) == expected, name


def test_every_language_function_is_in_the_table():
    language = {"exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs",
                "pow", "max", "min", "sum", "mean"}
    assert language <= set(FUNCTIONS)
    for symbol_op in ("add", "sub", "mul", "div", "pow", "neg"):
        assert symbol_op in OPS


# --- local derivatives vs central differences ---------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
def test_local_derivatives_match_central_differences(name):
    op = OPS[name]
    for args in smooth_points(name):
        args = list(args)
        out = op.forward(*args)
        local = op.local(out, *args)
        assert len(local) == len(args), f"{name}{tuple(args)}: one derivative per argument"
        for k in range(len(args)):
            fd = central_difference(op.forward, args, k)
            assert_close(local[k], fd, f"d {name}{tuple(args)} / d arg{k}")


# --- NumPy versions vs scalar versions ----------------------------------------------

SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, inf, -inf, nan, 710.0, -710.0, 1e-300, 1e300, 5e-324, -1e-310]


def vector_rows(name: str) -> list[tuple[float, ...]]:
    """Smooth random points, generic random points and every combination of specials."""
    op = OPS[name]
    rng = random.Random(f"vector-{name}")
    n = op.arity if op.arity is not None else 3
    rows = [p for p in smooth_points(name) if len(p) == n]
    rows += [tuple(rng.uniform(-5.0, 5.0) for _ in range(n)) for _ in range(50)]
    if n <= 2:
        rows += list(itertools.product(SPECIALS, repeat=n))
    else:
        rows += [tuple(rng.choice(SPECIALS) for _ in range(n)) for _ in range(200)]
    return rows


@pytest.mark.parametrize("name", sorted(OPS))
def test_vector_versions_equal_scalar_versions(name):
    op = OPS[name]
    rows = vector_rows(name)
    columns = [np.array(col, dtype=float) for col in zip(*rows)]
    with np.errstate(all="ignore"):
        vec_out = as_array(op.vector_forward(*columns), (len(rows),))
        vec_local = [as_array(d, (len(rows),)) for d in op.vector_local(vec_out, *columns)]
    scalar_out = np.array([op.forward(*row) for row in rows], dtype=float)
    scalar_local = np.array([op.local(op.forward(*row), *row) for row in rows], dtype=float)

    np.testing.assert_allclose(vec_out, scalar_out, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{name} forward")
    assert_same_zero_signs(vec_out, scalar_out, rows, f"{name} forward")
    assert len(vec_local) == len(columns)
    for k, d in enumerate(vec_local):
        np.testing.assert_allclose(
            d, scalar_local[:, k], rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{name} local d/d arg{k}"
        )


def assert_same_zero_signs(vector, scalar, rows, what: str) -> None:
    """A zero has its sign (1/-0.0 is -inf): where both versions give 0, the same one."""
    both = (vector == 0) & (scalar == 0)
    wrong = both & (np.signbit(vector) != np.signbit(scalar))
    assert not wrong.any(), f"{what}: {[rows[i] for i in np.flatnonzero(wrong)[:5]]}"


# --- IEEE edge cases of the scalar forwards ------------------------------------------


def _np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


IEEE_CASES = [
    ("div", (1.0, 0.0), np.divide),
    ("div", (-1.0, 0.0), np.divide),
    ("div", (1.0, -0.0), np.divide),
    ("div", (-1.0, -0.0), np.divide),
    ("div", (0.0, 0.0), np.divide),
    ("div", (nan, 0.0), np.divide),
    ("div", (inf, 0.0), np.divide),
    ("div", (inf, inf), np.divide),
    ("pow", (0.0, -1.0), np.power),
    ("pow", (-0.0, -1.0), np.power),
    ("pow", (0.0, -2.0), np.power),
    ("pow", (-0.0, -2.0), np.power),
    ("pow", (0.0, -0.5), np.power),
    ("pow", (-8.0, 1.0 / 3.0), np.power),
    ("pow", (-8.0, 3.0), np.power),
    ("pow", (10.0, 400.0), np.power),
    ("pow", (-10.0, 401.0), np.power),
    ("pow", (-10.0, 400.0), np.power),
    ("pow", (2.0, -1080.0), np.power),
    ("pow", (0.0, 0.0), np.power),
    ("pow", (nan, 0.0), np.power),
    ("pow", (1.0, nan), np.power),
    ("pow", (-1.0, inf), np.power),
    ("pow", (0.5, -inf), np.power),
    ("pow", (-0.0, 3.0), np.power),
    ("pow", (inf, -1.0), np.power),
    ("exp", (1000.0,), np.exp),
    ("exp", (-1000.0,), np.exp),
    ("exp", (inf,), np.exp),
    ("exp", (-inf,), np.exp),
    ("exp", (nan,), np.exp),
    ("log", (0.0,), np.log),
    ("log", (-0.0,), np.log),
    ("log", (-1.0,), np.log),
    ("log", (inf,), np.log),
    ("log", (-inf,), np.log),
    ("log", (nan,), np.log),
    ("sqrt", (-1.0,), np.sqrt),
    ("sqrt", (-0.0,), np.sqrt),
    ("sqrt", (inf,), np.sqrt),
    ("sqrt", (-inf,), np.sqrt),
    ("sin", (inf,), np.sin),
    ("sin", (-inf,), np.sin),
    ("cos", (inf,), np.cos),
    ("tan", (inf,), np.tan),
    ("sin", (nan,), np.sin),
    ("tanh", (inf,), np.tanh),
    ("tanh", (-inf,), np.tanh),
    ("sigmoid", (inf,), _np_sigmoid),
    ("sigmoid", (-inf,), _np_sigmoid),
    ("sigmoid", (-1000.0,), _np_sigmoid),
    ("sigmoid", (1000.0,), _np_sigmoid),
    ("sigmoid", (nan,), _np_sigmoid),
    ("mul", (inf, 0.0), np.multiply),
    ("mul", (1e308, 10.0), np.multiply),
    ("mul", (-1e308, 10.0), np.multiply),
    ("add", (inf, -inf), np.add),
    ("add", (1e308, 1e308), np.add),
    ("sub", (inf, inf), np.subtract),
    ("neg", (0.0,), np.negative),
    ("neg", (nan,), np.negative),
    ("abs", (-inf,), np.abs),
    ("abs", (-0.0,), np.abs),
    ("relu", (-inf,), lambda a: np.maximum(a, 0.0)),
    ("relu", (inf,), lambda a: np.maximum(a, 0.0)),
    ("relu", (nan,), lambda a: np.maximum(a, 0.0)),
    ("max", (nan, 1.0), np.maximum),
    ("max", (1.0, nan), np.maximum),
    ("min", (nan, 1.0), np.minimum),
    ("min", (-inf, inf), np.minimum),
    ("sum", (inf, -inf), lambda *xs: np.sum(xs)),
    ("mean", (inf, -inf, 1.0), lambda *xs: np.mean(xs)),
    ("mean", (1e308, 1e308), lambda *xs: np.mean(xs)),  # the sum overflows first, as in NumPy
]


@pytest.mark.parametrize(("name", "args", "reference"), IEEE_CASES, ids=[f"{c[0]}{c[1]}" for c in IEEE_CASES])
def test_scalar_forward_ieee_edge_cases_match_numpy(name, args, reference):
    with np.errstate(all="ignore"):
        expected = reference(*[np.float64(a) for a in args])
    actual = OPS[name].forward(*args)  # must not raise
    assert isinstance(actual, float)
    assert same_float(actual, expected), f"{name}{args}: {actual!r}, numpy gives {expected!r}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_scalar_versions_never_raise(name):
    op = OPS[name]
    n = op.arity if op.arity is not None else 2
    for args in itertools.product(SPECIALS, repeat=n):
        out = op.forward(*args)
        local = op.local(out, *args)
        assert all(isinstance(float(d), float) for d in local)


# --- kinks: PyTorch's conventions ------------------------------------------------------


@pytest.mark.parametrize("zero", [0.0, -0.0])
def test_relu_and_abs_have_zero_derivative_at_zero(zero):
    for name in ("relu", "abs"):
        op = OPS[name]
        assert op.local(op.forward(zero), zero) == (0.0,), name
        with np.errstate(all="ignore"):
            a = np.array([zero])
            (d,) = op.vector_local(op.vector_forward(a), a)
        assert as_array(d, (1,))[0] == 0.0, name


def test_tanh_and_sigmoid_derivatives_are_absolutely_exact_to_2e_16():
    # As the README says: from the output (1 - out^2, out*(1 - out)), so the error is
    # absolute; the exact values below are e = exp(-|x|) formulas, without cancellation.
    for k in range(-400, 401):
        x = k / 10
        e2 = math.exp(-2 * abs(x))
        assert abs(OPS["tanh"].local(math.tanh(x), x)[0] - 4 * e2 / (1 + e2) ** 2) <= 2.3e-16, x
        e = math.exp(-abs(x))
        assert abs(OPS["sigmoid"].local(OPS["sigmoid"].forward(x), x)[0] - e / (1 + e) ** 2) <= 2.3e-16, x
    assert OPS["tanh"].local(math.tanh(20.0), 20.0) == (0.0,)  # 1.7e-17 exactly: below the error
    assert OPS["sigmoid"].local(OPS["sigmoid"].forward(40.0), 40.0) == (0.0,)


def test_relu_and_abs_derivatives_away_from_zero():
    assert OPS["relu"].local(2.0, 2.0) == (1.0,)
    assert OPS["relu"].local(0.0, -2.0) == (0.0,)
    assert OPS["abs"].local(2.0, 2.0) == (1.0,)
    assert OPS["abs"].local(2.0, -2.0) == (-1.0,)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("tie", [0.0, 1.5, -3.0])
def test_max_and_min_split_a_tie_half_and_half(name, tie):
    op = OPS[name]
    assert op.forward(tie, tie) == tie
    assert tuple(op.local(tie, tie, tie)) == (0.5, 0.5)
    a = np.array([tie])
    da, db = op.vector_local(op.vector_forward(a, a), a, a)
    assert (as_array(da, (1,))[0], as_array(db, (1,))[0]) == (0.5, 0.5)


def test_max_and_min_send_the_whole_gradient_to_the_winner():
    assert tuple(OPS["max"].local(3.0, 3.0, 1.0)) == (1.0, 0.0)
    assert tuple(OPS["max"].local(3.0, 1.0, 3.0)) == (0.0, 1.0)
    assert tuple(OPS["min"].local(1.0, 3.0, 1.0)) == (0.0, 1.0)
    assert tuple(OPS["min"].local(1.0, 1.0, 3.0)) == (1.0, 0.0)


# --- end to end: each function of the language through cgraph.evaluate ---------------


def evaluate_value(graph, inputs: dict[str, float]) -> float:
    return cgraph.evaluate(graph, inputs).value


def assert_gradients_match_central_differences(source: str, inputs: dict[str, float]) -> None:
    graph = cgraph.parse(source)
    result = cgraph.evaluate(graph, inputs)
    assert set(result.gradients) == set(inputs)
    names = list(inputs)
    for k, name in enumerate(names):
        def f(*values):
            return evaluate_value(graph, dict(zip(names, values)))

        fd = central_difference(f, [inputs[n] for n in names], k)
        assert_close(result.gradients[name], fd, f"{source!r}: d/d{name}")


END_TO_END = [
    ("y = x + z", {"x": 0.7, "z": -1.3}),
    ("y = x - z", {"x": 0.7, "z": -1.3}),
    ("y = x * z", {"x": 0.7, "z": -1.3}),
    ("y = x / z", {"x": 0.7, "z": -1.3}),
    ("y = x ^ z", {"x": 1.7, "z": -1.3}),
    ("y = x ** z", {"x": 1.7, "z": 0.6}),
    ("y = -x", {"x": 0.7}),
    ("y = +x", {"x": 0.7}),
    ("y = exp(x)", {"x": 0.7}),
    ("y = log(x)", {"x": 0.7}),
    ("y = sqrt(x)", {"x": 0.7}),
    ("y = sin(x)", {"x": 0.7}),
    ("y = cos(x)", {"x": 0.7}),
    ("y = tan(x)", {"x": 0.7}),
    ("y = tanh(x)", {"x": 0.7}),
    ("y = sigmoid(x)", {"x": 0.7}),
    ("y = relu(x)", {"x": 0.7}),
    ("y = relu(x)", {"x": -0.7}),
    ("y = abs(x)", {"x": 0.7}),
    ("y = abs(x)", {"x": -0.7}),
    ("y = pow(x, z)", {"x": 1.7, "z": 2.3}),
    ("y = max(x, z)", {"x": 0.7, "z": -1.3}),
    ("y = max(x, z)", {"x": -0.7, "z": 1.3}),
    ("y = min(x, z)", {"x": 0.7, "z": -1.3}),
    ("y = min(x, z)", {"x": -0.7, "z": 1.3}),
    ("y = step(x) * x", {"x": 0.7}),
    ("y = step(x) * x", {"x": -0.7}),
    ("y = sign(x) * x^2", {"x": -0.7}),
    ("y = eq(x, z) + x", {"x": 0.7, "z": -1.3}),
    ("y = zero_if(x, x * z)", {"x": -0.7, "z": 1.3}),
    ("y = zero_if(x, x * z)", {"x": 0.7, "z": 1.3}),
    ("y = above(x, z) * x * z", {"x": 0.5, "z": 1.3}),
    ("y = above(x, z) * x * z", {"x": 1.5, "z": 1.3}),
    ("y = one_if(x - 1, x * z)", {"x": 0.5, "z": 1.3}),
    ("y = one_if(x - 1, x * z)", {"x": 1.5, "z": 1.3}),
    ("y = sum(x)", {"x": 0.7}),
    ("y = sum(x, z, x*z, 2)", {"x": 0.7, "z": -1.3}),
    ("y = mean(x)", {"x": 0.7}),
    ("y = mean(x, z, x*z, 2)", {"x": 0.7, "z": -1.3}),
    ("y = sum(w[i]*x[i] for i in 1..3)", {"w[1]": 0.3, "w[2]": -1.1, "w[3]": 2.0, "x[1]": 1.5, "x[2]": 0.2, "x[3]": -0.9}),
    ("y = mean(w[i]*x[i] for i in 1..3)", {"w[1]": 0.3, "w[2]": -1.1, "w[3]": 2.0, "x[1]": 1.5, "x[2]": 0.2, "x[3]": -0.9}),
]


@pytest.mark.parametrize(("source", "inputs"), END_TO_END, ids=[c[0] + repr(c[1]) for c in END_TO_END])
def test_language_function_gradient_matches_central_difference(source, inputs):
    assert_gradients_match_central_differences(source, inputs)


def test_end_to_end_cases_cover_every_language_function():
    used = set()
    for source, _ in END_TO_END:
        used |= {name for name in FUNCTIONS if f"{name}(" in source}
    assert used == set(FUNCTIONS)
