"""Training (cgraph.train and `cgraph train`), and random initial values of params.

Each promise of the issue has a test here: the tutorial's loop (per-row SGD equals a hand
loop over cgraph.evaluate), the optimizers, stop criteria, --trace, --save after every
epoch with Ctrl-C and resume, non-finite losses, --log and --plot, and the samples:
linreg recovers its line within 1% and matches least squares; xor learns XOR.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import cgraph
from cgraph.training.trainer import Settings, Trainer, make_optimizer, summarize

from support.paths import SAMPLES

LINREG, LINREG_CSV = str(SAMPLES / "linreg.cg"), str(SAMPLES / "linreg.csv")
XOR, XOR_CSV = str(SAMPLES / "xor.cg"), str(SAMPLES / "xor.csv")




def linreg_rows() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(LINREG_CSV, delimiter=",", skiprows=1)
    return table[:, 0].copy(), table[:, 1].copy()


def trainer(text_or_path: str, columns: dict[str, np.ndarray], seed: int = 0, **settings) -> Trainer:
    graph = cgraph.load(text_or_path, seed=seed) if text_or_path.endswith(".cg") else cgraph.parse(text_or_path, seed=seed)
    return Trainer(graph, list(columns), list(columns.values()), settings=Settings(seed=seed, **settings))


# --- random initial values and the command line -----------------------------------------


def test_cli_seed_gives_the_same_draw_to_eval(cg):
    code, out, err = cg("eval", XOR, "--show", "inputs", "--format", "json", "--seed", "3")
    assert json.loads(out)["inputs"]["W1[1,1]"] == cgraph.load(XOR, seed=3).values[cgraph.load(XOR).inputs["W1[1,1]"]]
    code, other, err = cg("eval", XOR, "--show", "inputs", "--format", "json", "--seed", "4")
    assert json.loads(other)["inputs"] != json.loads(out)["inputs"]


# --- the loop -----------------------------------------------------------------------------


def test_per_row_sgd_is_the_tutorials_loop():
    """--batch-size 1 without shuffling: for each data point forward, backward, W -= lr*dW."""
    xs, ys = linreg_rows()
    xs, ys = xs[:20], ys[:20]
    t = trainer(LINREG, {"x": xs, "y": ys}, lr=0.05, epochs=2, batch_size=1, shuffle=False)
    outcome = t.run()
    graph = cgraph.load(LINREG)
    w, b = 0.0, 0.0
    for _ in range(2):
        for x, y in zip(xs.tolist(), ys.tolist()):
            ev = cgraph.evaluate(graph, {"x": x, "y": y, "w": w, "b": b})
            w, b = w - 0.05 * ev.grad("w"), b - 0.05 * ev.grad("b")
    assert outcome.params["w"] == pytest.approx(w, rel=1e-12) and outcome.params["b"] == pytest.approx(b, rel=1e-12)
    assert outcome.steps == 40 and outcome.epochs == 2


def test_full_batch_gradient_is_the_mean_of_the_rows_gradients():
    xs, ys = linreg_rows()
    t = trainer(LINREG, {"x": xs, "y": ys}, chunk_rows=7)  # chunks must not change the sums
    loss, grad, failed = t.batch(np.array([0.5, -0.25]), slice(0, len(xs)))
    graph = cgraph.load(LINREG)
    evs = [cgraph.evaluate(graph, {"x": x, "y": y, "w": 0.5, "b": -0.25}) for x, y in zip(xs.tolist(), ys.tolist())]
    assert failed is None
    assert loss == pytest.approx(sum(e.value for e in evs) / len(evs), rel=1e-12)
    assert grad.tolist() == pytest.approx([sum(e.grad(n) for e in evs) / len(evs) for n in ("w", "b")], rel=1e-12)


def test_the_optimizers_follow_their_formulas():
    g = np.array([0.5, -2.0])
    p = np.array([1.0, 1.0])
    sgd = make_optimizer(Settings(lr=0.1), 2)
    assert sgd.step(p, g)[0].tolist() == [1 - 0.1 * 0.5, 1 + 0.1 * 2.0]
    mom = make_optimizer(Settings(lr=0.1, optimizer="momentum", momentum=0.9), 2)
    p1, _ = mom.step(p, g)
    p2, _ = mom.step(p1, g)
    assert p2.tolist() == pytest.approx((p1 - 0.1 * (0.9 * g + g)).tolist())
    adam = make_optimizer(Settings(lr=0.1, optimizer="adam"), 2)
    p1, d1 = adam.step(p, g)
    assert d1.tolist() == pytest.approx(np.sign(g).tolist(), rel=1e-6)  # Adam's first step is lr * sign(g)
    p2, d2 = adam.step(p1, g * 0.5)
    m = 0.9 * 0.1 * g + 0.1 * g * 0.5
    v = 0.999 * 0.001 * g * g + 0.001 * (g * 0.5) ** 2
    expected = (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    assert d2.tolist() == pytest.approx(expected.tolist(), rel=1e-12)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.3), ("momentum", 0.05), ("adam", 0.05)])
def test_linreg_recovers_the_line_and_matches_least_squares(optimizer, lr):
    xs, ys = linreg_rows()
    outcome = trainer(LINREG, {"x": xs, "y": ys}, lr=lr, epochs=800, optimizer=optimizer).run()
    w, b = outcome.params["w"], outcome.params["b"]
    assert w == pytest.approx(3.0, rel=0.01) and b == pytest.approx(-1.5, rel=0.01)  # the line the data was made from
    (ls_w, ls_b), *_ = np.linalg.lstsq(np.column_stack([xs, np.ones_like(xs)]), ys, rcond=None)
    assert w == pytest.approx(ls_w, rel=1e-6) and b == pytest.approx(ls_b, rel=1e-6)  # the closed-form solution


def test_linreg_by_minibatches_gets_close_too():
    xs, ys = linreg_rows()
    outcome = trainer(LINREG, {"x": xs, "y": ys}, lr=0.05, epochs=60, batch_size=16).run()
    assert outcome.params["w"] == pytest.approx(3.0, rel=0.01) and outcome.params["b"] == pytest.approx(-1.5, rel=0.01)


def test_xor_is_learned_with_a_fixed_seed(cg):
    code, out, err = cg("train", XOR, "--data", XOR_CSV, "--optimizer", "adam", "--lr", "0.3", "--epochs", "500", "--seed", "0")
    assert code == 0, err
    final = float(out.split("loss at the learned params: ")[1].split()[0])
    assert final < 0.01


def test_shuffling_is_seeded_and_changes_with_the_seed():
    xs, ys = linreg_rows()

    def params(**kw):
        return trainer(LINREG, {"x": xs, "y": ys}, lr=0.05, epochs=2, batch_size=10, **kw).run().params

    assert params(seed=1) == params(seed=1)
    assert params(seed=1) != params(seed=2)
    assert params(seed=1, shuffle=False) == params(seed=2, shuffle=False)


def test_stop_criteria():
    xs, ys = linreg_rows()
    cols = {"x": xs, "y": ys}
    tol = trainer(LINREG, cols, lr=0.3, epochs=1000, tol=1e-12).run()
    assert tol.stop == "tol" and tol.epochs < 1000 and "--tol" in tol.reason
    patience = trainer(LINREG, cols, lr=0.3, epochs=1000, patience=3).run()
    assert patience.stop == "patience" and "3 epochs" in patience.reason
    hist = [e.loss for e in patience.history]
    assert min(hist[-3:]) >= min(hist[:-3])  # the last 3 did not improve
    timed = trainer(LINREG, cols, lr=0.01, epochs=10**9, batch_size=1, max_time=0.2).run()
    assert timed.stop == "max_time" and "--max-time 0.2s reached in epoch" in timed.reason
    none = trainer(LINREG, cols, epochs=0).run()
    assert none.epochs == 0 and none.params == none.initial


def test_a_param_the_loss_does_not_use_and_a_file_without_params():
    t = trainer("param w = 1\nparam unused = 2\nloss = (w*x - y)^2", {"x": np.ones(3), "y": np.ones(3)})
    assert t.unused == ["unused"]
    with pytest.raises(cgraph.CgraphError, match="declares no params to train"):
        trainer("loss = (x - y)^2", {"x": np.ones(3), "y": np.ones(3)})


def test_non_finite_loss_names_the_epoch_and_node_and_keeps_the_last_good_params():
    # loss = (log(w*x) + 3)^2 from w = 1: the first step (lr 2) takes w to -11, where log is nan.
    text = "param w = 1\nr = log(w*x)\nloss = (r - y)^2"
    outcome = trainer(text, {"x": np.ones(4), "y": np.full(4, -3.0)}, lr=2.0, epochs=50).run()
    assert outcome.stop == "non-finite" and [e.number for e in outcome.history] == [1]
    message = str(outcome.error)
    assert message.startswith("<expr>:2:5: error: the loss became non-finite in epoch 2: ")
    assert "'log(w*x)' (r) is the first node to go non-finite, in 4 rows (first at data:1)" in message
    assert "the params of the start are kept" in message  # epoch 1's params (w = -11) gave the nan
    assert outcome.params == {"w": 1.0} and outcome.kept is None



def test_summarize_keeps_first_last_and_best():
    from cgraph.training.trainer import Epoch

    history = [Epoch(i + 1, 1 / (i + 1) if i != 500 else 0.0001, 0.0, {}, 1) for i in range(1000)]
    picked = [e.number for e in summarize(history)]
    assert picked[0] == 1 and picked[-1] == 1000 and 501 in picked and len(picked) <= 12


# --- cgraph train ---------------------------------------------------------------------------


def test_train_cli_prints_the_params_and_the_loss_per_epoch(cg):
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.5", "--epochs", "30")
    assert code == 0, err
    assert "trained" in out and "30 epochs (full batch, sgd, lr 0.5)" in out
    assert "stopped: ran the 30 epochs asked for" in out
    for column in ("param", "initial", "learned", "dloss/d(param)", "loss per epoch", "epoch"):
        assert column in out
    w_row = next(line for line in out.splitlines() if line.startswith("│ w "))
    assert float(w_row.split("│")[3]) == pytest.approx(3.0, rel=0.01)


def test_trace_shows_the_update_of_every_param(cg):
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.1", "--epochs", "5", "--trace", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("step 1 (epoch 1, 200 rows): loss = ")
    w_line = lines[1]
    assert "dloss/dw = " in w_line and "w <- w - lr * dloss/dw = 0 - 0.1 * " in w_line
    grad = float(w_line.split("dloss/dw = ")[1].split()[0])
    assert float(w_line.rsplit("= ", 1)[1]) == pytest.approx(0 - 0.1 * grad, rel=1e-9)
    assert sum(line.startswith("step ") for line in lines) == 2


def test_the_trace_and_summary_show_the_settings_in_use_unrounded(cg):
    # An lr of 10 significant digits shown as 0.0123457 would make the trace's update
    # (before - lr * grad = after) wrong in its 6th digit; the same for momentum and --tol.
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.0123456789", "--epochs", "3", "--trace", "1",
                        "--optimizer", "momentum", "--momentum", "0.912345678", "--tol", "1.23456789e-300")
    assert code == 0
    assert "v = 0.912345678 * v + dL/dW" in out
    w_line = next(line for line in out.splitlines() if line.lstrip().startswith("w "))
    assert "= 0 - 0.0123456789 * " in w_line
    step = float(w_line.rsplit(" * ", 1)[1].split(" = ")[0])
    assert float(w_line.rsplit("= ", 1)[1]) == pytest.approx(-0.0123456789 * step, rel=1e-9)
    assert "(full batch, momentum, lr 0.0123456789)" in out
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.5", "--epochs", "200", "--tol", "1.23456789e-3")
    assert "the loss improved by less than --tol 0.00123456789 in epoch" in out


def test_save_writes_params_every_epoch_and_eval_uses_them(cg, tmp_path):
    saved = tmp_path / "p.json"
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "40", "--save", saved)
    assert code == 0 and f"saved the params of epoch 40 to {saved}" in err
    document = json.loads(saved.read_text())
    assert document["format"] == "cgraph-params/2" and document["epoch"] == 40 and set(document["params"]) == {"w", "b"}
    code, out, err = cg("eval", LINREG, "--params", saved, "--x", "2", "--y", "4.5", "--format", "json", "--show", "inputs")
    assert json.loads(out)["inputs"]["w"] == document["params"]["w"]


def test_resume_continues_exactly_where_a_run_stopped(cg, tmp_path):
    common = ["--data", LINREG_CSV, "--lr", "0.02", "--batch-size", "32", "--optimizer", "adam", "--seed", "4"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cg("train", LINREG, *common, "--epochs", "6", "--save", a)[0] == 0
    assert cg("train", LINREG, *common, "--epochs", "3", "--save", b)[0] == 0
    code, out, err = cg("train", LINREG, *common, "--epochs", "3", "--init", b, "--save", b)
    assert code == 0 and "3 epochs (4-6)" in out
    one, two = json.loads(a.read_text()), json.loads(b.read_text())
    assert two["epoch"] == 6 and two["params"] == one["params"] and two["optimizer"] == one["optimizer"]


def test_init_from_another_optimizer_or_a_plain_object(cg, tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"w": 2.5}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--init", plain, "--trace", "1")
    assert code == 0 and "has no value for b" in err and "w <- w - lr * dloss/dw = 2.5 - " in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": 1}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--init", bad)
    assert code == 2 and "'x' is an input of" in err and "not a param" in err


def test_params_starts_a_new_run_from_saved_or_plain_values_as_eval_reads_them(cg, tmp_path):
    # --params works on train as on every command that evaluates a program: the values of a
    # --save file (or a plain object) are where training starts, from epoch 1.
    saved = tmp_path / "p.json"
    assert cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "5", "--save", saved)[0] == 0
    start = json.loads(saved.read_text())["params"]
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--params", saved, "--trace", "1")
    assert code == 0, err
    assert "1 epoch (" in out and f"w <- w - lr * dloss/dw = {start['w']:.10g} - " in out
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"w": 2.5}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--params", plain, "--trace", "1")
    assert code == 0 and "w <- w - lr * dloss/dw = 2.5 - " in out and "b <- b - lr * dloss/db = 0 - " in out
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--params", plain, "--w", "1", "--trace", "1")
    assert code == 0 and "w <- w - lr * dloss/dw = 1 - " in out  # an option wins, as on eval
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--params", plain, "--init", saved)
    assert code == 2 and "--params" in err and "--init" in err
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--params", saved, "--save", saved)
    assert code == 2 and "would overwrite --params" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": 1}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--params", bad)
    assert code == 2 and "--params" in err and "'x' is an input of" in err and "not a param" in err


def test_non_finite_loss_from_the_cli(cg, tmp_path):
    # log(w*x)^2 from w = 20 with lr 30: w goes 20 -> 11 -> -2.1, where log is nan (epoch 3).
    # Epoch 2's params gave the nan, so the saved file is rolled back to epoch 1.
    model = tmp_path / "m.cg"
    model.write_text("param w = 20\nr = log(w*x)\nloss = (r - y)^2\n")
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,0\n1,0\n")
    saved = tmp_path / "p.json"
    code, out, err = cg("train", model, "--data", data, "--lr", "30", "--epochs", "50", "--save", saved)
    assert code == 1, err
    assert "error: the loss became non-finite in epoch " in err and "'log(w*x)' (r)" in err
    assert f"(first at {data}:2)" in err
    assert "non-finite in epoch 3:" in err and "the params of epoch 1 are kept" in err
    document = json.loads(saved.read_text())
    assert document["epoch"] == 1 and document["params"]["w"] == pytest.approx(20 - 30 * 2 * math.log(20) / 20)
    assert "stopped: the loss became non-finite" in out  # the table of the kept params is still printed


def test_log_writes_the_curve(cg, tmp_path):
    log = tmp_path / "losses.csv"
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "5", "--log", log)
    rows = list(csv.DictReader(io.StringIO(log.read_text())))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert float(rows[1]["loss"]) < float(rows[0]["loss"]) and rows[0]["rows"] == "200"


def test_plot_draws_the_curve(cg, tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("loss.png", "loss.svg"):
        code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "5", "--plot", tmp_path / name)
        assert code == 0, err
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "loss.svg").read_bytes()[:1000]


def test_plot_without_matplotlib_says_how_to_install_it_before_training(cg, tmp_path, monkeypatch, hide_module):
    hide_module("matplotlib")
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--plot", tmp_path / "loss.png")
    assert code == 1 and out == ""
    assert "error: --plot needs matplotlib, which is not installed" in err
    assert "pip install 'cgraph[plot]'" in err
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--plot", tmp_path / "loss.gif")
    assert code == 2 and "must end in .png, .svg or .pdf" in err


@pytest.mark.parametrize("argv, code, message", [
    (["--lr", "0"], 2, "Invalid value for '--lr': 0.0 is not in the range x>0"),
    (["--loss", "nope"], 2, "--loss nope: no node has that name"),
    (["--loss", "pred", "--output", "loss"], 2, "--loss and --output name the same thing"),
    (["--batch-size", "0"], 2, "Invalid value for '--batch-size'"),
    (["--optimizer", "rmsprop"], 2, "Invalid value for '--optimizer'"),
])
def test_train_usage_errors(cg, argv, code, message):
    got, out, err = cg("train", LINREG, "--data", LINREG_CSV, *argv)
    assert got == code and message.lower() in err.lower()


def test_train_without_data_says_so_and_params_are_not_columns(cg, tmp_path):
    # Without --data the input values are the one row: the declared defaults here, said on stderr.
    code, out, err = cg("train", LINREG, "--epochs", "1")
    assert code == 0 and "note: no --data: training on the input values, x, y from their declared defaults" in err
    data = tmp_path / "d.csv"
    data.write_text("x,y,b\n1,2,3\n")
    code, out, err = cg("train", LINREG, "--data", data)
    assert code == 2 and "column 'b' is the param 'b'; params are learned" in err


def test_a_loss_other_than_the_output(cg, tmp_path):
    model = tmp_path / "m.cg"
    model.write_text("param w = 0\nerr = w*x - y\nloss = err^2\nreport = loss * 100\n")
    code, out, err = cg("train", model, "--data", LINREG_CSV, "--loss", "loss", "--lr", "0.3", "--epochs", "100")
    assert code == 0 and "dloss/d(param)" in out


def test_the_progress_bar_on_a_terminal(cg, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "3")
    assert code == 0 and "learned" in out


def test_ctrl_c_stops_after_saving_the_last_epoch(tmp_path):
    """SIGINT to a real process training with --save: exit 130, and the file is valid JSON
    of the last completed epoch."""
    saved = tmp_path / "p.json"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cgraph.cli import main; main()", "train", LINREG, "--data", LINREG_CSV,
         "--batch-size", "1", "--epochs", "100000", "--lr", "0.001", "--save", str(saved)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved.exists(), "no epoch was saved within 30 s"
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    document = json.loads(saved.read_text())
    assert document["epoch"] >= 1
    assert f"stopped with the params of epoch {document['epoch']}; saved to {saved}" in err
    assert "interrupted (Ctrl-C) in epoch" in out
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_an_update_that_overflows_is_cgraphs_error_not_a_numpy_warning(cg):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning would surface as an exception here
        code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "1e308", "--epochs", "3")
    assert code == 1 and "the update made the param" in err
    assert "RuntimeWarning" not in err and "overflow encountered" not in err


def test_one_row_is_one_row(cg, tmp_path):
    data = tmp_path / "one.csv"
    data.write_text("x,y\n1,2\n")
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "2")
    assert code == 0 and "(mean over 1 row)" in out


def test_a_long_params_table_shows_its_ends_and_says_where_every_param_is(cg, tmp_path, monkeypatch):
    """Past the tables' row limit (eval's too) the params table shows the first and last
    params around a '…' row, and its caption says how many are left out and how to get
    every one (--save); the saved file has them all."""
    from cgraph.views import report

    monkeypatch.setattr(report, "TABLE_MAX_ROWS", 10)
    monkeypatch.setattr(report, "TABLE_END_ROWS", 3)
    program = tmp_path / "many.cg"
    program.write_text("for i in 1..12 {\n  param w[i] = i/12\n}\ny = sum(w[i]*w[i] for i in 1..12)\n")
    saved = tmp_path / "w.json"
    result = cg("train", program, "--epochs", "1", "--save", saved)
    assert result.code == 0, result.err
    shown = re.findall(r"^│ (w\[\d+\]|…) ", result.out, re.MULTILINE)
    assert shown == ["w[1]", "w[2]", "w[3]", "…", "w[10]", "w[11]", "w[12]"], shown
    assert "6 params left out of the table: --save FILE.json writes every one" in " ".join(result.out.split())
    assert len(json.loads(saved.read_text())["params"]) == 12
