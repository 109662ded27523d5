"""Errors: every exception cgraph raises on purpose, and every exit code, are defined
here; the CLI maps the one to the other in one place (cgraph/cli/__init__.py's `main`).

Errors in a file carry a `Location` and print as

    model.cg:3:5: error: unknown function 'tanhh' (did you mean 'tanh'?)
      3 | g = tanhh(p)
        |     ^^^^^
"""

from __future__ import annotations

import math
import re
from array import array
from bisect import bisect_right
from typing import Any

# Exit codes, documented in `cgraph --help` and the README.
EXIT_OK = 0
EXIT_FILE_ERROR = 1  # the file does not parse, build or evaluate (or --strict found inf/nan)
EXIT_USAGE = 2  # bad options or input values
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # a bug: anything raised that is not a CgraphError (EX_SOFTWARE in sysexits.h)

_SHOWN_LINE_WIDTH = 100  # long lines are cut to a window around the error


class Source:
    """The text of one file (or `-e` expression, or stdin) and the name errors use for it."""

    __slots__ = ("text", "filename", "_line_starts")

    def __init__(self, text: str, filename: str = "<expr>"):
        self.text = text
        self.filename = filename
        self._line_starts: array | None = None

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        starts = self._line_starts
        if starts is None:  # built on first use: most runs never need it
            starts = array("q", [0])
            find = self.text.find
            i = find("\n")
            while i >= 0:
                starts.append(i + 1)
                i = find("\n", i + 1)
            self._line_starts = starts
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def __repr__(self) -> str:
        return f"Source({self.filename!r}, {len(self.text)} characters)"

    def line_text(self, line: int) -> str:
        start = 0
        for _ in range(line - 1):
            start = self.text.find("\n", start) + 1
            if start == 0:
                return ""
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")


class Location:
    __slots__ = ("source", "line", "column", "width")

    def __init__(self, source: Source, line: int, column: int, width: int = 1):
        self.source = source
        self.line = line
        self.column = column
        self.width = width  # how many characters the caret underlines

    @classmethod
    def at(cls, source: Source, offset: int, width: int = 1) -> Location:
        line, column = source.line_col(offset)
        return cls(source, line, column, width)

    def __str__(self) -> str:
        return f"{self.source.filename}:{self.line}:{self.column}"

    def excerpt(self) -> str:
        """The source line with a caret under the spot, cut to a window if the line is long."""
        text = self.source.line_text(self.line)
        col = max(self.column - 1, 0)
        width = max(1, min(self.width, max(len(text) - col, 1), 40))
        left = max(0, col - _SHOWN_LINE_WIDTH // 2)
        shown = text[left : left + _SHOWN_LINE_WIDTH]
        prefix = "..." if left else ""
        suffix = "..." if left + _SHOWN_LINE_WIDTH < len(text) else ""
        # Keep tabs under tabs so the caret lines up however the terminal expands them.
        pad = "".join(c if c == "\t" else " " for c in text[left:col])
        gutter = str(self.line)
        return (
            f"  {gutter} | {prefix}{_printable(shown)}{suffix}\n"
            f"  {' ' * len(gutter)} | {' ' * len(prefix)}{pad}{'^' * width}"
        )


def did_you_mean(word: str, candidates, cutoff: float = 0.6) -> str:
    """' (did you mean 'tanh'?)' for the closest candidate, or ''. Only error paths pay for difflib."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{clip(close[0])}'?)" if close else ""


def name_hint(name: str, names) -> str:
    """What to say after "no node has that name": that `name` is assigned in a loop body
    (each iteration names its own node, `a@t=2`), else the closest name, else ''."""
    prefix = name + "@"
    found = [n for n in names if n.startswith(prefix)]
    if not found:
        return did_you_mean(name, names)
    picked = found if len(found) <= 4 else [found[0], found[1], None, found[-1]]
    shown = ", ".join("..." if n is None else f"'{clip(n)}'" for n in picked)
    return f" ('{clip(name)}' is assigned in a loop body, so each iteration has its own: {shown})"


def clip(text: str, limit: int = 60) -> str:
    """Source text quoted in a message, cut short: a message about a 10 MB number is one line.
    A control character in it (a data cell's line break, a NUL, an escape sequence) is
    shown as Python writes it (\\n, \\x00, \\x1b), so it cannot break or drive the terminal."""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return _CONTROL_OR_BREAK.sub(_escaped, text) if not text.isprintable() else text


# Control characters: C0 (but a tab), DEL and C1. A message keeps its own line breaks
# (a hint, Graphviz's lines); text quoted with `clip` loses them too.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escaped(m: re.Match) -> str:
    return repr(m.group(0))[1:-1]


def visible(message: str) -> str:
    """A message as it may reach a terminal: control characters but line breaks and tabs
    written as escapes (a NUL or ESC from a file, echoed back, would act on the terminal)."""
    return _CONTROL.sub(_escaped, message)


def non_finite(v: float) -> str:
    """How every message and every view spells a value that is not a finite number:
    "inf", "-inf" or "nan" (also the strings JSON output uses, since RFC 8259 has none)."""
    return "nan" if v != v else ("inf" if v > 0 else "-inf")


def given_number(v: float) -> str:
    """A number the user gave (a setting a message or a trace echoes): the shortest text
    that reads back as exactly it (0.0123456789, 1e-12, 60), never rounded to a few digits,
    which would show a learning rate or a tolerance other than the one in use."""
    if not math.isfinite(v):
        return non_finite(v)
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text


PATH_LIMIT = 200  # file paths are kept whole up to this: a clipped path cannot be opened


def clip_path(path: str) -> str:
    """A file name echoed in a message: whole unless absurdly long."""
    return clip(path, PATH_LIMIT)


# A message is clipped only when it is long, so ordinary messages keep every character;
# then quoted text longer than `clip`'s limit, and any unquoted word (a name or value
# echoed bare) longer than a file path may be.
_LONG_MESSAGE = 200
_LONG_WORD = PATH_LIMIT
# A quote opens after a non-word character and closes before one, so the prose between
# two short quoted names ("'x' is not ... did you mean 'y'") is never taken for a quote.
_QUOTED = re.compile(r"(?<!\w)'([^'\n]{61,})'(?!\w)|(?<!\w)\"([^\"\n]{61,})\"(?!\w)")
_WORD = re.compile(r"[^\s'\"]{%d,}" % (_LONG_WORD + 1))


def clip_message(message: str) -> str:
    """A message echoing user text (a 10,000-character name or value), made readable:
    each long quoted or bare piece is cut to `clip`'s length with an ellipsis."""
    message = visible(message)
    if len(message) <= _LONG_MESSAGE:
        return message

    def quoted(m: re.Match) -> str:
        mark = "'" if m.group(1) is not None else '"'
        return mark + clip(m.group(1) if m.group(1) is not None else m.group(2)) + mark

    message = _QUOTED.sub(quoted, message)
    return _WORD.sub(lambda m: clip(m.group(0)), message)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in text)


class CgraphError(Exception):
    """Base of every error cgraph raises on purpose; anything else is a bug."""

    exit_code = EXIT_FILE_ERROR

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None,
                 cli_hint: str | None = None):
        message = clip_message(message)  # a 10,000-character name, say, is cut short
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        # What the command line says instead of `hint`: its options (`--NAME VALUE`) mean
        # nothing to a caller of the Python API, who sees `hint` in str(error).
        self.cli_hint = cli_hint

    def cli_text(self) -> str:
        """The error as the command line prints it: with `cli_hint`, if it has one."""
        if self.cli_hint is None:
            return str(self)
        api_hint = self.hint
        self.hint = self.cli_hint
        try:
            return str(self)
        finally:
            self.hint = api_hint

    def __str__(self) -> str:
        head = f"{self.location}: error: {self.message}" if self.location else f"error: {self.message}"
        parts = [head]
        if self.location:
            parts.append(self.location.excerpt())
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)


class ParseError(CgraphError):
    """The text is not valid cgraph syntax."""


class BuildError(CgraphError):
    """The syntax is fine but the program is not: unknown function, redefinition, ..."""


class GraphTooLarge(BuildError):
    """Unrolling loops would exceed --max-nodes."""


class InputError(CgraphError):
    """Input values given on the command line or in a file are missing or wrong."""

    exit_code = EXIT_USAGE


class NumericError(CgraphError):
    """--strict: a node produced inf or nan."""


class WorkerLost(CgraphError):
    """A worker process evaluating chunks of rows ended without answering (killed, say, by
    the out-of-memory killer)."""


class MissingDependency(CgraphError):
    """An optional package is not installed: NumPy (batches, training), pyarrow (.parquet),
    matplotlib (train --plot). The message says which `pip install` fixes it."""


class DataError(InputError):
    """A data file cannot be read, or one of its rows is bad (exit code 2).

    Printed as `rows.csv:17:5: error: ...` with the line and a caret when the row is known."""

    def __init__(self, message: str, path: str, line: int | None = None, text: str | None = None,
                 column: int = 1, width: int = 1, hint: str | None = None, row_word: str = "line"):
        location = None
        if line is not None and text is not None:
            location = Location(_OneLine(text, path, line), line, column, width)
        super().__init__(message, location, hint)
        self.path = path
        self.line = line
        self.row_word = row_word

    def __str__(self) -> str:
        if self.location is None and self.line is not None:  # parquet: rows, no lines
            head = f"{self.path}: {self.row_word} {self.line}: error: {self.message}"
            return head + (f"\n  hint: {self.hint}" if self.hint else "")
        if self.location is None:
            return f"{self.path}: error: {self.message}" + (f"\n  hint: {self.hint}" if self.hint else "")
        return super().__str__()


def refuse_endless(fd: int, name: str) -> None:
    """Refuse (InputError) to read a program, JSON or data from a device that never ends:
    /dev/zero and /dev/urandom would fill memory until the machine gives out. A terminal
    (typed text, ended by Ctrl-D), /dev/null, files and pipes are read as they are."""
    import os
    import stat

    try:
        st = os.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or os.isatty(fd):
            return
        if st.st_rdev == os.stat(os.devnull).st_rdev:
            return
    except OSError:
        return  # nothing known to refuse: reading it reports what is wrong
    raise InputError(f"{clip_path(name)} is a device, not a file: it would be read without end")


def open_finite(path: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """open(path, *args, **kwargs), refused (InputError, the file closed again) when it is a
    device that never ends: every reader of a named file opens it through this."""
    f = open(path, *args, **kwargs)
    try:
        refuse_endless(f.fileno(), name)
    except BaseException:
        f.close()
        raise
    return f


def stdin_buffer(what: str):
    """Standard input's bytes for `-` (the program, --data): refused when the process was
    started without it (`<&-`) or it is a device that never ends (`< /dev/zero`)."""
    import sys

    if sys.stdin is None:
        raise InputError(f"{what}: standard input is closed, so there is nothing to read")
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        fd = -1  # replaced (a test's, an embedding program's): read it as it is
    if fd >= 0:
        refuse_endless(fd, f"{what}: standard input")
    return sys.stdin.buffer


class _OneLine(Source):
    """A Source that knows one line of a data file, enough for an error's excerpt."""

    def __init__(self, text: str, filename: str, line: int):
        super().__init__(text, filename)
        self._line = line

    def line_text(self, line: int) -> str:
        return self.text if line == self._line else ""


class RenderError(CgraphError):
    """The diagram cannot be drawn as asked (too large, Graphviz missing, ...)."""


class OptionError(RenderError):
    """A render option has a value it cannot take: a usage error."""

    exit_code = EXIT_USAGE


class OutputError(CgraphError):
    """The output cannot be written where asked."""


class OutputClash(OutputError):
    """An output names a file the run reads, or another of its outputs: a usage error."""

    exit_code = EXIT_USAGE
