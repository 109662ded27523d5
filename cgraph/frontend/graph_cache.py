"""The graph cache: a program built once is read back, not parsed again, while its text,
cgraph and the options that shape its graph are unchanged.

Where: `$XDG_CACHE_HOME/cgraph` (else `~/.cache/cgraph`), one file per built graph,
`graph-<key>`, beside the parser's table files. The key is a SHA-256 of the program's
bytes, cgraph's version, the grammar, the code that builds graphs (each source file's
size and time, so an edited checkout never meets graphs of its old code) and the options
that change the graph (--max-nodes, --seed). The format is cgraph/ir/cache_file.py's:
plain arrays and JSON, checked in full when read.

Off with `--no-cache` or `CGRAPH_NO_CACHE=1`. Bounded: `CGRAPH_CACHE_MB` (default 200)
megabytes, the least recently used files pruned after each write (a hit touches its
file). Whatever goes wrong here (an unwritable or full directory, a bad file, a race with
another process) costs a parse, never an error: the cache only ever saves time.
"""

from __future__ import annotations

import math
import os
import stat
import time
from typing import Iterator

from ..errors import InputError, Source
from ..ir import cache_file
from ..ir.graph import Graph

DEFAULT_LIMIT_MB = 200
_PREFIX = "graph-"
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600  # a temp file this old is a crashed writer's, not one at work
# Files of the cache directory the pruning may delete: ours, and the parser's tables.
_OWNED_PREFIXES = (_PREFIX, "parser-", "tables", "." + _PREFIX)


def enabled(no_cache: bool = False) -> bool:
    """Whether to use the cache: not with --no-cache, nor with CGRAPH_NO_CACHE set (to
    anything but '' or '0')."""
    return not no_cache and os.environ.get("CGRAPH_NO_CACHE", "") in ("", "0") and limit_bytes() > 0


def limit_bytes() -> int:
    """The bound on the directory's size: CGRAPH_CACHE_MB megabytes (0 turns the cache
    off). Anything but a number >= 0 is an error, as a bad CGRAPH_THREADS is: taking a typo
    for the default would let the cache grow where the user meant to bound or stop it."""
    text = os.environ.get("CGRAPH_CACHE_MB", "")
    if not text.strip():
        return int(DEFAULT_LIMIT_MB * 1e6)
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not 0 <= megabytes < math.inf:  # not a number, nan, negative or inf
        raise InputError(f"CGRAPH_CACHE_MB must be a number of megabytes (0 turns the cache off), not {text!r}",
                         hint="unset it for the default (200 MB)",
                         cli_hint="unset it for the default (200 MB), or turn the cache off with --no-cache")
    return int(megabytes * 1e6)


def directory() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cgraph")


def key(data: bytes, max_nodes: int, seed: int) -> str:
    """The key of a program's graph: its bytes, and everything else the graph depends on."""
    from .. import __version__
    from ..ops import OPS
    from .parser import grammar_text

    # The op table too: an op registered at run time (ops.register) changes what parses.
    table = ",".join(f"{name}/{op.arity}" for name, op in sorted(OPS.items()))
    digest = cache_file.sha256()
    for part in (f"cgraph {__version__} format {cache_file.FORMAT_VERSION}", grammar_text(), _code_stamp(), table,
                 f"max_nodes={max_nodes} seed={seed}"):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(cache_file.sha256(data).digest())
    return digest.hexdigest()


def _code_stamp() -> str:
    """Size and modification time of each source file that takes part in building a
    graph: the version alone does not change while cgraph is developed."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for folder in ("frontend", "ir", ""):
        base = os.path.join(package, folder)
        try:
            entries = sorted(e for e in os.listdir(base) if e.endswith(".py"))
        except OSError:
            entries = []
        for entry in entries:
            try:
                st = os.stat(os.path.join(base, entry))
            except OSError:
                continue
            parts.append(f"{folder}/{entry}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def _path(cache_key: str) -> str:
    return os.path.join(directory(), _PREFIX + cache_key)


def _size_bound(max_nodes: int, text_length: int) -> int:
    """The largest cache file a graph of at most `max_nodes` nodes over a text this long
    may have (the writer does not store a larger one, the reader does not read it):
    ~60 bytes a node in practice, names and tags at most a few times the text."""
    return 2**20 + 256 * max_nodes + 8 * text_length


def read(cache_key: str, source: Source, max_nodes: int) -> Graph | None:
    """The cached graph of `cache_key` over `source`, or None (a miss, or a file that is
    not a good one: the caller parses and `write` replaces it)."""
    path = _path(cache_key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # absent, a symbolic link, unreadable
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > min(limit_bytes(), _size_bound(max_nodes, len(source.text))):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    graph = cache_file.decode(data, cache_key, source, max_nodes)
    if graph is not None:
        try:
            os.utime(path)  # recently used: the pruning removes the least recently used first
        except OSError:
            pass
    return graph


def write(cache_key: str, graph: Graph, max_nodes: int) -> None:
    """Store `graph` under `cache_key` (atomically: a reader sees the old file or the whole
    new one), then prune the directory to its bound. Any failure leaves things as they were."""
    limit = limit_bytes()
    try:
        chunks = cache_file.encode_chunks(graph, cache_key)
    except Exception:  # a bug in the writer must not fail a run whose graph is built
        if os.environ.get("CGRAPH_DEBUG"):
            raise
        return
    if chunks is None or sum(map(len, chunks)) > min(limit, _size_bound(max_nodes, len(graph.source.text))):
        return
    base = directory()
    path = _path(cache_key)
    temp = os.path.join(base, f".{_PREFIX}{cache_key[:16]}.{os.getpid()}.{os.urandom(4).hex()}{_TEMP_SUFFIX}")
    try:
        os.makedirs(base, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        _replace(temp, path)
    except OSError:
        _remove(temp)
        return
    prune(limit, keep=path)


def _replace(temp: str, path: str) -> None:
    """os.replace, after clearing a directory that stands where the file goes (a symbolic
    link is replaced itself, never followed)."""
    try:
        os.replace(temp, path)
    except IsADirectoryError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)  # rmtree does not follow links inside
        os.replace(temp, path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _entries(base: str) -> Iterator[tuple[float, int, str]]:
    """(time of last use, size, path) of the files in the cache directory that cgraph owns."""
    try:
        scan = list(os.scandir(base))
    except OSError:
        return
    for entry in scan:
        if not entry.name.startswith(_OWNED_PREFIXES):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
            yield info.st_mtime, info.st_size, entry.path


def prune(limit: int, keep: str | None = None) -> None:
    """Delete the least recently used files until the directory holds at most `limit`
    bytes; never `keep` (just written) nor the tables of the running parser. Temp files
    are left to their writers unless they are stale."""
    protected = {keep, *_current_tables()}
    now = time.time()
    files = []
    for used, size, path in _entries(directory()):
        if path.endswith(_TEMP_SUFFIX):
            if now - used > _STALE_TEMP_SECONDS:
                _remove(path)
            continue
        files.append((used, size, path))
    total = sum(size for _, size, _ in files)
    for used, size, path in sorted(files):
        if total <= limit:
            break
        if path not in protected:
            _remove(path)
            total -= size


def _current_tables() -> list[str]:
    """The paths of the parser's table files for this version and grammar (named
    kind-version-crc32 by cgraph.frontend.parser): read on every start, never touched."""
    import zlib

    from .. import __version__
    from .parser import grammar_text

    stamp = f"{__version__}-{zlib.crc32(grammar_text().encode()):08x}"
    base = directory()
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [os.path.join(base, name) for name in names
            if not name.startswith(_PREFIX) and (name.endswith(stamp) or name.endswith(stamp + ".json"))]
