"""Saving and resuming training exactly, and the messages of `cgraph train` about its inputs.

A run of N epochs in one go, and the same run stopped (after an epoch, or in the middle of
one by --max-time) then resumed with --init, end with the same params bit for bit, for
every optimizer, with shuffling and mini-batches. Stops are driven deterministically: a
fake clock for --max-time, should_stop for Ctrl-C.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

import cgraph
import cgraph.training.trainer as training
from cgraph.training.paramsfile import read_params
from cgraph.training.trainer import Callbacks, Settings, Trainer

from support.paths import ROOT

LINREG, LINREG_CSV = str(ROOT / "samples" / "linreg.cg"), str(ROOT / "samples" / "linreg.csv")
OPTIMIZERS = [("sgd", "0.01"), ("momentum", "0.005"), ("adam", "0.05")]


def linreg_columns() -> list[np.ndarray]:
    table = np.loadtxt(LINREG_CSV, delimiter=",", skiprows=1)
    return [table[:, 0].copy(), table[:, 1].copy()]


def fresh_trainer(optimizer: str, start: dict[str, float] | None = None, epochs: int = 5, **settings) -> Trainer:
    graph = cgraph.load(LINREG)
    lr = dict(OPTIMIZERS)[optimizer]
    return Trainer(graph, ["x", "y"], linreg_columns(), start=start,
                   settings=Settings(lr=float(lr), epochs=epochs, batch_size=16, optimizer=optimizer, seed=7, **settings))


def through_a_file(tmp_path, trainer: Trainer, epoch) -> object:
    """Save an epoch record as --save does and read it back as --init does."""
    document = training.params_document(epoch, file=LINREG, loss="loss", settings=trainer.settings,
                                        rows=trainer.n, shuffled=trainer.shuffled, loss_at_params=None)
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(document))
    return read_params(str(path), cgraph.load(LINREG), "--init")


class StopAfter(Callbacks):
    """should_stop (Ctrl-C) after a given number of batches."""

    def __init__(self, batches: int):
        self.left = batches

    def on_batch(self, epoch, batch, batches, loss) -> None:
        self.left -= 1

    def should_stop(self) -> str | None:
        return "stopped by the test" if self.left <= 0 else None


@pytest.fixture
def batch_clock(monkeypatch):
    """--max-time's clock made to tick once per look: a run stops at a fixed batch."""
    ticks = itertools.count()
    monkeypatch.setattr(training, "_now", lambda: float(next(ticks)))


# --- the library ----------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [name for name, _ in OPTIMIZERS])
def test_k_epochs_then_resume_equals_one_run(tmp_path, optimizer):
    whole = fresh_trainer(optimizer, epochs=5).run()
    first = fresh_trainer(optimizer, epochs=2)
    part = first.run()
    saved = through_a_file(tmp_path, first, part.history[-1])
    rest = fresh_trainer(optimizer, start=saved.values, epochs=3)
    epoch, done, loss_so_far, note = training.resume_point(saved, rest)
    assert (epoch, done, note) == (3, 0, None)
    resumed = rest.run(first_epoch=epoch, optimizer_state=training.restorable_state(saved, rest.settings, rest.names))
    assert resumed.params == whole.params
    assert [e.loss for e in resumed.history] == [e.loss for e in whole.history[2:]]


@pytest.mark.parametrize("optimizer", [name for name, _ in OPTIMIZERS])
def test_a_stop_in_the_middle_of_an_epoch_resumes_exactly(tmp_path, batch_clock, optimizer):
    whole = fresh_trainer(optimizer, epochs=5).run()
    # 13 batches of 16 rows per epoch; the clock ticks at the start, after each batch and
    # after each epoch: --max-time 20 stops after batch 6 of epoch 2.
    first = fresh_trainer(optimizer, epochs=5, max_time=20)
    cut = first.run()
    last = cut.history[-1]
    assert cut.stop == "max_time" and "after 6 of 13 batches" in cut.reason
    assert (last.number, last.partial, last.rows) == (2, True, 96)
    assert cut.params == last.params  # where it stands, not the end of epoch 1
    saved = through_a_file(tmp_path, first, last)
    assert (saved.epoch, saved.complete, saved.rows_done) == (1, False, 96)  # 1 complete epoch, 96 rows of epoch 2
    rest = fresh_trainer(optimizer, start=saved.values, epochs=4)
    epoch, done, loss_so_far, note = training.resume_point(saved, rest)
    assert (epoch, done, note) == (2, 96, None)
    resumed = rest.run(first_epoch=epoch, optimizer_state=training.restorable_state(saved, rest.settings, rest.names),
                       rows_done=done, loss_so_far=loss_so_far)
    assert [e.number for e in resumed.history] == [2, 3, 4, 5]
    assert resumed.params == whole.params
    assert resumed.optimizer_state == whole.optimizer_state
    assert resumed.history[0].loss == pytest.approx(whole.history[1].loss, rel=1e-12)  # the whole epoch's mean


@pytest.mark.parametrize("optimizer", [name for name, _ in OPTIMIZERS])
def test_should_stop_keeps_the_last_complete_epoch_and_a_resume_is_exact(tmp_path, optimizer):
    whole = fresh_trainer(optimizer, epochs=5).run()
    first = fresh_trainer(optimizer, epochs=5)
    stopped = first.run(StopAfter(13 + 13 + 4))  # in epoch 3
    assert stopped.stop == "interrupted" and [e.number for e in stopped.history] == [1, 2]
    assert stopped.params == stopped.history[-1].params
    saved = through_a_file(tmp_path, first, stopped.history[-1])
    rest = fresh_trainer(optimizer, start=saved.values, epochs=3)
    epoch, done, loss_so_far, _ = training.resume_point(saved, rest)
    resumed = rest.run(first_epoch=epoch, optimizer_state=training.restorable_state(saved, rest.settings, rest.names))
    assert resumed.params == whole.params


def test_the_row_order_of_an_epoch_is_a_function_of_the_seed_and_the_epoch():
    a, b = fresh_trainer("sgd"), fresh_trainer("sgd")
    assert np.array_equal(a.order(4), b.order(4)) and not np.array_equal(a.order(4), a.order(5))
    assert fresh_trainer("sgd", shuffle=False).order(4) is None


# --- the command line -----------------------------------------------------------------------


def train(cg, optimizer: str, *argv):
    lr = dict(OPTIMIZERS)[optimizer]
    return cg("train", LINREG, "--data", LINREG_CSV, "--batch-size", "16", "--seed", "7",
              "--optimizer", optimizer, "--lr", lr, *argv)


@pytest.mark.parametrize("optimizer", [name for name, _ in OPTIMIZERS])
def test_max_time_saves_where_training_stands_and_init_goes_on_from_there(cg, tmp_path, batch_clock, optimizer):
    whole, part = tmp_path / "whole.json", tmp_path / "part.json"
    assert train(cg, optimizer, "--epochs", "5", "--save", whole).code == 0
    code, out, err = train(cg, optimizer, "--epochs", "5", "--max-time", "20", "--save", part)
    assert code == 0, err
    assert "stopped: --max-time 20s reached in epoch 2 (after 6 of 13 batches)" in out
    assert "2 epochs, the last partial (96 of 200 rows) (batches of 16" in out
    assert f"saved the params of epoch 2 after 96 of its 200 rows to {part}" in err
    cut = json.loads(part.read_text())
    assert cut["epoch"] == 1  # complete epochs: a reader taking "epoch" for them is right
    assert {k: cut["partial_epoch"][k] for k in ("epoch", "rows_done", "rows", "shuffled")} == \
        {"epoch": 2, "rows_done": 96, "rows": 200, "shuffled": True}
    library = fresh_trainer(optimizer, epochs=5, max_time=20).run()  # the same stop, the same ticks
    assert cut["epoch_loss"] == library.history[0].loss  # epoch 1's
    assert cut["partial_epoch"]["loss"] == library.history[1].loss  # the 96 rows of epoch 2
    # --epochs counts on from the complete epochs, the rest of epoch 2 being the first
    code, out, err = train(cg, optimizer, "--epochs", str(5 - cut["epoch"]), "--init", part, "--save", part)
    assert code == 0, err
    assert "4 epochs (2-5)" in out
    one, two = json.loads(whole.read_text()), json.loads(part.read_text())
    assert two["epoch"] == 5 and two["partial_epoch"] is None
    assert two["params"] == one["params"] and two["optimizer"] == one["optimizer"]


def test_the_saved_losses_say_what_they_are(cg, tmp_path):
    saved = tmp_path / "p.json"
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--lr", "0.3", "--epochs", "3", "--save", saved)
    document = json.loads(saved.read_text())
    assert document["format"] == "cgraph-params/2" and "loss_value" not in document
    graph = cgraph.load(LINREG)
    columns = linreg_columns()
    at_params = Trainer(graph, ["x", "y"], columns, start=document["params"]).loss(
        np.array([document["params"]["w"], document["params"]["b"]]))
    assert document["loss_at_params"] == at_params
    # Full batch: epoch 3's loss is the loss at epoch 2's params, not at the saved ones.
    assert document["epoch_loss"] != document["loss_at_params"]
    assert document["loss_at_params"] == pytest.approx(float(out.rsplit("learned params: ", 1)[1].split()[0]), rel=1e-9)


def test_files_of_format_1_are_still_read(cg, tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "cgraph-params/1", "cgraph": "0.1.0", "file": "linreg.cg", "loss": "loss",
                               "epoch": 4, "loss_value": 0.5, "params": {"w": 1.0, "b": 0.5},
                               "optimizer": {"name": "sgd", "lr": 0.1, "state": {}}, "seed": 0}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "2", "--init", old)
    assert code == 0, err
    assert "2 epochs (5-6)" in out
    code, out, err = cg("eval", LINREG, "--params", old, "--x", "1", "--y", "1", "--format", "json")
    assert code == 0 and json.loads(out)["value"] == pytest.approx((1.0 * 1 + 0.5 - 1) ** 2)


def test_a_resume_with_another_row_order_says_so(cg, tmp_path, batch_clock):
    part = tmp_path / "part.json"
    assert train(cg, "sgd", "--epochs", "5", "--max-time", "20", "--save", part).code == 0
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--batch-size", "16", "--seed", "8",
                        "--lr", "0.01", "--epochs", "2", "--init", part)
    assert code == 0, err
    assert "epoch 2 stopped after 96 of its 200 rows, but this run has --seed 8, not 7" in err
    assert "2 epochs (2-3)" in out


@pytest.mark.parametrize("partial", [
    {"epoch": 2, "rows": 200, "shuffled": True},
    {"epoch": 2, "rows_done": 300, "rows": 200, "shuffled": True},
    {"epoch": 5, "rows_done": 30, "rows": 200, "shuffled": True},
    {"epoch": 2, "rows_done": 30, "rows": 200, "shuffled": "yes"},
    "no",
])
def test_an_unreadable_partial_epoch_is_an_error(cg, tmp_path, partial):
    saved = tmp_path / "p.json"
    assert cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--save", saved).code == 0
    document = json.loads(saved.read_text())
    document["partial_epoch"] = partial
    saved.write_text(json.dumps(document))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--epochs", "1", "--init", saved)
    assert code == 2 and '"partial_epoch" is not readable' in err and "Traceback" not in err


# --- non-finite inputs are the data's fault --------------------------------------------------


@pytest.mark.parametrize("value, word", [("1e999", "inf"), ("-inf", "-inf"), ("nan", "nan")])
def test_a_non_finite_value_in_the_data_is_a_bad_row(cg, tmp_path, value, word):
    data = tmp_path / "d.csv"
    data.write_text(f"x,y\n1,2\n2,{value}\n3,8\n")
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "3")
    assert code == 2 and out == ""
    assert f"{data}:3:3: error: column 'y' is {word}: training needs finite values" in err  # the caret under the field
    assert "--lr" not in err and "--on-error skip" in err


def test_on_error_skip_leaves_out_non_finite_rows(cg, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,2\ninf,5\n2,nan\n3,8\n")
    clean = tmp_path / "clean.csv"
    clean.write_text("x,y\n1,2\n3,8\n")
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "3", "--on-error", "skip")
    assert code == 0, err
    assert "warning: skipped 2 bad rows of" in err
    assert "line 3: column 'x' is inf" in err and "line 4: column 'y' is nan" in err
    expected = cg("train", LINREG, "--data", clean, "--epochs", "3")
    params = out.split("stopped:")[1].split("per epoch")[0]  # the params table (the epochs' one has times)
    assert params == expected.out.split("stopped:")[1].split("per epoch")[0] and "on 2 rows" in out


def test_non_finite_values_in_json_lines_and_lists(cg, tmp_path):
    model = tmp_path / "m.cg"
    model.write_text("param w = 0\nloss = (w*x[1] + x[2] - y)^2\n")
    data = tmp_path / "d.jsonl"
    data.write_text('{"x": [1, 2], "y": 1}\n{"x": [1, "inf"], "y": 1}\n')
    code, out, err = cg("train", model, "--data", data, "--epochs", "1")
    assert code == 2 and f"{data}:2:1: error: 'x[2]' (in the list 'x') is inf" in err and "--lr" not in err


def test_the_trainer_refuses_non_finite_data():
    with pytest.raises(cgraph.CgraphError, match=r"rows.csv:5: the input 'y' is nan: training needs finite values"):
        Trainer(cgraph.load(LINREG), ["x", "y"], [np.ones(3), np.array([1.0, 2.0, math.nan])],
                np.array([2, 3, 5]), data_path="rows.csv")


def test_non_finite_options_and_init_params_are_refused(cg, tmp_path):
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--w", "inf")
    assert code == 2 and "'w' is inf (given as an option): training needs finite values" in err
    init = tmp_path / "p.json"
    init.write_text(json.dumps({"w": "nan", "b": 0}))
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--init", init)
    assert code == 2 and f"--init {init}: the param 'w' is nan" in err


def test_a_loss_non_finite_before_any_update_does_not_blame_the_learning_rate(cg, tmp_path):
    model = tmp_path / "m.cg"
    model.write_text("param w = 1\nr = log(w*x)\nloss = (r - y)^2\n")
    data = tmp_path / "d.csv"
    data.write_text("x,y\n0,1\n1,1\n")
    code, out, err = cg("train", model, "--data", data, "--epochs", "3")
    assert code == 1 and "non-finite in epoch 1" in err and f"(first at {data}:2)" in err
    assert "not because of --lr" in err and "a smaller --lr" not in err


# --- options and messages --------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_momentum_without_the_momentum_optimizer_is_a_usage_error(cg, optimizer):
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--optimizer", optimizer, "--momentum", "0.5")
    assert code == 2 and "--momentum is the factor of --optimizer momentum" in err and out == ""
    code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--momentum", "0.5")  # sgd by default
    assert code == 2
    assert cg("train", LINREG, "--data", LINREG_CSV, "--optimizer", "momentum", "--momentum", "0.5",
              "--epochs", "1").code == 0
    assert cg("train", LINREG, "--data", LINREG_CSV, "--optimizer", optimizer, "--epochs", "1").code == 0


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_trace_columns_line_up_whatever_the_names(cg, tmp_path, optimizer):
    model = tmp_path / "m.cg"
    model.write_text("param w = 0.5\nfor i in 10..10 { param a_very_long_name[i,20] = -0.25 }\n"
                     "loss = (w*x + a_very_long_name[10,20] - y)^2\n")
    code, out, err = cg("train", model, "--data", LINREG_CSV, "--epochs", "1", "--trace", "1",
                        "--optimizer", optimizer, "--lr", "0.001")
    assert code == 0, err
    params = [line for line in out.split("step 2")[0].splitlines()
              if line.startswith("  ") and " <- " in line and not line.startswith("  (")]
    assert len(params) == 2
    assert len({line.index("dloss/d") for line in params}) == 1
    arrows = {line.index(" <- ") - len(name) for line, name in zip(params, ["w", "a_very_long_name[10,20]"])}
    assert len(arrows) == 1, out


@pytest.mark.parametrize("content, message", [
    ({"w[1]": 1}, "'w[1]' is not a param of "),
    ({"w[": 1}, "'w[' is not a param of "),
    ({"wq": 1}, "'wq' is not a param of "),
    ({"w": [1, 2]}, "the param 'w' takes one value, got 2"),
    ({"w": "abc"}, "the value of the param 'w' must be a number"),
    ({"w": True}, "the value of the param 'w' must be a number"),
    ({"x": 1}, "'x' is an input of "),
    ({"format": "cgraph-params/2", "params": {"w": None}}, "the value of the param 'w' must be a number"),
])
@pytest.mark.parametrize("option", ["--init", "--params"])
def test_params_file_errors_name_params_as_params(cg, tmp_path, content, message, option):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(content))
    if option == "--init":
        code, out, err = cg("train", LINREG, "--data", LINREG_CSV, "--init", path)
    else:
        code, out, err = cg("eval", LINREG, "--params", path, "--x", "1", "--y", "1")
    assert code == 2 and f"{option} {path}: {message}" in err, err
    assert "input name" not in err and "indexed inputs" not in err


def test_an_indexed_param_given_as_a_list(cg, tmp_path):
    model = tmp_path / "m.cg"
    model.write_text("for i in 1..2 { param w[i] = 0 }\nloss = (w[1]*x + w[2] - y)^2\n")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"w": [1, 2, 3]}))
    code, out, err = cg("eval", model, "--params", path, "--x", "1", "--y", "1")
    assert code == 2 and "'w' has 2 indexed params (w[1], w[2]), got 3 values" in err
    path.write_text(json.dumps({"w": [3, -1.5]}))
    code, out, err = cg("eval", model, "--params", path, "--x", "1", "--y", "1", "--format", "json")
    assert code == 0 and json.loads(out)["value"] == pytest.approx((3 - 1.5 - 1) ** 2)
