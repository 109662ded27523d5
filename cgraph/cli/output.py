"""Writing results to files without ever leaving a half-written one behind, and without
ever writing over a file the same run reads or writes under another name.

One guard (`RunFiles`) knows every file a command reads (the program, --data, --inputs,
--params, --init) and every file it writes (-o, --save, --log, --plot, the --frames
directory's files). The CLI fills it before the command runs, so a clash is refused
before any work, and every write in this module checks its target against it again,
so targets named during the run (render's default -o, each frame) are held to it too.

Why one module of ~400 lines: the guard and the writers are one contract (every write
claims its target from the guard, and the guard's checks are the writers' errors);
split, each half would reach into the other's private helpers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from typing import IO, Iterator

from ..errors import OutputClash, OutputError


_OUT_OF_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO}

# Options naming files, by the option string (whatever the command calls its parameter).
READ_OPTIONS = ("--inputs", "--data", "--params", "--init")
WRITE_OPTIONS = ("-o", "--save", "--log", "--plot", "--frames", "--answers")
PROGRAM = "FILE"  # the program, click's argument
STDIN = "-"  # a program or --data read from standard input
# Resuming into the file it started from is the documented workflow: --init is read in
# full before the first --save replaces it (atomically), so the pair is no clash.
ALLOWED = {("--save", "--init")}
_META_KEY = "cgraph.run_files"


class RunFiles:
    """The files of one run, as (option, path as given). Paths are compared when a write is
    claimed, not once: an atomic save gives its file a new inode, and an output that does
    not exist yet gets one when first written."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []
        self.writes: list[tuple[str, str]] = []
        self.read_sets: list[tuple[str, str]] = []  # (option, directory or glob) of a data set

    def read(self, option: str, path: str | None) -> None:
        # "-" is standard input: when that is a file (`cgraph eval - -o /dev/stdin < f.cg`),
        # writing there would replace it, so it is compared as the file it is.
        if path:
            self.reads.append((option, path))

    def read_set(self, option: str, spec: str) -> None:
        """A `--data` directory or glob: each file it holds now is read, and a file written
        where it would be read as part of the set next time is refused too."""
        self.read_sets.append((option, spec))
        for path in _set_members(spec):
            self.read(option, path)

    def write(self, option: str, path: str | None) -> None:
        """Claim `path` for `option`, refusing it if it is a file read or written under
        another option. Claiming the same target again (each --save) is fine."""
        if not path or path == "-":
            return
        me = _identity(path)
        if me is not None:
            for other, known in self.reads:
                if (option, other) not in ALLOWED and _identity(known) == me:
                    raise OutputClash(_clash(option, path, _described(other), known))
            for other, known in self.writes:
                if other != option and _identity(known) == me:
                    raise OutputClash(f"{other} {known} and {option} {path} are the same file; "
                                      "give each output a file of its own")
        for other, spec in self.read_sets:
            if _joins_set(path, spec):
                raise OutputClash(f"{option} {path} would become part of {other} {spec} (its files are the data); "
                                  f"give {option} a file outside it")
        if (option, path) not in self.writes:
            self.writes.append((option, path))

    def write_pattern(self, option: str, directory: str, *patterns: str) -> None:
        """Refuse in advance any file the run reads or writes that sits in `directory` with a
        name matching one of `patterns` (the --frames files, named only as they are drawn)."""
        here = _identity(directory)
        if here is None:
            return

        def inside(known: str) -> bool:
            from fnmatch import fnmatchcase

            if known == STDIN:
                return False  # a frame is claimed one by one too, and compared with it then

            parent = _identity(os.path.dirname(os.path.abspath(known)))
            name = os.path.basename(known)
            return parent == here and any(fnmatchcase(name, pattern) for pattern in patterns)

        where = f"{directory} ({', '.join(patterns)})"
        for other, known in self.reads:
            if inside(known):
                raise OutputClash(_clash(option, where, _described(other), known))
        for other, known in self.writes:
            if other != option and inside(known):
                raise OutputClash(f"{other} {known} is one of the files of {option} {where}; "
                                  "give each output a file of its own")

    def copy(self) -> RunFiles:
        twin = RunFiles()
        twin.reads, twin.writes = list(self.reads), list(self.writes)
        return twin

    def option_of(self, path: str) -> str | None:
        me = _identity(path)
        for option, known in reversed(self.writes):
            if known == path or (me is not None and _identity(known) == me):
                return option
        return None


_DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")  # what a --data directory reads


def _is_set(spec: str) -> bool:
    return os.path.isdir(spec) or any(c in spec for c in "*?[")


def _set_members(spec: str) -> list[str]:
    """Every file a --data directory or glob names now (whatever its suffix: a write
    must not replace any of them)."""
    if os.path.isdir(spec):
        return [os.path.join(spec, name) for name in os.listdir(spec)]
    import glob

    return glob.glob(spec, recursive=True)


def _joins_set(path: str, spec: str) -> bool:
    """Whether a file written at `path` would be read as part of the data set `spec`."""
    if os.path.isdir(spec):
        inside = os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(spec)
        return inside and os.path.splitext(path)[1].lower() in _DATA_SUFFIXES
    from fnmatch import fnmatchcase

    return fnmatchcase(os.path.abspath(path), os.path.abspath(spec))


def _described(option: str) -> str:
    return "the program" if option == PROGRAM else option


def _clash(option: str, path: str, role: str, known: str) -> str:
    if known == STDIN:
        return (f"{option} {path} would overwrite {role} - (standard input, the same file), an input of this "
                f"command; give {option} another file")
    same = "" if os.path.abspath(path) == os.path.abspath(known) else " (the same file)"
    what = "" if "input" in role else ", an input of this command"
    return f"{option} {path} would overwrite {role} {known}{same}{what}; give {option} another file"


def _identity(path: str) -> tuple | None:
    """What makes two paths one file: device and inode of an existing file (through
    symlinks and hard links), else the resolved real path (two outputs not yet written).
    None for what two writers can share harmlessly: /dev/null, a terminal, a pipe.
    "-" is standard input, whatever it is (a file redirected with `<`)."""
    try:
        st = os.fstat(sys.stdin.fileno()) if path == STDIN and sys.stdin is not None else os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path))
    if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return ("inode", st.st_dev, st.st_ino)
    return None


def run_files() -> RunFiles | None:
    """The guard of the command running now (None outside a cgraph command)."""
    import click

    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if _META_KEY in ctx.meta:
            return ctx.meta[_META_KEY]
        ctx = ctx.parent
    return None


def guard_command_files(ctx) -> RunFiles:
    """Register every file the command's options name, refusing clashes; called by the CLI
    before the command runs. Files are recognised by option, so a new command (or a new
    option on one) is guarded by naming its option in READ_OPTIONS or WRITE_OPTIONS."""
    files = RunFiles()
    writes = _register_reads(ctx, files)
    if not any(option == "-o" and path != "-" for option, path in writes):  # else the result goes to -o
        _refuse_stdout_onto_a_read(files)
    ctx.meta[_META_KEY] = files
    for option, path in writes:
        files.write(option, path)
    _check_writable(writes)
    return files


def _refuse_stdout_onto_a_read(files: RunFiles) -> None:
    """`cgraph eval m.cg --data d.csv >> d.csv` would read its own output back as rows (as
    `cat f >> f` would, which cat refuses too): standard output that is a file the run
    reads is refused before anything is read."""
    try:
        st = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # closed, or not a file descriptor (a test's)
        return
    if not stat.S_ISREG(st.st_mode):
        return
    me = ("inode", st.st_dev, st.st_ino)
    for option, known in files.reads:
        if _identity(known) == me:
            shown = "- (standard input)" if known == STDIN else known
            raise OutputClash(f"standard output is {_described(option)} {shown}, a file this command reads; "
                              "redirect it to another file")


def _register_reads(ctx, files: RunFiles) -> list[tuple[str, str]]:
    """Add the files the command's parameters read to `files`; the (option, path) pairs it
    writes, in the order of its parameters, for the caller to claim."""
    import click

    writes: list[tuple[str, str]] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(value, str):
            continue
        if isinstance(param, click.Argument) and param.name == "file":
            files.read(PROGRAM, value)
        elif isinstance(param, click.Option):
            option = next((o for o in (*WRITE_OPTIONS, *READ_OPTIONS) if o in param.opts), None)
            if option == "--data" and value != "-" and _is_set(value):
                files.read_set(option, value)
            elif option in READ_OPTIONS:
                files.read(option, value)
            elif option in WRITE_OPTIONS:
                writes.append((option, value))
    return writes


def _check_writable(writes: list[tuple[str, str]]) -> None:
    """A file that cannot be written is found now, not after an hour of training (but the
    --frames directory, and what goes into it, exist only once the command makes it)."""
    frames = [os.path.realpath(path) for option, path in writes if option == "--frames"]
    for option, path in writes:
        if option != "--frames" and path != "-" and os.path.dirname(os.path.realpath(path)) not in frames:
            _checked_target(path, option, ())


def format_for(out: str, fmt: str | None, by_suffix: dict[str, str], default: str) -> str:
    """--format if given, else what -o FILE's suffix says (`out.json`: json), else `default`:
    a table written into out.json is no one's wish."""
    if fmt is not None:
        return fmt
    return default if out == "-" else by_suffix.get(os.path.splitext(out)[1].lower(), default)


def print_rich(console, renderable) -> None:
    """Print a rich table (or any renderable) on `console`; when that is not a terminal,
    without the spaces rich pads each line to the table's width with."""
    try:
        terminal = console.file.isatty()  # itself, not rich's is_terminal, which FORCE_COLOR sets
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        console.print(renderable)
        return
    from ..views.report import strip_line_ends

    with console.capture() as capture:
        console.print(renderable)
    console.file.write(strip_line_ends(capture.get()))


def _mode_for(target: str) -> int:
    """The file's own mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_output(target: str, data: bytes, *, inputs: tuple[str, ...] = (), fsync: bool = True,
                 option: str | None = None) -> None:
    """Write `data` to `target` ('-' is standard output) through a temporary file in the
    same directory and a rename, so a full disk or an interrupt leaves the old file (or
    none), never a truncated one. A file the run reads is never overwritten. `fsync=False`
    skips forcing the data to disk (the rename is still atomic for other processes; what
    a power cut keeps is up to the file system): for files rewritten many times a second.
    `option` is the option the path came from, for messages (default: the one that
    claimed it, else -o)."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_writer(target, inputs=inputs, fsync=fsync, option=option) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_writer(target: str, *, inputs: tuple[str, ...] = (), fsync: bool = True,
                  option: str | None = None) -> Iterator[IO[bytes]]:
    """A binary file to stream a large output into, made visible only on success: a
    temporary file in the same directory, renamed over `target` at the end (deleted on an
    error, so a failed run leaves the old file or none); a device or pipe is written to
    as it is. (Standard output is not written through here: `write_output` writes it
    directly, and `eval --data` streams it.)"""
    name, option = target, _option_for(target, option)
    target = _checked_target(target, option, inputs)
    cannot = f"cannot write {option} {name}"
    if name.endswith(("/", os.sep)):  # (an existing directory is refused above) the rename would say ENOTDIR
        raise _names_a_directory(option, name)
    if os.path.exists(target) and not os.path.isfile(target):  # a device or a pipe: write to it as it is
        yield from _device(target, cannot)
        return
    yield from _renamed_into_place(target, cannot, fsync)


# The two ways atomic_writer writes, each a generator it delegates to with `yield from`,
# so an exception from the caller's body arrives at their `yield` exactly as it would in one.

def _device(target: str, cannot: str) -> Iterator[IO[bytes]]:
    try:
        with open(target, "wb") as device:
            yield device
    except OSError as exc:
        raise OutputError(f"{cannot}: {exc.strerror or exc}") from None


def _renamed_into_place(target: str, cannot: str, fsync: bool) -> Iterator[IO[bytes]]:
    """A temporary file in the target's directory, renamed over it once the body succeeded."""
    directory = os.path.dirname(os.path.abspath(target))
    try:
        import tempfile  # here: tempfile (shutil, bz2, lzma) is ~2 ms of a small command's start

        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{cannot}: {exc.strerror or exc}") from None
    try:
        f = os.fdopen(fd, "wb", buffering=1 << 20)
        try:
            try:
                yield f  # an error in the caller's body propagates as it is; the temp file goes
            except OSError as exc:
                if exc.errno in _OUT_OF_SPACE:  # from writing to f: a full disk, ulimit -f
                    raise OutputError(f"{cannot}: {exc.strerror or exc}") from None
                raise
            _finish(f, target, cannot, fsync)
        finally:
            try:
                f.close()
            except OSError:  # only after a failed write: its buffer cannot be flushed either
                pass
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise OutputError(f"{cannot}: {exc.strerror or exc}") from None
        temp = ""
    finally:
        if temp and os.path.exists(temp):
            os.unlink(temp)


def _finish(f: IO[bytes], target: str, cannot: str, fsync: bool) -> None:
    """Flush (and fsync) the temporary file and give it the target's mode, before the rename."""
    try:
        f.flush()
        if fsync:
            os.fsync(f.fileno())
        os.fchmod(f.fileno(), _mode_for(target))
    except OSError as exc:
        raise OutputError(f"{cannot}: {exc.strerror or exc}") from None


def _names_a_directory(option: str, name: str) -> OutputError:
    return OutputError(f"cannot write {option} {name}: it ends with /, so it names a directory, which does not "
                       "exist; give a file name")


def _option_for(target: str, option: str | None) -> str:
    if option:
        return option
    files = run_files()
    return (files.option_of(target) if files else None) or "-o"


def _checked_target(target: str, option: str, inputs: tuple[str, ...]) -> str:
    """Refuse what must not be replaced; the path to write (a symlink's file, the link kept)."""
    files = run_files() or RunFiles()
    if inputs:  # named by the caller: checked too, without adding them to the run's guard
        files = files.copy()
        for source in inputs:
            files.read("an input file", source)
    files.write(option, target)
    if os.path.isdir(target):
        if target.endswith(("/", os.sep)):  # eval --engine dask -o DIR/: part files go to a new directory
            raise OutputError(f"{option} {target}: the directory exists; part files go to a new one "
                              "(or give a file name)")
        raise OutputError(f"{option} {target} is a directory; give a file name")
    if option != "-o" and target.endswith(("/", os.sep)):  # (-o DIR/ is --engine dask's part files: checked there)
        raise _names_a_directory(option, target)
    name = target
    if os.path.islink(target):  # replace the file the link points to, and keep the link
        target = os.path.realpath(target)
    if os.path.isfile(target) and not (os.stat(target).st_mode & 0o222 and os.access(target, os.W_OK)):
        # The rename would replace it anyway (it needs only the directory's permission).
        raise OutputError(f"cannot write {option} {name}: the file is read-only")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {option} {name}: the directory {directory} does not exist")
    return target
