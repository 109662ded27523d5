#!/usr/bin/env python3
"""Core benchmark for cgraph: parse+build, forward+backward, memory, start-up.

    .venv/bin/python bench/bench_core.py --quick          # sizes 1e3..1e5, ~2 minutes
    .venv/bin/python bench/bench_core.py                  # sizes 1e3..1e6, under ~10 minutes
    .venv/bin/python bench/bench_core.py --profile dag --profile-size 100000

Every (shape, size, implementation) case runs in its own subprocess, so one case's
garbage, caches and peak memory do not leak into the next. Times are medians of the
repeats each case managed within its time budget. See bench/README.md for the columns.

The four graph shapes (all use only add, mul, tanh and relu, and no literal constants,
so micrograd and PyTorch build exactly the same nodes as cgraph does):
  chain   one operation per statement:  s1 = s0 + b / s2 = tanh(s1) / s3 = s2 * w ...
  dag     random DAG (seeded): each statement combines the previous one with a random
          earlier statement or input, 1-3 operations per statement, so nodes fan out
  nested  one statement, one expression nested n/3 deep: tanh(w*tanh(w*(...x...) + b) + b)
  loop    input h[0] = 0;  for t in 1..n/4 { h[t] = tanh(w*h[t-1] + x[t]) }   (4 nodes per step)

micrograd and PyTorch are given the same graph as a tape (built from the generator's own
structure, not by parsing) and run it define-by-run: their "forward" builds their graph
while computing the values, their "backward" is `out.backward()`. PyTorch uses 0-d
float64 tensors with requires_grad on one thread. micrograd has no tanh: the benchmark
adds one written exactly like micrograd's own ops (a Value with a `_backward` closure).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHAPES = ("chain", "dag", "nested", "loop")
SEED = 20240601

# Targets from the project's issue.
TARGET_EVAL_US = 0.8  # forward+backward µs per node at 1e4..1e6 nodes
TARGET_VS_MICROGRAD = 10.0
TARGET_VS_TORCH = 20.0
TARGET_PARSE_US = 8.0  # parse+build µs per node, every size and shape, first run
TARGET_PEAK_MB = 300.0  # for a 1e6-node file
TARGET_SCALING = 1.1  # 10x nodes <= 11x time
TARGET_LOOP_S = 5.0  # for t in 1..300000: parse+build+forward+backward
TARGET_STARTUP = 1.3  # cold `cgraph eval samples/intro.cg` vs `python -c "import lark, rich, click"`
LOOP_TARGET_STEPS = 300_000


# =====================================================================================
# Graph generators: program text plus the same graph as a tape
# =====================================================================================
#
# leaves: [(name as cgraph spells it, value, given)]; `given` leaves go in the inputs dict,
#         the others have a declared default in the text.
# ops:    [(op, a, b)] with a, b indices into leaves + ops (b = -1 for a unary op); the
#         last op is the output.


class Program:
    def __init__(self, shape: str, text: str, leaves: list, ops: list):
        self.shape, self.text, self.leaves, self.ops = shape, text, leaves, ops

    @property
    def nodes(self) -> int:
        return len(self.leaves) + len(self.ops)

    def inputs(self) -> dict[str, float]:
        return {name: value for name, value, given in self.leaves if given}


def gen_chain(n: int, rng: random.Random) -> Program:
    """One operation per statement: the most statements (and names) per node."""
    leaves = [("x", 0.5, True), ("w", 0.9, True), ("b", 0.1, True)]
    ops: list[tuple] = []
    lines = ["# chain: one operation per statement"]
    prev, prev_name = 0, "x"
    for i in range(max(n - len(leaves), 1)):
        k = i % 3
        if k == 0:
            lines.append(f"s{i} = {prev_name} * w")
            ops.append(("mul", prev, 1))
        elif k == 1:
            lines.append(f"s{i} = {prev_name} + b")
            ops.append(("add", prev, 2))
        else:
            lines.append(f"s{i} = tanh({prev_name})")
            ops.append(("tanh", prev, -1))
        prev, prev_name = len(leaves) + len(ops) - 1, f"s{i}"
    return Program("chain", "\n".join(lines) + "\n", leaves, ops)


def gen_dag(n: int, rng: random.Random) -> Program:
    """Statement i combines d(i-1) with a random earlier statement or input: fan-out."""
    leaves = [(f"x{k}", rng.uniform(-1, 1), True) for k in range(8)]
    leaves += [(f"w{k}", rng.uniform(-0.9, 0.9), True) for k in range(4)]
    ops: list[tuple] = []
    lines = ["# dag: random fan-out, seeded"]
    pool = [(k, leaves[k][0]) for k in range(8)]  # (node, name) usable as an operand
    prev = pool[0]
    i = 0
    while len(leaves) + len(ops) < n:
        # The first 8 statements use each input once, the next 4 each weight once, so that
        # every leaf is used (cgraph refuses inputs a file does not use), at any size.
        b = pool[i] if i < 8 else pool[rng.randrange(len(pool))]
        form = 0.0 if 8 <= i < 12 else rng.random()
        base = len(leaves) + len(ops)
        if form < 0.4:  # tanh(A*w + B): 3 nodes
            k = i - 8 if 8 <= i < 12 else rng.randrange(4)
            lines.append(f"d{i} = tanh({prev[1]}*w{k} + {b[1]})")
            ops += [("mul", prev[0], 8 + k), ("add", base, b[0]), ("tanh", base + 1, -1)]
        elif form < 0.6:  # A * B: 1 node
            lines.append(f"d{i} = {prev[1]} * {b[1]}")
            ops.append(("mul", prev[0], b[0]))
        elif form < 0.8:  # tanh(A + B): 2 nodes
            lines.append(f"d{i} = tanh({prev[1]} + {b[1]})")
            ops += [("add", prev[0], b[0]), ("tanh", base, -1)]
        else:  # relu(A) * B: 2 nodes
            lines.append(f"d{i} = relu({prev[1]}) * {b[1]}")
            ops += [("relu", prev[0], -1), ("mul", base, b[0])]
        prev = (len(leaves) + len(ops) - 1, f"d{i}")
        pool.append(prev)
        i += 1
    return Program("dag", "\n".join(lines) + "\n", leaves, ops)


def gen_nested(n: int, rng: random.Random) -> Program:
    """One statement: tanh(w*tanh(w*(... x ...) + b) + b), n/3 levels deep."""
    leaves = [("w", 0.9, True), ("x", 0.5, True), ("b", 0.1, True)]
    depth = max((n - len(leaves)) // 3, 1)
    ops: list[tuple] = []
    inner = 1
    for _ in range(depth):
        base = len(leaves) + len(ops)
        ops += [("mul", 0, inner), ("add", base, 2), ("tanh", base + 1, -1)]
        inner = base + 2
    text = "# nested: one expression\nout = " + "tanh(w*" * depth + "x" + " + b)" * depth + "\n"
    return Program("nested", text, leaves, ops)


def gen_loop(n: int, rng: random.Random, steps: int | None = None) -> Program:
    """for t in 1..T { h[t] = tanh(w*h[t-1] + x[t]) }: 4 nodes per step (x[t] is one)."""
    steps = steps if steps is not None else max((n - 2) // 4, 1)
    leaves = [("h[0]", 0.0, False), ("w", 0.9, True)]
    leaves += [(f"x[{t}]", rng.uniform(-0.5, 0.5), True) for t in range(1, steps + 1)]
    ops: list[tuple] = []
    h = 0
    for t in range(1, steps + 1):
        base = len(leaves) + len(ops)
        ops += [("mul", 1, h), ("add", base, 1 + t), ("tanh", base + 1, -1)]
        h = base + 2
    text = f"# loop\ninput h[0] = 0\nfor t in 1..{steps} {{\n    h[t] = tanh(w*h[t-1] + x[t])\n}}\n"
    return Program("loop", text, leaves, ops)


GENERATORS = {"chain": gen_chain, "dag": gen_dag, "nested": gen_nested, "loop": gen_loop}


def generate(shape: str, n: int, steps: int | None = None) -> Program:
    rng = random.Random(f"{SEED}-{shape}-{n}")
    if shape == "loop":
        return gen_loop(n, rng, steps)
    return GENERATORS[shape](n, rng)


def check_leaves(prog: Program, limit: int = 200) -> list[int]:
    """The leaves whose gradients are compared across implementations: ends and a stride."""
    m = len(prog.leaves)
    if m <= limit:
        return list(range(m))
    stride = max(m // (limit // 2), 1)
    return sorted(set(range(limit // 4)) | set(range(m - limit // 4, m)) | set(range(0, m, stride)))


# =====================================================================================
# Child processes: one per case
# =====================================================================================


def maxrss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM: ru_maxrss starts a child at
    the RSS its parent had when it forked (the kernel carries it across exec), and this
    script's parent holds every generated program (~300 MB at 1e6), which would floor
    every case's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB; macOS: bytes


def timed_repeats(fn, max_reps: int, budget: float, min_reps: int = 1):
    """Run fn() up to max_reps times, stopping early once `budget` seconds are spent."""
    times, results = [], None
    spent = 0.0
    for r in range(max_reps):
        gc.collect()
        t, results = fn(r)
        times.append(t)
        spent += sum(t) if isinstance(t, tuple) else t
        if r + 1 >= min_reps and spent >= budget:
            break
    return times, results


def child_cgraph(case: dict) -> dict:
    base_rss = maxrss_mb()
    import cgraph

    text = Path(case["text_path"]).read_text(encoding="utf-8")
    gc.collect()
    rss_before = maxrss_mb()
    out: dict = {"rss_base_mb": base_rss}

    holder = {}

    def parse_once(r):
        holder.pop("g", None)
        gc.collect()
        t0 = time.perf_counter()
        g = cgraph.parse(text, max_nodes=max(10 * case["size"], 1_000_000))
        t = time.perf_counter() - t0
        holder["g"] = g
        if r == 0:
            out["rss_peak_mb"] = maxrss_mb()
            out["rss_before_parse_mb"] = rss_before
        return t, None

    ptimes, _ = timed_repeats(parse_once, case["parse_reps"], case["parse_budget"])
    g = holder["g"]
    out["parse_times"] = ptimes
    out["nodes"] = len(g)

    with open(case["tape_path"], "rb") as f:
        prog = pickle.load(f)
    inputs = prog.inputs()
    out["tape_nodes"] = prog.nodes

    def eval_once(r):
        t0 = time.perf_counter()
        res = cgraph.evaluate(g, inputs)
        return time.perf_counter() - t0, res

    etimes, res = timed_repeats(eval_once, case["eval_reps"], case["eval_budget"], min_reps=3)
    out["eval_times"] = etimes

    def split_once(r):
        t0 = time.perf_counter()
        values = cgraph.forward(g, inputs)
        t1 = time.perf_counter()
        cgraph.backward(g, values)
        t2 = time.perf_counter()
        return (t1 - t0, t2 - t1), None

    stimes, _ = timed_repeats(split_once, case["eval_reps"], case["eval_budget"], min_reps=3)
    out["forward_times"] = [t[0] for t in stimes]
    out["backward_times"] = [t[1] for t in stimes]

    grads = res.gradients
    out["value"] = res.value
    out["grads"] = {prog.leaves[k][0]: grads.get(prog.leaves[k][0]) for k in check_leaves(prog)}
    out["warnings"] = len(res.warnings)
    return out


def _run_tape(prog: Program, leaf, fns):
    vals = [leaf(v) for _, v, _ in prog.leaves]
    app = vals.append
    for fn, a, b in fns:
        if b < 0:
            app(fn(vals[a]))
        else:
            app(fn(vals[a], vals[b]))
    return vals


def child_micrograd(case: dict) -> dict:
    try:
        from micrograd.engine import Value
    except ImportError:
        return {"skipped": "micrograd not installed (pip install micrograd)"}

    def tanh(v):  # micrograd has no tanh: this one is written the way its own ops are
        t = math.tanh(v.data)
        out = Value(t, (v,), "tanh")

        def _backward():
            v.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    table = {"add": Value.__add__, "mul": Value.__mul__, "tanh": tanh, "relu": Value.relu}
    with open(case["tape_path"], "rb") as f:
        prog = pickle.load(f)
    fns = [(table[op], a, b) for op, a, b in prog.ops]
    # micrograd's backward sorts the graph with a recursive DFS: as deep as the graph.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * prog.nodes + 10_000))
    out: dict = {}
    holder = {}

    def once(r):
        holder.clear()
        gc.collect()
        t0 = time.perf_counter()
        vals = _run_tape(prog, Value, fns)
        t1 = time.perf_counter()
        vals[-1].backward()
        t2 = time.perf_counter()
        holder["vals"] = vals
        return (t1 - t0, t2 - t1), None

    try:
        times, _ = timed_repeats(once, case["cmp_reps"], case["cmp_budget"])
    except RecursionError:
        return {"error": "RecursionError"}
    vals = holder["vals"]
    out["forward_times"] = [t[0] for t in times]
    out["backward_times"] = [t[1] for t in times]
    out["value"] = vals[-1].data
    out["grads"] = {prog.leaves[k][0]: float(vals[k].grad) for k in check_leaves(prog)}
    out["recursion_limit"] = sys.getrecursionlimit()
    return out


def child_torch(case: dict) -> dict:
    try:
        import torch
    except ImportError:
        return {"skipped": "torch not installed (.venv/bin/pip install torch==2.13.0)"}
    import operator

    torch.set_num_threads(1)
    table = {"add": operator.add, "mul": operator.mul, "tanh": torch.tanh, "relu": torch.relu}
    with open(case["tape_path"], "rb") as f:
        prog = pickle.load(f)
    fns = [(table[op], a, b) for op, a, b in prog.ops]
    f64 = torch.float64

    def leaf(v):
        return torch.tensor(v, dtype=f64, requires_grad=True)

    out: dict = {"version": torch.__version__}
    holder = {}

    def once(r):
        holder.clear()
        gc.collect()
        t0 = time.perf_counter()
        vals = _run_tape(prog, leaf, fns)
        t1 = time.perf_counter()
        vals[-1].backward()
        t2 = time.perf_counter()
        holder["vals"] = vals
        return (t1 - t0, t2 - t1), None

    times, _ = timed_repeats(once, case["cmp_reps"], case["cmp_budget"])
    vals = holder["vals"]
    out["forward_times"] = [t[0] for t in times]
    out["backward_times"] = [t[1] for t in times]
    out["value"] = vals[-1].item()
    out["grads"] = {
        prog.leaves[k][0]: (vals[k].grad.item() if vals[k].grad is not None else 0.0) for k in check_leaves(prog)
    }
    return out


def child_loop_target(case: dict) -> dict:
    """`for t in 1..300000`: parse+build, forward and backward, end to end."""
    import cgraph

    text = Path(case["text_path"]).read_text(encoding="utf-8")
    with open(case["tape_path"], "rb") as f:
        inputs = pickle.load(f).inputs()
    runs = []
    spent = 0.0
    for r in range(case["reps"]):
        gc.collect()
        t0 = time.perf_counter()
        g = cgraph.parse(text, max_nodes=10_000_000)
        t1 = time.perf_counter()
        res = cgraph.evaluate(g, inputs)
        t2 = time.perf_counter()
        runs.append({"parse": t1 - t0, "eval": t2 - t1, "total": t2 - t0, "nodes": len(g), "value": res.value})
        spent += t2 - t0
        del g, res
        if spent > case["budget"]:
            break
    return {"runs": runs, "rss_peak_mb": maxrss_mb()}


CHILDREN = {"cgraph": child_cgraph, "micrograd": child_micrograd, "torch": child_torch, "loop_target": child_loop_target}


def child_main(kind: str, case_path: str) -> None:
    with open(case_path) as f:
        case = json.load(f)
    try:
        result = CHILDREN[kind](case)
    except Exception as exc:  # reported in the table, not a crash of the whole run
        result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    result["rss_final_mb"] = maxrss_mb()
    with open(case["result_path"], "w") as f:
        json.dump(result, f)
    sys.stdout.flush()
    os._exit(0)  # skip tearing down millions of objects: not part of any measurement


# =====================================================================================
# Parent: run cases, collect, print
# =====================================================================================


def run_child(kind: str, case: dict, workdir: Path, timeout: float) -> dict:
    case = dict(case)
    tag = f"{kind}-{case.get('shape', 'x')}-{case.get('size', 0)}"
    case["result_path"] = str(workdir / f"{tag}.result.json")
    case_path = workdir / f"{tag}.case.json"
    case_path.write_text(json.dumps(case))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(case_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    try:
        with open(case["result_path"]) as f:
            result = json.load(f)
    except (OSError, ValueError):
        if proc.returncode < 0:
            import signal

            name = signal.Signals(-proc.returncode).name
            err = f"crashed ({name})"
        else:
            err = f"exit {proc.returncode}"
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
        return {"error": err, "stderr": tail[0][:300]}
    result["wall"] = wall
    return result


def median(xs):
    return statistics.median(xs) if xs else None


def per_node_us(seconds, nodes):
    return None if seconds is None or not nodes else seconds / nodes * 1e6


def compare(ref: dict, other: dict) -> str:
    """'ok' if value and sampled gradients agree with cgraph's to 1e-7 (relative)."""
    if "value" not in ref or "value" not in other:
        return "-"

    def close(a, b):
        if a is None or b is None:
            return a == b
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-12)

    if not close(ref["value"], other["value"]):
        return "value differs"
    bad = [k for k, v in ref["grads"].items() if not close(v, other["grads"].get(k))]
    return "ok" if not bad else f"grad {bad[0]} differs"


def plan(quick: bool, args) -> dict:
    """Sizes and repeats. Budgets (s) stop repeating once a case has spent that long."""
    if quick:
        sizes = [1_000, 10_000, 100_000]
        reps = {1_000: (5, 7, 3), 10_000: (3, 5, 3), 100_000: (2, 3, 1)}
        budget = {"parse": 8.0, "eval": 4.0, "cmp": 6.0}
    else:
        sizes = [1_000, 10_000, 100_000, 1_000_000]
        reps = {1_000: (7, 9, 5), 10_000: (5, 7, 3), 100_000: (3, 5, 3), 1_000_000: (3, 3, 1)}
        budget = {"parse": 20.0, "eval": 6.0, "cmp": 15.0}
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    if args.repeats:
        reps = {s: (args.repeats,) * 3 for s in sizes}
    return {"sizes": sizes, "reps": reps, "budget": budget}


def run_cases(args) -> dict:
    cfg = plan(args.quick, args)
    shapes = args.shapes.split(",") if args.shapes else list(SHAPES)
    impls = ["cgraph"] + ([] if args.no_compare else ["micrograd", "torch"])
    results: list[dict] = []
    workdir = Path(tempfile.mkdtemp(prefix="cgraph-bench-"))
    try:
        for size in cfg["sizes"]:
            parse_reps, eval_reps, cmp_reps = cfg["reps"].get(size, (3, 3, 1))
            for shape in shapes:
                prog = generate(shape, size)
                text_path = workdir / f"{shape}-{size}.cg"
                tape_path = workdir / f"{shape}-{size}.tape.pickle"
                text_path.write_text(prog.text, encoding="utf-8")
                with open(tape_path, "wb") as f:
                    pickle.dump(prog, f, protocol=pickle.HIGHEST_PROTOCOL)
                case = {
                    "shape": shape, "size": size, "text_path": str(text_path), "tape_path": str(tape_path),
                    "parse_reps": parse_reps, "eval_reps": eval_reps, "cmp_reps": cmp_reps,
                    "parse_budget": cfg["budget"]["parse"], "eval_budget": cfg["budget"]["eval"],
                    "cmp_budget": cfg["budget"]["cmp"],
                }
                row = {"shape": shape, "size": size, "tape_nodes": prog.nodes,
                       "file_mb": text_path.stat().st_size / 1e6}
                del prog
                for impl in impls:
                    row[impl] = run_child(impl, case, workdir, timeout=args.timeout)
                text_path.unlink()
                tape_path.unlink()
                results.append(row)
                print(progress_line(row), file=sys.stderr, flush=True)
        loop_target = None
        if not args.quick and not args.no_target and (not args.shapes or "loop" in shapes):
            prog = generate("loop", 0, steps=LOOP_TARGET_STEPS)
            text_path = workdir / "loop-target.cg"
            tape_path = workdir / "loop-target.tape.pickle"
            text_path.write_text(prog.text, encoding="utf-8")
            with open(tape_path, "wb") as f:
                pickle.dump(prog, f, protocol=pickle.HIGHEST_PROTOCOL)
            del prog
            loop_target = run_child(
                "loop_target",
                {"shape": "looptarget", "size": LOOP_TARGET_STEPS, "text_path": str(text_path),
                 "tape_path": str(tape_path), "reps": 3, "budget": 15.0},
                workdir, timeout=args.timeout,
            )
            print(f"loop target: {loop_target}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"rows": results, "loop_target": loop_target}


def summarize_row(row: dict) -> dict:
    c = row["cgraph"]
    s: dict = {"shape": row["shape"], "size": row["size"], "error": c.get("error")}
    nodes = c.get("nodes") or row["tape_nodes"]
    s["nodes"] = nodes
    s["parse_s"] = median(c.get("parse_times", []))
    s["parse_us"] = per_node_us(s["parse_s"], nodes)
    s["parse_reps"] = len(c.get("parse_times", []))
    s["peak_mb"] = c.get("rss_peak_mb")
    s["base_mb"] = c.get("rss_before_parse_mb")
    s["eval_s"] = median(c.get("eval_times", []))
    s["eval_us"] = per_node_us(s["eval_s"], nodes)
    s["eval_reps"] = len(c.get("eval_times", []))
    s["fwd_us"] = per_node_us(median(c.get("forward_times", [])), nodes)
    s["bwd_us"] = per_node_us(median(c.get("backward_times", [])), nodes)
    s["same_graph"] = c.get("nodes") == row["tape_nodes"] if "nodes" in c else None
    for impl in ("micrograd", "torch"):
        r = row.get(impl)
        if r is None:
            s[impl] = None
            continue
        if "skipped" in r or "error" in r:
            s[impl] = {"note": r.get("skipped") or r.get("error")}
            continue
        f, b = median(r["forward_times"]), median(r["backward_times"])
        fb = [x + y for x, y in zip(r["forward_times"], r["backward_times"])]
        s[impl] = {
            "us": per_node_us(median(fb), nodes), "fwd_us": per_node_us(f, nodes), "bwd_us": per_node_us(b, nodes),
            "reps": len(fb), "check": compare(c, r),
        }
        if s["eval_s"]:
            s[impl]["ratio"] = median(fb) / s["eval_s"]
    return s


def add_scaling(summary: list[dict]) -> None:
    """Parse-time growth per 10x nodes, normalised to exactly 10x nodes: <= 1.1 is linear."""
    by_shape: dict[str, list[dict]] = {}
    for s in summary:
        by_shape.setdefault(s["shape"], []).append(s)
    for rows in by_shape.values():
        rows.sort(key=lambda s: s["size"])
        for prev, cur in zip(rows, rows[1:]):
            if prev["parse_us"] and cur["parse_us"]:
                cur["scaling"] = cur["parse_us"] / prev["parse_us"]
            if prev["eval_us"] and cur["eval_us"]:
                cur["eval_scaling"] = cur["eval_us"] / prev["eval_us"]


def fmt(x, spec=".2f", none="–"):
    return none if x is None else format(x, spec)


def fmt_size(n: int) -> str:
    e = int(round(math.log10(n))) if n > 0 else 0
    return f"1e{e}" if 10**e == n else f"{n:,}"


def progress_line(row: dict) -> str:
    s = summarize_row(row)
    bits = [f"{s['shape']:>6} {fmt_size(s['size']):>5}: nodes {s['nodes']:,}"]
    if s["error"]:
        bits.append(f"cgraph {s['error']}")
    else:
        bits.append(f"parse {fmt(s['parse_s'], '.3f')} s ({fmt(s['parse_us'])} us/node, peak {fmt(s['peak_mb'], '.0f')} MB)")
        bits.append(f"fwd+bwd {fmt(s['eval_us'], '.3f')} us/node")
    for impl in ("micrograd", "torch"):
        m = s.get(impl)
        if m:
            bits.append(f"{impl} {fmt(m.get('us'), '.2f')} us/node" if "us" in m else f"{impl}: {m['note']}")
    return "; ".join(bits)


def cmp_cell(m, key="us") -> str:
    if m is None:
        return "–"
    if "note" in m:
        return m["note"].split(" (")[0]
    return fmt(m.get(key), ".2f")


def ratio_cell(m) -> str:
    if not m or "ratio" not in m:
        return "–"
    return f"{m['ratio']:.1f}x"


def markdown_table(summary: list[dict]) -> str:
    head = [
        "shape", "nodes", "parse+build s", "parse µs/node", "parse ×10", "peak RSS MB",
        "fwd+bwd s", "fwd+bwd µs/node", "fwd / bwd µs/node", "micrograd µs/node", "torch µs/node",
        "vs micrograd", "vs torch", "same results",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 3) + ["---"]) + "|"]
    for s in summary:
        if s["error"]:
            lines.append(f"| {s['shape']} | {fmt_size(s['size'])} | {s['error']} |" + " |" * (len(head) - 3))
            continue
        checks = []
        for impl in ("micrograd", "torch"):
            m = s.get(impl)
            if m and "check" in m:
                checks.append(m["check"] if m["check"] != "ok" else "✓")
        cells = [
            s["shape"], f"{s['nodes']:,}", fmt(s["parse_s"], ".3f"), fmt(s["parse_us"], ".1f"),
            fmt(s.get("scaling"), ".2f"), fmt(s["peak_mb"], ".0f"), fmt(s["eval_s"], ".4f"), fmt(s["eval_us"], ".3f"),
            f"{fmt(s['fwd_us'], '.3f')} / {fmt(s['bwd_us'], '.3f')}",
            cmp_cell(s.get("micrograd")), cmp_cell(s.get("torch")),
            ratio_cell(s.get("micrograd")), ratio_cell(s.get("torch")),
            " ".join(checks) if checks else "–",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(summary: list[dict], loop_target, startup) -> list[str]:
    out = []

    def line(ok, text):
        out.append(f"- {'PASS' if ok else 'FAIL'}: {text}")

    big = [s for s in summary if not s["error"] and s["size"] >= 10_000 and s["eval_us"] is not None]
    if big:
        worst = max(big, key=lambda s: s["eval_us"])
        line(worst["eval_us"] <= TARGET_EVAL_US,
             f"forward+backward ≤ {TARGET_EVAL_US} µs/node at ≥1e4 nodes: worst {worst['eval_us']:.3f} "
             f"({worst['shape']} {fmt_size(worst['size'])})")
    for impl, target in (("micrograd", TARGET_VS_MICROGRAD), ("torch", TARGET_VS_TORCH)):
        rows = [s for s in big if s.get(impl) and "ratio" in s[impl]]
        notes = sorted({s[impl]["note"] for s in summary if s.get(impl) and "note" in s[impl]})
        if rows:
            worst = min(rows, key=lambda s: s[impl]["ratio"])
            line(worst[impl]["ratio"] >= target,
                 f"≥ {target:.0f}x faster than {impl} at ≥1e4 nodes: worst {worst[impl]['ratio']:.1f}x "
                 f"({worst['shape']} {fmt_size(worst['size'])})" + (f"; not measured where: {', '.join(notes)}" if notes else ""))
        elif notes:
            out.append(f"- SKIP: {impl}: {', '.join(notes)}")
    ok_rows = [s for s in summary if not s["error"] and s["parse_us"] is not None]
    if ok_rows:
        worst = max(ok_rows, key=lambda s: s["parse_us"])
        line(worst["parse_us"] <= TARGET_PARSE_US,
             f"parse+build ≤ {TARGET_PARSE_US:.0f} µs/node everywhere: worst {worst['parse_us']:.1f} "
             f"({worst['shape']} {fmt_size(worst['size'])})")
        sc = [s for s in ok_rows if s.get("scaling")]
        if sc:
            worst = max(sc, key=lambda s: s["scaling"])
            line(worst["scaling"] <= TARGET_SCALING,
                 f"parse+build linear (µs/node grows ≤ {TARGET_SCALING}x per 10x nodes): worst {worst['scaling']:.2f}x "
                 f"({worst['shape']} → {fmt_size(worst['size'])})")
    mil = [s for s in summary if not s["error"] and s["size"] >= 1_000_000 and s["peak_mb"]]
    if mil:
        worst = max(mil, key=lambda s: s["peak_mb"])
        line(worst["peak_mb"] <= TARGET_PEAK_MB,
             f"peak RSS ≤ {TARGET_PEAK_MB:.0f} MB for a 1e6-node file: worst {worst['peak_mb']:.0f} MB ({worst['shape']})")
    err = [s for s in summary if s["error"]]
    for s in err:
        out.append(f"- FAIL: {s['shape']} {fmt_size(s['size'])}: {s['error']}")
    if loop_target:
        runs = loop_target.get("runs")
        if runs:
            tot = median([r["total"] for r in runs])
            p = median([r["parse"] for r in runs])
            e = median([r["eval"] for r in runs])
            line(tot <= TARGET_LOOP_S,
                 f"`for t in 1..{LOOP_TARGET_STEPS:,}` ({runs[0]['nodes']:,} nodes) parse+build+forward+backward ≤ "
                 f"{TARGET_LOOP_S:.0f} s: {tot:.2f} s (parse+build {p:.2f} s, evaluate {e:.2f} s; median of {len(runs)})")
        else:
            out.append(f"- FAIL: loop 1..{LOOP_TARGET_STEPS}: {loop_target.get('error')}")
    if startup:
        for name, ratio in startup.get("ratios", {}).items():
            line(ratio <= TARGET_STARTUP, f"cold start `{name}` ≤ {TARGET_STARTUP}x `python -c \"import lark, rich, click\"`: {ratio:.2f}x")
    return out


# =====================================================================================
# Start-up time
# =====================================================================================


def startup_bench(runs: int) -> dict:
    py = sys.executable
    baseline = f'{py} -c "import lark, rich, click"'
    api = (f'{py} -c "import cgraph; g = cgraph.load(\'samples/intro.cg\'); '
           f'r = cgraph.evaluate(g, dict(x=1, y=3, z=-3)); print(r.value)"')
    commands = {"import lark, rich, click": baseline, "python -c 'import cgraph; load+evaluate'": api}
    cli = Path(py).parent / "cgraph"
    cli_cmd = f"{cli} eval samples/intro.cg --x 1 --y 3 --z -3"
    notes = []
    # As after `pip install`: byte-code caches written and warm. (With PYTHONDONTWRITEBYTECODE
    # set, as on some dev machines, every edited module would be recompiled on each start.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        notes.append("PYTHONDONTWRITEBYTECODE was unset for these runs so that byte-code caches are warm, as after pip install")
    if cli.exists():
        probe = subprocess.run(cli_cmd.split(), capture_output=True, text=True, cwd=str(ROOT), env=env)
        if probe.returncode == 0:
            commands["cgraph eval samples/intro.cg --x 1 --y 3 --z -3"] = cli_cmd
        else:
            notes.append(f"CLI not usable yet (exit {probe.returncode}): measured the python -c fallback only")
    else:
        notes.append("no .venv/bin/cgraph: measured the python -c fallback only")
    hyperfine = shutil.which("hyperfine")
    res: dict = {"tool": "hyperfine" if hyperfine else "subprocess", "notes": notes, "median_ms": {}}
    if hyperfine:
        # Several short hyperfine rounds, commands alternating, so that a slow spell on this
        # shared machine hits every command alike; per command, the median of all its runs.
        rounds = 3
        times: dict[str, list[float]] = {name: [] for name in commands}
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "hf.json"
            for _ in range(rounds):
                cmd = [hyperfine, "-N", "--warmup", "3", "--runs", str(max(runs // rounds, 3)),
                       "--export-json", str(out), "--style", "none"]
                for name, c in commands.items():
                    cmd += ["-n", name, c]
                subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, check=True, env=env)
                for r in json.loads(out.read_text())["results"]:
                    times[r["command"]] += r["times"]
        for name, ts in times.items():
            res["median_ms"][name] = statistics.median(ts) * 1e3
    else:
        import shlex

        for name, c in commands.items():
            argv = shlex.split(c)
            for _ in range(3):
                subprocess.run(argv, cwd=str(ROOT), capture_output=True, env=env)
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run(argv, cwd=str(ROOT), capture_output=True, env=env)
                ts.append(time.perf_counter() - t0)
            res["median_ms"][name] = statistics.median(ts) * 1e3
    base = res["median_ms"]["import lark, rich, click"]
    res["ratios"] = {k: v / base for k, v in res["median_ms"].items() if k != "import lark, rich, click"}
    return res


def startup_table(st: dict) -> str:
    base = st["median_ms"]["import lark, rich, click"]
    lines = ["| cold process | median ms | vs imports |", "|---|---:|---:|"]
    for name, ms in st["median_ms"].items():
        lines.append(f"| `{name}` | {ms:.1f} | {ms / base:.2f}x |")
    return "\n".join(lines)


# =====================================================================================
# Profiling
# =====================================================================================


def profile(shapes: list[str], size: int, top: int, sort: str) -> None:
    import cProfile
    import io
    import pstats

    import cgraph

    for shape in shapes:
        prog = generate(shape, size)
        inputs = prog.inputs()
        for what in ("parse+build", "evaluate"):
            gc.collect()
            pr = cProfile.Profile()
            if what == "parse+build":
                t0 = time.perf_counter()
                pr.enable()
                g = cgraph.parse(prog.text, max_nodes=10 * size)
                pr.disable()
            else:
                t0 = time.perf_counter()
                pr.enable()
                cgraph.evaluate(g, inputs)
                pr.disable()
            wall = time.perf_counter() - t0
            buf = io.StringIO()
            stats = pstats.Stats(pr, stream=buf)
            stats.sort_stats(sort).print_stats(top)
            print(f"\n===== {shape} {fmt_size(size)} ({len(g):,} nodes): {what}, {wall:.2f} s under cProfile =====")
            body = buf.getvalue()
            # drop pstats' preamble up to the column header
            print(body[body.find("   ncalls"):] if "   ncalls" in body else body)


# =====================================================================================


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="sizes 1e3..1e5, fewer repeats (~2 minutes)")
    ap.add_argument("--sizes", help="comma-separated node counts, e.g. 1e4,1e5 (overrides the mode's sizes)")
    ap.add_argument("--shapes", help=f"comma-separated subset of {','.join(SHAPES)}")
    ap.add_argument("--repeats", type=int, help="the same number of repeats for every case")
    ap.add_argument("--no-compare", action="store_true", help="skip micrograd and PyTorch")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold-start measurement")
    ap.add_argument("--no-target", action="store_true", help="skip the `for t in 1..300000` end-to-end case")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per case before it is reported as a timeout")
    ap.add_argument("--json", help="also write all raw results to this file")
    ap.add_argument("--profile", metavar="SHAPES", help="instead of benchmarking, cProfile parse+build and evaluate of these shapes")
    ap.add_argument("--profile-size", type=float, default=1e5)
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--profile-sort", default="tottime", choices=["tottime", "cumulative"])
    args = ap.parse_args()

    if args.profile:
        profile(args.profile.split(","), int(args.profile_size), args.profile_top, args.profile_sort)
        return

    started = time.perf_counter()
    digest = source_digest()
    env = describe_env()
    print(f"# cgraph core benchmark ({'quick' if args.quick else 'full'})", flush=True)
    print(env, flush=True)
    print("running cases (progress on stderr)...", flush=True)
    data = run_cases(args)
    summary = [summarize_row(r) for r in data["rows"]]
    add_scaling(summary)
    startup = None
    if not args.no_startup:
        try:
            startup = startup_bench(runs=10 if args.quick else 30)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            print(f"start-up measurement failed: {exc}", file=sys.stderr)
    print()
    print(markdown_table(summary))
    print()
    notes = sorted({m["note"] for s in summary for impl in ("micrograd", "torch")
                    if (m := s.get(impl)) and "note" in m})
    if notes:
        print("Notes: " + "; ".join(notes))
        print()
    if startup:
        print(startup_table(startup))
        for n in startup["notes"]:
            print(f"\n{n}")
        print(f"\n(start-up measured with {startup['tool']}; medians)")
        print()
    print("Targets:")
    for v in verdicts(summary, data.get("loop_target"), startup):
        print(v)
    load = os.getloadavg()
    print(f"\n(total benchmark time {time.perf_counter() - started:.0f} s; load average over the last 1/5/15 min: "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f})")
    if source_digest() != digest:
        print("Warning: cgraph's sources changed while the benchmark ran: cases measured different code.")
    if load[1] > 1.3:
        print("Warning: something else kept the CPUs busy during the run (the benchmark alone keeps the 5-minute "
              "load average near 1): the absolute numbers are noisy; ratios measured side by side are less affected.")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"env": env, "summary": summary, "raw": data, "startup": startup}, indent=1, default=str))


def source_digest() -> str:
    """A digest of cgraph's sources, to notice them changing while the benchmark runs."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted((ROOT / "cgraph").rglob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def describe_env() -> str:
    bits = [f"Python {platform.python_version()}", platform.machine(), f"{os.cpu_count()} CPUs"]
    try:
        import cgraph

        bits.append(f"cgraph {cgraph.__version__}")
    except Exception:  # noqa: BLE001
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cgraph"], cwd=ROOT, capture_output=True, text=True).stdout
        if rev:
            bits.append(f"commit {rev}" + (" + uncommitted changes in cgraph/" if dirty.strip() else ""))
    except OSError:
        pass
    try:
        import lark

        bits.append(f"lark {lark.__version__}")
    except Exception:  # noqa: BLE001
        pass
    from importlib import metadata

    for mod in ("micrograd", "torch"):
        try:
            bits.append(f"{mod} {metadata.version(mod)}")
        except metadata.PackageNotFoundError:
            bits.append(f"{mod} not installed")
    bits.append("load average %.2f" % os.getloadavg()[0])
    return "(" + ", ".join(bits) + ")"


if __name__ == "__main__":
    main()
