"""Where things are in the checkout, for every test module."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
SAMPLES = ROOT / "samples"
PACKAGE = ROOT / "cgraph"
