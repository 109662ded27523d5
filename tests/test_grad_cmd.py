"""`cgraph grad`: the derivatives written as a program that every command reads, its
names, its options and its errors; and `cgraph.grad`, the function behind it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, note

import cgraph
from cgraph.transform.grad import grad
from support.files import write
from support.jsonutil import strict_json
from support.paths import SAMPLES
from support.programs import programs
from support.samples import SAMPLE_CASES, SAMPLE_IDS

INTRO_POINT = ("--x", "1", "--y", "3", "--z", "-3")


def operations(graph: cgraph.Graph) -> int:
    """Nodes that compute something: not inputs, params or constants."""
    leaves = cgraph.ops.LEAF_KINDS
    return sum(1 for op in graph.ops if op not in leaves)


def outputs_of(text: str, *argv: str, cg) -> dict[str, float]:
    code, out, err = cg("eval", "-", *argv, "--format", "json", stdin=text)
    assert code == 0, err
    return strict_json(out)["outputs"] if '"outputs"' in out else {strict_json(out)["output"]: strict_json(out)["value"]}


def test_the_gradient_of_the_tutorial_is_a_readable_program(cg):
    code, out, err = cg("grad", SAMPLES / "intro.cg")
    assert code == 0, err
    assert out == (
        f"# The gradient of g in {SAMPLES / 'intro.cg'}, written by cgraph grad.\n"
        "input x\ninput y\ninput z\n"
        "dg_dp = z  # d g/d p, p = x + y (line 3)\n"
        "dg_dy = z  # d g/d y\n"
        "dg_dx = z  # d g/d x\n"
        "p = x + y\n"
        "dg_dz = p  # d g/d z\n"
        "output dg_dx, dg_dy, dg_dz\n"
    )
    # By hand: g = (x + y) z, so dg/dx = dg/dy = z = -3 and dg/dz = x + y = 4.
    assert outputs_of(out, *INTRO_POINT, cg=cg) == {"dg_dx": -3.0, "dg_dy": -3.0, "dg_dz": 4.0}


def test_raw_the_program_shows_the_seed_each_contribution_and_the_forward_pass(cg):
    code, out, err = cg("grad", SAMPLES / "intro.cg", "--no-simplify")
    assert code == 0, err
    assert "g = p * z\n" in out and "dg_dg = 1  #" in out
    assert "dg_dp = dg_dg * z  #" in out and "dg_dx = dg_dp * 1  #" in out
    assert outputs_of(out, *INTRO_POINT, cg=cg) == {"dg_dx": -3.0, "dg_dy": -3.0, "dg_dz": 4.0}


@pytest.mark.parametrize("command", [("eval",), ("render", "--format", "dot", "-o", "-"), ("explain",), ("check",)])
def test_every_command_reads_a_gradient_program_from_a_pipe(cg, command):
    code, text, err = cg("grad", SAMPLES / "neuron.cg")
    assert code == 0, err
    code, out, err = cg(*command[:1], "-", *command[1:], stdin=text)
    assert code == 0, err
    assert "dy_dw" in out or "all passed" in out  # check's table names the inputs


@pytest.mark.parametrize(("name", "inputs"), [(c[0], c[1]) for c in SAMPLE_CASES], ids=SAMPLE_IDS)
@pytest.mark.parametrize("simplify", [True, False])
def test_a_samples_gradient_program_gives_the_backward_pass_gradients(cg, name, inputs, simplify):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    if not graph.inputs:
        return
    argv = ["grad", SAMPLES / f"{name}.cg"] + ([] if simplify else ["--no-simplify"])
    code, text, err = cg(*argv)
    assert code == 0, err
    written = cgraph.parse(text)
    expected = cgraph.evaluate(graph, inputs).gradients
    values = cgraph.evaluate(written, inputs).values
    got = [values[node] for node in written.outputs]
    assert len(got) == len(expected)
    for value, want in zip(got, expected.values()):
        assert value == pytest.approx(want, rel=1e-12, abs=1e-300) or (math.isnan(value) and math.isnan(want))


def test_indexed_names_give_indexed_gradient_names_that_read_back(cg):
    code, text, err = cg("grad", SAMPLES / "rnn.cg", "--wrt", "w,h[0]")
    assert code == 0, err
    assert "dloss_dh[5] = " in text and text.rstrip().endswith("output dloss_dw, dloss_dh[0]")
    written = cgraph.parse(text)
    assert written.output_names == ("dloss_dw", "dloss_dh[0]")


def test_second_order_names_and_values_by_hand(cg):
    code, text, err = cg("grad", "-e", "g = x^2 * y + exp(x*y)", "--order", "2")
    assert code == 0, err
    x, y = 0.5, 2.0
    e = math.exp(x * y)
    got = outputs_of(text, "--x", str(x), "--y", str(y), cg=cg)
    assert list(got) == ["d2g_dx_dx", "d2g_dx_dy", "d2g_dy_dx", "d2g_dy_dy"]
    expected = [2 * y + y * y * e, 2 * x + e + x * y * e, 2 * x + e + x * y * e, x * x * e]
    assert list(got.values()) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("order", range(1, 9))
def test_tanh_derivatives_stay_small_and_exact(order):
    # d/dx tanh = 1 - o^2 with o = tanh(x): the n-th derivative is a polynomial P_n(o),
    # P_0 = o, P_{n+1} = P_n'(o) * (1 - o^2), with integer coefficients (exact here).
    coefficients = [0, 1]
    for _ in range(order):
        derivative = [k * c for k, c in enumerate(coefficients)][1:]
        coefficients = [0] * (len(derivative) + 2)
        for k, c in enumerate(derivative):
            coefficients[k] += c
            coefficients[k + 2] -= c
    g = grad(cgraph.parse("y = tanh(x)"), ["x"], order=order)
    assert operations(g) <= 100
    for x in (-1.3, 0.3, 0.9):
        o = math.tanh(x)
        terms = [c * o**k for k, c in enumerate(coefficients)]
        expected = sum(terms)
        got = cgraph.evaluate(g, {"x": x}).values[g.output]
        assert abs(got - expected) <= 1e-12 * sum(abs(t) for t in terms)


def test_the_first_order_gradient_graph_is_at_most_three_times_the_program():
    for name, _inputs, *_ in SAMPLE_CASES:
        graph = cgraph.load(SAMPLES / f"{name}.cg")
        if graph.inputs:
            assert len(grad(graph)) <= 3 * len(graph), name
    loop = cgraph.parse("h0 = x\n" + "".join(f"h{i + 1} = tanh(w*h{i} + b)\n" for i in range(300)))
    assert len(grad(loop)) <= 3 * len(loop)  # one sum node for all the uses of w (and of b)


def test_several_outputs_give_each_outputs_derivatives(cg, tmp_path):
    path = write(tmp_path, "p = x * y\nq = sin(x)\noutput p, q\n")
    code, text, err = cg("grad", path)
    assert code == 0, err
    got = outputs_of(text, "--x", "0.5", "--y", "3", cg=cg)
    assert got == pytest.approx({"dp_dx": 3.0, "dp_dy": 0.5, "dq_dx": math.cos(0.5), "dq_dy": 0.0})
    code, text, err = cg("grad", path, "--output", "q")
    assert code == 0, err
    assert cgraph.parse(text).output_names == ("dq_dx", "dq_dy")


def test_a_derivative_that_is_a_number_is_still_an_output(cg):
    code, text, err = cg("grad", "-e", "input u\ny = 3 * x", "--wrt", "x,u")
    assert code == 0, err
    assert outputs_of(text, "--x", "2", "--u", "1", cg=cg) == {"dy_dx": 3.0, "dy_du": 0.0}


def test_names_already_taken_are_not_reused(cg):
    code, text, err = cg("grad", "-e", "dy_dx = 5\ny = x * dy_dx")
    assert code == 0, err
    written = cgraph.parse(text)
    assert written.output_names[0] != "dy_dx"
    assert cgraph.evaluate(written, {"x": 1}).values[written.output] == 5.0


def test_raw_and_simplified_agree_on_inf_and_nan(cg):
    source = "y = log(x) * x + sqrt(x) / x + max(x, 0) * relu(x)"
    for x in (0.0, -0.0, -1.0, math.inf, math.nan, 2.0):
        values = []
        for simplify in (True, False):
            g = grad(cgraph.parse(source), simplify=simplify)
            values.append(cgraph.evaluate(g, {"x": x}).values[g.output])
        a, b = values
        assert (math.isnan(a) and math.isnan(b)) or a == b, (x, a, b)


@given(programs())
def test_generated_programs_gradient_programs_read_back(source):
    note(source)
    graph = cgraph.parse(source, max_nodes=50_000)
    if not graph.inputs:
        return
    text = cgraph.views.program.program_text(grad(graph))
    written = cgraph.parse(text, max_nodes=200_000)
    point = {name: 0.75 for name in graph.inputs}
    expected = list(cgraph.evaluate(graph, point).gradients.values())
    values = cgraph.evaluate(written, point).values
    for node, want in zip(written.outputs, expected):
        got = values[node]
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(("argv", "message"), [
    (("--x", "1"), "evaluates nothing"),
    (("--wrt", "q"), "not an input or param of the graph: q"),
    (("--wrt", "x,"), "an empty name"),
    (("--order", "0"), "0 is not in the range"),
    (("--order", "17"), "17 is not in the range"),
    (("--output", "nope"), "no node has that name"),
])
def test_bad_options_are_usage_errors(cg, argv, message):
    code, out, err = cg("grad", SAMPLES / "intro.cg", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_file_without_inputs_is_refused_clearly(cg):
    code, out, err = cg("grad", "-e", "y = 2 * 3")
    assert code == 2 and "no inputs or params" in err


def test_the_output_never_lands_on_the_program(cg, tmp_path):
    path = write(tmp_path, "y = x * x\n")
    code, out, err = cg("grad", path, "-o", path)
    assert code == 2 and "would overwrite" in err
    assert (tmp_path / "prog.cg").read_text() == "y = x * x\n"
    target = tmp_path / "dy.cg"
    code, out, err = cg("grad", path, "-o", target)
    assert code == 0 and out == ""
    assert cgraph.parse(target.read_text()).output_names == ("dy_dx",)


def test_a_deep_chain_is_differentiated_without_recursion():
    source = "h0 = x\n" + "".join(f"h{i + 1} = sin(h{i}) * 0.5 + h{i}\n" for i in range(30_000))
    graph = cgraph.parse(source, max_nodes=10**6)
    g = grad(graph)
    text = cgraph.views.program.program_text(g)
    assert text.count("\n") > 30_000
    assert cgraph.evaluate(g, {"x": 0.1}).values[g.output] == pytest.approx(
        cgraph.evaluate(graph, {"x": 0.1}).gradients["x"], rel=1e-12)


def test_the_readme_node_counts_are_what_grad_makes():
    from support.paths import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| cgraph grad |"))
    shown = [int(cell) for cell in row.strip("|").split("|")[1:]]
    tanh = cgraph.parse("y = tanh(x)")
    assert shown == [operations(grad(tanh, order=k)) for k in range(1, 9)]
    again = tanh
    for _ in range(8):
        again = grad(again)
    assert f"{operations(again)} operation nodes at order 8" in readme
