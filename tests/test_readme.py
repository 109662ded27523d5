"""The README is the manual: every `$ cgraph ...` example in it is run, and what it prints
must be exactly the text the README shows under it.

An example is a line starting with `$ ` inside a fenced code block (not ```python or
```json); the lines after it, up to the next `$ ` line or the end of the block, are what
the command prints, standard error and standard output together, as on a terminal. Each
runs through bash in a scratch directory holding a copy of `samples/` and the files of
`tests/readme_files/` (the `rows.csv`, `logfit.cg`, ... that the README's examples use), in
README order, so an example may use a file an earlier one wrote (`--save xor.json`).

Normalised, and nothing else: the terminal width (the commands run with a wide terminal,
and trailing spaces are not compared) and wall-clock times, which differ from run to run:
`in 0.06 s` and the `seconds` column of training's epoch table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from support.paths import ROOT, TESTS

README = ROOT / "README.md"
FILES = TESTS / "readme_files"
BIN = Path(sys.executable).parent


class Example(NamedTuple):
    line: int  # of the `$ ` line in README.md
    command: str
    expected: str


def readme_examples(text: str) -> list[Example]:
    examples: list[Example] = []
    in_block = False
    plain = False
    current: list | None = None  # [line, command, output lines]

    def close() -> None:
        nonlocal current
        if current is not None:
            examples.append(Example(current[0], current[1], "\n".join(current[2])))
            current = None

    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if in_block:
                close()
                in_block = False
            else:
                in_block, plain = True, line.strip() == "```"
            continue
        if not (in_block and plain):
            continue
        if line.startswith("$ "):
            close()
            current = [number, line[2:], []]
        elif current is not None:
            current[2].append(line)
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))

_SECONDS = re.compile(r"\bin \d+(?:\.\d+)? s\b")
_SECONDS_CELL = re.compile(r"│( *)\d+\.\d\d │$")


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    lines = [_SECONDS_CELL.sub(lambda m: "│" + " " * (len(m.group(0)) - 6) + "t.tt │", _SECONDS.sub("in t s", line))
             for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "samples", work / "samples")
    for f in FILES.iterdir():
        shutil.copy(f, work / f.name)
    return work


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CGRAPH_DEBUG")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200",
        NO_COLOR="1",
        TERM="dumb",
        XDG_CACHE_HOME=str(work / ".cache"),
    )
    return env


def test_the_readme_has_examples():
    commands = [e.command for e in EXAMPLES]
    assert len(commands) >= 15
    assert any(c.startswith("cgraph eval samples/intro.cg") for c in commands)
    assert any("| jq" in c for c in commands)
    assert all(e.expected.strip() for e in EXAMPLES), [e.line for e in EXAMPLES if not e.expected.strip()]


def test_normalise_keeps_everything_but_width_and_times():
    assert normalise("a  \nb\n\n") == "a\nb"
    assert normalise("trained in 0.06 s") == normalise("trained in 12.5 s")
    assert normalise("│     1 │ 12.1 │    0.00 │") == normalise("│     1 │ 12.1 │    0.31 │")
    assert normalise("x = 1") != normalise("x = 2")


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[f"README.md:{e.line}" for e in EXAMPLES])
def test_readme_example(example: Example, scratch: Path):
    if "| jq" in example.command and shutil.which("jq") is None:
        pytest.fail("jq is needed for the README's jq examples (make test installs it on Debian)")
    proc = subprocess.run(
        ["bash", "-c", "{ " + example.command + "\n} 2>&1"],
        cwd=scratch, env=_env(scratch), capture_output=True, text=True, timeout=300,
    )
    assert proc.stderr == ""
    got = normalise(proc.stdout)
    want = normalise(example.expected)
    assert got == want, f"README.md:{example.line}: $ {example.command}\n--- README shows\n{want}\n--- cgraph prints\n{got}"
