"""`cgraph hessian`, `cgraph.hessian` and `cgraph check --order 2`.

References, independent of the code under test: second derivatives worked out by hand
(and with `math`), and central differences (float64) of the backward pass's gradient
(`cgraph.evaluate`), on the samples and on generated programs. A wrong graph rule is
injected by replacing tanh's `rule` in the op table (the backward pass, which reads
`local`, stays right), so the check has something to catch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys

import pytest
from hypothesis import assume, given, note, settings

import cgraph
from cgraph.engine.hessian import hessian, hessian_check, max_asymmetry
from cgraph.ops import OPS

from support.programs import programs
from support.samples import INTRO_ARGS, SAMPLE_CASES, SAMPLE_IDS, SAMPLES


def numeric_hessian(graph: cgraph.Graph, point: dict[str, float], names: list[str]) -> list[list[float]]:
    """Column j: (grad(x + h e_j) - grad(x - h e_j)) / 2h, the gradient from backprop."""
    columns = []
    for name in names:
        x = point[name]
        h = 1e-5 * max(1.0, abs(x))
        up = cgraph.evaluate(graph, {**point, name: x + h}).gradients
        down = cgraph.evaluate(graph, {**point, name: x - h}).gradients
        columns.append([(up[n] - down[n]) / ((x + h) - (x - h)) for n in names])
    return [[columns[j][i] for j in range(len(names))] for i in range(len(names))]


def assert_close(a: float, b: float, rel: float = 1e-5, abs_: float = 1e-6) -> None:
    assert math.isclose(a, b, rel_tol=rel, abs_tol=abs_), (a, b)


# --- hand-worked values ------------------------------------------------------------------

X, Y = 0.7, -1.3
T = math.tanh(X * Y)
HAND = [
    # program, value, gradient, Hessian (w.r.t. x, y)
    ("x^2 * y", X * X * Y, [2 * X * Y, X * X], [[2 * Y, 2 * X], [2 * X, 0.0]]),
    ("exp(x*y)", math.exp(X * Y), [Y * math.exp(X * Y), X * math.exp(X * Y)],
     [[Y * Y * math.exp(X * Y), (1 + X * Y) * math.exp(X * Y)],
      [(1 + X * Y) * math.exp(X * Y), X * X * math.exp(X * Y)]]),
    ("log(x) * y", math.log(X) * Y, [Y / X, math.log(X)], [[-Y / X**2, 1 / X], [1 / X, 0.0]]),
    ("tanh(x*y)", T, [Y * (1 - T * T), X * (1 - T * T)],
     [[-2 * T * (1 - T * T) * Y * Y, (1 - T * T) - 2 * T * (1 - T * T) * X * Y],
      [(1 - T * T) - 2 * T * (1 - T * T) * X * Y, -2 * T * (1 - T * T) * X * X]]),
    ("x / y + y^3", X / Y + Y**3, [1 / Y, -X / Y**2 + 3 * Y**2], [[0.0, -1 / Y**2], [-1 / Y**2, 2 * X / Y**3 + 6 * Y]]),
]


@pytest.mark.parametrize("source, value, gradient, matrix", HAND, ids=[h[0] for h in HAND])
def test_hand_worked_hessians(source, value, gradient, matrix):
    result = cgraph.hessian(cgraph.parse(source), {"x": X, "y": Y})
    assert result.wrt == ("x", "y")
    assert_close(result.value, value, 1e-12, 0)
    for got, want in zip(result.gradient, gradient):
        assert_close(got, want, 1e-12, 1e-15)
    for row, want_row in zip(result.hessian, matrix):
        for got, want in zip(row, want_row):
            assert_close(got, want, 1e-12, 1e-15)


def test_a_third_order_program_single_name():
    # y = sin(x)^3: y'' = 6 sin cos^2 - 3 sin^3
    x = 0.4
    result = cgraph.hessian(cgraph.parse("sin(x)^3"), {"x": x})
    s, c = math.sin(x), math.cos(x)
    assert_close(result.hessian[0][0], 6 * s * c * c - 3 * s**3, 1e-12, 0)


def test_wrt_picks_and_orders_the_names():
    graph = cgraph.load(SAMPLES / "intro.cg")
    result = hessian(graph, {"x": 1, "y": 3, "z": -3}, ["z", "x"])
    assert result.wrt == ("z", "x")
    assert result.gradient == (4.0, -3.0)
    assert result.hessian == ((0.0, 1.0), (1.0, 0.0))


def test_output_option_differentiates_another_node():
    graph = cgraph.parse("p = x * x * y\ng = p + 1")
    assert hessian(graph, {"x": 2, "y": 3}, output="p").output == "p"
    assert hessian(graph, {"x": 2, "y": 3}, output="p").hessian == ((6.0, 4.0), (4.0, 0.0))


def test_the_first_of_several_outputs_is_the_one():
    graph = cgraph.parse("a = x * x * y\nb = x + y\noutput a, b")
    assert hessian(graph, {"x": 2, "y": 3}).hessian == ((6.0, 4.0), (4.0, 0.0))


# --- against central differences ---------------------------------------------------------


@pytest.mark.parametrize("name, inputs, args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_samples_agree_with_differences_of_the_gradient_and_are_symmetric(name, inputs, args):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    point = {**{n: graph.values[i] for n, i in graph.inputs.items() if graph.values[i] is not None}, **inputs}
    names = list(graph.inputs)
    if len(names) > 12:
        names = names[:12]  # mlp: a block of the matrix is enough
    result = hessian(graph, point, names)
    numeric = numeric_hessian(graph, point, names)
    for i in range(len(names)):
        for j in range(len(names)):
            assert_close(result.hessian[i][j], numeric[i][j], 1e-5, 1e-7)
            assert_close(result.hessian[i][j], result.hessian[j][i], 1e-12, 1e-14)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_generated_programs_agree_with_differences_of_the_gradient(source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    assume(graph.inputs and len(graph.inputs) <= 6)
    point = {name: 0.6 + 0.1 * k for k, name in enumerate(graph.inputs)}
    check = hessian_check(graph, point)
    result = hessian(graph, point)
    flat = [v for row in result.hessian for v in row]
    assume(all(math.isfinite(v) for v in flat) and all(math.isfinite(r.numeric) for r in check.rows))
    assume(all(r.status != "KINK" for r in check.rows))
    assume(max(abs(v) for v in flat) < 1e6)
    numeric = numeric_hessian(graph, point, list(result.wrt))
    assume(all(math.isfinite(v) for row in numeric for v in row))
    scale = max(1.0, max(abs(v) for v in flat))
    n = len(result.wrt)
    for i in range(n):
        for j in range(n):
            assert abs(result.hessian[i][j] - numeric[i][j]) <= 1e-4 * scale, (i, j, result.hessian, numeric)
            # symmetric to rounding: the two orders of differentiation are different graphs
            assert abs(result.hessian[i][j] - result.hessian[j][i]) <= 1e-9 * scale


# --- the command ----------------------------------------------------------------------------


def test_json_is_exactly_the_documented_object(cg):
    r = cg("hessian", "-e", "x^2 * y", "--x", "1", "--y", "3", "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"output": "out", "value": 3.0, "wrt": ["x", "y"], "gradient": [6.0, 1.0],
                                 "hessian": [[6.0, 2.0], [2.0, 0.0]]}
    assert list(json.loads(r.out)) == ["output", "value", "wrt", "gradient", "hessian"]


def test_json_non_finite_numbers_are_spelled_as_eval_spells_them(cg):
    r = cg("hessian", "-e", "log(x) * y", "--x", "0", "--y", "3", "--format", "json")
    assert r.code == 0
    document = json.loads(r.out)  # strict: no NaN/Infinity tokens
    assert document["value"] == "-inf" and document["gradient"] == ["inf", "-inf"]
    assert document["hessian"] == [["-inf", "inf"], ["inf", 0.0]]
    evaluated = json.loads(cg("eval", "-e", "log(x) * y", "--x", "0", "--y", "3", "--format", "json").out)
    assert evaluated["value"] == document["value"]
    assert "warning" in r.err


def test_csv_has_a_header_and_a_row_per_name_at_full_precision(cg):
    r = cg("hessian", "-e", "exp(x*y)", "--x", "1", "--y", "0.5", "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["wrt", "gradient", "x", "y"]
    assert [row[0] for row in rows[1:]] == ["x", "y"]
    e = math.exp(0.5)
    assert float(rows[1][1]) == 0.5 * e and float(rows[2][3]) == e
    assert float(rows[1][3]) == float(rows[2][2]) == 1.5 * e


def test_csv_quotes_indexed_names_with_commas(cg):
    r = cg("hessian", "-e", "param w[1,1] = 0.5\nparam w[2,1] = 0.5\ny = w[1,1] * w[2,1]^2", "--format", "csv",
           "--wrt", "w[1,1],w[2,1]")
    assert r.code == 0, r.err
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["wrt", "gradient", "w[1,1]", "w[2,1]"]


def test_table_shows_the_value_gradient_and_labelled_matrix(cg):
    r = cg("hessian", str(SAMPLES / "intro.cg"), *INTRO_ARGS)
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "g = -12"
    header = next(line for line in lines if "┃ dg/d(row)" in line)
    assert header.split("┃")[3:6] == [" x ", " y ", " z "]
    z_row = next(line for line in lines if line.startswith("│ z "))
    assert [cell.strip() for cell in z_row.split("│")[1:-1]] == ["z", "4", "1", "1", "0"]


def test_plain_and_output_file(cg, tmp_path):
    target = tmp_path / "h.json"
    r = cg("hessian", "-e", "x*y", "--x", "2", "--y", "3", "--format", "json", "-o", target)
    assert r.code == 0 and r.out == "" and "wrote" in r.err
    assert json.loads(target.read_text())["hessian"] == [[0.0, 1.0], [1.0, 0.0]]
    r = cg("hessian", "-e", "x*y", "--x", "2", "--y", "3", "--format", "plain")
    assert r.out.splitlines() == ["value 6.0", "gradient x 3.0", "gradient y 2.0", "hessian x x 0.0",
                                  "hessian x y 1.0", "hessian y x 1.0", "hessian y y 0.0"]


def test_output_never_overwrites_the_program(cg, tmp_path):
    program = tmp_path / "f.cg"
    program.write_text("y = x * x\n")
    r = cg("hessian", program, "--x", "1", "-o", program)
    assert r.code == 2 and program.read_text() == "y = x * x\n"


def test_an_unknown_wrt_name_is_a_usage_error_with_a_suggestion(cg):
    r = cg("hessian", "-e", "x^2 * y", "--x", "1", "--y", "3", "--wrt", "x,yy")
    assert r.code == 2
    assert "--wrt yy" in r.err and "did you mean 'y'" in r.err and "Traceback" not in r.err


def test_a_program_without_inputs_is_a_clear_error(cg):
    r = cg("hessian", "-e", "3 * 2")
    assert r.code == 1
    assert "has no inputs or params" in r.err and "hint" in r.err


def test_a_missing_input_is_a_usage_error(cg):
    r = cg("hessian", "-e", "x * y", "--x", "1")
    assert r.code == 2 and "y" in r.err


def test_python_api_is_lazy_and_mirrors_the_command():
    import subprocess

    code = ("import sys, cgraph; assert 'cgraph.transform' not in sys.modules; "
            "h = cgraph.hessian(cgraph.parse('x^2 * y'), {'x': 1, 'y': 3}); "
            "assert 'numpy' not in sys.modules; print(h.value, h.gradient, h.hessian)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "3.0 (6.0, 1.0) ((6.0, 2.0), (2.0, 0.0))"
    assert "hessian" in cgraph.__all__


# --- check --order 2 ------------------------------------------------------------------------


@pytest.mark.parametrize("name, inputs, args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_check_order_2_passes_on_the_samples(cg, name, inputs, args):
    r = cg("check", str(SAMPLES / f"{name}.cg"), *args, "--order", "2", "--format", "json")
    assert r.code == 0, r.out
    document = json.loads(r.out)
    assert document["passed"] is True and document["order"] == 2
    assert document["symmetry"]["symmetric"] is True
    n = len(cgraph.load(SAMPLES / f"{name}.cg").inputs)
    assert len(document["rows"]) == n * n


def test_check_order_2_table(cg):
    r = cg("check", "-e", "exp(x*y) + log(x)", "--x", "1", "--y", "0.5", "--order", "2")
    assert r.code == 0
    assert r.out.startswith("Hessian check: all passed")
    assert "x, y" in r.out and "symmetry: max |H[i][j] - H[j][i]| = 0.00e+00 (OK" in r.out


def wrong_tanh_rule(w, out, a):
    return (w.op("sub", w.const(1.0), out),)  # d tanh = 1 - out (should be 1 - out^2)


def test_check_order_2_fails_on_a_wrong_graph_rule(cg, monkeypatch):
    monkeypatch.setattr(OPS["tanh"], "rule", wrong_tanh_rule)
    r = cg("check", "-e", "tanh(x * y)", "--x", "0.5", "--y", "0.8", "--order", "2")
    assert r.code == 1
    assert "FAILED" in r.out and "FAIL" in r.out
    # order 1 reads the backward pass's own derivatives, which are right
    assert cg("check", "-e", "tanh(x * y)", "--x", "0.5", "--y", "0.8").code == 0


def test_check_order_2_flags_asymmetry(monkeypatch):
    from cgraph.engine import hessian as module

    real = module.matrix

    def skewed(graph, values, n):
        m = [list(row) for row in real(graph, values, n)]
        m[0][1] += 1.0
        return tuple(tuple(row) for row in m)

    monkeypatch.setattr(module, "matrix", skewed)
    result = hessian_check(cgraph.parse("x * y"), {"x": 1, "y": 2})
    assert not result.symmetric and not result.passed
    assert result.asymmetry == 1.0


@pytest.mark.parametrize(("matrix", "expected"), [
    ([[1.0, math.inf], [math.inf, 2.0]], 0.0),  # equal infinities are symmetric (inf - inf is nan)
    ([[math.nan, -math.inf], [-math.inf, 0.0]], 0.0),  # the diagonal does not count
    ([[0.0, math.inf], [1.0, 0.0]], math.inf),
    ([[0.0, math.inf], [-math.inf, 0.0]], math.inf),
    ([[0.0, 1.5], [-0.5, 0.0]], 2.0),
])
def test_asymmetry_of_equal_infinities_is_zero(matrix, expected):
    assert max_asymmetry(matrix) == expected
    assert math.isnan(max_asymmetry([[0.0, math.nan], [math.nan, 0.0]]))


def test_the_symmetry_of_log_x_times_y_at_0_is_exact(cg):
    # H[x][y] = H[y][x] = 1/x = inf: the same entry both ways, so no asymmetry to report
    r = cg("check", "-e", "log(x) * y", "--x", "0", "--y", "0", "--order", "2", "--format", "json")
    assert json.loads(r.out)["symmetry"] == {"max_abs_difference": 0.0, "tolerance": 1e-05, "symmetric": True}


def test_check_order_2_marks_kinks(cg):
    r = cg("check", "-e", "relu(x) * y", "--x", "0", "--y", "2", "--order", "2", "--format", "json")
    assert r.code == 0
    statuses = {row["name"]: row["status"] for row in json.loads(r.out)["rows"]}
    assert statuses["x, x"] == "KINK"
