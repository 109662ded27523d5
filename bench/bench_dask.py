#!/usr/bin/env python3
"""The Dask engine against the local one (needs `pip install 'cgraph[dask]'`).

    .venv/bin/python bench/bench_dask.py            # 1e7 rows (the issue's figure; a quiet machine)
    .venv/bin/python bench/bench_dask.py --rows 1e6 # a smaller run on a shared machine

eval: `cgraph eval` of bench/bench_batch.py's 1,001-node graph (8 data inputs, a target,
16 params: every row's value and 25 gradients) over ROWS rows held in 8 Parquet files,
writing CSV: the local engine to one file, the Dask engine (a local cluster of 1 or 2
worker processes) to a part file per data file, so both do the same work per row.
Targets: 2 workers >= 1.6x one worker; 1 worker within 1.3x of the local engine's time.

train: the per-step overhead of synchronous data-parallel training over the local
trainer (ms per step, and the bytes each step sends: the params to every partition and
each partition's share of the batch), for the 16-param graph and a 1,000-param linear
model, with 2 workers.

Each eval case is a fresh `cgraph` process, alternated local/1/2 workers, median of
--repeats; the load average is printed (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_batch import data_names, make_columns, program  # noqa: E402  (its generator, reused)

CGRAPH = str(Path(sys.executable).parent / "cgraph")
TARGET_SCALING = 1.6
TARGET_VS_LOCAL = 1.3


def write_parts(directory: Path, rows: int, files: int = 8) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = make_columns(rows)
    names = data_names()
    bounds = np.linspace(0, rows, files + 1).astype(int)
    for k in range(files):
        a, b = bounds[k], bounds[k + 1]
        table = pa.table({name: column[a:b] for name, column in zip(names, columns)})
        pq.write_table(table, directory / f"part-{k:02d}.parquet")


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr}")
    return time.perf_counter() - started


def bench_eval(work: Path, rows: int, repeats: int) -> dict[str, float]:
    prog = work / "bench.cg"
    prog.write_text(program())
    data = work / "data"
    data.mkdir()
    write_parts(data, rows)
    times: dict[str, list[float]] = {"local": [], "dask 1": [], "dask 2": []}
    for _ in range(repeats):
        for case in times:
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            if case == "local":
                argv = [CGRAPH, "eval", str(prog), "--data", str(data), "-o", str(work / "out.csv")]
            else:
                argv = [CGRAPH, "eval", str(prog), "--data", str(data), "--engine", "dask",
                        "--workers", case.split()[1], "-o", f"{out}/"]
            times[case].append(timed(argv))
    return {case: statistics.median(t) for case, t in times.items()}


def _plain_work(args: tuple[str, list[int], str]) -> None:
    """Some partitions evaluated in this process, without Dask (the control case)."""
    from cgraph.distributed.local import EvalJob, ShippedProgram, evaluate_partition
    from cgraph.distributed.partitions import partitions
    from cgraph.frontend.builder import DEFAULT_SEED
    from cgraph.frontend.loading import load
    from cgraph.frontend.size_limits import DEFAULT_MAX_NODES
    from cgraph.training.data import open_data_set

    prog, which, data = args
    graph = load(prog)
    job = EvalJob(ShippedProgram(graph.source.text, prog, DEFAULT_SEED, DEFAULT_MAX_NODES, len(graph)), {}, None, "fail",
                  False, None, True)
    parts = partitions(open_data_set(data))
    for k in which:
        evaluate_partition(job, parts[k], os.path.join(os.path.dirname(data), f"plain-{k}.csv"), "csv")


def machine_parallelism(work: Path) -> float:
    """The control: the same partitions in one plain process, then split over two (no
    Dask): how much two processes can gain on this machine now."""
    from multiprocessing import get_context

    from cgraph.distributed.partitions import partitions
    from cgraph.training.data import open_data_set

    prog, data = str(work / "bench.cg"), str(work / "data")
    count = len(partitions(open_data_set(data)))
    started = time.perf_counter()
    _plain_work((prog, list(range(count)), data))
    one = time.perf_counter() - started
    started = time.perf_counter()
    with get_context("spawn").Pool(2) as pool:
        pool.map(_plain_work, [(prog, list(range(0, count, 2)), data), (prog, list(range(1, count, 2)), data)])
    return one / (time.perf_counter() - started)


def linear_program(params: int) -> str:
    """A linear model with `params` weights over the 8 inputs, squared error against y."""
    lines = [f"param w[{k}] = 0.001" for k in range(1, params + 1)]
    lines += [f"input x[{k}]" for k in range(1, 9)] + ["input y"]
    terms = [f"w[{k}]*x[{(k - 1) % 8 + 1}]" for k in range(1, params + 1)]
    groups = [" + ".join(terms[i:i + 50]) for i in range(0, len(terms), 50)]
    lines += [f"s{g} = {text}" for g, text in enumerate(groups)]
    lines += ["h = " + " + ".join(f"s{g}" for g in range(len(groups))), "loss = (h - y)^2", "output loss"]
    return "\n".join(lines) + "\n"


def bench_train(work: Path, text: str, rows: int, batch: int, epochs: int, client) -> dict[str, float]:
    """Seconds per step of the local trainer and of the cluster trainer, and bytes per step."""
    from cgraph.distributed.local import ShippedProgram
    from cgraph.distributed.train import ClusterTrainer
    from cgraph.frontend.builder import DEFAULT_SEED
    from cgraph.frontend.loading import parse
    from cgraph.frontend.size_limits import DEFAULT_MAX_NODES
    from cgraph.training.data import Skipped, bind_columns, open_data_set
    from cgraph.training.finite import read_finite
    from cgraph.training.trainer import Settings, Trainer

    data = work / f"train-{len(text)}"
    data.mkdir()
    write_parts(data, rows, files=2)
    graph = parse(text, "bench.cg")
    datafile = open_data_set(str(data))
    binding = bind_columns(graph, datafile, given=(), params_ok=False)
    settings = Settings(lr=0.001, epochs=epochs, batch_size=batch, shuffle=True)
    loaded = read_finite(datafile, binding, 65536, "fail", Skipped())
    local = Trainer(graph, binding.names, loaded.columns, loaded.lines, settings=settings)
    started = time.perf_counter()
    local.run()
    local_time = time.perf_counter() - started
    remote = ClusterTrainer(client, ShippedProgram(text, "bench.cg", DEFAULT_SEED, DEFAULT_MAX_NODES, len(graph)), graph,
                            datafile, binding, settings=settings, loss=None, given={}, start={}, on_error="fail",
                            skipped=Skipped())
    import numpy as np

    remote.batch(remote.initial, slice(0, remote.n))  # every partition's worker parses and compiles once
    remote.bytes_sent = 0
    started = time.perf_counter()
    remote.run()
    remote_time = time.perf_counter() - started
    steps = epochs * local.batches
    return {"local ms": 1e3 * local_time / steps, "dask ms": 1e3 * remote_time / steps,
            "bytes": remote.bytes_sent / steps, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-rows", type=float, default=2e4)
    parser.add_argument("--only", choices=["eval", "train"], default=None, help="Run one half.")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only != "train":
            report_eval(work, args)
        if args.only != "eval":
            report_train(work, args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def report_eval(work: Path, args) -> None:
    t = bench_eval(work, int(args.rows), args.repeats)
    print(f"\neval, {int(args.rows):,} rows of the 1,001-node graph (median of {args.repeats}):")
    for case, seconds in t.items():
        print(f"  {case:8s} {seconds:7.2f} s")
    print(f"  2 workers vs 1: {t['dask 1'] / t['dask 2']:.2f}x (target >= {TARGET_SCALING})")
    print(f"  1 worker vs local: {t['dask 1'] / t['local']:.2f}x the time (target <= {TARGET_VS_LOCAL})")
    print(f"  control, no Dask: 2 plain processes vs 1 on the same partitions: {machine_parallelism(work):.2f}x "
          "(what this machine allows now)")
    print(f"load average: {os.getloadavg()[0]:.2f}")


def report_train(work: Path, args) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=50) as cluster, Client(cluster) as client:
        rows = int(args.train_rows)
        print(f"\ntrain, {rows:,} rows in 2 partitions, 2 workers, batches of 1,000 rows:")
        for label, text in (("16 params (1,001 nodes)", program()), ("1,000 params", linear_program(1000))):
            r = bench_train(work, text, rows, 1000, 3, client)
            print(f"  {label:24s} local {r['local ms']:7.2f} ms/step, dask {r['dask ms']:7.2f} ms/step: "
                  f"overhead {r['dask ms'] - r['local ms']:+7.2f} ms/step, {r['bytes']:,.0f} bytes sent/step "
                  f"({r['steps']} steps)")


if __name__ == "__main__":
    main()
