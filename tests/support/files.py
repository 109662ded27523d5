"""Writing the programs and data files a test feeds to cgraph, byte for byte."""

from __future__ import annotations

from pathlib import Path


def write_file(path: Path, data: str | bytes) -> str:
    """Write `data` (bytes as given, text as UTF-8 with line endings kept) to `path`;
    return the path as a string, ready for an argv."""
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


def write(directory: Path, data: str | bytes, name: str = "prog.cg") -> str:
    """Write `data` to `directory/name` (see write_file); return the path as a string."""
    return write_file(directory / name, data)
