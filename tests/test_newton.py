"""`cgraph train --optimizer newton` and training without --data.

The reference problem is DeZero's (step 33): x = 2 and y = x^4 - 2x^2, whose minimum is
x = 1; Newton's method gets there in 7 steps, gradient descent needs hundreds. Damping is
checked where pure Newton would go wrong (a Hessian that is not positive definite, a
singular one, one that is 0 everywhere) and where it is of no use (too many params).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import cgraph
from cgraph.training.optimizers import Newton, Settings
from cgraph.training.records import Callbacks
from cgraph.training.trainer import Trainer

from support.paths import SAMPLES

QUARTIC = "param x = 2\ny = x^4 - 2*x^2\n"


class Steps(Callbacks):
    """The params after every step."""

    def __init__(self) -> None:
        self.after: list[list[float]] = []

    def on_step(self, update) -> None:
        self.after.append([float(v) for v in update.after])


def run(source: str, epochs: int, **settings) -> tuple[Trainer, Steps, object]:
    trainer = Trainer(cgraph.parse(source), [], [], settings=Settings(epochs=epochs, **settings), rows=1)
    steps = Steps()
    return trainer, steps, trainer.run(steps)


def steps_to_one(after: list[list[float]], tol: float = 1e-10) -> int | None:
    for k, params in enumerate(after, 1):
        if abs(params[0] - 1.0) <= tol:
            return k
    return None


def test_newton_reaches_the_quartics_minimum_to_1e_10_in_at_most_8_steps():
    _, steps, outcome = run(QUARTIC, 8, optimizer="newton")
    reached = steps_to_one(steps.after)
    assert reached is not None and reached <= 8, steps.after
    assert abs(outcome.params["x"] - 1.0) <= 1e-10
    # Newton's own iterates: x - f'(x)/f''(x) from 2
    x = 2.0
    for k in range(3):
        x -= (4 * x**3 - 4 * x) / (12 * x * x - 4)
        assert steps.after[k][0] == pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize("optimizer, lr, steps", [("newton", None, 6), ("sgd", None, 264), ("sgd", 0.02, 126),
                                                   ("sgd", 0.05, 45), ("adam", 0.1, 403)])
def test_the_readmes_table_of_steps_on_the_quartic(optimizer, lr, steps):
    """The README's "Newton vs sgd on the quartic": sgd at its default lr needs hundreds."""
    _, after, _ = run(QUARTIC, 1000, optimizer=optimizer, lr=lr)
    assert steps_to_one(after.after) == steps


def test_the_command_line_newton_without_data(cg, tmp_path):
    program = tmp_path / "quartic.cg"
    program.write_text(QUARTIC)
    saved = tmp_path / "q.json"
    r = cg("train", program, "--optimizer", "newton", "--epochs", "8", "--save", saved)
    assert r.code == 0, r.err
    assert "on the input values: 8 epochs (full batch, newton, lr 1)" in r.out
    document = json.loads(saved.read_text())
    assert document["optimizer"]["name"] == "newton" and document["optimizer"]["lr"] == 1.0
    assert "damping" in document["optimizer"]["state"]
    assert abs(document["params"]["x"] - 1.0) <= 1e-10
    # resumed: the epochs go on from 9, the params stay at the minimum
    r = cg("train", program, "--optimizer", "newton", "--epochs", "2", "--init", saved, "--save", saved)
    assert r.code == 0, r.err
    assert "2 epochs (9-10)" in r.out
    assert json.loads(saved.read_text())["epoch"] == 10


def test_lr_scales_newtons_step(cg, tmp_path):
    program = tmp_path / "quartic.cg"
    program.write_text(QUARTIC)
    r = cg("train", program, "--optimizer", "newton", "--epochs", "1", "--lr", "0.5", "--trace", "1")
    assert r.code == 0
    step = 24 / 44
    assert f"x - lr * step = 2 - 0.5 * {step:.10g} = {2 - 0.5 * step:.10g}" in r.out


def test_settings_default_lr_depends_on_the_optimizer():
    assert Settings(optimizer="newton").lr == 1.0
    assert Settings().lr == 0.01 and Settings(optimizer="adam").lr == 0.01
    assert Settings(optimizer="newton", lr=0.3).lr == 0.3


def test_an_indefinite_hessian_still_goes_down():
    # at x = 0.1, f'' = 12x^2 - 4 < 0: a pure Newton step would climb to the maximum at 0
    _, steps, outcome = run("param x = 0.1\ny = x^4 - 2*x^2", 40, optimizer="newton")
    assert abs(outcome.params["x"] - 1.0) <= 1e-10
    losses = [e.loss for e in outcome.history]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))


def test_a_singular_hessian_is_no_crash():
    # z does not appear in the loss: its row and column of H are 0
    _, _, outcome = run("param x = 0\nparam z = 5\ny = (x - 2)^2", 10, optimizer="newton")
    assert outcome.error is None
    assert outcome.params == {"x": pytest.approx(2.0, abs=1e-12), "z": 5.0}


def test_a_hessian_that_is_zero_everywhere_gives_gradient_steps():
    _, steps, outcome = run("param x = 3\ny = abs(x)", 60, optimizer="newton")
    assert outcome.error is None
    assert all(math.isfinite(p[0]) for p in steps.after)
    assert abs(outcome.params["x"]) < 1e-6


def test_a_non_finite_hessian_is_not_used():
    optimizer = Newton(Settings(optimizer="newton"), 1)
    new, direction = optimizer.newton_step(np.array([1.0]), np.array([2.0]), 1.0, np.array([[math.nan]]),
                                           lambda p: float(p[0] ** 2))
    assert np.isfinite(new).all() and new[0] < 1.0


def test_no_step_that_lowers_the_loss_leaves_the_params():
    optimizer = Newton(Settings(optimizer="newton"), 1)
    new, direction = optimizer.newton_step(np.array([1.0]), np.array([2.0]), 1.0, np.array([[1.0]]),
                                           lambda p: math.nan)
    assert new.tolist() == [1.0] and direction.tolist() == [0.0]


def test_newton_on_data_solves_least_squares_in_one_step(cg, tmp_path):
    data = np.loadtxt(SAMPLES / "linreg.csv", delimiter=",", skiprows=1)
    x, y = data[:, 0], data[:, 1]
    w, b = np.linalg.lstsq(np.stack([x, np.ones_like(x)], axis=1), y, rcond=None)[0]
    saved = tmp_path / "p.json"
    r = cg("train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "--optimizer", "newton",
           "--epochs", "2", "--save", saved)
    assert r.code == 0, r.err
    params = json.loads(saved.read_text())["params"]
    assert params["w"] == pytest.approx(w, rel=1e-9) and params["b"] == pytest.approx(b, rel=1e-9)


def test_newton_with_batches_and_max_time(cg):
    r = cg("train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "--optimizer", "newton",
           "--epochs", "3", "--batch-size", "50", "--max-time", "60")
    assert r.code == 0, r.err
    assert "batches of 50, newton" in r.out


def test_more_than_500_params_is_refused_with_advice(cg, tmp_path):
    program = tmp_path / "big.cg"
    program.write_text("for i in 1..501 { param w[i] = 0.1 }\nloss = sum(w[i]^2 for i in 1..501)\n")
    r = cg("train", program, "--optimizer", "newton")
    assert r.code == 2
    assert "501 params, more than 500" in r.err and "--optimizer adam" in r.err
    assert "Traceback" not in r.err
    program.write_text("for i in 1..500 { param w[i] = 0.1 }\nloss = sum(w[i]^2 for i in 1..500)\n")
    assert cg("train", program, "--optimizer", "newton", "--epochs", "1").code == 0


@pytest.mark.parametrize("optimizer, lr, epochs", [("sgd", "0.1", "200"), ("adam", "0.1", "400"),
                                                   ("momentum", "0.05", "300"), ("newton", "1", "3")])
def test_train_without_data_minimises_a_function_of_the_params(cg, tmp_path, optimizer, lr, epochs):
    program = tmp_path / "bowl.cg"
    program.write_text("input a = 3\nparam x = 0\nloss = (x - a)^2\n")
    saved = tmp_path / "p.json"
    r = cg("train", program, "--optimizer", optimizer, "--lr", lr, "--epochs", epochs, "--a", "5", "--save", saved)
    assert r.code == 0, r.err
    assert json.loads(saved.read_text())["params"]["x"] == pytest.approx(5.0, abs=1e-3)
    assert "the input values" in r.out and "rows" not in r.out.splitlines()[0]


def test_train_without_data_needs_inputs_without_defaults(cg, tmp_path):
    program = tmp_path / "f.cg"
    program.write_text("input a\nparam x = 0\nloss = (x - a)^2\n")
    r = cg("train", program)
    assert r.code == 2 and "a" in r.err


@pytest.mark.parametrize("option", [["--data-format", "csv"], ["--delimiter", ";"], ["--on-error", "skip"],
                                    ["--chunk-rows", "10"], ["--allow-defaults"]])
def test_data_options_without_data_are_refused(cg, tmp_path, option):
    program = tmp_path / "quartic.cg"
    program.write_text(QUARTIC)
    r = cg("train", program, *option)
    assert r.code == 2 and "goes with --data" in r.err


def test_trace_without_data_names_the_input_values(cg, tmp_path):
    program = tmp_path / "quartic.cg"
    program.write_text(QUARTIC)
    r = cg("train", program, "--epochs", "1", "--trace", "1")
    assert r.out.startswith("step 1 (epoch 1, the input values): y = 8")
