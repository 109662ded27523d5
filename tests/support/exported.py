"""Exported modules (`cgraph export`), imported as a user would: written to a directory and
loaded by importlib from the file (the tests never exec a string), and the comparison of
their numbers with cgraph's own (inf and nan included)."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path
from types import ModuleType

from cgraph.cli.export_cmd import module_code

__all__ = ["module_code", "import_module", "same", "assert_same", "scale_of", "load_exported"]

_counter = itertools.count()


def import_module(text: str, directory: Path, stem: str = "exported") -> ModuleType:
    """The module whose source is `text`, written to `directory` and imported from there
    under a fresh name (so two exports in one run never share a cached module)."""
    name = f"{stem}_{next(_counter)}"
    path = directory / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_exported(graph, target: str, directory: Path, **options) -> ModuleType:
    return import_module(module_code(graph, target, **options), directory)


def same(a: float, b: float, rel: float = 1e-12, scale: float = 0.0) -> bool:
    """Equal to `rel` relative (to the larger of the two, or to `scale`: a gradient summed
    from terms that cancel is only as exact as its terms are), or both nan, or the same
    infinity."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), scale) or abs(a - b) <= 1e-300


def assert_same(got: float, expected: float, what: str = "", rel: float = 1e-12, scale: float = 0.0) -> None:
    assert same(got, expected, rel, scale), f"{what}: exported {got!r}, cgraph {expected!r}"


def scale_of(numbers) -> float:
    """The size of the largest finite number, at least 1: what a sum's rounding is relative to."""
    return max([1.0, *(abs(float(v)) for v in numbers if math.isfinite(float(v)))])
