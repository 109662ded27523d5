"""A data set: `--data` naming one file, a directory, or a glob of files ('parts/*.parquet').

The files are read in the order of their sorted names and their rows keep that order, so a
set reads exactly as the files joined end to end would. Every file must have the first
file's columns (a file that differs is an error naming it); each file keeps its own line
numbers, and an error in a row names that file and line (each file's DataFile does).

One file is returned as the DataFile itself: nothing changes for the usual case."""

from __future__ import annotations

import glob
import os
from typing import Iterator, Sequence

import numpy as np

from ...errors import InputError
from .base import FORMATS, SHOWN_SKIPS, STDIN, Chunk, Field, Skipped
from .datafile import DataFile

_GLOB_CHARS = "*?["


def data_paths(spec: str, fmt: str | None = None) -> list[str]:
    """The files `spec` names, in the order they are read: a file (or "-") as it is; a
    directory's data files; a glob's matches, sorted by name. None found is an error."""
    if spec == STDIN or os.path.isfile(spec):
        return [spec]
    if os.path.isdir(spec):
        names = sorted(os.listdir(spec))
        _refuse_broken_links(spec, [os.path.join(spec, n) for n in names if _named_as_data(n, fmt)])
        found = [os.path.join(spec, n) for n in names if _is_data_file(os.path.join(spec, n), fmt)]
        if not found:
            raise InputError(f"--data {spec}: the directory holds no data files",
                             hint="data files are .csv, .tsv, .jsonl (or .ndjson) and .parquet")
        return found
    if any(c in spec for c in _GLOB_CHARS):
        matches = glob.glob(spec, recursive=True)
        _refuse_broken_links(spec, matches)
        found = sorted(p for p in matches if os.path.isfile(p))
        if not found:
            raise InputError(f"--data {spec}: the pattern matches no file",
                             hint="quote the pattern ('parts/*.parquet') so that cgraph, not the shell, expands it")
        return found
    return [spec]  # DataFile says what is wrong with it (no such file, ...)


def _is_data_file(path: str, fmt: str | None) -> bool:
    return os.path.isfile(path) and _named_as_data(os.path.basename(path), fmt)


def _named_as_data(name: str, fmt: str | None) -> bool:
    return not name.startswith(".") and (fmt is not None or os.path.splitext(name)[1].lower() in FORMATS)


def _refuse_broken_links(spec: str, paths: list[str]) -> None:
    """A data file that is a symbolic link to nothing is refused, not skipped: its rows
    would be missing from the run without a word."""
    for path in sorted(paths):
        if os.path.islink(path) and not os.path.exists(path):
            raise InputError(f"--data {spec}: {path} is a symbolic link to a file that does not exist "
                             f"({os.readlink(path)})")


def open_data_set(spec: str, *, fmt: str | None = None, delimiter: str | None = None) -> "DataFile | DataSet":
    """The data `spec` names: a DataFile for one file, else a DataSet over the files."""
    paths = data_paths(spec, fmt)
    if len(paths) == 1 and paths[0] == spec:
        return DataFile(spec, fmt=fmt, delimiter=delimiter)
    return DataSet(spec, paths, fmt=fmt, delimiter=delimiter)


class DataSet:
    """Several data files read as one, in order: the attributes binding and reading use
    (columns, format, label, rules, chunks, read_all), over every file."""

    def __init__(self, spec: str, paths: Sequence[str], *, fmt: str | None = None, delimiter: str | None = None):
        self.path = spec
        self.label = spec
        self.paths = list(paths)
        self.files = [DataFile(p, fmt=fmt, delimiter=delimiter) for p in self.paths]
        first = self.files[0]
        for other in self.files[1:]:
            if other.columns != first.columns:
                raise InputError(f"--data {spec}: {other.label} has other columns than {first.label}: "
                                 f"{_columns_diff(first.columns, other.columns)}",
                                 hint="every file of a data set has the same columns")
        self.format = first.format
        self.delimiter = first.delimiter
        self.columns = first.columns
        self.header_line = first.header_line
        self._rules = None

    def __repr__(self) -> str:
        return f"<DataSet {self.label} ({len(self.files)} files, {len(self.columns)} columns)>"

    @property
    def rules(self):
        return self._rules

    @rules.setter
    def rules(self, rules) -> None:
        # bind_columns binds the first file's columns; every file has the same, so its
        # rules (what a later JSON Lines key binds) hold for each.
        self._rules = rules
        for f in self.files:
            f.rules = rules

    def row_count(self) -> int | None:
        counts = [f.row_count() for f in self.files]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def chunks(self, fields: Sequence[Field], rows: int, on_error: str = "fail",
               skipped: Skipped | None = None) -> Iterator[Chunk]:
        skipped = skipped if skipped is not None else Skipped()
        for f in self.files:
            mine = Skipped()
            for chunk in f.chunks(fields, rows, on_error, mine):
                chunk.source = f.label
                yield chunk
            merge_skipped(skipped, mine, f.label)

    def read_all(self, fields: Sequence[Field], rows: int = 65536, on_error: str = "fail",
                 skipped: Skipped | None = None) -> Chunk:
        skipped = skipped if skipped is not None else Skipped()
        parts = []
        for f in self.files:
            mine = Skipped()
            parts.append(f.read_all(fields, rows, on_error, mine))
            merge_skipped(skipped, mine, f.label)
        columns = [np.concatenate([p.columns[k] for p in parts]) for k in range(len(fields))]
        return Chunk(columns, np.concatenate([p.lines for p in parts]))


def _columns_diff(first: dict, other: dict) -> str:
    missing = [k for k in first if k not in other]
    extra = [k for k in other if k not in first]
    parts = []
    if missing:
        parts.append("no column " + ", ".join(f"'{k}'" for k in missing[:4]))
    if extra:
        parts.append("the column" + ("s " if len(extra) > 1 else " ") + ", ".join(f"'{k}'" for k in extra[:4]))
    if not parts:
        parts.append("lists of other lengths")
    return "; ".join(parts)


def merge_skipped(total: Skipped, part: Skipped, label: str) -> None:
    """Add one file's skipped rows to a data set's, each message naming its file (the
    set's summary names the set; its rows' line numbers are their files')."""
    total.count += part.count
    for message in part.first:
        if len(total.first) < SHOWN_SKIPS:
            total.first.append(f"{label}: {message}")


def files_of(data: "DataFile | DataSet") -> list[DataFile]:
    """The files of a data set, in order (one for a DataFile)."""
    return list(data.files) if isinstance(data, DataSet) else [data]
