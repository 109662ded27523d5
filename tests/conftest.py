"""Hypothesis profiles: `ci` (the default) keeps `make test` fast and draws the same
examples every run; `fuzz` (used by `make fuzz`, or CGRAPH_HYPOTHESIS_PROFILE=fuzz) runs
many more, freshly drawn each time."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from cgraph.cli import run

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True,
                          derandomize=True)  # the same examples every run: CI judges the change, not a new draw
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get("CGRAPH_HYPOTHESIS_PROFILE", "ci"))


_TERMINAL_VARS = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "CGRAPH_DEBUG")


@pytest.fixture
def cg(capsys, monkeypatch):
    """cg(*argv) -> (exit code, stdout, stderr), running `cgraph *argv` in-process, with
    no colour and a wide terminal whatever the environment says."""
    for var in _TERMINAL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")

    def call(*argv):
        capsys.readouterr()
        code = run([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call
