"""Every numeric option of every command has a valid range, says it in --help, and
refuses anything outside it (nan, inf, negatives where they make no sense) with a
usage error naming the option (exit 2).

The options are found through click's API, so a numeric option added later is checked
without touching this file: one declared as a plain int or float fails here.
"""

from __future__ import annotations

import math
import re
import sys

import click
import pytest

from cgraph.cli.common import Count, FiniteFloat
from support.paths import SAMPLES
from test_help import COMMANDS, _context

# Values a user might type; each is refused or accepted by the option's declared range.
CANDIDATES = ["nan", "-nan", "inf", "-inf", "1e999", "-1", "-0.5", "0", "0.5", "1", "17", "18", "1e-300",
              str(sys.maxsize), str(sys.maxsize + 1), "1" + "0" * 21, "-" + "1" * 30]


def _numeric_options():
    found = []
    for path, command in COMMANDS:
        ctx = _context(path)
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and isinstance(param.type, (click.types.IntParamType,
                                                                            click.types.FloatParamType)):
                found.append((path, param))
    return found


NUMERIC = _numeric_options()
IDS = [f"{' '.join(path[1:])} {param.opts[-1]}" for path, param in NUMERIC]


def _accepts(param: click.Option, text: str) -> bool:
    """What the declared range says about `text` (worked out here, not by asking click)."""
    kind = param.type
    try:
        value = int(text) if isinstance(kind, click.types.IntParamType) else float(text)
    except ValueError:
        return False
    if not math.isfinite(value):
        return False
    if isinstance(value, int) and abs(value) > sys.maxsize:  # counts end up in slices and array sizes
        return False
    lo, hi = kind.min, kind.max
    if lo is not None and (value < lo or (kind.min_open and value == lo)):
        return False
    if hi is not None and (value > hi or (kind.max_open and value == hi)):
        return False
    return True


def _argv(path: tuple[str, ...], option: str, value: str) -> list[str]:
    """A command line that would run if the option's value were good (train needs --data)."""
    argv = [*path[1:], "-e", "y = w * x", "--x", "1", option, value]
    if path[-1] == "serve":  # a server watches a file: it takes no -e
        argv = ["serve", str(SAMPLES / "intro.cg"), "--x", "1", option, value]
    if path[-1] == "train":
        argv += ["--data", "no-such-file.csv"]
    return argv


def test_the_numeric_options_are_found():
    names = {(path[-1], param.opts[-1]) for path, param in NUMERIC}
    for expected in [("check", "--eps"), ("check", "--rtol"), ("check", "--atol"), ("train", "--lr"),
                     ("train", "--momentum"), ("render", "--precision"), ("explain", "--max-steps"),
                     ("eval", "--seed"), ("check", "--seed")]:
        assert expected in names


@pytest.mark.parametrize("path, param", NUMERIC, ids=IDS)
def test_every_numeric_option_declares_a_range(path, param):
    kind = param.type
    assert isinstance(kind, (Count, FiniteFloat)), (
        f"{' '.join(path)} {param.opts[-1]} is a {kind!r}: declare its range with Count (an int, "
        "at most sys.maxsize) or FiniteFloat (a float, never nan or inf)")
    assert kind.min is not None or kind.max is not None
    assert not kind.clamp, "a value out of range is an error, not silently moved into range"


@pytest.mark.parametrize("path, param", NUMERIC, ids=IDS)
def test_the_range_is_in_the_help(capsys, path, param):
    from cgraph.cli import run

    assert run([*path[1:], "--help"]) == 0
    help_text = re.sub(r"\s+", "", capsys.readouterr().out)  # ranges may be wrapped
    assert param.type._describe_range() in help_text


@pytest.mark.parametrize("path, param", NUMERIC, ids=IDS)
def test_out_of_range_values_are_usage_errors(cg, path, param):
    option = param.opts[-1]
    refused = [text for text in CANDIDATES if not _accepts(param, text)]
    assert refused, f"{option} accepts every candidate value"
    for text in refused:
        r = cg(*_argv(path, option, text))
        assert r.code == 2, f"{' '.join(path)} {option} {text}: exit {r.code}\n{r.err}"
        assert option in r.err and "Invalid value" in r.err, r.err
        assert "Traceback" not in r.err


@pytest.mark.parametrize("path, param", NUMERIC, ids=IDS)
def test_in_range_values_are_taken(path, param):
    for text in CANDIDATES:
        if _accepts(param, text):
            assert param.type.convert(text, param, None) == (int(text) if isinstance(
                param.type, click.types.IntParamType) else float(text))


@pytest.mark.parametrize("option", ["--eps", "--rtol", "--atol"])
@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_check_refuses_nonsense_tolerances(cg, option, value):
    r = cg("check", "-e", "y = x * x", "--x", "3", option, value)
    assert r.code == 2
    assert f"Invalid value for '{option}'" in r.err
    assert r.out == ""  # nothing was checked


def test_check_refuses_a_step_too_large_to_be_a_derivative(cg):
    assert cg("check", "-e", "y = x * x", "--x", "3", "--eps", "1").code == 2
    assert cg("check", "-e", "y = x * x", "--x", "3", "--eps", "0.5").code == 0


def test_gradcheck_refuses_nonsense_too():
    from cgraph.engine import gradient_check
    from cgraph.frontend.loading import parse

    graph = parse("y = x * x")
    for bad in [dict(eps=math.nan), dict(eps=math.inf), dict(eps=0.0), dict(rtol=-1.0), dict(atol=math.nan)]:
        with pytest.raises(ValueError):
            gradient_check.gradcheck(graph, {"x": 3.0}, **bad)
