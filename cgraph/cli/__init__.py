"""The command line: a thin click layer over the library.

Every command is a library call plus printing. Errors are exceptions; `main` maps them
to exit codes in this one place, so a user never sees a traceback:
  0 success, 1 an error in the file (or --strict found inf/nan), 2 a usage error
  (bad options or input values), 130 interrupted, 70 an internal error (a bug).
"""

from __future__ import annotations

import sys

try:
    # Importing click and the rest takes tens of milliseconds before `main` can catch
    # anything: a Ctrl-C in that window ends the run the same way as one later on.
    import contextlib
    import errno
    import functools
    import io
    import os
    from typing import Iterator

    import click

    from .. import __version__
    from ..errors import EXIT_FILE_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, CgraphError, clip_message
except KeyboardInterrupt:
    sys.stderr.write("cgraph: interrupted\n")
    raise SystemExit(130) from None


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

    def make_context(self, *args, **kwargs) -> click.Context:
        with _past_click():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with _past_click():
            return super().invoke(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attribute = self.lazy[name].split(":")
            command = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
            self.add_command(_guarded(command), name)
        return super().get_command(ctx, name)


def _guarded(command: click.Command) -> click.Command:
    """Before the command runs (before it reads or computes anything), check that no file
    it would write is one it reads or one it writes under another option."""
    callback = command.callback
    if callback is None or getattr(callback, "_cgraph_guarded", False):
        return command

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        from .common import refuse_empty_values
        from .output import guard_command_files

        ctx = click.get_current_context()
        refuse_empty_values(ctx)
        guard_command_files(ctx)
        return callback(*args, **kwargs)

    guarded._cgraph_guarded = True  # type: ignore[attr-defined]
    command.callback = guarded
    return command


class _ClosedPipe(Exception):
    """The reader of standard output went away (not an OSError, so click lets it pass)."""


@contextlib.contextmanager
def _past_click() -> Iterator[None]:
    """Carry Ctrl-C and a closed pipe past click's own handling (a blank line and
    "Aborted!", or exit 1 for a closed pipe) to `run`, which ends both quietly."""
    try:
        yield
    except KeyboardInterrupt:
        raise _Interrupted() from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise _ClosedPipe() from None
        raise
    except SystemExit as exc:
        # rich's Console ends the program with exit code 1 when its reader goes away.
        if isinstance(exc.__context__, BrokenPipeError):
            raise _ClosedPipe() from None
        raise


COMMANDS = {
    "eval": "eval_cmd:eval_command",
    "render": "render_cmd:render_command",
    "explain": "explain_cmd:explain_command",
    "check": "check_cmd:check_command",
    "train": "train_cmd:train_command",
    "grad": "grad_cmd:grad_command",
    "hessian": "hessian_cmd:hessian_command",
    "export": "export_cmd:export_command",
    "serve": "serve_cmd:serve_command",
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
      cgraph grad samples/intro.cg | cgraph eval - --x 1 --y 3 --z -3
      cgraph hessian -e 'x^2 * y' --x 1 --y 3
      cgraph export samples/intro.cg --to numpy -o intro.py
      cgraph render samples/neuron.cg -o neuron.html
      cgraph serve samples/intro.cg --x 1 --y 3 --z -3

    \b
    Exit codes: 0 success; 1 an error in the file; 2 a usage error
    (bad options or input values); 130 interrupted.
    """




def main(argv: list[str] | None = None) -> None:
    """Entry point of the `cgraph` script."""
    _lossy_stderr()
    try:
        code = run(argv)
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
        code = EXIT_INTERRUPTED
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run one command and map whatever ends it to an exit code: the one place that
    decides what the user sees when something goes wrong."""
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        sys.stdout = _closed_stdout()
    try:
        code = _command(argv)
        # Output still buffered goes out now, while its errors can be reported (at the
        # interpreter's exit a closed pipe or a full disk would print a traceback).
        _flush(sys.stdout)
        return code
    except click.ClickException as exc:
        # click echoes the option's value as given: a 10,000-character one is cut short.
        exc.message = clip_message(exc.message)  # type: ignore[misc]  # click declares it Final, but show() reads it
        exc.show()
        return exc.exit_code
    except (_Interrupted, click.exceptions.Abort, KeyboardInterrupt):
        # One line; on a terminal it starts on a fresh line, after the echoed ^C.
        _say("cgraph: interrupted", newline_first=isatty(sys.stderr))
        return EXIT_INTERRUPTED
    except CgraphError as exc:
        _say(exc.cli_text())
        return exc.exit_code
    except (_ClosedPipe, BrokenPipeError):
        # The reader went away (`cgraph eval ... | head -1`): stop quietly, like cat.
        _quiet_stdout()
        return EXIT_OK
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):
            _quiet_stdout()
            return EXIT_OK
        raise
    except Exception as exc:
        return _failure(exc)


def _failure(exc: Exception) -> int:
    """What ends a command that is not a cgraph error: standard output that cannot be
    written or the machine's memory (the machine's limits: a located line, exit 1), or a
    bug (one line, and the traceback only on request)."""
    if isinstance(exc, OSError) and exc.errno in _WRITE_FAILURES and exc.filename is None:
        # Writing to standard output failed (`> /dev/full`): an output error, not a bug.
        _quiet_stdout()
        _say(f"error: cannot write standard output: {exc.strerror or exc}")
        return EXIT_FILE_ERROR
    if isinstance(exc, MemoryError):  # say what needs less
        _say(f"error: out of memory{': ' + str(exc) if str(exc) else ''}\n  hint: {_LESS_MEMORY}")
        return EXIT_FILE_ERROR
    if isinstance(exc, RecursionError):
        _say("cgraph: internal error: recursion too deep (this is a bug, please report it)")
        return EXIT_INTERNAL
    return _internal_error(exc)


_LESS_MEMORY = ("with --data, a smaller --chunk-rows or fewer --threads needs less; a smaller graph (--max-nodes "
                "caps it) or a machine with more memory")


# What a write to standard output can fail with that is the output's fault: a full disk,
# a quota, a file size limit, a device error.
_WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}


class _ClosedFile(io.RawIOBase):
    """A process started without standard output: writing fails as writing to a closed
    descriptor does (EBADF), so output to nowhere is an output error, as in the shell."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _closed_stdout() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(_ClosedFile()), encoding="utf-8")


class _LossyFile(io.RawIOBase):
    """Standard error that cannot be written (`2>/dev/full`, a terminal gone): its message
    is lost, never the run. A warning failing to print stopped the command with exit 1 and
    no result, its error blaming standard output; messages are not worth the result, and
    the exit code still says what went wrong."""

    def __init__(self, fd: int):
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data) -> int:
        try:
            return os.write(self._fd, data)
        except OSError:
            return len(data)


def _lossy_stderr() -> None:
    """Standard error through _LossyFile (the script only: tests capture sys.stderr)."""
    stream = sys.stderr
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # closed, or not a file
        return
    stream.flush()
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(_LossyFile(fd)), encoding=stream.encoding,
                                  errors="backslashreplace", line_buffering=True)


def _internal_error(exc: BaseException) -> int:
    if os.environ.get("CGRAPH_DEBUG"):
        raise exc
    _say(f"cgraph: internal error: {type(exc).__name__}: {exc} (this is a bug; CGRAPH_DEBUG=1 shows the traceback)")
    return EXIT_INTERNAL


def _flush(stream) -> None:
    try:
        stream.flush()
    except ValueError:  # closed by the command itself
        pass


def _command(argv: list[str] | None) -> int:
    try:
        code = cli.main(args=argv, prog_name="cgraph", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    # Without standalone mode click returns an Exit's code instead of raising it.
    return code if isinstance(code, int) else EXIT_OK


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush cannot fail
    (what is still buffered has nowhere to go), as Python's SIGPIPE notes advise."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        buffer = getattr(sys.stdout, "buffer", None)
        if isinstance(buffer, io.BufferedWriter) and isinstance(buffer.raw, _ClosedFile):
            sys.stdout = open(os.devnull, "w")  # what it holds cannot go anywhere either


def isatty(stream) -> bool:
    """Whether `stream` is a terminal; False for a closed or replaced stream."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _say(message: str, newline_first: bool = False) -> None:
    """A last line on stderr that cannot itself fail (stderr may be closed or full too)."""
    try:
        click.echo(("\n" if newline_first else "") + message, err=True)
    except (OSError, ValueError):
        pass
