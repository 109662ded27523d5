"""The cgraph language, item by item: syntax, numbers and names, operators and precedence,
functions, names and declarations, output selection, user functions, loops, reductions,
the graph size cap, the IR's shape, and IEEE numerics end to end.

Expected values and gradients are worked out by hand or with `math`, never by cgraph.
"""

from __future__ import annotations

import math
import time

import pytest

import cgraph
from cgraph import Tag


# --- helpers -------------------------------------------------------------------------


def run(source: str, inputs: dict[str, float] | None = None, **options) -> cgraph.Evaluation:
    return cgraph.evaluate(cgraph.parse(source), inputs or {}, **options)


def value(source: str, inputs: dict[str, float] | None = None) -> float:
    return run(source, inputs).value


def assert_gradients(result: cgraph.Evaluation, expected: dict[str, float]) -> None:
    assert set(result.gradients) == set(expected)
    for name, g in expected.items():
        assert result.gradients[name] == pytest.approx(g, rel=1e-12, abs=1e-15), name


def nodes_named(graph: cgraph.Graph, name: str) -> cgraph.Node:
    return graph.node(graph.names[name])


def sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


# --- 1. comments, separators, blank lines, line endings, continuation ------------------


def test_comments_and_blank_lines_anywhere():
    source = "# a header comment\n\n   \n# another\na = 2   # trailing comment\n\n\nb = a * 3\n\n# the end\n\n"
    assert value(source) == 6.0


def test_semicolons_separate_statements():
    assert value("a = 2; b = a * 3; c = b + 1") == 7.0
    assert value("a = 2;; b = a * 3;\n;c = b + 1;") == 7.0


def test_crlf_line_endings_and_missing_final_newline():
    lf = "p = x + y\n# comment\ng = p * z\n"
    variants = [lf, lf.replace("\n", "\r\n"), lf.rstrip("\n"), lf.replace("\n", "\r\n").rstrip("\r\n")]
    for source in variants:
        r = run(source, {"x": 1, "y": 3, "z": -3})
        assert r.value == -12.0, repr(source)
        assert r.gradients == {"x": -3.0, "y": -3.0, "z": 4.0}, repr(source)


def test_comment_on_the_last_line_without_newline():
    assert value("y = 2 * 3 # six") == 6.0


def test_newline_inside_parentheses_continues_the_expression():
    source = "y = (x +\n     2 * z\n\n    )\nw = max(y,\n        z)"
    r = run(source, {"x": 1.0, "z": 5.0})
    assert r["y"] == 11.0
    assert r.value == 11.0
    assert r.graph.output_name == "w"


def test_newline_inside_a_call_and_reduction():
    source = "y = sum(\n  w[i] * x[i]\n  for i in 1..2\n)\nz = pow(y,\n 2)"
    r = run(source, {"w[1]": 2, "w[2]": 3, "x[1]": 5, "x[2]": 7})
    assert r["y"] == 31.0
    assert r.value == 961.0


# --- 2. numbers and names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("3", 3.0), ("3.0", 3.0), ("3.", 3.0), (".5", 0.5), ("1e-3", 1e-3), ("2.5E+4", 25000.0),
     ("1E3", 1000.0), ("0.25e1", 2.5), ("007", 7.0), ("1.5e-300", 1.5e-300)],
)
def test_number_literals(literal, expected):
    assert value(f"y = {literal}") == expected


def test_a_range_is_not_a_decimal_point():
    # "1..3" is the range 1 to 3, not the number "1." followed by ".3"
    assert value("y = sum(i for i in 1..3)") == 6.0


def test_names_letters_digits_underscores():
    source = "_a = 1\nB_2 = _a + 1\nabc_XYZ_09 = B_2 * 2\n__ = abc_XYZ_09 + x9"
    r = run(source, {"x9": 10})
    assert r["abc_XYZ_09"] == 4.0
    assert r.value == 14.0
    assert set(r.graph.names) >= {"_a", "B_2", "abc_XYZ_09", "__", "x9"}


def test_names_that_start_with_a_keyword_are_ordinary_names():
    names = ["inputs", "index", "parameter", "params", "output_1", "outputs", "define", "forward", "fora", "in1"]
    source = "y = " + " + ".join(f"{i + 1} * {n}" for i, n in enumerate(names))
    r = run(source, {n: 1.0 for n in names})
    assert r.value == sum(range(1, len(names) + 1))
    assert r.gradients == {n: float(i + 1) for i, n in enumerate(names)}


def test_a_keyword_prefix_works_as_an_assigned_name():
    assert value("inputs = 2\nformat = inputs * 3\nout_put = format + 1") == 7.0


# --- 3. operators and precedence ---------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("7 - 2 - 1", 4.0),
        ("8 / 4 / 2", 1.0),
        ("2 * 3 / 4", 1.5),
        ("2 ^ 3", 8.0),
        ("2 ** 3", 8.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("2 ** 3 ** 2", 512.0),
        ("2 ^ 3 ** 2", 512.0),
        ("(2 ^ 3) ^ 2", 64.0),
        ("-2 ^ 2", -4.0),
        ("-2 ** 2", -4.0),
        ("(-2) ^ 2", 4.0),
        ("2 ^ -1", 0.5),
        ("2 ^ -1 ^ 2", 0.5),  # 2^(-(1^2))
        ("2 * 3 ^ 2", 18.0),
        ("3 ^ 2 * 2", 18.0),
        ("2 * -3", -6.0),
        ("1 - -1", 2.0),
        ("- -3", 3.0),
        ("+3", 3.0),
        ("-(2 + 3) * 2", -10.0),
        ("1 + 2 * 3 - 4 / 2 ^ 2", 6.0),
    ],
)
def test_operator_precedence(expression, expected):
    assert value(f"y = {expression}") == expected


def test_power_binds_tighter_than_unary_minus():
    r = run("y = -x^2", {"x": 3.0})
    assert r.value == -9.0  # -(x^2), not (-x)^2
    assert r.gradients == {"x": -6.0}
    r = run("y = -x**2", {"x": 3.0})
    assert (r.value, r.gradients) == (-9.0, {"x": -6.0})


def test_power_is_right_associative_with_variables():
    r = run("y = a ^ b ^ c", {"a": 2.0, "b": 3.0, "c": 2.0})
    assert r.value == 512.0
    # y = a^(b^c): dy/da = b^c a^(b^c - 1), dy/db = y ln(a) c b^(c-1), dy/dc = y ln(a) b^c ln(b)
    assert_gradients(r, {
        "a": 9 * 2.0**8,
        "b": 512 * math.log(2) * 2 * 3,
        "c": 512 * math.log(2) * 9 * math.log(3),
    })


def test_caret_and_double_star_are_the_same_op():
    g1, g2 = cgraph.parse("y = x ^ z"), cgraph.parse("y = x ** z")
    assert g1.ops == g2.ops
    assert "pow" in g1.ops


def test_arithmetic_gradients():
    r = run("y = (a + b) * (a - b) / c", {"a": 3.0, "b": 1.0, "c": 2.0})
    assert r.value == 4.0
    # y = (a^2 - b^2)/c
    assert_gradients(r, {"a": 3.0, "b": -1.0, "c": -2.0})


def test_unary_plus_and_minus_gradients():
    r = run("y = -x + +z", {"x": 2.0, "z": 5.0})
    assert r.value == 3.0
    assert_gradients(r, {"x": -1.0, "z": 1.0})


# --- 4. functions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("exp(0.5)", math.exp(0.5)),
        ("log(2.5)", math.log(2.5)),
        ("sqrt(2)", math.sqrt(2)),
        ("sin(0.3)", math.sin(0.3)),
        ("cos(0.3)", math.cos(0.3)),
        ("tan(0.3)", math.tan(0.3)),
        ("tanh(0.3)", math.tanh(0.3)),
        ("sigmoid(0.3)", sigmoid(0.3)),
        ("relu(-2)", 0.0),
        ("relu(2)", 2.0),
        ("abs(-2)", 2.0),
        ("abs(2)", 2.0),
        ("pow(2, 10)", 1024.0),
        ("max(1, 2)", 2.0),
        ("max(2, -1)", 2.0),
        ("min(1, 2)", 1.0),
        ("min(2, -1)", -1.0),
        ("sum(4)", 4.0),
        ("sum(1, 2, 3, 4)", 10.0),
        ("mean(4)", 4.0),
        ("mean(1, 2, 3, 4)", 2.5),
        ("sum(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)", 55.0),
    ],
)
def test_function_values(expression, expected):
    assert value(f"y = {expression}") == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("function", "x", "derivative"),
    [
        ("exp", 0.5, math.exp(0.5)),
        ("log", 2.5, 1 / 2.5),
        ("sqrt", 2.0, 0.5 / math.sqrt(2.0)),
        ("sin", 0.3, math.cos(0.3)),
        ("cos", 0.3, -math.sin(0.3)),
        ("tan", 0.3, 1 / math.cos(0.3) ** 2),
        ("tanh", 0.3, 1 - math.tanh(0.3) ** 2),
        ("sigmoid", 0.3, sigmoid(0.3) * (1 - sigmoid(0.3))),
        ("relu", 1.5, 1.0),
        ("relu", -1.5, 0.0),
        ("abs", 1.5, 1.0),
        ("abs", -1.5, -1.0),
    ],
)
def test_unary_function_derivatives(function, x, derivative):
    r = run(f"y = {function}(x)", {"x": x})
    assert r.gradients["x"] == pytest.approx(derivative, rel=1e-12)


def test_binary_and_variadic_function_derivatives():
    r = run("y = pow(a, b)", {"a": 2.0, "b": 3.0})
    assert_gradients(r, {"a": 12.0, "b": 8 * math.log(2)})
    assert_gradients(run("y = max(a, b)", {"a": 2.0, "b": 3.0}), {"a": 0.0, "b": 1.0})
    assert_gradients(run("y = min(a, b)", {"a": 2.0, "b": 3.0}), {"a": 1.0, "b": 0.0})
    assert_gradients(run("y = sum(a, b, a*b)", {"a": 2.0, "b": 3.0}), {"a": 4.0, "b": 3.0})
    assert_gradients(run("y = mean(a, b, a*b, 1)", {"a": 2.0, "b": 3.0}), {"a": 1.0, "b": 0.75})


# --- 5. names ------------------------------------------------------------------------


def test_assignment_names_a_node():
    g = cgraph.parse("p = x + y\ng = p * z")
    assert g.ops[g.names["p"]] == "add"
    assert g.ops[g.names["g"]] == "mul"
    assert g.args[g.names["g"]] == (g.names["p"], g.names["z"])
    r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    assert r["p"] == 4.0
    assert r.grad("p") == -3.0


def test_a_name_never_defined_is_an_input():
    g = cgraph.parse("y = a * b + a")
    assert set(g.inputs) == {"a", "b"}
    assert list(g.inputs) == ["a", "b"]  # in order of first appearance
    assert {g.ops[i] for i in g.inputs.values()} == {"input"}
    r = cgraph.evaluate(g, {"a": 2, "b": 5})
    assert r.value == 12.0
    assert r.inputs == {"a": 2.0, "b": 5.0}
    assert_gradients(r, {"a": 6.0, "b": 2.0})


def test_a_name_can_be_used_after_its_definition_many_times():
    r = run("a = x * 2\nb = a + a * a\nc = b - a", {"x": 1.5})
    # a = 2x, c = a^2 ; dc/dx = 2a * 2 = 8x
    assert r.value == 9.0
    assert_gradients(r, {"x": 12.0})


# --- 6. declarations ---------------------------------------------------------------------


def test_input_declaration_gives_a_default():
    g = cgraph.parse("input x = 1.5\ny = x * x")
    assert g.ops[g.names["x"]] == "input"
    assert g.node(g.names["x"]).value == 1.5
    r = cgraph.evaluate(g)
    assert (r.value, r.gradients) == (2.25, {"x": 3.0})


def test_given_inputs_override_the_default():
    g = cgraph.parse("input x = 1.5\ny = x * x")
    r = cgraph.evaluate(g, {"x": -2.0})
    assert (r.value, r.gradients) == (4.0, {"x": -4.0})


def test_input_without_default_must_be_given():
    g = cgraph.parse("input x\ny = 3 * x")
    assert cgraph.evaluate(g, {"x": 2.0}).value == 6.0
    with pytest.raises(cgraph.InputError):
        cgraph.evaluate(g)


def test_declared_default_is_a_constant_expression():
    r = run("input x = -2^2 + 1\nparam w = 2 * sin(1)\ny = x + w")
    assert r.inputs == {"x": -3.0, "w": 2 * math.sin(1)}


def test_param_gradient_is_reported_and_value_overridable():
    g = cgraph.parse("param w = 0.1\ninput x = 2\ny = w * x + w")
    assert g.ops[g.names["w"]] == "param"
    r = cgraph.evaluate(g)
    assert r.value == pytest.approx(0.3)
    assert_gradients(r, {"w": 3.0, "x": 0.1})
    r = cgraph.evaluate(g, {"w": 4.0})
    assert r.value == 12.0
    assert_gradients(r, {"w": 3.0, "x": 4.0})


def test_indexed_param_declaration():
    g = cgraph.parse("param w[2] = -0.4\ny = w[2] * x")
    assert g.ops[g.names["w[2]"]] == "param"
    r = cgraph.evaluate(g, {"x": 5.0})
    assert r.value == -2.0
    assert_gradients(r, {"w[2]": 5.0, "x": -0.4})
    assert cgraph.evaluate(g, {"x": 5.0, "w[2]": 1.0}).value == 5.0


def test_params_declared_in_a_loop():
    source = "for i in 1..3 { param w[i] = 0.1 * i }\ny = w[1] + 10 * w[2] + 100 * w[3]"
    g = cgraph.parse(source)
    assert [g.ops[g.names[f"w[{i}]"]] for i in (1, 2, 3)] == ["param"] * 3
    r = cgraph.evaluate(g)
    assert r.inputs == pytest.approx({"w[1]": 0.1, "w[2]": 0.2, "w[3]": 0.3})
    assert_gradients(r, {"w[1]": 1.0, "w[2]": 10.0, "w[3]": 100.0})
    assert cgraph.evaluate(g, {"w[2]": 1.0}).value == pytest.approx(0.1 + 10 + 30)


def test_two_dimensional_params_in_nested_loops():
    source = "for i in 1..2 {\n for j in 1..3 {\n  param W[i,j] = 10*i + j\n }\n}\ny = W[2,3] - W[1][2]"
    r = run(source)
    assert r.inputs["W[2,3]"] == 23.0 and r.inputs["W[1,2]"] == 12.0
    assert len(r.inputs) == 6
    assert r.value == 11.0
    assert r.gradients["W[2,3]"] == 1.0 and r.gradients["W[1,2]"] == -1.0


# --- 7. output selection -------------------------------------------------------------------


def test_output_is_the_last_assigned_name():
    g = cgraph.parse("p = x + y\ng = p * z")
    assert g.output == g.names["g"]
    assert g.output_name == "g"


def test_a_declaration_after_the_last_assignment_does_not_change_the_output():
    g = cgraph.parse("y = x * 2\nparam w = 1")
    assert g.output_name == "y"


@pytest.mark.parametrize("source", ["p = x * 2\ny = p + 1\noutput p", "output p\np = x * 2\ny = p + 1"])
def test_output_statement_chooses_the_output(source):
    g = cgraph.parse(source)
    assert g.output_name == "p"
    r = cgraph.evaluate(g, {"x": 3.0})
    assert (r.value, r.gradients) == (6.0, {"x": 2.0})


def test_output_statement_with_an_indexed_name():
    g = cgraph.parse("for i in 1..3 { w[i] = x * i }\noutput w[2]\nz = 1")
    assert g.output_name == "w[2]"
    r = cgraph.evaluate(g, {"x": 4.0})
    assert (r.value, r.gradients) == (8.0, {"x": 2.0})


def test_single_bare_expression_file_is_named_out():
    g = cgraph.parse("(x+y)*z")
    assert g.output_name == "out"
    assert g.names["out"] == g.output
    r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    assert r.value == -12.0
    assert r["out"] == -12.0
    assert r.gradients == {"x": -3.0, "y": -3.0, "z": 4.0}


def test_bare_expression_after_statements_is_the_output():
    g = cgraph.parse("p = x + 1\np * 2")
    assert g.output_name == "out"
    assert cgraph.evaluate(g, {"x": 1}).value == 4.0


def test_evaluate_can_differentiate_another_named_node():
    g = cgraph.parse("p = x + y\ng = p * z")
    r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3}, output="p")
    assert r.value == 4.0
    assert r.output == g.names["p"]
    assert r.gradients == {"x": 1.0, "y": 1.0, "z": 0.0}
    # the values of the rest of the graph are still computed
    assert r["g"] == -12.0


def test_graph_with_output_selects_another_node():
    g = cgraph.parse("p = x + y\ng = p * z").with_output("p")
    assert g.output_name == "p"
    assert cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3}).gradients == {"x": 1.0, "y": 1.0, "z": 0.0}


# --- 8. user functions ------------------------------------------------------------------


NEURON = """\
def neuron(a, b) = tanh(w*a + b)
y1 = neuron(x, 0.5)
y2 = neuron(2, x)
y = y1 * y2
"""


def test_def_inlines_a_tagged_copy_per_call():
    g = cgraph.parse(NEURON)
    tanhs = [node for node in g if node.op == "tanh"]
    assert len(tanhs) == 2  # one copy per call
    assert tanhs[0].tags == (Tag("call", "neuron", 1, 2),)
    assert tanhs[1].tags == (Tag("call", "neuron", 2, 3),)
    for node in g:
        if node.op in ("mul", "add") and node.tags:
            assert node.tags[0].kind == "call" and node.tags[0].name == "neuron"
    assert not nodes_named(g, "y").tags  # the top level is not in a call
    # the shared free name w is one input node
    assert list(g.ops).count("input") == 2
    assert set(g.inputs) == {"w", "x"}


def test_def_free_names_are_shared_and_gradients_accumulate():
    w, x = 0.3, -0.7
    r = run(NEURON, {"w": w, "x": x})
    t1, t2 = math.tanh(w * x + 0.5), math.tanh(w * 2 + x)
    assert r.value == pytest.approx(t1 * t2, rel=1e-15)
    d1, d2 = 1 - t1 * t1, 1 - t2 * t2
    # y = t1 t2, t1 = tanh(w x + 0.5), t2 = tanh(2 w + x)
    assert_gradients(r, {
        "w": d1 * x * t2 + t1 * d2 * 2,
        "x": d1 * w * t2 + t1 * d2,
    })


def test_def_parameters_shadow_file_names():
    r = run("def f(x) = x * 2\ny = f(3) + x", {"x": 1.0})
    assert r.value == 7.0
    assert_gradients(r, {"x": 1.0})


def test_def_free_name_refers_to_an_assigned_name():
    r = run("def f(a) = a * w\nw = 2 * x\ny = f(3)", {"x": 1.5})
    assert r.value == 9.0
    assert_gradients(r, {"x": 6.0})


def test_def_with_declared_param():
    r = run("param w = 0.5\ndef scale(a) = w * a\ny = scale(x) + scale(x * x)", {"x": 3.0})
    assert r.value == 6.0
    assert_gradients(r, {"w": 12.0, "x": 0.5 * (1 + 2 * 3.0)})


def test_def_without_parameters():
    r = run("def two() = 2\ny = two() * x", {"x": 4.0})
    assert (r.value, r.gradients) == (8.0, {"x": 2.0})


def test_nested_calls_are_tagged_outer_then_inner():
    source = "def inner(a) = sin(a)\ndef outer(a) = inner(a) * 2\ny = outer(x)\nz = y + outer(1)"
    g = cgraph.parse(source)
    sins = [node for node in g if node.op == "sin"]
    assert len(sins) == 2
    assert [t[:3] for t in sins[0].tags] == [("call", "outer", 1), ("call", "inner", 1)]
    assert [t[:3] for t in sins[1].tags] == [("call", "outer", 2), ("call", "inner", 2)]
    assert sins[0].tags[0].line == 3 and sins[1].tags[0].line == 4
    r = cgraph.evaluate(g, {"x": 0.4})
    assert r.value == pytest.approx(2 * math.sin(0.4) + 2 * math.sin(1))
    assert_gradients(r, {"x": 2 * math.cos(0.4)})


def test_def_called_in_a_loop_has_call_and_loop_tags():
    g = cgraph.parse("def sq(a) = a * a\nfor t in 1..2 {\n  y[t] = sq(x[t])\n}")
    muls = [node for node in g if node.op == "mul"]
    assert [node.tags for node in muls] == [
        (Tag("loop", "t", 1, 2), Tag("call", "sq", 1, 3)),
        (Tag("loop", "t", 2, 2), Tag("call", "sq", 2, 3)),
    ]


# --- 9. loops ------------------------------------------------------------------------------


def test_linear_recurrence_by_hand():
    source = "for t in 1..4 { h[t] = h[t-1] * w + x[t] }"
    inputs = {"h[0]": 0.5, "w": 1.5, "x[1]": 1.0, "x[2]": -2.0, "x[3]": 3.0, "x[4]": -4.0}
    r = run(source, inputs)
    h0, w, x1, x2, x3, x4 = inputs.values()
    assert r.graph.output_name == "h[4]"
    assert r.value == pytest.approx(w**4 * h0 + w**3 * x1 + w**2 * x2 + w * x3 + x4, rel=1e-15)
    assert_gradients(r, {
        "h[0]": w**4,
        "w": 4 * w**3 * h0 + 3 * w**2 * x1 + 2 * w * x2 + x3,
        "x[1]": w**3, "x[2]": w**2, "x[3]": w, "x[4]": 1.0,
    })


def rnn_by_hand(w: float, u: float, h0: float, xs: list[float]) -> tuple[float, dict[str, float]]:
    """h[t] = tanh(w h[t-1] + u x[t]); the value of h[T] and its gradients by backprop through time."""
    hs = [h0]
    for x in xs:
        hs.append(math.tanh(w * hs[-1] + u * x))
    grads = {"w": 0.0, "u": 0.0}
    dh = 1.0
    for t in range(len(xs), 0, -1):
        da = dh * (1 - hs[t] ** 2)
        grads["w"] += da * hs[t - 1]
        grads["u"] += da * xs[t - 1]
        grads[f"x[{t}]"] = da * u
        dh = da * w
    grads["h[0]"] = dh
    return hs[-1], grads


def test_recurrent_loop_by_hand():
    source = "for t in 1..5 {\n  h[t] = tanh(w*h[t-1] + u*x[t])\n}\n"
    xs = [0.5, -1.0, 0.25, 2.0, -0.75]
    inputs = {"w": 0.8, "u": -0.6, "h[0]": 0.1} | {f"x[{t}]": x for t, x in enumerate(xs, 1)}
    r = run(source, inputs)
    expected_value, expected_grads = rnn_by_hand(0.8, -0.6, 0.1, xs)
    assert r.value == pytest.approx(expected_value, rel=1e-14)
    assert_gradients(r, expected_grads)


def test_loop_tags():
    g = cgraph.parse("# header\nfor t in 1..5 {\n  h[t] = tanh(w*h[t-1] + u*x[t])\n}")
    for t in range(1, 6):
        node = nodes_named(g, f"h[{t}]")
        assert node.tags == (Tag("loop", "t", t, 2),)
        assert node.op == "tanh"
        # every computed node of the iteration has the tag
        for arg in node.args:
            assert g.node(arg).tags == (Tag("loop", "t", t, 2),)


def test_loop_ranges_are_inclusive():
    g = cgraph.parse("for i in 2..4 { y[i] = x[i] * 2 }")
    assert set(g.inputs) == {"x[2]", "x[3]", "x[4]"}
    assert {n for n in g.names if n.startswith("y[")} == {"y[2]", "y[3]", "y[4]"}


def test_single_iteration_and_empty_ranges():
    assert value("for i in 3..3 { y[i] = 7 }") == 7.0
    g = cgraph.parse("for i in 3..1 { y[i] = x[i] }\nz = 2")
    assert "y[3]" not in g.names and "x[3]" not in g.names
    assert len(g) == 1


def test_loop_bounds_can_be_negative_and_arithmetic():
    g = cgraph.parse("for i in -1..2*2-2 { y[i] = x[i] + i }")
    assert set(g.inputs) == {"x[-1]", "x[0]", "x[1]", "x[2]"}


def test_indexed_free_names_are_inputs():
    g = cgraph.parse("for t in 1..3 { h[t] = h[t-1] + x[t] }")
    assert set(g.inputs) == {"h[0]", "x[1]", "x[2]", "x[3]"}
    assert all(g.ops[i] == "input" for i in g.inputs.values())
    r = cgraph.evaluate(g, {"h[0]": 1, "x[1]": 2, "x[2]": 3, "x[3]": 4})
    assert r.value == 10.0
    assert r["h[2]"] == 6.0


def test_two_dimensional_index_both_spellings_are_one_node():
    g = cgraph.parse("y = w[1,2] + w[1][2] + w[2, 1]")
    assert set(g.inputs) == {"w[1,2]", "w[2,1]"}
    r = cgraph.evaluate(g, {"w[1,2]": 3.0, "w[2,1]": 5.0})
    assert r.value == 11.0
    assert_gradients(r, {"w[1,2]": 2.0, "w[2,1]": 1.0})


def test_index_arithmetic():
    source = "for i in 1..2 {\n  for j in 1..2 {\n    m[i,j] = w[i+1, j*2] * x[(i-1)*2 + j] - x[2*i-j+1]\n  }\n}"
    g = cgraph.parse(source)
    assert {n for n in g.inputs if n.startswith("w")} == {"w[2,2]", "w[2,4]", "w[3,2]", "w[3,4]"}
    assert {n for n in g.inputs if n.startswith("x")} == {"x[1]", "x[2]", "x[3]", "x[4]"}
    node = nodes_named(g, "m[2,1]")  # w[3,2] * x[3] - x[4]
    mul, x4 = node.args
    assert g.name_of(x4) == "x[4]"
    assert [g.name_of(a) for a in g.args[mul]] == ["w[3,2]", "x[3]"]


def test_indices_in_reads_and_writes_with_negative_numbers():
    g = cgraph.parse("y[-1] = x[0 - 1] * 2")
    assert "y[-1]" in g.names and "x[-1]" in g.inputs


def test_nested_loops_have_both_tags():
    g = cgraph.parse("for i in 1..2 {\n  for j in 1..3 {\n    m[i,j] = x[i] * y[j]\n  }\n}")
    for i in (1, 2):
        for j in (1, 2, 3):
            assert nodes_named(g, f"m[{i},{j}]").tags == (Tag("loop", "i", i, 1), Tag("loop", "j", j, 2))


def test_loop_variable_as_a_value_is_a_constant():
    r = run("for t in 1..3 { y[t] = t * x }\nz = y[1] + y[2] + y[3]", {"x": 2.0})
    assert r["y[3]"] == 6.0
    assert (r.value, r.gradients) == (12.0, {"x": 6.0})


def test_plain_names_in_a_loop_body_are_local_to_the_iteration():
    source = "for t in 1..3 {\n  z = x[t] * t\n  h[t] = z + z\n}\ns = h[1] + h[2] + h[3]"
    g = cgraph.parse(source)
    assert {"z@t=1", "z@t=2", "z@t=3"} <= set(g.names)
    assert "z" not in g.names
    r = cgraph.evaluate(g, {"x[1]": 1, "x[2]": 1, "x[3]": 1})
    assert r["z@t=3"] == 3.0
    assert (r.value, r.gradients) == (12.0, {"x[1]": 2.0, "x[2]": 4.0, "x[3]": 6.0})


def test_local_names_in_nested_loops():
    g = cgraph.parse("for i in 1..2 { for j in 1..2 { z = i * 10 + j\n m[i,j] = z } }")
    assert {"z@i=1,j=1", "z@i=1,j=2", "z@i=2,j=1", "z@i=2,j=2"} <= set(g.names)
    assert cgraph.evaluate(g)["m[2,1]"] == 21.0


def test_output_defaults_to_the_last_assignment_in_the_last_iteration():
    g = cgraph.parse("for t in 1..3 { h[t] = h[t-1] + 1 }")
    assert g.output_name == "h[3]"


def test_loop_body_with_newlines_comments_and_semicolons():
    source = "for i in 1..3 {\n\n  # a comment\n  a[i] = i ; b[i] = a[i] * x\n\n}\ny = b[1] + b[3]\n"
    r = run(source, {"x": 2.0})
    assert (r.value, r.gradients) == (8.0, {"x": 4.0})


# --- 10. reductions ----------------------------------------------------------------------


DOT = {"w[1]": 0.5, "w[2]": -1.5, "w[3]": 2.0, "x[1]": 3.0, "x[2]": 4.0, "x[3]": -5.0}


def test_sum_reduction():
    r = run("y = sum(w[i]*x[i] for i in 1..3)", DOT)
    assert r.value == 0.5 * 3 - 1.5 * 4 - 2 * 5
    assert_gradients(r, {"w[1]": 3.0, "w[2]": 4.0, "w[3]": -5.0, "x[1]": 0.5, "x[2]": -1.5, "x[3]": 2.0})


def test_mean_reduction():
    r = run("y = mean(w[i]*x[i] for i in 1..3)", DOT)
    assert r.value == pytest.approx((0.5 * 3 - 1.5 * 4 - 2 * 5) / 3, rel=1e-15)
    assert_gradients(r, {
        "w[1]": 1.0, "w[2]": 4 / 3, "w[3]": -5 / 3, "x[1]": 0.5 / 3, "x[2]": -0.5, "x[3]": 2 / 3,
    })


def test_reduction_is_one_variadic_node():
    g = cgraph.parse("y = sum(x[i] for i in 1..4)")
    node = nodes_named(g, "y")
    assert node.op == "sum"
    assert [g.name_of(a) for a in node.args] == ["x[1]", "x[2]", "x[3]", "x[4]"]


def test_reduction_inside_a_loop_uses_the_outer_variable():
    source = "for j in 1..2 {\n  h[j] = sum(W[j,i] * x[i] for i in 1..3)\n}"
    inputs = {f"W[{j},{i}]": 10 * j + i for j in (1, 2) for i in (1, 2, 3)} | {"x[1]": 1, "x[2]": 2, "x[3]": 3}
    r = run(source, inputs)
    assert r["h[1]"] == 11 + 24 + 39
    assert r.value == 21 + 44 + 69
    assert r.gradients["W[2,3]"] == 3.0 and r.gradients["W[1,3]"] == 0.0
    assert r.gradients["x[2]"] == 22.0


def test_nested_reductions():
    r = run("y = sum(mean(w[i,j] * j for j in 1..2) for i in 1..2)", {f"w[{i},{j}]": 1.0 for i in (1, 2) for j in (1, 2)})
    assert r.value == 3.0
    assert_gradients(r, {"w[1,1]": 0.5, "w[1,2]": 1.0, "w[2,1]": 0.5, "w[2,2]": 1.0})


def test_reduction_with_index_arithmetic_and_loop_variable_values():
    r = run("y = sum(i * x[2*i] for i in 1..3)", {"x[2]": 1, "x[4]": 1, "x[6]": 1})
    assert r.value == 6.0
    assert_gradients(r, {"x[2]": 1.0, "x[4]": 2.0, "x[6]": 3.0})


def test_sum_over_an_empty_range_is_zero():
    assert value("y = 1 + sum(x[i] for i in 1..0)") == 1.0


# --- 11. the graph size cap --------------------------------------------------------------


def test_max_nodes_caps_the_graph():
    source = "for t in 1..100 { h[t] = h[t-1] + 1 }"
    assert len(cgraph.parse(source)) > 100
    with pytest.raises(cgraph.GraphTooLarge):
        cgraph.parse(source, max_nodes=50)


def test_graph_too_large_is_a_build_error():
    assert issubclass(cgraph.GraphTooLarge, cgraph.BuildError)
    assert issubclass(cgraph.GraphTooLarge, cgraph.CgraphError)


def test_max_nodes_caps_a_straight_line_program():
    source = "y = " + " + ".join(f"x{i}" for i in range(20))
    n = len(cgraph.parse(source))
    assert n == 39
    assert len(cgraph.parse(source, max_nodes=n)) == n
    with pytest.raises(cgraph.GraphTooLarge):
        cgraph.parse(source, max_nodes=n - 1)


@pytest.mark.parametrize(
    "source",
    [
        "for t in 1..3 { h[t] = h[t-1] + 1 }",
        "for t in 1..10 { h[t] = tanh(w*h[t-1] + u*x[t]) }\nloss = (h[10] - 1)^2",
        "y = sum(x[i] * i for i in 1..10)",
        "for t in 1..3 { param w[t] = t }\ny = sum(w[i] for i in 1..3)",
        "for t in 1..3 { y[t] = x }",
        "a = x\nb = a\nc = b\nd = c",
        "def f(a) = a\ny = f(f(f(x)))",
    ],
)
def test_a_graph_of_exactly_max_nodes_nodes_is_allowed(source):
    n = len(cgraph.parse(source))
    assert len(cgraph.parse(source, max_nodes=n)) == n
    with pytest.raises(cgraph.GraphTooLarge):
        cgraph.parse(source, max_nodes=n - 1)


@pytest.mark.parametrize(
    "source",
    [
        "for t in 1..1000000000 { h[t] = h[t-1] + 1 }",
        "for i in 1..100000 { for j in 1..100000 { m[i,j] = i * j } }",
        "y = sum(x[i] for i in 1..1000000000)",
    ],
)
def test_huge_unrolling_is_refused_quickly(source):
    start = time.perf_counter()
    with pytest.raises(cgraph.GraphTooLarge):
        cgraph.parse(source)
    assert time.perf_counter() - start < 5.0


def test_huge_empty_loop_does_not_hang():
    # It adds no nodes, so it may be built or refused, but either way at once.
    start = time.perf_counter()
    try:
        graph = cgraph.parse("for t in 1..1000000000 { }\ny = 1")
    except cgraph.GraphTooLarge:
        pass
    else:
        assert cgraph.evaluate(graph).value == 1.0
    assert time.perf_counter() - start < 5.0


# --- the IR ---------------------------------------------------------------------------------


IR_PROGRAMS = [
    "p = x + y\ng = p * z",
    NEURON,
    "for t in 1..5 { h[t] = tanh(w*h[t-1] + u*x[t]) }\nloss = (h[5] - 0.3)^2",
    "y = x * 2\ninput x = 3",
    "output a\nb = 2\na = b * x + 2",
    "for i in 1..3 { param w[i] = i }\ny = sum(w[i] * w[4-i] for i in 1..3)",
]


@pytest.mark.parametrize("source", IR_PROGRAMS)
def test_nodes_are_in_topological_order(source):
    g = cgraph.parse(source)
    assert len(g.ops) == len(g.args) == len(g)
    for node in g:
        assert all(0 <= a < node.id for a in node.args), node
        if node.op in ("input", "param", "const"):
            assert node.args == ()


def test_repeated_constants_and_inputs_are_one_node():
    g = cgraph.parse("y = x*2 + x*2 + 2*x + x + 2")
    assert list(g.ops).count("input") == 1
    twos = [node for node in g if node.op == "const" and node.value == 2.0]
    assert len(twos) == 1
    r = cgraph.evaluate(g, {"x": 1.0})
    assert (r.value, r.gradients) == (9.0, {"x": 7.0})


def test_x_times_x_is_one_node_with_both_args_x():
    g = cgraph.parse("y = x * x")
    x = g.names["x"]
    y = g.node(g.names["y"])
    assert y.op == "mul" and y.args == (x, x)
    assert len(g) == 2
    for v in (3.0, -1.25, 0.0):
        r = cgraph.evaluate(g, {"x": v})
        assert (r.value, r.gradients["x"]) == (v * v, 2 * v)


def test_gradients_accumulate_through_aliases():
    r = run("a = x\nb = a + a\nc = b + b", {"x": 1.5})
    assert r.value == 6.0
    assert r.gradients == {"x": 4.0}


def test_gradient_of_a_value_with_fan_out():
    # y = x*x*x + x: dy/dx = 3x^2 + 1
    r = run("s = x * x\nt = s * x\ny = t + x", {"x": 2.0})
    assert (r.value, r.gradients) == (10.0, {"x": 13.0})
    assert r.grad("s") == 2.0 and r.grad("t") == 1.0


def test_node_view_and_names():
    g = cgraph.parse("p = x + y\ng = p * z")
    node = g.node(g.names["p"])
    assert node.op == "add"
    assert node.names == ("p",)
    assert node.name == "p"
    assert node.text == "x + y"
    assert (node.line, node.column) == (1, 7)  # anchored at the operator
    assert node.tags == ()
    assert g.node(g.names["z"]).text == "z"


def test_evaluation_values_and_grads_are_per_node():
    g = cgraph.parse("p = x + y\ng = p * z")
    r = cgraph.evaluate(g, {"x": 1, "y": 3, "z": -3})
    assert len(r.values) == len(r.grads) == len(g)
    assert r.values[g.names["p"]] == 4.0
    assert r.grads[g.output] == 1.0
    assert r.grads[g.names["p"]] == -3.0


def test_evaluation_does_not_mutate_the_graph():
    g = cgraph.parse("input x = 1\ny = x * 3")
    cgraph.evaluate(g, {"x": 5.0})
    assert cgraph.evaluate(g).value == 3.0


def test_gradients_helper():
    g = cgraph.parse("p = x + y\ng = p * z")
    assert cgraph.gradients(g, {"x": 1, "y": 3, "z": -3}) == {"x": -3.0, "y": -3.0, "z": 4.0}


# --- numerics end to end -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1/0", math.inf),
        ("-1/0", -math.inf),
        ("0/0", math.nan),
        ("log(-1)", math.nan),
        ("log(0)", -math.inf),
        ("exp(1000)", math.inf),
        ("(-8)^(1/3)", math.nan),
        ("pow(-8, 1/3)", math.nan),
        ("sqrt(-1)", math.nan),
        ("0^-1", math.inf),
        ("10^400", math.inf),
        ("sin(1/0)", math.nan),
        ("1e308 * 10", math.inf),
    ],
)
def test_ieee_results_without_exceptions(expression, expected):
    r = run(f"y = {expression}")
    if math.isnan(expected):
        assert math.isnan(r.value)
    else:
        assert r.value == expected
    assert r.warnings


def test_non_finite_inputs_propagate_without_exceptions():
    r = run("y = log(x) * exp(x) + sqrt(x) / x", {"x": -math.inf})
    assert math.isnan(r.value)
    assert math.isnan(r.gradients["x"])


def test_gradient_through_a_singularity_is_ieee():
    r = run("y = x^(1/3)", {"x": -8.0})
    assert math.isnan(r.value) and math.isnan(r.gradients["x"])
    r = run("y = 1/x", {"x": 0.0})
    assert r.value == math.inf
    assert r.gradients["x"] == -math.inf


def test_each_node_that_first_goes_non_finite_warns_with_its_line():
    source = "a = 1/x\nb = a + 1\nc = b * 2\nd = log(y)\ne = c + d"
    r = run(source, {"x": 0.0, "y": -1.0})
    assert math.isnan(r.value)
    assert len(r.warnings) == 2  # a and d start the trouble; b, c, e only carry it
    assert ":1:" in r.warnings[0] and ":4:" in r.warnings[1]


def test_no_warnings_when_everything_is_finite():
    assert run("y = 1/x", {"x": 2.0}).warnings == ()


def test_strict_raises_numeric_error():
    g = cgraph.parse("y = log(x)")
    assert cgraph.evaluate(g, {"x": 2.0}, strict=True).value == math.log(2.0)
    with pytest.raises(cgraph.NumericError):
        cgraph.evaluate(g, {"x": -1.0}, strict=True)
    r = cgraph.evaluate(g, {"x": -1.0})  # not strict: a warning, no error
    assert len(r.warnings) == 1


@pytest.mark.parametrize(
    ("source", "inputs", "expected"),
    [
        ("y = relu(x)", {"x": 0.0}, {"x": 0.0}),
        ("y = abs(x)", {"x": 0.0}, {"x": 0.0}),
        ("y = max(x, z)", {"x": 1.5, "z": 1.5}, {"x": 0.5, "z": 0.5}),
        ("y = min(x, z)", {"x": 1.5, "z": 1.5}, {"x": 0.5, "z": 0.5}),
        ("y = max(x, x)", {"x": 1.5}, {"x": 1.0}),
    ],
)
def test_kink_conventions_end_to_end(source, inputs, expected):
    assert run(source, inputs).gradients == expected


def test_an_output_statement_may_name_several_outputs_in_order():
    g = cgraph.parse("p = x + y\ng = p * z\noutput g, p")
    assert g.output_names == ("g", "p")
    assert g.outputs == (g.names["g"], g.names["p"])
    assert (g.output, g.output_name) == (g.names["g"], "g")  # the first is the one differentiated


@pytest.mark.parametrize("text, message", [
    ("p = x + y\noutput p, p", "'p' is already an output"),
    ("p = x + y\noutput p, q", "output 'q' is not a name in this file"),
])
def test_a_bad_list_of_outputs_is_a_located_error(text, message):
    with pytest.raises(cgraph.BuildError, match=message) as caught:
        cgraph.parse(text)
    assert caught.value.location.line == 2
