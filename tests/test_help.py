"""Every command documents itself: help text, an example, and help on every option.

The commands are found through click's API (recursively through groups), so a command
added later is checked without touching this file.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import sys
from pathlib import Path

import click
import pytest

import cgraph
from cgraph.cli import cli, run

ROOT = Path(__file__).resolve().parent.parent


def _context(path: tuple[str, ...]) -> click.Context:
    """The context click would make for the command at `path`, parents included.

    Made with make_context (not click.Context(...)) so the group's context settings,
    such as its help option names, apply as they do on a real command line.
    """
    ctx = cli.make_context(path[0], [], resilient_parsing=True)
    for name in path[1:]:
        command = ctx.command.get_command(ctx, name)
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    return ctx


def all_commands(command: click.Command = cli, path: tuple[str, ...] = ("cgraph",)):
    """(path, command) for the top-level group and every command below it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = _context(path)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
            yield from all_commands(sub, path + (name,))


COMMANDS = list(all_commands())
IDS = [" ".join(path) for path, _ in COMMANDS]


def _help_text(command: click.Command) -> str:
    return f"{command.help or ''}\n{command.epilog or ''}"


def test_the_commands_are_found():
    names = [path[1:] for path, _ in COMMANDS]
    assert () in names  # the group itself
    assert ("eval",) in names


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_command_has_help_text(path, command):
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    assert command.get_short_help_str().strip(), f"{' '.join(path)} has no short help"


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_command_has_an_example(path, command):
    assert "Example" in _help_text(command), f"{' '.join(path)} has no 'Example' in its help or epilog"


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
def test_every_option_has_help_text(path, command):
    ctx = _context(path)
    undocumented = [
        "/".join(param.opts)
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and not (param.help and param.help.strip())
    ]
    assert not undocumented, f"{' '.join(path)}: options without help text: {', '.join(undocumented)}"


@pytest.mark.parametrize("path, command", COMMANDS, ids=IDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_option_prints_help_with_an_example(capsys, path, command, flag):
    code = run([*path[1:], flag])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Usage:" in out
    assert "Example" in out
    assert "Traceback" not in err


def test_top_level_help_lists_every_command(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for path, _ in COMMANDS[1:]:
        if len(path) == 2:
            assert path[1] in out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(capsys, flag):
    assert run([flag]) == 0
    out = capsys.readouterr().out
    assert "cgraph" in out
    assert cgraph.__version__ in out


def _examples() -> list[tuple[str, str]]:
    """(command id, example line) for every `cgraph ...` line under an Examples heading."""
    found = []
    for path, command in COMMANDS:
        in_examples = False
        for line in _help_text(command).splitlines():
            stripped = line.strip()
            if stripped.startswith("Example"):
                in_examples = True
                continue
            if not stripped or not in_examples:
                in_examples = in_examples and bool(stripped)
                continue
            if re.search(r"(^|\|\s*)cgraph\s", stripped):
                found.append((" ".join(path), stripped))
    return found


EXAMPLES = _examples()


def test_there_are_examples_to_run():
    assert EXAMPLES


@pytest.mark.parametrize("where, example", EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_examples_in_the_help_run(capsys, monkeypatch, tmp_path, where, example):
    """The examples work as written, from a directory holding the samples (files they write land there)."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    stdin = None
    if "|" in example:  # echo 'PROGRAM' | cgraph eval - ...
        producer, example = (part.strip() for part in example.split("|", 1))
        words = shlex.split(producer)
        assert words[0] == "echo", f"cannot run the example's producer: {producer}"
        stdin = " ".join(words[1:]) + "\n"
    argv = shlex.split(example)
    assert argv[0] == "cgraph"
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8"))
    code = run(argv[1:])
    out, err = capsys.readouterr()
    assert code == 0, f"example in `{where} --help` failed: {example}\n{err}"
    assert out.strip() or "wrote" in err, "the example printed nothing and wrote nothing"
