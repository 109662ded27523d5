"""Mutation fuzzing of cgraph's whole path: bytes -> UTF-8 -> parse and build -> evaluate
-> reports (JSON, CSV, plain, table), diagrams (DOT, Mermaid, frames), explain, check, and
`cgraph eval` itself (in-process).

    python fuzz/fuzz_cgraph.py --seconds 60                # atheris if installed, else random mutation
    python fuzz/fuzz_cgraph.py --engine random --seconds 600 --seed 7
    python fuzz/fuzz_cgraph.py --replay FILE ...           # run saved inputs once (exit 1 on a failure)
    python fuzz/fuzz_cgraph.py --minimize FILE             # shrink a saved crasher, keeping its failure

Any exception that is not one of cgraph's own errors (`CgraphError`) is a crash, and so is
a broken invariant (JSON that is not RFC 8259, a DOT text without one node statement per
node). An input that takes more than 2 s of CPU per KB (at least 2 s) is a hang: a watchdog
(SIGVTALRM) stops it. Crashes and hangs are saved under fuzz/crashes/ with their traceback;
the exit status is 1 if there was any.

Seeds: samples/*.cg, tests/fuzz_regressions/*, and the string literals of tests/*.py (read
with the `ast` module; nothing is executed). The random engine keeps a mutated input when
it produces an outcome not seen before (a new error message, or a new set of ops), a cheap
stand-in for coverage guidance; atheris (`pip install '.[fuzz]'`) has the real thing.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import signal
import sys
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CRASHES = os.path.join(HERE, "crashes")
CORPUS = os.path.join(HERE, "corpus")
REGRESSIONS = os.path.join(ROOT, "tests", "fuzz_regressions")

MAX_NODES = 20_000  # bounds the work one input can ask for (loops are refused past it)
MAX_LEN = 64 * 1024  # mutated inputs are cut to this
SECONDS_PER_KB = 2.0
MIN_BUDGET = 2.0
# A short loop may unroll into thousands of nodes: every stage after the build is allowed
# time in proportion to the graph as well (20,000 nodes: 10 s more).
SECONDS_PER_NODE = 0.0005

# Filled by load_target(), after atheris (if used) has set up its instrumentation.
cgraph = CgraphError = None


def load_target() -> None:
    global cgraph, CgraphError
    import cgraph as _cgraph
    import cgraph.engine.gradient_check
    import cgraph.cli
    import cgraph.views.explain
    import cgraph.views.render
    import cgraph.views.render.dot
    import cgraph.views.render.mermaid
    import cgraph.views.report  # noqa: F401

    cgraph = _cgraph
    CgraphError = _cgraph.CgraphError
    cgraph.parse("y = x")  # load the grammar before any input is timed


# --- the target ----------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the watchdog; a BaseException, so no `except Exception` in cgraph swallows it."""


class Broken(AssertionError):
    """An invariant of the output does not hold."""


SLOWDOWN = 1.0  # atheris's coverage instrumentation makes everything a few times slower
# The watchdog counts the CPU time this process spends (SIGVTALRM), not the wall clock: a
# busy machine (CI beside other jobs) must not turn a quick input into a "hang".
WATCHDOG, WATCHDOG_SIGNAL = signal.ITIMER_VIRTUAL, signal.SIGVTALRM


def budget(data: bytes) -> float:
    return SLOWDOWN * max(MIN_BUDGET, SECONDS_PER_KB * len(data) / 1024)


def extend_budget(nodes: int) -> None:
    """Give the running input more time for the graph it built."""
    remaining, _interval = signal.getitimer(WATCHDOG)
    if remaining > 0:
        signal.setitimer(WATCHDOG, remaining + SLOWDOWN * SECONDS_PER_NODE * nodes)


def _strict_json(text: str):
    def refuse(constant):
        raise Broken(f"output is not RFC 8259 JSON: it contains {constant}")

    return json.loads(text, parse_constant=refuse)


_DOT_NODE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*) \[", re.M)


def dot_node_ids(source: str) -> list[str]:
    """The ids of the node statements of DOT text (not graph/node/edge defaults, not edges)."""
    return [m.group(1) for m in _DOT_NODE.finditer(source) if m.group(1) not in ("graph", "node", "edge")]


# dot.py's relay points (an edge from the first column drawn in two stretches: see
# dot._relays) are node statements of their own, not nodes of the scene.
_RELAY = re.compile(r"via[0-9]+_")


def check_dot(scene, source: str) -> None:
    ids = [i for i in dot_node_ids(source) if not _RELAY.match(i)]
    expected = [n.id for n in scene.nodes]
    if sorted(ids) != sorted(expected) or len(set(ids)) != len(ids):
        raise Broken(f"DOT has {len(ids)} node statements for {len(expected)} nodes")
    if source.count("{") != source.count("}") and "<" not in source:
        raise Broken("unbalanced braces in DOT")


def _values(graph, rng: random.Random) -> dict[str, float]:
    pool = [0.5, -1.25, 2.0, 0.0, 1.0, -3.0, 0.1, 1e-300, 1e300, math.inf, -math.inf, math.nan]
    values = {}
    for name in graph.inputs:
        values[name] = rng.choice(pool[:7]) if rng.random() < 0.9 else rng.choice(pool)
    return values


def check_parsers_agree(text: str) -> None:
    """cgraph's LALR loop and Lark's own, on the same tables, give the same tree or the
    same error (tests/test_parser_loop.py does the same on generated programs)."""
    from cgraph.errors import ParseError, Source
    from cgraph.frontend.parser import parse_syntax, parse_syntax_lark
    from cgraph.frontend.syntax import flatten

    outcomes = []
    for parse_with in (parse_syntax, parse_syntax_lark):
        try:
            outcomes.append(flatten(parse_with(Source(text.replace("\r\n", "\n"), "<fuzz>"))))
        except ParseError as exc:
            # Where, and what: the list of what was expected may differ (Lark, parsing
            # from the top of the file, can list more; see tests/test_parser_loop.py).
            outcomes.append((str(exc.location), exc.message.partition("; expected")[0]))
    if outcomes[0] != outcomes[1]:
        raise AssertionError(f"the two parser loops disagree:\n  cgraph: {outcomes[0]!r:.300}\n  Lark:   {outcomes[1]!r:.300}")


def _graph_or_error(parse_with, text: str) -> tuple:
    try:
        graph = parse_with(text)
    except CgraphError as exc:
        return ("error", str(exc))
    nodes = tuple((n.op, n.args, n.value, n.names, n.tags) for n in graph)
    return ("ok", nodes, tuple(graph.positions), tuple(graph.names.items()), graph.outputs, graph.output_names)


def check_graph_paths_agree(text: str) -> None:
    """`cgraph.parse`, which reads a short statement whole once its shape is known and
    may build it straight onto the tape (cgraph/frontend/shapes.py, direct.py), and the
    reference path (Lark's parser, the syntax tree, the builder) give the same graph or
    the same error; the text is also tried twice over, so that its shapes are known
    (tests/test_statement_shortcut.py does the same)."""
    from cgraph.errors import Source
    from cgraph.frontend.builder import build
    from cgraph.frontend.loading import parse
    from cgraph.frontend.parser import parse_syntax_lark

    def reference(text: str):
        source = Source(text.replace("\r\n", "\n"), "<fuzz>")
        return build(parse_syntax_lark(source), source, MAX_NODES)

    body = text if text.endswith("\n") else text + "\n"
    for variant in (text, body * 2):
        mine = _graph_or_error(lambda t: parse(t, "<fuzz>", max_nodes=MAX_NODES), variant)
        theirs = _graph_or_error(reference, variant)
        if mine != theirs:
            raise AssertionError(f"the statement shortcut and the syntax tree disagree:\n  cgraph: {mine!r:.300}\n"
                                 f"  reference: {theirs!r:.300}")


def exercise(data: bytes) -> str:
    """Run one input through everything. Returns an outcome signature; raises on a crash."""
    from cgraph.engine import gradient_check as check
    from cgraph.views import explain, render, report
    from cgraph.cli import run
    from cgraph.frontend.loading import decode, parse
    from cgraph.views.render.dot import to_digraph
    from cgraph.views.render.mermaid import to_mermaid

    rng = random.Random(zlib.crc32(data))
    try:
        text = decode(data, "<fuzz>")
    except CgraphError as exc:
        return "parse:" + _shape(exc)
    if len(text) <= 4096:
        check_parsers_agree(text)
    if len(text) <= 2048:
        check_graph_paths_agree(text)
    try:
        graph = parse(text, "<fuzz>", max_nodes=MAX_NODES)
    except CgraphError as exc:
        return "parse:" + _shape(exc)
    n = len(graph)
    extend_budget(n)
    signature = ["ok", ",".join(sorted(set(graph.ops))), str(min(n, 50) // 10)]
    inputs = _values(graph, rng)
    try:
        ev = cgraph.evaluate(graph, inputs)
    except CgraphError as exc:
        return "eval:" + _shape(exc)
    for name in list(graph.names)[:3]:
        with contextlib.suppress(CgraphError):
            cgraph.evaluate(graph, inputs, output=name)
    with contextlib.suppress(CgraphError):
        cgraph.evaluate(graph, inputs, strict=True)

    show = "all" if n <= 2000 else "named"
    document = _strict_json(report.to_json(ev, show))
    if document["output"] != ev.output_name:
        raise Broken("JSON output name")
    report.to_csv(ev, show)
    report.to_plain(ev, show)
    from rich.console import Console

    table = next((rows for rows in ("all", "named", "inputs") if len(report.rows(ev, rows)) <= 2000), None)
    if table is not None:  # rich takes about a millisecond a row
        Console(file=io.StringIO(), width=100, soft_wrap=False).print(report.to_table(ev, table))

    # Diagrams, with and without values, in a few of their variants.
    options = dict(
        annotate=rng.choice(["values,grads", "values,grads,local", "grads", ""]),
        heat=rng.random() < 0.3, collapse=rng.random() < 0.3, rankdir=rng.choice(["LR", "TB"]),
        theme=rng.choice(["light", "dark"]), precision=rng.randint(1, 17),
    )
    if graph.names and rng.random() < 0.3:
        options["focus"] = rng.choice(list(graph.names))
    for evaluation in (ev, None):
        try:
            scene = render.scene(graph, evaluation, **options)
        except CgraphError as exc:
            signature.append("render:" + _shape(exc))
            break
        check_dot(scene, to_digraph(scene).source)
        to_mermaid(scene)
    if n <= 12:
        for _label, scene in render.frames(graph, ev):
            to_digraph(scene).source

    # explain and check
    try:
        exp = explain.steps(ev, node=rng.choice(list(graph.names)) if graph.names and rng.random() < 0.3 else None)
        explain.to_text(exp)
        explain.to_markdown(exp)
        latex = explain.to_latex(exp)
        if latex.count("\\begin{align*}") != 1 or not latex.endswith("\\end{align*}\n"):
            raise Broken("explain's LaTeX is not one align* environment")
        json.dumps(explain.to_dict(exp), allow_nan=False)
    except CgraphError as exc:
        signature.append("explain:" + _shape(exc))
    if len(graph.inputs) * n <= 20_000:
        check.gradcheck(graph, inputs)

    # The command line, in-process (its own argument handling, input parsing and printing).
    if len(data) <= 4096 and "\x00" not in text:
        formats = ["json", "csv", "plain"] + (["table"] if table == "all" else [])
        argv = ["eval", f"--expr={text}", "--format", rng.choice(formats), "--show", "all" if n <= 2000 else "inputs"]
        for name, value in inputs.items():
            argv += ["--input", f"{name}={value!r}"]
        out, err = io.StringIO(), io.StringIO()
        debug = os.environ.get("CGRAPH_DEBUG")
        os.environ["CGRAPH_DEBUG"] = "1"  # an internal error is raised, with its traceback, not printed
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run(argv)
        finally:
            if debug is None:
                del os.environ["CGRAPH_DEBUG"]
            else:
                os.environ["CGRAPH_DEBUG"] = debug
        if code not in (0, 1, 2):
            raise Broken(f"cgraph eval exited {code}: {err.getvalue()[-500:]}")
        # Python's own header, at the start of a line: a program may well use the name
        # Traceback, and error messages quote the program.
        if re.search(r"^Traceback \(most recent call last\):", err.getvalue(), re.M):
            raise Broken("a traceback on stderr")
    return ":".join(signature)


def _shape(exc: Exception) -> str:
    """An error's kind and message without numbers or quoted text: 'ParseError:unexpected #'."""
    message = re.sub(r"'[^']*'|\d+", "#", getattr(exc, "message", str(exc)))[:60]
    return f"{type(exc).__name__}:{message}"


# --- running one input under the watchdog --------------------------------------------------


class Failure:
    def __init__(self, kind: str, data: bytes, detail: str, key: str):
        self.kind, self.data, self.detail, self.key = kind, data, detail, key


def _on_alarm(signum, frame):
    raise Hang()


def guarded(data: bytes) -> tuple[str | None, Failure | None]:
    """(signature, None) when the input is handled, (None, Failure) for a crash or hang."""
    seconds = budget(data)
    previous = signal.signal(WATCHDOG_SIGNAL, _on_alarm)
    signal.setitimer(WATCHDOG, seconds)
    start = time.process_time()
    try:
        return exercise(data), None
    except Hang as exc:
        elapsed = time.process_time() - start
        detail = f"hang: more than {seconds:.1f} s of CPU ({elapsed:.1f} s) for {len(data)} bytes\n" + _format(exc)
        return None, Failure("hang", data, detail, "hang")
    except RecursionError as exc:
        return None, Failure("crash", data, _format(exc), _key(exc))
    except CgraphError as exc:  # one of cgraph's own errors, from a later stage: fine
        return "late:" + _shape(exc), None
    except Exception as exc:
        return None, Failure("crash", data, _format(exc), _key(exc))
    finally:
        signal.setitimer(WATCHDOG, 0)
        signal.signal(WATCHDOG_SIGNAL, previous)


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _key(exc: BaseException) -> str:
    """Where it failed: the exception type and the innermost frame inside cgraph."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}cgraph{os.sep}" in f.filename] or frames
    where = f"{os.path.basename(inside[-1].filename)}:{inside[-1].lineno}" if inside else "?"
    return f"{type(exc).__name__}@{where}"


def save(failure: Failure) -> str:
    os.makedirs(CRASHES, exist_ok=True)
    digest = hashlib.sha1(failure.data).hexdigest()[:12]
    path = os.path.join(CRASHES, f"{failure.kind}-{digest}.cg")
    with open(path, "wb") as f:
        f.write(failure.data)
    with open(path + ".txt", "w", encoding="utf-8") as f:
        f.write(failure.detail)
    return path


# --- seeds and mutations --------------------------------------------------------------------


def seeds() -> list[bytes]:
    found: list[bytes] = []
    for folder in (os.path.join(ROOT, "samples"), REGRESSIONS):
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        found.append(f.read())
    tests = os.path.join(ROOT, "tests")
    for name in sorted(os.listdir(tests)) if os.path.isdir(tests) else ():
        if name.endswith(".py"):
            with open(os.path.join(tests, name), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and 2 <= len(node.value) <= 4000:
                    found.append(node.value.encode("utf-8", "surrogatepass"))
    unique = list(dict.fromkeys(found))
    return unique or [b"y = x + 1\n"]


TOKENS = [
    b"x", b"y", b"h[t-1]", b"w[i, j]", b"w[i][j]", b" = ", b"+", b"-", b"*", b"/", b"^", b"**", b"(", b")", b"[", b"]",
    b",", b";", b"\n", b"\r\n", b"\\\n", b"# note\n", b"..", b"{", b"}", b"for t in 1..3 { ", b" }", b"input ", b"param ",
    b"output ", b"def f(a, b) = ", b"f(x, y)", b"sum(", b"mean(", b" for i in 1..3)", b"exp(", b"log(", b"sqrt(",
    b"sin(", b"cos(", b"tan(", b"tanh(", b"sigmoid(", b"relu(", b"abs(", b"pow(", b"max(", b"min(", b"uniform(",
    b"0", b"1", b"2.5", b".5", b"1e400", b"1e-400", b"-0", b"999999999999", b"2.", b"1e", b"t", b"i", b"out",
    "é".encode(), "\u00a0".encode(), b"\x00", b"\xff", b"\t", b"\f", b"\r", b"\xef\xbb\xbf", b"`", b"<b>", b"\"", b"|",
]
NUMBERS = [b"0", b"-1", b"1e400", b"1e-400", b"3", b"0.5", b"1000000", b"-3", b"1e308", b"2147483648", b"7"]


def mutate(data: bytes, corpus: list[bytes], rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(1 + min(int(rng.expovariate(0.7)), 8)):
        n = len(buf)
        pick = rng.random()
        i = rng.randint(0, n)
        if pick < 0.12 and n:  # change a byte
            buf[min(i, n - 1)] = rng.choice(b"()[]{}+-*/^=,.;#\n 0123456789xyzt\\_") if rng.random() < 0.7 else rng.randrange(256)
        elif pick < 0.32:  # insert a token of the language (or a hostile one)
            buf[i:i] = rng.choice(TOKENS)
        elif pick < 0.45 and n:  # delete a range
            j = min(n, i + 1 + int(rng.expovariate(0.2)))
            del buf[i:j]
        elif pick < 0.55 and n:  # duplicate a range somewhere
            a = rng.randrange(n)
            b = min(n, a + 1 + int(rng.expovariate(0.05)))
            buf[i:i] = buf[a:b]
        elif pick < 0.65 and len(corpus) > 1:  # splice with another input
            other = rng.choice(corpus)
            j = rng.randint(0, len(other))
            buf = buf[:i] + bytearray(other[j:])
        elif pick < 0.75:  # swap a number for an interesting one
            spans = [m.span() for m in re.finditer(rb"\d+(\.\d*)?([eE][+-]?\d+)?", bytes(buf))]
            if spans:
                a, b = rng.choice(spans)
                buf[a:b] = rng.choice(NUMBERS)
        elif pick < 0.85 and n:  # wrap a range in a call or parentheses
            a, b = sorted((rng.randint(0, n), rng.randint(0, n)))
            head = rng.choice([b"(", b"tanh(", b"-(", b"max(1, ", b"sum(", b"exp("])
            buf[b:b] = b")"
            buf[a:a] = head
        elif pick < 0.92 and n:  # repeat a chunk: deep nesting, long lines
            a = rng.randrange(n)
            b = min(n, a + 1 + rng.randrange(8))
            buf[a:a] = buf[a:b] * rng.randint(2, 200)
        else:  # swap two lines
            lines = bytes(buf).split(b"\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
                buf = bytearray(b"\n".join(lines))
    return bytes(buf[:MAX_LEN])


# --- engines --------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.executions = 0
        self.failures: dict[str, str] = {}  # key -> saved path
        self.start = time.perf_counter()

    def report(self, corpus_size: int, engine: str) -> dict:
        elapsed = time.perf_counter() - self.start
        return {
            "engine": engine, "seconds": round(elapsed, 1), "executions": self.executions,
            "executions_per_second": round(self.executions / elapsed, 1) if elapsed else 0.0,
            "corpus": corpus_size, "failures": len(self.failures), "saved": sorted(self.failures.values()),
        }


def run_random(seconds: float, seed: int | None, max_runs: int | None, stats_path: str | None, quiet: bool) -> int:
    load_target()
    rng = random.Random(seed)
    corpus = seeds()
    seen: set[str] = set()
    stats = Stats()

    def one(data: bytes) -> None:
        signature, failure = guarded(data)
        stats.executions += 1
        if failure is not None:
            if failure.key not in stats.failures:
                path = save(failure)
                stats.failures[failure.key] = path
                print(f"FOUND {failure.kind} ({failure.key}): saved {path}", file=sys.stderr)
                print(failure.detail.rstrip()[-3000:], file=sys.stderr)
            return
        if signature not in seen:
            seen.add(signature)
            if data not in corpus:
                corpus.append(data)

    for data in list(corpus):  # every seed once, as it is
        one(data)
    deadline = stats.start + seconds
    last_note = time.perf_counter()
    while time.perf_counter() < deadline and (max_runs is None or stats.executions < max_runs):
        one(mutate(rng.choice(corpus), corpus, rng))
        if len(stats.failures) >= 20:
            break
        if not quiet and time.perf_counter() - last_note > 30:
            last_note = time.perf_counter()
            print(f"  {stats.executions} executions, corpus {len(corpus)}, failures {len(stats.failures)}", file=sys.stderr)
    figures = stats.report(len(corpus), "random")
    print(
        f"fuzz (random mutation): {figures['executions']} executions in {figures['seconds']} s "
        f"({figures['executions_per_second']}/s), corpus {figures['corpus']}, crashes and hangs: {figures['failures']}",
        file=sys.stderr,
    )
    if stats_path:
        with open(stats_path, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
    return 1 if stats.failures else 0


def run_atheris(seconds: float, extra: list[str]) -> int:
    import atheris

    global SLOWDOWN
    SLOWDOWN = 5.0
    with atheris.instrument_imports(include=["cgraph", "lark"]):
        load_target()
    os.makedirs(CORPUS, exist_ok=True)
    os.makedirs(CRASHES, exist_ok=True)
    for data in seeds():
        with open(os.path.join(CORPUS, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)

    def test_one_input(data: bytes) -> None:
        _signature, failure = guarded(data)
        if failure is not None:
            path = save(failure)
            raise RuntimeError(f"{failure.kind} ({failure.key}), saved {path}:\n{failure.detail}")

    argv = [
        sys.argv[0], CORPUS, f"-max_total_time={int(seconds)}", "-timeout=0", f"-max_len={MAX_LEN}",
        f"-artifact_prefix={CRASHES}{os.sep}", "-print_final_stats=1", *extra,
    ]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


def replay(paths: list[str]) -> int:
    load_target()
    failed = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        signature, failure = guarded(data)
        if failure is None:
            print(f"ok    {path}  {signature[:80]}")
        else:
            failed += 1
            print(f"FAIL  {path}\n{failure.detail}")
    return 1 if failed else 0


def minimize(path: str) -> int:
    """Delete chunks (halving their size) while the input fails the same way."""
    load_target()
    with open(path, "rb") as f:
        data = f.read()
    _, failure = guarded(data)
    if failure is None:
        print(f"{path} does not fail", file=sys.stderr)
        return 1
    key = failure.key
    chunk = max(1, len(data) // 2)
    while chunk >= 1:
        i = 0
        while i < len(data):
            candidate = data[:i] + data[i + chunk :]
            _, f = guarded(candidate)
            if f is not None and f.key == key:
                data = candidate
            else:
                i += chunk
        chunk //= 2
    out = path + ".min"
    with open(out, "wb") as f:
        f.write(data)
    print(f"{len(data)} bytes, still {key}: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto",
                        help="atheris (coverage-guided, `pip install '.[fuzz]'`), random (built in), auto: atheris if installed")
    parser.add_argument("--seed", type=int, help="seed of the random engine (default: a fresh one)")
    parser.add_argument("--runs", type=int, help="stop after this many executions (random engine)")
    parser.add_argument("--stats", metavar="FILE.json", help="write the run's figures here (random engine)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs once and report")
    parser.add_argument("--minimize", metavar="FILE", help="shrink a crashing input")
    args, extra = parser.parse_known_args(argv)
    sys.setrecursionlimit(sys.getrecursionlimit())  # cgraph must not need more: left as it is
    if args.replay:
        return replay(args.replay)
    if args.minimize:
        return minimize(args.minimize)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    if engine == "atheris":
        return run_atheris(args.seconds, extra)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"fuzz: random mutation for {args.seconds:g} s, seed {seed} (atheris not used)", file=sys.stderr)
    return run_random(args.seconds, seed, args.runs, args.stats, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
