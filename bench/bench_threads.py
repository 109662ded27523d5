#!/usr/bin/env python3
"""The batch engine's thread speed-up beside a lock-free control, alternated in one process.

    .venv/bin/python bench/bench_threads.py                 # 3e5 rows, 1 vs 2 threads, 3 rounds
    .venv/bin/python bench/bench_threads.py --burners 2     # with 2 busy loops running meanwhile

cgraph: `Plan.run_chunks(..., threads=N)` over bench_batch.py's 1,001-node graph (values and
every gradient). Control: sha256 of 1 MB blocks, which holds no lock (hashlib releases the
GIL), the same total work on 1 and on N threads. On a shared machine the control says how
much of a second core the machine gave at that moment: read cgraph's speed-up against it.
With --burners K, K busy loops run meanwhile, so that the scheduler's equal share per
runnable thread decides what N threads get (the other helpers' work then matters less).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import bench_batch  # noqa: E402  (the graph and the data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="3e5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burners", type=int, default=0, help="busy loops running meanwhile")
    args = parser.parse_args()

    import cgraph
    from cgraph.batch import Plan

    graph = cgraph.parse(bench_batch.program())
    plan = Plan(graph, bench_batch.data_names(), shared_grads="rows")
    base = plan.bind({})
    rows, chunk = int(float(args.rows)), plan.chunk_rows()
    columns = bench_batch.make_columns(rows)

    def cgraph_run(threads: int) -> float:
        start = time.perf_counter()
        chunks = ([c[lo : lo + chunk] for c in columns] for lo in range(0, rows, chunk))
        for _ in plan.run_chunks(base, chunks, threads=threads):
            pass
        return time.perf_counter() - start

    def control_run(threads: int) -> float:
        return bench_batch.lock_free_seconds(threads, blocks=400)

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)]
    try:
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for name, run in (("cgraph", cgraph_run), ("control", control_run)):
                for threads in (1, args.threads):
                    times.setdefault((name, threads), []).append(run(threads))
    finally:
        for b in burners:
            b.kill()
            b.wait()
    print(f"{rows:,} rows, chunks of {chunk:,}, {args.burners} busy loops, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ("cgraph", "control"):
        one, many = statistics.median(times[(name, 1)]), statistics.median(times[(name, args.threads)])
        print(f"  {name:8} 1 thread {one:.2f} s, {args.threads} threads {many:.2f} s: {one / many:.2f}x")


if __name__ == "__main__":
    main()
