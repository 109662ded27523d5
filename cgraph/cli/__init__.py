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
from ..errors import EXIT_INTERRUPTED, EXIT_OK, CgraphError

EXIT_INTERNAL = 70

EXIT_CODES_HELP = """\b
Exit codes: 0 success; 1 an error in the file (syntax, names,
--strict found inf/nan); 2 a usage error (bad options, missing or
bad input values); 130 interrupted."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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

    \b
    Exit codes: 0 success; 1 an error in the file; 2 a usage error
    (bad options or input values); 130 interrupted.
    """


def _register() -> None:
    from .eval_cmd import eval_command
    from .explain_cmd import check_command, explain_command
    from .render_cmd import render_command

    cli.add_command(eval_command)
    cli.add_command(render_command)
    cli.add_command(explain_command)
    cli.add_command(check_command)


_register()


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
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("cgraph: interrupted", err=True)
        return EXIT_INTERRUPTED
    except CgraphError as exc:
        click.echo(str(exc), err=True)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`cgraph eval ... | head -1`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
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
