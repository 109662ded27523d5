#!/usr/bin/env python3
"""Batch benchmark for cgraph: evaluation with gradients over many rows, and training.

    .venv/bin/python bench/bench_batch.py --quick      # 1e4 and 1e5 rows, ~1-2 minutes
    .venv/bin/python bench/bench_batch.py              # 1e4, 1e5, 1e6 rows + 10M-row streaming, ~5-8 minutes

The graph: a generated (seeded) ~1,000-node program with 8 data inputs x[1..8], a data
target y and 16 params w[k]: a random DAG of tanh(A*w + B), A * B, sigmoid(A - B) and
A*w + B statements ending in loss = (h - y)^2, so about half its operations are
transcendental. Every case runs in its own fresh process and reports the median of its
repeats after the first (a warm-up for both: cgraph forks its workers, torch starts its
threads and allocator; its time is printed apart), in ns per node·row (wall time /
(len(graph) * rows)). Peak memory: for cgraph the sum of the PSS of the process and its
worker processes, sampled every 100 ms (pages a forked worker shares with the process
counted once); for torch its process's ru_maxrss.

  cgraph eval   cgraph.batch.Plan over chunks on a pool of workers (--threads, default one
                per core; forked processes on Linux, kept for every repeat as a training
                run keeps them for every step), shared_grads="rows", check_values=True:
                what `cgraph eval --data` computes, every row's gradient w.r.t. every
                input and param, and whether any value went inf or nan; and the same in
                one process (1 thread)
  cgraph sum    the same with row-shared gradients summed over rows (what training uses,
                and what PyTorch computes: per-row gradients for the x's, sums for the w's)
  torch eager   PyTorch on the same tape (walked node by node from the cgraph graph),
                float64 tensors of all rows at once, out.backward(ones), on as many
                threads as cgraph (torch.set_num_threads);
                only when torch is importable (it is a benchmark extra, not a dependency)

Then: one training epoch (full batch) against one "sum" evaluation of the same rows, and
`cgraph eval --data` streaming a 10-million-row CSV through a small graph (peak memory).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 20240601
X_INPUTS, W_PARAMS = 8, 16

# Targets from the issue (cgraph and torch on the same threads, one per core by default).
TARGET_NS = 2.0  # cgraph eval, 1e6 rows, gradients, on every core
TARGET_PEAK_MB = 500.0  # at 1e6 rows
TARGET_VS_TORCH_SPEED = 2.0  # at 1e5 and 1e6 rows: torch time / cgraph time
TARGET_SMALL_VS_TORCH = 1.0  # at 1e4 rows: never slower than torch
TARGET_THREAD_SPEEDUP = 1.7  # 1 thread's time / 2 threads' time at 1e6 rows
TARGET_EPOCH_RATIO = 1.1  # a training epoch / one batch evaluation of the same rows


# --- the graph -------------------------------------------------------------------------


def program(nodes: int = 1000, seed: int = SEED) -> str:
    """A seeded random DAG over x[1..8] and w[1..16] ending in a squared error against y."""
    rng = random.Random(seed)
    lines = [f"# bench_batch: a generated ~{nodes}-node graph (seed {seed})"]
    lines += [f"param w[{k}] = {rng.uniform(-1, 1):.6f}" for k in range(1, W_PARAMS + 1)]
    pool = [f"x[{k}]" for k in range(1, X_INPUTS + 1)]
    count = X_INPUTS + W_PARAMS + 1  # leaves, and y
    prev, i = pool[0], 0
    while count < nodes - 3:
        b = pool[i] if i < X_INPUTS else rng.choice(pool)  # every input is used
        w = f"w[{i + 1}]" if i < W_PARAMS else f"w[{rng.randint(1, W_PARAMS)}]"  # every param too
        form = rng.random()
        if form < 0.35:
            expr, cost = f"tanh({prev}*{w} + {b})", 3
        elif form < 0.6:
            expr, cost = f"{prev} * {b}", 1
        elif form < 0.85:
            expr, cost = f"sigmoid({prev} - {b})", 2
        else:
            expr, cost = f"{prev}*{w} + {b}", 2
        lines.append(f"h{i} = {expr}")
        prev = f"h{i}"
        pool.append(prev)
        count += cost
        i += 1
    lines.append(f"loss = ({prev} - y)^2")
    return "\n".join(lines) + "\n"


def data_names() -> list[str]:
    return [f"x[{k}]" for k in range(1, X_INPUTS + 1)] + ["y"]


def make_columns(rows: int, seed: int = SEED):
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, rows) for _ in data_names()]


# --- child processes: one case each ---------------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20











# Every 100 ms: reading a process's smaps_rollup takes its memory map's lock, and every
# 10 ms slowed 2 workers at 1e5 rows by ~25% (1.90 against 1.52 ns per node*row). The
# peak is still seen: a worker's chunk arrays stay allocated from chunk to chunk.
SAMPLE_SECONDS = 0.1


class TreeMemory:
    """The peak memory of this process and its worker processes together, sampled in a
    thread: the sum of their PSS (a page shared by a worker and this process, as fork
    leaves them, counted once, split between them). ru_maxrss would count those pages
    once per process, and RUSAGE_CHILDREN only gives the largest child."""

    def __init__(self):
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def now_mb() -> float:
        pids = [os.getpid()]
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/children") as f:
                    pids += [int(p) for p in f.read().split()]
            except OSError:
                pass
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            break
            except OSError:  # a worker that just exited
                pass
        return total / 1024.0

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, peak_mb() if self.peak_mb == 0 else 0.0)


def child_cgraph(rows: int, mode: str, repeats: int, chunk: int | None, threads: int = 1) -> dict:
    import numpy as np

    import cgraph
    from cgraph.engine.batch import Plan

    graph = cgraph.parse(program())
    wrt = None if mode == "rows" else [n for n, i in graph.inputs.items() if n != "y"]
    plan = Plan(graph, data_names(), wrt=wrt, shared_grads=mode)
    base = plan.bind({})
    columns = make_columns(rows)
    chunk = chunk or plan.chunk_rows(rows)  # the rows are known: chunks of even size
    baseline = rss_mb()
    memory = TreeMemory()
    # One pool for every repeat, as a training run keeps one for all its steps: the first
    # repeat forks the workers (reported apart), the median is the steady state, as it is
    # for one thread (whose first repeat also pays for memory first touched).
    pool = plan.pool(threads)
    times, checksum = [], 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        checksum = 0.0
        chunks = ([c[lo : lo + chunk] for c in columns] for lo in range(0, rows, chunk))
        # As `eval --data --threads N`: it also asks whether any value is inf or nan ("rows").
        for result in plan.run_chunks(base, chunks, check_values=mode == "rows", pool=pool):
            # Consume the chunk as `eval --data` does (it writes it out): touch every array.
            checksum += float(result.value.sum()) + sum(float(np.sum(g)) for g in result.grads.values())
        times.append(time.perf_counter() - start)
    pool.close()
    return {"nodes": len(graph), "times": times[1:] if repeats > 1 else times, "first": times[0],
            "peak_mb": memory.stop(), "rss_peak_mb": peak_mb(), "baseline_mb": baseline, "chunk": chunk,
            "checksum": checksum, "threads": threads, "processes": pool.processes}


def torch_graph_run(graph, columns, torch):
    """The same tape in PyTorch eager: one op per node, float64, all rows at once."""
    ops = {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
        "neg": lambda a: -a, "pow": torch.pow, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
        "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
        "relu": torch.relu, "abs": torch.abs, "max": torch.maximum, "min": torch.minimum,
        "sum": lambda *xs: sum(xs[1:], xs[0]), "mean": lambda *xs: sum(xs[1:], xs[0]) / len(xs),
    }
    names = {i: n for n, i in graph.inputs.items()}
    data = dict(zip(data_names(), columns))
    values, leaves = [None] * len(graph), {}
    for i, (op, args) in enumerate(zip(graph.ops, graph.args)):
        if op == "const":
            values[i] = torch.tensor(graph.values[i], dtype=torch.float64)
        elif op in ("input", "param"):
            name = names[i]
            if name in data:
                t = torch.from_numpy(data[name]).clone().requires_grad_(True)
            else:
                t = torch.tensor(graph.values[i], dtype=torch.float64, requires_grad=True)
            values[i] = leaves[name] = t
        else:
            values[i] = ops[op](*[values[a] for a in args])
    out = values[graph.output]
    out.backward(torch.ones_like(out))
    return out, leaves


def child_torch(rows: int, repeats: int, threads: int | None) -> dict:
    import torch

    import cgraph

    if threads:
        torch.set_num_threads(threads)
    graph = cgraph.parse(program())
    columns = make_columns(rows)
    baseline = rss_mb()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out, leaves = torch_graph_run(graph, columns, torch)
        checksum = float(out.detach().sum()) + sum(float(t.grad.sum()) for t in leaves.values())
        times.append(time.perf_counter() - start)
        del out, leaves
    return {"nodes": len(graph), "times": times[1:] if repeats > 1 else times, "first": times[0],
            "peak_mb": peak_mb(), "baseline_mb": baseline, "threads": torch.get_num_threads(), "checksum": checksum}


def child_compare(rows: int) -> dict:
    """Do cgraph and PyTorch agree (value and every gradient) on the same rows?"""
    import numpy as np
    import torch

    import cgraph
    from cgraph.engine.batch import Plan

    graph = cgraph.parse(program())
    columns = make_columns(rows)
    plan = Plan(graph, data_names(), shared_grads="sum")
    result = plan.run(plan.bind({}), columns)
    out, leaves = torch_graph_run(graph, columns, torch)
    worst = float(np.max(np.abs(result.value - out.detach().numpy()) / np.maximum(1, np.abs(result.value))))
    for name, t in leaves.items():
        mine = np.asarray(result.grads[name])
        theirs = t.grad.numpy()
        worst = max(worst, float(np.max(np.abs(mine - theirs) / np.maximum(1, np.abs(theirs)))))
    return {"worst_relative_difference": worst}


def child_train(rows: int, repeats: int, threads: int = 1) -> dict:
    """One full-batch training epoch against one "sum" evaluation of the same rows, both
    on `threads` workers started for the run (as `cgraph train` and `eval --data` do)."""
    import cgraph
    from cgraph.engine.batch import Plan
    from cgraph.training.trainer import Settings, Trainer

    graph = cgraph.parse(program())
    columns = make_columns(rows)
    params = [n for n, i in graph.inputs.items() if graph.ops[i] == "param"]
    plan = Plan(graph, data_names(), wrt=params, shared_grads="sum")
    base = plan.bind({})
    chunk = plan.chunk_rows(rows)  # as the trainer chooses them
    evals, epochs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        chunks = ([c[lo : lo + chunk] for c in columns] for lo in range(0, rows, chunk))
        for _result in plan.run_chunks(base, chunks, threads=threads):
            pass
        evals.append(time.perf_counter() - start)
        settings = Settings(lr=1e-3, epochs=1, shuffle=False, threads=threads)
        trainer = Trainer(graph, data_names(), columns, settings=settings)
        start = time.perf_counter()
        trainer.run()
        epochs.append(time.perf_counter() - start)
    return {"eval": evals, "epoch": epochs}


def child_stream(rows: int) -> dict:
    """`cgraph eval samples/linreg.cg --data big.csv -o FILE` in this process, for its peak memory."""
    from cgraph.cli import run

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        make_stream_csv(path, rows)
        size = path.stat().st_size
        out = Path(tmp) / "out.csv"
        baseline = peak_mb()
        memory = TreeMemory()  # the process and its workers
        start = time.perf_counter()
        code = run(["eval", str(ROOT / "samples" / "linreg.cg"), "--data", str(path), "-o", str(out), "--w", "3", "--b", "-1.5"])
        seconds = time.perf_counter() - start
        out_size = out.stat().st_size if out.exists() else 0
    # Making the CSV before the run peaks higher than the run in this process (ru_maxrss):
    # the run's peak is the sampled one, workers included.
    return {"code": code, "seconds": seconds, "peak_mb": memory.stop(), "rss_peak_mb": peak_mb(), "before_mb": baseline,
            "input_mb": size / 2**20, "output_mb": out_size / 2**20}


def make_stream_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(SEED)
    with open(path, "w") as f:
        f.write("x,y\n")
        block = 1_000_000
        for lo in range(0, rows, block):
            n = min(block, rows - lo)
            xs = rng.uniform(-2, 2, n)
            ys = 3 * xs - 1.5 + rng.normal(0, 0.1, n)
            f.write("".join(f"{x:.6f},{y:.6f}\n" for x, y in zip(xs.tolist(), ys.tolist())))


def lock_free_seconds(threads: int, blocks: int = 200) -> float:
    """Wall time of `blocks` sha256 hashes of 1 MB split over `threads` threads: work that
    holds no lock at all (hashlib releases the GIL), so its speed-up is what the machine
    gives threads right now."""
    import hashlib
    import threading

    data = os.urandom(1 << 20)

    def burn(count: int) -> None:
        for _ in range(count):
            hashlib.sha256(data).digest()

    workers = [threading.Thread(target=burn, args=(blocks // threads,)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def child_control(threads: int, repeats: int) -> dict:
    """How much faster `threads` threads run than one on work that holds no lock at all:
    what the machine gives right now. On a shared machine it says how far the cgraph
    speed-up could have gone."""
    one, many = [], []
    for _ in range(repeats):  # alternated
        one.append(lock_free_seconds(1))
        many.append(lock_free_seconds(threads))
    return {"one": one, "many": many}


def child_main(argv: list[str]) -> None:
    kind, rows, repeats = argv[0], int(float(argv[1])), int(argv[2])
    extra = argv[3] if len(argv) > 3 else ""
    if kind in ("rows", "sum"):
        threads = int(argv[4]) if len(argv) > 4 else 1
        result = child_cgraph(rows, kind, repeats, int(extra) if extra else None, threads)
    elif kind == "torch":
        result = child_torch(rows, repeats, int(extra) if extra else None)
    elif kind == "compare":
        result = child_compare(rows)
    elif kind == "control":
        result = child_control(int(extra) if extra else 2, repeats)
    elif kind == "train":
        result = child_train(rows, repeats, int(extra) if extra else 1)
    else:
        result = child_stream(rows)
    print("RESULT " + json.dumps(result))


# --- the parent: cases, table, targets ------------------------------------------------------


def run_child(*args: object, timeout: float = 1800) -> dict | str:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return "timed out"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return f"failed: {tail[:120]}"


def torch_available() -> bool:
    proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return proc.returncode == 0


def ns(result: dict, rows: int) -> float:
    return statistics.median(result["times"]) / (result["nodes"] * rows) * 1e9


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1e4 and 1e5 rows only, no 10M-row stream")
    parser.add_argument("--rows", help="comma-separated row counts (default 1e4,1e5,1e6)")
    parser.add_argument("--repeats", type=int, help="repeats per case (default: 15 / 5 / 3 by size)")
    parser.add_argument("--chunk-rows", type=int, help="cgraph's rows per chunk (default: the plan's own choice)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for cgraph and torch alike (default: one per core)")
    parser.add_argument("--no-torch", action="store_true", help="cgraph only")
    parser.add_argument("--stream-rows", default="1e7", help="rows of the streaming case (0 to skip)")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return

    sizes = [int(float(s)) for s in (args.rows or ("1e4,1e5" if args.quick else "1e4,1e5,1e6")).split(",")]
    use_torch = not args.no_torch and torch_available()
    threads = args.threads
    import cgraph

    nodes = len(cgraph.parse(program()))
    print(f"cgraph batch benchmark: a {nodes}-node graph ({X_INPUTS + 1} data columns, {W_PARAMS} params), "
          f"{os.cpu_count()} CPUs, {threads} threads for cgraph and torch, Python {sys.version.split()[0]}")
    print(f"load average at start: {load_average()}")
    if not use_torch:
        print("torch: " + ("skipped (--no-torch)" if args.no_torch else "not installed (pip install torch): no comparison"))
    raw: dict = {"nodes": nodes, "threads": threads, "cases": {}}
    rows_out = []
    for rows in sizes:
        # The first repeat of every case is a warm-up, timed apart ("first"): cgraph's forks
        # its workers, torch's starts its threads and allocator; the medians are of the rest.
        repeats = args.repeats or (16 if rows <= 10**4 else 8 if rows <= 10**5 else 5)
        chunk = args.chunk_rows or ""
        # Alternated in one loop so that a burst of other work on the machine hits them alike.
        case = {"control": run_child("control", 0, 5, threads), "rows": run_child("rows", rows, repeats, chunk, threads)}
        if use_torch:
            case["torch"] = run_child("torch", rows, repeats, threads)
        case["one"] = run_child("rows", rows, repeats, chunk, 1)
        case["sum"] = run_child("sum", rows, repeats, chunk, threads)
        raw["cases"][rows] = case
        rows_out.append((rows, case))
        print(f"  {rows:>9,} rows done (load {load_average()})", flush=True)
    compare = run_child("compare", 10_000, 1) if use_torch else None
    train = run_child("train", 100_000, 3, threads)
    stream_rows = int(float(args.stream_rows)) if not args.quick else 0
    stream = run_child("stream", stream_rows, 1, timeout=3600) if stream_rows else None
    raw.update(compare=compare, train=train, stream=stream)
    verdicts = print_table(rows_out, use_torch, threads)
    print_notes(rows_out, use_torch, compare)
    verdicts += print_extras(train, stream, stream_rows)
    print(f"\nload average at end: {load_average()}")
    print("\nTargets:")
    for what, ok, value in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))


def print_table(rows_out: list, use_torch: bool, threads: int) -> list:
    print()
    header = ["rows", f"cgraph eval ns ({threads} workers)", "peak MB", "1 process ns", "speed-up", "machine's",
              f"cgraph sum ns ({threads})", "peak MB"]
    if use_torch:
        header += [f"torch ns ({threads} threads)", "peak MB", "torch/cgraph time", "torch/cgraph memory"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    verdicts = []
    for rows, case in rows_out:
        r, one = case["rows"], case["one"]
        cells = [f"{rows:,}"]
        cells += [f"{ns(r, rows):.2f}", f"{r['peak_mb']:.0f}"] if isinstance(r, dict) else [r, ""]
        control = case.get("control")
        machine = (f"{statistics.median(control['one']) / statistics.median(control['many']):.2f}x"
                   if isinstance(control, dict) else "?")
        if isinstance(one, dict) and isinstance(r, dict):
            speedup = ns(one, rows) / ns(r, rows)
            cells += [f"{ns(one, rows):.2f}", f"{speedup:.2f}x", machine]
            if rows >= 10**6:
                verdicts.append((f"{rows:,} rows: {threads} workers >= {TARGET_THREAD_SPEEDUP}x faster than 1 process",
                                 speedup >= TARGET_THREAD_SPEEDUP, f"{speedup:.2f}x"))
        else:
            cells += [str(one), "", machine]
        sm = case["sum"]
        cells += [f"{ns(sm, rows):.2f}", f"{sm['peak_mb']:.0f}"] if isinstance(sm, dict) else [sm, ""]
        if use_torch:
            t = case["torch"]
            if isinstance(t, dict) and isinstance(r, dict):
                speed = ns(t, rows) / ns(r, rows)
                memory = t["peak_mb"] / r["peak_mb"]
                cells += [f"{ns(t, rows):.2f}", f"{t['peak_mb']:.0f}", f"{speed:.2f}x", f"{memory:.1f}x"]
                if rows >= 10**5:
                    verdicts.append((f"{rows:,} rows: cgraph eval >= {TARGET_VS_TORCH_SPEED}x faster than torch eager",
                                     speed >= TARGET_VS_TORCH_SPEED, f"{speed:.2f}x"))
                else:
                    verdicts.append((f"{rows:,} rows: cgraph eval never slower than torch eager",
                                     speed >= TARGET_SMALL_VS_TORCH, f"torch/cgraph {speed:.2f}x"))
            else:
                cells += [str(t), "", "", ""]
        if rows >= 10**6 and isinstance(r, dict):
            verdicts.append((f"{rows:,} rows: cgraph eval <= {TARGET_NS} ns per node*row", ns(r, rows) <= TARGET_NS,
                             f"{ns(r, rows):.2f} ns"))
            verdicts.append((f"{rows:,} rows: cgraph eval peak <= {TARGET_PEAK_MB:.0f} MB", r["peak_mb"] <= TARGET_PEAK_MB,
                             f"{r['peak_mb']:.0f} MB"))
        print("| " + " | ".join(cells) + " |")
    return verdicts


def print_notes(rows_out: list, use_torch: bool, compare) -> None:
    print("\nspeed-up: the 1-process time over the workers' time; machine's: the ratio of 1 thread's time to "
          "the same threads' on work that holds no lock (sha256), measured just before: how much the machine "
          "gave then")
    first = rows_out[0][1]["rows"]
    if isinstance(first, dict):
        print(f"\ncgraph chunks: {first['chunk']:,} rows; the process before evaluating (Python, NumPy, cgraph, the "
              f"data columns) is ~{first['baseline_mb']:.0f} MB at {rows_out[0][0]:,} rows")
    if use_torch:
        t = rows_out[0][1].get("torch")
        if isinstance(t, dict):
            print(f"torch: {t['threads']} threads; its process before evaluating is ~{t['baseline_mb']:.0f} MB")
    print("first repeat (warm-up, left out of the medians), ns per node*row:")
    for rows, case in rows_out:
        firsts = [f"{name} {case[name]['first'] / (case[name]['nodes'] * rows) * 1e9:.2f}"
                  for name in ("rows", "one", "sum", "torch") if isinstance(case.get(name), dict) and "first" in case[name]]
        spread = ""
        if isinstance(case.get("torch"), dict):
            ts = [x / (case["torch"]["nodes"] * rows) * 1e9 for x in case["torch"]["times"]]
            spread = f"; torch's repeats {min(ts):.2f}-{max(ts):.2f}"
        print(f"  {rows:,} rows: " + ", ".join(firsts) + spread)
    if isinstance(compare, dict):
        same = compare["worst_relative_difference"] < 1e-9
        print(f"same results as torch (10,000 rows, value and every gradient): {'yes' if same else 'NO'} "
              f"(worst relative difference {compare['worst_relative_difference']:.1e})")
    elif compare:
        print(f"comparison with torch: {compare}")


def print_extras(train, stream, stream_rows: int) -> list:
    verdicts = []
    if isinstance(train, dict):
        epoch, evaluation = statistics.median(train["epoch"]), statistics.median(train["eval"])
        print(f"training, 100,000 rows full batch: one epoch {epoch:.3f} s, one evaluation with gradients "
              f"{evaluation:.3f} s (ratio {epoch / evaluation:.2f})")
        verdicts.append((f"a training epoch <= {TARGET_EPOCH_RATIO}x one batch evaluation",
                         epoch <= evaluation * TARGET_EPOCH_RATIO, f"{epoch / evaluation:.2f}x"))
    elif train:
        print(f"training: {train}")
    if isinstance(stream, dict):
        print(f"streaming {stream_rows:,} rows ({stream['input_mb']:.0f} MB of CSV in, {stream['output_mb']:.0f} MB out) "
              f"through `cgraph eval samples/linreg.cg --data`: {stream['seconds']:.1f} s, peak {stream['peak_mb']:.0f} MB "
              f"(exit {stream['code']})")
        verdicts.append((f"{stream_rows:,} rows stream in bounded memory", stream["code"] == 0 and stream["peak_mb"] < 512,
                         f"peak {stream['peak_mb']:.0f} MB"))
    elif stream:
        print(f"streaming: {stream}")
    return verdicts


if __name__ == "__main__":
    main()
