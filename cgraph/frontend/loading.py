"""Reading programs: text or file -> Graph (parse, then build)."""

from __future__ import annotations

import os

from . import graph_cache
from .builder import DEFAULT_MAX_NODES, DEFAULT_SEED, Builder
from .direct import Direct
from .shapes import Script
from ..errors import CgraphError, InputError, Location, ParseError, Source, open_finite
from ..ir.graph import Graph
from ..ir.tape import paused_gc
from .parser import parse_syntax
from .syntax import Stmt


def parse(text: str, filename: str = "<expr>", *, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED) -> Graph:
    """Parse and build a program. Raises ParseError or BuildError, each with a location.

    `seed` (default 0) seeds the draws of `param w = uniform(a, b)` / `normal(mean, std)`:
    they happen in statement order, so one seed always gives the same params."""
    source = Source(text.replace("\r\n", "\n"), filename)  # Windows line endings: columns as with \n
    builder = Builder(source, max_nodes, seed)
    failure: list[CgraphError] = []

    def run(statement: Stmt) -> None:
        # After an error, keep parsing (without building) so a syntax error further
        # down is still reported first, as if the whole file had been parsed up front.
        if not failure:
            try:
                builder.statement(statement)
            except CgraphError as exc:
                failure.append(exc)

    direct = Direct(builder)

    def run_direct(script: Script, texts: tuple, spans: tuple) -> bool:
        # The same guard as `run`: nothing more is built after an error.
        if failure:
            return False
        try:
            return direct.build(script, texts, spans)
        except CgraphError as exc:  # (only the graph's size limit can stop a direct build)
            failure.append(exc)
            return True

    with paused_gc():
        parse_syntax(source, sink=run, direct=run_direct)
        if failure:
            raise failure[0]
        return builder.finish()


def load(path: str | os.PathLike, *, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED,
         cache: bool = False) -> Graph:
    """Read a .cg file (UTF-8) and build its graph (`seed` as for `parse`). With `cache`,
    a graph built before from the same bytes and options is read back from the graph
    cache instead (cgraph/frontend/graph_cache.py; off when CGRAPH_NO_CACHE=1)."""
    path = os.fspath(path)
    try:
        with open_finite(path, path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_bytes(data, str(path), max_nodes=max_nodes, seed=seed, cache=cache)


def load_bytes(data: bytes, filename: str, *, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED,
               cache: bool = False) -> Graph:
    """A program's bytes (a file's, standard input's) -> its graph, as `load`."""
    text = decode(data, filename)
    if not cache or not graph_cache.enabled():
        return parse(text, filename, max_nodes=max_nodes, seed=seed)
    key = graph_cache.key(data, max_nodes, seed)
    source = Source(text.replace("\r\n", "\n"), filename)  # as `parse` reads it
    graph = graph_cache.read(key, source, max_nodes)
    if graph is None:
        # Only a graph that built is stored: an error is reported afresh on every run.
        graph = parse(text, filename, max_nodes=max_nodes, seed=seed)
        graph_cache.write(key, graph, max_nodes)
    return graph


def decode(data: bytes, filename: str) -> str:
    """UTF-8 (a byte-order mark is skipped); an invalid byte is a located error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        source = Source(good + data[exc.start :].decode("utf-8", errors="replace"), filename)
        raise ParseError(
            f"the file is not valid UTF-8: byte 0x{data[exc.start]:02x} cannot start or continue a character",
            Location(source, line, column),
        ) from None
