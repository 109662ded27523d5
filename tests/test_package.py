"""The package as a notebook sees it: a plain `import cgraph` reaches every documented
`cgraph.X`, while importing it stays light (no NumPy, no graphviz until they are used)."""

from __future__ import annotations

import re
import subprocess
import sys

from support.paths import ROOT


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


def _interrupted_while_importing(module: str, argv0: str) -> subprocess.CompletedProcess:
    """Start `from cgraph.cli import main` as the installed script does, with a Ctrl-C
    arriving while `module` is being imported."""
    code = (
        "import builtins, sys\n"
        f"sys.argv[0] = {argv0!r}\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        f"    if name == {module!r} or name.endswith('.' + {module!r}):\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "from cgraph.cli import main\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_ctrl_c_while_the_command_imports_is_exit_130_without_a_traceback():
    for module in ("click", "builder", "evaluator"):
        proc = _interrupted_while_importing(module, "/usr/local/bin/cgraph")
        assert (proc.returncode, proc.stderr) == (130, "cgraph: interrupted\n"), (module, proc.stderr)


def test_ctrl_c_while_a_program_imports_cgraph_stays_a_keyboard_interrupt():
    proc = _interrupted_while_importing("evaluator", "notebook.py")
    assert proc.returncode != 130 and proc.stderr.rstrip().endswith("KeyboardInterrupt")
