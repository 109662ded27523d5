#!/usr/bin/env python3
"""Parse+build only, in CPU time as well as wall time, optionally against another revision.

    .venv/bin/python bench/bench_parse.py                          # bench_core's shapes at 1e5 nodes
    .venv/bin/python bench/bench_parse.py --sizes 1e4,1e6 --against main

On a machine other work shares, wall times of a CPU-bound parse grow with the load
average (with 2 cores and a load of 6, about 2.5x) while the process's CPU time barely
moves; so this prints both. Each (revision, shape, size) runs in its own subprocess,
first runs only (no statement shape carried over from an earlier parse: the first
parse of a file in a fresh process is what `cgraph eval FILE` does), and the revisions
alternate, round after round, so both see the same load. `--against REV` extracts REV
with `git archive` into a temporary directory and imports cgraph from there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import bench_core, cgraph
text = bench_core.generate(sys.argv[3], int(sys.argv[4])).text
cgraph.parse("x = 1\n")  # the tables loaded, as in a warm start
wall, cpu = time.perf_counter(), time.process_time()
graph = cgraph.parse(text, max_nodes=max(10 * int(sys.argv[4]), 1_000_000))
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "nodes": len(graph)}))
"""


def run_one(package_root: str, shape: str, size: int) -> dict:
    out = subprocess.run([sys.executable, "-P", "-c", CHILD, package_root, str(HERE), shape, str(size)],
                         capture_output=True, text=True, cwd=str(HERE))
    if out.returncode:
        raise SystemExit(f"{package_root} {shape} {size}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def extract(rev: str, into: str) -> str:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="chain,dag,nested,loop")
    ap.add_argument("--sizes", default="1e5")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", metavar="REV", help="also time this git revision, alternated with the work tree")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this": str(ROOT)}
        if args.against:
            trees[args.against] = extract(args.against, tmp)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print("| shape | nodes | " + " | ".join(f"{name} wall µs/node | {name} CPU µs/node" for name in trees) + " |")
        print("|---|---:|" + "---:|---:|" * len(trees))
        for size in (int(float(s)) for s in args.sizes.split(",")):
            for shape in args.shapes.split(","):
                times: dict[str, list[dict]] = {name: [] for name in trees}
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        times[name].append(run_one(tree, shape, size))
                nodes = times["this"][0]["nodes"]
                cells = []
                for name in trees:
                    for key in ("wall", "cpu"):
                        cells.append(f"{statistics.median(t[key] for t in times[name]) / nodes * 1e6:.2f}")
                print(f"| {shape} | {nodes:,} | " + " | ".join(cells) + " |", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
