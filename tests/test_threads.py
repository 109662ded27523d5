"""Chunks on several threads (cgraph/engine/pool.py): `eval --data` and `train` give the
same bits for every thread count, rows in input order, errors where one thread meets them.

The property test draws programs from the language itself (tests/support/programs.py) and
data with inf, nan and bad rows, and runs them with 1, 2 and 4 threads over chunks of a few
rows, so that several chunks really are in flight at once."""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import assume, given, note, reject
from hypothesis import strategies as st

import cgraph
from cgraph.engine.pool import THREADS_ENV, ChunkPool, thread_count
from cgraph.errors import InputError
from support.paths import ROOT
from support.programs import programs

np = pytest.importorskip("numpy")

THREAD_COUNTS = (1, 2, 4)
CELL = st.one_of(
    st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, math.inf, -math.inf, math.nan, 700.0]),
)


def _bits(x) -> bytes:
    """An array's or a float's exact bits (nan == nan, -0.0 != 0.0)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64).tobytes()
    return struct.pack("<d", float(x))


def _cell(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)


def _evaluate(graph, path: Path, threads: int, chunk_rows: int, on_error: str, outputs, strict: bool) -> tuple:
    """Everything `eval --data` writes, as bits: each chunk's lines, values, gradients and
    other outputs, then the warnings, or the error that ended the rows (a bad row with
    --on-error fail, an inf or nan with --strict) after the chunks before it."""
    from cgraph.data import DataFile, bind_columns
    from cgraph.training.rows import evaluate_rows

    datafile = DataFile(str(path))
    binding = bind_columns(graph, datafile)
    rows = evaluate_rows(graph, datafile, binding, {}, output=outputs, chunk_rows=chunk_rows, on_error=on_error,
                         strict=strict, threads=threads)
    parts = []
    try:
        for part in rows:
            more = [(_bits(v), [_bits(g) for g in gs]) for v, gs in part.more]
            parts.append((part.lines.tolist(), _bits(part.value), [_bits(g) for g in part.grads], more))
    except cgraph.CgraphError as exc:
        return parts, f"{type(exc).__name__}: {exc}"
    return parts, rows.warnings()


@st.composite
def programs_with_data(draw):
    source = draw(programs())
    try:
        graph = cgraph.parse(source)
    except cgraph.CgraphError:
        reject()
    names = list(graph.inputs)
    assume(names)  # a data file binds at least one input
    n = draw(st.integers(0, 30), label="rows")
    rows = [["id", *names]]  # an id column binds nothing
    for k in range(n):
        if draw(st.integers(0, 9)) == 0:  # a bad row: --on-error skip leaves it out
            rows.append([str(k)] + ["oops"] * len(names))
        else:
            rows.append([str(k)] + [_cell(draw(CELL)) for _ in names])
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)  # quoted: m[0,1] has a comma
    return source, graph, text.getvalue()


@given(programs_with_data(), st.integers(1, 5), st.booleans(), st.sampled_from(["skip", "fail"]), st.booleans())
def test_every_thread_count_gives_the_same_rows_bit_for_bit(case, chunk_rows, several_outputs, on_error, strict):
    source, graph, text = case
    note(source)
    note(text)
    outputs = None
    if several_outputs:
        outputs = sorted({graph.output_name, *list(graph.names)[:2]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_text(text)
        results = [_evaluate(graph, path, threads, chunk_rows, on_error, outputs, strict) for threads in THREAD_COUNTS]
    assert results[1] == results[0]
    assert results[2] == results[0]


@given(programs(), st.integers(1, 4), st.integers(2, 12), st.data())
def test_every_thread_count_trains_to_the_same_params(source, chunk_rows, n, data):
    """Row-shared gradients are summed per chunk and the chunks' sums added in chunk
    order, so the params after every step are the same bits for 1, 2 and 4 threads."""
    from cgraph.training.trainer import Settings, Trainer

    try:
        output = cgraph.parse(source).output_name
        graph = cgraph.parse(f"{source}\nparam tw = 0.25\ntloss = tw * tw + tanh(tw * ({output}))\n")
    except cgraph.CgraphError:
        reject()
    names = [name for name, i in graph.inputs.items() if graph.ops[i] == "input"]
    cell = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    columns = [np.array(data.draw(st.lists(cell, min_size=n, max_size=n), label=name)) for name in names]
    batch_size = data.draw(st.sampled_from([None, 3, 5]), label="batch size")
    optimizer = data.draw(st.sampled_from(["sgd", "adam"]), label="optimizer")
    outcomes = []
    for threads in THREAD_COUNTS:
        settings = Settings(lr=0.05, epochs=3, batch_size=batch_size, chunk_rows=chunk_rows, threads=threads,
                            optimizer=optimizer)
        trainer = Trainer(graph, names, columns, settings=settings, loss="tloss", rows=None if names else 1)
        outcome = trainer.run()
        history = [(_bits(e.loss), sorted((k, _bits(v)) for k, v in e.params.items())) for e in outcome.history]
        outcomes.append((sorted((k, _bits(v)) for k, v in outcome.params.items()), history,
                         outcome.stop, str(outcome.error)))
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]


# --- the pool -----------------------------------------------------------------------------


def test_results_come_in_chunk_order_whatever_finishes_first():
    def work(k: int) -> int:
        time.sleep(0.02 * (5 - k % 5))  # early chunks finish last
        return k * k

    with ChunkPool(4) as pool:
        assert list(pool.map(work, iter(range(12)))) == [k * k for k in range(12)]


def test_an_error_comes_after_the_results_before_it():
    def work(k: int) -> int:
        if k == 3:
            raise ValueError("chunk 3")
        return k

    for threads in THREAD_COUNTS:
        got = []
        with ChunkPool(threads) as pool, pytest.raises(ValueError, match="chunk 3"):
            for r in pool.map(work, iter(range(8))):
                got.append(r)
        assert got == [0, 1, 2]


def test_an_error_reading_the_chunks_comes_after_the_chunks_before_it():
    def chunks():
        yield from range(3)
        raise ValueError("bad row")

    for threads in THREAD_COUNTS:
        got = []
        with ChunkPool(threads) as pool, pytest.raises(ValueError, match="bad row"):
            for r in pool.map(lambda k: k, chunks()):
                got.append(r)
        assert got == [0, 1, 2]


def test_chunks_in_flight_are_bounded_by_the_threads():
    """Memory stays bounded: at most `threads` chunks are read ahead of the one handed out."""
    read, running, peak = [0], [0], [0]
    lock = threading.Lock()

    def chunks():
        for k in range(40):
            read[0] += 1
            yield k

    def work(k: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return k

    with ChunkPool(3) as pool:
        for k in pool.map(work, chunks()):
            assert read[0] <= k + 1 + 3
    assert peak[0] <= 3


def test_one_thread_is_no_thread():
    names = []
    with ChunkPool(1) as pool:
        list(pool.map(lambda k: names.append(threading.current_thread().name), range(3)))
    assert names == [threading.current_thread().name] * 3


def test_thread_count_from_the_option_the_variable_or_the_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert thread_count(3) == 3
    assert thread_count(None) >= 1
    monkeypatch.setenv(THREADS_ENV, "2")
    assert thread_count(None) == 2
    assert thread_count(1) == 1  # the option wins
    for bad in ("two", "0", "-1"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(InputError, match=THREADS_ENV):
            thread_count(None)


# --- the command line ---------------------------------------------------------------------


def _csv(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("x,y\n" + "".join(f"{k / 7},{3 * k / 7 - 1.5}\n" for k in range(rows)))
    return path


def test_eval_data_threads_option_gives_the_same_output(cg, tmp_path):
    data = _csv(tmp_path, 50)
    program = str(ROOT / "samples" / "linreg.cg")
    outputs = {cg("eval", program, "--data", str(data), "--chunk-rows", "7", "--threads", n).out
               for n in ("1", "2", "4")}
    assert len(outputs) == 1 and outputs.pop().count("\n") == 51


def test_cgraph_threads_variable_and_bad_values(cg, tmp_path, monkeypatch):
    data = _csv(tmp_path, 5)
    program = str(ROOT / "samples" / "linreg.cg")
    monkeypatch.setenv(THREADS_ENV, "none")
    bad = cg("eval", program, "--data", str(data))
    assert bad.code == 2 and f"{THREADS_ENV} must be a whole number" in bad.err
    monkeypatch.setenv(THREADS_ENV, "2")
    assert cg("eval", program, "--data", str(data)).code == 0
    zero = cg("eval", program, "--data", str(data), "--threads", "0")
    assert zero.code == 2
    alone = cg("eval", program, "--w", "1", "--b", "0", "--x", "1", "--y", "1", "--threads", "2")
    assert alone.code == 2 and "--threads goes with --data" in alone.err


def test_train_threads_option_gives_the_same_params(cg, tmp_path):
    data = _csv(tmp_path, 40)
    program = str(ROOT / "samples" / "linreg.cg")
    runs = set()
    for n in ("1", "2", "4"):
        out = cg("train", program, "--data", str(data), "--epochs", "5", "--chunk-rows", "6", "--threads", n,
                 "--batch-size", "16").out
        runs.add(re.sub(r"[0-9.]+ s\b|[0-9.]+ │$", "", out, flags=re.M))  # the times differ, nothing else
    assert len(runs) == 1


def test_scalar_eval_starts_no_thread_and_no_numpy():
    """One evaluation stays light: neither NumPy nor a thread pool is imported."""
    code = ("import sys; from cgraph.cli import run; run(['eval', '-e', 'x*y', '--x', '2', '--y', '3']); "
            "print('numpy' in sys.modules, 'concurrent.futures' in sys.modules, 'cgraph.engine.pool' in sys.modules)")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False False"


def test_the_sigmoids_branch_free_numerator_gives_the_same_bits():
    """ops._np_sigmoid takes max(e, a >= 0) for np.where(a >= 0, 1.0, e) (faster on random
    signs): the same bits everywhere, inf, nan, -0.0 and under/overflow included."""
    from cgraph.ops import _np_sigmoid

    rng = np.random.default_rng(7)
    a = np.concatenate([rng.normal(0, 5, 5000), rng.normal(0, 400, 5000),
                        [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324, 745.2, -745.2, 1e308]])
    e = np.exp(-np.abs(a))
    expected = np.where(a >= 0, 1.0, e) / (e + 1.0)
    assert _np_sigmoid(a).tobytes() == expected.tobytes()
    assert _np_sigmoid(np.float64(-2.0)).shape == ()


def test_plan_run_chunks_is_the_library_entry_point():
    """cgraph.batch: Plan.run_chunks(base, chunks, threads=N), results in chunk order, the
    same bits as run() chunk by chunk in this thread."""
    from cgraph.batch import Plan

    graph = cgraph.parse("param w = 0.3\nh = tanh(w * x + y)\nloss = sigmoid(h * x) - log(y)")
    plan = Plan(graph, ["x", "y"], shared_grads="sum")
    base = plan.bind({})
    rng = np.random.default_rng(3)
    chunks = [[rng.normal(size=m), rng.normal(size=m)] for m in (5, 7, 1, 9, 4, 6)]
    expected = [plan.run(base, columns) for columns in chunks]
    for threads in THREAD_COUNTS:
        got = list(plan.run_chunks(base, iter(chunks), threads=threads))
        assert [_bits(r.value) for r in got] == [_bits(r.value) for r in expected]
        assert [[_bits(r.grads[k]) for k in plan.wrt_names] for r in got] == \
            [[_bits(r.grads[k]) for k in plan.wrt_names] for r in expected]


@pytest.mark.parametrize("command", ["eval", "train"])
def test_threads_with_the_dask_engine_is_a_usage_error(cg, command):
    """A Dask worker runs one thread; --threads there would be silently ignored, so it is refused."""
    samples = ROOT / "samples"
    result = cg(command, samples / "linreg.cg", "--data", samples / "linreg.csv", "--engine", "dask",
                "--threads", "2")
    assert result.code == 2
    assert "--threads is the local engine's" in result.err


@pytest.mark.parametrize("command", ["eval", "train"])
def test_the_threads_option_is_the_one_used_and_bounded(cg, monkeypatch, command):
    """--threads reaches the pool (a bad CGRAPH_THREADS is never read when it is given), and
    a count past what the machine can use is refused: each thread holds a chunk in memory."""
    from cgraph.engine.pool import max_threads

    samples = ROOT / "samples"
    extra = ("--epochs", "1") if command == "train" else ()
    monkeypatch.setenv(THREADS_ENV, "abc")
    assert cg(command, samples / "linreg.cg", "--data", samples / "linreg.csv", *extra).code == 2
    result = cg(command, samples / "linreg.cg", "--data", samples / "linreg.csv", "--threads", "1", *extra)
    assert result.code == 0, result.err
    monkeypatch.delenv(THREADS_ENV)
    result = cg(command, samples / "linreg.cg", "--data", samples / "linreg.csv", "--threads",
                str(max_threads() + 1), *extra)
    assert result.code == 2 and "more threads than this machine can use" in result.err
    monkeypatch.setenv(THREADS_ENV, str(max_threads() + 1))
    assert cg(command, samples / "linreg.cg", "--data", samples / "linreg.csv", *extra).code == 2
