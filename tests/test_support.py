"""The tests' own scaffolding has one home: the two `cgraph` runners are the `cg` (in-process)
and `cg_proc` (installed script) fixtures in conftest.py, and every other shared helper is
defined once, in support/. Checked on the source, so a test module that grows its own copy
of a runner, a path constant or a parser fails here."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from support.paths import SAMPLES, TESTS

# Helpers that live in support/ (or conftest.py) only: no test module may define its own.
SHARED = {
    "cg", "cg_proc", "runner", "cgraph_script", "script_env", "run_script",  # running cgraph
    "ROOT", "TESTS", "PACKAGE",  # where things are
    "strict_json", "write", "write_file",  # JSON and files
    "central_difference", "graph_central_difference", "relative_step",  # numeric references
    "parse_dot", "parse_mermaid", "Dot", "DotNode", "DotEdge", "Mermaid",  # reading diagrams
}
TUTORIAL = ("eval", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "--format", "json")


def defined_names(path: Path) -> list[tuple[str, int]]:
    """The functions, classes and variables `path` defines at module level, with their lines
    (a method such as a fake stream's `write` is not a copy of a helper)."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node.lineno))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [(t.id, node.lineno) for t in targets if isinstance(t, ast.Name)]
    return found


def test_no_test_module_defines_its_own_copy_of_a_shared_helper():
    copies = [f"{path.name}:{line}: {name}" for path in sorted(TESTS.glob("*.py")) if path.name != "conftest.py"
              for name, line in defined_names(path) if name in SHARED]
    assert not copies, "defined in a test module; import it from support/ instead:\n" + "\n".join(copies)


def test_each_shared_helper_is_defined_once_in_support_or_conftest():
    homes: dict[str, list[str]] = {}
    for path in [TESTS / "conftest.py", *sorted((TESTS / "support").glob("*.py"))]:
        for name, line in defined_names(path):
            if name in SHARED:
                homes.setdefault(name, []).append(f"{path.relative_to(TESTS)}:{line}")
    assert set(homes) == SHARED, f"no home for {sorted(SHARED - set(homes))}"
    twice = {name: where for name, where in homes.items() if len(where) > 1}
    assert not twice, f"defined more than once: {twice}"


def test_only_support_paths_locates_the_checkout():
    exempt = {TESTS / "support" / "paths.py", Path(__file__).resolve()}  # this file names it in a message
    places = [f"{path.relative_to(TESTS)}" for path in sorted(TESTS.rglob("*.py"))
              if path.resolve() not in exempt and "Path(__file__)" in path.read_text(encoding="utf-8")]
    assert not places, f"use support.paths instead of Path(__file__) in: {places}"


def test_the_two_runners_agree(cg, cg_proc):
    """The in-process runner and the installed script print the same thing for the same argv."""
    inside = cg(*TUTORIAL)
    outside = cg_proc(*TUTORIAL)
    assert inside.code == outside.returncode == 0, (inside.err, outside.stderr)
    assert outside.stdout.decode() == inside.out
    assert json.loads(inside.out)["value"] == -12
