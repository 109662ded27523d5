"""The command line, `cgraph eval`, against the contract in the issue.

Most tests run the CLI in-process through `cgraph.cli.run(argv)` (which maps errors to
exit codes the way the `cgraph` script does) and read stdout/stderr with capsys; a few
run the installed script in a subprocess for real exit codes, pipes and terminals.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import subprocess
import time

import pytest

import cgraph
from support.files import write
from support.jsonutil import strict_json
from support.paths import SAMPLES
from support.runner import Result, cgraph_script, script_env

INTRO = str(SAMPLES / "intro.cg")
TUTORIAL = ["eval", INTRO, "--x", "1", "--y", "3", "--z", "-3"]



# --- helpers -------------------------------------------------------------------------


def plain_rows(text: str) -> dict[str, tuple[float, float | None]]:
    """name -> (value, grad); a literal's grad is `-` (it has none): None."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        assert len(fields) == 3, f"not a `name value grad` line: {line!r}"
        rows[fields[0]] = (float(fields[1]), None if fields[2] == "-" else float(fields[2]))
    return rows


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def table_rows(text: str) -> dict[str, list[str]]:
    """The body rows of a rich table (heavy header lines use ┃, body lines │): name -> cells."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def assert_clean_error(res: Result, code: int) -> list[str]:
    """A failure with the given exit code and a few clear lines on stderr, no traceback."""
    assert res.code == code, f"exit {res.code}, expected {code}; stderr:\n{res.err}"
    assert "Traceback" not in res.err
    assert "internal error" not in res.err
    lines = res.err.strip("\n").splitlines()
    assert 1 <= len(lines) <= 8, f"expected a few lines on stderr, got {len(lines)}:\n{res.err}"
    return lines


def assert_located_error(res: Result, filename: str, line: int | None = None, column: int | None = None) -> str:
    """Exit 1; `file:line:column: error: ...`, the source line, and a caret under the column."""
    lines = assert_clean_error(res, 1)
    head = next((ln for ln in lines if ln.startswith(f"{filename}:") and ": error:" in ln), None)
    assert head is not None, f"no '{filename}:LINE:COL: error:' line in:\n{res.err}"
    m = re.match(rf"^{re.escape(filename)}:(\d+):(\d+): error: (.+)$", head)
    assert m, head
    got_line, got_col = int(m.group(1)), int(m.group(2))
    if line is not None:
        assert got_line == line, head
    if column is not None:
        assert got_col == column, head
    i = lines.index(head)
    src = re.match(rf"^\s*{got_line} \| (.*)$", lines[i + 1])
    assert src, f"no source line after the error:\n{res.err}"
    caret = re.match(r"^\s*\| ([ \t]*)\^+\s*$", lines[i + 2])
    assert caret, f"no caret line under the source line:\n{res.err}"
    assert len(caret.group(1)) == got_col - 1, f"the caret is not under column {got_col}:\n{res.err}"
    return m.group(3)


# --- the tutorial, in every format ---------------------------------------------------


def _from_plain(text):
    return plain_rows(text)


def _from_json(text):
    data = strict_json(text)
    assert data["output"] == "g"
    assert data["value"] == -12
    rows = {n["name"]: (n["value"], n["grad"]) for n in data["nodes"] if n["name"] is not None}
    for name, grad in data["gradients"].items():
        assert rows[name][1] == grad
    return rows


def _from_csv(text):
    return {r["name"]: (float(r["value"]), float(r["grad"])) for r in csv_rows(text) if r["name"]}


def _from_table(text):
    assert "g = -12" in text  # the title
    rows = table_rows(text)
    return {name: (float(cells[-2]), float(cells[-1])) for name, cells in rows.items()}


@pytest.mark.parametrize("fmt, parse", [("json", _from_json), ("plain", _from_plain), ("csv", _from_csv), ("table", _from_table)])
def test_tutorial_in_every_format(cg, monkeypatch, fmt, parse):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    res = cg(*TUTORIAL, "--format", fmt)
    assert res.code == 0, res.err
    assert "\x1b[" not in res.out
    rows = parse(res.out)
    assert rows["g"] == (-12, 1)
    assert rows["x"] == (1, -3)
    assert rows["y"] == (3, -3)
    assert rows["z"] == (-3, 4)
    assert rows["p"] == (4, -3)


def test_table_is_the_default_format(cg, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    res = cg(*TUTORIAL)
    assert res.code == 0
    header = next(line for line in res.out.splitlines() if "┃" in line and "node" in line)
    for column in ("node", "op", "expression", "value"):
        assert column in header
    assert "dg/d" in header or "grad" in header
    rows = table_rows(res.out)
    assert rows["p"][0] == "add" and rows["p"][1] == "x + y"
    assert rows["g"][0] == "mul" and rows["g"][1] == "p * z"
    assert rows["x"][0] == "input"


def test_tutorial_json_document(cg):
    data = strict_json(cg(*TUTORIAL, "--format", "json").out)
    assert data["output"] == "g"
    assert data["value"] == -12
    assert data["inputs"] == {"x": 1, "y": 3, "z": -3}
    assert data["gradients"] == {"x": -3, "y": -3, "z": 4}
    assert data["warnings"] == []
    by_name = {n["name"]: n for n in data["nodes"]}
    for node in data["nodes"]:
        assert {"id", "name", "op", "args", "value", "grad", "line"} <= node.keys()
    assert by_name["p"]["op"] == "add" and by_name["p"]["line"] == 3
    assert by_name["g"]["op"] == "mul" and by_name["g"]["line"] == 4
    assert by_name["p"]["args"] == [by_name["x"]["id"], by_name["y"]["id"]]
    assert by_name["g"]["args"] == [by_name["p"]["id"], by_name["z"]["id"]]
    assert by_name["x"]["args"] == []


def test_tutorial_through_the_installed_script():
    proc = subprocess.run(
        [*cgraph_script(), *TUTORIAL, "--format", "json"], capture_output=True, text=True, timeout=60, env=script_env()
    )
    assert proc.returncode == 0, proc.stderr
    data = strict_json(proc.stdout)
    assert data["value"] == -12
    assert data["gradients"] == {"x": -3, "y": -3, "z": 4}


# --- FILE, - and -e -------------------------------------------------------------------


def test_program_from_stdin(cg):
    res = cg("eval", "-", "--x", "1", "--y", "3", "--z", "-3", "--format", "plain", stdin="p = x + y\ng = p * z\n")
    assert res.code == 0, res.err
    assert plain_rows(res.out)["g"] == (-12, 1)


def test_inline_expression(cg):
    res = cg("eval", "-e", "(x + y) * z", "--x", "1", "--y", "3", "--z", "-3", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["value"] == -12
    assert data["gradients"] == {"x": -3, "y": -3, "z": 4}


def test_inline_program_with_several_statements(cg):
    res = cg("eval", "-e", "p = x + y; g = p * z", "--x", "1", "--y", "3", "--z", "-3", "--format", "plain")
    assert res.code == 0, res.err
    assert plain_rows(res.out)["p"] == (4, -3)


def test_inputs_may_come_before_the_file(cg):
    res = cg("eval", "--x", "1", "--y", "3", "--z", "-3", INTRO, "--format", "plain")
    assert res.code == 0, res.err
    assert plain_rows(res.out)["g"] == (-12, 1)


# --- input values ----------------------------------------------------------------------


def test_name_equals_value_form(cg):
    res = cg("eval", INTRO, "--x=1", "--y=3", "--z=-3", "--format=plain")
    assert res.code == 0, res.err
    assert plain_rows(res.out)["g"] == (-12, 1)


@pytest.mark.parametrize("text, value", [("-3", -3.0), ("-1e5", -1e5), ("-.5", -0.5), ("-0.25", -0.25)])
def test_negative_values(cg, text, value):
    res = cg("eval", INTRO, "--x", "1", "--y", "3", "--z", text, "--format", "plain")
    assert res.code == 0, res.err
    rows = plain_rows(res.out)
    assert rows["z"] == (value, 4)
    assert rows["g"][0] == 4 * value


def test_input_option_for_names_that_clash_with_options(cg):
    res = cg(
        "eval", "-e", "y = format * seed + show", "--input", "format=3", "--input", "seed=2",
        "--input", "show=-1", "--format", "json",
    )  # (`output` is a reserved word: not a name)
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["value"] == 5
    assert data["inputs"] == {"format": 3, "seed": 2, "show": -1}
    assert data["gradients"] == {"format": 2, "seed": 3, "show": 1}


def test_inputs_json_file(cg, tmp_path):
    values = tmp_path / "values.json"
    values.write_text('{"x": 1, "y": 3, "z": -3}')
    res = cg("eval", INTRO, "--inputs", values, "--format", "plain")
    assert res.code == 0, res.err
    assert plain_rows(res.out)["g"] == (-12, 1)


def test_command_line_overrides_the_inputs_file(cg, tmp_path):
    values = tmp_path / "values.json"
    values.write_text('{"x": 1, "y": 3, "z": -3}')
    res = cg("eval", INTRO, "--inputs", values, "--z", "2", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["inputs"] == {"x": 1, "y": 3, "z": 2}
    assert data["value"] == 8


def test_inputs_json_file_with_indexed_names_and_lists(cg, tmp_path):
    values = tmp_path / "values.json"
    values.write_text('{"x": [1, 2, 3, 4, 5], "h[0]": 0.5}')
    data = strict_json(cg("eval", SAMPLES / "rnn.cg", "--inputs", values, "--format", "json").out)
    assert [data["inputs"][f"x[{t}]"] for t in range(1, 6)] == [1, 2, 3, 4, 5]
    assert data["inputs"]["h[0]"] == 0.5


def test_indexed_input_takes_a_list(cg):
    data = strict_json(cg("eval", SAMPLES / "rnn.cg", "--x", "0.1,0.2,0.3,0.4,0.5", "--format", "json").out)
    assert [data["inputs"][f"x[{t}]"] for t in range(1, 6)] == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_indexed_list_binds_the_indices_the_file_uses_in_ascending_order(cg):
    res = cg("eval", "-e", "y = x[10] + 2*x[2] + 3*x[1]", "--x", "1,2,3", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["inputs"] == {"x[10]": 3, "x[2]": 2, "x[1]": 1}
    assert data["value"] == 3 + 4 + 3


@pytest.mark.parametrize("values", ["1,2,3", "1,2,3,4,5,6", "1"])
def test_indexed_list_count_must_match(cg, values):
    res = cg("eval", SAMPLES / "rnn.cg", "--x", values)
    assert_clean_error(res, 2)
    assert "5" in res.err  # how many the file has
    n = len(values.split(","))
    assert f"5 indexed inputs (x[1], x[2], x[3], x[4], x[5]), got {n} value{'s' if n != 1 else ''}" in res.err


def test_one_indexed_input(cg):
    data = strict_json(cg("eval", SAMPLES / "rnn.cg", "--input", "x[2]=5", "--format", "json").out)
    assert data["inputs"]["x[2]"] == 5
    assert data["inputs"]["x[3]"] == pytest.approx(math.sin(3))  # declared default: input x[t] = sin(t)


def _logreg_loss(w1, w2, b, x1, x2, label):
    p = 1 / (1 + math.exp(-(w1 * x1 + w2 * x2 + b)))
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def test_declared_defaults_fill_the_rest(cg):
    res = cg("eval", SAMPLES / "logreg.cg", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["inputs"] == {"w[1]": 0.2, "w[2]": -0.3, "b": 0.1, "x[1]": 1.5, "x[2]": -0.5, "label": 1}
    assert data["value"] == pytest.approx(_logreg_loss(0.2, -0.3, 0.1, 1.5, -0.5, 1))


def test_command_line_overrides_declared_defaults_and_params(cg):
    res = cg("eval", SAMPLES / "logreg.cg", "--label", "0", "--b", "1", "--w", "0.5,0.25", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["inputs"] == {"w[1]": 0.5, "w[2]": 0.25, "b": 1, "x[1]": 1.5, "x[2]": -0.5, "label": 0}
    assert data["value"] == pytest.approx(_logreg_loss(0.5, 0.25, 1, 1.5, -0.5, 0))


def test_missing_inputs_are_all_listed(cg):
    res = cg("eval", "-e", "y = a*b + c[1] + c[2] + d", "--b", "1")
    lines = assert_clean_error(res, 2)
    message = lines[0]  # the error line; the source excerpt below it shows b, of course
    for name in ("a", "c[1]", "c[2]", "d"):
        assert re.search(rf"(?<![\w\[]){re.escape(name)}(?![\w\]])", message), f"{name} not listed:\n{res.err}"
    assert not re.search(r"(?<![\w\[-])b(?![\w\]])", message), f"b was given:\n{res.err}"


def test_missing_inputs_of_the_tutorial(cg):
    res = cg("eval", INTRO, "--y", "3")
    assert_clean_error(res, 2)
    assert re.search(r"\bx\b", res.err) and re.search(r"\bz\b", res.err)


@pytest.mark.parametrize(
    "argv, mentions",
    [
        (["--x", "1", "--y", "3", "--z", "1", "--q", "4"], "q"),  # not a name in the file
        (["--x", "1", "--y", "3", "--z", "1", "--p", "4"], "p"),  # computed, not an input
        (["--x", "1", "--y", "3", "--z", "1", "--input", "q=4"], "q"),
        (["--x", "abc", "--y", "3", "--z", "1"], "abc"),
        (["--x", "1e", "--y", "3", "--z", "1"], "1e"),
        (["--x", "1,", "--y", "3", "--z", "1"], "--x"),
        (["--x", "", "--y", "3", "--z", "1"], "--x"),
        (["--input", "x=abc", "--y", "3", "--z", "1"], "abc"),
        (["--input", "x", "--y", "3", "--z", "1"], "NAME=VALUE"),
        (["--input", "x[a]=1", "--y", "3", "--z", "1"], "x[a]"),
        (["--x", "1", "--y", "3", "--z"], "--z"),
    ],
)
def test_bad_input_values_are_usage_errors(cg, argv, mentions):
    res = cg("eval", INTRO, *argv)
    assert_clean_error(res, 2)
    assert mentions in res.err
    assert res.out == ""


@pytest.mark.parametrize(
    "content, mentions",
    [
        ('{"q": 1, "x": 1, "y": 3, "z": 1}', "q"),  # unknown name
        ('{"x": "abc", "y": 3, "z": 1}', "abc"),  # not a number
        ('{"x": true, "y": 3, "z": 1}', "true"),
        ('{"x": null, "y": 3, "z": 1}', "null"),
        ('{"x": [1, 2], "y": 3, "z": 1}', "2"),
        ('{"x": 1, "y": 3, "z": 1', "values.json"),  # not JSON
        ("[1, 3, 1]", "values.json"),  # not an object
    ],
)
def test_bad_inputs_file_is_a_usage_error(cg, tmp_path, content, mentions):
    values = tmp_path / "values.json"
    values.write_text(content)
    res = cg("eval", INTRO, "--inputs", values)
    assert_clean_error(res, 2)
    assert mentions in res.err


def test_inputs_file_that_does_not_exist(cg, tmp_path):
    res = cg("eval", INTRO, "--inputs", tmp_path / "nowhere.json")
    assert_clean_error(res, 2)
    assert "nowhere.json" in res.err


def test_huge_integer_in_inputs_file_is_a_number_not_a_crash(cg, tmp_path):
    # 1 followed by 400 zeros is a valid JSON number; `--x 1000...0` on the command line
    # reads it as inf. It must not end as an internal error (exit 70).
    values = tmp_path / "values.json"
    values.write_text('{"x": 1' + "0" * 400 + ', "y": 3, "z": 1}')
    res = cg("eval", INTRO, "--inputs", values, "--format", "json")
    assert "internal error" not in res.err
    assert res.code in (0, 2), res.err


# --- --format and --show ---------------------------------------------------------------

LOGREG = str(SAMPLES / "logreg.cg")
LOGREG_LEAVES = {"w[1]", "w[2]", "b", "x[1]", "x[2]", "label"}
LOGREG_NAMED = LOGREG_LEAVES | {"z", "p", "loss"}


def _logreg_size() -> int:
    return len(cgraph.load(LOGREG))


def _rows_of(fmt: str, text: str) -> list[str]:
    """The row labels a format lists: names, or '#id' for anonymous nodes."""
    if fmt == "plain":
        return list(plain_rows(text))
    if fmt == "csv":
        return [r["name"] or f"#{r['id']}" for r in csv_rows(text)]
    if fmt == "json":
        return [n["name"] if n["name"] is not None else f"#{n['id']}" for n in strict_json(text)["nodes"]]
    return list(table_rows(text))


@pytest.mark.parametrize("fmt", ["plain", "csv", "json", "table"])
@pytest.mark.parametrize("show", ["inputs", "named", "all", None])
def test_show_picks_the_rows_in_every_format(cg, monkeypatch, fmt, show):
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["eval", LOGREG, "--format", fmt] + (["--show", show] if show else [])
    res = cg(*argv)
    assert res.code == 0, res.err
    labels = _rows_of(fmt, res.out)
    assert len(labels) == len(set(labels))
    named = {label for label in labels if not label.startswith("#")}
    if show == "inputs":
        assert set(labels) == LOGREG_LEAVES | {"loss"}
    elif show in ("named", None):  # named is the default
        assert set(labels) == LOGREG_NAMED
    else:
        assert named == LOGREG_NAMED
        assert len(labels) == _logreg_size()


@pytest.mark.parametrize("show", ["inputs", "named", "all"])
def test_json_gradients_cover_every_input_and_param_whatever_is_shown(cg, show):
    data = strict_json(cg("eval", LOGREG, "--format", "json", "--show", show).out)
    assert set(data["gradients"]) == LOGREG_LEAVES
    assert set(data["inputs"]) == LOGREG_LEAVES  # params included
    assert data["output"] == "loss"


def test_json_anonymous_nodes_have_a_null_name(cg):
    data = strict_json(cg("eval", LOGREG, "--format", "json", "--show", "all").out)
    ids = [n["id"] for n in data["nodes"]]
    assert ids == sorted(ids) and len(ids) == _logreg_size()
    anonymous = [n for n in data["nodes"] if n["name"] is None]
    assert anonymous
    for node in data["nodes"]:
        assert all(isinstance(a, int) and a in ids and a < node["id"] for a in node["args"])
        assert isinstance(node["line"], int) and node["line"] >= 1


def test_json_indexed_names(cg):
    data = strict_json(cg("eval", SAMPLES / "rnn.cg", "--format", "json").out)
    expected = {"w", "u", "h[0]", "x[1]", "x[2]", "x[3]", "x[4]", "x[5]", "target"}
    assert set(data["gradients"]) == expected
    assert set(data["inputs"]) == expected
    assert all(isinstance(v, float) for v in data["gradients"].values())


def test_json_logistic_regression_gradients(cg):
    data = strict_json(cg("eval", LOGREG, "--format", "json").out)
    p = 1 / (1 + math.exp(-0.55))
    assert data["gradients"]["b"] == pytest.approx(p - 1)
    assert data["gradients"]["w[1]"] == pytest.approx((p - 1) * 1.5)
    assert data["gradients"]["x[2]"] == pytest.approx((p - 1) * -0.3)


@pytest.mark.parametrize(
    "expr, value, word",
    [
        ("y = log(x)", "0", "-inf"),
        ("y = exp(x)", "1000", "inf"),
        ("y = sqrt(x)", "-1", "nan"),
    ],
)
def test_json_non_finite_numbers_are_strings(cg, expr, value, word):
    res = cg("eval", "-e", expr, "--x", value, "--format", "json", "--show", "all")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["value"] == word
    assert data["nodes"][-1]["value"] == word
    assert data["warnings"] and all(isinstance(w, str) for w in data["warnings"])
    assert word in res.err  # the warning is printed too


def test_json_non_finite_inputs(cg):
    res = cg("eval", "-e", "y = a + b + c", "--a", "inf", "--b", "-inf", "--c", "nan", "--format", "json")
    data = strict_json(res.out)
    assert data["inputs"] == {"a": "inf", "b": "-inf", "c": "nan"}
    assert data["value"] == "nan"


def test_plain_lines_round_trip_through_float(cg):
    res = cg("eval", "-e", "y = x / 3", "--x", "1", "--format", "plain")
    assert plain_rows(res.out)["y"] == (1 / 3, 1)


def test_csv_has_a_header_and_one_row_per_node(cg):
    rows = csv_rows(cg(*TUTORIAL, "--format", "csv").out)
    assert [r["name"] for r in rows] == ["x", "y", "p", "z", "g"]
    assert {"name", "value", "grad"} <= rows[0].keys()


# --- colour ----------------------------------------------------------------------------

_COLOUR_SGR = re.compile(r"\x1b\[((?:\d+;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;\d+)*)m")


def test_no_escape_codes_when_not_a_terminal(cg, monkeypatch):
    monkeypatch.delenv("NO_COLOR")  # the cg fixture sets it; here the missing terminal alone must do
    res = cg(*TUTORIAL)
    assert res.code == 0
    assert "\x1b" not in res.out


def _run_on_a_terminal(argv: list[str], **env: str) -> str:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*cgraph_script(), *argv], stdout=slave, stderr=subprocess.PIPE,
            env=script_env(TERM="xterm-256color", COLUMNS="120", **env),
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return b"".join(chunks).decode("utf-8", "replace")


def test_table_has_colour_on_a_terminal():
    out = _run_on_a_terminal(TUTORIAL)
    assert _COLOUR_SGR.search(out), repr(out[:300])


def test_table_respects_no_color_on_a_terminal():
    out = _run_on_a_terminal(TUTORIAL, NO_COLOR="1")
    assert "-12" in out
    assert not _COLOUR_SGR.search(out), repr(out[:300])


# --- --output ----------------------------------------------------------------------------


def test_output_picks_another_named_node(cg):
    res = cg(*TUTORIAL, "--output", "p", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["output"] == "p"
    assert data["value"] == 4
    assert data["gradients"] == {"x": 1, "y": 1, "z": 0}


def test_output_indexed_name(cg):
    res = cg("eval", SAMPLES / "mlp.cg", "--output", "h[2]", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["output"] == "h[2]"
    h2 = math.tanh(0.4 * 0.5 + 0.2 * -1.5 + 0.1)
    assert data["value"] == pytest.approx(h2, abs=1e-12)
    assert data["gradients"]["x[1]"] == pytest.approx(0.4 * (1 - h2**2))
    assert data["gradients"]["W2[2]"] == 0


def test_output_that_is_another_name_for_a_node(cg, tmp_path):
    # `b = a` makes b a second name of a's node; --output b must still report b.
    prog = write(tmp_path, "a = x * 2\nb = a\n")
    res = cg("eval", prog, "--x", "1", "--output", "b", "--format", "json")
    assert res.code == 0, res.err
    data = strict_json(res.out)
    assert data["output"] == "b"
    assert data["value"] == 2


def test_unknown_output_is_a_usage_error(cg):
    res = cg(*TUTORIAL, "--output", "nope")
    assert_clean_error(res, 2)
    assert "nope" in res.err


# --- --strict ----------------------------------------------------------------------------


def test_non_finite_value_is_a_warning_without_strict(cg):
    res = cg("eval", "-e", "y = log(x)", "--x", "0", "--format", "plain")
    assert res.code == 0
    assert "-inf" in res.err and "Traceback" not in res.err


def test_strict_makes_a_non_finite_value_an_error(cg):
    res = cg("eval", "-e", "y = log(x)", "--x", "0", "--strict")
    message = assert_located_error(res, "<expr>", 1, 5)
    assert "inf" in message


def test_strict_passes_finite_values(cg):
    res = cg(*TUTORIAL, "--strict", "--format", "plain")
    assert res.code == 0, res.err


@pytest.mark.parametrize(
    "program, argv",
    [
        # the input z is inf; the chosen output p comes before it in the file
        ("p = x + y\ng = p * z\n", ["--x", "1", "--y", "3", "--z", "inf", "--output", "p"]),
        # a = log(0) is -inf; the output b is chosen explicitly and comes first
        ("b = y * 2\na = log(x)\noutput b\n", ["--x", "0", "--y", "1"]),
    ],
    ids=["inf-input-after-output", "inf-node-after-output"],
)
def test_strict_fails_on_any_non_finite_value(cg, tmp_path, program, argv):
    prog = write(tmp_path, program)
    res = cg("eval", prog, *argv, "--strict", "--format", "plain")
    assert res.code == 1, f"--strict exited {res.code} though a value is inf:\n{res.out}"
    assert "Traceback" not in res.err


# --- --max-nodes -------------------------------------------------------------------------


def test_max_nodes_caps_the_graph(cg):
    # y = x*2 is three nodes: x, 2 and the product
    assert cg("eval", "-e", "y = x*2", "--x", "1", "--max-nodes", "3").code == 0
    res = cg("eval", "-e", "y = x*2", "--x", "1", "--max-nodes", "2")
    message = assert_located_error(res, "<expr>", 1)
    assert "2" in message
    assert "--max-nodes" in res.err


def test_max_nodes_caps_an_unrolled_loop(cg, tmp_path):
    prog = write(tmp_path, "for t in 1..100 {\n    h[t] = tanh(w*h[t-1] + x)\n}\n")
    assert cg("eval", prog, "--w", "0.5", "--x", "1", "--h", "0", "--max-nodes", "1000").code == 0
    res = cg("eval", prog, "--w", "0.5", "--x", "1", "--h", "0", "--max-nodes", "50")
    assert_located_error(res, prog)
    assert "--max-nodes" in res.err


@pytest.mark.parametrize(
    "program",
    [
        "for t in 1..1000000000 { h[t] = tanh(w*h[t-1] + x) }",
        "for t in 1..3 { for s in 1..1000000000 { q[t,s] = x*s } }",
        "y = sum(x*i for i in 1..1000000000)",
    ],
)
def test_a_billion_iterations_fail_fast(cg, program):
    start = time.perf_counter()
    res = cg("eval", "-e", program, "--w", "1", "--x", "1")
    elapsed = time.perf_counter() - start
    assert_located_error(res, "<expr>", 1)
    assert "limit" in res.err
    assert elapsed < 2.5, f"took {elapsed:.1f} s"


def test_max_nodes_must_be_positive(cg):
    assert_clean_error(cg(*TUTORIAL, "--max-nodes", "0"), 2)
    assert_clean_error(cg(*TUTORIAL, "--max-nodes", "many"), 2)


# --- errors in the file: exit 1, located, with a caret --------------------------------


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        ("p = x $ y\n", 1, 7, "'$'"),
        ("p = x + y\ng = tanhh(p)\n", 2, 5, "tanhh"),
        ("p = x + y\np = 2*x\n", 2, 1, "already defined"),
        ("p = x + \ng = p * z\n", 1, None, "unexpected"),
        ("g = (x + y\n", None, None, "unexpected"),
        ("y = x +* 2\n", 1, 8, "'*'"),
        ("\ty =\tx +* 2\n", 1, 9, "'*'"),  # tabs: the caret still lines up
        ("def f(a) = f(a)\ny = f(x)\n", 1, 12, "recursion"),
        ("y = mean(x[i] for i in 1..0)\n", 1, 5, "empty"),
        ("y = q[1.5]\n", 1, 7, "integer"),
        ("y = sin(x, x)\n", 1, 5, "argument"),
        ("", 1, 1, "nothing to compute"),
        (b"y = \xff x\n", 1, 5, "UTF-8"),
        ("p = x + y\n" * 3 + "g = p * zz +\n", 4, None, "unexpected"),
    ],
)
def test_errors_in_the_file(cg, tmp_path, text, line, column, words):
    prog = write(tmp_path, text)
    res = cg("eval", prog, "--x", "1", "--y", "2", "--z", "3")
    message = assert_located_error(res, prog, line, column)
    assert words in message
    assert res.out == ""


def test_error_in_an_inline_expression(cg):
    res = cg("eval", "-e", "y = (x + ", "--x", "1")
    assert_located_error(res, "<expr>", 1)


def test_error_in_stdin(cg):
    res = cg("eval", "-", "--x", "1", stdin="y = x +* 2\n")
    assert_located_error(res, "<stdin>", 1, 8)


def test_error_in_a_long_line_keeps_the_caret_under_the_spot(cg, tmp_path):
    prog = write(tmp_path, "y = " + " + ".join(f"a{i}" for i in range(100)) + " $ 1\n")
    res = cg("eval", prog)
    lines = assert_clean_error(res, 1)
    m = re.match(r"^.*:1:(\d+): error:", lines[0])
    assert m
    src = next(ln for ln in lines if re.match(r"^\s*1 \| ", ln))
    caret = next(ln for ln in lines if ln.rstrip().endswith("^"))
    assert src[caret.index("^")] == "$"


# --- usage errors: exit 2, a few clear lines --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["eval"],  # no FILE
        ["eval", INTRO, "-e", "x"],  # both FILE and -e
        ["eval", "/nonexistent/model.cg", "--x", "1"],
        [*TUTORIAL, "--format", "yaml"],
        [*TUTORIAL, "--show", "everything"],
        [*TUTORIAL, "--fromat", "json"],  # a mistyped option, not an input
        ["eval", INTRO, "--x"],
        ["frobnicate"],
        ["--bogus"],
        ["eval", "-e"],
    ],
)
def test_usage_errors(cg, argv):
    res = cg(*argv)
    assert_clean_error(res, 2)
    assert res.out == ""


@pytest.mark.parametrize("argv, option", [
    (["train", str(SAMPLES / "linreg.cg"), "--data", str(SAMPLES / "linreg.csv"), "--strict", "--epochs", "1"], "--strict"),
    (["check", str(SAMPLES / "mlp.cg"), "--wrt", "b2"], "--wrt"),
    (["explain", INTRO, "--x", "1", "--y", "3", "--z", "-3", "--dpi", "96x"], "--dpi"),
])
def test_an_option_of_another_command_is_named_as_no_such_option(cg, argv, option):
    # Not "'b2' is not a number" or "unexpected extra argument": a flag or an option this
    # command lacks, whose name is no input of the file either, is said to be no option.
    res = cg(*argv)
    assert_clean_error(res, 2)
    assert f"no such option: {option}" in res.err


def test_an_input_value_that_is_not_a_number_is_still_said_so(cg):
    res = cg("eval", "-e", "y = x + wrt", "--x", "1", "--wrt", "b2")
    assert_clean_error(res, 2)
    assert "--wrt: 'b2' is not a number" in res.err


def test_many_missing_inputs_are_a_few_lines(cg, tmp_path):
    prog = write(tmp_path, "for t in 1..5000 {\n    y[t] = x[t] * w\n}\n")
    res = cg("eval", prog)
    lines = assert_clean_error(res, 2)
    assert "x[1]" in res.err and "w" in res.err
    assert sum(len(ln) for ln in lines) < 2000


def test_exit_codes_through_the_installed_script(tmp_path):
    script = cgraph_script()
    bad = write(tmp_path, "p = x $ y\n")
    cases = [
        ([*TUTORIAL, "--format", "plain"], 0),
        (["eval", INTRO, "--x", "1"], 2),  # missing inputs
        (["eval", bad, "--x", "1", "--y", "2"], 1),  # an error in the file
        (["eval", "-e", "y = log(x)", "--x", "0", "--strict"], 1),
    ]
    for argv, code in cases:
        proc = subprocess.run([*script, *argv], capture_output=True, text=True, timeout=60, env=script_env())
        assert proc.returncode == code, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr


# --- big graphs ----------------------------------------------------------------------------

BIG = "for t in 1..250000 {\n    h[t] = tanh(w*h[t-1] + x)\n}\n"


def _big_reference(w: float, x: float, steps: int) -> tuple[float, float, float]:
    """h[steps] and its derivatives by w and x, in forward mode."""
    h = dh_dw = dh_dx = 0.0
    for _ in range(steps):
        new = math.tanh(w * h + x)
        d = 1 - new * new
        dh_dw, dh_dx = d * (h + w * dh_dw), d * (w * dh_dx + 1)
        h = new
    return h, dh_dw, dh_dx


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_big_graph_with_show_inputs_prints_a_few_lines(cg, tmp_path, fmt):
    prog = write(tmp_path, BIG, "big.cg")
    start = time.perf_counter()
    res = cg("eval", prog, "--w", "0.5", "--x", "0.1", "--h", "0", "--show", "inputs", "--format", fmt)
    elapsed = time.perf_counter() - start
    assert res.code == 0, res.err
    assert elapsed < 15, f"took {elapsed:.1f} s"
    h, dh_dw, dh_dx = _big_reference(0.5, 0.1, 250000)
    if fmt == "plain":
        assert len(res.out.splitlines()) <= 6
        rows = plain_rows(res.out)
        assert set(rows) == {"w", "x", "h[0]", "h[250000]"}
        assert rows["h[250000]"][0] == pytest.approx(h)
        assert rows["w"][1] == pytest.approx(dh_dw)
        assert rows["x"][1] == pytest.approx(dh_dx)
    else:
        data = strict_json(res.out)
        assert len(res.out.splitlines()) < 200
        assert data["output"] == "h[250000]"
        assert len(data["nodes"]) == 4
        assert data["value"] == pytest.approx(h)
        assert data["gradients"]["w"] == pytest.approx(dh_dw)
        assert data["gradients"]["x"] == pytest.approx(dh_dx)


@pytest.mark.slow
def test_broken_pipe_exits_without_a_traceback(tmp_path):
    prog = write(tmp_path, BIG.replace("250000", "50000"), "big.cg")
    command = " ".join(f"'{a}'" for a in cgraph_script())
    shell = f"{command} eval big.cg --w 0.5 --x 0.1 --h 0 --show all --format plain | head -1"
    proc = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=script_env())
    assert proc.stdout.startswith("w 0.5 ")
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert "BrokenPipeError" not in proc.stderr
    assert "Exception ignored" not in proc.stderr


def test_a_long_table_shows_its_ends_and_says_what_is_left_out(cg, monkeypatch):
    """Past TABLE_MAX_ROWS rows a table shows the first and last TABLE_END_ROWS around one
    row saying how many are left out; csv (and json, plain) still print every node. Also
    with several outputs (the Jacobian's table)."""
    from cgraph.views import report

    monkeypatch.setattr(report, "TABLE_MAX_ROWS", 10)
    monkeypatch.setattr(report, "TABLE_END_ROWS", 3)
    program = "h0 = x\n" + "".join(f"h{k} = h{k - 1} * 1.5\n" for k in range(1, 13))
    table = cg("eval", "-e", program, "--x", "2").out
    shown = re.findall(r"^│ (h\d+|x) ", table, re.MULTILINE)
    assert shown == ["x", "h0", "h1", "h10", "h11", "h12"], shown  # x and h0 name one node: two rows
    assert "8 rows left out: --format csv, json or plain prints every one" in " ".join(table.split())
    assert re.search(r"^│ h12 .*│ 259\.4926758 │ +1 │$", table, re.MULTILINE)  # 2 * 1.5^12, by hand
    rows = cg("eval", "-e", program, "--x", "2", "--format", "csv").out.splitlines()
    assert len(rows) == 1 + 14  # the header and every row: x, h0, h1 ... h12
    several = cg("eval", "-e", program + "output h12, h11\n", "--x", "2").out
    assert "rows left out" in " ".join(several.split()) and "│ h3 " not in several
