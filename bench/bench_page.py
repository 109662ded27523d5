#!/usr/bin/env python3
"""Benchmark of the interactive page (`cgraph render -o FILE.html`) in Debian's headless
Chromium: how long a large graph's page takes to load and become interactive, and how
long a slider change takes to recompute and redraw.

    .venv/bin/python bench/bench_page.py              # 2,000 nodes, 5 loads, 30 changes
    .venv/bin/python bench/bench_page.py --profile    # also the page script's own profile
    .venv/bin/python bench/bench_page.py --trace      # also where each change's frame goes
    .venv/bin/python bench/bench_page.py --nodes 500 --loads 3

Targets: the page of a 2,000-node graph (bench_core.py's random DAG) interactive in <= 1 s
(from navigation start to the end of the page's start-up script, or to the first paint if
that is later); a slider change recomputed and redrawn in <= 16 ms (one frame at 60 Hz:
from the slider's input event to the end of the frame that shows it). Also the size of
samples/rnn.cg's page (target <= 300 KB). Medians of several runs; the machine is shared,
so the load average is printed beside them. Run by hand; never a timed unit test.

--profile records the page's start-up with Chrome's sampling profiler (the DevTools
protocol's Profiler domain, through selenium) and a burst of slider changes, and prints
the functions that cost the most self time. --trace records Chrome's own trace (its
devtools.timeline events, through chromedriver's performance log) over slider changes and
prints, per change, the median time of each phase of the frame that draws it: script,
style, layout, compositing inputs, pre-paint, paint, layerize, intersection observers.
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
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import cgraph  # noqa: E402
from cgraph.views.page import page  # noqa: E402
from cgraph.views.render import options  # noqa: E402

from bench_core import generate  # noqa: E402

LOAD_TARGET_MS = 1000.0
CHANGE_TARGET_MS = 16.0
RNN_TARGET_BYTES = 300 * 1024

# From navigation start: the end of the first frame drawn after the page's start-up script
# (its "cgraph:drawn" mark), and the first paint; interactive at the later of the two.
LOAD_TIMES = """
const nav = performance.getEntriesByType("navigation")[0];
const ready = performance.getEntriesByName("cgraph:drawn")[0];
const paint = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
return {ready: ready ? ready.startTime : null, paint: paint ? paint.startTime : null,
        dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
"""

# One slider change: the input event (as a drag sends it), then the frame that draws it:
# the page recomputes in a requestAnimationFrame callback; ours is queued after it, and
# the timeout after that runs once the frame's style, layout and paint are done.
CHANGE = """
const done = arguments[arguments.length - 1];
const slider = document.querySelectorAll("#controls input[type=range]")[arguments[0]];
const value = Number(slider.min) + (Number(slider.max) - Number(slider.min)) * arguments[1];
const t0 = performance.now();
slider.value = String(value);
slider.dispatchEvent(new Event("input"));
let script = null;
requestAnimationFrame(() => {
  script = performance.now() - t0;
  setTimeout(() => done({script, frame: performance.now() - t0}), 0);
});
"""


WINDOW = "1400,900"  # the tests' window (tests/test_html_page.py)


def browser(trace: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        sys.exit("chromium and chromium-driver are needed (make system-packages)")
    chrome = webdriver.ChromeOptions()
    chrome.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={WINDOW}",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update"):
        chrome.add_argument(flag)
    if trace:
        chrome.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        chrome.add_experimental_option("perfLoggingPrefs", {"enableNetwork": False, "enablePage": False,
                                                            "traceCategories": "devtools.timeline,disabled-by-default-devtools.timeline,blink,cc"})
    session = webdriver.Chrome(service=Service(driver), options=chrome)
    session.set_script_timeout(60)
    return session


def build_page(shape: str, nodes: int, directory: Path) -> tuple[Path, int, float]:
    """The page of an n-node random DAG: its path, its graph's size and the build time."""
    program = generate(shape, nodes)
    graph = cgraph.parse(program.text, f"{shape}.cg")
    start = time.perf_counter()
    ev = cgraph.evaluate(graph, program.inputs())
    text = page(graph, ev, options(max_render_nodes=max(nodes, 2000) + 100), f"{shape}.cg")
    seconds = time.perf_counter() - start
    path = directory / f"{shape}-{nodes}.html"
    path.write_text(text, encoding="utf-8")
    return path, len(graph.ops), seconds


def rnn_page_size(directory: Path) -> int:
    """The size of the file `cgraph render samples/rnn.cg -o rnn.html` writes."""
    target = directory / "rnn.html"
    subprocess.run([sys.executable, "-c", "from cgraph.cli import main; main()", "render", str(ROOT / "samples" / "rnn.cg"), "-o", str(target)],
                   check=True, capture_output=True)
    return target.stat().st_size


def measure_loads(session, path: Path, loads: int) -> list[dict]:
    runs = []
    for _ in range(loads):
        session.get("about:blank")
        session.get(path.as_uri())
        times = session.execute_script(LOAD_TIMES)
        times["interactive"] = max(t for t in (times["ready"], times["paint"]) if t is not None)
        runs.append(times)
    return runs


def measure_changes(session, changes: int, shift: float = 0.0) -> list[dict]:
    """`changes` slider moves, each to a new place (`shift`: another run's places, so
    that each move changes the numbers)."""
    count = session.execute_script("return document.querySelectorAll('#controls input[type=range]').length")
    return [session.execute_async_script(CHANGE, k % count, (k * 0.37 + shift) % 1.0) for k in range(changes)]


METRICS = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "TaskDuration")


def metrics(session) -> dict[str, float]:
    """Chrome's own counters of the page (seconds spent in script, style, layout, tasks)."""
    found = session.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return {m["name"]: m["value"] for m in found if m["name"] in METRICS}


def breakdown(session, path: Path, changes: int) -> None:
    """Where a load and the slider changes spend their time, by Chrome's counters."""
    session.get("about:blank")
    session.execute_cdp_cmd("Performance.enable", {})
    session.get(path.as_uri())
    loaded = metrics(session)
    measure_changes(session, changes)
    after = metrics(session)
    session.execute_cdp_cmd("Performance.disable", {})
    print("\nChrome's counters (ms): " + ", ".join(f"{k} load {1000 * loaded[k]:.0f} / per change "
                                                    f"{1000 * (after[k] - loaded[k]) / changes:.1f}" for k in METRICS))


def profile(session, path: Path, top: int = 15) -> None:
    """Chrome's sampling profiler over a load and 20 slider changes: self time per function."""
    session.get("about:blank")
    session.execute_cdp_cmd("Profiler.enable", {})
    session.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 100})
    session.execute_cdp_cmd("Profiler.start", {})
    session.get(path.as_uri())
    measure_changes(session, 20)
    result = session.execute_cdp_cmd("Profiler.stop", {})["profile"]
    session.execute_cdp_cmd("Profiler.disable", {})
    nodes = {node["id"]: node for node in result["nodes"]}
    self_us: dict[str, float] = {}
    deltas = result.get("timeDeltas", [])
    for sample, delta in zip(result.get("samples", []), deltas[1:] + [0]):
        frame = nodes[sample]["callFrame"]
        key = f"{frame['functionName'] or '(anonymous)'}:{frame['lineNumber'] + 1}" if frame["url"] else frame["functionName"]
        self_us[key] = self_us.get(key, 0.0) + delta
    total = sum(self_us.values()) or 1.0
    print(f"\nprofile (self time, {total / 1000:.0f} ms sampled):")
    for key, us in sorted(self_us.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1000:8.1f} ms  {100 * us / total:5.1f}%  {key}")


# Chrome's trace events of a frame's phases, by the names the report uses.
PHASES = {"FunctionCall": "script", "Blink.Style.UpdateTime": "style", "Blink.Layout.UpdateTime": "layout",
          "Blink.CompositingInputs.UpdateTime": "compositing inputs", "Blink.PrePaint.UpdateTime": "pre-paint",
          "Blink.Paint.UpdateTime": "paint", "Layerize": "layerize", "Blink.IntersectionObservation.UpdateTime": "observers"}


def trace(path: Path, changes: int) -> None:
    """Chrome's trace over slider changes (after the page has loaded and settled): each
    frame's phases on the page's main thread, medians over the frames."""
    import json

    session = browser(trace=True)
    try:
        session.get(path.as_uri())
        time.sleep(1.5)
        session.execute_script("console.timeStamp('cgraph-bench')")  # the trace's start of the changes
        measure_changes(session, changes)
        events = []
        for entry in session.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Tracing.dataCollected":  # chromedriver: one event a message
                events.extend(message["params"].get("value", [message["params"]]))
    finally:
        session.quit()
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    start = min((e["ts"] for e in events if e.get("name") == "TimeStamp"), default=0)
    main = sorted((e for e in events if e.get("ph") == "X" and e["ts"] >= start
                   and names.get((e["pid"], e["tid"])) == "CrRendererMain"), key=lambda e: e["ts"])
    frames = [e for e in main if e["name"] == "ProxyMain::BeginMainFrame"]
    phases: dict[str, list[float]] = {name: [] for name in ["frame", *PHASES.values()]}
    for frame in frames:
        end = frame["ts"] + frame["dur"]
        spent = dict.fromkeys(PHASES.values(), 0.0)
        for e in main:
            if frame["ts"] <= e["ts"] <= end and e["name"] in PHASES:
                spent[PHASES[e["name"]]] += e["dur"] / 1000
        phases["frame"].append(frame["dur"] / 1000)
        for name, ms in spent.items():
            phases[name].append(ms)
    if not frames:
        print("\ntrace: no frame recorded")
        return
    print(f"\nChrome's trace, {len(frames)} frames of slider changes (median ms of each phase on the main thread): "
          + ", ".join(f"{name} {statistics.median(ms):.1f}" for name, ms in phases.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--shape", choices=["loop", "chain", "dag"], default="loop",
                        help="bench_core.py's generator (Graphviz lays a 2,000-node random dag out in minutes)")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--trace", action="store_true", help="Chrome's trace of the slider changes' frames, by phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, ops, build = build_page(args.shape, args.nodes, Path(tmp))
        size = path.stat().st_size
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
              f" (2 cores, shared); headless Chromium, window {WINDOW.replace(',', ' x ')}")
        print(f"page of a {ops}-node {args.shape}: {size / 1024:.0f} KB, built in {build:.2f} s (Graphviz's layout included)")
        session = browser()
        try:
            loads = measure_loads(session, path, args.loads)
            changes = measure_changes(session, args.changes)  # at once after the load: V8 not warmed up yet
            warm = measure_changes(session, args.changes, 0.5)  # again: its code optimized, the page settled
            if args.profile:
                breakdown(session, path, args.changes)
                profile(session, path)
        finally:
            session.quit()
        if args.trace:
            trace(path, args.changes)
    interactive = statistics.median(run["interactive"] for run in loads)
    frame = statistics.median(c["frame"] for c in changes)
    script = statistics.median(c["script"] for c in changes)
    print(f"\nload -> interactive: median {interactive:.0f} ms over {len(loads)} loads "
          f"({', '.join(format(run['interactive'], '.0f') for run in loads)}); "
          f"script done {statistics.median(r['ready'] for r in loads):.0f} ms, "
          f"first paint {statistics.median(r['paint'] or 0 for r in loads):.0f} ms")
    print(f"slider change -> drawn: median {frame:.1f} ms (recomputed and written: {script:.1f} ms), "
          f"max {max(c['frame'] for c in changes):.1f} ms over {len(changes)} changes")
    print(f"  again, warmed up: median {statistics.median(c['frame'] for c in warm):.1f} ms "
          f"(recomputed and written: {statistics.median(c['script'] for c in warm):.1f} ms)")
    with tempfile.TemporaryDirectory() as tmp:
        rnn = rnn_page_size(Path(tmp))
    print(f"samples/rnn.cg's page: {rnn / 1024:.0f} KB ({rnn} bytes)")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    for name, ok in (("load <= 1 s", interactive <= LOAD_TARGET_MS), ("change <= 16 ms", frame <= CHANGE_TARGET_MS),
                     ("rnn page <= 300 KB", rnn <= RNN_TARGET_BYTES)):
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
