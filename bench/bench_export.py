#!/usr/bin/env python3
"""Benchmark of `cgraph export`: a 1e5-node program exported in <= 5 s, and the module runs.

    .venv/bin/python bench/bench_export.py            # the 1e5-node shapes, python and numpy
    .venv/bin/python bench/bench_export.py --nodes 10000

For each of bench_core.py's shapes (chain, random DAG, one nested expression, RNN-like loop)
at --nodes nodes, and each target (python, numpy): the time of the whole command
`cgraph export FILE --to T -o OUT` (a fresh process: parsing, the gradient graph, writing),
then the time to import the module (Python compiles it) and to run forward and
value_and_grad once, checked against cgraph.evaluate (relative 1e-9: a 1e5-step chain's
rounding). PASS when every export takes <= 5 s. Run by hand; never a timed unit test.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cgraph  # noqa: E402
from bench_core import SHAPES, generate  # noqa: E402

TARGET_SECONDS = 5.0
CGRAPH = str(Path(sys.executable).parent / "cgraph")


def close(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case(shape: str, nodes: int, target: str, work: Path) -> tuple[float, float, float, bool]:
    program = generate(shape, nodes)
    source = work / f"{shape}.cg"
    source.write_text(program.text, encoding="utf-8")
    out = work / f"{shape}_{target}.py"
    start = time.perf_counter()
    subprocess.run([CGRAPH, "export", str(source), "--to", target, "-o", str(out)], check=True, capture_output=True)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    module = load(out)
    import_s = time.perf_counter() - start
    inputs = program.inputs()
    start = time.perf_counter()
    value = module.forward(inputs)
    _, grads = module.value_and_grad(inputs)
    run_s = time.perf_counter() - start
    expected = cgraph.evaluate(cgraph.load(source), inputs)
    right = close(value, expected.value) and all(close(grads[n], g) for n, g in expected.gradients.items())
    return export_s, import_s, run_s, right


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    args = parser.parse_args()
    sys.setrecursionlimit(10_000)
    ok = True
    print(f"{'shape':8} {'target':7} {'export s':>9} {'import s':>9} {'run s':>7}  values")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            for target in ("python", "numpy"):
                export_s, import_s, run_s, right = case(shape, args.nodes, target, Path(tmp))
                ok &= right and export_s <= TARGET_SECONDS
                print(f"{shape:8} {target:7} {export_s:9.2f} {import_s:9.2f} {run_s:7.2f}  {'right' if right else 'WRONG'}")
    print(f"{'PASS' if ok else 'FAIL'}: every export of {args.nodes} nodes in <= {TARGET_SECONDS:g} s, values right")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
