"""No command writes over a file it reads, or writes two of its outputs to one file.

Every file a command writes (-o, --save, --log, --plot, the --frames directory's files)
is checked, before any work, against every file it reads (the program, --data,
--inputs, --params, --init) and against its other outputs: by device and inode when the
file exists (so through symlinks and hard links), by real path when it does not yet.
A clash is a usage error (exit 2) naming both options and the file; nothing is written
and nothing is computed. The one exception is resuming: --save may name the --init file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

PROGRAM = "param w = 0\nparam b = 0\ninput x = 1\ninput y = 1.5\npred = w*x + b\nloss = (pred - y)^2\n"
DATA = "x,y\n1,3\n2,5\n3,7\n"


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory with a program, a data file, an inputs file and a params file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.cg").write_text(PROGRAM)
    (tmp_path / "data.csv").write_text(DATA)
    (tmp_path / "in.json").write_text('{"x": 2}\n')
    (tmp_path / "p.json").write_text('{"w": 0.5, "b": 1}\n')
    return tmp_path


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry of the directory: a file's bytes, a link's target (nothing added, nothing changed)."""
    return {p.name: os.readlink(p) if p.is_symlink() else p.read_bytes()
            for p in sorted(directory.iterdir()) if not p.is_dir()}


def refused(result, first: str, second: str, path: str) -> None:
    """Exit 2 with one message naming both options and the file, and nothing on stdout."""
    assert result.code == 2, result
    assert result.out == "", result.out
    assert first in result.err and second in result.err and path in result.err, result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err


TRAIN = ("train", "model.cg", "--data", "data.csv", "--epochs", "3", "--lr", "0.01")

# (argv, the option that writes, the option (or role) it clashes with, the file named)
CLASHES = [
    pytest.param([*TRAIN, "--save", "model.cg"], "--save", "the program", "model.cg", id="train --save the program"),
    pytest.param([*TRAIN, "--log", "model.cg"], "--log", "the program", "model.cg", id="train --log the program"),
    pytest.param([*TRAIN, "--log", "data.csv"], "--log", "--data", "data.csv", id="train --log the data"),
    pytest.param([*TRAIN, "--save", "data.csv"], "--save", "--data", "data.csv", id="train --save the data"),
    pytest.param([*TRAIN, "--save", "s.json", "--log", "s.json"], "--save", "--log", "s.json",
                 id="train --save and --log one new file"),
    pytest.param([*TRAIN, "--inputs", "in.json", "--log", "in.json"], "--log", "--inputs", "in.json",
                 id="train --log the inputs"),
    pytest.param([*TRAIN, "--init", "p.json", "--log", "p.json"], "--log", "--init", "p.json",
                 id="train --log the init file"),
    pytest.param([*TRAIN, "--save", "out.png", "--plot", "out.png"], "--save", "--plot", "out.png",
                 id="train --save and --plot one file"),
    pytest.param(["eval", "model.cg", "--inputs", "in.json", "-o", "in.json"], "-o", "--inputs", "in.json",
                 id="eval -o the inputs"),
    pytest.param(["eval", "model.cg", "--params", "p.json", "-o", "p.json"], "-o", "--params", "p.json",
                 id="eval -o the params"),
    pytest.param(["eval", "model.cg", "-o", "model.cg"], "-o", "the program", "model.cg", id="eval -o the program"),
    pytest.param(["eval", "model.cg", "--data", "data.csv", "-o", "data.csv"], "-o", "--data", "data.csv",
                 id="eval --data -o the data"),
    pytest.param(["eval", "model.cg", "--data", "data.csv", "-o", "model.cg"], "-o", "the program", "model.cg",
                 id="eval --data -o the program"),
    pytest.param(["render", "model.cg", "--inputs", "in.json", "-o", "in.json", "--format", "dot"], "-o", "--inputs",
                 "in.json", id="render -o the inputs"),
]


@pytest.mark.parametrize("argv, writer, reader, path", CLASHES)
def test_an_output_naming_a_file_the_run_reads_or_writes_is_refused(cg, work, argv, writer, reader, path):
    before = snapshot(work)
    refused(cg(*argv), writer, reader, path)
    assert snapshot(work) == before


@pytest.mark.parametrize("link", ["symlink", "hard link", "symlink to a directory"])
@pytest.mark.parametrize("victim, option", [("data.csv", "--data"), ("model.cg", "the program"), ("p.json", "--init")])
def test_links_do_not_get_past_the_guard(cg, work, link, victim, option):
    if link == "symlink":
        os.symlink(victim, "alias")
        target = "alias"
    elif link == "hard link":
        os.link(victim, "alias")
        target = "alias"
    else:
        os.symlink(".", "here")
        target = f"here/{victim}"
    before = snapshot(work)
    refused(cg(*TRAIN, "--init", "p.json", "--log", target), "--log", option, target)
    assert snapshot(work) == before


def test_two_outputs_through_a_dangling_symlink_are_one_file(cg, work):
    os.symlink("s.json", "later.json")  # points at a file that does not exist yet
    refused(cg(*TRAIN, "--save", "s.json", "--log", "later.json"), "--save", "--log", "later.json")
    assert not (work / "s.json").exists()


def test_the_check_comes_before_any_training(cg, work):
    """A run of a million epochs is refused at once: nothing is trained, nothing printed."""
    result = cg("train", "model.cg", "--data", "data.csv", "--epochs", "1000000", "--max-time", "3",
                "--save", "model.cg")
    refused(result, "--save", "the program", "model.cg")


def test_resuming_into_the_init_file_is_allowed(cg, work):
    assert cg(*TRAIN, "--save", "s.json").code == 0
    first = json.loads((work / "s.json").read_text())
    result = cg(*TRAIN, "--init", "s.json", "--save", "s.json")
    assert result.code == 0, result.err
    assert json.loads((work / "s.json").read_text())["epoch"] == first["epoch"] + 3


def test_dev_null_may_take_every_output(cg, work):
    result = cg(*TRAIN, "--save", os.devnull, "--log", os.devnull)
    assert result.code == 0, result.err
    result = cg("eval", "model.cg", "--inputs", "in.json", "-o", os.devnull)
    assert result.code == 0, result.err


def test_different_files_are_fine(cg, work):
    result = cg(*TRAIN, "--save", "s.json", "--log", "log.csv", "--init", "p.json")
    assert result.code == 0, result.err
    assert (work / "log.csv").read_text().startswith("epoch,loss")
    assert (work / "data.csv").read_text() == DATA and (work / "model.cg").read_text() == PROGRAM


def test_frames_never_overwrite_a_file_the_run_reads(cg, work):
    """The frames' names (model-01-forward.dot, ...) are known only as they are drawn: a file
    the run reads with such a name in the --frames directory is refused before any is written."""
    frames = work / "frames"
    frames.mkdir()
    shutil.copy(work / "in.json", frames / "model-01-forward.dot")
    before = snapshot(frames)
    result = cg("render", "model.cg", "--inputs", "frames/model-01-forward.dot", "--y", "1", "--frames", "frames",
                "--format", "dot")
    refused(result, "--frames", "--inputs", "model-01-forward.dot")
    assert snapshot(frames) == before


def test_frames_and_o_must_not_meet(cg, work):
    result = cg("render", "model.cg", "--x", "1", "--y", "2", "--frames", "frames", "--format", "dot",
                "-o", "frames/model-02-forward.dot")
    refused(result, "--frames", "-o", "frames/model-02-forward.dot")
    assert not (work / "frames").exists() or not list((work / "frames").iterdir())


def test_render_default_output_never_replaces_the_program(cg, work):
    """Without -o, render writes the program's stem + .svg: a program called a.svg is not replaced."""
    shutil.copy(work / "model.cg", work / "a.dot")
    result = cg("render", "a.dot", "--format", "dot")
    refused(result, "-o", "the program", "a.dot")
    assert (work / "a.dot").read_text() == PROGRAM


@pytest.mark.parametrize("option", ["--save", "--log"])
def test_an_output_error_names_its_option(cg, work, option):
    """A directory, or a directory that does not exist: the message names the option the
    path came from, and comes before training."""
    (work / "adir").mkdir()
    for target, words in (("adir", "is a directory"), ("missing/x.json", "does not exist")):
        result = cg(*TRAIN, "--epochs", "1000000", "--max-time", "3", option, target)
        assert result.code == 1 and result.out == "", result
        assert f"{option} {target}" in result.err and words in result.err and " -o " not in result.err, result.err


def test_frames_leave_other_files_of_their_directory_alone(cg, work):
    """Only the frames' own names are claimed: an inputs file beside them is no clash."""
    frames = work / "frames"
    frames.mkdir()
    shutil.copy(work / "in.json", frames / "model-notes.dot")
    result = cg("render", "model.cg", "--inputs", "frames/model-notes.dot", "--y", "1", "--frames", "frames",
                "--format", "dot")
    assert result.code == 0, result.err
    assert (frames / "model-notes.dot").read_text() == '{"x": 2}\n'
    assert any(p.name.endswith("-backward.dot") for p in frames.iterdir())


def test_a_backward_frame_is_claimed_too(cg, work):
    (work / "frames").mkdir()
    shutil.copy(work / "in.json", work / "frames" / "model-12-backward.dot")
    result = cg("render", "model.cg", "--y", "2", "--inputs", "frames/model-12-backward.dot",
                "--frames", "frames", "--format", "dot")
    refused(result, "--frames", "--inputs", "model-12-backward.dot")


def _command_reader_pairs() -> list[tuple[str, str]]:
    """(command, option) for every command with -o and each file-reading option it has."""
    import click

    from cgraph.cli import cli

    ctx = click.Context(cli)
    pairs = []
    for name in cli.list_commands(ctx):
        opts = {o for p in cli.get_command(ctx, name).params for o in p.opts}
        if "-o" in opts:
            pairs += [(name, reader) for reader in ("--params", "--inputs") if reader in opts]
    return pairs


@pytest.mark.parametrize("command, reader", _command_reader_pairs())
def test_every_command_writing_o_guards_every_file_it_reads(cg, work, command, reader):
    """Whichever command has -o and a file-reading option, the two never name one file."""
    source = {"--params": "p.json", "--inputs": "in.json"}[reader]
    before = snapshot(work)
    refused(cg(command, "model.cg", reader, source, "--y", "1", "-o", source), "-o", reader, source)
    assert snapshot(work) == before
