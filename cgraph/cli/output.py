"""Writing results to files without ever leaving a half-written one behind."""

from __future__ import annotations

import os
import sys
import tempfile

from ..errors import CgraphError


class OutputError(CgraphError):
    """The output cannot be written where asked."""


def _mode_for(target: str) -> int:
    """The file's own mode if it exists, else what the umask gives a new file (mkstemp's is 0600)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_output(target: str, data: bytes, *, inputs: tuple[str, ...] = ()) -> None:
    """Write `data` to `target` ('-' is standard output) through a temporary file in the
    same directory and a rename, so a full disk or an interrupt leaves the old file (or
    none), never a truncated one. An input file is never overwritten."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    for source in inputs:
        if source and os.path.exists(source) and os.path.exists(target) and os.path.samefile(source, target):
            raise OutputError(f"-o {target} is the input file; refusing to overwrite it")
    if os.path.isdir(target):
        raise OutputError(f"-o {target} is a directory; give a file name")
    if os.path.exists(target) and not os.path.isfile(target):  # a device or a pipe: write to it as it is
        with open(target, "wb") as f:
            f.write(data)
        return
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {target}: the directory {directory} does not exist")
    fd, temp = -1, ""
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
        os.fchmod(fd, _mode_for(target))
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
        temp = ""
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if temp and os.path.exists(temp):
            os.unlink(temp)
