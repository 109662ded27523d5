"""Input names and values as users type them: every spelling of an indexed name, JSON
files with a byte-order mark, and messages that stay readable whatever length of text
they echo back."""

from __future__ import annotations

import json

import pytest

from cgraph.engine import input_values

GRID = "for i in 1..2 { for j in 1..3 { input w[i, j] = 0 } }\ny = w[1, 2] * 2 + w[2, 3]\n"


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.cg"
    path.write_text(GRID)
    return str(path)


def _value_of(out: str, name: str) -> float:
    """From `--format plain` output: `name value grad` lines."""
    for line in out.splitlines():
        if line.split()[0] == name:
            return float(line.split()[1])
    raise AssertionError(f"{name} not in {out!r}")


@pytest.mark.parametrize("spelling", ["w[1,2]", "w[1][2]", "w[1, 2]", "w[ 1 ,2 ]", "w[ 1 ][ 2 ]", "w[1] [2]"])
@pytest.mark.parametrize("how", ["input", "name", "name=", "inputs"])
def test_every_spelling_of_an_indexed_name_binds_it(cg, tmp_path, grid, spelling, how):
    if how == "input":
        argv = ["--input", f"{spelling}=3"]
    elif how == "name":
        argv = [f"--{spelling}", "3"]
    elif how == "name=":
        argv = [f"--{spelling}=3"]
    else:
        values = tmp_path / "values.json"
        values.write_text(json.dumps({spelling: 3}))
        argv = ["--inputs", str(values)]
    r = cg("eval", grid, *argv, "--format", "plain")
    assert r.code == 0, r.err
    assert _value_of(r.out, "w[1,2]") == 3.0
    assert _value_of(r.out, "y") == 6.0
    assert _value_of(r.out, "w[2,1]") == 0.0  # the other indices are untouched


def test_canonical_names():
    assert input_values.canonical("w[1][2]") == "w[1,2]"
    assert input_values.canonical(" w[ 1 , 2 ] ") == "w[1,2]"
    assert input_values.canonical("t[1][2][3]") == "t[1,2,3]"
    assert input_values.canonical("x") == "x"
    for bad in ["w[1][", "w[]", "w[1]]", "w[a]", "1w", "w[1]x", "w[1,,2]"]:
        with pytest.raises(Exception, match="not a valid input name"):
            input_values.canonical(bad)


def test_a_name_with_too_many_indices_is_unknown_with_a_suggestion(cg, grid):
    r = cg("eval", grid, "--input", "w[1][2][3]=1")
    assert r.code == 2
    assert "'w[1,2,3]' is not an input" in r.err and "w[1,2]" in r.err


BOM = b"\xef\xbb\xbf"


def test_inputs_file_with_a_byte_order_mark(cg, tmp_path, grid):
    values = tmp_path / "values.json"
    values.write_bytes(BOM + json.dumps({"w[1][2]": 4, "w": [1, 2, 3, 4, 5, 6]}).encode())
    r = cg("eval", grid, "--inputs", values, "--input", "w[1,2]=4", "--format", "plain")
    assert r.code == 0, r.err
    assert _value_of(r.out, "w[2,3]") == 6.0 and _value_of(r.out, "y") == 14.0


@pytest.mark.parametrize("ours", [True, False])
@pytest.mark.parametrize("command", ["eval", "explain", "check"])
def test_params_file_with_a_byte_order_mark(cg, tmp_path, command, ours):
    params = tmp_path / "params.json"
    values = {"w": 0.25}
    document = {"format": "cgraph-params/1", "params": values} if ours else values
    params.write_bytes(BOM + json.dumps(document).encode())
    r = cg(command, "-e", "param w = 1\ninput x = 2\ny = log(w - 0.5) * x", "--params", params, "--strict")
    assert r.code == 1 and "is nan" in r.err  # w = 0.25 was read: log(-0.25)
    assert "invalid JSON" not in r.err


# --- long text echoed in messages ----------------------------------------------------

LONG = "a" * 10_000
LONG_VALUE = "1" * 5_000 + "x" * 5_000
LINE_LIMIT = 300  # no line of a message is longer than this


def _cases(tmp_path):
    """(argv, expected exit code): each makes cgraph echo a 10,000-character name or value."""
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({LONG: 1}))
    valued = tmp_path / "valued.json"
    valued.write_text(json.dumps({"x": LONG_VALUE}))
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"x": {"deep": LONG_VALUE}}))
    params = tmp_path / "params.json"
    params.write_text(json.dumps({LONG: 1}))
    data = tmp_path / "data.csv"
    data.write_text(f"x,{LONG}\n1,2\n")
    near = tmp_path / "near.cg"
    near.write_text(f"input {LONG}\ny = {LONG} * 2\n")
    program = ["-e", "y = x * 2"]
    return [
        (["eval", *program, f"--{LONG}", "1"], 2),
        (["eval", *program, f"--{LONG}", "xyz"], 2),
        (["eval", *program, "--x", LONG_VALUE], 2),
        (["eval", *program, "--input", f"{LONG}=1"], 2),
        (["eval", *program, "--input", f"x={LONG_VALUE}"], 2),
        (["eval", *program, "--input", LONG], 2),
        (["eval", *program, "--x", "1", "--inputs", keyed], 2),
        (["eval", *program, "--inputs", valued], 2),
        (["eval", *program, "--inputs", nested], 2),
        (["eval", *program, "--x", "1", "--params", params], 2),
        (["eval", *program, "--x", "1", "--output", LONG], 2),
        (["eval", near, f"--{LONG[:-1]}b", "1"], 2),
        (["eval", *program, "--data", data], 0),
        (["check", *program, "--x", "1", "--rtol", LONG_VALUE], 2),
        (["check", *program, "--x", "1", "--eps", LONG_VALUE], 2),
        (["explain", *program, "--x", "1", "--node", LONG], 2),
        (["render", *program, "--x", "1", "--focus", LONG, "-o", "-", "--format", "dot"], 2),
        (["train", *program, "--data", data, "--lr", LONG_VALUE], 2),
        ([LONG], 2),
        (["eval", *program, "--x", "1", "--format", LONG], 2),
        (["eval", *program, "--x", "1", LONG], 2),
    ]


def test_long_names_and_values_are_clipped_in_every_message(cg, tmp_path):
    for argv, code in _cases(tmp_path):
        r = cg(*argv)
        what = " ".join(str(a)[:40] for a in argv)
        assert r.code == code, f"{what}: exit {r.code}\n{r.err[:500]}"
        assert r.err, what
        assert "Traceback" not in r.err
        longest = max(len(line) for line in r.err.splitlines())
        assert longest <= LINE_LIMIT, f"{what}: a {longest}-character line:\n{r.err[:500]}"
        assert "..." in r.err, f"{what}: nothing was clipped:\n{r.err[:500]}"


def test_clip_message_keeps_short_messages_and_paths_whole():
    from cgraph.errors import clip_message

    path = "/tmp/" + "d" * 150 + "/data.csv"
    message = f"note: {path}: column 'x' is not an input; ignored " + "b" * 60
    assert clip_message(message) == message  # no piece is long enough to cut
    assert clip_message("short 'x'") == "short 'x'"
    clipped = clip_message(f"error: '{LONG}' is not an input; {LONG_VALUE} ({'c' * 300})")
    assert len(clipped) < 250 and clipped.count("...") == 3
    assert clipped.startswith("error: 'aaaa")
    prose = "error: 'x' is not an input of this file, and here is a long stretch of prose between two names (did you mean 'y'?)" + " z" * 60
    assert clip_message(prose) == prose  # no quoted piece is long: the text between quotes is not one
