"""Data files (cgraph.data) and `cgraph eval --data`: reading CSV, JSON Lines and Parquet in
chunks, binding columns to inputs, bad rows located by file:line, rows written out, and
the output of every row equal to the scalar evaluation of that row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import cgraph
from cgraph.cli import run
from cgraph.training.data import DataError, DataFile, MissingDependency, RowWriter, Skipped, bind_columns

from support.files import write_file
from support.paths import SAMPLES

INTRO = str(SAMPLES / "intro.cg")
LINREG = str(SAMPLES / "linreg.cg")
XOR = str(SAMPLES / "xor.cg")




def read_all(path: str, fields, rows=3, on_error="fail"):
    skipped = Skipped()
    chunks = list(DataFile(path).chunks(fields, rows, on_error, skipped))
    columns = [np.concatenate([c.columns[k] for c in chunks]).tolist() if chunks else [] for k in range(len(fields))]
    lines = np.concatenate([c.lines for c in chunks]).tolist() if chunks else []
    return columns, lines, skipped


# --- CSV ---------------------------------------------------------------------------------


def test_csv_columns_and_line_numbers_in_chunks(tmp_path):
    path = write_file(tmp_path / "d.csv", "x,y,label\n1,2,a\n3,4,b\n5,6,c\n7,8,d\n9,10,e\n")
    data = DataFile(path)
    assert data.format == "csv" and list(data.columns) == ["x", "y", "label"]
    columns, lines, _ = read_all(path, [("y", None), ("x", None)], rows=2)
    assert columns == [[2, 4, 6, 8, 10], [1, 3, 5, 7, 9]]
    assert lines == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("text", [
    "x,y\r\n1,2\r\n3,4\r\n",                      # CRLF
    "\ufeffx,y\n1,2\n3,4\n",                      # a byte-order mark
    "\n\nx,y\n1,2\n\n3,4\n\n",                    # blank lines anywhere
    'x,y\n"1",2\n3,"4"\n',                        # quoted fields
    " x , y \n 1 , 2\n3,4\n",                     # spaces around names and numbers
])
def test_csv_variants_read_the_same(tmp_path, text):
    path = write_file(tmp_path / "d.csv", text)
    columns, _, _ = read_all(path, [("x", None), ("y", None)])
    assert columns == [[1.0, 3.0], [2.0, 4.0]]


def test_csv_numbers_as_float_reads_them(tmp_path):
    path = write_file(tmp_path / "d.csv", "x\ninf\n-inf\nnan\n1e400\n-0.0\n2.5E-3\n+7\n")
    (xs,), _, _ = read_all(path, [("x", None)], rows=100)
    assert xs[:2] == [math.inf, -math.inf] and math.isnan(xs[2]) and xs[3] == math.inf
    assert xs[4] == 0.0 and math.copysign(1, xs[4]) == -1 and xs[5:] == [0.0025, 7.0]


def test_blank_lines_keep_line_numbers(tmp_path):
    path = write_file(tmp_path / "d.csv", "x\n1\n\n2\n\n\n3\n")
    _, lines, _ = read_all(path, [("x", None)], rows=2)
    assert lines == [2, 4, 7]


@pytest.mark.parametrize("text, line, message", [
    ("x,y\n1,2\n3,abc\n", 3, "'abc' in column 'y' is not a number"),
    ("x,y\n1,2\n3,\n", 3, "missing value for 'y' (column 2)"),
    ("x,y\n1,2\n3\n", 3, "1 field, but the header has 2 columns"),
    ("x,y\n1,2\n3,4,5\n", 3, "3 fields, but the header has 2 columns"),
    ("x,y\n1,2\n1_000,4\n", 3, "'1_000' in column 'x' is not a number"),
])
def test_a_bad_row_is_an_error_naming_file_and_line(tmp_path, text, line, message):
    path = write_file(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as info:
        read_all(path, [("x", None), ("y", None)], rows=10)
    error = info.value
    assert error.line == line and message in error.message
    assert str(error).startswith(f"{path}:{line}:")
    assert error.exit_code == 2


def test_the_caret_points_at_the_bad_field(tmp_path):
    path = write_file(tmp_path / "d.csv", "x,y,z\n1,2,3\n4,five,6\n")
    with pytest.raises(DataError) as info:
        read_all(path, [("x", None), ("y", None), ("z", None)])
    assert str(info.value).splitlines() == [
        f"{path}:3:3: error: 'five' in column 'y' is not a number",
        "  3 | 4,five,6",
        "    |   ^^^^",
    ]


def test_skipping_bad_rows_counts_and_lists_them(tmp_path):
    path = write_file(tmp_path / "d.csv", "x,y\n1,2\nbad,2\n3,4\n5,\n7,8\n")
    columns, lines, skipped = read_all(path, [("x", None), ("y", None)], rows=2, on_error="skip")
    assert columns == [[1, 3, 7], [2, 4, 8]] and lines == [2, 4, 6]
    assert skipped.count == 2
    summary = skipped.summary("d.csv")
    assert "skipped 2 bad rows of d.csv" in summary and "line 3:" in summary and "line 5:" in summary


def test_unused_columns_may_hold_anything(tmp_path):
    path = write_file(tmp_path / "d.csv", 'name,x\n"Smith, J",1\nLee,2\n')
    columns, _, _ = read_all(path, [("x", None)])
    assert columns == [[1.0, 2.0]]


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("x,,y\n1,2,3\n", "column 2 of the header has no name"),
    ("x,x\n1,2\n", "column 'x' appears twice"),
])
def test_bad_headers(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        DataFile(write_file(tmp_path / "d.csv", text))


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(cgraph.InputError, match="unknown data format '.txt'"):
        DataFile(write_file(tmp_path / "d.txt", "x\n1\n"))
    with pytest.raises(cgraph.InputError, match="no such file"):
        DataFile(str(tmp_path / "nope.csv"))


def test_a_header_only_file_has_no_rows(tmp_path):
    columns, lines, _ = read_all(write_file(tmp_path / "d.csv", "x,y\n"), [("x", None)])
    assert columns == [[]] and lines == []


# --- JSON Lines --------------------------------------------------------------------------


def test_jsonl_objects_lists_and_numeric_strings(tmp_path):
    path = write_file(tmp_path / "d.jsonl", '{"x": [1, 2], "y": 3}\n\n{"y": "inf", "x": [4, 5.5]}\n')
    data = DataFile(path)
    assert data.format == "jsonl" and data.columns == {"x": 2, "y": None}
    columns, lines, _ = read_all(path, [("x", 0), ("x", 1), ("y", None)])
    assert columns == [[1, 4], [2, 5.5], [3, math.inf]] and lines == [1, 3]


@pytest.mark.parametrize("line, message", [
    ('{"x": [1, 2], "y": }', "invalid JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"x": [1, 2]}', "missing 'y'"),
    ('{"x": [1], "y": 2}', "'x' must be a list of 2 numbers (as on the first row), not 1 values"),
    ('{"x": [1, 2], "y": true}', "'y' must be a number, not true"),
    ('{"x": [1, null], "y": 1}', "'x[1]' must be a number, not null"),
    ('{"x": [1, 2], "y": "abc"}', "'y' must be a number, not \"abc\""),
    ('{"x": [1, 2], "y": 3, "y": 4}', "'y' is given twice in one row; give each name one value"),
])
def test_jsonl_bad_rows(tmp_path, line, message):
    path = write_file(tmp_path / "d.jsonl", '{"x": [1, 2], "y": 3}\n' + line + "\n")
    with pytest.raises(DataError) as info:
        read_all(path, [("x", 0), ("x", 1), ("y", None)])
    assert info.value.line == 2 and message in info.value.message


def test_jsonl_huge_integers_are_inf(tmp_path):
    path = write_file(tmp_path / "d.jsonl", '{"x": 1}\n{"x": ' + "9" * 400 + "}\n")
    (xs,), _, _ = read_all(path, [("x", None)])
    assert xs == [1.0, math.inf]


@pytest.mark.parametrize("bad_line", [False, True])  # the fast path (one json.loads a block), and line by line
def test_jsonl_negative_zero_is_negative_as_in_csv(tmp_path, bad_line):
    # JSON's integer -0 is -0.0, as float("-0") reads it in CSV (1/x is -inf there, not inf);
    # "-0.5", "-01" (invalid) and a "-0" inside a string are not it.
    lines = ['{"x": -0, "s": "a-0"}', '{"x": [-0], "s": 1}' if bad_line else '{"x": -0.5, "s": -0}', '{"x": 0}']
    path = write_file(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    columns, _, skipped = read_all(path, [("x", None)], on_error="skip")
    signs = [math.copysign(1.0, v) for v in columns[0]]
    assert signs == ([-1.0, 1.0] if bad_line else [-1.0, -1.0, 1.0])
    assert columns[0][0] == 0.0
    csv_path = write_file(tmp_path / "d.csv", "x\n-0\n")
    assert math.copysign(1.0, read_all(csv_path, [("x", None)])[0][0][0]) == -1.0


def test_inputs_file_negative_zero(cg, tmp_path):
    values = tmp_path / "v.json"
    values.write_text('{"x": -0, "y": [-0, 0]}')
    code, out, _ = cg("eval", "-e", "z = 1/x + y[1] - y[2]", "--inputs", values, "--format", "json")
    assert json.loads(out)["inputs"] == {"x": -0.0, "y[1]": -0.0, "y[2]": 0.0} and json.loads(out)["value"] == "-inf"
    assert math.copysign(1.0, json.loads(out)["inputs"]["x"]) == -1.0


# --- Parquet -------------------------------------------------------------------------------


def test_parquet_numeric_columns_rows_and_nulls(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"x": [1.0, 2.0, None, 4.0], "y": pa.array([1, 2, 3, 4], pa.int32()), "s": ["a", "b", "c", "d"]})
    path = str(tmp_path / "d.parquet")
    pq.write_table(table, path)
    data = DataFile(path)
    assert list(data.columns) == ["x", "y", "s"]
    columns, rows, skipped = read_all(path, [("y", None), ("x", None)], rows=3, on_error="skip")
    assert columns == [[1, 2, 4], [1, 2, 4]] and rows == [1, 2, 4] and skipped.count == 1
    with pytest.raises(DataError, match="row 3: error: missing value for 'x'"):
        read_all(path, [("x", None)])
    with pytest.raises(DataError, match="column 's' is not numeric"):
        read_all(path, [("s", None)])


def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path, hide_module):
    hide_module("pyarrow")
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(MissingDependency) as info:
        DataFile(str(tmp_path / "d.parquet"))
    assert "needs pyarrow" in str(info.value) and "pip install 'cgraph[parquet]'" in str(info.value)


# --- binding -------------------------------------------------------------------------------


def test_columns_bind_inputs_and_the_rest_get_a_note(tmp_path):
    graph = cgraph.load(SAMPLES / "mlp.cg")
    path = write_file(tmp_path / "d.csv", "x[1],x[ 2 ],id,targt\n1,2,3,4\n")
    binding = bind_columns(graph, DataFile(path))
    assert binding.names == ["x[1]", "x[2]"]
    assert binding.fields == [("x[1]", None), ("x[ 2 ]", None)]
    assert any("'id' is not an input" in n for n in binding.notes)
    assert any("'targt'" in n and "did you mean 'target'" in n for n in binding.notes)


def test_a_column_naming_a_computed_node_or_given_twice_is_an_error(tmp_path):
    graph = cgraph.load(SAMPLES / "intro.cg")
    with pytest.raises(cgraph.InputError, match="column 'p' is computed on line 3; only inputs"):
        bind_columns(graph, DataFile(write_file(tmp_path / "a.csv", "x,p\n1,2\n")))
    with pytest.raises(cgraph.InputError, match="'x' is given both as a column"):
        bind_columns(graph, DataFile(write_file(tmp_path / "b.csv", "x\n1\n")), given=("x",))


def test_params_may_not_be_columns_when_training(tmp_path):
    graph = cgraph.load(SAMPLES / "linreg.cg")
    path = write_file(tmp_path / "d.csv", "x,y,w\n1,2,3\n")
    assert bind_columns(graph, DataFile(path)).names == ["x", "y", "w"]
    with pytest.raises(cgraph.InputError, match="params are learned, not read from data"):
        bind_columns(graph, DataFile(path), params_ok=False)


def test_jsonl_lists_bind_indexed_inputs(tmp_path):
    graph = cgraph.load(SAMPLES / "rnn.cg")
    path = write_file(tmp_path / "d.jsonl", '{"x": [1, 2, 3, 4, 5], "target": 0.5}\n')
    binding = bind_columns(graph, DataFile(path))
    assert binding.names == ["x[1]", "x[2]", "x[3]", "x[4]", "x[5]", "target"]
    bad = write_file(tmp_path / "e.jsonl", '{"x": [1, 2], "target": 0.5}\n')
    with pytest.raises(cgraph.InputError, match="'x' has 5 indexed inputs"):
        bind_columns(graph, DataFile(bad))


# --- writing -------------------------------------------------------------------------------


def test_rows_written_read_back_as_the_same_floats():
    values = np.array([0.1, -1 / 3, 1e-300, 5e300, -0.0, math.inf, math.nan])
    for fmt in ("csv", "jsonl"):
        out = io.BytesIO()
        writer = RowWriter(out, fmt, "g", ["x", "w[1,2]"])
        writer.write(np.arange(2, 9), values, [values[::-1].copy(), values])
        text = out.getvalue().decode()
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == ["line", "g", "dg/dx", "dg/dw[1,2]"]
            back = [float(r[1]) for r in rows[1:]]
        else:
            objects = [json.loads(line) for line in text.splitlines()]  # strict: non-finite are strings
            assert objects[0]["line"] == 2 and list(objects[0]["gradients"]) == ["x", "w[1,2]"]
            back = [float(o["value"]) for o in objects]
        assert back[:6] == values[:6].tolist() and math.isnan(back[6])
        assert math.copysign(1, back[4]) == -1


# --- cgraph eval --data --------------------------------------------------------------------


def scalar_rows(graph_path: str, rows: list[dict[str, float]], **given) -> list[cgraph.Evaluation]:
    graph = cgraph.load(graph_path)
    return [cgraph.evaluate(graph, {**given, **row}) for row in rows]


def test_eval_data_writes_each_rows_value_and_gradients(cg, tmp_path):
    path = write_file(tmp_path / "d.csv", "x,y\n1,3\n2,-1\n\n0.5,0.25\n")
    code, out, err = cg("eval", INTRO, "--data", path, "--z", "-3")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["line", "g", "dg/dx", "dg/dy", "dg/dz"]
    assert [r["line"] for r in rows] == ["2", "3", "5"]
    expected = scalar_rows(INTRO, [{"x": 1, "y": 3}, {"x": 2, "y": -1}, {"x": 0.5, "y": 0.25}], z=-3)
    for row, ev in zip(rows, expected):
        assert float(row["g"]) == ev.value
        for name, g in ev.gradients.items():
            assert float(row[f"dg/d{name}"]) == g


def test_eval_data_jsonl_and_parameters_from_a_params_file(cg, tmp_path):
    data = write_file(tmp_path / "d.jsonl", '{"x": 1, "y": 2}\n{"x": -1, "y": 0}\n')
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"w": 2.0, "b": 0.5}))
    code, out, err = cg("eval", LINREG, "--data", data, "--params", params, "--format", "jsonl")
    assert code == 0, err
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["value"] for o in objects] == [(2 * 1 + 0.5 - 2) ** 2, (2 * -1 + 0.5 - 0) ** 2]
    assert objects[0]["gradients"]["w"] == 2 * (2 * 1 + 0.5 - 2) * 1


def test_eval_data_to_a_file_and_the_notes(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y,comment\n1,2,hi\n")
    target = tmp_path / "out.csv"
    code, out, err = cg("eval", LINREG, "--data", data, "-o", target)
    assert code == 0 and out == ""
    assert "note:" in err and "'comment' is not an input" in err and "wrote 1 row to" in err
    assert target.read_text().startswith("line,loss,dloss/dw,dloss/db,dloss/dx,dloss/dy\n2,4.0,")


def test_eval_data_to_a_file_fails_before_any_output_is_written(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\n" + "1,2\n" * 50 + "1,oops\n")
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--chunk-rows", "10", "-o", target)
    assert code == 2 and f"{data}:52:3: error: 'oops' in column 'y' is not a number" in err
    assert target.read_text() == "old\n"  # untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no temporary left
    # Standard output streams: the five chunks before the bad row's are written, then the error.
    code, out, err = cg("eval", LINREG, "--data", data, "--chunk-rows", "10")
    assert code == 2 and f"{data}:52:3: error:" in err
    assert [r["line"] for r in csv.DictReader(io.StringIO(out))] == [str(k) for k in range(2, 52)]


def test_eval_data_skip_leaves_bad_rows_out_with_a_warning(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n1,oops\n3,4\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--on-error", "skip")
    assert code == 0
    assert [r["line"] for r in csv.DictReader(io.StringIO(out))] == ["2", "4"]
    assert "skipped 1 bad row" in err and "line 3: 'oops' in column 'y' is not a number" in err


def test_eval_data_uses_the_same_random_params_as_a_scalar_eval(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x[1],x[2],target\n0,1,1\n")
    for seed in ("0", "7"):
        code, out, err = cg("eval", XOR, "--data", data, "--seed", seed)
        row = next(csv.DictReader(io.StringIO(out)))
        scalar = cgraph.evaluate(cgraph.load(XOR, seed=int(seed)), {"x[1]": 0, "x[2]": 1, "target": 1})
        assert float(row["loss"]) == pytest.approx(scalar.value, rel=1e-12)
        code, out, err = cg("eval", XOR, "--seed", seed, "--format", "json", "--show", "inputs")
        assert json.loads(out)["value"] == scalar.value


def test_eval_data_non_finite_rows_warn_with_their_origin(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x\n1\n-1\n-2\n")
    code, out, err = cg("eval", "-e", "y = log(x) * 2", "--data", data)
    assert code == 0
    assert "<expr>:1:5: warning: 'log(x)' is inf or nan in 2 rows (first at " in err and "d.csv:3)" in err
    code, out, err = cg("eval", "-e", "y = log(x) * 2", "--data", data, "--strict")
    assert code == 1 and "'log(x)' is inf or nan for the row at" in err and out == ""


@pytest.mark.parametrize("argv, message", [
    (["--data", "{d}", "--format", "table"], "with --data, --format is csv or jsonl, not table"),
    (["--chunk-rows", "10"], "--chunk-rows goes with --data FILE"),
    (["--on-error", "skip"], "--on-error goes with --data FILE"),
    (["--format", "jsonl"], "--format jsonl goes with --data FILE"),
    (["--data", "{d}", "--x", "1"], "'x' is given both as a column"),
    (["--data", "{d}", "--params", "{d}"], "invalid JSON"),
])
def test_eval_data_usage_errors(cg, tmp_path, argv, message):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n")
    code, out, err = cg("eval", LINREG, *[a.format(d=data) for a in argv])
    assert code == 2 and message in err and out == ""


def test_eval_data_missing_input_names_the_data_file(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x\n1\n")
    code, out, err = cg("eval", INTRO, "--data", data)
    assert code == 2 and "missing values for y, z" in err and f"give values as columns of {data}" in err


def test_eval_output_to_a_file_without_data(cg, tmp_path):
    target = tmp_path / "r.json"
    code, out, err = cg("eval", INTRO, "--x", "1", "--y", "3", "--z", "-3", "--format", "json", "-o", target)
    assert code == 0 and out == "" and json.loads(target.read_text())["value"] == -12.0


def test_eval_data_refuses_to_overwrite_its_inputs(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n")
    code, out, err = cg("eval", LINREG, "--data", data, "-o", data)
    assert code == 2 and f"-o {data} would overwrite --data {data}" in err
    assert Path(data).read_text() == "x,y\n1,2\n"


def test_streaming_many_rows_keeps_memory_bounded(tmp_path):
    """200,000 rows in chunks of 1,000: the peak of traced allocations stays far below what
    holding the rows (or the output) would take."""
    rows = 200_000
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-1, 1, rows), rng.uniform(-1, 1, rows)
    data = tmp_path / "big.csv"
    with open(data, "w") as f:
        f.write("x,y\n")
        f.write("".join(f"{x:.6f},{y:.6f}\n" for x, y in zip(xs.tolist(), ys.tolist())))
    target = tmp_path / "out.csv"
    tracemalloc.start()
    try:
        code = run(["eval", LINREG, "--data", str(data), "--chunk-rows", "1000", "-o", str(target), "--w", "3", "--b", "1"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    size = os.path.getsize(target)
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MB for {rows} rows ({size / 2**20:.0f} MB of output)"
    assert size > 10 * 2**20
    with open(target) as f:
        header, first = f.readline(), f.readline()
        last = f.readlines()[-1]
    assert header.startswith("line,loss") and first.startswith("2,") and last.startswith(f"{rows + 1},")
    loss = float(last.split(",")[1])
    assert loss == pytest.approx((3 * float(f"{xs[-1]:.6f}") + 1 - float(f"{ys[-1]:.6f}")) ** 2, rel=1e-12)


def test_eval_data_from_parquet(cg, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [3.0, None]}), str(path))
    code, out, err = cg("eval", LINREG, "--data", path, "--w", "2", "--on-error", "skip")
    assert code == 0 and "skipped 1 bad row" in err and "row 2: missing value for 'y'" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[0] == "row" and [r["row"] for r in rows] == ["1"]
    assert float(rows[0]["loss"]) == (2 * 1 + 0 - 3) ** 2


def test_without_numpy_data_is_a_one_line_error(cg, hide_module):
    hide_module("numpy")
    code, out, err = cg("eval", LINREG, "--data", SAMPLES / "linreg.csv")
    assert code == 1 and out == ""
    assert err.splitlines() == ["error: batches and training need NumPy, which is not installed",
                                "  hint: pip install 'cgraph[batch]' (or pip install numpy)"]
    code, out, err = cg("train", LINREG, "--data", SAMPLES / "linreg.csv")
    assert code == 1 and "need NumPy" in err


def test_jsonl_a_key_given_twice_is_located_at_its_second_appearance(tmp_path):
    """As a CSV header naming a column twice is refused, a JSON Lines row may not give a key
    twice (json would keep the last without a word): on the first row too, and with
    --on-error skip the row is skipped and counted."""
    first = write_file(tmp_path / "first.jsonl", '{"x": 1, "y": 2, "x": 3}\n')
    with pytest.raises(DataError) as info:
        read_all(first, [("x", None), ("y", None)])
    assert (info.value.line, info.value.location.column) == (1, 18) and "'x' is given twice" in info.value.message
    later = write_file(tmp_path / "later.jsonl", '{"x": 1, "y": 2}\n{"y": 5, "x": 3, "x": 4}\n{"x": 6, "y": 7}\n')
    columns, _, skipped = read_all(later, [("x", None), ("y", None)], on_error="skip")
    assert columns[0] == [1.0, 6.0] and skipped
