"""No recursion anywhere: very deep nesting and very long programs parse, evaluate and
differentiate with Python's default recursion limit. Plus a randomized check: seeded random
DAG programs using every op, gradients against central differences at smooth points.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass

import pytest

import cgraph
from cgraph.ops import KINKS, OPS

DEEP = 100_000  # what the language promises for nesting and for program length
DEEPISH = 20_000  # for the other deep shapes: still 20 times Python's recursion limit


@pytest.fixture(autouse=True)
def recursion_limit_untouched():
    """Neither the tests nor cgraph may raise the recursion limit to get through."""
    before = sys.getrecursionlimit()
    yield
    assert sys.getrecursionlimit() == before


def run(source: str, inputs: dict[str, float]) -> cgraph.Evaluation:
    return cgraph.evaluate(cgraph.parse(source), inputs)


# --- deep nesting ----------------------------------------------------------------------


def test_deeply_nested_parentheses():
    source = "(" * DEEP + "x" + ")" * DEEP
    result = run(source, {"x": 2.5})
    assert result.value == 2.5
    assert result.gradients == {"x": 1.0}
    assert result.graph.output_name == "out"


def test_deeply_nested_parentheses_inside_an_assignment():
    source = "y = 3 * " + "(" * DEEPISH + "x + 1" + ")" * DEEPISH + " - 1"
    result = run(source, {"x": 2.0})
    assert (result.value, result.gradients) == (8.0, {"x": 3.0})


def test_deep_unary_minus_chain():
    result = run("y = " + "-" * (DEEPISH - 1) + "x", {"x": 1.5})  # an odd number of minus signs
    assert (result.value, result.gradients) == (-1.5, {"x": -1.0})


def test_deep_right_associative_power_chain():
    result = run("y = x" + " ^ 1" * DEEPISH, {"x": 1.5})  # x^(1^(1^...))
    assert (result.value, result.gradients) == (1.5, {"x": 1.0})


def test_long_chain_of_statements():
    lines = ["a0 = x"] + [f"a{i} = a{i - 1} + x" for i in range(1, DEEP)]
    graph = cgraph.parse("\n".join(lines))
    assert graph.output_name == f"a{DEEP - 1}"
    result = cgraph.evaluate(graph, {"x": 0.5})
    assert result.value == DEEP * 0.5
    assert result.gradients == {"x": float(DEEP)}
    assert result.grad("a1") == 1.0
    assert result.grad("a0") == float(DEEP)  # a0 names the input node x itself


def test_long_unrolled_loop():
    n = 20_000
    result = run(f"for t in 1..{n} {{ h[t] = h[t-1] * 0.5 + x }}", {"x": 1.0, "h[0]": 4.0})
    # h[n] = 0.5^n h0 + x (2 - 0.5^(n-1)), numerically 2x
    assert result.value == pytest.approx(2.0, rel=1e-15)
    assert result.gradients["x"] == pytest.approx(2.0, rel=1e-15)
    assert result.gradients["h[0]"] == 0.0  # 0.5^20000 underflows


def test_thousand_deep_nested_builtin_calls():
    depth = 1000
    result = run("y = " + "sin(" * depth + "x" + ")" * depth, {"x": 0.7})
    v, d = 0.7, 1.0
    for _ in range(depth):
        d *= math.cos(v)
        v = math.sin(v)
    assert result.value == pytest.approx(v, rel=1e-12)
    assert result.gradients["x"] == pytest.approx(d, rel=1e-9)


def test_thousand_deep_nested_user_function_calls():
    depth = 1000
    source = "def f(a) = a + 0.001 * sin(a)\ny = " + "f(" * depth + "x" + ")" * depth
    graph = cgraph.parse(source)
    result = cgraph.evaluate(graph, {"x": 0.7})
    v, d = 0.7, 1.0
    for _ in range(depth):
        d *= 1 + 0.001 * math.cos(v)
        v = v + 0.001 * math.sin(v)
    assert result.value == pytest.approx(v, rel=1e-12)
    assert result.gradients["x"] == pytest.approx(d, rel=1e-9)
    # the calls are nested as arguments, not as bodies: each copy carries its own call's tag
    assert {tag.value for node in graph for tag in node.tags} == set(range(1, depth + 1))
    assert {len(node.tags) for node in graph if node.op == "sin"} == {1}


def test_thousand_long_chain_of_functions_calling_each_other():
    depth = 1000
    defs = ["def f1(a) = sin(a)"] + [f"def f{k}(a) = f{k - 1}(a) + a" for k in range(2, depth + 1)]
    graph = cgraph.parse("\n".join(defs) + f"\ny = f{depth}(x)")
    result = cgraph.evaluate(graph, {"x": 0.5})
    sin = next(node for node in graph if node.op == "sin")
    assert len(sin.tags) == depth  # f1000 -> f999 -> ... -> f1: the sin is 1000 calls deep
    assert [t.name for t in sin.tags[:2]] == [f"f{depth}", f"f{depth - 1}"]
    assert result.value == pytest.approx(math.sin(0.5) + (depth - 1) * 0.5, rel=1e-12)
    assert result.gradients["x"] == pytest.approx(math.cos(0.5) + depth - 1, rel=1e-12)


def test_long_recursive_cycle_is_found_without_recursion():
    depth = 1000
    defs = [f"def f{k}(a) = f{k + 1}(a)" for k in range(1, depth)] + [f"def f{depth}(a) = f1(a)"]
    with pytest.raises(cgraph.BuildError) as info:
        cgraph.parse("\n".join(defs) + "\ny = f1(x)")
    assert "recursion" in info.value.message


def test_deep_unclosed_parentheses_is_a_parse_error():
    with pytest.raises(cgraph.ParseError) as info:
        cgraph.parse("y = " + "(" * DEEPISH + "x" + ")" * (DEEPISH - 1))
    assert info.value.location.line == 1


def test_deeply_nested_error_in_an_expression_is_located():
    with pytest.raises(cgraph.BuildError) as info:
        cgraph.parse("y = " + "(" * DEEPISH + "tanhh(x)" + ")" * DEEPISH)
    assert (info.value.location.line, info.value.location.column) == (1, 5 + DEEPISH)


# --- randomized: random DAG programs vs central differences -------------------------------


@dataclass
class Var:
    name: str
    bound: float  # an upper bound of |value| for inputs in [-1.5, 1.5]


SQUASH_ABOVE = 8.0

# (template, arity, bound of the result from the bounds of the arguments)
# Arguments are kept inside each op's smooth domain by construction: denominators >= 1,
# log, sqrt and pow of positive numbers, tan of values in (-1, 1). Kinks of relu, abs, max,
# min, step, sign, eq, above, zero_if and one_if depend on the values, so points near them are avoided at evaluation time.
TEMPLATES = [
    ("{0} + {1}", 2, lambda a, b: a + b),
    ("{0} - {1}", 2, lambda a, b: a + b),
    ("{0} * {1}", 2, lambda a, b: a * b),
    ("{0} / (2 + sin({1}))", 2, lambda a, b: a),
    ("(1.5 + tanh({0})) ^ {1}", 2, lambda a, b: 2.5 ** b),
    ("pow(2 + cos({0}), {1})", 2, lambda a, b: 3.0 ** b),
    ("{0} ** 2", 1, lambda a: a * a),
    ("{0}^3", 1, lambda a: a**3),
    ("-{0}", 1, lambda a: a),
    ("+{0} * 0.5", 1, lambda a: a),
    ("exp({0})", 1, lambda a: math.exp(a)),
    ("log(1 + {0}*{0})", 1, lambda a: math.log(1 + a * a)),
    ("log(2 + cos({0}))", 1, lambda a: math.log(3)),
    ("sqrt(1 + {0}^2)", 1, lambda a: math.sqrt(1 + a * a)),
    ("sin({0})", 1, lambda a: 1.0),
    ("cos({0})", 1, lambda a: 1.0),
    ("tan(tanh({0}))", 1, lambda a: math.tan(1.0)),
    ("tanh({0})", 1, lambda a: 1.0),
    ("sigmoid({0})", 1, lambda a: 1.0),
    ("relu({0})", 1, lambda a: a),
    ("abs({0})", 1, lambda a: a),
    ("max({0}, {1})", 2, max),
    ("min({0}, {1})", 2, max),
    ("sum({0}, {1}, {2})", 3, lambda a, b, c: a + b + c),
    ("mean({0}, {1}, {2}, {3})", 4, lambda *bs: max(bs)),
    ("mix({0}, {1})", 2, lambda a, b: b + 1.0),  # def mix(a, b) = tanh(a) * b + p0
]
# The piecewise constant ops, written once each after the random statements (so that
# those stay what they were: the draws from `rng` before them do not change).
LAST_TEMPLATES = [
    ("step({0}) * {1}", 2, lambda a, b: b),
    ("sign({0}) * {1}", 2, lambda a, b: b),
    ("eq({0}, {1}) + {0}", 2, lambda a, b: a + 1.0),
    ("zero_if({0}, {1})", 2, lambda a, b: b),
    ("above({0}, {1}) * {1}", 2, lambda a, b: b),
    ("one_if({0}, {1})", 2, lambda a, b: max(b, 1.0)),
]

FREE_INPUTS = ["x0", "x1", "x2", "x3", "x4"]
PARAMS = {"p0": 0.5, "p1": -0.25, "p2": 1.0}


def random_program(seed: int, statements: int = 200) -> str:
    rng = random.Random(seed)
    lines = [f"param {name} = {value}" for name, value in PARAMS.items()]
    lines.append("def mix(a, b) = tanh(a) * b + p0")
    pool = [Var(name, 1.5) for name in FREE_INPUTS + list(PARAMS)]
    used: set[str] = set()

    def pick(exclude=()):
        while True:
            if rng.random() < 0.7:  # mostly recent values, sometimes any: long edges and fan-out
                var = pool[max(0, len(pool) - 1 - int(rng.expovariate(1 / 8)))]
            else:
                var = rng.choice(pool)
            if var.name not in exclude:
                return var

    for k in range(statements + len(LAST_TEMPLATES)):
        if k >= statements:
            template, arity, bound = LAST_TEMPLATES[k - statements]
        elif k < len(TEMPLATES):
            template, arity, bound = TEMPLATES[k]
        else:
            template, arity, bound = rng.choice(TEMPLATES)
        args: list[Var] = []
        for _ in range(arity):
            args.append(pick(exclude={a.name for a in args}))
        expression = template.format(*(a.name for a in args))
        b = bound(*(a.bound for a in args))
        if b > SQUASH_ABOVE:  # keep values and gradients moderate: squash into (-1, 1)
            expression = f"tanh(({expression}) / {b:.6g})"
            b = 1.0
        used.update(a.name for a in args)
        name = f"v{k}"
        lines.append(f"{name} = {expression}")
        pool.append(Var(name, b))
    sinks = [v.name for v in pool if v.name not in used and v.name.startswith("v")]
    lines.append(f"loss = sum({', '.join(sinks)}) + mean({', '.join(sinks[:3] + FREE_INPUTS)})")
    return "\n".join(lines)


KINK_MARGIN = 1e-3


def kink_gaps(result: cgraph.Evaluation) -> list[float]:
    """For every op with a kink (relu, abs, max, min): how far its arguments are from it.

    Exact ties and exact zeros come from the program's structure (max(v, v) through an
    alias, relu(-abs(x))), where the function is smooth along the tie and the conventions
    give the true derivative, so they count as far away."""
    gaps = []
    for offset in _kink_offsets(result):
        gap = abs(offset)
        gaps.append(math.inf if gap == 0 else gap)
    return gaps


def branch_signature(result: cgraph.Evaluation) -> tuple:
    """Which branch every op with a kink is on."""
    return tuple((offset > 0) - (offset < 0) for offset in _kink_offsets(result))


def _kink_offsets(result: cgraph.Evaluation) -> list[float]:
    """The op table's `kink` of every node that has one: signed, 0 on the kink."""
    graph, values = result.graph, result.values
    return [KINKS[op](*[values[a] for a in graph.args[i]]) for i, op in enumerate(graph.ops) if op in KINKS]


def smooth_point(graph: cgraph.Graph, rng: random.Random) -> dict[str, float]:
    for _ in range(200):
        point = {name: rng.uniform(-1.5, 1.5) for name in graph.inputs}
        if min(kink_gaps(cgraph.evaluate(graph, point)), default=math.inf) > KINK_MARGIN:
            return point
    raise AssertionError("the test could not find a point away from every kink")


@pytest.mark.parametrize("seed", range(5))
def test_random_dag_gradients_match_central_differences(seed):
    source = random_program(seed)
    graph = cgraph.parse(source)
    assert set(OPS) <= set(graph.ops), "every op of the table is exercised"
    assert max(len(graph.node(i).args) for i in range(len(graph))) >= 3
    for node in graph:
        assert all(a < node.id for a in node.args)

    point = smooth_point(graph, random.Random(1000 + seed))
    result = cgraph.evaluate(graph, point)
    assert math.isfinite(result.value) and result.warnings == ()
    signature = branch_signature(result)
    for name in graph.inputs:
        h = 1e-6 * max(1.0, abs(point[name]))
        up = cgraph.evaluate(graph, point | {name: point[name] + h})
        down = cgraph.evaluate(graph, point | {name: point[name] - h})
        assert branch_signature(up) == branch_signature(down) == signature, "the test's point is too near a kink"
        fd = (up.value - down.value) / (2 * h)
        g = result.gradients[name]
        assert abs(g - fd) <= 1e-5 * abs(fd) + 1e-6, f"seed {seed}: d loss/d {name}: {g!r} vs {fd!r}"


def test_random_programs_have_fan_out():
    graph = cgraph.parse(random_program(0))
    uses: dict[int, int] = {}
    for node in graph:
        for a in node.args:
            uses[a] = uses.get(a, 0) + 1
    assert max(uses.values()) >= 5
    assert len(graph) > 200
