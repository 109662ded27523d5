"""Hypothesis profiles: `ci` (the default) keeps `make test` fast and draws the same
examples every run; `fuzz` (used by `make fuzz`, or CGRAPH_HYPOTHESIS_PROFILE=fuzz) runs
many more, freshly drawn each time.

The fixtures every test module shares: `cg` runs cgraph in-process, `cg_proc` runs the
installed script in a subprocess; the rest of the shared test code is in support/."""

from __future__ import annotations

import atexit
import builtins
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

from support.runner import TERMINAL_VARS, run_script, runner

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True,
                          derandomize=True)  # the same examples every run: CI judges the change, not a new draw
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True)
settings.load_profile(os.environ.get("CGRAPH_HYPOTHESIS_PROFILE", "ci"))

# The caches (parser tables, built graphs) of this test run go to a directory of its own,
# never the user's ~/.cache; every test process (pytest-xdist's workers, the cgraph
# subprocesses, which inherit the environment) of one run shares it.
if "CGRAPH_TEST_CACHE_HOME" not in os.environ:
    os.environ["CGRAPH_TEST_CACHE_HOME"] = tempfile.mkdtemp(prefix="cgraph-test-cache-")
    atexit.register(shutil.rmtree, os.environ["CGRAPH_TEST_CACHE_HOME"], True)
os.environ["XDG_CACHE_HOME"] = os.environ["CGRAPH_TEST_CACHE_HOME"]


@pytest.fixture
def cg(capsys, monkeypatch):
    """cg(*argv, stdin=None) -> Result(code, out, err), running `cgraph *argv` in-process,
    with no colour and a wide terminal whatever the environment says."""
    for var in TERMINAL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return runner(capsys, monkeypatch)


@pytest.fixture
def cg_proc():
    """cg_proc(*argv, cwd=None, env=None, stdin=None, timeout=120) -> CompletedProcess (bytes),
    running the installed `cgraph *argv` with the terminal variables removed from the
    environment and `env` set over it."""
    return run_script


@pytest.fixture
def hide_module(monkeypatch):
    """hide_module("numpy"): importing it or any of its submodules raises ImportError, as
    if it were not installed (until the test ends)."""

    def hide(top: str) -> None:
        real_import = builtins.__import__

        def fake_import(name, *args, **kwargs):
            if name == top or name.startswith(top + "."):
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide


@pytest.fixture
def lark_parses(monkeypatch):
    """The texts Lark's own parser is asked to parse during the test, in order (the error
    path re-parses only the statement with the error: tests check that it stays so)."""
    from cgraph.frontend import parser

    seen: list[str] = []
    real = parser._lark()

    class Spy:
        def parse(self, rest):
            seen.append(rest)
            return real.parse(rest)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(parser, "_lark", lambda: Spy())
    return seen
