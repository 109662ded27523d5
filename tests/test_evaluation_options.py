"""--params, --seed and --strict mean the same on every command that evaluates a program
(eval, render, explain, check): saved params sit under every other value, the seed
draws the same random params everywhere, and --strict makes an inf/nan value exit 1.

The checks use exit codes through --strict (log of a negative number is nan), so one
test covers every command whatever its output looks like.
"""

from __future__ import annotations

import json
import math

import pytest

# How to run each command so it evaluates once and writes nothing we must parse.
COMMANDS = {
    "eval": ["eval", "--format", "plain"],
    "explain": ["explain"],
    "check": ["check", "--eps", "1e-12"],  # a step far inside log's domain: nan only from the values given
    "render": ["render", "--format", "dot", "-o", "-"],
}
IDS = list(COMMANDS)

PROGRAM = "param w = 1\ninput x = 1\ny = log(w) * x\n"


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "model.cg"
    path.write_text(PROGRAM)
    return str(path)


def params_file(tmp_path, values: dict, ours: bool = True) -> str:
    path = tmp_path / "params.json"
    document = {"format": "cgraph-params/1", "params": values, "epoch": 3} if ours else values
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.parametrize("command", IDS)
def test_strict_makes_a_nan_value_an_error(cg, command):
    argv = COMMANDS[command]
    assert cg(*argv, "-e", "y = log(x)", "--x", "2", "--strict").code == 0
    r = cg(*argv, "-e", "y = log(x)", "--x", "-1", "--strict")
    assert r.code == 1, r.err
    assert "is nan" in r.err and "Traceback" not in r.err
    r = cg(*argv, "-e", "y = log(x)", "--x", "-1")
    assert "is nan" not in r.err or "warning" in r.err  # without --strict: at most a warning


@pytest.mark.parametrize("ours", [True, False], ids=["saved", "plain"])
@pytest.mark.parametrize("command", IDS)
def test_params_file_values_are_used(cg, tmp_path, program, command, ours):
    argv = COMMANDS[command]
    assert cg(*argv, program, "--strict").code == 0  # w = 1 as declared
    bad = params_file(tmp_path, {"w": -1}, ours)
    r = cg(*argv, program, "--strict", "--params", bad)
    assert r.code == 1, f"{command} ignored --params: {r.err}"
    assert "is nan" in r.err


@pytest.mark.parametrize("command", IDS)
def test_command_line_values_override_the_params_file(cg, tmp_path, program, command):
    argv = COMMANDS[command]
    bad = params_file(tmp_path, {"w": -1})
    assert cg(*argv, program, "--strict", "--params", bad, "--w", "2").code == 0
    assert cg(*argv, program, "--strict", "--params", bad, "--input", "w=2").code == 0
    values = tmp_path / "values.json"
    values.write_text('{"w": 2}')
    assert cg(*argv, program, "--strict", "--params", bad, "--inputs", values).code == 0


@pytest.mark.parametrize("command", IDS)
def test_a_params_file_naming_an_input_or_nothing_is_a_usage_error(cg, tmp_path, program, command):
    argv = COMMANDS[command]
    r = cg(*argv, program, "--params", params_file(tmp_path, {"x": 3}))
    assert r.code == 2 and "not a param" in r.err
    r = cg(*argv, program, "--params", tmp_path / "missing.json")
    assert r.code == 2 and "no such file" in r.err


def _eval_w(cg, program: str, seed: int) -> float:
    r = cg("eval", program, "--format", "json", "--seed", seed, "--t", "0")
    assert r.code == 0, r.err
    return json.loads(r.out)["inputs"]["w"]


@pytest.mark.parametrize("command", IDS)
@pytest.mark.parametrize("seed", [0, 7, 123456789])
def test_the_same_seed_draws_the_same_random_params_in_every_command(cg, tmp_path, command, seed):
    """log(w - t) is finite just below w and nan just above it: a command's exit code under
    --strict tells on which side of its own draw of w the threshold t lies."""
    path = tmp_path / "random.cg"
    path.write_text("param w = uniform(-1, 1)\ninput t\ny = log(w - t)\n")
    w = _eval_w(cg, str(path), seed)
    assert w != _eval_w(cg, str(path), seed + 1)  # the seed matters
    below, above = w - 1e-9 * max(1.0, abs(w)), w + 1e-9 * max(1.0, abs(w))
    argv = COMMANDS[command]
    r = cg(*argv, path, "--strict", "--seed", seed, "--t", repr(below))
    assert r.code == 0, f"{command} --seed {seed} drew another w: {r.err}"
    r = cg(*argv, path, "--strict", "--seed", seed, "--t", repr(above))
    assert r.code == 1 and "is nan" in r.err
    assert math.isfinite(w)


@pytest.mark.parametrize("command", IDS)
def test_the_options_are_in_every_help(cg, command):
    r = cg(command, "--help")
    for option in ("--params", "--seed", "--strict"):
        assert option in r.out
