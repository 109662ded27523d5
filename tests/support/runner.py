"""Running `cgraph` for the tests: in-process (`runner`, behind the `cg` fixture) or as
the installed script in a subprocess (`run_script`, behind the `cg_proc` fixture), for
real exit codes, pipes, signals and environments."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from cgraph.cli import run

# Environment variables that change how rich decides on colour and width.
TERMINAL_VARS = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "CGRAPH_DEBUG")


class Result(NamedTuple):
    code: int
    out: str
    err: str


def runner(capsys, monkeypatch) -> Callable[..., Result]:
    """call(*argv, stdin=None) -> Result(code, out, err), running `cgraph *argv` in-process;
    `stdin` (text or bytes) replaces standard input for that run."""

    def call(*argv, stdin: str | bytes | None = None) -> Result:
        if stdin is not None:
            data = stdin.encode() if isinstance(stdin, str) else stdin
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        capsys.readouterr()
        code = run([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def cgraph_script() -> list[str]:
    """The installed `cgraph` script next to this interpreter (the venv's)."""
    script = shutil.which("cgraph", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from cgraph.cli import main; main()"]


def script_env(**extra: str) -> dict[str, str]:
    """This process's environment without the terminal variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_VARS}
    env.update(extra)
    return env


def run_script(*argv, cwd: Path | str | None = None, env: dict[str, str] | None = None,
               stdin: bytes | None = None, timeout: float = 120,
               preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """Run the installed `cgraph *argv` and wait; stdout and stderr are captured as bytes.
    `env` holds variables set over script_env()'s environment."""
    return subprocess.run([*cgraph_script(), *map(str, argv)], input=stdin, capture_output=True, cwd=cwd,
                          env=script_env(**(env or {})), timeout=timeout, preexec_fn=preexec_fn)
