"""Faults in the environment, through the installed `cgraph` script in subprocesses: a
reader that goes away, Ctrl-C, a full disk (`ulimit -f`), missing and read-only places to
write, Graphviz missing, hanging or killed. Each ends with a clear message and the right
exit code, and never leaves a partial file behind.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cgraph
from cgraph.views import render
from support.paths import SAMPLES
from support.runner import cgraph_script, run_script, script_env

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def clean(proc, code: int) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}: {err[-2000:]}"
    assert "Traceback" not in err and "Exception ignored" not in err and "internal error" not in err, err
    return err


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def loop_file(directory: Path, steps: int, name: str = "big.cg") -> Path:
    path = directory / name
    path.write_text(f"for t in 1..{steps} {{\n    h[t] = tanh(w*h[t-1] + x)\n}}\n")
    return path


BIG_INPUTS = ("--w", "0.5", "--x", "0.1", "--h", "0")


# --- the reader goes away --------------------------------------------------------------------

PIPED = [
    ["eval", "{big}", *BIG_INPUTS, "--show", "all", "--format", "plain"],
    ["eval", "{big}", *BIG_INPUTS, "--show", "all", "--format", "json"],
    ["eval", "{big}", *BIG_INPUTS, "--show", "all"],
    ["explain", "{big}", *BIG_INPUTS, "--max-steps", "100000"],
    ["explain", "{big}", *BIG_INPUTS, "--max-steps", "100000", "--format", "markdown"],
    ["render", "{big}", *BIG_INPUTS, "--max-render-nodes", "100000", "-o", "-", "--format", "dot"],
    ["render", "{big}", "--max-render-nodes", "100000", "-o", "-", "--format", "mermaid"],
    ["check", str(SAMPLES / "mlp.cg")],
    ["--help"],
]


@pytest.mark.parametrize("argv", PIPED, ids=lambda a: " ".join(x for x in a if not x.startswith("{"))[:40])
def test_a_closed_pipe_ends_quietly(tmp_path, argv):
    """`cgraph ... | head -c 1`: no BrokenPipeError traceback, exit 0."""
    big = loop_file(tmp_path, 1500)  # output well past a pipe's buffer
    command = " ".join(f"'{a}'" for a in [*cgraph_script(), *(a.format(big=big) for a in argv)])
    proc = subprocess.run(["bash", "-c", f"{command} 2>err.txt | head -c 1 >/dev/null; echo ${{PIPESTATUS[0]}}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=script_env())
    err = (tmp_path / "err.txt").read_text()
    assert proc.stdout.strip() == "0", f"exit {proc.stdout.strip()}: {err}"
    assert err == "", err


def big_csv(directory: Path, rows: int = 20000) -> Path:
    path = directory / "big.csv"
    path.write_text("x,y\n" + "".join(f"{i / rows},{2 * i / rows + 1}\n" for i in range(rows)))
    return path


# Every command whose standard output outgrows a pipe's buffer (64 KB) by far.
BIG_OUTPUTS = [
    ["eval", SAMPLES / "linreg.cg", "--data", "{csv}"],
    ["eval", SAMPLES / "linreg.cg", "--data", "{csv}", "--format", "jsonl"],
    ["train", SAMPLES / "linreg.cg", "--data", "{csv}", "--batch-size", "1", "--epochs", "1", "--trace", "5000"],
    ["eval", "{big}", *BIG_INPUTS, "--show", "all"],
    ["eval", "{big}", *BIG_INPUTS, "--show", "all", "--format", "csv"],
    ["explain", "{big}", *BIG_INPUTS, "--max-steps", "100000"],
    ["explain", "{big}", *BIG_INPUTS, "--max-steps", "100000", "--format", "json"],
    ["render", "{big}", *BIG_INPUTS, "--max-render-nodes", "100000", "-o", "-", "--format", "dot"],
]


@pytest.mark.parametrize("argv", BIG_OUTPUTS, ids=lambda a: " ".join(str(x) for x in a if "{" not in str(x))[-50:])
def test_a_reader_that_stops_after_one_line(tmp_path, argv):
    """`cgraph ... | head -1` past the pipe's buffer: exit 0, nothing on stderr."""
    fill = {"big": loop_file(tmp_path, 1500), "csv": big_csv(tmp_path)}
    proc = subprocess.Popen([*cgraph_script(), *(str(a).format(**fill) for a in argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=script_env())
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line
    err = proc.stderr.read().decode("utf-8", "replace")
    code = proc.wait(timeout=120)
    assert first, err
    assert code == 0 and err == "", f"exit {code}: {err}"


FULL_STDOUT = [
    ["eval", "-e", "x", "--x", "1"],
    ["eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"],
    ["eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "json"],
    ["eval", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv"],
    ["explain", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"],
    ["explain", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "markdown"],
    ["check", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"],
    ["check", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "json"],
    ["render", SAMPLES / "intro.cg", "-o", "-", "--format", "dot"],
    ["render", SAMPLES / "intro.cg", "-o", "-", "--format", "mermaid"],
    ["train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "--epochs", "2"],
    ["train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "--epochs", "2", "--trace", "2"],
    ["--help"],
    ["eval", "--help"],
    ["--version"],
]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("argv", FULL_STDOUT, ids=lambda a: " ".join(str(x) for x in a)[-50:])
def test_a_full_standard_output_is_an_output_error(tmp_path, argv):
    """`cgraph ... > /dev/full`: one line saying so, exit 1 (an output error), as -o /dev/full."""
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([*cgraph_script(), *map(str, argv)], stdout=full, stderr=subprocess.PIPE,
                              cwd=tmp_path, env=script_env(), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, f"exit {proc.returncode}: {err}"
    assert err == "error: cannot write standard output: No space left on device\n", err


@pytest.mark.parametrize("argv", FULL_STDOUT, ids=lambda a: " ".join(str(x) for x in a)[-50:])
def test_a_closed_standard_output_is_an_output_error(tmp_path, argv):
    """`cgraph ... >&-`: output to nowhere is one line and exit 1 (as `echo >&-`), not a crash."""
    proc = subprocess.run([*cgraph_script(), *map(str, argv)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          cwd=tmp_path, env=script_env(), timeout=120, preexec_fn=lambda: os.close(1))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, f"exit {proc.returncode}: {err}"
    assert err == "error: cannot write standard output: Bad file descriptor\n", err


PIPED_TABLES = [
    ["eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"],
    ["eval", SAMPLES / "mlp.cg", "--show", "all"],
    ["eval", SAMPLES / "rnn.cg", "--x", "0.1,0.2,0.3,0.4,0.5", "--show", "inputs"],
    ["check", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"],
    ["check", SAMPLES / "mlp.cg"],
    ["train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "--epochs", "3"],
    ["train", SAMPLES / "xor.cg", "--data", SAMPLES / "xor.csv", "--epochs", "30", "--optimizer", "adam", "--lr", "0.1"],
]


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "FORCE_COLOR"])
@pytest.mark.parametrize("argv", PIPED_TABLES, ids=lambda a: " ".join(str(x) for x in a)[-50:])
def test_piped_tables_have_no_trailing_spaces(tmp_path, argv, colour):
    """rich pads every line of a table (its title, its caption, a short last column) to the
    table's width; on a pipe those spaces are noise for diff and grep (`grep -c ' $'` is 0)."""
    env = script_env(FORCE_COLOR="1") if colour else script_env()
    proc = run_script(*argv, cwd=tmp_path, env=env)
    clean(proc, 0)
    out = proc.stdout.decode()
    assert "\u2503" in out or "\u2502" in out, out  # a table was printed
    ends = [line for line in out.splitlines() if re.search(r"[ \t](\x1b\[[0-9;]*m)*$", line)]
    assert ends == [], ends


def test_a_table_written_to_a_file_has_no_trailing_spaces(tmp_path):
    clean(run_script("eval", SAMPLES / "mlp.cg", "--show", "all", "-o", tmp_path / "t.txt"), 0)
    text = (tmp_path / "t.txt").read_text()
    assert "\u2503" in text and not [line for line in text.splitlines() if line != line.rstrip()]


# --- Ctrl-C ----------------------------------------------------------------------------------


def _interrupt_after(argv, seconds: float, cwd: Path, env=None):
    proc = subprocess.Popen([*cgraph_script(), *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=env or script_env())
    time.sleep(seconds)
    assert proc.poll() is None, "the command finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err.decode("utf-8", "replace")


@pytest.mark.slow
def test_ctrl_c_during_a_long_evaluation(tmp_path):
    big = loop_file(tmp_path, 340_000)  # about a million nodes
    code, out, err = _interrupt_after(["eval", big, *BIG_INPUTS, "--show", "inputs"], 1.5, tmp_path)
    assert code == 130, err
    assert err == "cgraph: interrupted\n"  # one line, no traceback
    assert out == b""


# Ctrl-C at the start: the script's `main`, with KeyboardInterrupt raised at one point of
# start-up (as the default SIGINT handler would raise it there).
_INTERRUPT_AT = {
    "parsing the options": "import click; click.Group.parse_args = boom",
    "importing the command": "import importlib; real = importlib.import_module\n"
                             "importlib.import_module = lambda name, *a: boom() if name.endswith('_cmd') else real(name, *a)",
    "reading the program": "import cgraph.cli.common as c; c.load = c.parse = boom",
    "starting the group": "import cgraph.cli as c; c.cli.main = boom",
}
EVAL_INTRO = ["eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3"]
TRAIN_LINREG = ["train", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv"]


@pytest.mark.parametrize("where, argv", [
    ("parsing the options", EVAL_INTRO), ("parsing the options", TRAIN_LINREG), ("parsing the options", ["--help"]),
    ("importing the command", EVAL_INTRO), ("importing the command", TRAIN_LINREG),
    ("reading the program", EVAL_INTRO), ("reading the program", TRAIN_LINREG), ("starting the group", EVAL_INTRO),
], ids=lambda x: x if isinstance(x, str) else str(x[0]))
def test_ctrl_c_during_start_up(tmp_path, where, argv):
    code = ("def boom(*args, **kwargs):\n    raise KeyboardInterrupt\n"
            f"{_INTERRUPT_AT[where]}\nfrom cgraph.cli import main\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, cwd=tmp_path,
                          env=script_env(), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 130, f"exit {proc.returncode}: {err}"
    assert err == "cgraph: interrupted\n", err  # one line: no traceback, no blank line before it
    assert proc.stdout == b""


def test_ctrl_c_while_reading_the_program_from_stdin(tmp_path):
    """A real SIGINT while `cgraph eval -` waits for its program."""
    proc = subprocess.Popen([*cgraph_script(), "eval", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=script_env())
    time.sleep(1.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode() == "cgraph: interrupted\n" and out == b"", err


def _fake_dot(directory: Path, body: str) -> Path:
    """A `dot` program of our own, first on PATH."""
    bin_dir = directory / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    dot = bin_dir / "dot"
    dot.write_text(f"#!/bin/sh\necho $$ > '{directory}/dot.pid'\n{body}\n")
    dot.chmod(0o755)
    return bin_dir


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie that init has not reaped yet is gone too
        return f.read().split(") ", 1)[1].startswith("Z")


@pytest.mark.slow
def test_ctrl_c_during_a_render_stops_graphviz_and_writes_nothing(tmp_path):
    bin_dir = _fake_dot(tmp_path, "exec sleep 60")
    env = script_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    work = tmp_path / "out"
    work.mkdir()
    code, _out, err = _interrupt_after(["render", SAMPLES / "rnn.cg", "-o", work / "rnn.svg"], 1.5, tmp_path, env)
    assert code == 130 and err == "cgraph: interrupted\n", err
    assert listing(work) == {}
    assert _gone(int((tmp_path / "dot.pid").read_text()))


# --- writing files ---------------------------------------------------------------------------


def _small_file_limit(limit: int):
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


def test_disk_full_leaves_no_partial_file(tmp_path):
    work = tmp_path / "out"
    work.mkdir()
    (work / "old.dot").write_bytes(b"the old diagram\n")
    for target in ("new.dot", "old.dot"):
        proc = run_script("render", SAMPLES / "rnn.cg", "-o", work / target, preexec_fn=_small_file_limit(2000))
        err = clean(proc, 1)
        assert "cannot write" in err and "File too large" in err
        assert listing(work) == {"old.dot": b"the old diagram\n"}  # nothing new, nothing truncated, no temp file
    proc = run_script("render", SAMPLES / "rnn.cg", "-o", work / "old.dot")  # and without the limit it works
    clean(proc, 0)
    assert (work / "old.dot").read_bytes().startswith(b"digraph")


def test_rows_on_a_full_disk_leave_no_partial_file(tmp_path):
    work = tmp_path / "out"
    work.mkdir()
    proc = run_script("eval", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "-o", work / "rows.csv",
                      preexec_fn=_small_file_limit(2000))
    err = clean(proc, 1)
    assert err.startswith(f"error: cannot write -o {work / 'rows.csv'}: File too large"), err  # names its option
    assert listing(work) == {}


def test_frames_on_a_full_disk(tmp_path):
    argv = ["render", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "dot", "--frames"]
    clean(run_script(*argv, tmp_path / "all"), 0)
    whole = listing(tmp_path / "all")
    sizes = sorted(len(data) for data in whole.values())
    limit = sizes[len(sizes) // 2]  # half the frames fit
    err = clean(run_script(*argv, tmp_path / "some", preexec_fn=_small_file_limit(limit)), 1)
    assert "File too large" in err
    written = listing(tmp_path / "some")
    assert written and all(whole[name] == data for name, data in written.items()), "only whole frames"
    assert not [p for p in (tmp_path / "some").iterdir() if p.name.startswith(".")]


def test_missing_directory(tmp_path):
    err = clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / "no" / "such" / "dir.svg"), 1)
    assert "does not exist" in err and len(err.splitlines()) == 1


def test_output_that_names_the_input_is_refused(tmp_path):
    prog = tmp_path / "model.cg"
    prog.write_text("y = x * 2\n")
    (tmp_path / "link.cg").symlink_to(prog)
    os.link(prog, tmp_path / "hard.cg")
    for target in (prog, tmp_path / "link.cg", tmp_path / "hard.cg"):
        err = clean(run_script("render", prog, "--format", "dot", "-o", target), 2)
        assert f"-o {target} would overwrite the program {prog}" in err
    assert prog.read_text() == "y = x * 2\n"


def test_read_only_file_is_not_replaced(tmp_path):
    target = tmp_path / "keep.dot"
    target.write_text("precious\n")
    target.chmod(0o444)
    err = clean(run_script("render", SAMPLES / "intro.cg", "-o", target), 1)
    assert "read-only" in err
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.dot"]


def test_a_symlink_keeps_pointing_at_the_new_diagram(tmp_path):
    real = tmp_path / "real.dot"
    real.write_text("old\n")
    (tmp_path / "link.dot").symlink_to(real)
    clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / "link.dot"), 0)
    assert (tmp_path / "link.dot").is_symlink()
    assert real.read_text().startswith("digraph")


def test_a_device_is_written_to_not_replaced():
    clean(run_script("render", SAMPLES / "intro.cg", "--format", "dot", "-o", os.devnull), 0)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_directory_is_refused(tmp_path):
    err = clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path), 1)
    assert "is a directory" in err


@pytest.fixture
def locked(tmp_path):
    """A directory nothing can be written into: read-only by its mode, or for root (whom
    modes do not stop) immutable (chattr +i)."""
    path = tmp_path / "locked"
    path.mkdir()
    if not IS_ROOT:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and this file system cannot make a directory immutable")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-i", str(path)], capture_output=True)


def test_read_only_directory(locked):
    err = clean(run_script("render", SAMPLES / "intro.cg", "--format", "dot", "-o", locked / "intro.dot"), 1)
    assert err.startswith(f"error: cannot write -o {locked / 'intro.dot'}: ") and len(err.splitlines()) == 1
    assert list(locked.iterdir()) == []
    argv = ["render", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "dot"]
    err = clean(run_script(*argv, "--frames", locked / "frames"), 1)
    assert "cannot create it" in err
    assert list(locked.iterdir()) == []


# --- Graphviz --------------------------------------------------------------------------------


def test_graphviz_missing(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = script_env(PATH=str(empty))
    err = clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / "intro.svg", env=env), 1)
    assert "'dot' program is not installed" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "intro.svg").exists()
    for target in ("intro.dot", "intro.mmd"):  # the text formats need no Graphviz
        clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / target, env=env), 0)
        assert (tmp_path / target).stat().st_size > 100


def test_graphviz_killed(tmp_path):
    bin_dir = _fake_dot(tmp_path, "kill -9 $$")
    env = script_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    err = clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / "intro.svg", env=env), 1)
    assert "Graphviz was killed" in err and "-o FILE.dot" in err
    assert not (tmp_path / "intro.svg").exists()
    clean(run_script("render", SAMPLES / "intro.cg", "-o", tmp_path / "intro.dot", env=env), 0)


def test_graphviz_timeout_is_stopped(tmp_path, monkeypatch):
    bin_dir = _fake_dot(tmp_path, "exec sleep 60")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    start = time.perf_counter()
    with pytest.raises(render.RenderError) as info:
        render.image("digraph { a -> b }", "svg", timeout=1.0)
    assert time.perf_counter() - start < 20
    assert "longer than 1 s" in info.value.message and "FILE.dot" in info.value.hint
    assert _gone(int((tmp_path / "dot.pid").read_text()))
    assert isinstance(info.value, cgraph.CgraphError)


def test_read_only_file_is_not_replaced_by_eval_data(tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("precious\n")
    target.chmod(0o444)
    proc = run_script("eval", SAMPLES / "linreg.cg", "--data", SAMPLES / "linreg.csv", "-o", target)
    assert proc.returncode == 1 and "read-only" in proc.stderr.decode()
    assert target.read_text() == "precious\n"


def _address_space_limit(megabytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes * 2**20, megabytes * 2**20))
    return limit


@pytest.mark.parametrize("threads", ["1", "2"])
def test_running_out_of_memory_is_a_clear_error_not_a_bug(tmp_path, threads):
    """A chunk whose arrays do not fit the memory the process may have (here a 600 MB
    address-space limit, and 4,000 tanh values kept for the backward pass over 60,000 rows,
    ~1.9 GB) is the machine's limit: one clear line, a hint, exit 1, and no output file."""
    program = tmp_path / "deep.cg"
    program.write_text("h0 = x\n" + "".join(f"h{k} = tanh(h{k - 1})\n" for k in range(1, 4001)))
    data = tmp_path / "rows.csv"
    data.write_text("x\n" + "0.5\n" * 120_000)
    out = tmp_path / "out.csv"
    proc = run_script("eval", program, "--data", data, "-o", out, "--chunk-rows", "60000", "--threads", threads,
                      preexec_fn=_address_space_limit(600))
    err = clean(proc, 1)
    assert err.startswith("error: out of memory") and "hint: with --data, a smaller --chunk-rows" in err
    assert "internal error" not in err and not out.exists()


@pytest.mark.parametrize("argv, code", [
    (["eval", "-e", "y = exp(1000*x)", "--x", "1"], 0),  # a warning (y is inf) that cannot be printed
    (["eval", "-e", "y = exp(1000*x)", "--x", "1", "--strict"], 1),  # an error that cannot be printed
])
def test_standard_error_that_cannot_be_written_loses_the_message_not_the_result(argv, code):
    """`2>/dev/full`: the messages are lost, the result and the exit code are not (a warning
    failing to print used to end the run with exit 1 and no result)."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*cgraph_script(), *argv], stdout=subprocess.PIPE, stderr=full, env=script_env(),
                              timeout=120)
    assert proc.returncode == code
    if code == 0:
        assert proc.stdout.decode().startswith("y = inf")
