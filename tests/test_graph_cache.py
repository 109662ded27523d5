"""The graph cache (cgraph/frontend/graph_cache.py, format in cgraph/ir/cache_file.py):
a hit gives the very graph a parse gives, for every command; anything that changes the
graph misses; a bad cache file of any kind is ignored and replaced, never trusted; the
directory stays under its bound; --no-cache and CGRAPH_NO_CACHE write nothing."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest

from cgraph.errors import Source
from cgraph.frontend import graph_cache
from cgraph.frontend.loading import load, parse
from cgraph.ir import cache_file

from support.paths import ROOT

SAMPLES = sorted((ROOT / "samples").glob("*.cg"))
GIVEN = {"intro.cg": ["--x", "1", "--y", "3", "--z", "-3"]}
DATA = {"linreg.cg": "linreg.csv", "xor.cg": "xor.csv"}


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache of this test's own (XDG_CACHE_HOME); the cache switched on."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CGRAPH_NO_CACHE", raising=False)
    monkeypatch.delenv("CGRAPH_CACHE_MB", raising=False)
    return tmp_path / "xdg" / "cgraph"


def graph_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("graph-*")) if directory.is_dir() else []


def same_graph(a, b) -> None:
    """Every column of the two graphs equal, and stored alike."""
    assert a.ops == b.ops
    assert tuple(a.args) == tuple(b.args) and a.args.first.format == b.args.first.format
    assert [repr(v) for v in a.values] == [repr(v) for v in b.values]  # -0.0 and nan too
    assert type(a.values._given) is type(b.values._given)
    assert tuple(a.tags) == tuple(b.tags) and a.tags.sets == b.tags.sets
    assert a.positions.tobytes() == b.positions.tobytes() and a.positions.format == b.positions.format
    assert list(a.names.items()) == list(b.names.items())
    assert list(a.node_names.items()) == list(b.node_names.items())
    assert (a.leaves, a.outputs, a.output_names) == (b.leaves, b.outputs, b.output_names)
    assert a.source.text == b.source.text and a.source.filename == b.source.filename


# A program with a bit of everything the columns store: leaves with and without
# defaults, a named constant, -0.0, a function (call tags), a loop (loop tags), aliases,
# a node of many arguments (sum), CRLF line ends, two outputs.
RICH = (
    "# everything\r\ninput x = 0.5\r\nparam w[1] = -0.0\r\nparam w[2] = uniform(-1, 1)\r\nk = 3\r\n"
    "def f(a) = tanh(w[1]*a + k)\r\ninput h[0] = 0\r\nfor t in 1..4 {\r\n  h[t] = f(h[t-1]) + x\r\n}\r\n"
    "s = sum(h[t] for t in 1..4)\r\nalias = s\r\nq = s * x * y\r\noutput q, s\r\n"
)


def test_a_hit_is_the_graph_a_parse_gives(cache_dir, tmp_path):
    path = tmp_path / "rich.cg"
    path.write_bytes(RICH.encode())
    parsed = load(path)
    first = load(path, cache=True)  # a miss: parsed, then stored
    assert len(graph_files(cache_dir)) == 1
    hit = load(path, cache=True)
    same_graph(parsed, first)
    same_graph(parsed, hit)


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_round_trips(path):
    graph = load(path)
    data = cache_file.encode(graph, "k")
    assert data is not None
    same_graph(graph, cache_file.decode(data, "k", Source(graph.source.text, str(path)), 10**7))


# Programs that reach every way the columns store things: a value per node (more than a
# quarter of the nodes have one), names whose nodes are not 0, 1, 2, ..., a node named
# after a later one (a bare literal at the end), aliases, nodes of many arguments.
SHAPES = {
    "values of most nodes": "for i in 1..1500 { param w[i] = 0.5 }\ny = sum(w[i] for i in 1..1500)\n",
    "aliases": "a = x * 2\nb = a\nc = b\noutput c\n",
    "many arguments": "y = mean(x, z) + sum(x * i for i in 1..5)\n",
    "rich": RICH,
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_way_of_storing_round_trips(name):
    graph = parse(SHAPES[name], name)
    data = cache_file.encode(graph, "k")
    assert data is not None
    same_graph(graph, cache_file.decode(data, "k", Source(graph.source.text, name), 10**7))


def test_a_late_name_round_trips():
    """A node first named after a later node was (no program of today's language makes
    one, but NodeNames stores it and so must the cache)."""
    from cgraph.ir.graph import Graph

    g = parse("a = x * 3\nb = a + 1\n", "late")
    g.node_names.name(1, "three")  # the literal 3, node 1, named after node 3 (b) was
    assert g.node_names._late == {1: "three"}
    late = Graph(source=g.source, ops=g.ops, args=g.args, values=g.values, tags=g.tags, positions=g.positions,
                 names={**g.names, "three": 1}, node_names=g.node_names, leaves=g.leaves, outputs=g.outputs,
                 output_names=g.output_names)
    data = cache_file.encode(late, "k")
    assert data is not None
    same_graph(late, cache_file.decode(data, "k", Source(g.source.text, "late"), 10**7))


def test_the_shapes_reach_every_storage():
    graphs = {name: parse(text, name) for name, text in SHAPES.items()}
    assert graphs["values of most nodes"].values._given is None
    assert graphs["aliases"].node_names._more
    assert any(g.node_names._ids is not None for g in graphs.values())
    assert graphs["many arguments"].args.more


def commands(sample: Path, tmp_path: Path) -> list[list[str]]:
    given = GIVEN.get(sample.name, [])
    runs = [
        ["eval", str(sample), *given],
        ["eval", str(sample), *given, "--format", "json", "--show", "inputs"],
        ["render", str(sample), *given, "--annotate", "values,grads", "--format", "dot", "-o", "-"],
        ["explain", str(sample), *given],
        ["check", str(sample), *given, "--format", "json"],
        ["grad", str(sample)],
        ["export", str(sample), "--to", "python"],
        ["hessian", str(sample), *given, "--format", "json"],
    ]
    if sample.name in DATA:
        runs.append(["train", str(sample), "--data", str(sample.parent / DATA[sample.name]), "--epochs", "2"])
    return runs


def timeless(result):
    """train's report without its timings (`in 0.01 s`, the seconds column): they vary."""
    out = re.sub(r"\d+\.\d\d(?= s\b)", "T", result.out)
    return result._replace(out=re.sub(r"(?m)\d+\.\d\d( │)$", r"T\1", out))


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_command_says_the_same_on_a_hit(cg, cache_dir, sample, tmp_path):
    for argv in commands(sample, tmp_path):
        fresh = timeless(cg(*argv, "--no-cache"))
        miss = timeless(cg(*argv))
        hit = timeless(cg(*argv))
        assert graph_files(cache_dir), argv
        assert fresh.code == 0, (argv, fresh.err)
        assert fresh == miss == hit, argv


def test_errors_and_warnings_are_the_same_on_a_hit(cg, cache_dir, tmp_path):
    path = tmp_path / "warn.cg"
    path.write_text("input x = 0\ny = log(x) * 2\n")  # evaluates with a warning (-inf)
    results = [cg("eval", path, "--no-cache"), cg("eval", path), cg("eval", path)]
    assert results[0].err and results[0] == results[1] == results[2]
    bad = tmp_path / "bad.cg"
    bad.write_text("x = 1\ny = tanhh(x)\n")  # does not build: nothing stored, same error each time
    results = [cg("eval", bad, "--no-cache"), cg("eval", bad), cg("eval", bad)]
    assert results[0].code == 1 and results[0] == results[1] == results[2]
    assert len(graph_files(cache_dir)) == 1


def test_standard_input_is_cached_by_content(cg, cache_dir):
    text = "input x = 2\ny = x * x\n"
    first, second = cg("eval", "-", stdin=text), cg("eval", "-", stdin=text)
    assert first == second and first.code == 0
    assert len(graph_files(cache_dir)) == 1
    cg("eval", "-e", "x * 3", "--x", "1")  # -e text is not cached
    assert len(graph_files(cache_dir)) == 1


# --- what misses ---------------------------------------------------------------------


def test_a_changed_file_or_option_misses(cache_dir, tmp_path):
    path = tmp_path / "p.cg"
    path.write_text("param w = uniform(-1, 1)\ny = w * 2\n")
    base = load(path, cache=True)
    assert load(path, cache=True, seed=1).values[0] != base.values[0]  # another seed: other draws
    load(path, cache=True, max_nodes=50)
    assert len(graph_files(cache_dir)) == 3
    path.write_text("param w = uniform(-1, 1)\ny = w * 3\n")
    changed = load(path, cache=True)
    assert changed.source.text.endswith("w * 3\n") and len(graph_files(cache_dir)) == 4
    assert load(path, cache=True).values[0] == base.values[0]  # the same seed draws the same


def test_another_version_misses(cache_dir, tmp_path, monkeypatch):
    import cgraph

    path = tmp_path / "p.cg"
    path.write_text("y = x * 2\n")
    key = graph_cache.key(path.read_bytes(), 100, 0)
    monkeypatch.setattr(cgraph, "__version__", "999.0")
    assert graph_cache.key(path.read_bytes(), 100, 0) != key
    load(path, cache=True)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir.parent))
    load(path, cache=True)  # this version's graph: not the other's file
    assert len(graph_files(cache_dir)) == 2


def test_a_changed_seed_on_the_command_line_misses(cg, cache_dir, tmp_path):
    path = tmp_path / "p.cg"
    path.write_text("param w = normal(0, 1)\ny = w * 2\n")
    runs = {seed: cg("eval", path, "--seed", seed, "--format", "json") for seed in (1, 2, 1, 2)}
    assert runs[1].out != runs[2].out
    assert runs[1] == cg("eval", path, "--seed", 1, "--format", "json", "--no-cache")
    assert len(graph_files(cache_dir)) == 2


def test_the_key_covers_the_grammar_the_code_and_the_op_table(monkeypatch):
    from cgraph import ops
    from cgraph.frontend import parser

    data = b"y = x\n"
    key = graph_cache.key(data, 100, 0)
    assert graph_cache.key(data, 101, 0) != key and graph_cache.key(data, 100, 1) != key
    assert graph_cache.key(data + b" ", 100, 0) != key
    monkeypatch.setattr(graph_cache, "_code_stamp", lambda: "edited")
    assert graph_cache.key(data, 100, 0) != key
    monkeypatch.undo()
    monkeypatch.setattr(parser, "grammar_text", lambda: "another grammar")
    assert graph_cache.key(data, 100, 0) != key
    monkeypatch.undo()
    monkeypatch.setitem(ops.OPS, "leaky", ops.OPS["tanh"])
    assert graph_cache.key(data, 100, 0) != key


# --- turned off ----------------------------------------------------------------------


def test_no_cache_and_the_variable_write_nothing(cg, cache_dir, tmp_path, monkeypatch):
    path = tmp_path / "p.cg"
    path.write_text("y = x * 2\n")
    for command in (["eval", path, "--x", "1"], ["render", path, "--format", "dot", "-o", "-"], ["grad", path],
                    ["export", path, "--to", "python"], ["explain", path, "--x", "1"]):
        assert cg(*command, "--no-cache").code == 0
    assert graph_files(cache_dir) == []
    monkeypatch.setenv("CGRAPH_NO_CACHE", "1")
    assert cg("eval", path, "--x", "1").code == 0
    assert graph_files(cache_dir) == []
    monkeypatch.setenv("CGRAPH_CACHE_MB", "0")
    monkeypatch.setenv("CGRAPH_NO_CACHE", "0")
    assert cg("eval", path, "--x", "1").code == 0
    assert graph_files(cache_dir) == []
    monkeypatch.delenv("CGRAPH_CACHE_MB")
    assert cg("eval", path, "--x", "1").code == 0
    assert len(graph_files(cache_dir)) == 1


def test_every_command_reading_a_program_has_no_cache():
    import click

    from cgraph.cli import cli

    ctx = click.Context(cli)
    reading = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        options = {opt for p in command.params for opt in getattr(p, "opts", ())}
        if "--max-nodes" in options:  # (what every command that reads a program has)
            reading.append(name)
            assert "--no-cache" in options, name
    assert {"eval", "render", "explain", "grad", "export", "train", "check", "hessian"} <= set(reading)


def test_an_unwritable_cache_falls_back_to_parsing(cg, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cgraph/ cannot be made under a file
    monkeypatch.delenv("CGRAPH_NO_CACHE", raising=False)
    path = tmp_path / "p.cg"
    path.write_text("y = x * 2\n")
    assert cg("eval", path, "--x", "1") == cg("eval", path, "--x", "1", "--no-cache")


# --- bad cache files -----------------------------------------------------------------

PROGRAM = "input x = 1\ndef f(a) = a * a\nfor i in 1..3 { h[i] = f(x) + i }\ns = sum(h[i] for i in 1..3)\n"


def stored(cache_dir: Path, tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A program, its cache file (written by a miss) and the file's bytes."""
    path = tmp_path / "p.cg"
    path.write_text(PROGRAM)
    load(path, cache=True)
    (entry,) = graph_files(cache_dir)
    return path, entry, entry.read_bytes()


def rebuilt(data: bytes, head_edit=None, payload_edit=None) -> bytes:
    """The file with its JSON and payload edited, and a checksum that fits again: what a
    hostile file looks like (the checksum catches accidents, not intent)."""
    magic = cache_file.MAGIC
    version, jlen, plen = struct.unpack_from("<IIQ", data, len(magic))
    body = data[cache_file.HEADER_SIZE:]
    head, payload = json.loads(body[:jlen]), bytearray(body[jlen:])
    if head_edit:
        head = head_edit(head)
    if payload_edit:
        payload_edit(head, payload)
    text = json.dumps(head).encode()
    import hashlib

    digest = hashlib.sha256(text + bytes(payload)).digest()
    return magic + struct.pack("<IIQ", version, len(text), len(payload)) + digest + text + bytes(payload)


def column_span(head: dict, name: str) -> tuple[int, int, str]:
    offset = 0
    for column, code, count in head["columns"]:
        size = array(code).itemsize * count
        if column == name:
            return offset, count, code
        offset += size
    raise KeyError(name)


def set_item(name: str, index: int, value: int):
    def edit(head: dict, payload: bytearray) -> None:
        offset, count, code = column_span(head, name)
        values = array(code)
        values.frombytes(bytes(payload[offset : offset + count * values.itemsize]))
        values[index] = value
        payload[offset : offset + count * values.itemsize] = values.tobytes()

    return edit


def edit_head(**changes):
    return lambda head: {**head, **changes}


def lying_count(head: dict) -> dict:
    columns = [list(c) for c in head["columns"]]
    columns[0][2] = 10**15  # a huge declared size
    return {**head, "columns": columns}


BAD = {
    "empty": lambda d: b"",
    "magic only": lambda d: d[:8],
    "truncated in the header": lambda d: d[:20],
    "truncated in the JSON": lambda d: d[: cache_file.HEADER_SIZE + 10],
    "truncated in the payload": lambda d: d[:-7],
    "one byte more": lambda d: d + b"\0",
    "wrong magic": lambda d: b"NOTCGRPH" + d[8:],
    "wrong version": lambda d: d[:8] + struct.pack("<I", 999) + d[12:],
    "flipped byte in the JSON": lambda d: d[:100] + bytes([d[100] ^ 0x01]) + d[101:],
    "flipped byte in the payload": lambda d: d[:-20] + bytes([d[-20] ^ 0x40]) + d[-19:],
    "lengths lying": lambda d: d[:12] + struct.pack("<I", struct.unpack_from("<I", d, 12)[0] + 4) + d[16:],
    "JSON not an object": lambda d: rebuilt(d, head_edit=lambda h: [h]),
    "JSON of another key": lambda d: rebuilt(d, head_edit=edit_head(key="0" * 64)),
    "huge declared size": lambda d: rebuilt(d, head_edit=lying_count),
    "nodes past max-nodes": lambda d: rebuilt(d, head_edit=edit_head(nodes=10**12)),
    "another text length": lambda d: rebuilt(d, head_edit=edit_head(text_length=3)),
    "unknown op name": lambda d: rebuilt(d, head_edit=lambda h: {**h, "op_names": ["__import__"] + h["op_names"][1:]}),
    "op code out of range": lambda d: rebuilt(d, payload_edit=set_item("ops", 5, 200)),
    "argument pointing forward": lambda d: rebuilt(d, payload_edit=set_item("first", 3, 10)),
    "argument out of range": lambda d: rebuilt(d, payload_edit=set_item("second", 4, 10**6)),
    "argument negative": lambda d: rebuilt(d, payload_edit=set_item("second", 4, -9)),
    "a leaf given an argument": lambda d: rebuilt(d, payload_edit=set_item("first", 0, 0)),
    "tag id out of range": lambda d: rebuilt(d, payload_edit=set_item("tag_ids", 2, 10**6)),
    "position past the text": lambda d: rebuilt(d, payload_edit=set_item("positions", 4, 10**6)),
    "name node out of range": lambda d: rebuilt(d, payload_edit=set_item("name_nodes", 0, 10**6)),
    "name with a control character": lambda d: rebuilt(d, payload_edit=lambda h, p: p.__setitem__(
        slice(column_span(h, "name_keys")[0], column_span(h, "name_keys")[0] + 1), b"\x1b")),
    "tag of a strange kind": lambda d: rebuilt(d, head_edit=lambda h: {
        **h, "tag_sets": [[]] + [[["eval", "f", 1, 1]] for _ in h["tag_sets"][1:]]}),
    "output out of range": lambda d: rebuilt(d, head_edit=edit_head(outputs=[10**6])),
    "leaves that are not the inputs": lambda d: rebuilt(d, head_edit=edit_head(leaves=[])),
    "a float where an int goes": lambda d: rebuilt(d, head_edit=edit_head(outputs=[1.5])),
    "not JSON": lambda d: d[: cache_file.HEADER_SIZE] + b"{" * (len(d) - cache_file.HEADER_SIZE),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_cache_file_is_ignored_and_replaced(cache_dir, tmp_path, kind):
    path, entry, good = stored(cache_dir, tmp_path)
    bad = BAD[kind](good)
    assert bad != good
    key = entry.name.removeprefix("graph-")
    assert cache_file.decode(bad, key, Source(PROGRAM, str(path)), 10**7) is None
    entry.write_bytes(bad)
    same_graph(load(path, cache=True), load(path))  # parsed again...
    assert entry.read_bytes() == good  # ...and the file replaced by a good one


@pytest.mark.parametrize("cut", [0, 1, 8, 23, cache_file.HEADER_SIZE, cache_file.HEADER_SIZE + 1, -100, -9, -1])
def test_truncated_anywhere_is_refused(cache_dir, tmp_path, cut):
    path, entry, good = stored(cache_dir, tmp_path)
    key = entry.name.removeprefix("graph-")
    assert cache_file.decode(good[:cut], key, Source(PROGRAM, str(path)), 10**7) is None


def test_every_flipped_byte_is_refused(cache_dir, tmp_path):
    path, entry, good = stored(cache_dir, tmp_path)
    key = entry.name.removeprefix("graph-")
    source = Source(PROGRAM, str(path))
    for i in range(0, len(good), max(1, len(good) // 300)):
        bad = good[:i] + bytes([good[i] ^ 0x10]) + good[i + 1 :]
        assert cache_file.decode(bad, key, source, 10**7) is None, i


def test_a_symbolic_link_is_not_followed_and_is_replaced(cache_dir, tmp_path):
    path, entry, good = stored(cache_dir, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(good)  # even a good file: the cache reads only its own files
    entry.unlink()
    entry.symlink_to(elsewhere)
    same_graph(load(path, cache=True), load(path))
    assert not entry.is_symlink() and entry.read_bytes() == good
    assert elsewhere.read_bytes() == good  # the link's target untouched


def test_a_directory_in_place_of_the_file_is_replaced(cache_dir, tmp_path):
    path, entry, good = stored(cache_dir, tmp_path)
    entry.unlink()
    entry.mkdir()
    (entry / "inside").write_text("x")
    same_graph(load(path, cache=True), load(path))
    assert entry.is_file() and entry.read_bytes() == good


def test_a_writer_that_fails_costs_nothing_but_the_cache(cg, cache_dir, tmp_path, monkeypatch):
    def broken(graph, key):
        raise ValueError("a bug")

    monkeypatch.setattr(cache_file, "encode_chunks", broken)
    path = tmp_path / "p.cg"
    path.write_text("y = x * 2\n")
    assert cg("eval", path, "--x", "1") == cg("eval", path, "--x", "1", "--no-cache")
    assert graph_files(cache_dir) == []
    monkeypatch.setenv("CGRAPH_DEBUG", "1")  # but a developer sees it
    with pytest.raises(ValueError):
        load(path, cache=True)


def test_a_file_the_format_cannot_hold_is_not_stored(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_file, "encode_chunks", lambda graph, key: None)
    path = tmp_path / "p.cg"
    path.write_text("y = x\n")
    load(path, cache=True)
    assert graph_files(cache_dir) == []


# --- pruning -------------------------------------------------------------------------


def test_pruning_keeps_the_newest_under_the_bound(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CGRAPH_CACHE_MB", "0.02")  # 20 kB: a few graphs of ~3 kB
    paths = []
    for i in range(30):
        path = tmp_path / f"p{i}.cg"
        path.write_text("".join(f"a{j} = tanh(x{j}) * {i}\n" for j in range(20)))
        paths.append(path)
    for path in paths[:10]:
        load(path, cache=True)
    first = graph_files(cache_dir)
    past = time.time() - 1000
    for k, entry in enumerate(first):  # an order of last use that is not the order of names
        os.utime(entry, (past + k, past + k))
    load(paths[0], cache=True)  # a hit: touched, now the most recently used
    for path in paths[10:]:
        load(path, cache=True)
    kept = graph_files(cache_dir)
    total = sum(f.stat().st_size for f in cache_dir.iterdir() if f.is_file())
    assert total <= 20_000 or len(kept) == 1
    newest = graph_files_for(cache_dir, paths[-1])
    assert newest in kept and len(kept) < 30


def graph_files_for(cache_dir: Path, path: Path) -> Path:
    key = graph_cache.key(path.read_bytes(), 10_000_000, 0)
    return cache_dir / f"graph-{key}"


def test_a_hit_touches_its_file(cache_dir, tmp_path):
    path, entry, _ = stored(cache_dir, tmp_path)
    os.utime(entry, (1000, 1000))
    load(path, cache=True)
    assert entry.stat().st_mtime > 1000


def test_old_parser_tables_are_pruned_but_not_the_current_ones(cache_dir, tmp_path, monkeypatch):
    import zlib

    import cgraph
    from cgraph.frontend.parser import grammar_text

    stored(cache_dir, tmp_path)
    # The parser's table files of this version and grammar, as cgraph.frontend.parser names them.
    stamp = f"{cgraph.__version__}-{zlib.crc32(grammar_text().encode()):08x}"
    current = [cache_dir / f"tables3-{stamp}.json"]
    for p in current:
        p.write_bytes(b"t" * 1000)
    old = cache_dir / "tables3-0.0.1-deadbeef.json"
    old.write_bytes(b"x" * 50_000)
    os.utime(old, (1000, 1000))
    for p in current:
        os.utime(p, (1000, 1000))
    stale_temp = cache_dir / ".graph-0123.1.ab.tmp"
    stale_temp.write_bytes(b"half")
    os.utime(stale_temp, (1000, 1000))
    graph_cache.prune(1)
    assert not old.exists() and not stale_temp.exists()
    assert all(p.exists() for p in current)


def test_other_files_in_the_directory_are_left_alone(cache_dir, tmp_path):
    stored(cache_dir, tmp_path)
    mine = cache_dir / "notes.txt"
    mine.write_text("keep me")
    graph_cache.prune(0)
    assert mine.read_text() == "keep me"


# --- processes sharing the directory -------------------------------------------------


def test_processes_sharing_the_cache_agree(tmp_path):
    """Eight processes at once on one file and one cache directory: every one answers the
    same as a parse, and what is left in the directory is one good file."""
    path = tmp_path / "p.cg"
    path.write_text("".join(f"a{j} = tanh(x * {j}) + a{j - 1}\n" if j else "a0 = x\n" for j in range(2000)))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1"}
    env.pop("CGRAPH_NO_CACHE", None)
    argv = [sys.executable, "-c", "import sys; from cgraph.cli import main; main(sys.argv[1:])", "eval", str(path), "--x", "0.5", "--format", "json"]
    expected = subprocess.run([*argv, "--no-cache"], env=env, capture_output=True, check=True).stdout
    for _ in range(2):  # the first round races to write, the second reads
        runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE) for _ in range(8)]
        outs = [run.communicate(timeout=120)[0] for run in runs]
        assert all(run.returncode == 0 for run in runs)
        assert all(out == expected for out in outs)
    cache = tmp_path / "xdg" / "cgraph"
    (entry,) = graph_files(cache)
    assert not list(cache.glob(".*.tmp"))
    key = entry.name.removeprefix("graph-")
    graph = cache_file.decode(entry.read_bytes(), key, Source(path.read_text(), str(path)), 10_000_000)
    assert graph is not None
    same_graph(graph, parse(path.read_text(), str(path)))


# --- hostile but well-formed files ---------------------------------------------------

from hypothesis import given, strategies as st  # noqa: E402

HOSTILE_COLUMNS = ["ops", "first", "second", "tag_ids", "positions", "more_nodes", "more_lengths", "more_args",
                   "value_nodes", "name_nodes", "node_name_keys", "node_name_ids"]


@given(column=st.sampled_from(HOSTILE_COLUMNS), where=st.integers(0, 10**6),
       value=st.one_of(st.integers(-4, 40), st.sampled_from([2**31 - 1, -2**31, 2**40])))
def test_an_edited_column_is_refused_or_gives_a_graph_that_works(column, where, value):
    """Any one number of any column changed, with the checksum made to fit: the reader
    refuses the file, or what it accepts is a graph every pass can run (an error of
    cgraph's own at worst, never a crash)."""
    graph = parse(PROGRAM, "p.cg")
    good = cache_file.encode(graph, "k")
    head = json.loads(good[cache_file.HEADER_SIZE : cache_file.HEADER_SIZE + struct.unpack_from("<I", good, 12)[0]])
    count = column_span(head, column)[1]
    if count == 0:
        return
    _, _, code = column_span(head, column)
    if code == "B" and not 0 <= value < 256 or code == "i" and not -2**31 <= value < 2**31:
        return
    bad = rebuilt(good, payload_edit=set_item(column, where % count, value))
    refused_or_works(bad, graph)


def refused_or_works(bad: bytes, graph) -> None:
    """`bad` (an edited cache file of `graph`) is refused, or its graph evaluates, draws and
    differentiates (a cgraph error at most, never a crash)."""
    import cgraph
    import cgraph.render

    loaded = cache_file.decode(bad, "k", Source(graph.source.text, "p.cg"), 10**7)
    if loaded is None:
        return
    try:
        result = cgraph.evaluate(loaded, {})
        cgraph.render.diagram(loaded, result).source
        cgraph.grad(loaded)
    except cgraph.CgraphError:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=False) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8)


@given(field=st.sampled_from(["nodes", "text_length", "op_names", "tag_sets", "values_all", "name_count",
                              "node_name_count", "node_name_ids", "id_type", "late_names", "more_names", "leaves",
                              "outputs", "output_names", "columns", "byteorder"]),
       where=st.none() | st.integers(0, 50), value=JSON)
def test_an_edited_json_field_is_refused_or_gives_a_graph_that_works(field, where, value):
    """The JSON's fields likewise: a whole field, or one item of a list, replaced by any
    JSON value, is refused or gives a graph that works."""
    graph = parse(PROGRAM, "p.cg")
    good = cache_file.encode(graph, "k")

    def edit(head: dict) -> dict:
        old = head[field]
        if where is not None and isinstance(old, list) and old:
            new = list(old)
            new[where % len(old)] = value
            return {**head, field: new}
        return {**head, field: value}

    refused_or_works(rebuilt(good, head_edit=edit), graph)


def test_nothing_in_the_cache_directory_is_a_pickle(cache_dir, tmp_path):
    """Lark's own cache is a pickle (code when read): cgraph never writes or reads one, even
    on the paths that build Lark's parser (a syntax error's message)."""
    import cgraph

    bad = tmp_path / "bad.cg"
    bad.write_text("p = x +\n")
    with pytest.raises(cgraph.CgraphError):
        load(str(bad), cache=True)
    stored(cache_dir, tmp_path)
    for entry in cache_dir.iterdir():
        assert not entry.name.startswith("parser-"), entry
        assert not entry.read_bytes().startswith(b"\x80"), entry  # pickle protocol 2+


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e999", "20MB"])
def test_a_bound_that_is_not_a_number_of_megabytes_is_a_usage_error(cg, monkeypatch, tmp_path, value):
    path = tmp_path / "double.cg"
    path.write_text("y = 2*x\n")
    monkeypatch.setenv("CGRAPH_CACHE_MB", value)
    result = cg("eval", path, "--x", "3")
    assert result.code == 2, result.out
    assert f"CGRAPH_CACHE_MB must be a number of megabytes (0 turns the cache off), not {value!r}" in result.err
    assert "Traceback" not in result.err
    # --no-cache reads no bound: the command runs
    assert cg("eval", path, "--x", "3", "--no-cache").code == 0


@pytest.mark.parametrize("value", ["", "0", "0.5", "1e3", " 7 "])
def test_a_bound_of_megabytes_is_taken(cg, monkeypatch, tmp_path, value):
    path = tmp_path / "double.cg"
    path.write_text("y = 2*x\n")
    monkeypatch.setenv("CGRAPH_CACHE_MB", value)
    assert cg("eval", path, "--x", "3").code == 0
