"""Every error path, with its location: the exception class, `.location` (line, column),
and the rendering

    file:line:col: error: message
      N | the source line
        |     ^^^
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pytest

import cgraph


# --- helpers -------------------------------------------------------------------------


def parse_error(source: str, kind: type[cgraph.CgraphError] = cgraph.CgraphError, **options) -> cgraph.CgraphError:
    with pytest.raises(kind) as info:
        cgraph.parse(source, **options)
    return info.value


def evaluate_error(source: str, inputs, kind=cgraph.InputError, **options) -> cgraph.CgraphError:
    graph = cgraph.parse(source)
    with pytest.raises(kind) as info:
        cgraph.evaluate(graph, inputs, **options)
    return info.value


def assert_located(err: cgraph.CgraphError, line: int, column: int, filename: str = "<expr>") -> None:
    """`err` points at line:column, and str(err) shows it with the source line and a caret."""
    assert err.location is not None, f"no location on {type(err).__name__}: {err}"
    assert (err.location.line, err.location.column) == (line, column), str(err)
    rendered = str(err).splitlines()
    assert rendered[0].startswith(f"{filename}:{line}:{column}: error: "), rendered[0]
    gutter = f"  {line} | "
    assert rendered[1].startswith(gutter), rendered
    caret = rendered[2]
    assert caret.startswith(" " * (len(str(line)) + 2) + " | "), rendered
    assert set(caret[len(gutter):].strip()) == {"^"}, rendered
    assert caret.index("^") - len(gutter) == column - 1, rendered


def assert_mentions(err: cgraph.CgraphError, *fragments: str) -> None:
    for fragment in fragments:
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    kind: type
    line: int
    column: int
    fragments: tuple[str, ...] = ()


CASES = [
    # syntax
    Case("unexpected token", "y = x + * 2", cgraph.ParseError, 1, 9, ("'*'",)),
    Case("unexpected token later", "a = 1\n\n# note\nb = a 2", cgraph.ParseError, 4, 7, ("'2'",)),
    Case("unexpected end of line", "y = x +\nz = 2", cgraph.ParseError, 1, 8, ("end of line",)),
    Case("unexpected close paren", "y = x + 1)", cgraph.ParseError, 1, 10, ("')'",)),
    Case("unclosed paren at end of file", "y = (x + 1", cgraph.ParseError, 1, 11, ("end of file", "')'")),
    Case("unclosed paren then more lines", "y = (x + 1\nz = 2", cgraph.ParseError, 2, 1, ("'z'", "')'")),
    Case("unclosed brace", "for i in 1..2 {\n  y[i] = i\n", cgraph.ParseError, 2, 11, ("end of file",)),
    Case("non-ASCII letter", "y = é + 1", cgraph.ParseError, 1, 5, ("'é'",)),
    Case("non-ASCII letter in a name", "abé = 1", cgraph.ParseError, 1, 3, ("'é'",)),
    Case("dollar", "y = x $ 1", cgraph.ParseError, 1, 7, ("'$'",)),
    Case("dollar on line 2", "a = 1\n  $b = a", cgraph.ParseError, 2, 3, ("'$'",)),
    # functions
    Case("unknown function", "p = x\ng = tanhh(p)", cgraph.BuildError, 2, 5, ("'tanhh'", "did you mean 'tanh'")),
    Case("unknown function close to a def", "def neuron(a) = a\ny = nueron(1)", cgraph.BuildError, 2, 5,
         ("'nueron'", "did you mean 'neuron'")),
    Case("builtin arity", "y = pow(x)", cgraph.BuildError, 1, 5, ("pow()", "2", "1")),
    Case("builtin arity too many", "a = 1\ny = 3 * max(1, 2, 3)", cgraph.BuildError, 2, 9, ("max()", "2", "3")),
    Case("unary arity", "y = tanh(x, z)", cgraph.BuildError, 1, 5, ("tanh()", "1", "2")),
    Case("variadic needs an argument", "y = sum()", cgraph.BuildError, 1, 5, ("sum()",)),
    Case("def arity", "def f(a, b) = a + b\n\ny = f(1)", cgraph.BuildError, 3, 5, ("f()", "2", "1")),
    Case("function used as a value", "y = exp + 1", cgraph.BuildError, 1, 5, ("'exp'",)),
    # names
    Case("redefinition", "p = 1\np = 2", cgraph.BuildError, 2, 1, ("'p'", "line 1")),
    Case("redefinition far apart", "p = x\nq = p\n\n\nr = q\np = 2", cgraph.BuildError, 6, 1, ("'p'", "line 1")),
    Case("input redeclared as param", "input x = 1\nparam x = 2", cgraph.BuildError, 2, 7, ("'x'", "line 1")),
    Case("assigned then declared", "x = 3\ninput x = 2", cgraph.BuildError, 2, 7, ("'x'", "line 1")),
    Case("indexed redefinition in a loop", "y[2] = 1\nfor t in 1..3 { y[t] = t }", cgraph.BuildError, 2, 17,
         ("'y[2]'", "line 1")),
    Case("def redefinition", "def f(a) = a\ndef f(b) = b\ny = f(1)", cgraph.BuildError, 2, 5, ("'f'", "line 1")),
    Case("use before definition", "y = p + 1\np = 2", cgraph.BuildError, 2, 1, ("'p'", "line 1")),
    Case("use before definition, indexed", "y = q[2]\nfor t in 1..3 {\n  q[t] = t\n}", cgraph.BuildError, 3, 3,
         ("'q[2]'", "line 1")),
    Case("use before definition through a def", "def f(a) = a + p\ny = f(1)\np = 2", cgraph.BuildError, 3, 1,
         ("'p'", "line 1")),
    Case("unknown output", "y = 1\noutput q", cgraph.BuildError, 2, 8, ("'q'",)),
    # recursion
    Case("direct recursion", "def f(a) = f(a) + 1\ny = f(1)", cgraph.BuildError, 1, 12, ("recursion", "f")),
    Case("recursion in a def never called", "def f(a) = 1 + f(a)\ny = 2", cgraph.BuildError, 1, 16, ("recursion",)),
    # indices and loops
    Case("non-integer index", "y = x[1.5]", cgraph.BuildError, 1, 7, ("1.5", "integer")),
    Case("non-integer index arithmetic", "for t in 1..2 { y[t] = x[t*0.5] }", cgraph.BuildError, 1, 28, ("0.5",)),
    Case("division in an index", "for t in 1..2 { y[t] = x[t/2] }", cgraph.BuildError, 1, 27, ("t/2",)),
    Case("non-integer loop bound", "for t in 1..2.5 { y[t] = t }", cgraph.BuildError, 1, 13, ("2.5",)),
    Case("index is not a loop variable", "y = x[i]", cgraph.BuildError, 1, 7, ("'i'",)),
    Case("loop variable reused", "for i in 1..2 {\n  for i in 1..2 { y = 1 }\n}", cgraph.BuildError, 2, 7, ("'i'",)),
    Case("empty mean", "y = mean(x[i] for i in 2..1)", cgraph.BuildError, 1, 5, ("mean",)),
    Case("nothing to compute", "# only a comment\n", cgraph.BuildError, 1, 1, ("nothing",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_located_error(case: Case):
    err = parse_error(case.source, case.kind)
    assert_located(err, case.line, case.column)
    assert_mentions(err, *case.fragments)


def test_errors_are_cgraph_errors():
    for kind in (cgraph.ParseError, cgraph.BuildError, cgraph.GraphTooLarge, cgraph.InputError, cgraph.NumericError):
        assert issubclass(kind, cgraph.CgraphError)


def test_filename_is_used_in_the_message():
    err = parse_error("p = x\ng = tanhh(p)", filename="model.cg")
    assert str(err).startswith("model.cg:2:5: error: unknown function 'tanhh'")
    assert_located(err, 2, 5, filename="model.cg")


def test_caret_underlines_the_excerpt():
    err = parse_error("p = x\ng = tanhh(p)")
    rendered = str(err).splitlines()
    assert rendered[1] == "  2 | g = tanhh(p)"
    assert rendered[2] == "    |     ^^^^^"


def test_unknown_function_lists_known_functions():
    err = parse_error("y = frobnicate(x)", cgraph.BuildError)
    assert "'frobnicate'" in err.message
    assert "tanh" in str(err)  # the hint names what exists


def test_mutual_recursion_names_the_cycle():
    err = parse_error("def f(a) = g(a) * 2\ndef g(a) = f(a) + 1\ny = f(1)", cgraph.BuildError)
    assert_mentions(err, "recursion", "f", "g")
    assert (err.location.line, err.location.column) in {(1, 12), (2, 12)}  # one of the calls in the cycle
    assert_located(err, err.location.line, 12)


def test_three_way_recursion_names_the_cycle():
    source = "def f(a) = g(a)\ndef g(a) = h(a)\ndef h(a) = f(a)\ny = 1"
    err = parse_error(source, cgraph.BuildError)
    assert_mentions(err, "recursion", "f", "g", "h")
    assert err.location.line in (1, 2, 3) and err.location.column == 12


def test_redefinition_mentions_both_lines():
    err = parse_error("a = 1\nb = 2\na = 3", cgraph.BuildError)
    assert str(err).startswith("<expr>:3:1: error: ")
    assert "line 1" in err.message


# --- the loop cap ----------------------------------------------------------------------


def test_loop_cap_is_located_at_the_loop():
    start = time.perf_counter()
    err = parse_error("# a big loop\nfor t in 1..1000000000 { h[t] = h[t-1] + 1 }", cgraph.GraphTooLarge)
    assert time.perf_counter() - start < 5.0
    assert err.location.line == 2
    assert err.location.column in (1, 5)  # the 'for' or its variable
    assert_located(err, 2, err.location.column)


def test_loop_cap_with_a_small_max_nodes():
    err = parse_error("a = 1\nfor t in 1..100 {\n  h[t] = h[t-1] + a\n}", cgraph.GraphTooLarge, max_nodes=20)
    assert err.location.line in (2, 3)
    assert_located(err, err.location.line, err.location.column)
    assert "20" in err.message


def test_reduction_cap_is_located_at_the_reduction():
    err = parse_error("a = 1\ny = a + sum(x[i] for i in 1..1000000000)", cgraph.GraphTooLarge)
    assert_located(err, 2, 9)


# --- input errors ----------------------------------------------------------------------


def test_missing_inputs_are_all_listed():
    err = evaluate_error("y = a + b * c\nz = y + a", {})
    assert_mentions(err, "a", "b", "c")
    err = evaluate_error("y = a + b * c", {"b": 1.0})
    assert_mentions(err, "a", "c")
    assert "b," not in err.message


def test_missing_indexed_inputs_are_all_listed():
    err = evaluate_error("for t in 1..3 { h[t] = h[t-1] + x[t] }", {"x[2]": 1.0})
    assert_mentions(err, "h[0]", "x[1]", "x[3]")


def test_missing_inputs_error_points_at_the_first_use():
    err = evaluate_error("a = 1\ny = a * u + v", {})
    assert_mentions(err, "u", "v")
    assert_located(err, 2, 9)


def test_unknown_input_name():
    err = evaluate_error("y = x + z", {"x": 1.0, "z": 2.0, "xx": 3.0})
    assert_mentions(err, "'xx'", "did you mean 'x'")


def test_giving_a_value_to_a_computed_name():
    err = evaluate_error("p = a + b\ny = p * 2", {"a": 1.0, "b": 2.0, "p": 5.0})
    assert_mentions(err, "'p'", "line 1")


def test_giving_a_value_to_a_computed_name_points_at_its_definition():
    err = evaluate_error("p = a + b\ny = p * 2", {"a": 1.0, "b": 2.0, "p": 5.0})
    assert err.location is not None and err.location.line == 1
    assert err.location.column in (1, 7)  # the name p, or its expression
    assert_located(err, 1, err.location.column)


def test_unknown_output_name_for_evaluate():
    graph = cgraph.parse("p = x + 1\ng = p * 2")
    with pytest.raises(cgraph.InputError) as info:
        cgraph.evaluate(graph, {"x": 1.0}, output="q")
    assert "q" in info.value.message


# --- numeric errors --------------------------------------------------------------------


def test_strict_numeric_error_names_the_line():
    err = evaluate_error("a = 1\ny = a / x\nz = y + 1", {"x": 0.0}, cgraph.NumericError, strict=True)
    assert "2:" in str(err)
    assert "inf" in str(err)


def test_strict_numeric_error_is_located_at_the_node():
    err = evaluate_error("a = 1\ny = a / x\nz = y + 1", {"x": 0.0}, cgraph.NumericError, strict=True)
    assert_located(err, 2, 7)


def test_strict_is_quiet_when_everything_is_finite():
    graph = cgraph.parse("y = log(x)")
    assert cgraph.evaluate(graph, {"x": math.e}, strict=True).value == 1.0


# --- files ---------------------------------------------------------------------------------


def test_invalid_utf8_is_a_located_parse_error(tmp_path):
    path = tmp_path / "bad.cg"
    path.write_bytes("# café\ny = x + ".encode() + b"\xff\n")
    with pytest.raises(cgraph.ParseError) as info:
        cgraph.load(path)
    err = info.value
    assert "UTF-8" in err.message
    assert_located(err, 2, 9, filename=str(path))


def test_invalid_utf8_column_counts_characters_not_bytes(tmp_path):
    path = tmp_path / "bad.cg"
    path.write_bytes("y = x # é ".encode() + b"\xc3\x28\n")  # é is two bytes, one character
    with pytest.raises(cgraph.ParseError) as info:
        cgraph.load(path)
    assert_located(info.value, 1, 11, filename=str(path))


def test_load_reports_errors_with_the_path(tmp_path):
    path = tmp_path / "model.cg"
    path.write_text("p = x\ng = tanhh(p)\n", encoding="utf-8")
    with pytest.raises(cgraph.BuildError) as info:
        cgraph.load(path)
    assert_located(info.value, 2, 5, filename=str(path))


def test_load_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.cg"
    path.write_bytes(b"\xef\xbb\xbfy = 2 * x\n")
    assert cgraph.evaluate(cgraph.load(path), {"x": 3.0}).value == 6.0


def test_load_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(cgraph.InputError):
        cgraph.load(tmp_path / "nope.cg")


# --- CRLF files report the same positions as LF files -------------------------------------

LINE_ENDING_CASES = [
    "a = 1\nb = 2 +\nc = 3\n",
    "a = 1\nb = (2 +\n$)\n",
    "a = 1\nb = x $ 1\n",
    "p = 1\np = 2\n",
    "a = 1\ny = (x + 1\n",
    "a = 1\ny = tanhh(a)\n",
]


@pytest.mark.parametrize("source", LINE_ENDING_CASES)
def test_crlf_errors_have_the_same_location_as_lf(source):
    lf = parse_error(source)
    crlf = parse_error(source.replace("\n", "\r\n"))
    assert type(lf) is type(crlf)
    assert (crlf.location.line, crlf.location.column) == (lf.location.line, lf.location.column)
    assert_located(crlf, lf.location.line, lf.location.column)


# --- what a syntax error says was expected: every token that could come there --------------

from cgraph.frontend import lalr, parser  # noqa: E402
from support.paths import SAMPLES  # noqa: E402

# One piece of text per terminal of the grammar, to try it where the parser stopped.
_LEXEMES = {
    "NAME": "q", "NUMBER": "7", "ADDOP": "+", "MULOP": "*", "POWOP": "^", "LPAR": "(", "RPAR": ")",
    "LSQB": "[", "RSQB": "]", "RANGE": "..", "COMMA": ",", "EQUAL": "=", "LBRACE": "{", "RBRACE": "}",
    "SEMICOLON": ";", "FOR": "for", "IN": "in", "INPUT": "input", "PARAM": "param", "OUTPUT": "output",
    "DEF": "def", "_NL": "\n",
}
_BROKEN = [
    "g = (x + y", "g = (x + y)\nz = 1 +", "g = x +* y", "g = (x + y\nh = 2", "g = x y", "y = f(x",
    "y = sum(x for i 1..3)", "for t 1..3 { }", "for t in 1..3 { y = x } }", "def f(a b) = a", "y = x[1",
    "y = x[1,", "input = 2", "param w", "y = 2 ^", "y = -", "output", "def f() =", "y = sum(x for i in 1..",
    "a = 1; b = (a\n* 2", "y = (x\n", "for t in 1..3 {\n y[t] = x\n", "y = x $ 1", "h[t-1 = 2",
]
_SAMPLES = sorted(SAMPLES.glob("*.cg"))


def _refusal(text: str):
    return lalr.expected(parser._tables(), text, "_NL", parser._OPENING, parser._CLOSING)


def _truncated_samples() -> list[str]:
    texts = []
    for path in _SAMPLES:
        source = path.read_text(encoding="utf-8")
        texts += [source[:k] + " \u00a7" for k in range(0, len(source), 7)
                  if "#" not in source[source.rfind("\n", 0, k) + 1:k]]  # not cut inside a comment
    return texts


@pytest.mark.parametrize("text", _BROKEN + _truncated_samples())
def test_the_expected_list_is_exactly_what_could_come(text):
    """Each terminal listed, put where the parser stopped, is taken; each one not listed is
    refused there (a keyword is only tried where a name cannot come: elsewhere it is read
    as a name)."""
    refusal = _refusal(text)
    if refusal is None:
        return  # the cut fell in a comment: the text parses
    where, listed = refusal.offset, refusal.expected
    prefix = text[:where]
    open_brackets = sum(prefix.count(c) for c in "([") > sum(prefix.count(c) for c in ")]")
    for terminal, lexeme in _LEXEMES.items():
        keywords = ("FOR", "IN", "INPUT", "PARAM", "OUTPUT", "DEF")
        if terminal in keywords and ("NAME" in listed or any(
                k in listed and k != terminal and lexeme.startswith(_LEXEMES[k]) for k in keywords)):
            continue  # read as a name there, or as `in` then a name (`input` -> `in put`)
        if terminal == "_NL" and open_brackets:
            assert terminal not in listed
            continue
        probe = _refusal(prefix + " " + lexeme + " \u00a7")
        taken = probe is None or probe.offset >= where + 1 + len(lexeme)  # refused after the whole lexeme
        assert taken == (terminal in listed), (text, terminal, sorted(listed))
    assert (_refusal(prefix) is None) == ("$END" in listed), (text, sorted(listed))


def test_the_readme_syntax_error_lists_every_operator():
    err = parse_error("g = (x + y", cgraph.ParseError)
    assert_located(err, 1, 11)
    assert err.message == "unexpected end of file; expected '(', ')', '*' or '/', '+' or '-', '[' or '^'"


# --- reserved words -----------------------------------------------------------------------

RESERVED = ("input", "param", "output", "def", "for", "in")
# Every place a name goes, with {w} for the word: at the start of a statement (where the
# keyword itself could come), inside expressions, indices, calls, declarations, loops.
NAME_PLACES = [
    "{w} = 3", "y = {w} + 1", "y = 2 * ({w})", "y = x[{w}]", "y = {w}(2)", "input {w} = 2", "param {w} = 1",
    "def f({w}) = 1\ny = f(2)", "def {w}(a) = a\ny = 1", "for {w} in 1..3 {{ y = 1 }}", "y = sum(x for {w} in 1..3)",
    "y = 1\noutput {w}", "for t in 1..2 {{ {w} = t }}\ny = 1", "a = 1; {w} = 2", "{w}[1] = 3",
]


@pytest.mark.parametrize("word", RESERVED)
@pytest.mark.parametrize("place", NAME_PLACES)
def test_a_reserved_word_where_a_name_goes_says_so(word, place):
    source = place.format(w=word)
    err = parse_error(source, cgraph.ParseError)
    assert err.message == f"'{word}' is a reserved word, not a name", (source, str(err))
    # the caret is under the word where the name goes (the template's {w})
    offset = place.index("{w}") + place[:place.index("{w}")].count("{{") * -1
    assert_located(err, source.count("\n", 0, offset) + 1, offset - (source.rfind("\n", 0, offset) + 1) + 1)
    assert err.location.width == len(word)
    assert "input, param, output, def, for, in" in err.hint


def test_reserved_words_in_the_lark_reference_parser_agree():
    from cgraph.errors import Source

    for word in RESERVED:
        for place in NAME_PLACES:
            text = place.format(w=word)
            with pytest.raises(cgraph.ParseError) as mine:
                parser.parse_syntax(Source(text))
            with pytest.raises(cgraph.ParseError) as larks:
                parser.parse_syntax_lark(Source(text))
            assert str(mine.value) == str(larks.value), text


def test_names_that_contain_reserved_words_are_fine():
    graph = cgraph.parse("input_ = 1\nformat = 2\nindex = input_ + format\nfor_each = index * 2\ndefault = for_each")
    assert cgraph.evaluate(graph).value == 6


# --- a loop-local name after its loop -------------------------------------------------------


@pytest.mark.parametrize("source,line,column", [
    ("for t in 1..3 { z = 2*t }\ny = z", 2, 5),
    ("for t in 1..3 {\n  z = 2*t\n  h[t] = z\n}\ny = h[3] + z", 5, 12),
    ("for t in 1..3 { z = 2*t }\noutput z", 2, 8),
    ("for t in 1..3 { for s in 1..2 { z = t*s } }\nfor u in 1..2 { y[u] = z*u }", 2, 24),
    ("for t in 1..3 { z = 2*t; h[t] = z }\ndef f(a) = a*z\ny = f(h[3])", 2, 14),
    ("for t in 1..3 { z = 2*t; h[t] = z }\ny = sum(z*h[i] for i in 1..3)", 2, 9),
])
def test_a_loop_local_name_used_after_its_loop_is_an_error(source, line, column):
    err = parse_error(source, cgraph.BuildError)
    assert_located(err, line, column)
    assert err.message.startswith("'z' is local to the loop on line ")
    assert "the last is z@t=3" in err.message
    assert "z[t" in err.hint


def test_a_loop_local_name_never_becomes_an_input():
    with pytest.raises(cgraph.BuildError):
        cgraph.parse("for t in 1..3 { z = 2*t }\ny = z")
    # inside its loop it is the iteration's own; a later global of that name is fine
    graph = cgraph.parse("for t in 1..3 { z = 2*t; h[t] = z }\nz = 5\nw = z * h[3]")
    assert "z" not in graph.inputs and cgraph.evaluate(graph).value == 30
