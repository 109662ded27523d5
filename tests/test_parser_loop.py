"""cgraph's own LALR loop (cgraph/lalr.py) against Lark's (parser.parse_syntax_lark).

Both run the tables Lark computes from grammar/cgraph.lark, so on every text they must
agree: the same syntax tree, or both refuse it at the same place. The texts: the
samples, the fuzzer's seeds, generated programs, token soup and arbitrary text. Then the table cache: where it
lives, what happens when it is corrupt or cannot be written, and that a warm start does
not import Lark at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cgraph.frontend import lalr, parser
from cgraph.frontend import syntax as ast
from cgraph.errors import ParseError, Source
from support.programs import TOKENS, programs, token_soup

from support.paths import ROOT


def outcome(parse, text: str):
    try:
        return "ok", ast.flatten(parse(Source(text, "t.cg")))
    except ParseError as exc:
        return "error", str(exc)


def _expected(message: str) -> tuple[str, set[str]]:
    """An error message without its list of what was expected, and that list."""
    first, _, rest = message.partition("\n")
    head, _, listed = first.partition("; expected ")
    items = set(re.split(r", | or ", listed)) if listed else set()
    return head + "\n" + rest, items


def assert_agree(text: str) -> str:
    mine, larks = outcome(parser.parse_syntax, text), outcome(parser.parse_syntax_lark, text)
    if mine[0] == larks[0] == "error" and mine != larks:
        # The same error at the same place. Lark, parsing from the start of the file, may
        # list more: its LALR states merge contexts, so after `a = 1` at the top level it
        # also expects '}'. cgraph asks Lark about the text after the last complete
        # statement, where the list is exact.
        (head, listed), (lark_head, lark_listed) = _expected(mine[1]), _expected(larks[1])
        assert head == lark_head and listed and listed <= lark_listed, text
        return "error"
    assert mine == larks, text
    return mine[0]


def test_the_samples_parse_to_the_same_tree():
    files = sorted((ROOT / "samples").glob("*.cg"))
    assert len(files) >= 5
    for path in files:
        assert assert_agree(path.read_text(encoding="utf-8")) == "ok", path


def test_the_fuzzers_seeds_agree():
    # The samples, the fuzz regressions and every string in the tests (fuzz/fuzz_cgraph.py
    # seeds(): what is checked in, so the same texts on every machine).
    sys.path.insert(0, str(ROOT / "fuzz"))
    try:
        import fuzz_cgraph
    finally:
        sys.path.remove(str(ROOT / "fuzz"))
    verdicts = {"ok": 0, "error": 0}
    for data in fuzz_cgraph.seeds():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        verdicts[assert_agree(text.replace("\r\n", "\n"))] += 1
    assert verdicts["ok"] > 100 and verdicts["error"] > 100, verdicts  # both kinds compared


@given(programs())
def test_generated_programs_agree(text):
    assert assert_agree(text.replace("\r\n", "\n")) == "ok"


@given(token_soup)
def test_token_soup_agrees(text):
    assert_agree(text)


@given(st.lists(st.sampled_from(TOKENS + ["in", "for", "output", "(", ")", "\n"]), max_size=25).map("".join))
def test_glued_tokens_agree(text):
    # Without spaces, tokens run into each other: `**` or `* *`, `1..2`, `x1`, `forx`.
    assert_agree(text)


@given(st.text(max_size=80))
def test_any_text_agrees(text):
    assert_agree(text)


@pytest.mark.parametrize("text", [
    "y = in * 2",                   # a keyword is a name where the keyword cannot stand
    "z = for + def + param\n",
    "in = 3",
    "input = 3",                    # ... and a keyword where it can: an error
    "output output",
    "def f(in, for) = in * for\ny = f(1, 2)",
    "for i in 1..2 { for = i }",
    "for t in1..3 { y = t }",         # where only `in` can follow, `in1` is `in` then `1`
    "for t in1..3{for s in1..2{}}",
    "for t inx..3 { y = t }",
    "x = 2**3**2; y = x ** -1",
    "y = 1...5",
    "s = sum(w[i]*x[i] for i in 1..3)",
    "y = (x\n + 1)\nz = y",         # a newline inside brackets continues the line
    "y = x +\n 1",                  # ... outside them it ends the statement
    "y = x + \\\n 1  # a comment",
    "w[1][2] = 3; v = w[1, 2]",
    "",
    "\n\n;;\n",
    "# only a comment",
    "y = ((((x))))",
    "y = )",
])
def test_edge_cases_agree(text):
    assert_agree(text)


def test_an_error_is_larks_description_located():
    with pytest.raises(ParseError) as info:
        parser.parse_syntax(Source("y = x +\n", "t.cg"))
    assert str(info.value).startswith("t.cg:1:8: error: unexpected end of line; expected '(',")
    assert str(info.value).endswith("^")  # the caret under the spot


def test_an_error_after_many_statements_is_found_without_parsing_them_again(lark_parses):
    text = "x0 = 1\n" + "".join(f"x{i} = x{i - 1} * 2; y{i} = x{i}\n" for i in range(1, 2000)) + "z = x1 +\n"
    with pytest.raises(ParseError) as info:
        parser.parse_syntax(Source(text, "big.cg"))
    assert str(info.value).startswith("big.cg:2001:9: error: unexpected end of line; expected")
    assert lark_parses == ["z = x1 +\n"]  # only the statement with the error


def test_an_error_after_a_semicolon_keeps_its_column():
    with pytest.raises(ParseError) as info:
        parser.parse_syntax(Source("a = 1\nb = 2; c = (b\n", "t.cg"))
    # every token that could follow `(b`, not only what is left once `b` is reduced
    assert str(info.value).startswith("t.cg:2:14: error: unexpected end of file; expected '(', ')', '*' or '/', ")
    with pytest.raises(ParseError) as info:
        parser.parse_syntax(Source("a = 1\nb = 2; c = $b\n", "t.cg"))
    assert str(info.value).startswith("t.cg:2:12: error: unexpected character '$'")
    assert str(info.value).endswith("  2 | b = 2; c = $b\n    |            ^")


def test_a_disagreement_would_be_an_internal_error_not_a_parse_error(monkeypatch):
    # If the loop ever refused what Lark accepts, the user must not get a bogus syntax error.
    def refuse(*args):
        raise lalr.Rejected(0)

    monkeypatch.setattr(lalr, "run", refuse)
    with pytest.raises(AssertionError, match="Lark parses"):
        parser.parse_syntax(Source("y = 1", "t.cg"))


# --- the table cache --------------------------------------------------------------------


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser._tables.cache_clear()
    parser._reducers.cache_clear()
    yield tmp_path / "cgraph"
    parser._tables.cache_clear()
    parser._reducers.cache_clear()


def _table_files(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"tables{lalr.FORMAT}-*.json"))


def test_tables_are_cached_under_the_grammars_digest(fresh_cache):
    assert assert_agree("y = x * 2") == "ok"
    files = _table_files(fresh_cache)
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["format"] == lalr.FORMAT
    import zlib

    assert f"-{zlib.crc32(parser.grammar_text().encode()):08x}.json" in files[0].name


def test_a_corrupt_cache_file_is_rebuilt(fresh_cache):
    parser._tables()
    (path,) = _table_files(fresh_cache)
    for garbage in ("", "{not json", '{"format": 999}', '{"format": 1}', "[]"):
        path.write_text(garbage)
        parser._tables.cache_clear()
        parser._reducers.cache_clear()
        assert assert_agree("y = tanh(x) + 1") == "ok", garbage
        assert json.loads(path.read_text())["format"] == lalr.FORMAT  # written again


def test_an_unwritable_cache_still_parses(fresh_cache, monkeypatch):
    fresh_cache.parent.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh_cache.parent / "not-a-dir"))
    (fresh_cache.parent / "not-a-dir").write_text("a file where the cache directory would be")
    assert assert_agree("y = x + 1") == "ok"


def test_a_warm_start_does_not_import_lark(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = "import sys, cgraph; g = cgraph.parse('y = x * 2'); print(len(g), 'lark' in sys.modules)"
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.split() == ["3", "True"]  # the first run asks Lark for the tables
    assert warm.stdout.split() == ["3", "False"]


def test_a_syntax_error_still_gets_larks_message_on_a_warm_start(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "NO_COLOR": "1"}
    cmd = [str(Path(sys.executable).parent / "cgraph"), "eval", "-e", "y = (x + 1"]
    subprocess.run(cmd, env=env, capture_output=True, text=True)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert second.returncode == 1
    assert "expected" in second.stderr and "Traceback" not in second.stderr
