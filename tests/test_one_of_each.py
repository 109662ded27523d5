"""One of each: every error class and exit code is defined in cgraph/errors.py, a node is
described by one helper, inf and nan are spelled in one place, and numbers are formatted
by one module. Checked on the source, so a second copy fails here, not in a review."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re

import cgraph
from cgraph.errors import CgraphError
from support.paths import PACKAGE



def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE.parent)): p.read_text(encoding="utf-8") for p in sorted(PACKAGE.rglob("*.py"))}


def _subclasses(cls: type) -> list[type]:
    found, todo = [], [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def test_every_error_class_is_defined_in_errors():
    for info in pkgutil.walk_packages([str(PACKAGE)], "cgraph."):
        importlib.import_module(info.name)
    elsewhere = [f"{c.__module__}.{c.__qualname__}" for c in _subclasses(CgraphError)
                 if c.__module__ == "cgraph" or c.__module__.startswith("cgraph.") and c.__module__ != "cgraph.errors"]
    assert not elsewhere, elsewhere


def test_every_exit_code_is_defined_in_errors():
    wrong = []
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.startswith("EXIT_")]
                if names and isinstance(node.value, ast.Constant) and path != "cgraph/errors.py":
                    wrong.append(f"{path}:{node.lineno}: {names}")
    assert not wrong, wrong


def test_the_public_error_names_still_import():
    from cgraph import CgraphError as a  # noqa: F401
    from cgraph.cli.output import OutputClash, OutputError  # noqa: F401
    from cgraph.data import DataError
    from cgraph.errors import EXIT_INTERNAL, DataError as same
    from cgraph.render import OptionError, RenderError  # noqa: F401

    assert DataError is same and EXIT_INTERNAL == 70


def test_inf_and_nan_are_spelled_in_one_place():
    spelled = re.compile(r"""["']nan["'] if \w+ != \w+""")
    places = [path for path, text in _sources().items() if spelled.search(text)]
    assert places == ["cgraph/errors.py"], places


def test_numbers_are_formatted_by_one_module():
    """A function named for numbers (or _fmt) that returns text is a number formatter."""
    places: dict[str, list[str]] = {}
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.FunctionDef) and re.search(r"number|fmt", node.name) and node.returns is not None
                    and "str" in ast.unparse(node.returns)):
                places.setdefault(path, []).append(node.name)
    # RowWriter writes millions of rows with map(repr) in C; the test below holds it to text_number.
    # errors.given_number echoes a setting (--lr, --tol) in messages of any stage, training's
    # too, which may not import views (as errors.non_finite spells inf and nan for them).
    assert places == {"cgraph/views/numbers.py": ["json_number", "text_number", "program_number", "code_number",
                                                  "short_number",
                                                  "number", "error_number"],
                      "cgraph/training/data/writer.py": ["_numbers"],
                      "cgraph/errors.py": ["given_number"]}, places


def test_the_row_writer_spells_numbers_as_text_number():
    import io

    import numpy as np

    from cgraph.data import RowWriter
    from cgraph.views.numbers import json_number, text_number

    values = [0.1, -0.0, 1e300, 2.5e-310, float("inf"), -float("inf"), float("nan")]
    for fmt in ("csv", "jsonl"):
        out = io.BytesIO()
        writer = RowWriter(out, fmt, "g", [])
        writer.write(np.arange(len(values)) + 2, np.array(values), [])
        lines = out.getvalue().decode().splitlines()[1 if fmt == "csv" else 0:]
        if fmt == "csv":
            assert [line.split(",")[1] for line in lines] == [text_number(v) for v in values]
        else:
            import json

            got = [json.loads(line)["value"] for line in lines]
            assert [str(g) if isinstance(g, str) else repr(g) for g in got] == [
                str(json_number(v)) if isinstance(json_number(v), str) else text_number(v) for v in values]


def test_a_node_is_described_by_one_helper():
    copies = [path for path, text in _sources().items() if re.search(r"^def _what\(", text, re.M)
              or re.search(r"""f"'\{text\}'" \+""", text)]
    assert not copies, copies


def test_each_command_has_its_own_module_and_check_builds_no_view():
    from cgraph.cli import COMMANDS

    for name, target in COMMANDS.items():
        module, attribute = target.split(":")
        assert attribute == f"{name}_command" and module.startswith(name), target
    check = (PACKAGE / "cli" / "check_cmd.py").read_text(encoding="utf-8")
    assert "json_number" not in check and "add_row" not in check  # the JSON and table are views/checkview.py's


def test_explain_text_is_laid_out_once():
    from cgraph.views import explain

    ev = cgraph.evaluate(cgraph.parse("p = x + y\ng = p * z"), {"x": 1, "y": 3, "z": -3})
    exp = explain.steps(ev, max_steps=3)
    assert explain.to_text(exp) == "".join(line + "\n" for line, _ in explain.layout(exp))
    assert {kind for _, kind in explain.layout(exp)} == set(explain.STYLES)
    cli = (PACKAGE / "cli" / "explain_cmd.py").read_text(encoding="utf-8")
    assert "Forward pass" not in cli and "more steps" not in cli


def test_no_two_public_classes_share_a_name():
    where: dict[str, list[str]] = {}
    for path, text in _sources().items():
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(path)
    assert not {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_import_of_a_cgraph_module_needs_an_alias():
    """A module named after a value (inputs, check) forced `inputs as input_values`."""
    aliased = []
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level and any(
                    a.asname and not a.asname.startswith("_") and a.asname != "ast" for a in node.names):
                aliased.append(f"{path}:{node.lineno}")
    # cli/train_cmd.py (`trainer as training`) is being reshaped separately.
    assert [a for a in aliased if not a.startswith("cgraph/cli/train_cmd.py")] == [], aliased


def test_docstring_examples_still_run(monkeypatch):
    import doctest

    monkeypatch.chdir(PACKAGE.parent)  # the examples load samples/ from the checkout
    for path, text in _sources().items():
        if ">>>" in text:
            name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            result = doctest.testmod(importlib.import_module(name), verbose=False)
            assert result.attempted and not result.failed, path
