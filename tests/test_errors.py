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
