"""Every command documents itself: help text, an example, and help on every option.

The commands are found through click's API (recursively through groups), so a command
added later is checked without touching this file.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import shutil
import signal
import sys
import urllib.request

import click
from pathlib import Path

import pytest

import cgraph
from cgraph.cli import cli, run

from support.paths import ROOT
from support.runner import cgraph_script, script_env


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
        if words[0] == "echo":
            stdin = " ".join(words[1:]) + "\n"
        else:  # a shell command making the data (tr ... < samples/linreg.csv, or cgraph grad ...)
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            made = subprocess.run(["bash", "-c", producer], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                                  env=env)
            assert made.returncode == 0, f"the example's producer failed: {producer}\n{made.stderr}"
            stdin = made.stdout
    argv = shlex.split(example)
    assert argv[0] == "cgraph"
    if argv[1] == "serve":  # a server runs until Ctrl-C: started, asked for its page, stopped
        _serve_example(argv[2:], tmp_path)
        return
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8"))
    code = run(argv[1:])
    out, err = capsys.readouterr()
    assert code == 0, f"example in `{where} --help` failed: {example}\n{err}"
    assert out.strip() or "wrote" in err, "the example printed nothing and wrote nothing"


def _serve_example(args: list[str], cwd: Path) -> None:
    """Run `cgraph serve ARGS` as a user would: it prints its address, serves the page there,
    and Ctrl-C stops it (exit 130)."""
    proc = subprocess.Popen([*cgraph_script(), "serve", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=script_env())
    try:
        line = proc.stdout.readline().decode("utf-8")  # type: ignore[union-attr]
        found = re.search(r"at (http://127\.0\.0\.1:(\d+)/) ", line)
        assert found, f"the serve example printed no address: {line!r}"
        with urllib.request.urlopen(found.group(1), timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read(4096).lower()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- every option a command's help mentions is one the command has ---

_OPTION = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z])(?![\w-])")
_OTHER_COMMAND = re.compile(r"`cgraph (\w+)([^`]*)`|^\s*cgraph (\w+)(.*)$", re.MULTILINE)


def _all_help_text(path: tuple[str, ...], command: click.Command) -> str:
    """The command's help, epilog and the help of each of its options."""
    ctx = _context(path)
    parts = [command.help or "", command.epilog or ""]
    parts += [param.help or "" for param in command.get_params(ctx) if isinstance(param, click.Option)]
    return "\n".join(parts)


def _option_names(path: tuple[str, ...]) -> set[str]:
    command = dict(COMMANDS)[path]
    return {opt for p in command.get_params(_context(path)) for opt in (*p.opts, *p.secondary_opts)}


def _mentions(text: str, path: tuple[str, ...]):
    """(command path, option) for every option the text mentions: inside `cgraph OTHER ...`
    (a quoted command line or an example line) it is OTHER's option, elsewhere the command's."""

    def take(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        words = match.group(2) if match.group(1) else match.group(4)
        for option in _OPTION.findall(words):
            found.append((("cgraph", name), option))
        return " "

    found: list[tuple[tuple[str, ...], str]] = []
    rest = _OTHER_COMMAND.sub(take, text)
    found += [(path, option) for option in _OPTION.findall(rest)]
    return found


def _is_input_placeholder(option: str) -> bool:
    """--NAME, or a one-letter input such as --x in `--x 1,2,3` (no option is one letter long)."""
    return option == "--NAME" or bool(re.fullmatch(r"--[a-z]", option))


@pytest.mark.parametrize("path, command", COMMANDS[1:], ids=IDS[1:])
def test_help_mentions_only_options_that_exist(path, command):
    commands = {p for p, _ in COMMANDS}
    mentions = _mentions(_all_help_text(path, command), path)
    assert mentions, "no option is mentioned at all: the scan is broken"
    wrong = []
    for where, option in mentions:
        if _is_input_placeholder(option):
            continue
        if where not in commands:
            wrong.append(f"{option} (of a command 'cgraph {where[-1]}' that does not exist)")
        elif option not in _option_names(where) | {"-h", "--help"}:
            wrong.append(f"{option} (not an option of {' '.join(where)})")
    assert not wrong, f"{' '.join(path)} --help mentions: {', '.join(wrong)}"


def test_the_mention_scan_sees_a_missing_option():
    """The scan finds an option mentioned in prose, and one inside a quoted command line."""
    mentions = _mentions("Use --rtol; see `cgraph train --save`.\n  cgraph eval x.cg --bogus 1", ("cgraph", "check"))
    assert (("cgraph", "check"), "--rtol") in mentions
    assert (("cgraph", "train"), "--save") in mentions
    assert (("cgraph", "eval"), "--bogus") in mentions
    assert "--bogus" not in _option_names(("cgraph", "eval"))


def test_export_help_names_every_target(capsys):
    # --to has five targets; the summary, the description and the examples name LaTeX too.
    from cgraph.cli.export_cmd import TARGETS

    assert run(["--help"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("export "))
    assert run(["export", "--help"]) == 0
    text = capsys.readouterr().out
    for target, shown in zip(TARGETS, ("Python", "NumPy", "PyTorch", "JAX", "LaTeX")):
        assert shown in line and f"{target}:" in text
        assert f"--to {target}" in text
