"""Running `cgraph` in-process for the tests: one runner that the `cg` fixtures share
(each fixture decides the environment it runs in)."""

from __future__ import annotations

import io
import sys
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
