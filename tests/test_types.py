"""The types are visible: the IR's and the engine's classes declare every field at class
level (so mypy and an editor's go-to-definition see them), Graph stays immutable, and
`make test` type-checks the package with the configuration checked in."""

from __future__ import annotations

import re
import tomllib

import numpy as np
import pytest

import cgraph
from cgraph.engine import batch
from cgraph.engine.evaluator import Evaluation
from cgraph.frontend import lalr, syntax
from cgraph.ir import columns
from cgraph.ir.graph import Graph, Node
from support.paths import ROOT


_SLOTTED = [Graph, Node, columns.Args, columns.Tags, columns.Values, columns.NodeNames, Evaluation, batch.Result, batch.NonFinite, lalr.Token, lalr.Refusal,
            *(cls for cls in vars(syntax).values()
              if isinstance(cls, type) and cls.__module__ == syntax.__name__ and "__slots__" in vars(cls))]


@pytest.mark.parametrize("cls", _SLOTTED, ids=lambda cls: cls.__qualname__)
def test_every_slot_is_declared_with_a_type(cls):
    slots = set(vars(cls)["__slots__"])
    declared = set(vars(cls).get("__annotations__", {}))
    assert slots == declared, f"{cls.__qualname__}: slots without a type {sorted(slots - declared)}, " \
                              f"types without a slot {sorted(declared - slots)}"


def test_every_field_a_plan_sets_is_declared():
    g = cgraph.parse("input x\nparam w = 2\ny = tanh(w * x) + 1")
    plan = batch.Plan(g, ["x"])
    plan.run(plan.bind(), [np.array([0.5, 1.0])])
    assert set(vars(plan)) <= set(batch.Plan.__annotations__)


def test_graph_is_immutable_and_with_output_keeps_every_field():
    g = cgraph.parse("input x\np = x * x\nout = p + 1")
    with pytest.raises(AttributeError):
        g.ops = ()  # type: ignore[misc]  # the point of the test: assignment is refused
    with pytest.raises(AttributeError):
        g.anything = 1  # type: ignore[attr-defined]
    h = g.with_output("p")
    assert (h.output, h.output_name) == (g.names["p"], "p")
    for field in Graph.__annotations__:
        if field not in ("outputs", "output_names", "output", "output_name", "_cache"):
            assert getattr(h, field) is getattr(g, field) or getattr(h, field) == getattr(g, field), field
    assert h.positions.readonly and g.positions.readonly


def test_make_test_type_checks_with_the_checked_in_config():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mypy = config["tool"]["mypy"]
    assert mypy["python_version"] == "3.11" and mypy["warn_unused_ignores"] is True
    assert any(dep.startswith("mypy") for dep in config["project"]["optional-dependencies"]["test"])
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe is not None
    commands = recipe.group(1).split("\n")
    mypy_line = next(i for i, c in enumerate(commands) if "-m mypy cgraph" in c)
    pytest_line = next(i for i, c in enumerate(commands) if "-m pytest" in c)
    assert mypy_line < pytest_line  # a type error fails fast, before the long suite


def test_every_type_ignore_names_its_error_code():
    """A bare `# type: ignore` would hide any error on its line, not just the deliberate one."""
    bare = [f"{path.relative_to(ROOT)}:{n}"
            for path in sorted((ROOT / "cgraph").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"#\s*type:\s*ignore(?!\[)", line)]
    assert not bare
