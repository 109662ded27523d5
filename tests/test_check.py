"""`cgraph check`: backprop's gradients against central finite differences, against the issue.

Library: `cgraph.engine.gradient_check.gradcheck(graph, inputs, output=, eps=, rtol=, atol=) -> [CheckRow]`.
CLI in-process through `cgraph.cli.run`. A wrong derivative is injected by replacing the
rule the backward pass reads (`cgraph.evaluate._LOCAL`; note that the package attribute
`cgraph.evaluate` is the function, so the module is taken from importlib).
"""

from __future__ import annotations

import importlib
import math

import pytest

import cgraph
from cgraph.engine import gradient_check

from support.jsonutil import strict_json
from support.paths import ROOT
from support.runner import run_script
from support.samples import INTRO_ARGS, SAMPLE_CASES, SAMPLE_IDS, SAMPLES

USES_TANH = {"neuron", "rnn", "mlp"}

EVALUATE_MODULE = importlib.import_module("cgraph.engine.evaluator")


def wrong_tanh(o, a):
    return (1.0 - o,)  # should be 1 - o^2


@pytest.fixture
def broken_tanh(monkeypatch):
    assert "tanh" in EVALUATE_MODULE._LOCAL
    monkeypatch.setitem(EVALUATE_MODULE._LOCAL, "tanh", wrong_tanh)


def load(name: str) -> cgraph.Graph:
    return cgraph.load(SAMPLES / f"{name}.cg")


def table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header cells, name -> body cells) of the rich table."""
    header, rows = [], {}
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [c.strip() for c in line.strip().strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return header, rows


# --- every sample passes ------------------------------------------------------------------


@pytest.mark.parametrize("name,inputs,_args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_gradcheck_passes_on_every_sample(name, inputs, _args):
    graph = load(name)
    rows = gradient_check.gradcheck(graph, inputs)
    assert [r.name for r in rows] == list(graph.inputs)  # every input and param, in order
    grads = cgraph.evaluate(graph, inputs).gradients
    for r in rows:
        assert r.status == "OK", r
        assert r.passed
        assert r.analytic == grads[r.name]
        assert r.numeric == pytest.approx(r.analytic, rel=1e-5, abs=1e-8)
        assert r.abs_error == abs(r.analytic - r.numeric)
        if r.numeric:
            assert r.rel_error == pytest.approx(r.abs_error / abs(r.numeric))


@pytest.mark.parametrize("name,inputs,args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_cli_check_passes_on_every_sample(cg, name, inputs, args):
    code, out, err = cg("check", SAMPLES / f"{name}.cg", *args)
    assert code == 0, out + err
    header, rows = table(out)
    assert header[1:] == ["analytic", "numeric", "abs error", "rel error", "status"]
    assert set(rows) == set(load(name).inputs)
    assert all(cells[-1] == "OK" for cells in rows.values()), rows
    assert "FAIL" not in out


@pytest.mark.parametrize("name,inputs,args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_cli_check_json_on_every_sample(cg, name, inputs, args):
    code, out, err = cg("check", SAMPLES / f"{name}.cg", *args, "--format", "json")
    assert code == 0, err
    data = strict_json(out)
    assert data["passed"] is True
    assert (data["eps"], data["rtol"], data["atol"]) == (gradient_check.DEFAULT_EPS, gradient_check.DEFAULT_RTOL, gradient_check.DEFAULT_ATOL)
    graph = load(name)
    assert [r["name"] for r in data["rows"]] == list(graph.inputs)
    grads = cgraph.evaluate(graph, inputs).gradients
    for r in data["rows"]:
        assert set(r) == {"name", "analytic", "numeric", "abs_error", "rel_error", "status"}
        assert r["status"] == "OK"
        assert r["analytic"] == grads[r["name"]]
        assert r["abs_error"] == abs(r["analytic"] - r["numeric"])


def test_intro_table_values(cg):
    code, out, _ = cg("check", SAMPLES / "intro.cg", *INTRO_ARGS)
    assert code == 0
    _, rows = table(out)
    assert rows["x"][:2] == ["-3", "-3"] and rows["y"][:2] == ["-3", "-3"] and rows["z"][:2] == ["4", "4"]
    assert "all passed" in out


def test_intro_needs_its_inputs(cg):
    code, out, err = cg("check", SAMPLES / "intro.cg")
    assert code == 2
    assert "missing" in err and "x" in err


# --- a wrong derivative fails -------------------------------------------------------------


@pytest.mark.parametrize("name,inputs,args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_wrong_tanh_rule_fails_exactly_the_tanh_samples(cg, broken_tanh, name, inputs, args):
    code, out, err = cg("check", SAMPLES / f"{name}.cg", *args)
    _, rows = table(out)
    statuses = {n: cells[-1] for n, cells in rows.items()}
    if name in USES_TANH:
        assert "FAIL" in statuses.values()
        assert "FAILED" in out
        assert code == 1, f"exit {code} although the table says FAILED"
    else:
        assert code == 0, out + err
        assert set(statuses.values()) == {"OK"}


def test_wrong_tanh_rule_rows(broken_tanh):
    graph = load("neuron")
    rows = {r.name: r for r in gradient_check.gradcheck(graph)}
    assert {n for n, r in rows.items() if r.status == "FAIL"} == {"w", "b", "x1", "x2", "x3"}
    assert not any(r.passed for r in rows.values())
    # analytic: what the (broken) backward pass says; numeric: the truth
    broken = cgraph.evaluate(graph).gradients
    assert {n: r.analytic for n, r in rows.items()} == broken
    assert rows["w"].numeric == pytest.approx(0.1811687869, rel=1e-6)
    assert rows["b"].numeric == pytest.approx(2.085346617, rel=1e-6)
    for r in rows.values():
        assert r.abs_error == abs(r.analytic - r.numeric)
        assert r.abs_error > gradient_check.DEFAULT_ATOL + gradient_check.DEFAULT_RTOL * abs(r.numeric)


def test_wrong_tanh_rule_json(cg, broken_tanh):
    code, out, _ = cg("check", SAMPLES / "rnn.cg", "--format", "json")
    data = strict_json(out)
    assert data["passed"] is False
    statuses = {r["name"]: r["status"] for r in data["rows"]}
    assert statuses["w"] == statuses["u"] == "FAIL"
    assert statuses["target"] == "OK"  # d loss/d target does not go through a tanh
    assert code == 1, f"exit {code} although passed is false"


def test_loose_tolerances_let_the_wrong_rule_pass(cg, broken_tanh):
    def passed(*options):
        code, out, _ = cg("check", SAMPLES / "neuron.cg", "--format", "json", *options)
        data = strict_json(out)
        return data, code

    data, _ = passed()
    assert data["passed"] is False
    data, code = passed("--atol", "10")
    assert data["passed"] is True and data["atol"] == 10 and code == 0
    assert {r["status"] for r in data["rows"]} == {"OK"}
    data, code = passed("--rtol", "20", "--atol", "0")
    assert data["passed"] is True and data["rtol"] == 20 and code == 0
    data, code = passed("--rtol", "0.01", "--atol", "0")
    assert data["passed"] is False and data["rtol"] == 0.01 and data["atol"] == 0
    assert code == 1, f"exit {code} although passed is false"


def test_restored_rule_passes_again(cg):
    """The monkeypatch is undone: the same sample passes with the real rule."""
    code, out, _ = cg("check", SAMPLES / "neuron.cg")
    assert code == 0, out


def test_unrelated_kink_does_not_hide_a_wrong_derivative(cg, broken_tanh):
    """x's gradient is wrong (the tanh rule); relu(z) sits at its kink z = 0, but z does not
    move when x is perturbed, so x's row must stay FAIL, and the exit code 1."""
    graph = cgraph.parse("y = tanh(x) + relu(z)")
    rows = {r.name: r for r in gradient_check.gradcheck(graph, {"x": 0.5, "z": 1.0})}
    assert rows["x"].status == "FAIL"  # without a kink anywhere
    rows = {r.name: r for r in gradient_check.gradcheck(graph, {"x": 0.5, "z": 0.0})}
    assert rows["z"].status == "KINK"
    assert rows["x"].status == "FAIL", f"x reported {rows['x'].status}: a wrong derivative hidden by relu(z) at z = 0"
    code, out, _ = cg("check", "-e", "y = tanh(x) + relu(z)", "--x", "0.5", "--z", "0")
    assert code == 1, out


# --- kinks ------------------------------------------------------------------------------------


def test_relu_at_zero_is_a_kink_not_a_failure(cg):
    code, out, err = cg("check", "-e", "relu(x) * y", "--x", "0", "--y", "2")
    assert code == 0, out + err
    _, rows = table(out)
    assert rows["x"][-1] == "KINK"
    assert rows["y"][-1] == "OK"
    rows = {r.name: r for r in gradient_check.gradcheck(cgraph.parse("relu(x) * y"), {"x": 0, "y": 2})}
    assert rows["x"].status == "KINK" and rows["x"].passed
    assert rows["x"].analytic == 0.0  # relu'(0) = 0, as PyTorch
    assert rows["x"].numeric == pytest.approx(1.0)


@pytest.mark.parametrize("expr,inputs,kinked", [
    ("abs(x) * y", {"x": 0.0, "y": 2.0}, ["x"]),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, ["x", "y"]),
    ("min(x, y) * 3", {"x": -2.0, "y": -2.0}, ["x", "y"]),
], ids=["abs-at-0", "max-tie", "min-tie"])
def test_kinks_are_flagged(expr, inputs, kinked):
    """The issue: kinks (relu at 0, abs at 0, max/min ties) are flagged as such, status KINK."""
    rows = {r.name: r for r in gradient_check.gradcheck(cgraph.parse(expr), inputs)}
    assert all(r.passed for r in rows.values())
    assert {n: rows[n].status for n in kinked} == {n: "KINK" for n in kinked}


def test_kink_near_but_not_at_zero(cg):
    """relu's argument within eps of 0: the central difference straddles the kink."""
    code, out, _ = cg("check", "-e", "relu(x - 1e-9) * 4", "--x", "0")
    assert code == 0
    assert table(out)[1]["x"][-1] == "KINK"
    # far from the kink, the same file is just OK
    code, out, _ = cg("check", "-e", "relu(x - 1e-9) * 4", "--x", "0.5")
    assert code == 0 and table(out)[1]["x"][-1] == "OK"


def test_kinks_in_json(cg):
    code, out, _ = cg("check", "-e", "relu(x) * y", "--x", "0", "--y", "2", "--format", "json")
    assert code == 0
    data = strict_json(out)
    assert data["passed"] is True
    assert {r["name"]: r["status"] for r in data["rows"]} == {"x": "KINK", "y": "OK"}


# --- the finite difference itself -------------------------------------------------------------


def test_step_is_relative_to_the_input():
    """h = eps * max(1, |x|): for x^3 at x = 100 with eps = 1e-3, h = 0.1 and the central
    difference is 3x^2 + h^2 = 30000.01."""
    rows = gradient_check.gradcheck(cgraph.parse("x^3"), {"x": 100.0}, eps=1e-3)
    (r,) = rows
    assert r.analytic == 30000.0
    assert r.numeric == pytest.approx(30000.01, rel=1e-9)
    rows = gradient_check.gradcheck(cgraph.parse("x^3"), {"x": 0.5}, eps=1e-2)  # |x| < 1: h = eps
    assert rows[0].numeric == pytest.approx(3 * 0.25 + 1e-4, rel=1e-9)


def test_eps_option(cg):
    code, out, _ = cg("check", "-e", "y = x^3", "--x", "1")
    assert code == 0
    code, out, _ = cg("check", "-e", "y = x^3", "--x", "1", "--eps", "0.1", "--format", "json")
    data = strict_json(out)
    assert data["eps"] == 0.1 and data["passed"] is False
    (row,) = data["rows"]
    assert row["numeric"] == pytest.approx(3.01, rel=1e-9) and row["status"] == "FAIL"
    assert code == 1, f"exit {code} although passed is false"


@pytest.mark.parametrize("eps", ["0", "-1e-6"])
def test_eps_must_be_positive(cg, eps):
    code, out, err = cg("check", "-e", "y = x^3", "--x", "1", "--eps", eps)
    assert code == 2
    assert "--eps" in err
    assert "Traceback" not in err


def test_output_option(cg):
    code, out, _ = cg("check", SAMPLES / "intro.cg", *INTRO_ARGS, "--output", "p", "--format", "json")
    assert code == 0
    data = strict_json(out)
    grads = {r["name"]: r["analytic"] for r in data["rows"]}
    assert grads == {"x": 1.0, "y": 1.0, "z": 0.0}


def test_nonfinite_gradient_is_not_a_pass_and_json_stays_strict(cg):
    code, out, err = cg("check", "-e", "y = sqrt(x)", "--x", "0", "--format", "json")
    data = strict_json(out)
    assert data["passed"] is False
    (row,) = data["rows"]
    assert row["status"] not in ("OK", "KINK")
    assert row["analytic"] == "inf"
    assert code == 1, f"exit {code} although passed is false"


def test_fail_row_in_table_shows_errors(cg, broken_tanh):
    code, out, _ = cg("check", SAMPLES / "neuron.cg")
    _, rows = table(out)
    analytic, numeric, abs_err, rel_err, status = rows["w"]
    assert status == "FAIL"
    assert float(abs_err) == pytest.approx(abs(float(analytic) - float(numeric)), rel=1e-2)
    assert float(rel_err) == pytest.approx(float(abs_err) / abs(float(numeric)), rel=1e-2)
    assert not math.isclose(float(analytic), float(numeric), rel_tol=1e-3)
    assert "FAILED" in out.splitlines()[0]
    assert code == 1, f"exit {code} although the table says FAILED"


def test_installed_script_exit_code_on_failure():
    """The real `cgraph` script, in a subprocess: exit 1 when a gradient fails the check
    (here an honest backward pass judged with a step too coarse for x^3)."""
    bad = run_script("check", "-e", "y = x^3", "--x", "1", "--eps", "0.1", env={"NO_COLOR": "1"}, timeout=60)
    assert "FAIL" in bad.stdout.decode()
    good = run_script("check", "-e", "y = x^3", "--x", "1", env={"NO_COLOR": "1"}, timeout=60)
    assert good.returncode == 0 and "OK" in good.stdout.decode()
    assert bad.returncode == 1, f"exit {bad.returncode} with a FAIL row:\n{bad.stdout.decode()}"


# --- --order 2 (more in test_hessian.py) ---


def test_order_2_fails_when_the_backward_pass_is_wrong(cg, broken_tanh):
    """The Hessian comes from the graph rules, its reference from differences of the
    backward pass's gradient: a wrong local derivative there shows up as a mismatch."""
    code, out, err = cg("check", "-e", "tanh(x * y)", "--x", "0.5", "--y", "0.8", "--order", "2")
    assert code == 1 and "FAILED" in out


@pytest.mark.parametrize("name, inputs, args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_order_2_passes_on_every_sample_in_the_table_format(cg, name, inputs, args):
    code, out, err = cg("check", str(SAMPLES / f"{name}.cg"), *args, "--order", "2")
    assert code == 0 and out.startswith("Hessian check: all passed") and "symmetry:" in out


def test_order_is_1_or_2(cg):
    code, out, err = cg("check", "-e", "x * y", "--x", "1", "--y", "2", "--order", "3")
    assert code == 2 and "--order" in err


@pytest.mark.parametrize("expr,value,analytic", [("sqrt(x)", "0", "inf"), ("log(x)", "-1", "-1")])
def test_nonfinite_status_is_what_help_and_readme_document(cg, expr, value, analytic):
    """An inf or nan gradient (analytic or numeric) is NONFINITE, a failure: exit 1, as
    `check --help` and the README say."""
    code, out, _ = cg("check", "-e", expr, "--x", value)
    _, rows = table(out)
    assert rows["x"][0] == analytic and rows["x"][-1] == "NONFINITE"
    assert "FAILED" in out.splitlines()[0] and code == 1
    _, help_text, _ = cg("check", "--help")
    assert "NONFINITE" in help_text and "exit 1" in " ".join(help_text.split())
    manual = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    section = manual[manual.index("## `cgraph check`"):]
    assert "NONFINITE and counts as a failure (exit 1)" in " ".join(section.split())
