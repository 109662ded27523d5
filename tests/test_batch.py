"""The vectorized evaluator (cgraph.batch) against the scalar one.

The property: row i of a batch equals cgraph.evaluate on row i (values and every gradient,
within 1e-12 relative), for the samples, for every op, and for generated programs; the
"sum" mode's gradients of row-shared leaves are the sums over the rows.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cgraph
from cgraph.engine.batch import CHUNK_BUDGET_BYTES, MAX_CHUNK_ROWS, MIN_CHUNK_ROWS, Plan
from cgraph.ops import FUNCTIONS

from support.paths import SAMPLES


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    """Within `rel`; inf and nan exactly, and a zero with its sign (-0.0 is printed so)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    if a == 0 and b == 0:
        return math.copysign(1.0, a) == math.copysign(1.0, b)
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def check_rows_equal_scalar(graph: cgraph.Graph, columns: dict[str, np.ndarray], given=None, output=None, rows=None):
    """Every row (or the chosen ones) of a batch == the scalar evaluation of that row."""
    names = list(columns)
    plan = Plan(graph, names, output=output)
    base = plan.bind(given or {})
    result = plan.run(base, [columns[n] for n in names])
    n = len(next(iter(columns.values())))
    for i in rows if rows is not None else range(n):
        point = {**(given or {}), **{name: float(col[i]) for name, col in columns.items()}}
        ev = cgraph.evaluate(graph, point, output=output)
        assert close(float(result.value[i]), ev.value), (i, result.value[i], ev.value)
        for name, g in ev.gradients.items():
            assert close(float(result.grads[name][i]), g), (i, name, result.grads[name][i], g)
    return result


def random_columns(graph: cgraph.Graph, names, n: int, seed: int = 0, low=-2.0, high=2.0):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(low, high, n) for name in names}


# --- the samples ---------------------------------------------------------------------


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.cg")))
def test_sample_rows_equal_scalar_evaluation(sample):
    graph = cgraph.load(SAMPLES / sample)
    inputs = [n for n, i in graph.inputs.items() if graph.ops[i] == "input"]
    check_rows_equal_scalar(graph, random_columns(graph, inputs, 40, seed=len(sample)))


def test_some_inputs_batched_others_given_once():
    graph = cgraph.load(SAMPLES / "intro.cg")
    result = check_rows_equal_scalar(graph, {"x": np.array([1.0, 2.0, -1.0])}, given={"y": 3.0, "z": -3.0})
    assert result.grads["z"].tolist() == [4.0, 5.0, 2.0]  # per row, though z is row-shared


def test_every_op_batched_equals_scalar():
    # Every function and operator, each with batched arguments (and a shared one).
    parts = []
    for name, op in sorted(FUNCTIONS.items()):
        if op.arity == 1:
            parts.append(f"{name}(x*0.7 + 0.1)")
        elif op.arity == 2:
            parts.append(f"{name}(x, y)")
            parts.append(f"{name}(w, x)")
        else:
            parts.append(f"{name}(x, y, w)")
    text = "param w = 0.3\n" + "\n".join(f"t{k} = {p}" for k, p in enumerate(parts))
    text += "\nout = " + " + ".join(f"t{k}" for k in range(len(parts))) + " + x/y - x^2 + (-y)\n"
    graph = cgraph.parse(text)
    check_rows_equal_scalar(graph, random_columns(graph, ["x", "y"], 200, seed=7, low=0.05, high=2.0))


def test_specials_inf_nan_and_kinks_equal_scalar():
    graph = cgraph.parse("a = relu(x) * abs(y) + max(x, y) - min(x, 0)\nb = log(x) + sqrt(y) + 1/x\nout = a + b*0 + exp(y)")
    specials = [0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan, 710.0, -710.0]
    xs, ys = zip(*[(a, b) for a in specials for b in specials])
    check_rows_equal_scalar(graph, {"x": np.array(xs), "y": np.array(ys)})


def test_signed_zeros_equal_scalar():
    # -0.0 is a value of its own (1/-0.0 is -inf): a gradient that is one -0.0 contribution
    # (d(x*y)/dx at y = -0.0) stays -0.0, and max/min keep their first argument on a tie
    # of 0.0 and -0.0, in a batch as alone (and as PyTorch).
    graph = cgraph.parse("a = x * y\nb = 1/max(x, y) + 1/min(y, x)\nout = a + cos(x) * 0 + b")
    zeros = [0.0, -0.0, 1.0, -1.0]
    xs, ys = zip(*[(a, b) for a in zeros for b in zeros])
    check_rows_equal_scalar(graph, {"x": np.array(xs), "y": np.array(ys)})
    point = cgraph.evaluate(graph, {"x": 2.0, "y": -0.0}, output="a")
    assert math.copysign(1.0, point.gradients["x"]) == -1.0 and point.gradients["y"] == 2.0
    tie = cgraph.evaluate(cgraph.parse("m = max(x, y); n = min(x, y); output m, n"), {"x": -0.0, "y": 0.0})
    assert [math.copysign(1.0, v) for v in tie.outputs.values()] == [-1.0, -1.0]


@pytest.mark.parametrize("flat", [False, True])
def test_a_lone_negative_zero_contribution_stays_negative_and_unused_inputs_get_zero(monkeypatch, flat):
    # Both layouts of the scalar backward pass (lists; arrays of doubles for large scattered
    # graphs): x's one contribution is y = -0.0, z is not on the output's path.
    from cgraph.engine import evaluator
    if flat:
        monkeypatch.setattr(evaluator, "_FLAT_FROM", 0)
        monkeypatch.setattr(evaluator, "_scattered", lambda graph: True)
    graph = cgraph.parse("p = x * y\nq = z + 1\nout = p * 2\noutput out")
    grads = cgraph.evaluate(graph, {"x": 3.0, "y": -0.0, "z": 1.0}).gradients
    assert [math.copysign(1.0, grads[k]) for k in ("x", "y", "z")] == [-1.0, 1.0, 1.0]
    assert grads == {"x": 0.0, "y": 6.0, "z": 0.0}


def test_a_shared_value_used_twice_accumulates():
    # micrograd#64: a = x; b = a + a; c = b + b; and x * x
    graph = cgraph.parse("a = x\nb = a + a\nc = b + b\nd = c + x*x\nout = d * w")
    result = check_rows_equal_scalar(graph, {"x": np.array([1.0, -2.0, 0.5])}, given={"w": 2.0})
    assert result.grads["x"].tolist() == [2 * (4 + 2 * 1.0), 2 * (4 - 4.0), 2 * (4 + 1.0)]


def test_gradients_are_arrays_of_their_own():
    # d(w*x)/dw is the column x itself, and d(a + b)/da the same array as d(a + b)/db.
    graph = cgraph.parse("param w = 1\nout = w*x + (x + y)")
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    plan = Plan(graph, ["x", "y"])
    result = plan.run(plan.bind({}), [x, y])
    assert result.grads["w"].tolist() == [1.0, 2.0]
    result.grads["w"][:] = 0.0
    result.grads["y"][:] = 7.0
    assert x.tolist() == [1.0, 2.0] and result.grads["x"].tolist() == [2.0, 2.0]


def test_only_row_shared_nodes_and_an_output_that_is_a_leaf():
    graph = cgraph.parse("param w = 2\ns = w * w\nout = s + x*0")
    check_rows_equal_scalar(graph, {"x": np.arange(3.0)})
    leaf = cgraph.parse("input x\noutput x")
    result = check_rows_equal_scalar(leaf, {"x": np.arange(4.0)})
    assert result.grads["x"].tolist() == [1.0] * 4
    shared = cgraph.parse("param w = 3\ny = w * w + 0*x\noutput y")
    plan = Plan(shared, [], output="y")
    result = plan.run(plan.bind({"x": 1.0}), [], n=5)
    assert result.value.tolist() == [9.0] * 5
    assert result.grads["w"].tolist() == [6.0] * 5


def test_an_input_the_output_does_not_use_gets_gradient_zero():
    graph = cgraph.parse("p = x * 2\nq = y + 1\noutput p")
    result = check_rows_equal_scalar(graph, {"x": np.ones(3), "y": np.ones(3)}, output="p")
    assert result.grads["y"].tolist() == [0.0, 0.0, 0.0]
    assert Plan(graph, ["x", "y"], output="p").uses("y") is False


def test_another_output_node():
    graph = cgraph.load(SAMPLES / "mlp.cg")
    check_rows_equal_scalar(graph, random_columns(graph, ["x[1]", "x[2]"], 10), output="h[2]")


def test_a_thousand_node_generated_graph():
    rng = random.Random(3)
    lines, pool = [], ["x", "y", "w"]
    for k in range(500):
        a, b = rng.choice(pool), pool[-1]
        form = rng.choice(["tanh({a}*w + {b})", "{a} * {b}", "sigmoid({a} - {b})", "{a}*0.5 + {b}"])
        lines.append(f"h{k} = " + form.format(a=a, b=b))
        pool.append(f"h{k}")
    graph = cgraph.parse("param w = 0.7\n" + "\n".join(lines))
    assert len(graph) > 1000
    check_rows_equal_scalar(graph, random_columns(graph, ["x", "y"], 500, seed=1), rows=[0, 1, 250, 499])


# --- generated programs (hypothesis) ----------------------------------------------------

_UNARY = ["tanh", "sigmoid", "sin", "exp", "relu", "abs", "-"]
_BINARY = ["+", "-", "*", "max", "min"]


@st.composite
def programs(draw):
    """A random straight-line program over inputs x, y and param w, 1-12 statements."""
    pool = ["x", "y", "w"]
    lines = []
    for k in range(draw(st.integers(1, 12))):
        a = draw(st.sampled_from(pool))
        b = draw(st.sampled_from(pool))
        if draw(st.booleans()):
            f = draw(st.sampled_from(_UNARY))
            expr = f"-({a})" if f == "-" else f"{f}({a})"
        else:
            f = draw(st.sampled_from(_BINARY))
            expr = f"{f}({a}, {b})" if f in ("max", "min") else f"{a} {f} {b}"
        lines.append(f"v{k} = {expr}")
        pool.append(f"v{k}")
    return "param w = 0.5\n" + "\n".join(lines) + "\nout = " + pool[-1] + " + 0*x + 0*y\n"


@settings(max_examples=60, deadline=None)
@given(text=programs(), seed=st.integers(0, 2**16))
def test_batch_row_equals_scalar_evaluation(text, seed):
    graph = cgraph.parse(text)
    check_rows_equal_scalar(graph, random_columns(graph, ["x", "y"], 7, seed=seed))


@settings(max_examples=30, deadline=None)
@given(text=programs(), seed=st.integers(0, 2**16))
def test_sum_mode_sums_the_row_shared_gradients(text, seed):
    graph = cgraph.parse(text)
    cols = random_columns(graph, ["x", "y"], 9, seed=seed)
    rows = Plan(graph, ["x", "y"]).run(Plan(graph, ["x", "y"]).bind({}), [cols["x"], cols["y"]])
    plan = Plan(graph, ["x", "y"], wrt=["w", "x"], shared_grads="sum")
    summed = plan.run(plan.bind({}), [cols["x"], cols["y"]])
    assert close(summed.grads["w"], float(np.sum(rows.grads["w"])), rel=1e-10)
    assert np.allclose(summed.grads["x"], rows.grads["x"], rtol=1e-12, atol=0)  # batched leaves stay per row


def test_sum_mode_with_a_row_shared_output_counts_every_row():
    graph = cgraph.parse("param w = 3\ny = w * w + 0*x")
    plan = Plan(graph, ["x"], wrt=["w"], shared_grads="sum")
    result = plan.run(plan.bind({}), [np.zeros(4)])
    assert result.grads["w"] == pytest.approx(4 * 6.0)


# --- chunks, binding, errors -------------------------------------------------------------


def test_chunk_rows_is_bounded_by_the_graph_size():
    small = Plan(cgraph.parse("y = x*w"), ["x"])
    assert small.chunk_rows() == MAX_CHUNK_ROWS
    big = Plan(cgraph.parse("h0 = x\n" + "\n".join(f"h{k} = tanh(h{k - 1} + x)" for k in range(1, 8000))), ["x"])
    assert MIN_CHUNK_ROWS <= big.chunk_rows() < MAX_CHUNK_ROWS
    assert big.chunk_rows() * 8 * big.live_arrays <= CHUNK_BUDGET_BYTES
    assert big.live_arrays <= big.batched_nodes


def test_chunk_rows_for_a_known_total_are_even_and_within_the_budget():
    """With the row count known, chunks of even size, as many as a multiple of 4 (so 1, 2
    or 4 workers share them evenly), none over the budget's size; one chunk if it fits."""
    big = Plan(cgraph.parse("h0 = x\n" + "\n".join(f"h{k} = tanh(h{k - 1} * x + 0.5)" for k in range(1, 3000))), ["x"])
    budget = big.chunk_rows()
    assert big.chunk_rows(budget) == budget and big.chunk_rows(10) == budget
    for total in (budget + 1, 3 * budget - 7, 100_003, 10**6):
        rows = big.chunk_rows(total)
        count = -(-total // rows)
        assert rows <= budget and count % 4 == 0 or count < 4
        assert total - (count - 1) * rows > 0  # no empty chunk
        assert rows - (total - (count - 1) * rows) < count  # the last one is as long as the others, near enough


def test_chunks_give_the_same_rows_as_one_pass():
    graph = cgraph.load(SAMPLES / "mlp.cg")
    cols = random_columns(graph, ["x[1]", "x[2]"], 1000)
    plan = Plan(graph, list(cols))
    base = plan.bind({})
    whole = plan.run(base, list(cols.values()))
    for start in range(0, 1000, 128):
        part = plan.run(base, [c[start : start + 128] for c in cols.values()])
        assert np.array_equal(part.value, whole.value[start : start + 128])
        assert np.array_equal(part.grads["W1[2,1]"], whole.grads["W1[2,1]"][start : start + 128])


def test_bind_reports_missing_and_unknown_inputs_like_evaluate():
    graph = cgraph.load(SAMPLES / "intro.cg")
    plan = Plan(graph, ["x"])
    with pytest.raises(cgraph.InputError, match="missing values for y, z"):
        plan.bind({})
    with pytest.raises(cgraph.InputError, match="'q' is not an input"):
        plan.bind({"y": 1, "z": 2, "q": 3})
    with pytest.raises(cgraph.InputError, match="'nope' is not an input"):
        Plan(graph, ["nope"])


def test_the_first_non_finite_value_is_found_with_its_rows():
    graph = cgraph.parse("a = x + 1\nb = log(a)\nc = b * 2\nout = c + exp(x)")
    plan = Plan(graph, ["x"])
    where = plan.first_non_finite(plan.bind({}), [np.array([0.0, -3.0, 1.0, -5.0, 800.0])])
    assert graph.text_of(where.node) == "log(a)" and where.kind == "value"
    assert where.rows.tolist() == [1, 3]  # log of a negative; row 4's exp overflow comes later in the tape
    assert plan.first_non_finite(plan.bind({}), [np.array([0.0, 1.0])]) is None


def test_a_gradient_that_goes_non_finite_is_traced_to_its_local_derivative():
    graph = cgraph.parse("param w = 1\nr = sqrt(x)\nout = r * w")
    plan = Plan(graph, ["x"], wrt=["w", "x"])
    base = plan.bind({})
    result = plan.run(base, [np.array([4.0, 0.0])])
    assert math.isinf(result.grads["x"][1])
    where = plan.first_non_finite(base, [np.array([4.0, 0.0])])
    assert where.kind == "gradient" and graph.text_of(where.node) == "sqrt(x)" and where.rows.tolist() == [1]


# --- NumPy only on the batch paths ----------------------------------------------------------


def test_scalar_eval_does_not_import_numpy():
    code = (
        "import sys\nfrom cgraph.cli import run\n"
        f"code = run(['eval', {str(SAMPLES / 'intro.cg')!r}, '--x', '1', '--y', '3', '--z', '-3', '--format', 'json'])\n"
        "assert code == 0, code\n"
        "print('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"
