"""The training stage as a library: `eval --data`'s row loop (training/rows.py), what --save
writes and when (training/saving.py), the params file written and read in one module
(training/paramsfile.py), and the stage's code kept in small units."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

import cgraph
from cgraph.training import paramsfile, trainer as training
from cgraph.training.data import DataFile, RowWriter, bind_columns
from cgraph.training.rows import evaluate_rows
from cgraph.training.saving import ParamsSaver

from support.paths import PACKAGE, ROOT
LINREG, LINREG_CSV = str(ROOT / "samples" / "linreg.cg"), str(ROOT / "samples" / "linreg.csv")


def rows_of(graph, path: str, **options):
    datafile = DataFile(path)
    binding = bind_columns(graph, datafile)
    return evaluate_rows(graph, datafile, binding, {}, **options)


# --- eval --data's loop as a library ----------------------------------------------------


def test_evaluate_rows_writes_what_the_command_writes(cg):
    graph = cgraph.load(LINREG)
    rows = rows_of(graph, LINREG_CSV, chunk_rows=7)
    out = io.BytesIO()
    writer = RowWriter(out, "csv", rows.output_name, rows.wrt_names, rows.row_word)
    parts = 0
    for part in rows:
        writer.write(part.lines, part.value, part.grads)
        parts += 1
    code, stdout, _ = cg("eval", LINREG, "--data", LINREG_CSV)
    assert code == 0 and out.getvalue().decode() == stdout
    assert parts == math.ceil(200 / 7) and rows.rows == 200 and rows.warnings() == []


def test_evaluate_rows_says_where_inf_or_nan_starts_and_skipped_rows(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n-1\nbad\n-2\n")
    graph = cgraph.parse("y = log(x) * 2", "<expr>")
    rows = rows_of(graph, str(data), on_error="skip")
    values = np.concatenate([part.value for part in rows])
    assert values[0] == 0.0 and np.isnan(values[1:]).all()
    first, second = rows.warnings()
    assert first.startswith("warning: skipped 1 bad row of ") and "line 4" in first
    assert second.startswith("<expr>:1:5: warning: 'log(x)' is inf or nan in 2 rows (first at ")


def test_evaluate_rows_strict_stops_at_the_row(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n-1\n")
    rows = rows_of(cgraph.parse("y = log(x) * 2", "<expr>"), str(data), strict=True)
    with pytest.raises(cgraph.NumericError, match=r"'log\(x\)' is inf or nan for the row at .*d.csv:3"):
        list(rows)


# --- what --save writes, and when --------------------------------------------------------


class MemorySink:
    """Where a ParamsSaver writes, kept in memory: no file is opened."""

    def __init__(self):
        self.writes: list[tuple[dict, bool]] = []
        self.syncs = 0

    def write(self, data: bytes, fsync: bool) -> None:
        self.writes.append((json.loads(data), fsync))

    def sync(self) -> None:
        self.syncs += 1


def linreg_trainer(epochs: int = 3, **settings) -> training.Trainer:
    table = np.loadtxt(LINREG_CSV, delimiter=",", skiprows=1)
    return training.Trainer(cgraph.load(LINREG), ["x", "y"], [table[:, 0], table[:, 1]],
                            settings=training.Settings(lr=0.1, epochs=epochs, **settings))


def test_the_saver_writes_every_epoch_and_forces_the_last_to_disk():
    trainer = linreg_trainer(epochs=3)
    sink = MemorySink()
    clock = iter([0.0, 0.5, 5.0])
    saver = ParamsSaver(trainer, sink, file="linreg.cg", clock=lambda: next(clock))
    outcome = trainer.run(saver)
    assert [doc["epoch"] for doc, _ in sink.writes] == [1, 2, 3]
    assert [fsync for _, fsync in sink.writes] == [True, False, True]  # at most every SYNC_SECONDS
    assert sink.writes[-1][0]["params"] == outcome.params
    assert saver.end(outcome) == ("saved", outcome.history[-1]) and sink.syncs == 1


def test_the_saver_rolls_back_params_that_gave_inf_or_nan():
    trainer = linreg_trainer(epochs=50, optimizer="sgd")
    trainer.settings.lr = 1e3  # diverges: the loss overflows after a few epochs
    sink = MemorySink()
    saver = ParamsSaver(trainer, sink, file="linreg.cg")
    outcome = trainer.run(saver)
    assert outcome.stop == "non-finite" and outcome.history
    what, kept = saver.end(outcome)
    assert what == "rolled back" and kept is outcome.kept
    last = sink.writes[-1][0]
    assert last["epoch"] == (kept.number if kept else 0) and sink.syncs == 1


# --- one module writes and reads params files -------------------------------------------


def test_a_params_file_reads_back_what_was_written(tmp_path):
    epoch = training.Epoch(4, 0.25, 1.0, {"w": 2.5, "b": -1.0}, 96, partial=True,
                           optimizer_state={"velocity": [0.5, -0.25]})
    settings = training.Settings(optimizer="momentum", seed=11)
    document = paramsfile.params_document(epoch, file="linreg.cg", loss="loss", settings=settings, rows=200,
                                          shuffled=True, complete_loss=0.5)
    path = tmp_path / "p.json"
    path.write_bytes(paramsfile.encode_params(document))
    saved = paramsfile.read_params(str(path), cgraph.load(LINREG), "--init")
    assert document["format"] == paramsfile.PARAMS_FORMAT in paramsfile.READ_FORMATS
    assert saved.values == {"w": 2.5, "b": -1.0} and saved.epoch == 3 and not saved.complete
    assert (saved.rows_done, saved.rows, saved.shuffled, saved.seed) == (96, 200, True, 11)
    assert (saved.epoch_loss, saved.partial_loss) == (0.5, 0.25)
    assert saved.optimizer == "momentum" and saved.state == {"velocity": {"w": 0.5, "b": -0.25}}


def test_only_paramsfile_knows_the_params_format():
    assert training.params_document is paramsfile.params_document
    knowing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "cgraph-params" in p.read_text()]
    assert knowing == ["training/paramsfile.py"]
