"""Forward mode (cgraph/engine/tangent.py, `cgraph.jvp`, `cgraph eval --tangent`): every
node's tangent equals its gradient · direction as the backward pass computes it, on the
samples, on generated programs, at the kinks and with inf and nan; central differences
of f(x + h·d) and hand-worked values as independent references; the command's contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import cgraph
from cgraph import ops
from cgraph.engine.tangent import JVP, split_items
from cgraph.errors import InputError
from support.numeric import graph_directional_difference
from support.paths import ROOT, SAMPLES
from support.programs import programs
from support.samples import INTRO_ARGS, INTRO_INPUTS, SAMPLE_CASES, SAMPLE_IDS

# --- the reference: gradient · direction from the backward pass ------------------------------


def dot(gradients: dict[str, float], direction: dict[str, float]) -> float:
    """sum of gradient[x] * direction[x] over the inputs the direction moves (a 0 component
    is left out, as forward mode leaves it out: 0 * an infinite gradient would be nan)."""
    total = 0.0
    for name, d in direction.items():
        if d != 0:
            total += gradients[name] * d
    return total


def path_magnitude(graph: cgraph.Graph, values: list[float], direction: dict[str, float]) -> list[float]:
    """Per node, the sum over paths from the direction's inputs of |product of local
    derivatives| * |component|: the size rounding errors of either grouping scale with."""
    size = [0.0] * len(graph)
    for name, d in direction.items():
        size[graph.inputs[name]] = abs(d)
    for i in range(len(graph)):
        args = graph.args[i]
        if args and any(size[a] for a in args):
            local = ops.LOCAL[graph.ops[i]](values[i], *[values[a] for a in args])
            size[i] = sum(abs(d) * size[a] for d, a in zip(local, args) if size[a])
    return size


UNDERFLOW = 1e-250


def agree(tangent: float, expected: float, scale: float) -> bool:
    """Within 1e-12 of the path magnitude (relative, where the magnitude is finite) when
    gradient · direction is finite; non-finite together otherwise (not always the same
    one: in `v*v + tanh(v)` at v = inf the backward pass adds tanh's 0 * 1 to an infinite
    gradient, giving inf, where the forward sweep multiplies tanh's 0 by an infinite
    tangent, giving nan)."""
    if not math.isfinite(expected):
        return not math.isfinite(tangent)
    if not math.isfinite(scale):
        return math.isfinite(tangent)
    # The floor: near the bottom of the double range a product underflows to 0 in one
    # grouping and not in the other (a direction of 1e-280 times a value of 1e-160).
    return abs(tangent - expected) <= max(1e-12 * max(abs(expected), scale), UNDERFLOW)


def overflow_only(graph: cgraph.Graph, result: JVP, node: int) -> bool:
    """Whether every local derivative on the way to `node` is finite: then an inf or nan
    gradient (with a finite tangent) is a product of finite numbers that overflowed in the
    backward pass's grouping only (a chain of 1/1e-289 times a 0: inf * 0 backwards, 0 *
    1e289 forwards), the one case the module's docstring sets aside."""
    values, moving = result.node_values, bytearray(len(graph))
    for name, d in result.direction.items():
        if d:
            moving = bytearray(m | f for m, f in zip(moving, graph.downstream(graph.inputs[name])))
    for i, up in enumerate(graph.upstream(node)):
        args = graph.args[i]
        if up and args:
            local = ops.LOCAL[graph.ops[i]](values[i], *[values[a] for a in args])
            if not all(math.isfinite(d) for d, a in zip(local, args) if moving[a]):  # edges the direction uses
                return False
    return True


def assert_tangents_are_gradient_dot_direction(graph: cgraph.Graph, point: dict[str, float],
                                               direction: dict[str, float], every_node: bool = False) -> JVP:
    result = cgraph.jvp(graph, point, direction)
    scales = path_magnitude(graph, result.node_values, direction)
    nodes = sorted(graph.node_names) if every_node else [graph.output]
    for i in nodes:
        name = graph.output_name if i == graph.output else graph.name_of(i)
        expected = dot(cgraph.evaluate(graph, point, output=name).gradients, direction)
        got = result.node_tangents[i]
        ok = agree(got, expected, scales[i]) or (not math.isfinite(expected) and overflow_only(graph, result, i))
        assert ok, (name, got, expected, scales[i])
    return result


# --- the samples and generated programs -------------------------------------------------------

@pytest.mark.parametrize(("name", "inputs"), [(c[0], c[1]) for c in SAMPLE_CASES], ids=SAMPLE_IDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_named_node_of_the_samples(name, inputs, seed):
    import random

    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    rng = random.Random(seed)
    # Some names left out (0), the others moved by random amounts of both signs.
    direction = {n: rng.uniform(-2, 2) for n in graph.inputs if rng.random() < 0.7}
    assert_tangents_are_gradient_dot_direction(graph, inputs, direction, every_node=True)


@st.composite
def cases(draw):
    source = draw(programs())
    names = list(cgraph.parse(source, max_nodes=50_000).inputs)
    point = {n: draw(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)) for n in names}
    component = st.one_of(st.just(0.0), st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False))
    direction = {n: draw(component) for n in names if draw(st.booleans())}
    return source, point, direction


@given(cases())
def test_generated_programs_at_random_points_and_directions(case):
    source, point, direction = case
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assert_tangents_are_gradient_dot_direction(graph, point, direction)


@given(programs())
def test_generated_programs_along_every_input_at_once(source):
    graph = cgraph.parse(source, max_nodes=50_000)
    assert_tangents_are_gradient_dot_direction(graph, {n: 0.75 for n in graph.inputs}, {n: 1.0 for n in graph.inputs})


# --- an independent reference: central differences of f(x + h·d) -----------------------------

@pytest.mark.parametrize(("name", "inputs"), [(c[0], c[1]) for c in SAMPLE_CASES], ids=SAMPLE_IDS)
def test_the_samples_against_central_differences(name, inputs):
    import random

    graph = cgraph.parse((SAMPLES / f"{name}.cg").read_text(), filename=f"{name}.cg")
    rng = random.Random(7)
    direction = {n: rng.uniform(-1, 1) for n in graph.inputs}
    got = cgraph.jvp(graph, inputs, direction).directional_derivative
    assert got == pytest.approx(graph_directional_difference(graph, inputs, direction), rel=1e-6, abs=1e-8)


SMOOTH = [  # one program per op (and a few together), at smooth points
    ("y = x + z", {"x": 0.3, "z": -1.2}), ("y = x - z", {"x": 0.3, "z": -1.2}), ("y = x * z", {"x": 0.3, "z": -1.2}),
    ("y = x / z", {"x": 0.3, "z": -1.2}), ("y = x ^ z", {"x": 1.7, "z": -1.2}), ("y = -x * z", {"x": 0.3, "z": 2.0}),
    ("y = exp(x) * log(z)", {"x": 0.3, "z": 1.9}), ("y = sqrt(x) + sin(z)", {"x": 0.3, "z": 1.9}),
    ("y = cos(x) * tan(z)", {"x": 0.3, "z": 0.4}), ("y = tanh(x) / sigmoid(z)", {"x": 0.3, "z": -0.8}),
    ("y = relu(x) + abs(z)", {"x": 0.3, "z": -0.8}), ("y = max(x, z) * min(x, z)", {"x": 0.3, "z": -0.8}),
    ("y = sum(x, z, x * z) * mean(x, z, 2)", {"x": 0.3, "z": -0.8}),
]


@pytest.mark.parametrize(("source", "point"), SMOOTH)
@pytest.mark.parametrize("direction", [{"x": 1.0}, {"z": 1.0}, {"x": 0.6, "z": -1.3}])
def test_each_op_off_its_kinks_against_central_differences(source, point, direction):
    graph = cgraph.parse(source)
    got = cgraph.jvp(graph, point, direction).directional_derivative
    assert got == pytest.approx(graph_directional_difference(graph, point, direction), rel=1e-7, abs=1e-9)
    assert_tangents_are_gradient_dot_direction(graph, point, direction)


def test_the_table_covers_every_op():
    covered = {op for source, point in SMOOTH for op in cgraph.parse(source).ops} - ops.LEAF_KINDS
    assert covered >= {name for name, op in ops.OPS.items() if op.function or op.notation != ops.CALL} - {
        "step", "sign", "above", "eq", "zero_if", "one_if"}  # the derivative graphs' own ops: piecewise constant, tested below


# --- hand-worked values -----------------------------------------------------------------------

def test_the_tutorial_by_hand():
    # g = (x + y) * z: dg = z * (dx + dy) + (x + y) * dz = -3 * (1 + 0.5) + 4 * 0 = -4.5
    r = cgraph.jvp(cgraph.load(SAMPLES / "intro.cg"), INTRO_INPUTS, {"x": 1, "y": 0.5})
    assert r.tangents == {"x": 1.0, "y": 0.5, "p": 1.5, "z": 0.0, "g": -4.5}
    assert r.directional_derivative == -4.5 and r.value == -12.0


def test_a_product_of_a_power_and_a_sine_by_hand():
    # y = x^2 * sin(z) at (3, 0) along (1, 2): 2x sin(z) * 1 + x^2 cos(z) * 2 = 0 + 18
    r = cgraph.jvp(cgraph.parse("a = x ^ 2\nb = sin(z)\ny = a * b"), {"x": 3, "z": 0}, {"x": 1, "z": 2})
    assert (r.tangents["a"], r.tangents["b"], r.directional_derivative) == (6.0, 2.0, 18.0)


def test_tanh_by_hand():
    r = cgraph.jvp(cgraph.parse("y = tanh(x)"), {"x": 0.5}, {"x": 2})
    assert r.directional_derivative == pytest.approx(2 * (1 - math.tanh(0.5) ** 2), rel=1e-15)


# --- kinks, zeros, inf and nan: the backward pass's conventions -------------------------------

@pytest.mark.parametrize(("source", "point", "direction", "expected"), [
    ("y = relu(x)", {"x": 0.0}, {"x": 1.0}, 0.0),  # relu'(0) = 0, whichever way x moves
    ("y = relu(x)", {"x": 0.0}, {"x": -1.0}, 0.0),
    ("y = abs(x)", {"x": 0.0}, {"x": 1.0}, 0.0),  # abs'(0) = 0
    ("y = abs(x)", {"x": -0.0}, {"x": -2.0}, 0.0),
    ("y = max(x, z)", {"x": 2.0, "z": 2.0}, {"x": 1.0}, 0.5),  # a tie splits 0.5/0.5
    ("y = max(x, z)", {"x": 2.0, "z": 2.0}, {"x": 1.0, "z": -1.0}, 0.0),
    ("y = min(x, z)", {"x": 2.0, "z": 2.0}, {"x": 1.0, "z": 3.0}, 2.0),
    ("y = x ^ z", {"x": 0.0, "z": 2.0}, {"z": 1.0}, 0.0),  # pow's d/db = 0 where a = 0, b >= 0
    ("y = x * sqrt(z)", {"x": 2.0, "z": 0.0}, {"x": 1.0}, 0.0),  # sqrt'(0) = inf, but z does not move
    ("y = x * sqrt(z)", {"x": 2.0, "z": 0.0}, {"x": 1.0, "z": 0.0}, 0.0),  # a 0 component: the same
    ("y = x * sqrt(z)", {"x": 2.0, "z": 0.0}, {"z": 1.0}, math.inf),
    ("y = log(z) * x + x", {"x": 0.0, "z": 0.0}, {"z": 1.0}, math.nan),  # log(0)' = inf times x = 0
])
def test_kinks_and_non_finite_local_derivatives(source, point, direction, expected):
    graph = cgraph.parse(source)
    got = assert_tangents_are_gradient_dot_direction(graph, point, direction).directional_derivative
    assert got == expected or (math.isnan(got) and math.isnan(expected))


KINK_POINTS = {1: [[0.0], [-0.0]], 2: [[0.5, 0.5], [0.0, 0.0], [math.inf, math.inf]], None: [[0.0, 0.0, 0.0]]}
OFF_KINK = {1: [[0.7], [-0.7]], 2: [[0.7, 1.3], [1.3, 0.7]], None: [[0.7, 1.3, -0.4]]}


def _one_op(op: ops.Op, n: int) -> cgraph.Graph:
    names = [f"x{k}" for k in range(n)]
    if op.notation == ops.INFIX:
        text = f" {op.symbol} ".join(names)
    elif op.notation == ops.PREFIX:
        text = f"{op.symbol}{names[0]}"
    else:
        text = f"{op.name}({', '.join(names)})"
    return cgraph.parse(f"y = {text}\noutput y")


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_op_at_and_off_its_kinks(name):
    op = ops.OPS[name]
    for args in KINK_POINTS[op.arity] + OFF_KINK[op.arity]:
        graph = _one_op(op, len(args))
        point = {f"x{k}": v for k, v in enumerate(args)}
        for signs in ([1.0] * len(args), [-1.0] + [0.5] * (len(args) - 1), [0.0] * (len(args) - 1) + [-2.0]):
            assert_tangents_are_gradient_dot_direction(graph, point, dict(zip(point, signs)))


def test_a_direction_of_zeros_gives_zero_tangents_even_where_gradients_are_infinite():
    r = cgraph.jvp(cgraph.parse("y = sqrt(x) + log(z)"), {"x": 0, "z": 0}, {})
    assert set(r.tangents.values()) == {0.0} and r.directional_derivative == 0.0


# --- the Python API ---------------------------------------------------------------------------

def test_several_outputs_each_get_their_directional_derivative_the_first_headline():
    graph = cgraph.parse("a = x * z\nb = x + z\noutput b, a")
    r = cgraph.jvp(graph, {"x": 2, "z": 5}, {"x": 1})
    assert r.directional_derivatives == {"b": 1.0, "a": 5.0}
    assert r.directional_derivative == 1.0 and r.output_name == "b"
    other = cgraph.jvp(graph, {"x": 2, "z": 5}, {"x": 1}, output="a")
    assert other.directional_derivative == 5.0 and list(other.directional_derivatives) == ["a", "b"]


def test_values_and_tangents_by_name_and_the_direction_in_full():
    r = cgraph.jvp(cgraph.parse("tanh(w*x + b)"), {"w": 0.5, "x": 2, "b": 0}, {"b": 1})
    assert r.values["out"] == math.tanh(1.0) and r.tangents["out"] == pytest.approx(1 - math.tanh(1.0) ** 2)
    assert r.direction == {"w": 0.0, "x": 0.0, "b": 1.0}
    assert "JVP(out = " in repr(r)


@pytest.mark.parametrize(("direction", "message"), [
    ({"xx": 1}, "'xx' is not an input or param of this file (did you mean 'x'?)"),
    ({"p": 1}, "'p' is computed on line 1, not an input"),
    ({"x": math.nan}, "'x' is nan; a direction is finite numbers"),
    ({"x": math.inf}, "'x' is inf"),
    ({"x": "one"}, "must be a number, not 'one'"),
])
def test_the_api_refuses_a_bad_direction(direction, message):
    with pytest.raises(InputError) as info:
        cgraph.jvp(cgraph.parse("p = x + y\ng = p * z"), INTRO_INPUTS, direction)
    assert message in str(info.value)


def test_jvp_is_exported_and_the_plain_import_stays_light():
    assert "jvp" in cgraph.__all__
    code = ("import sys, cgraph\n"
            "r = cgraph.jvp(cgraph.parse('y = x * x'), {'x': 3}, {'x': 1})\n"
            "print(r.directional_derivative, 'numpy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.split() == ["6.0", "False"], proc.stderr


# --- the command ------------------------------------------------------------------------------

TANGENT = ["--tangent", "x=1,y=0.5"]


def test_the_table_gets_a_tangent_column(cg):
    r = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, *TANGENT)
    assert r.code == 0, r.err
    header = next(line for line in r.out.splitlines() if "node" in line)
    assert header.split("┃")[-2].strip() == "tangent"
    assert [line.split("│")[-2].strip() for line in r.out.splitlines() if line.startswith("│")] == \
        ["1", "0.5", "1.5", "0", "-4.5"]


def test_json_gets_tangents_and_the_directional_derivative_and_keeps_the_rest(cg):
    base = json.loads(cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--format", "json").out)
    got = json.loads(cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, *TANGENT, "--format", "json").out)
    assert got.pop("tangents") == {"x": 1.0, "y": 0.5, "p": 1.5, "z": 0.0, "g": -4.5}
    assert got.pop("directional_derivative") == -4.5
    assert got == base
    assert got["gradients"]["x"] * 1 + got["gradients"]["y"] * 0.5 == -4.5


@pytest.mark.parametrize("show", ["inputs", "named", "all"])
def test_json_tangents_are_the_rows_the_table_shows(cg, show):
    args = ["eval", str(SAMPLES / "mlp.cg"), "--tangent", "W1[1,2]=1,x[1]=2", "--show", show]
    data = json.loads(cg(*args, "--format", "json").out)
    plain = cg(*args, "--format", "plain").out.splitlines()
    assert list(data["tangents"]) == [line.split()[0] for line in plain]
    assert [float(line.split()[-1]) for line in plain] == list(data["tangents"].values())
    grads = data["gradients"]
    assert data["directional_derivative"] == pytest.approx(grads["W1[1,2]"] + 2 * grads["x[1]"], rel=1e-12)


def test_several_outputs_in_json(cg):
    data = json.loads(cg("eval", "-e", "a = x * z\nb = x + z\noutput b, a", "--x", "2", "--z", "5",
                         "--tangent", "x=1", "--format", "json").out)
    assert data["directional_derivative"] == 1.0 and data["directional_derivatives"] == {"b": 1.0, "a": 5.0}


@pytest.mark.parametrize("fmt", ["csv", "plain"])
def test_the_text_formats_gain_a_last_column_and_nothing_else(cg, fmt):
    base = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--format", fmt).out.splitlines()
    got = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, *TANGENT, "--format", fmt).out.splitlines()
    sep = "," if fmt == "csv" else " "
    assert [line.rsplit(sep, 1)[0] for line in got] == base
    assert [line.rsplit(sep, 1)[1] for line in got] == (["tangent"] if fmt == "csv" else []) + \
        ["1.0", "0.5", "1.5", "0.0", "-4.5"]


def test_without_tangent_nothing_changes(cg):
    for fmt in ("table", "plain", "csv", "json"):
        out = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--format", fmt).out
        assert "tangent" not in out and "directional" not in out


def test_repeated_options_indexed_names_and_output(cg):
    r = cg("eval", str(SAMPLES / "mlp.cg"), "--tangent", "W1[1, 2]=1", "--tangent", "x[1]=2", "--output", "y",
           "--format", "json")
    data = json.loads(r.out)
    assert data["output"] == "y"
    assert data["directional_derivative"] == pytest.approx(data["gradients"]["W1[1,2]"] + 2 * data["gradients"]["x[1]"])


@pytest.mark.parametrize(("value", "message"), [
    ("q=1", "--tangent: 'q' is not an input or param of this file"),
    ("xx=1", "(did you mean 'x'?)"),
    ("p=1", "'p' is computed on line 3, not an input"),
    ("x=1,x=2", "'x' is given twice"),
    ("w=1", "not an input or param"),
    ("x=nan", "'x' is nan; a direction is finite numbers"),
    ("x=-inf", "'x' is -inf"),
    ("x=1e400", "'x' is inf"),
    ("x=abc", "the value of 'x' must be a number, not 'abc'"),
    ("x=", "'x=' has no value"),
    ("x=1,", "expected NAME=VALUE"),
    ("3", "expected NAME=VALUE, as in --tangent x=1,y=0.5"),
    ("x[1=2", "is not a valid input name"),
])
def test_a_bad_direction_is_exit_2_with_a_clear_message(cg, value, message):
    r = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--tangent", value)
    assert r.code == 2 and message in r.err, r.err
    assert "Traceback" not in r.err and r.out == ""


def test_a_name_given_twice_across_options_is_refused(cg):
    r = cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--tangent", "x=1", "--tangent", "y=1,x=2")
    assert r.code == 2 and "'x' is given twice" in r.err


def test_an_input_called_tangent_gets_a_hint(cg):
    r = cg("eval", "-e", "tangent * 2", "--input", "tangent=1", "--tangent", "3")
    assert r.code == 2 and "--input tangent=VALUE" in r.err


def test_tangent_with_data_is_a_usage_error(cg):
    r = cg("eval", str(SAMPLES / "linreg.cg"), "--data", str(SAMPLES / "linreg.csv"), "--tangent", "w=1")
    assert r.code == 2 and "--tangent goes with one evaluation, not with --data" in r.err


def test_commas_inside_brackets_belong_to_the_name():
    assert split_items("w[1,2]=1, b=0,x[1][2]=3") == ["w[1,2]=1", "b=0", "x[1][2]=3"]


def test_eval_with_a_tangent_does_not_import_numpy():
    code = (
        "import sys\nfrom cgraph.cli import run\n"
        f"code = run(['eval', {str(SAMPLES / 'intro.cg')!r}, '--x', '1', '--y', '3', '--z', '-3', '--tangent', 'x=1'])\n"
        "assert code == 0, code\n"
        "print('numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


# --- a new op needs no edit here ----------------------------------------------------------------

def test_a_registered_op_is_carried_forward_by_its_table_entry():
    slope = 0.1
    leaky = ops.Op("leaky_relu", "LReLU", 1, lambda a: a if a > 0 else slope * a,
                   lambda o, a: (1.0 if a > 0 else slope,), ("1 if a > 0 else 0.1",))
    ops.register(leaky)
    try:
        graph = cgraph.parse("y = leaky_relu(x) * 3")
        assert cgraph.jvp(graph, {"x": -2.0}, {"x": 2.0}).directional_derivative == pytest.approx(0.6)
        assert cgraph.jvp(graph, {"x": 2.0}, {"x": 2.0}).directional_derivative == 6.0
    finally:
        ops.unregister(leaky.name)


def test_several_outputs_get_the_tangent_column_after_their_gradient_columns(cg):
    args = ["eval", "-e", "p = x + y; g = p * z; output g, p", "--x", "1", "--y", "3", "--z", "-3", "--tangent", "x=1"]
    assert cg(*args, "--format", "csv").out.splitlines()[0] == "id,name,op,value,dg/d(node),dp/d(node),line,expr,tangent"
    assert cg(*args, "--format", "plain").out.splitlines()[-1] == "g -12.0 1.0 0.0 -3.0"
    data = json.loads(cg("eval", str(SAMPLES / "intro.cg"), *INTRO_ARGS, "--output", "g,p", "--tangent", "z=1",
                         "--format", "json").out)
    assert data["directional_derivative"] == 4.0 and data["directional_derivatives"] == {"g": 4.0, "p": 0.0}
