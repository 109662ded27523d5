"""`--data` naming a directory or a glob: the files in sorted order read as one (the local
engine; tests/test_dask.py runs the same data sets on a Dask cluster)."""

from __future__ import annotations

import csv
import json

from support.paths import SAMPLES

LINREG = SAMPLES / "linreg.cg"


def _split(tmp_path, sizes):
    rows = (SAMPLES / "linreg.csv").read_text().splitlines()
    header, body, start = rows[0], rows[1:], 0
    for k, n in enumerate(sizes):
        (tmp_path / f"part-{k}.csv").write_text("\n".join([header, *body[start:start + n]]) + "\n")
        start += n
    return start


def test_a_directory_and_a_glob_read_the_files_in_order_as_one(cg, tmp_path):
    used = _split(tmp_path, [50, 1, 149])
    whole = cg("eval", LINREG, "--data", SAMPLES / "linreg.csv").out.splitlines()
    for spec in (tmp_path, f"{tmp_path}/part-*.csv"):
        result = cg("eval", LINREG, "--data", spec)
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert len(lines) == used + 1
        # The same rows in the same order; each file numbers its own lines.
        assert [line.split(",")[1:] for line in lines] == [line.split(",")[1:] for line in whole]
        assert [line.split(",")[0] for line in lines[50:53]] == ["51", "2", "2"]


def test_training_on_a_directory_is_training_on_the_rows_joined(cg, tmp_path):
    _split(tmp_path, [120, 80])
    args = ["--lr", "0.5", "--epochs", "5"]
    whole = cg("train", LINREG, "--data", SAMPLES / "linreg.csv", *args)
    parts = cg("train", LINREG, "--data", tmp_path, *args)
    assert parts.code == whole.code == 0
    assert parts.out.splitlines()[-1] == whole.out.splitlines()[-1]


def test_a_glob_matching_nothing_is_exit_2(cg, tmp_path):
    result = cg("eval", LINREG, "--data", f"{tmp_path}/*.parquet")
    assert result.code == 2
    assert "matches no file" in result.err


def test_a_directory_without_data_files_is_exit_2(cg, tmp_path):
    (tmp_path / "notes.txt").write_text("x\n")
    result = cg("eval", LINREG, "--data", tmp_path)
    assert result.code == 2
    assert "holds no data files" in result.err


def test_a_file_with_other_columns_is_named(cg, tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,z\n1,2\n")
    result = cg("eval", LINREG, "--data", tmp_path)
    assert result.code == 2
    assert "b.csv has other columns than" in result.err and "no column 'y'" in result.err


def test_a_bad_row_names_its_file_and_line(cg, tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "b.csv").write_text("x,y\n1,2\n3,zz\n")
    result = cg("eval", LINREG, "--data", tmp_path)
    assert result.code == 2
    assert f"{tmp_path / 'b.csv'}:3" in result.err


def test_inf_and_nan_are_placed_in_their_file(cg, tmp_path):
    program = tmp_path / "p.cg"
    program.write_text("input x\ninput y\nr = log(x) * y\n")
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "b.csv").write_text("x,y\n3,4\n0,1\n")
    warned = cg("eval", program, "--data", data)
    assert f"'log(x)' is inf or nan in 1 row (first at {data / 'b.csv'}:3)" in warned.err
    strict = cg("eval", program, "--data", data, "--strict")
    assert strict.code == 1 and f"for the row at {data / 'b.csv'}:3" in strict.err


def test_the_local_engine_never_imports_dask():
    import subprocess
    import sys

    code = ("import sys\nfrom cgraph.cli import run\n"
            f"run(['eval', {str(LINREG)!r}, '--data', {str(SAMPLES / 'linreg-parts')!r}, '-o', '/dev/null'])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


def test_local_engine_writes_the_format_its_output_suffix_names(cg, tmp_path):
    """-o rows.parquet / rows.jsonl on the local engine: that format, the same numbers as CSV
    (a CSV written into a .parquet file would be silently unreadable as one)."""
    import pyarrow.parquet as pq

    program = SAMPLES / "linreg.cg"
    data_dir = SAMPLES / "linreg-parts"
    csv_out, jsonl_out, parquet_out = tmp_path / "rows.csv", tmp_path / "rows.jsonl", tmp_path / "rows.parquet"
    for out in (csv_out, jsonl_out, parquet_out):
        result = cg("eval", str(program), "--data", str(data_dir), "-o", str(out))
        assert result.code == 0, result.err
    with open(csv_out, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    table = pq.read_table(parquet_out)
    assert parquet_out.read_bytes()[:4] == b"PAR1"
    assert table.column_names == header
    for k, name in enumerate(header):
        column = table.column(name).to_pylist()
        assert column == [int(r[k]) if k == 0 else float(r[k]) for r in body]
    lines = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert [line["line"] for line in lines] == [int(r[0]) for r in body]
    assert [line["value"] for line in lines] == [float(r[1]) for r in body]
    # --format wins over the suffix.
    forced = tmp_path / "forced.parquet"
    assert cg("eval", str(program), "--data", str(data_dir), "-o", str(forced), "--format", "csv").code == 0
    assert forced.read_text().splitlines()[0] == ",".join(header)


def test_no_output_lands_on_or_inside_a_data_set(cg, tmp_path):
    """A --data directory or glob is every file in it: -o or --save may neither replace one
    nor add a file the set would read next time; the data stays as it was."""
    import shutil

    parts = tmp_path / "parts"
    shutil.copytree(SAMPLES / "linreg-parts", parts)
    before = {p.name: p.read_bytes() for p in parts.iterdir()}
    member = sorted(before)[0]
    cases = [
        ("eval", LINREG, "--data", parts, "-o", parts / member),
        ("eval", LINREG, "--data", parts, "-o", parts / "new.csv"),
        ("eval", LINREG, "--data", str(parts / "*.csv"), "-o", parts / "zz.csv"),
        ("train", LINREG, "--data", parts, "--epochs", "1", "--save", parts / member),
        ("train", LINREG, "--data", str(parts / "part-*"), "--epochs", "1", "--log", parts / "part-9.csv"),
    ]
    for args in cases:
        result = cg(*args)
        assert result.code == 2, (args, result.err)
        assert "give" in result.err and "another file" in result.err or "outside it" in result.err, result.err
    assert {p.name: p.read_bytes() for p in parts.iterdir()} == before
    # Beside the set, or a name it does not read, is fine.
    assert cg("eval", LINREG, "--data", parts, "-o", tmp_path / "rows.csv").code == 0


def test_a_dask_run_refused_before_it_starts_leaves_no_output_directory(cg, tmp_path):
    """-o DIR/ is made only once the data and inputs are known good."""
    out = tmp_path / "out"
    result = cg("eval", LINREG, "--data", str(tmp_path / "none-*.csv"), "--engine", "dask", "-o", f"{out}/")
    assert result.code == 2, result.err
    assert not out.exists()
