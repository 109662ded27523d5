"""The package's layout is its architecture: one folder per stage, and imports that run
one way (cli -> views/training -> engine -> ir/ops; frontend -> ir/ops; nothing imports
cli; ir, ops and engine import no view and no training). Checked on the source, so a
new import against the arrows fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

from support.paths import PACKAGE

# stage -> the stages it may import (besides itself); errors is everyone's
ALLOWED = {
    "ops": set(),
    "errors": set(),
    "ir": {"ops", "errors"},  # the tape names its nodes' kinds as the op table does
    "frontend": {"ir", "ops", "errors"},
    "engine": {"ir", "ops", "errors", "transform"},  # the Hessian: a forward pass of the second-order graph
    "transform": {"ir", "ops", "errors"},  # builds graphs from graphs, beside the engine that evaluates them
    "views": {"engine", "ir", "ops", "errors"},
    "training": {"engine", "ir", "ops", "errors"},
    # the Dask engine: the local engine (through training's rows and trainer) on each worker;
    # a worker parses the program again (a Graph does not pickle)
    "distributed": {"training", "engine", "frontend", "ir", "ops", "errors"},
    "cli": {"frontend", "engine", "transform", "views", "training", "distributed", "ir", "ops", "errors", "facade", "root"},
    # the public entry points re-export one stage each
    "facade": {"engine", "views", "training"},
    "root": {"frontend", "engine", "transform", "ir", "ops", "errors"},
}
FACADES = {"batch", "data", "train", "render"}


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if len(parts) == 2 and head in FACADES:
        return "facade"
    return head


def imports(path: Path) -> list[tuple[str, int]]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:  # from . import x: x may be a module
                found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(n, node.lineno) for n in names if n == "cgraph" or n.startswith("cgraph.")]
    return found


def test_the_stages_are_folders():
    for stage in ("ir", "frontend", "engine", "views", "training", "cli"):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert flat == {"ops", "errors"} | FACADES, flat


def test_imports_run_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        source = stage_of(module)
        for target, line in imports(path):
            if target == "cgraph" or target == "cgraph.__version__":
                continue
            goal = stage_of(target)
            if goal != source and goal not in ALLOWED[source]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} imports {target} ({goal})")
    assert not wrong, "\n".join(wrong)


def test_text_views_do_not_import_the_diagram_code():
    """explain and the reports are text: what they share with diagrams (the focus on a
    node) lives beside them, not in render/."""
    for name in ("explain.py", "report.py", "checkview.py", "jacobian.py"):
        path = PACKAGE / "views" / name
        targets = [t for t, _ in imports(path)]
        assert not [t for t in targets if t.startswith("cgraph.views.render")], (name, targets)
