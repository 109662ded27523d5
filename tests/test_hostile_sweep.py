"""What a sweep of the whole command line with hostile input found, one test per class:
endless devices and a closed standard input, standard input that is a file an output
would replace, JSON with integers past Python's conversion limit or nested past its
recursion limit, and control characters of user text echoed in messages. Each must end
with a clear message and a documented exit code, never a traceback, a hang or a file of
the user's overwritten."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.files import write
from support.runner import cgraph_script, run_script, script_env

PROGRAM = "param w = 0\nparam b = 0\ninput x = 1\ninput y = 1.5\nloss = (w*x + b - y)^2\n"
DATA = "x,y\n1,3\n2,5\n"


def clean(proc: subprocess.CompletedProcess, code: int) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == code, f"exit {proc.returncode}: {err[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.splitlines()) <= 6, err
    return err


def run_with_stdin(argv, stdin, cwd) -> subprocess.CompletedProcess:
    """`cgraph *argv < stdin` with standard input a file (or device) opened for reading."""
    with open(stdin, "rb") as f:
        return subprocess.run([*cgraph_script(), *map(str, argv)], stdin=f, capture_output=True, cwd=cwd,
                              env=script_env(), timeout=60)


# --- devices that never end, and no standard input at all --------------------------------


@pytest.mark.parametrize("argv", [
    ["eval", "/dev/zero"],
    ["eval", "-e", "y = x", "--inputs", "/dev/zero"],
    ["eval", "model.cg", "--params", "/dev/urandom"],
    ["train", "model.cg", "--init", "/dev/zero"],
    ["eval", "model.cg", "--data", "/dev/zero", "--data-format", "csv"],
    ["eval", "model.cg", "--data", "/dev/zero", "--data-format", "jsonl"],
    ["eval", "model.cg", "--data", "/dev/zero", "--data-format", "parquet"],
    ["train", "model.cg", "--data", "/dev/urandom", "--data-format", "csv"],
])
def test_an_endless_device_is_refused_not_read_until_memory_runs_out(tmp_path, argv):
    write(tmp_path, PROGRAM, "model.cg")
    err = clean(run_script(*argv, cwd=tmp_path, timeout=60), 2)
    assert "is a device, not a file" in err


# The commands that read standard input with `-`: the program, and --data (text and Parquet).
STDIN_READERS = [
    ["eval", "-"],
    ["eval", "model.cg", "--data", "-", "--data-format", "csv"],
    ["eval", "model.cg", "--data", "-", "--data-format", "parquet"],
]


@pytest.mark.parametrize("argv", STDIN_READERS)
def test_an_endless_standard_input_is_refused(tmp_path, argv):
    write(tmp_path, PROGRAM, "model.cg")
    err = clean(run_with_stdin(argv, "/dev/zero", tmp_path), 2)
    assert "standard input is a device, not a file" in err


def test_dev_null_is_still_read(tmp_path):
    err = clean(run_script("eval", "/dev/null", cwd=tmp_path), 1)  # an empty program, as before
    assert "nothing to compute" in err


@pytest.mark.parametrize("argv", STDIN_READERS)
def test_a_closed_standard_input_is_a_usage_error(tmp_path, argv):
    write(tmp_path, PROGRAM, "model.cg")
    proc = run_script(*argv, cwd=tmp_path, preexec_fn=lambda: os.close(0))
    assert "standard input is closed" in clean(proc, 2)


# --- standard input is a file, and -o names it -------------------------------------------


@pytest.mark.parametrize("argv", [
    ["eval", "-", "-o", "/dev/stdin"],
    ["grad", "-", "-o", "/dev/stdin"],
    ["eval", "-", "-o", "/proc/self/fd/0"],
    ["eval", "model.cg", "--data", "-", "--data-format", "csv", "-o", "/dev/stdin"],
])
def test_an_output_onto_the_file_standard_input_reads_is_refused(tmp_path, argv):
    write(tmp_path, PROGRAM, "model.cg")
    source = write(tmp_path, DATA if "--data" in argv else PROGRAM, "stdin.txt")
    before = (tmp_path / "stdin.txt").read_bytes()
    err = clean(run_with_stdin(argv, source, tmp_path), 2)
    assert "would overwrite" in err and "standard input" in err
    assert (tmp_path / "stdin.txt").read_bytes() == before


def test_standard_input_from_a_file_still_writes_elsewhere(tmp_path):
    source = write(tmp_path, "y = 2 * x\n", "prog.cg")
    proc = run_with_stdin(["eval", "-", "--x", "3", "--format", "plain", "-o", "out.txt"], source, tmp_path)
    clean(proc, 0)
    assert (tmp_path / "out.txt").read_text().splitlines()[-1] == "y 6.0 1.0"


# --- JSON past Python's limits ---------------------------------------------------------------

HUGE = "1" + "0" * 5000  # more digits than Python converts to an int (4,300)


@pytest.mark.parametrize("option,document", [
    ("--inputs", '{"x": %s, "y": 2}' % HUGE),
    ("--params", '{"w": %s, "b": 0}' % HUGE),
])
def test_a_json_integer_of_five_thousand_digits_is_inf(tmp_path, option, document):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, document, "values.json")
    proc = run_script("eval", "model.cg", option, "values.json", "--format", "json", cwd=tmp_path)
    err = clean(proc, 0)
    assert "is inf" in err  # the same warning as --x 1e400


def test_a_json_lines_integer_of_five_thousand_digits_is_inf_as_in_csv(tmp_path):
    write(tmp_path, PROGRAM, "model.cg")
    for name, rows in (("first.jsonl", [HUGE, "1"]), ("later.jsonl", ["1", HUGE])):
        write(tmp_path, "".join('{"x": %s, "y": 2}\n' % x for x in rows), name)
        err = clean(run_script("eval", "model.cg", "--data", name, cwd=tmp_path), 0)
        assert "is inf or nan in 1 row" in err


def test_an_init_file_with_a_huge_integer_is_refused_as_not_finite(tmp_path):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    write(tmp_path, '{"w": %s, "b": 0}' % HUGE, "init.json")
    err = clean(run_script("train", "model.cg", "--data", "data.csv", "--init", "init.json", cwd=tmp_path), 2)
    assert "'w' is inf" in err


@pytest.mark.parametrize("option", ["--inputs", "--params"])
def test_json_nested_too_deeply_is_a_usage_error(tmp_path, option):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", "deep.json")
    err = clean(run_script("eval", "model.cg", option, "deep.json", cwd=tmp_path), 2)
    assert "nested too deeply" in err


# --- control characters echoed back ----------------------------------------------------------


@pytest.mark.parametrize("cell,shown", [
    ('"1\n2"', r"'1\n2'"),  # a quoted line break: the message stays on one line
    ("2\x00", r"'2\x00'"),
    ("2\x1b[31mRED", r"'2\x1b[31mRED'"),
])
def test_control_characters_of_a_data_cell_are_escaped_in_the_message(cg, tmp_path, cell, shown):
    write(tmp_path, PROGRAM, "model.cg")
    data = write(tmp_path, "x,y\n1," + cell + "\n", "data.csv")
    result = cg("eval", tmp_path / "model.cg", "--data", data)
    assert result.code == 2
    head = result.err.splitlines()[0]
    assert head.endswith(f"error: {shown} in column 'y' is not a number"), result.err
    assert "\x00" not in result.err and "\x1b" not in result.err


def test_control_characters_of_an_option_value_are_escaped_once(cg):
    result = cg("eval", "-e", "y = x", "--x", "1\x1b[2J")
    assert result.code == 2
    assert result.err.strip() == r"error: --x: '1\x1b[2J' is not a number"


def test_control_characters_in_click_messages_are_escaped(cg):
    result = cg("eval", "-e", "y = x", "--format", "j\x1b[2J")
    assert result.code == 2
    assert "\x1b" not in result.err and r"'j\x1b[2J'" in result.err


# --- a data set with a file that is not there -------------------------------------------------


@pytest.mark.parametrize("spec", ["parts", "parts/*.csv"])
def test_a_broken_link_in_a_data_set_is_refused_not_skipped(cg, tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PROGRAM, "model.cg")
    (tmp_path / "parts").mkdir()
    write(tmp_path / "parts", DATA, "a.csv")
    os.symlink(tmp_path / "gone.csv", tmp_path / "parts" / "b.csv")
    result = cg("eval", "model.cg", "--data", spec)
    assert result.code == 2
    assert "parts/b.csv is a symbolic link to a file that does not exist" in result.err
    assert result.out == ""


def test_a_data_set_skips_what_is_not_a_data_file(cg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PROGRAM, "model.cg")
    (tmp_path / "parts").mkdir()
    write(tmp_path / "parts", DATA, "a.csv")
    os.symlink(tmp_path / "gone.txt", tmp_path / "parts" / "notes.txt")  # not a data file's name
    (tmp_path / "parts" / "sub.csv").mkdir()
    result = cg("eval", "model.cg", "--data", "parts")
    assert result.code == 0 and len(result.out.splitlines()) == 3


# --- 20,000 defs: no search for a cycle that cannot close ----------------------------------


def test_defs_before_their_calls_are_not_searched_for_cycles(monkeypatch):
    """A cycle through a new def ends with a call of it; a chain of defs each calling the
    one above (20,000 of them took minutes: a search of the whole chain per def) has none."""
    import cgraph
    from cgraph.frontend.functions import Functions

    searched = []
    real = Functions._cycle_through
    monkeypatch.setattr(Functions, "_cycle_through", lambda self, name: searched.append(name) or real(self, name))
    depth = 2000
    defs = ["def f0(a) = a"] + [f"def f{k}(a) = f{k - 1}(a) + 1" for k in range(1, depth + 1)]
    graph = cgraph.parse("\n".join(defs) + f"\ny = f{depth}(x)")
    assert cgraph.evaluate(graph, {"x": 1.0}).value == depth + 1
    assert searched == []


@pytest.mark.parametrize("program,message", [
    ("def f(a) = f(a)\ny = f(x)", "'f' calls itself"),
    ("def g(a) = f(a)\ndef f(a) = g(a) + 1\ny = f(x)", "f -> g -> f"),  # closed by the later def
    ("def h(a) = f(a)\ndef g(a) = h(a)\ndef f(a) = 2 * a + g(a)\ny = f(x)", "f -> g -> h -> f"),
])
def test_every_cycle_is_still_found_when_it_closes(program, message):
    import cgraph

    with pytest.raises(cgraph.BuildError) as info:
        cgraph.parse(program)
    assert message in info.value.message
    assert info.value.location.line == 1  # the call that closes the cycle


# --- lists of names and empty values, the same on every command -------------------------------

INTRO = "p = x + y\ng = p * z\n"
VALUES = ["--x", "1", "--y", "2", "--z", "3"]


@pytest.mark.parametrize("argv", [
    ["grad", "prog.cg", "--wrt", "x,x"],
    ["hessian", "prog.cg", *VALUES, "--wrt", "x,x"],
    ["export", "prog.cg", "--to", "python", "--output", "p,p"],
    ["export", "prog.cg", "--to", "python", "--wrt", "x,x"],
    ["eval", "prog.cg", *VALUES, "--output", "g,g"],
    ["explain", "prog.cg", *VALUES, "--blank", "values", "--blank-nodes", "p,p"],
    ["render", "prog.cg", *VALUES, "--backward", "--wrt", "x,x", "-o", "out.svg"],
])
def test_a_name_listed_twice_is_a_usage_error(cg, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, INTRO)
    result = cg(*argv)
    assert result.code == 2 and "is named twice" in result.err, result.err
    assert result.out == "" and not (tmp_path / "out.svg").exists()


@pytest.mark.parametrize("argv", [
    ["hessian", "prog.cg", *VALUES, "--wrt", "x,"],  # was read as x alone
    ["grad", "prog.cg", "--wrt", ","],
])
def test_an_empty_name_in_a_list_is_a_usage_error(cg, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, INTRO)
    result = cg(*argv)
    assert result.code == 2 and "an empty name in the list" in result.err, result.err


@pytest.mark.parametrize("argv,option", [
    (["train", "model.cg", "--data", "data.csv", "--epochs", "1", "--save", ""], "--save"),  # saved nothing
    (["train", "model.cg", "--data", "data.csv", "--epochs", "1", "--log", ""], "--log"),
    (["train", "model.cg", "--data", "data.csv", "--epochs", "1", "--loss", ""], "--loss"),
    (["explain", "model.cg", "--node", ""], "--node"),  # explained everything
    (["eval", "model.cg", "--inputs", ""], "--inputs"),  # read nothing
    (["eval", "model.cg", "--params", ""], "--params"),
    (["eval", "model.cg", "-o", ""], "-o/--out"),  # exit 1, "cannot write"
    (["render", "model.cg", "-o", ""], "-o/--out"),  # wrote model.svg
    (["render", "model.cg", "--frames", ""], "--frames"),
    (["eval", "model.cg", "--data", ""], "--data"),
    (["grad", "model.cg", "--wrt", ""], "--wrt"),
    (["export", "model.cg", "--to", "python", "--name", ""], "--name"),
])
def test_an_empty_value_is_a_usage_error_not_ignored(cg, tmp_path, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    result = cg(*argv)
    assert result.code == 2, result.err
    assert f"{option} needs a value, not an empty string" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.cg"]


def test_empty_values_that_mean_something_still_work(cg, tmp_path):
    assert cg("eval", "-e", "").code == 1  # an empty program: "nothing to compute", located
    prog = write(tmp_path, INTRO)
    result = cg("render", prog, *VALUES, "--annotate", "", "--format", "dot", "-o", "-")
    assert result.code == 0 and result.out.startswith("digraph")


# --- derivatives sized before they are built ---------------------------------------------------


def squares(n: int) -> str:
    return "y = " + " + ".join(f"a{i}*a{i}" for i in range(n)) + "\n"


def test_a_hessian_of_fifty_thousand_inputs_is_refused_before_it_is_built(cg, tmp_path):
    """2.5 billion entries: it filled memory for minutes before the node limit stopped it."""
    prog = write(tmp_path, squares(50_000))
    values = write(tmp_path, "{" + ",".join(f'"a{i}": 1' for i in range(50_000)) + "}", "values.json")
    result = cg("hessian", prog, "--inputs", values)
    assert result.code == 1 and result.out == ""
    assert "the derivatives of order 2 would be 2,500,000,000 outputs" in result.err
    assert "over the limit of 10,000,000 nodes" in result.err


@pytest.mark.parametrize("argv", [
    ["hessian", "prog.cg", "--max-nodes", "50"],  # --max-nodes was read for the program only
    ["check", "prog.cg", "--order", "2", "--max-nodes", "50"],
    ["grad", "prog.cg", "--order", "2", "--max-nodes", "50"],
])
def test_max_nodes_caps_the_second_order_graph_too(cg, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, squares(10))
    values = [f"--a{i}=1" for i in range(10)] if argv[0] != "grad" else []
    result = cg(*argv, *values)
    assert result.code == 1, result.err
    assert "would be 100 outputs" in result.err and "over the limit of 50 nodes" in result.err
    assert cg(*argv[:-2], *values).code == 0  # within the default limit it works


def test_higher_orders_are_sized_as_a_power(cg, tmp_path):
    prog = write(tmp_path, squares(300))
    result = cg("grad", prog, "--order", "3")
    assert result.code == 1 and "would be 27,000,000 outputs" in result.err


def test_a_message_lists_twenty_names_and_how_many_more(cg, tmp_path):
    prog = write(tmp_path, "y = " + " + ".join(f"a{i}" for i in range(50_000)) + "\n")
    missing = cg("eval", prog)
    assert missing.code == 2
    assert "missing values for a0, a1, " in missing.err and "a19, ... (49,980 more)" in missing.err
    assert len(missing.err) < 1000  # was a 400 KB line
    unknown = cg("eval", prog, "--x", "1")
    assert unknown.code == 2 and unknown.err.rstrip().endswith("inputs: " + ", ".join(
        f"a{i}" for i in range(20)) + ", ... (49,980 more)")  # the list was cut at 30 without a word


def test_serve_says_standard_input_cannot_be_watched(cg):
    result = cg("serve", "-")
    assert result.code == 2
    assert "standard input (-) cannot be watched" in result.err and "does not exist" not in result.err


@pytest.mark.parametrize("extra,last", [
    (9, "note: data.csv: 1 more column binds nothing; ignored"),
    (100_000, "note: data.csv: 99,992 more columns bind nothing; ignored"),
])
def test_columns_that_bind_nothing_are_noted_eight_at_most(cg, tmp_path, monkeypatch, extra, last):
    """A file of 100,000 unused columns printed 100,000 lines of notes."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PROGRAM, "model.cg")
    header = ",".join(f"c{i}" for i in range(extra)) + ",x,y\n"
    write(tmp_path, header + ",".join("0" for _ in range(extra)) + ",1,2\n", "data.csv")
    result = cg("eval", "model.cg", "--data", "data.csv")
    assert result.code == 0
    notes = [line for line in result.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 9 and notes[0].startswith("note: data.csv: column 'c0' is not an input") and notes[-1] == last


@pytest.mark.parametrize("option,document", [
    ("--inputs", '{"x": 1, "y": 2, "x": 3}'),  # x was 3 without a word
    ("--params", '{"w": 1, "b": 0, "w": 2}'),
])
def test_a_json_key_given_twice_is_a_usage_error(tmp_path, option, document):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, document, "values.json")
    err = clean(run_script("eval", "model.cg", option, "values.json", cwd=tmp_path), 2)
    assert "is given twice in one object" in err


@pytest.mark.parametrize("address", ["junk", "bogus://host:1", ":::"])
def test_a_malformed_scheduler_address_is_a_usage_error_without_a_traceback(tmp_path, address):
    """A Client that failed in its constructor printed a traceback from its __del__."""
    pytest.importorskip("distributed")
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    proc = run_script("eval", "model.cg", "--data", "data.csv", "--engine", "dask", "--scheduler", address,
                      cwd=tmp_path)
    err = clean(proc, 2)
    assert "Exception ignored" not in err and "not a scheduler's address" in err


@pytest.mark.parametrize("argv,victim", [
    (["eval", "model.cg", "--data", "data.csv"], "data.csv"),  # read its own rows back
    (["eval", "model.cg", "--x", "1", "--y", "2"], "model.cg"),
    (["train", "model.cg", "--data", "data.csv", "--epochs", "1"], "data.csv"),
    (["eval", "-e", "y = x", "--inputs", "in.json"], "in.json"),
])
def test_standard_output_appended_to_a_file_the_run_reads_is_refused(tmp_path, argv, victim):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    write(tmp_path, '{"x": 1}', "in.json")
    before = (tmp_path / victim).read_bytes()
    with open(tmp_path / victim, "ab") as out:
        proc = subprocess.run([*cgraph_script(), *argv], stdout=out, stderr=subprocess.PIPE, cwd=tmp_path,
                              env=script_env(), timeout=60)
    err = clean(proc, 2)
    assert "standard output is" in err and victim in err
    assert (tmp_path / victim).read_bytes() == before


def test_standard_output_onto_a_read_file_is_fine_when_the_result_goes_to_o(tmp_path):
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    with open(tmp_path / "data.csv", "ab") as out:
        proc = subprocess.run([*cgraph_script(), "eval", "model.cg", "--data", "data.csv", "-o", "rows.csv"],
                              stdout=out, stderr=subprocess.PIPE, cwd=tmp_path, env=script_env(), timeout=60)
    clean(proc, 0)
    assert (tmp_path / "data.csv").read_text() == DATA


@pytest.mark.parametrize("option", ["--params", "--init"])
def test_a_params_file_of_a_newer_format_says_so(cg, tmp_path, monkeypatch, option):
    """It was read as a plain object: "the value of the param 'format' must be a number"."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PROGRAM, "model.cg")
    write(tmp_path, DATA, "data.csv")
    write(tmp_path, '{"format": "cgraph-params/99", "params": {"w": 1, "b": 0}, "epoch": 3}', "saved.json")
    argv = ["eval", "model.cg"] if option == "--params" else ["train", "model.cg", "--data", "data.csv"]
    result = cg(*argv, option, "saved.json")
    assert result.code == 2
    assert "the file is cgraph-params/99, a format this cgraph cannot read" in result.err
    assert "'format'" not in result.err


def test_render_s_default_output_for_standard_input_never_replaces_the_file_it_reads(tmp_path):
    """`cgraph render - < stdin.svg` draws to stdin.svg by default: the program itself."""
    source = write(tmp_path, "p = x + y\ng = p * z\n", "stdin.svg")
    before = (tmp_path / "stdin.svg").read_bytes()
    err = clean(run_with_stdin(["render", "-", "--x", "1", "--y", "2", "--z", "3"], source, tmp_path), 2)
    assert "would overwrite the program - (standard input, the same file)" in err
    assert (tmp_path / "stdin.svg").read_bytes() == before


@pytest.mark.parametrize("argv,option", [
    (["render", "prog.cg", *VALUES, "-o", "new/"], "-o"),  # said "Not a directory"
    (["train", "model.cg", "--x", "1", "--y", "2", "--save", "new/"], "--save"),
    (["train", "model.cg", "--x", "1", "--y", "2", "--log", "new/"], "--log"),
])
def test_an_output_ending_with_a_slash_names_a_missing_directory(cg, tmp_path, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, INTRO)
    write(tmp_path, PROGRAM, "model.cg")
    result = cg(*argv)
    assert result.code == 1
    assert f"cannot write {option} new/: it ends with /, so it names a directory, which does not exist" in result.err
    assert "trained" not in result.out  # found before training
    assert not (tmp_path / "new").exists()
