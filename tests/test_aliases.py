"""A name given to a node that already has one (`g = f`) is one more name of that node.

Whatever the node is (a named constant, an input, a param, a loop-local name, the value of
a user function's parameter, an indexed name), d out / d name is d out / d node: the sum
over every use of every name of it. A named constant is its own node, never the shared
node of a literal with the same value written elsewhere (`f = 3` and a later `+ 3`).

Each case is checked against a hand-worked value and against a central difference taken
by rebuilding the program with the constant moved (f = 3 ± h), on eval (every format and
--show), explain, check, render's DOT and the batch evaluator (Plan, eval --data).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

import pytest

import cgraph
from cgraph.views import explain
from cgraph.engine.gradient_check import gradcheck
from cgraph.engine.evaluator import forward

H = 1e-5


@dataclass(frozen=True)
class Case:
    id: str
    program: str  # with {c}: the named constant's value, moved for the central difference
    inputs: dict
    grads: dict  # name -> d out / d name, worked by hand at c = 3
    c: float = 3.0

    def source(self, c: float | None = None) -> str:
        return self.program.replace("{c}", repr(self.c if c is None else c))

    def graph(self, c: float | None = None) -> cgraph.Graph:
        return cgraph.parse(self.source(c))


# Programs where moving the constant `c` moves every name listed in `grads` (they are all
# that one node), so the central difference of the rebuilt program is each one's gradient.
CONSTANT_CASES = [
    Case("chain", "f = {c}\ng = f\ny = g*x", {"x": 2}, {"f": 2, "g": 2}),
    Case("output-is-alias", "f = {c}\ny = f", {}, {"f": 1, "y": 1}),
    Case("bare-output", "f = {c}\nf", {}, {"f": 1, "out": 1}),
    Case("equal-literal-after", "f = {c}\ny = f*x + 3", {"x": 2}, {"f": 2}),
    Case("equal-literal-before", "y0 = 3*x\nf = {c}\ny = f*x + y0", {"x": 2}, {"f": 2}),
    Case("literal-in-same-chain", "f = {c}\ng = f\ny = g*g + 3*g + 3", {}, {"f": 9, "g": 9}),
    Case("loop-local", "f = {c}\nfor t in 1..3 {\n  z = f\n  y[t] = z*x*t\n}\ns = y[1] + y[2] + y[3]", {"x": 2},
         {"f": 12, "z@t=1": 12, "z@t=3": 12}),
    Case("function-parameter", "def k(a) = a\nf = {c}\ng = k(f)\ny = g*x", {"x": 2}, {"f": 2, "g": 2}),
    Case("function-of-literal", "def k(a) = a\ng = k({c})\ny = g*x + 3", {"x": 2}, {"g": 2}),
    Case("indexed", "h[0] = {c}\nfor t in 1..3 {\n  h[t] = h[t-1]\n}\ny = h[3]*x", {"x": 2},
         {"h[0]": 2, "h[1]": 2, "h[3]": 2}),
    Case("indexed-alias-of-named", "f = {c}\nw[1, 2] = f\ny = w[1][2]^2", {}, {"f": 6, "w[1,2]": 6}),
    Case("output-statement", "f = {c}\ng = f\ny = g*x\noutput g", {"x": 2}, {"f": 1, "g": 1, "x": 0}),
    Case("declared-input", "input f = {c}\ng = f\ny = g*x", {"x": 2}, {"f": 2, "g": 2}),
    Case("param", "param f = {c}\ng = f\ny = g*x*g", {"x": 2}, {"f": 12, "g": 12}),
]
CONSTANT_IDS = [case.id for case in CONSTANT_CASES]


def central(case: Case, output: str | None = None) -> float:
    """d out / d c by rebuilding the program with c moved by ±h."""
    up = cgraph.evaluate(case.graph(case.c + H), case.inputs, output=output).value
    down = cgraph.evaluate(case.graph(case.c - H), case.inputs, output=output).value
    return (up - down) / (2 * H)


def args_of(inputs: dict) -> list[str]:
    return [a for name, value in inputs.items() for a in ("--input", f"{name}={value}")]


# --- the library: hand-worked values and central differences ----------------------------


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=CONSTANT_IDS)
def test_every_name_of_the_node_has_its_gradient(case):
    ev = cgraph.evaluate(case.graph(), case.inputs)
    for name, expected in case.grads.items():
        assert ev.grad(name) == pytest.approx(expected, rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=CONSTANT_IDS)
def test_gradients_match_central_differences_of_the_rebuilt_program(case):
    ev = cgraph.evaluate(case.graph(), case.inputs)
    numeric = central(case)
    moved = [name for name in case.grads if ev.graph.names[name] == ev.graph.names[next(iter(case.grads))]]
    for name in moved:
        assert ev.grad(name) == pytest.approx(numeric, rel=1e-6, abs=1e-6), name


def test_aliases_are_one_node_and_a_named_constant_is_not_a_literal():
    graph = cgraph.parse("f = 3\ng = f\ny = g*x + 3\nz = 3")
    assert graph.names["f"] == graph.names["g"]
    assert graph.node_names[graph.names["f"]] == ("f", "g")
    literal = graph.args[graph.names["y"]][1]
    assert graph.ops[literal] == "const" and graph.is_literal(literal)
    assert literal != graph.names["f"] and graph.names["z"] not in (literal, graph.names["f"])
    assert graph.constants == {"f": graph.names["f"], "z": graph.names["z"]}


def test_a_loop_variable_named_in_each_iteration_is_its_own_node():
    """z@t=1 and z@t=2 are the constants 1 and 2, each its own node, not the literal 1."""
    graph = cgraph.parse("for t in 1..2 {\n  z = t\n  y[t] = z*x + 1\n}\ns = y[1] + y[2]")
    ev = cgraph.evaluate(graph, {"x": 2})
    z1, z2 = graph.names["z@t=1"], graph.names["z@t=2"]
    assert len({z1, z2}) == 2 and not graph.is_literal(z1)
    assert ev.grad("z@t=1") == ev.grad("z@t=2") == 2
    for node in (z1, z2):  # moving one iteration's constant alone
        up = forward(graph, {"x": 2}, constants={node: ev.values[node] + H})[graph.output]
        down = forward(graph, {"x": 2}, constants={node: ev.values[node] - H})[graph.output]
        assert ev.grads[node] == pytest.approx((up - down) / (2 * H), rel=1e-6)


def test_a_named_constant_inside_a_loop_is_one_node_per_iteration():
    case = Case("", "for t in 1..2 {\n  c = {c}\n  y[t] = c*x*t\n}\ns = y[1] + y[2]", {"x": 2}, {})
    ev = cgraph.evaluate(case.graph(), case.inputs)
    assert (ev.grad("c@t=1"), ev.grad("c@t=2")) == (2, 4)
    assert ev.grad("c@t=1") + ev.grad("c@t=2") == pytest.approx(central(case), rel=1e-6)


def test_input_and_param_aliases():
    graph = cgraph.parse("param w = 0.5\nv = w\ng = x\ny = v*g*x + g")
    ev = cgraph.evaluate(graph, {"x": 2})
    assert ev.grad("w") == ev.grad("v") == 4  # x*x
    assert ev.grad("x") == ev.grad("g") == 2 * 0.5 * 2 + 1


# --- eval: every format and --show --------------------------------------------------------


def _grad(cell: str) -> float | None:
    return None if cell in ("", "-") else float(cell)


def named_rows_json(out: str) -> dict[str, tuple[float, float]]:
    return {name: (node["value"], node["grad"]) for node in json.loads(out)["nodes"] for name in node["names"]}


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=CONSTANT_IDS)
@pytest.mark.parametrize("show", ["named", "all"])
def test_eval_reports_every_name_in_every_format(cg, case, show):
    args = ("eval", "-e", case.source(), *args_of(case.inputs), "--show", show)
    code, out, err = cg(*args, "--format", "json")
    assert code == 0, err
    rows = named_rows_json(out)
    code, plain, _ = cg(*args, "--format", "plain")
    # A literal's row (`#id`, with --show all) has no gradient: `-` in plain, blank in CSV and the table.
    plain_rows = {line.split()[0]: _grad(line.split()[2]) for line in plain.splitlines()}
    code, csv_text, _ = cg(*args, "--format", "csv")
    csv_rows = {row["name"]: _grad(row["grad"]) for row in csv.DictReader(io.StringIO(csv_text))}
    code, table, _ = cg(*args, "--format", "table")
    table_rows = {cells[0]: _grad(cells[-1]) for line in table.splitlines()
                  if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 5 and cells[0] != "node"}
    for name, expected in case.grads.items():
        assert rows[name][1] == pytest.approx(expected, abs=1e-12), ("json", name)
        assert plain_rows[name] == pytest.approx(expected, abs=1e-12), ("plain", name)
        assert csv_rows[name] == pytest.approx(expected, abs=1e-12), ("csv", name)
        assert table_rows[name] == pytest.approx(expected, abs=1e-9), ("table", name)


def test_eval_show_inputs_lists_each_leaf_once(cg):
    code, out, _ = cg("eval", "-e", "g = x\nh = g\ny = h*x", "--x", "2", "--show", "inputs", "--format", "plain")
    assert code == 0
    assert out.splitlines() == ["x 2.0 4.0", "y 4.0 1.0"]


@pytest.mark.parametrize("case", [c for c in CONSTANT_CASES if "g" in c.grads], ids=lambda c: c.id)
def test_output_may_be_an_alias(cg, case):
    code, out, err = cg("eval", "-e", case.source(), *args_of(case.inputs), "--output", "g", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == "g" and data["value"] == case.c
    assert named_rows_json(out)["g"][1] == 1.0
    g = case.graph().names["g"]
    assert data["gradients"] == {name: float(case.graph().names[name] == g) for name in data["inputs"]}


# --- explain ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=CONSTANT_IDS)
def test_explain_has_a_step_for_every_name(cg, case):
    graph = case.graph()
    ev = cgraph.evaluate(graph, case.inputs)
    exp = explain.steps(ev, only="backward")
    by_node = {s.node: s for s in exp.steps}
    code, text, err = cg("explain", "-e", case.source(), *args_of(case.inputs))
    assert code == 0, err
    out = ev.output_name
    numeric = central(case)
    upstream = graph.upstream(graph.output)
    for name, expected in case.grads.items():
        if not upstream[graph.names[name]]:
            continue  # the output does not depend on it: no step
        step = by_node[graph.names[name]]
        assert name == step.name or name in step.aliases
        assert step.grad == pytest.approx(expected, abs=1e-12)
        if graph.names[name] == graph.names[next(iter(case.grads))]:
            assert step.grad == pytest.approx(numeric, rel=1e-6, abs=1e-6)
        # the text names it: its own step, or the line saying it is another name
        d = f"d{out}/d{name}" if re.fullmatch(r"\w+", name) else f"d{out}/d{name}"
        assert re.search(rf"{re.escape(d)}(:| =)", text), (name, text)
    code, md, _ = cg("explain", "-e", case.source(), *args_of(case.inputs), "--format", "markdown")
    assert code == 0
    for name in case.grads:
        if upstream[graph.names[name]] and re.fullmatch(r"[a-z0-9]+", name):
            # as math: a letter, a letter with a subscript (x_{1}), or a word set upright
            forms = [rf"\partial {name}}}", rf"\partial \mathrm{{{name}}}}}",
                     rf"\partial {name[0]}_{{{name[1:]}}}}}"]
            assert any(form in md for form in forms), (name, md)


def test_explain_of_a_named_constant_output_is_not_empty(cg):
    code, out, err = cg("explain", "-e", "f = 3\ny = f")
    assert code == 0, err
    assert "dy/dy = 1" in out and "dy/df = 1" in out


def test_explain_names_a_named_constant_in_its_expression(cg):
    code, out, _ = cg("explain", "-e", "f = 3\ng = f\ny = g*x + 3", "--x", "2")
    assert "g*x = f * x = 3 * 2 = 6" in out  # the node by its name, not as the number 3
    assert "dy/df = dy/d(g*x) * d(g*x)/df|local = 1 * x = 1 * 2 = 2" in out
    assert "g is another name of f, so dy/dg = 2" in out


# --- check --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CONSTANT_CASES, ids=CONSTANT_IDS)
def test_check_moves_named_constants_too(case):
    graph = case.graph()
    rows = {row.name: row for row in gradcheck(graph, case.inputs)}
    for name, expected in case.grads.items():
        first = graph.name_of(graph.names[name])
        row = rows[first]
        assert row.status == "OK" and row.analytic == pytest.approx(expected, abs=1e-12), (name, row)
        assert row.numeric == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_check_cli_lists_named_constants(cg):
    code, out, err = cg("check", "-e", "f = 3\ng = f\ny = g*x", "--x", "2", "--format", "json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)["rows"]}
    assert set(rows) == {"x", "f"}
    assert rows["f"]["analytic"] == 2.0 and rows["f"]["status"] == "OK"


# --- render: the gradients on the edges -----------------------------------------------------


def edge_grads(dot: str, tail: str) -> list[float]:
    """The gradient (the red number) on each edge leaving `tail` in DOT text."""
    found = []
    for line in dot.splitlines():
        m = re.match(rf"\s*{re.escape(tail)} -> \S+ \[label=<(.*)>\]", line)
        if m:
            reds = re.findall(r'<font color="#c62828">([^<]*)</font>', m.group(1))
            found.extend(float(r) for r in reds)
    return found


@pytest.mark.parametrize("program,inputs,node,expected", [
    ("g = x\ny = g*x + g", {"x": 2}, "v_x", 5.0),
    ("param w = 0.5\nv = w\ny = v*x*v", {"x": 2}, "v_w", 2.0),
    ("for t in 1..2 {\n  z = x\n  y[t] = z*t\n}\ns = y[1] + y[2]", {"x": 2}, "v_x", 3.0),
    # named constants are drawn with their gradient, like inputs (literals are not)
    ("f = 3\ng = f\ny = g*x", {"x": 2}, "v_f", 2.0),
    ("f = 3\ny = f*x + f*f", {"x": 2}, "v_f", 8.0),
])
def test_render_edges_carry_the_aliased_nodes_gradient(cg, tmp_path, program, inputs, node, expected):
    target = tmp_path / "g.dot"
    code, _, err = cg("render", "-e", program, *args_of(inputs), "--annotate", "grads", "-o", target)
    assert code == 0, err
    assert sum(edge_grads(target.read_text(), node)) == pytest.approx(expected)


# --- batches: Plan and eval --data --------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in CONSTANT_CASES if "x" in c.inputs], ids=lambda c: c.id)
def test_batch_rows_match_the_scalar_evaluation(case):
    np = pytest.importorskip("numpy")
    from cgraph.engine.batch import Plan

    graph = case.graph()
    xs = np.array([2.0, -1.5, 0.25])
    for output in (None, *[n for n in case.grads if n in graph.names]):
        plan = Plan(graph, ["x"], output=output)
        result = plan.run(plan.bind({}), [xs])
        for k, x in enumerate(xs):
            ev = cgraph.evaluate(graph, {"x": float(x)}, output=output)
            assert result.value[k] == ev.value
            assert result.grads["x"][k] == ev.grad("x")


def test_eval_data_with_an_alias_output(cg, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n2\n3\n")
    code, out, err = cg("eval", "-e", "f = 3\ng = f\ny = g*x*x", "--data", data, "--format", "jsonl")
    assert code == 0, err
    assert [json.loads(line)["gradients"]["x"] for line in out.splitlines()] == [12.0, 18.0]
    code, out, err = cg("eval", "-e", "g = x\ny = g*x", "--data", data, "--format", "jsonl", "--output", "g")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["value"], r["gradients"]["x"]) for r in rows] == [(2.0, 1.0), (3.0, 1.0)]


def test_explain_and_check_differentiate_an_alias_output(cg):
    program = "f = 3\ng = f\ny = g*x"
    code, out, err = cg("explain", "-e", program, "--x", "2", "--output", "g")
    assert code == 0, err
    assert "dg/dg = 1" in out and "f is another name of g, so dg/df = 1" in out
    code, out, err = cg("check", "-e", program, "--x", "2", "--output", "g", "--format", "json")
    assert code == 0, err
    rows = {r["name"]: (r["analytic"], r["numeric"]) for r in json.loads(out)["rows"]}
    assert rows == {"x": (0.0, 0.0), "f": (1.0, pytest.approx(1.0))}


# --- many names of one node ------------------------------------------------------------------


def test_a_loop_of_aliases_names_one_node_in_linear_work():
    # Each `h[t] = x` is one more name of the input x. Adding a name used to copy the node's
    # tuple of names, so 1e6 iterations (well within the unrolling budget) ran for tens of
    # minutes; 200,000 here took minutes then and a second now.
    n = 200_000
    graph = cgraph.parse(f"for t in 1..{n} {{ h[t] = x }}\ny = h[{n}]*2")
    x = graph.names["x"]
    assert graph.names["h[1]"] == graph.names[f"h[{n}]"] == x
    names = graph.node_names[x]
    assert len(names) == n + 1 and names[0] == "x" and names[-1] == f"h[{n}]"
    ev = cgraph.evaluate(graph, {"x": 1.5})
    assert ev.values[ev.output] == 3.0 and ev.grads[x] == 2.0
