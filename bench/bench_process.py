"""Whole processes, as a user runs them: `cgraph eval` of a 100k-node chain file (first
run, and re-run from the graph cache) against a Python script that builds, runs and
differentiates the same graph with micrograd; the cold start of a small file against
`import lark, rich, click`; and the in-process cost of loading a cached graph.

    .venv/bin/pip install micrograd        # the `bench` extra (the micrograd column)
    .venv/bin/python bench/bench_process.py [--repeats 7] [--links 12500] [--json FILE]

The chain is the one of the performance issue, `links` times (12,500 links: 100,004 nodes):

    a1 = tanh(s0) / b1 = a1*1.0001 + 0.1 / c1 = sigmoid(b1) / d1 = exp(c1*0.5) / s1 = d1*0.5 + x

The machine is shared: the three whole-process cases run paired (one of each, in turn,
`repeats` times) and the table shows medians, with the load average before and after.
"First run" parses with an empty graph cache (each run its own new XDG_CACHE_HOME, the
parser's tables copied in, so only the graph is missing) and writes the cache; "cache
hit" re-runs the file with the graph cached. Every process's output is checked: cgraph's
value and gradient must equal micrograd's to 1e-9.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CGRAPH = str(Path(sys.executable).parent / "cgraph")
# Byte code written and read, as after `pip install`: with PYTHONDONTWRITEBYTECODE set
# every process would compile cgraph's modules again, a cost no installed copy pays.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

MICROGRAD_SCRIPT = r'''
import math, sys
from micrograd.engine import Value

# micrograd has no tanh, sigmoid or exp: written the way its own ops are.
def _unary(v, f, d):
    out = Value(f(v.data), (v,), "f")
    def _backward():
        v.grad += d(out.data) * out.grad
    out._backward = _backward
    return out

def tanh(v): return _unary(v, math.tanh, lambda t: 1 - t * t)
def sigmoid(v): return _unary(v, lambda a: 1 / (1 + math.exp(-a)), lambda s: s * (1 - s))
def exp(v): return _unary(v, math.exp, lambda e: e)

sys.setrecursionlimit(1_000_000)  # micrograd's backward sorts the graph recursively
links = int(sys.argv[1])
x = Value(0.5)
s = x
for _ in range(links):
    a = tanh(s)
    b = a * 1.0001 + 0.1
    c = sigmoid(b)
    d = exp(c * 0.5)
    s = d * 0.5 + x
s.backward()
print(repr(s.data), repr(x.grad))
'''


def chain_program(links: int) -> str:
    lines = ["input x = 0.5", "s0 = x"]
    for i in range(1, links + 1):
        lines += [f"a{i} = tanh(s{i - 1})", f"b{i} = a{i}*1.0001 + 0.1", f"c{i} = sigmoid(b{i})",
                  f"d{i} = exp(c{i}*0.5)", f"s{i} = d{i}*0.5 + x"]
    lines.append(f"output s{links}")
    return "\n".join(lines) + "\n"


CPU: dict[str, list[float]] = {}  # case -> CPU seconds (user + system) of each run


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], env: dict[str, str], case: str | None = None) -> tuple[float, bytes]:
    """Wall seconds and standard output of one process; its CPU seconds go to CPU[case]:
    on a loaded machine they say what the wall time would be with a core to itself."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if case is not None:
        CPU.setdefault(case, []).append(cpu_of_children() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return seconds, done.stdout


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def fresh_cache(work: Path, tables: Path, k: int) -> dict[str, str]:
    """An environment whose cache directory holds the parser's tables but no graph."""
    home = work / f"xdg-{k}"
    (home / "cgraph").mkdir(parents=True)
    for f in tables.iterdir():
        if not f.name.startswith("graph-"):
            shutil.copy2(f, home / "cgraph" / f.name)
    return {**ENV, "XDG_CACHE_HOME": str(home)}


def check(out: bytes, expected: tuple[float, float] | None) -> tuple[float, float]:
    result = json.loads(out)
    pair = (result["value"], result["gradients"]["x"])
    if expected is not None and any(abs(a - b) > 1e-9 * max(1.0, abs(b)) for a, b in zip(pair, expected)):
        raise SystemExit(f"cgraph {pair} != micrograd {expected}")
    return pair


def whole_processes(work: Path, links: int, repeats: int) -> dict[str, list[float]]:
    program = work / "chain.cg"
    program.write_text(chain_program(links))
    script = work / "micrograd_chain.py"
    script.write_text(MICROGRAD_SCRIPT)
    warm = {**ENV, "XDG_CACHE_HOME": str(work / "xdg-warm")}
    argv = [CGRAPH, "eval", str(program), "--x", "0.5", "--format", "json", "--show", "inputs"]
    run(argv, warm)  # the parser's tables and the graph, cached once
    times: dict[str, list[float]] = {"cgraph, first run": [], "cgraph, cache hit": [], "micrograd script": []}
    python = sys.executable
    expected = None
    try:
        import micrograd  # noqa: F401
    except ImportError:
        del times["micrograd script"]
        print("micrograd is not installed (pip install micrograd): its column is left out")
    for k in range(repeats):
        if "micrograd script" in times:
            seconds, out = run([python, str(script), str(links)], ENV, "micrograd script")
            times["micrograd script"].append(seconds)
            expected = tuple(float(v) for v in out.split())
        seconds, out = run(argv, fresh_cache(work, work / "xdg-warm" / "cgraph", k), "cgraph, first run")
        times["cgraph, first run"].append(seconds)
        check(out, expected)
        seconds, out = run(argv, warm, "cgraph, cache hit")
        times["cgraph, cache hit"].append(seconds)
        check(out, expected)
    return times


def cold_start(work: Path, repeats: int) -> dict[str, list[float]]:
    env = {**ENV, "XDG_CACHE_HOME": str(work / "xdg-warm")}
    sample = ["eval", str(ROOT / "samples" / "intro.cg"), "--x", "1", "--y", "3", "--z", "-3"]
    cases = {
        "import lark, rich, click": [sys.executable, "-c", "import lark, rich, click"],
        "cgraph eval intro.cg (cache hit)": [CGRAPH, *sample],
        "cgraph eval intro.cg --no-cache": [CGRAPH, *sample, "--no-cache"],
    }
    for argv in cases.values():
        run(argv, env)  # byte code and caches warm
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats * 3):
        for name, argv in cases.items():
            times[name].append(run(argv, env, name)[0])
    return times


def in_process(work: Path, links: int, repeats: int) -> tuple[int, list[float]]:
    """Seconds to load the cached chain in this process (read, hash, check, build the Graph):
    process time, so that other work on the machine counts less."""
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg-warm")
    sys.path.insert(0, str(ROOT))
    from cgraph.frontend.loading import load

    program = work / "chain.cg"
    nodes = len(load(program, cache=True))
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        load(program, cache=True)
        seconds.append(time.process_time() - start)
    return nodes, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--links", type=int, default=12_500, help="links of the chain (8 nodes each)")
    parser.add_argument("--json", metavar="FILE", help="also write every timing to FILE")
    args = parser.parse_args()
    print(f"load average at start: {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="cgraph-bench-") as tmp:
        work = Path(tmp)
        processes = whole_processes(work, args.links, args.repeats)
        cold = cold_start(work, args.repeats)
        nodes, loads = in_process(work, args.links, args.repeats)
    print(f"\nwhole process, chain of {nodes:,} nodes: cgraph eval FILE --x 0.5 --format json --show inputs"
          f" (median of {args.repeats}, paired)")
    base = statistics.median(processes["micrograd script"]) if "micrograd script" in processes else None
    cpu_base = statistics.median(CPU["micrograd script"]) if base else None
    print(f"  {'':<22} {'wall':>8}  {'':<15} {'CPU':>8}")
    for name, seconds in processes.items():
        median, cpu = statistics.median(seconds), statistics.median(CPU[name])
        ratio = f"{median / base:.2f}x micrograd" if base else ""
        cpu_ratio = f"{cpu / cpu_base:.2f}x micrograd" if cpu_base else ""
        print(f"  {name:<22} {median:6.3f} s  {ratio:<15} {cpu:6.3f} s  {cpu_ratio}")
    floor = statistics.median(cold["import lark, rich, click"])
    print(f"\ncold start (median of {3 * args.repeats}, paired)")
    cpu_floor = statistics.median(CPU["import lark, rich, click"])
    for name, seconds in cold.items():
        median, cpu = statistics.median(seconds), statistics.median(CPU[name])
        print(f"  {name:<34} {median:6.3f} s  {median / floor:.2f}x the imports   CPU {cpu:6.3f} s  {cpu / cpu_floor:.2f}x")
    median = statistics.median(loads)
    print(f"\nloading the cached graph in-process: {median:.3f} s, {median / nodes * 1e6:.2f} us/node")
    print(f"\nload average at end: {loadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"processes": processes, "cold": cold, "cpu": CPU, "load": loads,
                                               "nodes": nodes}))


if __name__ == "__main__":
    main()
