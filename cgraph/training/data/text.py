"""Reading a data file's text: a file or a stream (standard input, a pipe) read once, the
lines from the first row on, and invalid UTF-8 said with its line."""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from itertools import chain, islice
from typing import IO, Iterator


from ...errors import InputError, open_finite, stdin_buffer
from .base import STDIN, DataError, _Source


# Invalid UTF-8 read with errors="surrogateescape" becomes U+DC80..U+DCFF: a block of lines is
# checked for these with one isascii() (ASCII data, the usual case, costs nothing more).
_UNDECODED = re.compile("[\udc80-\udcff]")


class _TextFile(_Source):
    """The text side of a DataFile (CSV and JSON Lines)."""

    _stream: IO[str] | None
    _stream_read: bool
    _pushback: list[str]
    _skip: int

    def _is_stream(self) -> bool:
        return self.path == STDIN or not os.path.isfile(self.path)

    def _open_text(self) -> IO[str]:
        if self.path == STDIN:
            return io.TextIOWrapper(stdin_buffer("--data -"), encoding="utf-8-sig", errors="surrogateescape",
                                    newline="")
        try:
            return open_finite(self.path, f"--data {self.path}", encoding="utf-8-sig", errors="surrogateescape",
                               newline="")
        except OSError as exc:
            raise InputError(f"--data {self.path}: cannot read it: {exc.strerror or exc}") from None

    def _header_text(self) -> IO[str]:
        """The text to read the header from: a file's own handle, or the stream kept for the rows."""
        f = self._open_text()
        if self._is_stream():
            self._stream = f
        return f

    def _done_with_header(self, f: IO[str], failed: bool = False) -> None:
        if self._stream is None:
            f.close()
        elif failed:
            self._release_stream()

    @contextmanager
    def _row_lines(self) -> Iterator[Iterator[str]]:
        """The lines from the first row on (line number self._skip + 1)."""
        if self._stream is not None:
            if self._stream_read:
                raise ValueError(f"{self.label} is a stream and has been read already")
            self._stream_read = True
            try:
                yield chain(self._pushback, self._stream)
            finally:
                self._pushback = []
                self._release_stream()
            return
        with self._open_text() as f:
            for _ in islice(f, self._skip):
                pass
            yield iter(f)

    def _release_stream(self) -> None:
        stream = self._stream
        if stream is None:
            return
        if self.path == STDIN:
            stream.detach()  # type: ignore[attr-defined]  # a TextIOWrapper; standard input stays open for its owner
        else:
            stream.close()

    def _check_text(self, block: list[str], first: int) -> None:
        """Invalid UTF-8 is an error naming its line (read with surrogateescape, it shows as U+DCxx)."""
        bad = self._first_undecoded(block, "".join(block))
        if bad is not None:
            raise self._undecoded_error(block[bad], first + bad)

    def _cut_undecoded(self, block: list[str], lines: Iterator[str], first: int, joined: str):
        """(block, lines, joined) with a block holding invalid UTF-8 cut before its first bad
        line, which goes back to `lines`: the rows before it are read first, so whatever the
        chunk size the first error in the file is the one reported. A bad first line raises."""
        bad = self._first_undecoded(block, joined)
        if bad is None:
            return block, lines, joined
        if bad == 0:
            raise self._undecoded_error(block[0], first)
        return block[:bad], chain(block[bad:], lines), "".join(block[:bad])

    @staticmethod
    def _first_undecoded(block: list[str], joined: str) -> int | None:
        if joined.isascii() or not _UNDECODED.search(joined):
            return None
        return next(k for k, line in enumerate(block) if _UNDECODED.search(line))

    def _undecoded_error(self, line: str, number: int) -> DataError:
        found = _UNDECODED.search(line)
        assert found is not None  # the caller found the line by this search
        byte = ord(found.group()) - 0xDC00
        return DataError(
            f"invalid UTF-8 (byte 0x{byte:02x}): data files are UTF-8 text", self.label,
            number, line.rstrip("\r\n"), found.start() + 1,
            hint="convert the file, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8",
        )
