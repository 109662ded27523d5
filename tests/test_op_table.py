"""The op table (cgraph/ops.py) is the only place that knows an op.

Part 1 registers an op the program has never seen, a leaky relu, and shows that parsing,
scalar evaluation, batch evaluation, diagrams, explanations, the gradient check and the
property tests' program generator all pick it up with no other edit. Part 2 enumerates
the table and checks that each consumer's behaviour is the table's, op by op. Part 3
scans the package: outside ops.py no comparison spells an op or a leaf kind.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings

import cgraph
from cgraph import ops
from cgraph.batch import Plan
from cgraph.engine.gradient_check import gradcheck
from cgraph.errors import CgraphError
from cgraph.views import explain, render
from cgraph.views.render import style
from support import programs as generator
from support.paths import PACKAGE


# --- 1. a new op, registered at run time ---------------------------------------------------

SLOPE = 0.1
LEAKY = ops.Op(
    "leaky_relu", "LReLU", 1,
    lambda a: a if a > 0 else SLOPE * a,
    lambda o, a: (1.0 if a > 0 else SLOPE,),
    ("1 if a > 0 else 0.1",),
    np_forward=lambda a: np.where(a > 0, a, SLOPE * a),
    np_local=lambda o, a: (np.where(a > 0, 1.0, SLOPE),),
    kink=lambda a: a,
)
PROGRAM = "input x\ny = leaky_relu(x) * 2\noutput y"


@pytest.fixture
def leaky():
    ops.register(LEAKY)
    try:
        yield LEAKY
    finally:
        ops.unregister(LEAKY.name)


def test_the_new_op_is_unknown_until_registered():
    with pytest.raises(CgraphError, match="unknown function 'leaky_relu'"):
        cgraph.parse(PROGRAM)


def test_parsing_and_evaluation_pick_it_up(leaky):
    graph = cgraph.parse(PROGRAM)
    assert "leaky_relu" in graph.ops
    below, above = cgraph.evaluate(graph, {"x": -3.0}), cgraph.evaluate(graph, {"x": 4.0})
    assert below.value == pytest.approx(-0.6) and below.gradients["x"] == pytest.approx(0.2)
    assert above.value == 8.0 and above.gradients["x"] == 2.0


def test_batch_picks_it_up(leaky):
    graph = cgraph.parse(PROGRAM)
    plan = Plan(graph, ["x"])
    column = np.array([-3.0, 0.0, 0.5, 4.0])
    result = plan.run(plan.bind({}), [column])
    for k, x in enumerate(column):
        scalar = cgraph.evaluate(graph, {"x": float(x)})
        assert result.value[k] == scalar.value and result.grads["x"][k] == scalar.gradients["x"]


def test_diagrams_pick_it_up(leaky):
    graph = cgraph.parse(PROGRAM)
    source = render.diagram(graph, cgraph.evaluate(graph, {"x": 1.0})).source
    assert "<b>LReLU</b>" in source  # the table's symbol, not the op's name
    assert "LReLU" in render.mermaid(graph)


def test_explanations_pick_it_up(leaky):
    graph = cgraph.parse("input x\nz = leaky_relu(x)\ny = z * 2\noutput y")
    text = explain.to_text(explain.steps(cgraph.evaluate(graph, {"x": -3.0})))
    assert "z = leaky_relu(x) = leaky_relu(-3) = -0.3" in text
    assert "(1 if x > 0 else 0.1)" in text  # the table's formula, in the operand's name


def test_the_gradient_check_picks_up_its_value_and_kink(leaky):
    graph = cgraph.parse(PROGRAM)
    assert [r.status for r in gradcheck(graph, {"x": 2.0})] == ["OK"]
    assert [r.status for r in gradcheck(graph, {"x": -2.0})] == ["OK"]
    assert [r.status for r in gradcheck(graph, {"x": 0.0})] == ["KINK"]  # the table's kink, at 0


def test_the_program_generator_picks_it_up(leaky):
    assert "leaky_relu" in generator.functions(1)
    quick = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
    text = find(generator.programs(), lambda t: "leaky_relu(" in t, settings=quick)
    graph = cgraph.parse(text)
    assert "leaky_relu" in graph.ops
    cgraph.evaluate(graph, {name: 0.5 for name in graph.inputs})


def test_unregistering_restores_the_table():
    before = {name: dict(getattr(ops, name)) for name in ("OPS", "FUNCTIONS", "FORWARD", "LOCAL", "KINKS",
                                                           "BINARY_SYMBOLS")}
    ops.register(LEAKY)
    ops.unregister(LEAKY.name)
    assert before == {name: dict(getattr(ops, name)) for name in before}


def test_a_leaf_kind_is_not_an_op_name():
    with pytest.raises(ValueError):
        ops.register(ops.Op(ops.CONST, "c", 0, lambda: 0.0, lambda o: (), ()))


# --- 2. every consumer reads the table --------------------------------------------------------

ARGS = {1: [0.7], 2: [0.7, 1.3], None: [0.7, 1.3, -0.4]}  # smooth points for every op here


def _call(op: ops.Op, names: list[str]) -> str:
    """The op applied to names, as a file writes it."""
    if op.notation == ops.INFIX:
        return f" {op.symbol} ".join(names)
    if op.notation == ops.PREFIX:
        return f"{op.symbol}{names[0]}"
    return f"{op.name}({', '.join(names)})"


def _one_op(op: ops.Op) -> tuple[cgraph.Graph, dict[str, float]]:
    args = ARGS[op.arity]
    names = [f"x{k}" for k in range(len(args))]
    graph = cgraph.parse(f"y = {_call(op, names)}\noutput y")
    return graph, dict(zip(names, args))


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_op_is_written_parsed_and_evaluated_as_its_entry_says(name):
    op = ops.OPS[name]
    graph, point = _one_op(op)
    assert graph.ops[graph.output] == name
    ev = cgraph.evaluate(graph, point)
    assert ev.value == op.forward(*point.values())


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_local_derivative_reads_only_what_its_entry_saves(name):
    """`Op.saves` says which values the local derivative reads (the batch engine drops
    the others after the forward pass): with those left out (None), the float and the
    NumPy versions give the same bits as with everything, at ordinary and special values."""
    op = ops.OPS[name]
    arity = op.arity or 3
    rng = np.random.default_rng(5)
    special = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.inf, -np.inf, np.nan, 1e300, -3.5]
    columns = [np.concatenate([rng.normal(0, 3, 40), rng.permutation(special)]) for _ in range(arity)]
    keep_out, keep_args = "out" in op.saves, "args" in op.saves
    with np.errstate(all="ignore"):
        out = op.vector_forward(*columns)
        full = op.vector_local(out, *columns)
        part = op.vector_local(out if keep_out else None, *(columns if keep_args else [None] * arity))
        assert [np.asarray(d, dtype=float).tobytes() for d in part] == \
            [np.asarray(d, dtype=float).tobytes() for d in full]
        for row in range(len(columns[0])):
            args = [float(c[row]) for c in columns]
            o = op.forward(*args)
            full = op.local(o, *args)
            part = op.local(o if keep_out else None, *(args if keep_args else [None] * arity))
            assert np.array(part).tobytes() == np.array(full).tobytes()
    assert set(op.saves) <= {"out", "args"}


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_op_is_drawn_with_its_symbol(name):
    op = ops.OPS[name]
    graph, point = _one_op(op)
    assert style.symbol(name) == op.symbol
    assert f"<b>{style.esc(op.symbol)}</b>" in render.diagram(graph, cgraph.evaluate(graph, point)).source


@pytest.mark.parametrize("name", list(ops.OPS))
def test_each_op_is_explained_in_its_notation_with_its_formulas(name):
    op = ops.OPS[name]
    graph, point = _one_op(op)
    exp = explain.steps(cgraph.evaluate(graph, point))
    forward = [s for s in exp.steps if s.phase == "forward"]
    assert forward[-1].expression == _call(op, list(point))
    formulas = {c.formula for s in exp.steps if s.phase == "backward" for c in s.contributions}
    names = {"out": "y", "a": "x0", "b": "x1"}
    spelled = {re.sub(ops.FORMULA_TERMS, lambda m: names.get(m["arg"] or "", m[0]), f) for f in op.formulas}
    if op.arity is not None:  # sum/mean: n is spelled out as the count
        assert formulas <= spelled, (formulas, spelled)


@pytest.mark.parametrize("name", list(ops.OPS))
def test_the_gradient_check_says_kink_exactly_where_the_table_has_one(name):
    op = ops.OPS[name]
    graph, point = _one_op(op)
    if op.kink is None:
        assert [r.status for r in gradcheck(graph, point)] == ["OK"] * len(point)
        return
    # 0 - 0 and 0.5 - 0.5 both sit on a kink here (a tie); a kink at a zero argument
    # (relu, a select's condition) is where every argument is 0.
    candidates = [{n: v for n in point} for v in ((0.0,) if op.arity == 1 else (0.5, 0.0))]
    at_kink = next((c for c in candidates if op.kink(*c.values()) == 0), candidates[0])
    assert op.kink(*at_kink.values()) == 0
    assert "KINK" in {r.status for r in gradcheck(graph, at_kink)}
    assert "KINK" not in {r.status for r in gradcheck(graph, point)}


def test_formulas_are_made_of_operands_and_functions_only():
    # Explanations replace each word a, b, n and out by an operand's name: other prose
    # with an "a" in it would come out as "x" there; "on a tie" is the one phrase they know.
    allowed = {"a", "b", "n", "out", "if", "else", "sign"} | set(ops.OPS)
    for op in ops.OPS.values():
        for formula in op.formulas:
            assert set(re.findall(r"[A-Za-z_]+", formula.replace("on a tie", ""))) <= allowed, (op.name, formula)


def test_the_phrase_on_a_tie_keeps_its_article():
    graph = cgraph.parse("input p\ninput q\ny = max(q, 2*p)\noutput y")
    exp = explain.steps(cgraph.evaluate(graph, {"p": 1.0, "q": 3.0}))
    formulas = [c.formula for s in exp.steps for c in s.contributions]
    assert "1 if q > (2*p), 0.5 on a tie, else 0" in formulas
    assert "1 if (2*p) > q, 0.5 on a tie, else 0" in formulas


def test_the_generator_draws_exactly_the_tables_functions_and_operators():
    drawn = set(generator.functions(1)) | set(generator.functions(2)) | set(generator.functions(None))
    assert drawn == set(ops.FUNCTIONS)
    assert set(generator.operators()) - {"**"} == set(ops.BINARY_SYMBOLS)
    prefix = {op.symbol for op in ops.OPS.values() if op.notation == ops.PREFIX}
    assert set(generator.signs()) - {"+"} == prefix


def test_the_leaf_kinds_are_the_tapes_leaves():
    graph = cgraph.parse("input x\nparam w = 2\ny = w * x + 3\noutput y")
    leaves = {graph.ops[i] for i in range(len(graph)) if not graph.args[i]}
    assert leaves == ops.LEAF_KINDS == {ops.INPUT, ops.PARAM, ops.CONST}
    assert {graph.ops[i] for i in graph.inputs.values()} == ops.INPUT_KINDS
    assert not set(ops.OPS) & ops.LEAF_KINDS


# --- 3. nobody else spells an op -------------------------------------------------------------

# A string that is also an op's name but means something else there.
OTHER_MEANING = {
    ("engine/batch.py", "sum"),  # shared_grads="sum": summed over the rows
    ("cli/output.py", "input"),  # the word in a message ("an input of this command")
}


def _spelled_kinds(path: Path) -> list[tuple[int, str]]:
    """(line, literal) for each comparison with an op name or leaf kind as a string."""
    names = set(ops.OPS) | ops.LEAF_KINDS
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            elements = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            for e in elements:
                if isinstance(e, ast.Constant) and e.value in names:
                    found.append((node.lineno, e.value))
    return found


def test_no_module_but_the_op_table_compares_with_an_op_name_or_leaf_kind():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where == "ops.py":
            continue
        wrong += [f"cgraph/{where}:{line}: {value!r}" for line, value in _spelled_kinds(path)
                  if (where, value) not in OTHER_MEANING]
    assert not wrong, "use the op table (cgraph.ops) instead:\n" + "\n".join(wrong)


def test_the_scan_finds_a_spelled_kind(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('if graph.ops[i] == "const" or op in ("relu", "abs"):\n    pass\n')
    assert _spelled_kinds(sample) == [(1, "const"), (1, "relu"), (1, "abs")]
