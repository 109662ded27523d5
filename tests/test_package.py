"""The package as a notebook sees it: a plain `import cgraph` reaches every documented
`cgraph.X`, while importing it stays light (no NumPy, no graphviz until they are used)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_plain_import_reaches_the_documented_submodules():
    out = _python(
        "import cgraph\n"
        "g = cgraph.load('samples/intro.cg')\n"
        "e = cgraph.evaluate(g, {'x': 1, 'y': 3, 'z': -3})\n"
        "d = cgraph.render.diagram(g, e)\n"
        "print(type(d).__name__)\n"
        "print(cgraph.render.mermaid(g, e).splitlines()[0])\n"
        "print(cgraph.data.DataFile.__name__, cgraph.batch.Plan.__name__, cgraph.train.Trainer.__name__)\n"
    )
    assert out.splitlines() == ["Digraph", "flowchart LR", "DataFile Plan Trainer"]


def test_every_cgraph_attribute_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # `cgraph.X` and `cgraph.X.Y` in code, not file names like cgraph.lark or cgraph.fish
    dotted = set(re.findall(r"\bcgraph((?:\.[A-Za-z_]\w*)+)\s*\(", readme))
    dotted |= set(re.findall(r"\bcgraph((?:\.[A-Za-z_]\w*)+)`", readme))
    dotted = {d for d in dotted if d not in (".lark", ".fish", ".py")}
    assert ".render.diagram" in dotted and ".load" in dotted
    code = "import cgraph\n" + "".join(
        f"assert callable(cgraph{d}) or cgraph{d} is not None\n" for d in sorted(dotted)
    )
    _python(code)


def test_import_cgraph_stays_light():
    out = _python("import sys, cgraph\nprint(sorted(m for m in ('numpy', 'graphviz', 'rich', 'lark') if m in sys.modules))")
    assert out.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error():
    out = _python(
        "import cgraph\n"
        "try:\n    cgraph.no_such_thing\nexcept AttributeError as e:\n    print('AttributeError', e)\n"
        "print('render' in dir(cgraph))\n"
    )
    assert out.splitlines() == ["AttributeError module 'cgraph' has no attribute 'no_such_thing'", "True"]
