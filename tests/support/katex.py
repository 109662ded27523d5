"""KaTeX, run with node, as the judge of the TeX that explain writes.

`make system-packages` installs node (Debian's nodejs) and KaTeX (npm, into .cache/node,
which git ignores). A test that needs them fails, never skips, when they are missing: a
skipped check would pass CI on a machine that cannot run it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support.paths import ROOT, TESTS

KATEX = ROOT / ".cache" / "node" / "node_modules" / "katex"
SCRIPT = TESTS / "support" / "katex_check.js"


def katex_errors(items: list[tuple[str, str, bool]]) -> dict[str, str]:
    """{id: KaTeX's error} for each (id, tex, display) KaTeX cannot render; {} if all render."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not (KATEX / "package.json").exists():
        pytest.fail("node and KaTeX are needed to check explain's LaTeX: run `make system-packages` "
                    f"(node: {node or 'missing'}, KaTeX: {KATEX if KATEX.exists() else 'missing'})")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "tex.json"
        data.write_text(json.dumps([{"id": i, "tex": t, "display": d} for i, t, d in items]), encoding="utf-8")
        proc = subprocess.run([node, str(SCRIPT), str(KATEX), str(data)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {e["id"]: e["error"] for e in json.loads(proc.stdout)}


def markdown_math(md: str) -> list[str]:
    """The $...$ spans of a Markdown text (explain writes each on one line)."""
    found = []
    for line in md.splitlines():
        found += re.findall(r"(?<!\\)\$(.+?)(?<!\\)\$", line)
    return found
