"""What a data file binds, and reading it whatever its shape: JSON Lines rows checked
against the first row (never a default while the data gives a value), data that binds
nothing, inputs left to defaults (an error in `train`), --delimiter, .tsv, --data-format
and --data -, RFC 4180 quoted fields over several lines, Parquet integers past 2^53,
invalid UTF-8 named by its line, and byte-order marks.
"""

from __future__ import annotations

import csv
import decimal
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cgraph
from cgraph.training.data import DataError, DataFile, Skipped, bind_columns

from support.files import write_file
from support.paths import SAMPLES

LINREG = str(SAMPLES / "linreg.cg")  # param w = 0, param b = 0, input x = 1, input y = 1.5
XY = "input x\ninput y = 100\nout = x + y\n"
INDEXED = "input x[1]\ninput x[2]\nout = 10*x[1] + x[2]\n"


def rows_of(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def values(out: str, column: str) -> list[float]:
    return [float(r[column]) for r in rows_of(out)]


def read(path: str, graph: cgraph.Graph, rows: int = 2, on_error: str = "fail", **options):
    """Bind and read a data file as the CLI does: (binding, values per input, lines, skipped)."""
    data = DataFile(path, **options)
    binding = bind_columns(graph, data)
    skipped = Skipped()
    chunk = data.read_all(binding.fields, rows, on_error, skipped)
    return binding, {n: c.tolist() for n, c in zip(binding.names, chunk.columns)}, chunk.lines.tolist(), skipped


# --- JSON Lines: every row gives the first row's inputs ------------------------------------


@pytest.mark.parametrize("chunk_rows", ["1", "2", "1000"])
def test_a_jsonl_key_missing_from_the_first_row_is_an_error_not_a_default(cg, tmp_path, chunk_rows):
    program = write_file(tmp_path / "xy.cg", XY)
    data = write_file(tmp_path / "d.jsonl", '{"x": 1}\n{"x": 2}\n{"x": 3}\n{"x": 2, "y": 3}\n{"x": 5}\n')
    code, out, err = cg("eval", program, "--data", data, "--chunk-rows", chunk_rows)
    assert code == 2
    # Standard output streams: rows of chunks before the bad one may be out, never line 4 or later.
    assert all(int(r["line"]) < 4 for r in rows_of(out)) and values(out, "out") == [101, 102, 103][: len(rows_of(out))]
    assert f"{data}:4:10: error: 'y' is not in the first row (line 1)" in err
    # Skipping leaves the row out; it is never computed from y's default.
    code, out, err = cg("eval", program, "--data", data, "--chunk-rows", chunk_rows, "--on-error", "skip")
    assert code == 0 and "line 4: 'y' is not in the first row" in err
    assert [r["line"] for r in rows_of(out)] == ["1", "2", "3", "5"]
    assert values(out, "out") == [101, 102, 103, 105]


def test_a_jsonl_row_lacking_a_first_row_key_is_an_error(cg, tmp_path):
    program = write_file(tmp_path / "xy.cg", XY)
    data = write_file(tmp_path / "d.jsonl", '{"x": 1, "y": 1}\n{"x": 2}\n')
    code, out, err = cg("eval", program, "--data", data)
    assert code == 2 and f"{data}:2:1: error: missing 'y'" in err


def test_keys_that_bind_nothing_may_come_and_go(tmp_path):
    graph = cgraph.parse(XY)
    path = write_file(tmp_path / "d.jsonl", '{"x": 1, "y": 2}\n{"x": 2, "y": 3, "id": "a"}\n{"x": 3, "y": 4, "note": 5}\n')
    _, got, lines, _ = read(path, graph)
    assert got == {"x": [1, 2, 3], "y": [2, 3, 4]} and lines == [1, 2, 3]


@pytest.mark.parametrize("option", [["--y", "5"], ["--input", "y=5"], ["--inputs", "INPUTS"]])
def test_a_name_given_as_an_option_and_as_a_later_jsonl_key_is_an_error(cg, tmp_path, option):
    program = write_file(tmp_path / "xy.cg", XY)
    inputs = write_file(tmp_path / "in.json", '{"y": 5}')
    option = [inputs if o == "INPUTS" else o for o in option]
    data = write_file(tmp_path / "d.jsonl", '{"x": 1}\n{"x": 2}\n{"x": 3, "y": 3}\n')
    for on_error in ("fail", "skip"):  # not a bad row: the command line contradicts the data
        code, out, err = cg("eval", program, "--data", data, *option, "--on-error", on_error, "--chunk-rows", "1")
        assert code == 2, err
        assert "'y' is given both as a column of" in err and "first on line 3" in err


def test_a_param_given_by_params_and_as_a_later_jsonl_key_is_an_error(cg, tmp_path):
    params = write_file(tmp_path / "p.json", '{"w": 2}')
    data = write_file(tmp_path / "d.jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": 2, "w": 3}\n')
    code, out, err = cg("eval", LINREG, "--data", data, "--params", params)
    assert code == 2 and "'w' is given both as a column" in err and "line 2" in err
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "1")
    assert code == 2 and "'w' on line 2 is the param 'w'; params are learned" in err


def test_a_later_jsonl_key_naming_a_computed_node_is_an_error(cg, tmp_path):
    data = write_file(tmp_path / "d.jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": 2, "loss": 3}\n')
    code, out, err = cg("eval", LINREG, "--data", data, "--on-error", "skip")
    assert code == 2 and "'loss' on line 2 is computed on line" in err


def test_jsonl_rows_may_mix_the_two_forms_of_an_indexed_input(cg, tmp_path):
    program = write_file(tmp_path / "ix.cg", INDEXED)
    for first in ('{"x": [1, 2]}', '{"x[1]": 1, "x[2]": 2}', '{"x[2]": 2, "x[ 1 ]": 1}'):
        data = write_file(tmp_path / "d.jsonl",
                     first + '\n{"x[1]": 3, "x[2]": 4}\n{"x": [5, 6]}\n{"x[2]": 8, "x[1]": 7}\n{"x": ["9", 10]}\n')
        for chunk_rows in ("1", "3", "100"):
            code, out, err = cg("eval", program, "--data", data, "--chunk-rows", chunk_rows)
            assert code == 0, err
            assert values(out, "out") == [12, 34, 56, 78, 100]


@pytest.mark.parametrize("row, message", [
    ('{"x": [3, 4], "x[1]": 3}', "'x[1]' is given twice: as 'x[1]' and in the list 'x'"),
    ('{"x[1]": 3, "x[ 1]": 3, "x[2]": 1}', "'x[1]' is given twice"),
    ('{"x": [3, 4, 5]}', "'x' must be a list of 2 numbers, not 3 values"),
    ('{"x": 3}', "missing 'x[1]' ('x' is not a list of 2 numbers: 3)"),
    ('{"x": 3, "x[1]": 1, "x[2]": 2}', None),  # 'x' binds nothing unless it is a list
    ('{"x": [3, null]}', "'x[2]' (in the list 'x') must be a number, not null"),
    ('{"x[1]": 3}', "missing 'x[2]'"),
])
def test_bad_rows_mixing_forms(tmp_path, row, message):
    graph = cgraph.parse(INDEXED)
    path = write_file(tmp_path / "d.jsonl", '{"x[1]": 1, "x[2]": 2}\n' + row + "\n")
    if message is None:
        assert read(path, graph)[2] == [1, 2]
        return
    with pytest.raises(DataError) as info:
        read(path, graph)
    assert info.value.line == 2 and message in info.value.message
    _, got, lines, skipped = read(path, graph, on_error="skip")
    assert lines == [1] and skipped.count == 1


def test_the_first_row_may_not_give_an_input_twice(tmp_path):
    graph = cgraph.parse(INDEXED)
    for first in ('{"x": [1, 2], "x[1]": 3}', '{"x[1]": 1, "x[ 1 ]": 3, "x[2]": 1}'):
        with pytest.raises(DataError, match=r"'x\[1\]' is given twice in line 1"):
            bind_columns(graph, DataFile(write_file(tmp_path / "d.jsonl", first + "\n")))
    with pytest.raises(DataError, match=r"'x\[1\]' is given twice in the header"):
        bind_columns(graph, DataFile(write_file(tmp_path / "d.csv", "x[1],x[ 1 ],x[2]\n1,2,3\n")))


# --- data that binds nothing, inputs left to defaults -----------------------------------------


@pytest.mark.parametrize("text, hint", [
    ("x;y\n1;2\n", "the header looks ;-separated: use --delimiter ';'"),
    ("x\ty\n1\t2\n", "the header looks tab-separated: use --delimiter tab"),
    ("x|y\n1|2\n", "the header looks |-separated: use --delimiter '|'"),
    ("X,Y\n1,2\n", "did you mean 'x' for column 'X', 'y' for column 'Y'? (names are case-sensitive)"),
    ("xx,yy\n1,2\n", "did you mean 'x' for column 'xx', 'y' for column 'yy'?"),
    ("id,label\n1,2\n", "name the columns after the inputs"),
])
def test_data_that_binds_nothing_is_an_error_with_a_hint(cg, tmp_path, text, hint):
    data = write_file(tmp_path / "d.csv", text)
    code, out, err = cg("eval", LINREG, "--data", data)  # x and y have defaults
    assert code == 2 and out == ""
    assert f"{data}: error: no column of {data} is an input of {LINREG}" in err and f"hint: {hint}" in err
    code, out, err = cg("train", LINREG, "--data", data, "--allow-defaults", "--epochs", "1")
    assert code == 2 and "no column of" in err


def test_jsonl_and_parquet_that_bind_nothing_are_errors(cg, tmp_path):
    data = write_file(tmp_path / "d.jsonl", '{"X": 1, "Y": 2}\n')
    code, out, err = cg("eval", LINREG, "--data", data)
    assert code == 2 and "no column of" in err and "did you mean 'x' for column 'X'" in err
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"X": [1.0], "Y": [2.0]}), str(path))
    code, out, err = cg("eval", LINREG, "--data", path)
    assert code == 2 and "no column of" in err


def test_the_right_delimiter_reads_what_the_comma_file_reads(cg, tmp_path):
    comma = write_file(tmp_path / "c.csv", "x,y\n1,2\n3,-4\n")
    expected = cg("eval", LINREG, "--data", comma, "--w", "2").out.splitlines()[1:]
    for name, text, delimiter in (("s.csv", "x;y\n1;2\n3;-4\n", ";"), ("t.csv", "x\ty\n1\t2\n3\t-4\n", "tab"),
                                  ("t2.csv", "x\ty\n1\t2\n3\t-4\n", "\\t"), ("p.csv", 'x|"y"\n1|2\n3|"-4"\n', "|")):
        code, out, err = cg("eval", LINREG, "--data", write_file(tmp_path / name, text), "--delimiter", delimiter, "--w", "2")
        assert code == 0, err
        assert out.splitlines()[1:] == expected


def test_tsv_files_are_tab_separated(cg, tmp_path):
    data = write_file(tmp_path / "d.tsv", "x\ty\tnote\n1\t2\ta, b\n3\t-4\tc\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--w", "2")
    assert code == 0, err
    assert values(out, "loss") == [(2 * 1 - 2) ** 2, (2 * 3 + 4) ** 2]


@pytest.mark.parametrize("argv, message", [
    (["--delimiter", "ab"], "--delimiter 'ab': expected one character"),
    (["--delimiter", "x"], "--delimiter 'x': expected one character"),
    (["--delimiter", '"'], "expected one character"),
    (["--data-format", "jsonl", "--delimiter", ";"], "--delimiter goes with CSV data, not jsonl"),
])
def test_bad_delimiters(cg, tmp_path, argv, message):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n")
    code, out, err = cg("eval", LINREG, "--data", data, *argv)
    assert code == 2 and message in err


def test_an_input_the_data_lacks_is_warned_about(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x\n1\n2\n")
    code, out, err = cg("eval", LINREG, "--data", data)
    assert code == 0
    assert f"warning: {data} has no column for input 'y': every row uses its default, 1.5" in err
    assert values(out, "loss") == [(0 - 1.5) ** 2] * 2
    # Given as an option it is not left to a default: no warning.
    code, out, err = cg("eval", LINREG, "--data", data, "--y", "3")
    assert code == 0 and "warning" not in err
    # A column that nearly names it is pointed out.
    code, out, err = cg("eval", LINREG, "--data", write_file(tmp_path / "e.csv", "x,Y\n1,2\n"))
    assert code == 0 and "no column for input 'y'" in err and "column 'Y' is not 'y' (names are case-sensitive)" in err


@pytest.mark.parametrize("text", ["x\n1\n2\n", "x,Y\n1,2\n", "x,targ\n1,2\n"])
def test_train_refuses_an_input_every_row_takes_from_its_default(cg, tmp_path, text):
    data = write_file(tmp_path / "d.csv", text)
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "2")
    assert code == 2 and out == ""
    assert f"error: {data} has no column for input 'y': every row would use its default, 1.5" in err
    assert "--allow-defaults" in err
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "2", "--allow-defaults")
    assert code == 0 and "warning:" in err and "no column for input 'y'" in err
    code, out, err = cg("train", LINREG, "--data", data, "--epochs", "2", "--y", "1.5")
    assert code == 0 and "no column" not in err


def test_train_with_every_input_in_the_data_needs_no_flag(cg):
    code, out, err = cg("train", LINREG, "--data", SAMPLES / "linreg.csv", "--epochs", "1")
    assert code == 0 and "warning" not in err


# --- --data - and --data-format ------------------------------------------------------------


def test_data_from_standard_input(cg, tmp_path):
    expected = cg("eval", LINREG, "--data", SAMPLES / "linreg.csv", "--w", "2").out
    text = (SAMPLES / "linreg.csv").read_text()
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", "csv", "--w", "2", stdin=text)
    assert code == 0, err
    assert out == expected
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", "csv", "--delimiter", ";", "--w", "2",
                        stdin=text.replace(",", ";"))
    assert code == 0 and out == expected
    jsonl = "".join(json.dumps({"x": float(r["x"]), "y": float(r["y"])}) + "\n"
                    for r in csv.DictReader(io.StringIO(text)))
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", "jsonl", "--w", "2", stdin=jsonl)
    assert code == 0, err
    assert [line.split(",", 1)[1] for line in out.splitlines()[1:]] == \
           [line.split(",", 1)[1] for line in expected.splitlines()[1:]]


def test_data_from_standard_input_errors_name_stdin_and_the_line(cg):
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", "csv", stdin="x,y\n1,2\n3,z\n")
    assert code == 2 and "<stdin>:3:3: error: 'z' in column 'y' is not a number" in err
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", "csv", "--on-error", "skip",
                        stdin="x,y\n1,2\n3,z\n")
    assert code == 0 and "skipped 1 bad row of <stdin>:" in err and [r["line"] for r in rows_of(out)] == ["2"]
    code, out, err = cg("eval", LINREG, "--data", "-", stdin="x,y\n1,2\n")
    assert code == 2 and "--data - (standard input) needs --data-format" in err
    code, out, err = cg("eval", "-", "--data", "-", "--data-format", "csv", stdin="x,y\n1,2\n")
    assert code == 2 and "cannot both be standard input" in err


def test_train_from_standard_input(cg, tmp_path):
    text = (SAMPLES / "linreg.csv").read_text()
    argv = ["train", LINREG, "--lr", "0.5", "--epochs", "5", "--no-shuffle"]
    code, _, err = cg(*argv, "--data", SAMPLES / "linreg.csv", "--save", tmp_path / "a.json")
    assert code == 0, err
    code, out, err = cg(*argv, "--data", "-", "--data-format", "csv", "--save", tmp_path / "b.json", stdin=text)
    assert code == 0, err
    learned = [json.loads((tmp_path / name).read_text())["params"] for name in ("a.json", "b.json")]
    assert learned[0] == learned[1] and learned[0]["w"] != 0


def test_data_format_overrides_the_suffix(cg, tmp_path):
    data = write_file(tmp_path / "rows.txt", "x,y\n1,2\n")
    code, out, err = cg("eval", LINREG, "--data", data)
    assert code == 2 and "unknown data format '.txt'" in err and "--data-format" in err
    code, out, err = cg("eval", LINREG, "--data", data, "--data-format", "csv", "--w", "2")
    assert code == 0 and values(out, "loss") == [0.0]
    jsonl = write_file(tmp_path / "rows.csv", '{"x": 1, "y": 2}\n')
    code, out, err = cg("eval", LINREG, "--data", jsonl, "--data-format", "jsonl", "--w", "2")
    assert code == 0 and values(out, "loss") == [0.0]


def test_data_options_need_data(cg):
    for option in (["--delimiter", ";"], ["--data-format", "csv"]):
        code, out, err = cg("eval", LINREG, *option)
        assert code == 2 and "goes with --data" in err


# --- RFC 4180: quoted fields over lines ------------------------------------------------------


def test_a_quoted_field_may_hold_line_breaks_quotes_and_delimiters(cg, tmp_path):
    text = ('x,y,note\n1,2,"two\nlines"\n3,4,"say ""hi"", then\n\ngo"\n5,6,plain\n'
            '"7","8","a,b"\n9,10,"\r\n"\n')
    data = write_file(tmp_path / "d.csv", text)
    code, out, err = cg("eval", LINREG, "--data", data, "--w", "1")
    assert code == 0, err
    # Line numbers are where each row starts.
    assert [r["line"] for r in rows_of(out)] == ["2", "4", "7", "8", "9"]
    assert values(out, "loss") == [(x - y) ** 2 for x, y in ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))]


@pytest.mark.parametrize("rows", [1, 2, 3, 1000])
def test_a_quoted_field_across_a_chunk_boundary(tmp_path, rows):
    graph = cgraph.load(LINREG)
    path = write_file(tmp_path / "d.csv", 'x,y,note\n1,2,"a\nb\nc"\n3,4,"d\ne"\n5,6,f\n7,8,"g\nh"\n')
    _, got, lines, _ = read(path, graph, rows=rows)
    assert got == {"x": [1, 3, 5, 7], "y": [2, 4, 6, 8]} and lines == [2, 5, 7, 8]


def test_errors_after_a_multiline_row_name_the_physical_line(tmp_path):
    graph = cgraph.load(LINREG)
    path = write_file(tmp_path / "d.csv", 'x,y,note\n1,2,"a\nb"\n3,oops,c\n')
    with pytest.raises(DataError) as info:
        read(path, graph)
    assert str(info.value).splitlines()[:2] == [f"{path}:4:3: error: 'oops' in column 'y' is not a number",
                                                "  4 | 3,oops,c"]


@pytest.mark.parametrize("text, line, message", [
    ('x,y,note\n1,2,a\n3,4,"never closed\n5,6,c\n', 3, "a quoted field is not closed before the end of the file"),
    ('x,y,note\n1,2,"a"b\n3,4,c\n', 2, "a closing quote must be followed by the delimiter"),
    ('x,y,note\n1,2,"a\nb",extra\n3,4,c\n', 2, "4 fields, but the header has 3 columns"),
])
def test_malformed_quoting_is_a_located_error(tmp_path, text, line, message):
    graph = cgraph.load(LINREG)
    path = write_file(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as info:
        read(path, graph)
    assert info.value.line == line and message in info.value.message


def test_a_quoted_header_name(tmp_path):
    graph = cgraph.load(LINREG)
    path = write_file(tmp_path / "d.csv", 'x,"y",note\n1,2,a\n')
    _, got, lines, _ = read(path, graph)
    assert got == {"x": [1], "y": [2]} and lines == [2]


# --- Parquet: integers past 2^53, decimals ------------------------------------------------------


@pytest.mark.parametrize("values_, kind", [
    ([2**53 + 1, -(2**63), 2**63 - 1, 7], pa.int64()),
    ([2**63 + 5, 2**64 - 1, 2**53 + 1, 0], pa.uint64()),
    ([-128, 127, 0, 1], pa.int8()),
    ([2**32 - 1, 0, 1, 2], pa.uint32()),
    ([decimal.Decimal("12345678901234567890.123456789"), decimal.Decimal("0.1"),
      decimal.Decimal("-99999999999999999999.999999999"), decimal.Decimal("3")], pa.decimal128(38, 9)),
    ([decimal.Decimal(10**40 + 1), decimal.Decimal(-(10**39) - 7), decimal.Decimal(2**60 + 3), decimal.Decimal(1)],
     pa.decimal256(50, 0)),
])
def test_parquet_numbers_read_as_the_nearest_float(cg, tmp_path, values_, kind):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": pa.array(values_, kind), "y": pa.array([0.0] * len(values_))}), str(path))
    program = write_file(tmp_path / "id.cg", "input x\ninput y\nout = x + y\n")
    code, out, err = cg("eval", program, "--data", path)
    assert code == 0, err
    assert values(out, "out") == [float(v) for v in values_]


def test_parquet_integers_with_nulls(tmp_path):
    graph = cgraph.parse("input x\nout = x\n")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": pa.array([2**53 + 1, None, 2**62 + 1], pa.int64())}), str(path))
    _, got, lines, skipped = read(str(path), graph, on_error="skip")
    assert got == {"x": [float(2**53 + 1), float(2**62 + 1)]} and lines == [1, 3] and skipped.count == 1


# --- UTF-8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, text, line, column", [
    ("d.csv", b"x,y\n1,2\n3,4\n5,\xe96\n7,8\n", 4, 3),
    ("d.csv", b"x,y,note\n1,2,a\n3,4,\"b\n\xff\"\n", 4, 1),  # inside a quoted field over lines
    ("d.csv", b"x,\xc3y\n1,2\n", 1, 3),
    ("d.jsonl", b'{"x": 1, "y": 2}\n{"x": 1, "y": 2, "n": "\xe9"}\n', 2, 24),
    ("d.jsonl", b'{"x": 1, "y": 2, "n": "\xe9"}\n', 1, 24),
])
def test_invalid_utf8_names_its_line(cg, tmp_path, name, text, line, column):
    data = write_file(tmp_path / name, text)
    code, out, err = cg("eval", LINREG, "--data", data, "--chunk-rows", "2")
    assert code == 2 and all(int(r["line"]) < line for r in rows_of(out))  # earlier chunks stream out
    assert f"{data}:{line}:{column}: error: invalid UTF-8" in err


@pytest.mark.parametrize("name, text", [
    ("d.jsonl", '\ufeff{"x": 1, "y": 2}\n{"x": 3, "y": 4}\n'),
    ("d.csv", "\ufeffx,y\n1,2\n3,4\n"),
])
def test_a_byte_order_mark_is_read(cg, tmp_path, name, text):
    data = write_file(tmp_path / name, text)
    code, out, err = cg("eval", LINREG, "--data", data, "--w", "1")
    assert code == 0, err
    assert values(out, "loss") == [1.0, 1.0]
    fmt = "jsonl" if name.endswith("jsonl") else "csv"
    code, out, err = cg("eval", LINREG, "--data", "-", "--data-format", fmt, "--w", "1", stdin=text.encode("utf-8"))
    assert code == 0, err
    assert values(out, "loss") == [1.0, 1.0]


# --- the fast and the slow readers agree --------------------------------------------------------


def test_quoted_and_unquoted_files_give_the_same_floats(tmp_path):
    graph = cgraph.load(LINREG)
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=200).tolist(), (rng.normal(size=200) * 1e10).tolist()
    plain = write_file(tmp_path / "a.csv", "x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in zip(xs, ys)))
    quoted = write_file(tmp_path / "b.csv", "x,y,n\n" + "".join(f'"{x!r}",{y!r},"a\nb"\n' for x, y in zip(xs, ys)))
    _, a, _, _ = read(plain, graph, rows=64)
    _, b, lines, _ = read(quoted, graph, rows=64)
    assert a == b == {"x": xs, "y": ys}
    assert lines == list(range(2, 2 + 2 * 200, 2))


@pytest.mark.parametrize("rows", [1, 1000])
def test_a_short_row_and_a_long_one_in_one_block_are_both_bad(tmp_path, rows):
    # As many delimiters in the block as well-formed rows would have: each row still counts.
    graph = cgraph.parse("input a\ninput b\nout = a + b\n")
    path = write_file(tmp_path / "d.csv", "a,b\n7\n1,2\n3,,4\n5,6\n")
    _, got, lines, skipped = read(path, graph, rows=rows, on_error="skip")
    assert got == {"a": [1, 5], "b": [2, 6]} and lines == [3, 5] and skipped.count == 2


@pytest.mark.parametrize("rows", [1, 2, 1000])
@pytest.mark.parametrize("name, text", [
    ("d.csv", b"x,y\n1,2\nabc,2\n3,4\n5,\xe96\n"),
    ("d.jsonl", b'{"x": 1, "y": 2}\n{"x": "abc", "y": 2}\n{"x": 1, "y": 2}\n{"x": 1, "y": "\xe9"}\n'),
])
def test_the_first_error_in_the_file_is_reported_whatever_the_chunk_size(tmp_path, rows, name, text):
    graph = cgraph.load(LINREG)
    path = write_file(tmp_path / name, text)
    with pytest.raises(DataError) as info:
        read(path, graph, rows=rows)
    assert info.value.line == 3 - name.endswith("jsonl") and "abc" in info.value.message
    # Skipping bad rows still stops at invalid UTF-8, naming its line.
    with pytest.raises(DataError) as info:
        read(path, graph, rows=rows, on_error="skip")
    assert info.value.line == 5 - name.endswith("jsonl") and "invalid UTF-8" in info.value.message
