"""Whole statements read at once (frontend/shapes.py) and built straight onto the
tape (frontend/direct.py), against the reference path: Lark's own parser, the syntax
tree and the builder (`build(parse_syntax_lark(...))`).

`cgraph.parse` takes the shortcut only for a statement whose shape it has seen before
in the same state, so every text here is also compared repeated: a program's lines
again with new names, and each fuzzer seed several times over. On every text the two
paths must give the same graph (the same nodes, arguments, values, names, tags,
positions, outputs) or the same error (the same message at the same place).
"""

from __future__ import annotations

import random
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cgraph
from cgraph.errors import CgraphError, Source
from cgraph.frontend import direct, lalr, parser, shapes
from cgraph.frontend.builder import build
from support.paths import ROOT
from support.programs import FREE, Scope, expression, programs
from test_parser_loop import assert_agree

sys.path.insert(0, str(ROOT / "bench"))
try:
    import bench_core
finally:
    sys.path.remove(str(ROOT / "bench"))


def signature(graph) -> tuple:
    nodes = tuple((n.op, n.args, n.value, n.names, n.tags) for n in graph)
    return (nodes, tuple(graph.positions), tuple(graph.names.items()), graph.leaves, graph.outputs, graph.output_names)


def reference(text: str, max_nodes: int) -> tuple:
    source = Source(text.replace("\r\n", "\n"), "t.cg")
    try:
        return "ok", signature(build(parser.parse_syntax_lark(source), source, max_nodes))
    except CgraphError as exc:
        return "error", str(exc)


def fast(text: str, max_nodes: int) -> tuple:
    try:
        return "ok", signature(cgraph.parse(text, "t.cg", max_nodes=max_nodes))
    except CgraphError as exc:
        return "error", str(exc)


def assert_same(text: str, max_nodes: int = 100_000) -> str:
    mine, theirs = fast(text, max_nodes), reference(text, max_nodes)
    assert mine == theirs, text
    return mine[0]


def renamed(text: str, suffix: str) -> str:
    """The text with every assigned name given a suffix: the same shapes, new names."""
    return re.sub(r"\b(v\d+)\b", rf"\1{suffix}", text)


# --- generated programs ---------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(programs())
def test_generated_programs_build_the_same_graph(text):
    assert_same(text)
    # Twice over (the second time with new names): every shape is known the second time.
    assert_same(text.rstrip("\r\n;") + "\n" + renamed(text, "r"))


@st.composite
def repetitive(draw) -> str:
    """Lines of a few shapes over and over, as in a generated model: `vK = <expression>`
    with the expression drawn once per shape, its names those of earlier lines, and now
    and then a line that goes wrong (a keyword, an unknown or misused function, a name
    defined twice or used before its definition) or does not parse."""
    scope = Scope(list(FREE[: draw(st.integers(1, len(FREE)))]))
    pool = [expression(draw, scope, draw(st.integers(0, 2))) for _ in range(draw(st.integers(1, 3)))]
    oddities = ["v{k} = for * 2", "v{k} = tanh(a, b)", "v{k} = nosuch(a)", "v{k} = a @ b", "v{k} = v{j} +",
                "v{j} = a * b", "v{k} = later{k} * 2\nlater{k} = a", "v{k} = 3", "v{k} = -2 * a", "v{k} = (a)",
                "v{k} = a ** 2", "v{k} = tanh", "in = a * 2", "v{k} = a * 2 # note", "v{k} = a \\\n * 2",
                "v{k} = 2 * tanh(a)", "v{k} = max(a, b, 3)", "v{k} = a;v{k}b = a", "   v{k} = a\t*\tb  ",
                "v{k} = 1e400 * a", "v{k} = a[1] * 2", "output v{j}", "v{k} = sum(a for i in 1..2)"]
    lines = []
    for k in range(draw(st.integers(1, 30))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(oddities)).format(k=k, j=max(k - 1, 0)))
        else:
            lines.append(f"v{k} = " + draw(st.sampled_from(pool)))
    ending = draw(st.sampled_from(["\n", "", "\n\n", "\nv9999 = (\n", "\nout = v0 + 1\n", "\nv0 * 2\n"]))
    return "\n".join(lines) + ending


@settings(max_examples=300, deadline=None)
@given(repetitive())
def test_repeated_shapes_build_the_same_graph(text):
    assert_same(text)


@settings(max_examples=100, deadline=None)
@given(repetitive())
def test_repeated_shapes_parse_to_lark_s_tree(text):
    # Without a sink (the whole syntax tree returned), replayed statements are kept as the
    # loop keeps them: the tree is Lark's.
    assert_agree(text)


# --- the fuzzer's corpus, the benchmark's files -------------------------------------------


def fuzz_seeds() -> list[str]:
    sys.path.insert(0, str(ROOT / "fuzz"))
    try:
        import fuzz_cgraph
    finally:
        sys.path.remove(str(ROOT / "fuzz"))
    texts = []
    for data in fuzz_cgraph.seeds():
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return texts


def test_the_fuzzers_corpus_builds_the_same_graph():
    verdicts = {"ok": 0, "error": 0}
    for text in fuzz_seeds():
        text = text.replace("\r\n", "\n")
        verdicts[assert_same(text)] += 1
        # The same text twice over: its shapes are known the second time.
        body = text if text.endswith("\n") else text + "\n"
        assert_same(body * 2)
    assert verdicts["ok"] > 100 and verdicts["error"] > 100, verdicts


@pytest.mark.parametrize("shape", bench_core.SHAPES)
def test_the_benchmarks_files_build_the_same_graph(shape):
    text = bench_core.generate(shape, 3000).text
    assert assert_same(text) == "ok"
    # ... and past the limit of nodes, the same error at the same node.
    assert assert_same(text, max_nodes=1500) == "error"


def test_an_error_after_many_statements_is_in_the_same_place():
    rng = random.Random(7)
    lines = ["v0 = a * b"] + [f"v{k} = tanh(v{k - 1} * {rng.choice('ab')} + v{rng.randrange(k)})" for k in range(1, 500)]
    for broken in ("v500 = v499 +", "v500 = v4 v3", "v500 = 2x", "v20 = v1 * 2", "v500 = for * 2", "v500 = nosuch(v1)",
                   "v500 = tanh(v1, v2)", "v500 = w9 * 2\nw9 = v1"):
        for at in (3, 250, 500):
            assert assert_same("\n".join(lines[:at] + [broken] + lines[at:]) + "\n") == "error"


# --- that the shortcut is taken ---------------------------------------------------------


def test_most_statements_of_a_long_file_go_straight_onto_the_tape(monkeypatch):
    built, offered = [0], [0]
    real = direct.Direct.build

    def counting(self, *args):
        offered[0] += 1
        done = real(self, *args)
        built[0] += done
        return done

    monkeypatch.setattr(direct.Direct, "build", counting)
    text = bench_core.generate("dag", 3000).text
    cgraph.parse(text)
    statements = text.count("\n") - 1
    assert built[0] > 0.95 * statements and offered[0] <= statements


def test_a_syntax_error_after_shortcut_statements_is_described_from_its_own_statement(lark_parses):
    text = "".join(f"x{i} = x{i - 1} * 2\n" for i in range(1, 2000)) + "z = x1 +\n"
    with pytest.raises(CgraphError) as info:
        cgraph.parse(text, "big.cg")
    assert str(info.value).startswith("big.cg:2000:9: error: unexpected end of line; expected")
    assert lark_parses == ["z = x1 +\n"]  # Lark parses only the statement with the error


def test_scripts_are_the_tables_reductions():
    # The script of `y = a * b` in the first state: the callbacks Lark's tables reduce by,
    # in order, each with the registers (tokens 0..4, then earlier steps) it receives.
    tables = parser._tables()
    kinds = ("NAME", "EQUAL", "NAME", "MULOP", "NAME")
    script = shapes.compile_statement(tables, tables.start, kinds, "_NL", "top")
    assert script is not None
    assert script.steps == [("ref", (0,)), ("ref", (2,)), ("ref", (4,)), ("binary", (6, 3, 7)), ("assign", (5, 8)),
                            ("top", (9,))]
    # Not a statement on its own: no script (the loop parses it token by token).
    assert shapes.compile_statement(tables, tables.start, kinds[:4], "_NL", "top") is None
    assert shapes.compile_statement(tables, tables.start, (*kinds, "SEMICOLON", *kinds), "_NL", "top") is None


def test_a_shapes_regex_reads_tokens_as_the_lexer_does():
    tables = parser._tables()
    kinds = ("NAME", "EQUAL", "NAME", "POWOP", "NUMBER")
    script = shapes.compile_statement(tables, tables.start, kinds, "_NL", "top")
    assert script is not None
    shape = shapes.Shape(tables, kinds, script)
    shape.make_pattern(shapes._Lexicon(tables), "_NL")
    shape.place(0)
    regex = re.compile(shape.pattern)
    for text, reads in [("y = x ** 2\n", True), ("y = x ^ 2.5e3 # c\n", True), ("y=x**1.\n", True),
                        ("y = x * 2\n", False), ("y = x ** 1..2\n", False), ("y = x ** 2 3\n", False),
                        ("y = x ** 2;\n", False), ("y = x ** 2", False)]:
        m = regex.match(text)
        assert (m is not None) == reads, text
        if m is not None:
            lexed = [t for t in tables.lexer.finditer(text) if t.lastgroup != "_NL" and t.lastgroup != lalr.END]
            assert [text[a:b] for a, b in shape.spans(m.regs)] == [t.group(t.lastgroup) for t in lexed]


@pytest.mark.parametrize("regex, first", [
    ("for", {"f"}), ("[a-c]x", {"a", "b", "c"}), ("a?b", {"a", "b"}), (r"(?:\*\*|\^)", {"*", "^"}),
    (r"([0-9]+(\.(?!\.)[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", set("0123456789.")),
    # Not simply known: any character, a category, a pattern that matches nothing, a case-blind one.
    (r"\w+", None), ("a*", None), (".x", None), ("[^a]", None), ("(?i:for)", None), ("(?i)for", None),
])
def test_first_characters_are_a_superset_or_unknown(regex, first):
    # A shape's regex leaves out the lexer's earlier alternatives that cannot start where a
    # token starts: only sound if these sets never miss a character.
    found = shapes._first_chars(regex)
    assert (None if found is None else set(found)) == first


def test_many_shapes_and_long_lines_build_the_same_graph():
    # More shapes than a state's regex holds, lines past the token limit, a line long
    # enough not to be lexed on its own, and a keyword at the end of a long line.
    lines = ["v0 = a * b"] + [f"v{k} = v{k - 1}" + " + a" * (k % 40) for k in range(1, 200)]
    lines += ["v200 = v199" + " * b" * 300, "v201 = v200 + (a" + " + a" * 60 + ")", "v202 = v201" + " + a" * 30 + " in"]
    assert assert_same("\n".join(lines[:-1]) + "\n") == "ok"
    assert assert_same("\n".join(lines) + "\n") == "error"
