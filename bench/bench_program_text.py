#!/usr/bin/env python3
"""Benchmark of the program writer (cgraph/views/program.py): what `cgraph grad` spends
writing a gradient program as .cg text, next to its parse and transform.

    .venv/bin/python bench/bench_program_text.py                  # 1e4 and 1e5 nodes, ~1 minute
    .venv/bin/python bench/bench_program_text.py --against HEAD~1 # and the writer of that revision
    .venv/bin/python bench/bench_program_text.py --profile --sizes 1e5 --shapes tanh

Run by hand, not by the test suite. The machine is shared and noisy, so every time is
the median of --repeats runs, and the load average is printed at the start and end.
`--against REV` loads cgraph/views/program.py as it was at git revision REV next to the
current one, checks that both write the same bytes, and times them alternately in the
same process, so a change is judged by a before/after pair measured under the same load
(two separate runs minutes apart can differ by 2x on this box).

Sizes are the node counts of the source program, as `cgraph grad`'s target is stated
(a 1e5-node program in at most 3 s, parse + transform + writing); its gradient program
is some 2.7x larger, and the per-node time is per node of that gradient program.

Shapes:
  tanh  h[k+1] = tanh(w*h[k] + b), one statement per 3 nodes: every forward node named, the
        gradient program's statements all named and noted (the shape of the target)
  dag   bench_core.py's random DAG: fan-out, so unnamed shared nodes get temporaries
  loop  bench_core.py's `for` loop: indexed names (h[t], x[t]) and their safe spellings
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import cgraph  # noqa: E402
from cgraph.transform.grad import gradient_program  # noqa: E402
from cgraph.views import program as current  # noqa: E402

from bench_core import generate  # noqa: E402

SHAPES = ("tanh", "dag", "loop")
TARGET_GRAD_S = 3.0  # `cgraph grad` of a 1e5-node program: parse + transform + writing


def source_of(shape: str, nodes: int) -> str:
    if shape == "tanh":
        lines = ["h0 = x"] + [f"h{k + 1} = tanh(w*h{k} + b)" for k in range(nodes // 3)]
        return "\n".join(lines) + "\n"
    return generate(shape, nodes).text


def writer_at(revision: str) -> ModuleType:
    """cgraph/views/program.py as it was at `revision`, imported as a sibling module (its
    relative imports resolve against today's package: the writer is compared, not the IR)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:cgraph/views/program.py"],
                          check=True, capture_output=True, text=True).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"cgraph_program_{os.getpid()}.py"
    path.write_text(text)
    name = "cgraph.views._program_at_revision"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    path.unlink()
    return module


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_case(shape: str, nodes: int, repeats: int, other: ModuleType | None) -> None:
    source = source_of(shape, nodes)
    parse_s, transform_s = [], []
    graph = derivative = notes = None
    for _ in range(max(1, repeats // 2)):  # the pipeline around the writer, for the total
        gc.collect()
        start = time.perf_counter()
        graph = cgraph.parse(source, f"<{shape}>", max_nodes=10 * nodes)
        parse_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        derivative, raw_notes = gradient_program(graph, max_nodes=100 * nodes)
        notes = dict(raw_notes.items())  # as `cgraph grad` passes them: by name
        transform_s.append(time.perf_counter() - start)
    assert graph is not None and derivative is not None and notes is not None

    def write(module: ModuleType) -> Callable[[], object]:
        return lambda: module.program_text(derivative, notes=notes, header="bench")

    writers = {"current": current} | ({"against": other} if other is not None else {})
    texts = {label: module.program_text(derivative, notes=notes, header="bench") for label, module in writers.items()}
    same = len(set(texts.values())) == 1
    times: dict[str, list[float]] = {label: [] for label in writers}
    for _ in range(repeats):  # alternately, so both see the same load
        for label, module in writers.items():
            times[label].append(timed(write(module)))
    n = len(derivative)
    p, t, w = statistics.median(parse_s), statistics.median(transform_s), statistics.median(times["current"])
    line = (f"{shape:5} {nodes:>8,} nodes -> gradient program {n:>9,} nodes, {len(texts['current']) / 1e6:6.1f} MB: "
            f"write {w:6.3f} s ({1e6 * w / n:5.2f} µs/node)  parse {p:6.3f} s  transform {t:6.3f} s  "
            f"total {p + t + w:6.3f} s")
    if other is not None:
        o = statistics.median(times["against"])
        line += f"\n      {'':>8}        against: write {o:6.3f} s ({1e6 * o / n:5.2f} µs/node), {o / w:4.2f}x; " \
                f"output {'identical' if same else 'DIFFERENT'}"
    print(line, flush=True)
    if shape == "tanh" and nodes == 100_000:
        verdict = "ok" if p + t + w <= TARGET_GRAD_S else "MISSED"
        print(f"      target: cgraph grad of a 1e5-node program <= {TARGET_GRAD_S:.0f} s: {p + t + w:.2f} s, {verdict}")


def profile_case(shape: str, nodes: int, top: int) -> None:
    graph = cgraph.parse(source_of(shape, nodes), f"<{shape}>", max_nodes=10 * nodes)
    derivative, raw_notes = gradient_program(graph, max_nodes=100 * nodes)
    notes = dict(raw_notes.items())
    profiler = cProfile.Profile()
    profiler.runcall(current.program_text, derivative, notes=notes)
    print(f"--- {shape}, {nodes:,} nodes (gradient program {len(derivative):,} nodes)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e4,1e5", help="source program sizes in nodes (default 1e4,1e5)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"of {', '.join(SHAPES)}")
    parser.add_argument("--repeats", type=int, default=7, help="writes per case; the median is reported")
    parser.add_argument("--against", metavar="REV", help="also time the writer of this git revision")
    parser.add_argument("--profile", action="store_true", help="cProfile the writer instead of timing it")
    parser.add_argument("--top", type=int, default=25, help="with --profile: functions listed")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    other = writer_at(args.against) if args.against else None
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeats} writes")
    for nodes in sizes:
        for shape in shapes:
            if args.profile:
                profile_case(shape, nodes, args.top)
            else:
                bench_case(shape, nodes, args.repeats, other)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
