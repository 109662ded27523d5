"""Inputs the fuzzer (fuzz/fuzz_cgraph.py) found, minimized and kept: each one runs through
the fuzz target (parse, build, evaluate, reports, diagrams, explain, check and `cgraph eval`)
under its watchdog, and must neither crash nor hang. Plus the fuzz run itself: a short
smoke run always, and a run of CGRAPH_FUZZ_SECONDS when that is set (`make test` runs the
60 s one after pytest, `make fuzz` a longer one).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.paths import ROOT, TESTS

FUZZ = ROOT / "fuzz" / "fuzz_cgraph.py"
REGRESSIONS = sorted((TESTS / "fuzz_regressions").glob("*.cg"))

sys.path.insert(0, str(FUZZ.parent))
import fuzz_cgraph  # noqa: E402


@pytest.fixture(scope="module")
def target():
    fuzz_cgraph.load_target()
    return fuzz_cgraph


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_fuzz_regression(target, path):
    signature, failure = target.guarded(path.read_bytes())
    assert failure is None, failure.detail
    assert signature


def _fuzz(seconds: float, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FUZZ), "--engine", "random", "--seconds", str(seconds), "--quiet", *extra],
        capture_output=True, text=True, timeout=seconds + 600, cwd=ROOT,
    )


def test_fuzz_smoke():
    """Every seed once (the samples and every string in the tests), then a few mutations."""
    proc = _fuzz(60, "--runs", "300", "--seed", "1")
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "crashes and hangs: 0" in proc.stderr
