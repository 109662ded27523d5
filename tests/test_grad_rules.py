"""Each op's graph rule (`Op.rule`) against its float local derivatives, bit for bit.

A rule writes d out/d arg as nodes of the graph; evaluated by cgraph's evaluator, those
nodes must give exactly what `Op.local` gives: at smooth points, at the kinks (relu and
abs at 0, max/min ties), for zero and negative bases of pow, and for inf and nan (nan
equals nan; the sign of a zero counts). Every op of the table is enumerated, so a new op
is covered without a new test. The ops that say where the kinks are (step, sign, eq,
zero_if) are checked here by hand too; tests/test_op_table.py's generic checks (parse,
evaluate, batch, draw, explain, gradient check) cover them as every op.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

import cgraph
from cgraph import ops
from cgraph.batch import Plan
from cgraph.errors import Source
from cgraph.ir.tape import RuleWriter, Span, TapeWriter

inf, nan = math.inf, math.nan

# Kinks (0, -0, ties), pow's zero and negative bases and integer/fractional exponents,
# overflow (710), underflow (1e-300), subnormals (whose reciprocal is inf), and the non-finite values.
SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.5, 3.0, 0.7, inf, -inf, nan, 710.0, -710.0, 1e-300, 1e300,
            5e-324, -1e-310]


def same_float(a: float, b: float) -> bool:
    """Equal as IEEE values: nan equals nan, and the sign of a zero matters."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def close_float(a: float, b: float) -> bool:
    """As the batch-vs-scalar tests of tests/test_ops.py: NumPy's pow, exp, ... may differ
    from `math`'s in the last bit, so 1e-12 relative; inf and nan exactly."""
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return same_float(a, b)
    return abs(a - b) <= 1e-12 * abs(b)


def points(op: ops.Op) -> list[tuple[float, ...]]:
    """Every pair (or single) of specials, and seeded random ones; variadic: 1 to 4 args."""
    rng = random.Random(f"rules-{op.name}")
    if op.arity is None:
        return [tuple(rng.choice(SPECIALS + [rng.uniform(-3, 3)]) for _ in range(1 + i % 4)) for i in range(300)]
    rows = list(itertools.product(SPECIALS, repeat=op.arity))
    rows += [tuple(rng.uniform(-3.0, 3.0) for _ in range(op.arity)) for _ in range(50)]
    return rows


class Recorder:
    """A NodeWriter that only remembers what it was asked to write."""

    def __init__(self, leaves: int):
        self.size = leaves
        self.ops: list[str] = []

    def const(self, value: float) -> int:
        self.size += 1
        return self.size - 1

    def op(self, name: str, *args: int) -> int:
        assert all(0 <= a < self.size for a in args), (name, args)
        self.ops.append(name)
        self.size += 1
        return self.size - 1


def rule_graph(op: ops.Op, n: int) -> tuple[cgraph.Graph, int, tuple[int, ...]]:
    """Inputs x0..x(n-1), `y = op(x0, ...)`, then the nodes of op's rule: the graph, y's
    node and the rule's nodes."""
    tape = TapeWriter(Source("", "rule"), 10_000)
    leaves = [tape.leaf(ops.INPUT, f"x{k}", Span(), None) for k in range(n)]
    w = RuleWriter(tape)
    out = w.op(op.name, *leaves)
    assert op.rule is not None
    # None: the argument moves nothing, its local derivative is the constant 0.
    derivatives = tuple(tape.own_constant(w.const(0.0), 0, Span(), tape.root) if d is None else d
                        for d in op.rule(w, out, *leaves))
    for k, d in enumerate(derivatives):
        tape.name(d, f"d{k}")  # for Plan(output=...)
    return tape.finish(out, "y"), out, derivatives


def check_rows(op: ops.Op, rows: list[tuple[float, ...]]) -> None:
    by_arity: dict[int, tuple[cgraph.Graph, int, tuple[int, ...]]] = {}
    for row in rows:
        if len(row) not in by_arity:
            by_arity[len(row)] = rule_graph(op, len(row))
        graph, out, derivatives = by_arity[len(row)]
        values = cgraph.evaluate(graph, {f"x{k}": v for k, v in enumerate(row)}).values
        expected_out = op.forward(*row)
        expected = op.local(expected_out, *row)
        assert same_float(values[out], expected_out), (op.name, row)
        got = [values[i] for i in derivatives]
        assert all(same_float(g, e) for g, e in zip(got, expected)), f"{op.name}{row}: rule {got}, local {expected}"


# --- every op of the table -----------------------------------------------------------------


def test_every_op_has_a_rule():
    assert [name for name, op in ops.OPS.items() if op.rule is None] == []


@pytest.mark.parametrize("name", list(ops.OPS))
def test_a_rule_writes_one_node_per_argument_with_ops_of_the_table_only(name):
    op = ops.OPS[name]
    for n in ([op.arity] if op.arity is not None else [1, 2, 5]):
        w = Recorder(n + 1)  # the arguments, then the op's own node
        assert op.rule is not None
        derivatives = op.rule(w, n, *range(n))
        assert len(derivatives) == n
        assert all(d is None or 0 <= d < w.size for d in derivatives)
        assert set(w.ops) <= set(ops.OPS), set(w.ops) - set(ops.OPS)


@pytest.mark.parametrize("name", list(ops.OPS))
def test_the_rule_evaluates_to_the_float_local_derivatives_bit_for_bit(name):
    op = ops.OPS[name]
    check_rows(op, points(op))


@pytest.mark.parametrize("name", list(ops.OPS))
def test_the_rule_nodes_batch_to_the_same_values(name):
    """The NumPy versions of the ops a rule writes agree with the float rule too (to the
    last bits NumPy's functions differ from `math`'s in)."""
    op = ops.OPS[name]
    rows = [p for p in points(op) if op.arity is not None or len(p) == 3]
    graph, out, derivatives = rule_graph(op, len(rows[0]))
    names = [f"x{k}" for k in range(len(rows[0]))]
    columns = [np.array(col, dtype=float) for col in zip(*rows)]
    expected = [op.local(op.forward(*row), *row) for row in rows]
    for k in range(len(derivatives)):
        plan = Plan(graph, names, output=f"d{k}")
        with np.errstate(all="ignore"):
            got = np.broadcast_to(plan.run(plan.bind({}), columns).value, (len(rows),))
        for r, row in enumerate(rows):
            assert close_float(got[r], expected[r][k]), f"d {name}{row} / d arg{k}: batch {got[r]}, local {expected[r][k]}"


# --- the kink conventions, spelled out -----------------------------------------------------


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("relu", (0.0,), (0.0,)), ("relu", (-0.0,), (0.0,)), ("relu", (nan,), (0.0,)), ("relu", (inf,), (1.0,)),
    ("abs", (0.0,), (0.0,)), ("abs", (-0.0,), (0.0,)), ("abs", (-inf,), (-1.0,)), ("abs", (nan,), (nan,)),
    ("max", (2.0, 2.0), (0.5, 0.5)), ("max", (inf, inf), (0.5, 0.5)), ("max", (-inf, -inf), (0.5, 0.5)),
    ("max", (0.0, -0.0), (0.5, 0.5)), ("max", (inf, -inf), (1.0, 0.0)), ("max", (nan, 1.0), (0.0, 0.0)),
    ("min", (2.0, 2.0), (0.5, 0.5)), ("min", (-inf, 3.0), (1.0, 0.0)), ("min", (1e-300, 0.0), (0.0, 1.0)),
    ("pow", (0.0, 2.0), (0.0, 0.0)), ("pow", (0.0, 0.0), (0.0, 0.0)), ("pow", (0.0, -1.0), (-inf, -inf)),
    ("pow", (-2.0, 3.0), (12.0, nan)), ("pow", (2.0, 0.0), (0.0, math.log(2.0))), ("pow", (0.0, nan), (nan, nan)),
    # b = 0 and a subnormal: b*a^(b-1) would be 0 * inf (1/5e-324 overflows); d/da is 0, as PyTorch's
    ("pow", (5e-324, 0.0), (0.0, math.log(5e-324))), ("pow", (-1e-310, 0.0), (0.0, nan)),
    ("pow", (-1e-310, -0.0), (0.0, nan)), ("pow", (1e-310, 1.0), (1.0, 1e-310 * math.log(1e-310))),
])
def test_the_rules_keep_the_kink_conventions(name, args, expected):
    op = ops.OPS[name]
    graph, out, derivatives = rule_graph(op, len(args))
    values = cgraph.evaluate(graph, {f"x{k}": v for k, v in enumerate(args)}).values
    got = [values[i] for i in derivatives]
    assert all(same_float(g, e) for g, e in zip(got, expected)), (got, expected)
    check_rows(op, [args])


# --- the ops that say where the kinks are --------------------------------------------------


@pytest.mark.parametrize(("name", "args", "expected"), [
    ("step", (2.5,), 1.0), ("step", (1e-300,), 1.0), ("step", (0.0,), 0.0), ("step", (-0.0,), 0.0),
    ("step", (-3.0,), 0.0), ("step", (inf,), 1.0), ("step", (-inf,), 0.0), ("step", (nan,), 0.0),
    ("sign", (2.5,), 1.0), ("sign", (-1e-300,), -1.0), ("sign", (0.0,), 0.0), ("sign", (-0.0,), 0.0),
    ("sign", (-inf,), -1.0), ("sign", (nan,), nan),
    ("eq", (1.5, 1.5), 1.0), ("eq", (0.0, -0.0), 1.0), ("eq", (inf, inf), 1.0), ("eq", (1.0, 2.0), 0.0),
    ("eq", (nan, nan), 0.0),
    ("zero_if", (1.0, 7.0), 0.0), ("zero_if", (1.0, inf), 0.0), ("zero_if", (1.0, nan), 0.0),
    ("zero_if", (0.0, 7.0), 7.0), ("zero_if", (-2.0, -inf), -inf), ("zero_if", (nan, 7.0), 7.0),
])
def test_the_kink_ops_forward_values(name, args, expected):
    op = ops.OPS[name]
    assert same_float(op.forward(*args), expected)
    with np.errstate(all="ignore"):
        vector = op.vector_forward(*[np.array([a]) for a in args])
    assert same_float(np.broadcast_to(vector, (1,))[0], expected)
    assert op.local(op.forward(*args), *args) == ((0.0,) * len(args) if name != "zero_if" else (0.0, 0.0 if args[0] > 0 else 1.0))


@pytest.mark.parametrize(("program", "inputs", "value"), [
    ("y = step(x) * x", {"x": 2.0}, 2.0),
    ("y = step(x) * x", {"x": -2.0}, -0.0),
    ("y = sign(x) + 1", {"x": -4.0}, 0.0),
    ("y = eq(x, 3)", {"x": 3.0}, 1.0),
    ("y = zero_if(x - 1, x^2)", {"x": 0.5}, 0.25),
    ("y = zero_if(x - 1, x^2)", {"x": 1.5}, 0.0),
])
def test_the_kink_ops_are_functions_of_the_language(program, inputs, value):
    ev = cgraph.evaluate(cgraph.parse(f"input x\n{program}\noutput y"), inputs)
    assert same_float(ev.value, value)
