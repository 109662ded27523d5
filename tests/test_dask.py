"""`--engine dask` on a real dask.distributed cluster: a LocalCluster of 2 worker processes
(one thread each), shared by the module's tests, reached through --scheduler as a
remote cluster would be. The local engine is the reference: eval's rows bit for bit,
training's params to 1e-12; a worker killed in the middle changes nothing."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from support.paths import SAMPLES

distributed = pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

XOR = SAMPLES / "xor.cg"
LINREG = SAMPLES / "linreg.cg"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=50) as local, \
            distributed.Client(local, set_as_default=False) as client:
        yield local.scheduler_address, client


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """linreg-like rows in 4 CSV files of different sizes (sorted names = input order)."""
    root = tmp_path_factory.mktemp("parts")
    rng = np.random.default_rng(5)
    for k, n in enumerate([70, 3, 120, 45]):
        x = rng.normal(size=n)
        y = 3 * x - 1 + rng.normal(scale=0.1, size=n)
        lines = ["x,y"] + [f"{a!r},{b!r}" for a, b in zip(x.tolist(), y.tolist())]
        (root / f"p{k}.csv").write_text("\n".join(lines) + "\n")
    return root


def _dask(cluster, *argv):
    return [*argv, "--engine", "dask", "--scheduler", cluster[0]]


def _pids(client) -> list[int]:
    from cgraph.distributed.local import worker_pid

    return list(client.run(worker_pid).values())


def _kill_one_worker(client) -> None:
    os.kill(_pids(client)[0], signal.SIGKILL)


@pytest.fixture
def healthy(cluster):
    """Two workers back before a test starts (a test before may have killed one)."""
    cluster[1].wait_for_workers(2, timeout=30)
    return cluster


def test_eval_gives_the_local_engines_bytes(cg, healthy, parts):
    for fmt in ("csv", "jsonl"):
        local = cg("eval", LINREG, "--data", f"{parts}/*.csv", "--format", fmt)
        dask = cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv", "--format", fmt))
        assert local.code == dask.code == 0, dask.err
        assert dask.out == local.out
        assert len(local.out.splitlines()) == 238 + (fmt == "csv")


def test_eval_random_params_and_several_outputs(cg, healthy, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    for k in range(3):
        (data / f"{k}.csv").write_text("x[1],x[2],target\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    args = ["eval", XOR, "--data", data, "--seed", "7", "--output", "loss,y"]
    local, dask = cg(*args), cg(*_dask(healthy, *args))
    assert dask.code == 0, dask.err
    assert dask.out == local.out


def test_eval_to_parquet_and_to_part_files(cg, healthy, parts, tmp_path):
    local = cg("eval", LINREG, "--data", f"{parts}/*.csv")
    out = tmp_path / "rows.parquet"
    assert cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv", "-o", out)).code == 0
    table = pq.read_table(out).to_pydict()
    rows = [line.split(",") for line in local.out.splitlines()]
    assert list(table) == rows[0]
    for k, name in enumerate(rows[0]):
        assert [repr(v) for v in table[name]] == [r[k] for r in rows[1:]]  # the same floats
    directory = tmp_path / "parts"
    result = cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv", "-o", f"{directory}/"))
    assert result.code == 0, result.err
    assert "to 4 part files" in result.err
    names = sorted(os.listdir(directory))
    assert names == [f"part-{k:05d}.csv" for k in range(4)]
    joined = [rows[0]] + [line.split(",") for name in names
                          for line in (directory / name).read_text().splitlines()[1:]]
    assert joined == rows


def test_train_full_batch_gives_the_local_params(cg, healthy, parts, tmp_path):
    for extra in ([], ["--batch-size", "25", "--seed", "3"]):
        args = ["train", LINREG, "--data", parts, "--lr", "0.3", "--epochs", "15", *extra]
        local = cg(*args, "--save", tmp_path / "local.json")
        dask = cg(*_dask(healthy, *args, "--save", tmp_path / "dask.json", "--log", tmp_path / "log.csv"))
        assert local.code == dask.code == 0, dask.err
        a = json.loads((tmp_path / "local.json").read_text())["params"]
        b = json.loads((tmp_path / "dask.json").read_text())["params"]
        assert a.keys() == b.keys()
        for name in a:
            assert abs(a[name] - b[name]) <= 1e-12 * max(1.0, abs(a[name])), (name, a[name], b[name])
        assert len((tmp_path / "log.csv").read_text().splitlines()) == 16


def test_a_worker_killed_mid_eval_changes_nothing(cg, healthy, parts, monkeypatch):
    from cgraph.distributed import rows

    reference = cg("eval", LINREG, "--data", f"{parts}/*.csv")
    take, killed = rows._take, []

    def kill_after_the_first(local_rows, part, source=None):
        if not killed:
            killed.append(True)
            _kill_one_worker(healthy[1])
        take(local_rows, part, source)

    monkeypatch.setattr(rows, "_take", kill_after_the_first)
    result = cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv"))
    assert killed and result.code == 0, result.err
    assert result.out == reference.out


def test_a_worker_killed_mid_train_changes_nothing(cg, healthy, parts, tmp_path, monkeypatch):
    from cgraph.distributed.train import ClusterTrainer

    args = ["train", LINREG, "--data", parts, "--lr", "0.3", "--epochs", "6", "--batch-size", "60"]
    assert cg(*_dask(healthy, *args, "--save", tmp_path / "a.json")).code == 0
    batch, calls = ClusterTrainer.batch, []

    def kill_at_the_fifth(self, params, rows):
        calls.append(1)
        if len(calls) == 5:
            _kill_one_worker(self.client)
        return batch(self, params, rows)

    monkeypatch.setattr(ClusterTrainer, "batch", kill_at_the_fifth)
    result = cg(*_dask(healthy, *args, "--save", tmp_path / "b.json"))
    assert result.code == 0, result.err
    assert len(calls) > 5
    a = json.loads((tmp_path / "a.json").read_text())["params"]
    b = json.loads((tmp_path / "b.json").read_text())["params"]
    assert a == b  # the same sums in the same order: the same bits


def test_an_interrupted_run_leaves_no_output_file(cg, healthy, parts, tmp_path, monkeypatch):
    from cgraph.distributed import rows

    def interrupt(local_rows, part, source=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(rows, "_take", interrupt)
    out, directory = tmp_path / "rows.csv", tmp_path / "parts"
    assert cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv", "-o", out)).code == 130
    assert cg(*_dask(healthy, "eval", LINREG, "--data", f"{parts}/*.csv", "-o", f"{directory}/")).code == 130
    assert not out.exists()
    assert not directory.exists() or not os.listdir(directory)
    assert os.listdir(tmp_path) in ([], ["parts"])


def test_a_bad_row_follows_on_error_with_its_file_and_line(cg, healthy, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n3,4\n")
    (data / "b.csv").write_text("x,y\n5,6\n7,oops\n9,10\n")
    failed = cg(*_dask(healthy, "eval", LINREG, "--data", data))
    assert failed.code == 2
    assert f"{data / 'b.csv'}:3" in failed.err and "oops" in failed.err
    local = cg("eval", LINREG, "--data", data, "--on-error", "skip")
    dask = cg(*_dask(healthy, "eval", LINREG, "--data", data, "--on-error", "skip"))
    assert dask.code == local.code == 0
    assert dask.out == local.out
    assert dask.err == local.err  # the same warning, naming the file and line
    assert "skipped 1 bad row" in dask.err and f"{data / 'b.csv'}: line 3:" in dask.err
    trained = cg(*_dask(healthy, "train", LINREG, "--data", data, "--epochs", "2"))
    assert trained.code == 2 and f"{data / 'b.csv'}:3" in trained.err
    args = ["train", LINREG, "--data", data, "--epochs", "2", "--on-error", "skip"]
    local, dask = cg(*args), cg(*_dask(healthy, *args))
    assert dask.code == local.code == 0
    assert dask.err == local.err and f"{data / 'b.csv'}: line 3:" in dask.err


def test_an_unreachable_scheduler_fails_within_10_s(cg, parts):
    started = time.monotonic()
    result = cg("eval", LINREG, "--data", parts, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert result.code == 1
    assert time.monotonic() - started < 10
    assert "cannot reach the Dask scheduler" in result.err and "Traceback" not in result.err


def test_a_glob_matching_nothing_is_exit_2_with_dask_too(cg, tmp_path):
    result = cg("eval", LINREG, "--data", f"{tmp_path}/*.parquet", "--engine", "dask")
    assert result.code == 2
    assert "matches no file" in result.err


def test_without_dask_one_line_says_how_to_install(cg, parts, hide_module):
    hide_module("dask")  # (not "distributed": cgraph.distributed is imported by that relative name)
    result = cg("eval", LINREG, "--data", parts, "--engine", "dask")
    assert result.code == 1
    assert "pip install 'cgraph[dask]'" in result.err and "Traceback" not in result.err


def test_engine_options_are_checked(cg, parts, tmp_path):
    assert cg("eval", LINREG, "--data", parts, "-o", f"{tmp_path}/new/").code == 2  # parts: --engine dask
    exists = cg("eval", LINREG, "--data", parts, "--engine", "dask", "-o", f"{tmp_path}/")
    assert exists.code == 1 and "the directory exists" in exists.err
    assert cg("eval", LINREG, "--data", parts, "--workers", "2").code == 2  # needs --engine dask
    assert cg("eval", LINREG, "--x", "1", "--y", "2", "--engine", "dask").code == 2  # needs --data


def test_ctrl_c_on_the_terminal_saves_the_last_epoch_and_exits_130(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it (the local
    cluster's workers included): the step in flight finishes, the last epoch is saved."""
    import subprocess

    from support.runner import cgraph_script, script_env

    save = tmp_path / "p.json"
    process = subprocess.Popen(
        [*cgraph_script(), "train", LINREG, "--data", SAMPLES / "linreg-parts", "--engine", "dask", "--workers", "1",
         "--epochs", "1000000", "--batch-size", "20", "--save", save],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=script_env())
    try:
        deadline = time.monotonic() + 60
        while not save.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    assert b"interrupted: stopped with the params of epoch" in err
    assert json.loads(save.read_text())["params"]


def test_strict_and_json_lines_data_as_locally(cg, healthy, tmp_path):
    program = tmp_path / "p.cg"
    program.write_text("input x\ninput y\nr = log(x) * y\n")
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.jsonl").write_text('{"x": 1, "y": 2}\n{"x": 0, "y": 1}\n')
    (data / "b.jsonl").write_text('{"x": 3, "y": 4}\n')
    for extra in ([], ["--format", "jsonl"]):
        local = cg("eval", program, "--data", data, *extra)
        dask = cg(*_dask(healthy, "eval", program, "--data", data, *extra))
        assert (dask.code, dask.out, dask.err) == (local.code, local.out, local.err)
        assert f"'log(x)' is inf or nan in 1 row (first at {data / 'a.jsonl'}:2)" in dask.err
    strict = cg(*_dask(healthy, "eval", program, "--data", data, "--strict"))
    assert strict.code == 1
    assert f"'log(x)' is inf or nan for the row at {data / 'a.jsonl'}:2" in strict.err


def test_one_parquet_file_spreads_over_the_workers_by_row_groups(cg, healthy, tmp_path, monkeypatch):
    import pyarrow as pa

    from cgraph.distributed import partitions

    rng = np.random.default_rng(2)
    x = rng.normal(size=230)
    pq.write_table(pa.table({"x": x, "y": 2 * x + 1}), tmp_path / "t.parquet", row_group_size=50)
    monkeypatch.setattr(partitions, "MIN_PARTITION_ROWS", 60)  # 5 row groups: runs of 2, 2 and 1
    from cgraph.training.data import open_data_set

    assert [p.row_groups for p in partitions.partitions(open_data_set(str(tmp_path / "t.parquet")))] == \
        [(0, 2), (2, 4), (4, 5)]
    local = cg("eval", LINREG, "--data", tmp_path / "t.parquet")
    dask = cg(*_dask(healthy, "eval", LINREG, "--data", tmp_path / "t.parquet"))
    assert dask.code == 0 and dask.out == local.out  # rows numbered in the whole file
    parts = cg(*_dask(healthy, "eval", LINREG, "--data", tmp_path / "t.parquet", "-o", f"{tmp_path}/out/"))
    assert "to 3 part files" in parts.err
    args = ["train", LINREG, "--data", tmp_path / "t.parquet", "--epochs", "4", "--lr", "0.3"]
    local, dask = cg(*args, "--save", tmp_path / "a.json"), cg(*_dask(healthy, *args, "--save", tmp_path / "b.json"))
    assert dask.code == local.code == 0
    a = json.loads((tmp_path / "a.json").read_text())["params"]
    b = json.loads((tmp_path / "b.json").read_text())["params"]
    assert all(abs(a[k] - b[k]) <= 1e-12 for k in a)
