"""Writing results to files without ever leaving a half-written one behind."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from typing import IO, Iterator

from ..errors import CgraphError


class OutputError(CgraphError):
    """The output cannot be written where asked."""


_OUT_OF_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO}


def _mode_for(target: str) -> int:
    """The file's own mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_output(target: str, data: bytes, *, inputs: tuple[str, ...] = (), fsync: bool = True) -> None:
    """Write `data` to `target` ('-' is standard output) through a temporary file in the
    same directory and a rename, so a full disk or an interrupt leaves the old file (or
    none), never a truncated one. An input file is never overwritten. `fsync=False` skips
    forcing the data to disk (the rename is still atomic for other processes; what a
    power cut keeps is up to the file system): for files rewritten many times a second."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_writer(target, inputs=inputs, fsync=fsync) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_writer(target: str, *, inputs: tuple[str, ...] = (), fsync: bool = True) -> Iterator[IO[bytes]]:
    """A binary file to stream a large output into, made visible only on success.

    For a file: a temporary file in the same directory, renamed over `target` at the end
    (deleted on an error, so a failed run leaves the old file or none). For '-'
    (standard output): an anonymous temporary file copied to stdout at the end, so
    nothing is printed by a run that fails halfway."""
    if target == "-":
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        return
    name, target = target, _checked_target(target, inputs)
    if os.path.exists(target) and not os.path.isfile(target):  # a device or a pipe: write to it as it is
        try:
            with open(target, "wb") as f:
                yield f
        except OSError as exc:
            raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from None
        return
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from None
    try:
        f = os.fdopen(fd, "wb", buffering=1 << 20)
        try:
            try:
                yield f  # an error in the caller's body propagates as it is; the temp file goes
            except OSError as exc:
                if exc.errno in _OUT_OF_SPACE:  # from writing to f: a full disk, ulimit -f
                    raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from None
                raise
            try:
                f.flush()
                if fsync:
                    os.fsync(f.fileno())
                os.fchmod(f.fileno(), _mode_for(target))
            except OSError as exc:
                raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from None
        finally:
            try:
                f.close()
            except OSError:  # only after a failed write: its buffer cannot be flushed either
                pass
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise OutputError(f"cannot write {name}: {exc.strerror or exc}") from None
        temp = ""
    finally:
        if temp and os.path.exists(temp):
            os.unlink(temp)


def _checked_target(target: str, inputs: tuple[str, ...]) -> str:
    """Refuse what must not be replaced; the path to write (a symlink's file, the link kept)."""
    sources = [s for s in inputs if s and s != "-" and os.path.exists(s)]
    for source in sources:
        if os.path.exists(target) and os.path.samefile(source, target):
            which = "the input file" if len(sources) == 1 else "an input file"
            raise OutputError(f"-o {target} is {which}; refusing to overwrite it")
    if os.path.isdir(target):
        raise OutputError(f"-o {target} is a directory; give a file name")
    name = target
    if os.path.islink(target):  # replace the file the link points to, and keep the link
        target = os.path.realpath(target)
    if os.path.isfile(target) and not (os.stat(target).st_mode & 0o222 and os.access(target, os.W_OK)):
        # The rename would replace it anyway (it needs only the directory's permission).
        raise OutputError(f"cannot write {name}: the file is read-only")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {name}: the directory {directory} does not exist")
    return target
