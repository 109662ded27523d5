"""Chunks in forked worker processes (cgraph/engine/workers.py, pool.py): the functions a
pool registers run in processes of their own, results come back in chunk order, errors
come out where one process would have met them, and no worker outlives its pool.

The same-bits property over generated programs and data, for 1, 2 and 4 workers, is in
test_threads.py (it goes through the same pool); here: the mechanics, and the check of
inf and nan by the CPU's IEEE flags that the batch engine's forward pass relies on."""

from __future__ import annotations

import math
import os
import signal
import sys

import pytest
from hypothesis import given, note, reject
from hypothesis import strategies as st

import cgraph
from cgraph.engine import pool as pool_module
from cgraph.engine.pool import ChunkPool
from cgraph.engine.workers import ForkedWorkers, can_fork
from cgraph.errors import CgraphError, DataError, NumericError, WorkerLost
from support.programs import programs

np = pytest.importorskip("numpy")
pytestmark = pytest.mark.skipif(not can_fork(), reason="worker processes are forked on Linux only")


def _children() -> set[int]:
    """This process's living (or unreaped) child processes."""
    found: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                found.update(int(pid) for pid in f.read().split())
        except FileNotFoundError:  # a thread that has just ended
            pass
    return found


class Work:
    """Registered tasks read what they saw at the fork; the chunk carries the rest."""

    def __init__(self):
        self.offset = 100

    def square(self, k: int) -> tuple[int, int]:
        return k * k + self.offset, os.getpid()

    def fail_at_three(self, k: int) -> int:
        if k == 3:
            raise ValueError("chunk 3")
        return k

    def data_error_at_two(self, k: int) -> int:
        if k == 2:
            raise DataError("the value 'x' is not a number", "rows.csv", 4, "1,x", column=3)
        return k

    def die_at_four(self, k: int) -> int:
        if k == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return k

    def leave(self, k: int) -> int:
        os._exit(3)

    def slow_big(self, k: int):
        import time

        time.sleep(0.2)
        return np.zeros(2_000_000)  # 16 MB: more than a socket holds

    def echo(self, x):
        return x


def test_registered_tasks_run_in_processes_and_come_back_in_order():
    work = Work()
    before = _children()
    with ChunkPool(3, tasks=[work.square]) as pool:
        assert pool.processes
        work.offset = 0  # after the pool is made but before its first map: the fork sees this
        got = list(pool.map(work.square, range(20)))
        assert [value for value, _ in got] == [k * k for k in range(20)]
        pids = {pid for _, pid in got}
        assert os.getpid() not in pids and len(pids) == 3
        assert pids <= _children()
        again = list(pool.map(work.square, range(6)))  # the same workers, map after map
        assert {pid for _, pid in again} <= pids
    assert _children() == before  # closed and reaped


def test_unregistered_functions_and_one_worker_stay_in_this_process():
    work = Work()
    with ChunkPool(2, tasks=[work.square]) as pool:
        assert {pid for _, pid in pool.map(lambda k: (k, os.getpid()), range(5))} == {os.getpid()}
    with ChunkPool(1, tasks=[work.square]) as pool:
        assert {pid for _, pid in pool.map(work.square, range(5))} == {os.getpid()}


@pytest.mark.parametrize("workers", [2, 4])
def test_an_error_in_a_worker_comes_after_the_results_before_it(workers):
    work = Work()
    before = _children()
    got = []
    with ChunkPool(workers, tasks=[work.fail_at_three]) as pool, pytest.raises(ValueError, match="chunk 3"):
        for r in pool.map(work.fail_at_three, iter(range(10))):
            got.append(r)
    assert got == [0, 1, 2]
    assert _children() == before


class Raises:
    """Tasks raising what a chunk may: a located cgraph error, a built-in one, another kind."""

    def parse_error(self, k: int) -> int:
        if k == 1:
            cgraph.parse("a = 1\nb = tanhh(a)\n")
        return k

    def numeric_error(self, k: int) -> int:
        if k == 1:
            raise NumericError("x is inf", None, "api hint", cli_hint="use --strict")
        return k

    def key_error(self, k: int) -> int:
        if k == 1:
            raise KeyError("w[3]")
        return k

    def out_of_memory(self, k: int) -> int:
        if k == 2:
            import numpy

            numpy.empty(2**42)  # 32 TiB: NumPy raises its own MemoryError subclass
        return k

    def other_error(self, k: int) -> int:
        if k == 1:
            import json

            json.loads("{")
        return k


def test_cgraph_errors_cross_whole():
    """A located error raised in a worker prints the same in the caller (file, line, caret)."""
    work, raises = Work(), Raises()
    expected = DataError("the value 'x' is not a number", "rows.csv", 4, "1,x", column=3)
    with ChunkPool(2, tasks=[work.data_error_at_two]) as pool, pytest.raises(DataError) as raised:
        list(pool.map(work.data_error_at_two, range(6)))
    assert str(raised.value) == str(expected) and raised.value.exit_code == expected.exit_code
    try:
        cgraph.parse("a = 1\nb = tanhh(a)\n")
    except CgraphError as exc:
        local = exc
    with ChunkPool(2, tasks=[raises.parse_error]) as pool, pytest.raises(CgraphError) as raised:
        list(pool.map(raises.parse_error, range(4)))
    assert type(raised.value) is type(local) and str(raised.value) == str(local)
    assert raised.value.location.line == 2
    with ChunkPool(2, tasks=[raises.numeric_error]) as pool, pytest.raises(NumericError) as raised:
        list(pool.map(raises.numeric_error, range(4)))
    assert raised.value.cli_text().endswith("hint: use --strict") and str(raised.value).endswith("hint: api hint")
    with ChunkPool(2, tasks=[raises.key_error]) as pool, pytest.raises(KeyError, match="w\\[3\\]"):
        list(pool.map(raises.key_error, range(4)))
    # another library's error arrives as the built-in class it derives from, with its message
    with ChunkPool(2, tasks=[raises.other_error]) as pool, pytest.raises(ValueError, match="Expecting property name"):
        list(pool.map(raises.other_error, range(4)))
    with ChunkPool(2, tasks=[raises.out_of_memory]) as pool, pytest.raises(MemoryError, match="Unable to allocate"):
        list(pool.map(raises.out_of_memory, range(4)))


def test_an_error_reading_the_chunks_comes_after_the_chunks_before_it():
    work = Work()

    def chunks():
        yield from range(3)
        raise ValueError("bad row")

    got = []
    with ChunkPool(2, tasks=[work.square]) as pool, pytest.raises(ValueError, match="bad row"):
        for value, _ in pool.map(work.square, chunks()):
            got.append(value - 100)
    assert got == [0, 1, 4]


@pytest.mark.parametrize("task", ["die_at_four", "leave"])
def test_a_worker_that_dies_is_an_error_not_a_hang(task):
    work = Work()
    before = _children()
    got = []
    with ChunkPool(2, tasks=[getattr(work, task)]) as pool:
        with pytest.raises(WorkerLost, match="worker process") as raised:
            for r in pool.map(getattr(work, task), range(10)):
                got.append(r)
        assert got == list(range(4)) if task == "die_at_four" else got == []
        assert "signal 9" in str(raised.value) if task == "die_at_four" else "status 3" in str(raised.value)
        assert isinstance(raised.value, CgraphError) and raised.value.exit_code == 1
        if task == "die_at_four":  # the pool starts new workers for the next map
            assert list(pool.map(work.die_at_four, [1, 2, 3])) == [1, 2, 3]
    assert _children() == before


def test_chunks_taken_ahead_are_bounded_by_the_workers():
    work = Work()
    read = [0]

    def chunks():
        for k in range(30):
            read[0] += 1
            yield k

    with ChunkPool(3, tasks=[work.square]) as pool:
        for value, _ in pool.map(work.square, chunks()):
            k = math.isqrt(value - 100)
            assert read[0] <= k + 1 + 2 * 3


def test_a_consumer_that_stops_early_leaves_no_worker_behind():
    work = Work()
    before = _children()
    pool = ChunkPool(2, tasks=[work.square])
    results = pool.map(work.square, range(100))
    next(results)
    results.close()  # stopped reading while workers were busy: they are stopped
    assert list(pool.map(work.square, [2]))[0][0] == 104  # a single chunk: in this process
    assert [v for v, _ in pool.map(work.square, [1, 2, 3])] == [101, 104, 109]
    pool.close()
    assert _children() == before


def test_a_pool_dropped_without_close_has_its_workers_reaped():
    import gc

    work = Work()
    before = _children()
    pool = ChunkPool(2, tasks=[work.square])
    list(pool.map(work.square, range(4)))
    assert len(_children() - before) == 2
    del pool
    gc.collect()
    assert _children() == before


def test_forked_workers_directly():
    workers = ForkedWorkers([abs, str], 2)
    try:
        workers.send(0, 0, -3)
        workers.send(1, 1, 2.5)
        assert workers.receive(0) == 3 and workers.receive(1) == "2.5"
        big = np.arange(1_000_000, dtype=np.float64)  # larger than a socket's buffer, both ways
        workers.send(0, 0, big)
        back = workers.receive(0)
        assert back.tobytes() == big.tobytes() and back.flags.writeable
    finally:
        workers.close()


@pytest.mark.parametrize("to", ["group", "cgraph"])
def test_ctrl_c_stops_the_workers_without_a_traceback(tmp_path, to):
    """A real SIGINT once the first chunk's rows are out, with chunks on two worker
    processes, sent as a terminal's Ctrl-C is (to the whole process group) or to cgraph
    alone (kill -INT): exit 130, the usual message, no traceback from cgraph or a worker,
    and no worker left."""
    import subprocess
    import time

    program = tmp_path / "chain.cg"
    program.write_text("h0 = x\n" + "".join(f"h{k} = tanh(h{k - 1} * 0.9 + x)\n" for k in range(1, 400)))
    data = tmp_path / "rows.csv"
    data.write_text("x\n" + "".join(f"{k / 1000}\n" for k in range(100_000)))
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cgraph.cli import main; main()", "eval", str(program), "--data", str(data),
         "--threads", "2", "--chunk-rows", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("line,")  # the first chunk is out
        with open(f"/proc/{process.pid}/task/{process.pid}/children") as f:
            workers = {int(p) for p in f.read().split()}
        assert len(workers) == 2
        if to == "group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in workers):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_threads_are_used_where_processes_cannot_be(monkeypatch):
    monkeypatch.setattr(pool_module, "can_fork", lambda: False)
    work = Work()
    with ChunkPool(2, tasks=[work.square]) as pool:
        assert not pool.processes
        assert {pid for _, pid in pool.map(work.square, range(6))} == {os.getpid()}


# --- inf and nan known from the IEEE flags ---------------------------------------------------

EXTREME = st.one_of(st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False),
                    st.sampled_from([0.0, -0.0, 1e300, -1e300, 1e154, 710.0, -745.5, 5e-324, 1e-300]))


@given(programs(), st.data())
def test_a_value_made_inf_or_nan_is_never_missed(source, data):
    """run(check_values=True) says "maybe not finite" whenever some batched node's value is
    inf or nan in some row (from finite data: the IEEE flags), checked against every node's
    array. A false alarm is allowed (it only sends the chunk to the node-by-node search)."""
    from cgraph.engine.batch import Plan

    try:
        graph = cgraph.parse(source)
    except CgraphError:
        reject()
    names = [name for name, i in graph.inputs.items() if graph.ops[i] == "input"]
    if not names:
        reject()
    note(source)
    n = data.draw(st.integers(1, 6), label="rows")
    columns = [np.array(data.draw(st.lists(EXTREME, min_size=n, max_size=n), label=name)) for name in names]
    plan = Plan(graph, names)
    base = plan.bind({})
    if not plan.shared_finite(base):
        reject()
    result = plan.run(base, columns, check_values=True)
    values = plan._forward(base, columns, keep_all=True)
    with np.errstate(all="ignore"):
        some_non_finite = any(isinstance(v, np.ndarray) and not np.isfinite(v).all()
                              for i, v in enumerate(values) if plan._needed[i])
    if some_non_finite:
        assert result.values_finite is False


def test_a_message_naming_anything_else_is_refused():
    """The reading side of the worker sockets builds plain values, arrays, slices,
    exceptions and a few cgraph classes, nothing else: a pickle that would call a function
    (os.system here) is refused before anything runs."""
    import io
    import pickle

    from cgraph.engine import workers

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch /tmp/cgraph-pwned",))

    for payload in (Evil(), [1.0, Evil()], {"a": Evil()}):
        with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system"):
            workers._Unpickler(io.BytesIO(pickle.dumps(payload, protocol=5))).load()
    with pytest.raises(pickle.UnpicklingError):
        workers._Unpickler(io.BytesIO(pickle.dumps(ChunkPool, protocol=5))).load()
    fine = (slice(1, 3), np.arange(3.0), np.float64(2.0), None, "s", 1, 2.5, (True,), {"k": [None]})
    got = workers._Unpickler(io.BytesIO(pickle.dumps(fine, protocol=5))).load()
    assert repr(got) == repr(fine)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_eval_data_writes_the_same_bytes_on_any_number_of_workers(cg, tmp_path, fmt):
    """`eval --data` has each chunk's rows made into text by the worker that evaluates it:
    the file is byte for byte the one a single process writes, with inf and nan rows,
    several outputs, default chunks (sized by the text) and tiny ones."""
    names = [f"x{k}" for k in range(40)]
    program = tmp_path / "wide.cg"
    program.write_text("s = " + " + ".join(f"tanh({n}) * {n}" for n in names) + "\np = log(x0) + s\noutput s, p\n")
    rng = np.random.default_rng(11)
    table = rng.normal(0, 2, (9000, len(names)))
    table[5, 3], table[17, 0], table[4000, 7] = np.inf, -1.0, np.nan
    data = tmp_path / "rows.csv"
    data.write_text(",".join(names) + "\n" + "\n".join(",".join(repr(v) for v in row) for row in table.tolist()) + "\n")
    written = {}
    for threads in ("1", "2", "4"):
        for chunk in ((), ("--chunk-rows", "700")):
            out = tmp_path / f"out-{threads}-{len(chunk)}.{fmt}"
            result = cg("eval", program, "--data", data, "--threads", threads, *chunk, "-o", out)
            assert result.code == 0, result.err
            written[(threads, chunk)] = (out.read_bytes(), result.err.replace(str(out), "OUT"))
    assert len(set(written.values())) == 1
    first = next(iter(written.values()))
    assert first[0].count(b"\n") == 9000 + (fmt == "csv") and b"nan" in first[0]


# --- what a review of the workers found ------------------------------------------------------


def test_a_failed_message_rebuilds_only_exception_classes():
    """A worker's error names its class; the reader looks up only exception classes (a
    message naming a function, exec say, gives a RuntimeError and runs nothing)."""
    import io
    import pickle

    from cgraph.engine import workers

    for kind, name, args in (("builtins", "exec", ("import os; os.system('touch /tmp/cgraph-pwned')",)),
                             ("builtins", "print", ("x",)), ("cgraph", "clip_message", ("x",)),
                             ("builtins", "ValueError", (["not", "plain"],))):
        failed = workers._Failed(ValueError("x"))
        failed.kind, failed.name, failed.args = kind, name, args
        copy = workers._Unpickler(io.BytesIO(pickle.dumps(failed, protocol=5))).load()
        error = copy.error()
        assert type(error) is RuntimeError and "cannot be rebuilt" in str(error)
    assert not os.path.exists("/tmp/cgraph-pwned")


def test_dotted_names_and_other_numpy_attributes_are_refused():
    import io
    import pickle

    from cgraph.engine import workers

    for module, name in (("numpy.dtypes", "__loader__.set_data"), ("numpy.dtypes", "__spec__"),
                         ("numpy", "load"), ("numpy.lib.npyio", "load"), ("builtins", "slice.indices"),
                         ("cgraph.engine.batch", "Result.__init__")):
        payload = b"\x80\x05\x95" + b"\x00" * 8 + pickle.SHORT_BINUNICODE + bytes([len(module)]) + module.encode() \
            + pickle.SHORT_BINUNICODE + bytes([len(name)]) + name.encode() + pickle.STACK_GLOBAL + pickle.STOP
        with pytest.raises(pickle.UnpicklingError, match="may not"):
            workers._Unpickler(io.BytesIO(payload)).load()


def test_an_overflow_in_a_sum_of_row_shared_values_is_noticed():
    """sum(a, b, x) with a + b overflowing: NumPy adds the row-shared leading terms too, so
    the flag is raised (Python's float addition overflows silently)."""
    from cgraph.engine.batch import Plan

    for source in ("y = sum(a, b, x)", "y = mean(a, b, x)", "y = sum(a, b, x) * 0 + 1"):
        graph = cgraph.parse(f"input a = 1e308\ninput b = 1e308\n{source}")
        plan = Plan(graph, ["x"])
        result = plan.run(plan.bind({}), [np.array([1.0, 2.0])], check_values=True)
        assert result.values_finite is False, source
        row = cgraph.evaluate(graph, {"x": 2.0})
        assert np.asarray(result.value)[1].tobytes() == np.float64(row.value).tobytes()


def test_eval_data_warns_of_an_overflow_among_row_shared_terms(cg, tmp_path):
    program = tmp_path / "s.cg"
    program.write_text("input a = 1e308\ninput b = 1e308\ny = sum(a, b, x)\n")
    data = tmp_path / "rows.csv"
    data.write_text("x\n1\n2\n")
    result = cg("eval", program, "--data", data)
    assert result.code == 0 and "inf or nan" in result.err, result.err


def test_a_receive_cut_short_does_not_leave_the_pool_out_of_step(monkeypatch):
    """Ctrl-C while a result is being read: the next map must not get that stale result."""
    work = Work()
    pool = ChunkPool(2, tasks=[work.square])
    list(pool.map(work.square, [0, 1]))  # the workers are forked before the patch: it is the caller's
    real = ForkedWorkers.receive
    calls = [0]

    def interrupted(self, worker):
        calls[0] += 1
        if calls[0] == 1:
            raise KeyboardInterrupt
        return real(self, worker)

    monkeypatch.setattr(ForkedWorkers, "receive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        list(pool.map(work.square, [10, 11, 12]))
    monkeypatch.setattr(ForkedWorkers, "receive", real)
    assert [v for v, _ in pool.map(work.square, [2, 3])] == [104, 109]
    assert [v for v, _ in pool.map(work.square, [4, 5, 6])] == [116, 125, 136]
    pool.close()


def test_closing_a_pool_with_a_busy_worker_does_not_hang_when_another_pool_was_forked_since():
    work = Work()
    before = _children()
    signal.alarm(30)  # a hang fails the test instead of the run
    try:
        first = ChunkPool(2, tasks=[work.slow_big])
        results = first.map(work.slow_big, range(6))
        next(results)
        second = ChunkPool(2, tasks=[work.square])
        assert [v for v, _ in second.map(work.square, [1, 2])] == [101, 104]
        first.close()  # a worker is busy with a large result
        results.close()
        second.close()
    finally:
        signal.alarm(0)
    assert _children() == before


def test_a_chunk_a_worker_may_not_read_is_an_error_not_a_dead_worker(tmp_path):
    work = Work()
    mapped = np.memmap(tmp_path / "m.bin", dtype=np.float64, mode="w+", shape=(4,))
    with ChunkPool(2, tasks=[work.echo]) as pool:
        with pytest.raises(RuntimeError, match="could not be sent to a worker"):
            list(pool.map(work.echo, [mapped, mapped]))
        assert list(pool.map(work.echo, [1, 2])) == [1, 2]


def test_train_in_process_leaves_no_worker(cg, tmp_path):
    before = _children()
    data = tmp_path / "rows.csv"
    rng = np.random.default_rng(2)
    data.write_text("x,y\n" + "".join(f"{x!r},{2 * x + 1!r}\n" for x in rng.normal(size=3000).tolist()))
    program = tmp_path / "lin.cg"
    program.write_text("param w = 0.0\nparam b = 0.0\nloss = (w * x + b - y)^2\n")
    result = cg("train", program, "--data", data, "--epochs", "2", "--threads", "2", "--chunk-rows", "500")
    assert result.code == 0, result.err
    assert _children() == before


def test_when_fork_fails_the_chunks_run_on_threads(monkeypatch):
    """A machine out of memory or of processes refuses fork (EAGAIN, ENOMEM): the pool
    falls back to threads, with the same results in the same order."""
    import errno

    def refused():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    work = Work()
    before = _children()
    monkeypatch.setattr(os, "fork", refused)
    with ChunkPool(2, tasks=[work.square]) as pool:
        got = list(pool.map(work.square, range(7)))
        assert [v for v, _ in got] == [k * k + 100 for k in range(7)] and {p for _, p in got} == {os.getpid()}
        assert not pool.processes
    assert _children() == before
