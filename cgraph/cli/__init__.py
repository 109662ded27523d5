"""The command line: a thin click layer over the library.

Every command is a library call plus printing. Errors are exceptions; `main` maps them
to exit codes in this one place, so a user never sees a traceback:
  0 success, 1 an error in the file (or --strict found inf/nan), 2 a usage error
  (bad options or input values), 130 interrupted, 70 an internal error (a bug).
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import EXIT_INTERRUPTED, EXIT_OK, CgraphError, clip_message

EXIT_INTERNAL = 70


class _Interrupted(Exception):
    """Ctrl-C during a command."""

def exit_codes_help(numeric: str = "--strict found inf/nan") -> str:
    """The exit-code paragraph of a command's --help; `numeric` says when a number is an
    error for that command (a command's help names only options it has)."""
    return f"""\b
Exit codes: 0 success; 1 an error in the file (syntax, names,
{numeric}); 2 a usage error (bad options, missing or
bad input values); 130 interrupted."""


EXIT_CODES_HELP = exit_codes_help()


class LazyGroup(click.Group):
    """Commands are imported when used, so `cgraph eval` never pays for the modules of
    render or explain (start-up time is part of the product)."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})  # name -> "module:attribute" under cgraph.cli

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Past click, which would print a blank line before its own "Aborted!".
            raise _Interrupted() from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attribute = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(f"{__name__}.{module}"), attribute), name)
        return super().get_command(ctx, name)


COMMANDS = {
    "eval": "eval_cmd:eval_command",
    "render": "render_cmd:render_command",
    "explain": "explain_cmd:explain_command",
    "check": "explain_cmd:check_command",
    "train": "train_cmd:train_command",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="cgraph")
def cli() -> None:
    """Evaluate, differentiate and draw computational graphs.

    Write a file of statements such as

    \b
        p = x + y
        g = p * z

    and cgraph computes every node's value and, by backpropagation, the
    gradient of the output with respect to every node.

    \b
    Examples:
      cgraph eval samples/intro.cg --x 1 --y 3 --z -3
      cgraph eval -e '(x + y) * z' --x 1 --y 3 --z -3 --format json
      echo 'y = tanh(w*x)' | cgraph eval - --w 0.5 --x 2
      cgraph render samples/intro.cg --x 1 --y 3 --z -3 -o intro.svg
      cgraph explain samples/intro.cg --x 1 --y 3 --z -3
      cgraph check samples/mlp.cg
      cgraph eval samples/linreg.cg --data samples/linreg.csv -o out.csv
      cgraph train samples/linreg.cg --data samples/linreg.csv --lr 0.5

    \b
    Exit codes: 0 success; 1 an error in the file; 2 a usage error
    (bad options or input values); 130 interrupted.
    """




def main(argv: list[str] | None = None) -> None:
    """Entry point of the `cgraph` script."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    try:
        code = cli.main(args=argv, prog_name="cgraph", standalone_mode=False)
        # Without standalone mode click returns an Exit's code instead of raising it.
        return code if isinstance(code, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        # click echoes the option's value as given: a 10,000-character one is cut short.
        exc.message = clip_message(exc.message)
        exc.show()
        return exc.exit_code
    except (_Interrupted, click.exceptions.Abort, KeyboardInterrupt):
        # One line; on a terminal it starts on a fresh line, after the echoed ^C.
        _say("cgraph: interrupted", newline_first=_isatty(sys.stderr))
        return EXIT_INTERRUPTED
    except CgraphError as exc:
        click.echo(str(exc), err=True)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`cgraph eval ... | head -1`): stop quietly.
        _quiet_stdout()
        return EXIT_OK
    except SystemExit as exc:
        # rich's Console ends the program with exit code 1 when its reader goes away;
        # that is a closed pipe too, not an error in the file.
        if isinstance(exc.__context__, BrokenPipeError):
            _quiet_stdout()
            return EXIT_OK
        raise
    except RecursionError:
        click.echo("cgraph: internal error: recursion too deep (this is a bug, please report it)", err=True)
        return EXIT_INTERNAL
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if os.environ.get("CGRAPH_DEBUG"):
            raise
        click.echo(
            f"cgraph: internal error: {type(exc).__name__}: {exc} (this is a bug; CGRAPH_DEBUG=1 shows the traceback)",
            err=True,
        )
        return EXIT_INTERNAL


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _say(message: str, newline_first: bool = False) -> None:
    """A last line on stderr that cannot itself fail (stderr may be closed too)."""
    try:
        click.echo(("\n" if newline_first else "") + message, err=True)
    except (OSError, ValueError):
        pass
