"""Where inf and nan start, over the rows of a batch: every origin in every row, each
reported once with its row count and first row, the data's own inf/nan blamed on the
data; the same nodes, row by row, as the scalar evaluator's warnings."""

from __future__ import annotations

import re

import numpy as np
import pytest

import cgraph
from cgraph.engine.batch import Plan

from support.files import write_file
from support.paths import ROOT

LINREG = str(ROOT / "samples" / "linreg.cg")

# Each node can go non-finite on its own, from finite arguments, in some rows.
PROGRAM = """\
param w = 2
input x = 1
input y = 1
a = exp(x)
b = log(y)
c = w*x*y
d = a + b + c
loss = d / (1 + y*y)
"""
POOL = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 0.0, -1.0, 1.0, 2.0, 800.0, -800.0, 1e200]


def node_warnings(err: str) -> dict[str, tuple[int, str]]:
    """Batch warnings of values: 'place' (a program location or a data column) -> (rows, first row)."""
    found = {}
    for line in err.splitlines():
        m = re.match(r"(.*?):? ?warning: (column '[^']*' of \S+ )?.*is inf or nan in (\d+) rows? \(first at (.*)\)$", line)
        if m:
            key = m.group(2).split(" of ")[0] if m.group(2) else m.group(1)
            assert key not in found, f"reported twice: {line}"
            found[key] = (int(m.group(3)), m.group(4))
    return found


def test_an_overflow_in_one_row_is_reported_when_another_row_has_a_nan_input(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\nnan,1\n1e308,1\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--w", "2")
    assert code == 0
    assert f"warning: column 'x' of {data} is inf or nan in 1 row (first at {data}:2)" in err
    assert f"'w*x' is inf or nan in 1 row (first at {data}:3)" in err
    # With w = 0 the value is finite but the gradient d loss/d w = 2*(pred - y)*x overflows.
    code, out, err = cg("eval", LINREG, "--data", data)
    assert f"warning: column 'x' of {data} is inf or nan in 1 row (first at {data}:2)" in err
    assert f"'w*x' makes a gradient inf or nan in 1 row (first at {data}:3)" in err
    assert "'x' is inf or nan" not in err.replace("column 'x'", "")  # the input is not blamed as a node


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk", ["3", "1000"])
def test_batch_warnings_match_the_scalar_evaluator_row_by_row(cg, tmp_path, seed, chunk):
    program = write_file(tmp_path / "model.cg", PROGRAM)
    graph = cgraph.load(str(program))
    rng = np.random.default_rng(seed)
    rows = [(POOL[rng.integers(len(POOL))], POOL[rng.integers(len(POOL))]) for _ in range(25)]
    data = write_file(tmp_path / "d.csv", "x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in rows))
    # Expected: for every node the scalar evaluator warns about in a row, its count and first row.
    input_location = {str(graph.location(graph.inputs[n])): n for n in ("x", "y")}
    expected: dict[str, list] = {}
    for r, (x, y) in enumerate(rows):
        for warning in cgraph.evaluate(graph, {"x": x, "y": y}).warnings:
            place = warning.split(": warning: ")[0]
            key = f"column '{input_location[place]}'" if place in input_location else place
            entry = expected.setdefault(key, [0, f"{data}:{r + 2}"])
            entry[0] += 1
    assert len(expected) >= 3  # the draw exercises several origins
    code, out, err = cg("eval", program, "--data", data, "--chunk-rows", chunk)
    assert code == 0
    assert node_warnings(err) == {k: tuple(v) for k, v in expected.items()}


def test_the_tally_counts_every_origin_of_every_chunk_once_per_node():
    from cgraph.engine.batch import NonFiniteTally

    graph = cgraph.parse("a = log(x)\nb = exp(x)\nout = a + b")
    plan = Plan(graph, ["x"])
    base = plan.bind({})
    tally = NonFiniteTally()
    chunks = [np.array([1.0, -1.0, 800.0]), np.array([2.0, 900.0]), np.array([-2.0, 1.0])]
    lines = [np.array([2, 3, 4]), np.array([5, 6]), np.array([7, 8])]
    for column, line in zip(chunks, lines):
        tally.add(plan.non_finite_origins(base, [column]), line)
    found = {graph.text_of(node): (kind, count, first) for node, kind, count, first, _ in tally.items()}
    assert found == {"log(x)": ("value", 2, 3), "exp(x)": ("value", 2, 4)}


def test_every_origin_of_a_chunk_is_found_not_only_the_first():
    graph = cgraph.parse("a = x + 1\nb = log(a)\nc = b * 2\nout = c + exp(x)")
    plan = Plan(graph, ["x"])
    origins = plan.non_finite_origins(plan.bind({}), [np.array([0.0, -3.0, 1.0, -5.0, 800.0, np.nan])])
    found = [(o.kind, graph.text_of(o.node), o.rows.tolist()) for o in origins]
    assert found == [("value", "x", [5]), ("value", "log(a)", [1, 3]), ("value", "exp(x)", [4])]


def test_gradient_origins_are_looked_for_in_the_rows_whose_values_are_finite():
    graph = cgraph.parse("param w = 1\nr = sqrt(x)\nout = r * w + log(x + 1)")
    plan = Plan(graph, ["x"], wrt=["w", "x"])
    origins = plan.non_finite_origins(plan.bind({}), [np.array([4.0, 0.0, -2.0, 0.0])])
    found = [(o.kind, graph.text_of(o.node), o.rows.tolist()) for o in origins]
    # Row 2: sqrt(-2) is nan (a value origin); rows 1 and 3: sqrt's derivative at 0 is inf.
    assert found == [("value", "sqrt(x)", [2]), ("value", "log(x + 1)", [2]), ("gradient", "sqrt(x)", [1, 3])]


def test_the_all_finite_path_never_diagnoses(cg, tmp_path, monkeypatch):
    data = write_file(tmp_path / "d.csv", "x,y\n" + "".join(f"{k},{k + 1}\n" for k in range(100)))

    def fail(*args, **kwargs):
        raise AssertionError("diagnosed a finite chunk")

    monkeypatch.setattr(Plan, "non_finite_origins", fail)
    code, out, err = cg("eval", LINREG, "--data", data, "--chunk-rows", "7")
    assert code == 0 and "warning" not in err


def test_a_row_shared_input_that_is_nan_is_reported_once_over_all_rows(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n3,4\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--w", "nan")
    assert code == 0
    assert f"warning: the input 'w' is inf or nan in 2 rows (first at {data}:2)" in err
    assert err.count("warning:") == 1


def test_strict_names_a_data_column_as_the_data(cg, tmp_path):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\ninf,4\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--strict")
    assert code == 1 and f"column 'x' of {data} is inf or nan in the row at {data}:3" in err


def test_train_names_every_node_where_inf_or_nan_starts(cg, tmp_path):
    program = write_file(tmp_path / "m.cg", "param w = 1\ninput x = 1\ninput y = 1\nr = log(w*x)\ns = exp(y)\nloss = (r - s)^2\n")
    data = write_file(tmp_path / "d.csv", "x,y\n1,0\n-1,0\n2,800\n3,0\n")
    code, out, err = cg("train", program, "--data", data, "--epochs", "1")
    assert code == 1
    assert "'log(w*x)' (r)" in err and f"(first at {data}:3)" in err
    assert "'exp(y)' (s) in 1 row" in err and f"(first at {data}:4)" in err


@pytest.mark.parametrize("show", ["all", "named", "inputs"])
def test_show_with_data_is_refused_not_ignored(cg, tmp_path, show):
    data = write_file(tmp_path / "d.csv", "x,y\n1,2\n")
    code, out, err = cg("eval", LINREG, "--data", data, "--show", show)
    assert code == 2 and f"--show {show} goes with one evaluation" in err and out == ""
    code, out, err = cg("eval", LINREG, "--data", data)
    assert code == 0 and out.startswith("line,loss,")
