"""`cgraph eval --data` streams its rows to standard output chunk by chunk (an error met
later ends the stream, the rows before it written), while `-o FILE` stays all-or-nothing;
a progress line shows on a terminal only. Run as a real process on a real pipe."""

from __future__ import annotations

import csv
import io
import os
import pty
import subprocess
from pathlib import Path

import pytest

from support.paths import SAMPLES
from support.runner import cgraph_script

LINREG = str(SAMPLES / "linreg.cg")


def big_csv(path: Path, rows: int, bad_line: int | None = None) -> Path:
    lines = [f"{k % 97 / 10},{k % 13}\n" for k in range(rows)]
    if bad_line is not None:
        lines[bad_line - 2] = "1,oops\n"
    path.write_text("x,y\n" + "".join(lines))
    return path


def open_position(pid: int, path: Path) -> int | None:
    """Where process `pid` is reading `path` (None: it does not have the file open)."""
    target = os.path.realpath(path)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])
        except OSError:  # closed meanwhile
            continue
    return None


def test_rows_reach_a_pipe_while_the_data_is_still_being_read(tmp_path):
    data = big_csv(tmp_path / "big.csv", 200_000)
    size = data.stat().st_size
    proc = subprocess.Popen([*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        header = proc.stdout.readline()
        first = proc.stdout.readline()
        assert header.startswith(b"line,loss,") and first.startswith(b"2,")
        # The output (~14 MB) is far more than a pipe holds and this test has read two lines,
        # so the process is blocked writing: a streaming run is then mid-file in its data,
        # while a run that held its output back has read (and closed) the whole file.
        assert proc.poll() is None
        position = open_position(proc.pid, data)
        assert position is not None and position < size
        rest = proc.stdout.read()
    finally:
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        proc.wait()
    assert proc.returncode == 0, err
    lines = (header + first + rest).decode().splitlines()
    assert len(lines) == 1 + 200_000 and lines[-1].startswith("200001,")


def test_a_closed_pipe_ends_the_stream_quietly(tmp_path):
    data = big_csv(tmp_path / "big.csv", 100_000)
    proc = subprocess.Popen([*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "500"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"line,")
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 0 and err == ""


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_error_midway_ends_the_stream_with_a_located_error(tmp_path, fmt):
    data = big_csv(tmp_path / "d.csv", 500, bad_line=337)
    proc = subprocess.run([*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "25", "--format", fmt],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{data}:337:3: error: 'oops' in column 'y' is not a number" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Row 336 (line 337) is in the 14th chunk of 25 rows: the 13 chunks before it are out.
    if fmt == "csv":
        written = [int(r["line"]) for r in csv.DictReader(io.StringIO(proc.stdout))]
    else:
        import json

        written = [json.loads(line)["line"] for line in proc.stdout.splitlines()]
    assert written == list(range(2, 2 + 13 * 25))


def test_a_bad_row_in_the_first_chunk_prints_nothing(tmp_path):
    data = big_csv(tmp_path / "d.csv", 100, bad_line=5)
    proc = subprocess.run([*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "25"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and f"{data}:5:3: error:" in proc.stderr


def test_o_file_is_all_or_nothing(tmp_path):
    data = big_csv(tmp_path / "d.csv", 500, bad_line=337)
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    proc = subprocess.run([*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "25", "-o", str(target)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == "" and "337:3: error:" in proc.stderr
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "out.csv"]  # no temporary left


def run_with_terminal_stderr(argv: list[str]) -> tuple[int, bytes, str]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe: (code, stdout, terminal text)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "CI", "COLUMNS")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out = proc.stdout.read()
    proc.stdout.close()
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(), out, seen.decode(errors="replace")


def test_progress_shows_on_a_terminal_and_never_in_a_pipe(tmp_path):
    data = big_csv(tmp_path / "d.csv", 50_000)
    argv = [*cgraph_script(), "eval", LINREG, "--data", str(data), "--chunk-rows", "1000"]
    code, out, terminal = run_with_terminal_stderr(argv)
    assert code == 0 and out.count(b"\n") == 50_001
    assert "evaluating" in terminal and "rows" in terminal
    proc = subprocess.run(argv, capture_output=True)
    assert proc.returncode == 0 and proc.stderr == b""
