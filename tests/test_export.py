"""`cgraph export --to python|numpy`: the exported module, imported from a file, computes what
cgraph computes (values and gradients to 1e-12, inf, nan and kinks included) on the samples,
on generated programs and on hostile ones; it is readable (one statement per named node,
cgraph's names made into identifiers, source lines in comments), deterministic, and compiles
for a 100,000-deep expression. (torch and jax: tests/frameworks/, run by make test-frameworks.)"""

from __future__ import annotations

import ast
import csv
import io
import keyword
import math
import re
import tokenize

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cgraph
from cgraph import ops
from cgraph.batch import Plan
from support.exported import assert_same, import_module, load_exported, module_code
from support.files import write
from support.paths import ROOT, SAMPLES
from support.programs import programs, values
from support.samples import SAMPLE_CASES, SAMPLE_IDS

TARGETS = ("python", "numpy")
CASES = SAMPLE_CASES + [("linreg", {}, []), ("xor", {}, [])]
IDS = SAMPLE_IDS + ["linreg", "xor"]


def check_module(module, graph: cgraph.Graph, inputs: dict[str, float], what: str = "") -> None:
    """The module's forward and value_and_grad against cgraph at `inputs`: a python module
    against cgraph.evaluate, a numpy one against cgraph's batch evaluator on one row (NumPy's
    tanh, sin, ... may differ from math's in the last bit, which 1 - tanh^2 magnifies)."""
    expected_value, expected_grads = reference(graph, inputs, numpy=module.__dict__.get("np") is not None)
    assert_same(module.forward(inputs), expected_value, f"{what} value")
    value, gradients = module.value_and_grad(inputs)
    assert_same(value, expected_value, f"{what} value of value_and_grad")
    assert set(gradients) == set(expected_grads)
    for name, expected in expected_grads.items():
        assert_same(gradients[name], expected, f"{what} d/d{name}")


def reference(graph: cgraph.Graph, inputs: dict[str, float], numpy: bool) -> tuple[float, dict[str, float]]:
    if not numpy:
        result = cgraph.evaluate(graph, inputs)
        return result.value, result.gradients
    names = list(graph.inputs)
    plan = Plan(graph, names)
    given = {**{n: graph.values[graph.inputs[n]] for n in names}, **inputs}
    columns = [np.array([given[n]], dtype=np.float64) for n in names]
    batch = plan.run(plan.bind({}), columns, 1)
    return float(batch.value[0]), {n: float(np.asarray(g).reshape(-1)[0]) for n, g in batch.grads.items()}


def code_only(text: str) -> str:
    """The module's text without its comments: what Python runs."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type != tokenize.COMMENT]
    return tokenize.untokenize(tokens)


# --- the samples -----------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name,inputs,_", CASES, ids=IDS)
def test_each_sample_exports_to_what_cgraph_computes(tmp_path, target, name, inputs, _):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    module = load_exported(graph, target, tmp_path)
    check_module(module, graph, inputs, name)
    rng = np.random.default_rng(7)
    for _row in range(5):
        moved = {n: float(v) for n, v in zip(graph.inputs, rng.normal(0, 1.5, len(graph.inputs)))}
        check_module(module, graph, moved, name)


def test_python_export_imports_only_math(tmp_path):
    text = module_code(cgraph.load(SAMPLES / "mlp.cg"), "python")
    imported = {alias.name for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert imported == {"math"}


def test_intro_reads_as_the_program(tmp_path):
    text = module_code(cgraph.load(SAMPLES / "intro.cg"), "python")
    assert "    p = x + y  # line 3\n    g = p * z  # line 4\n    return g\n" in text
    module = import_module(text, tmp_path)
    assert module.INPUTS == {"x": None, "y": None, "z": None} and module.PARAMS == {}
    assert module.value_and_grad({"x": 1, "y": 3, "z": -3}) == (-12.0, {"x": -3.0, "y": -3.0, "z": 4.0})


def test_an_anonymous_node_used_once_is_folded_into_its_consumer():
    graph = cgraph.parse("input x\ninput y\ninput z\ng = (x + y) * z")
    assert "    g = (x + y) * z  # line 4\n" in module_code(graph, "python")


def test_params_and_defaults_and_a_missing_input(tmp_path):
    module = load_exported(cgraph.load(SAMPLES / "linreg.cg"), "python", tmp_path)
    assert module.PARAMS == {"w": 0.0, "b": 0.0} and module.INPUTS == {"x": 1.0, "y": 1.5}
    assert module.forward({}) == cgraph.evaluate(cgraph.load(SAMPLES / "linreg.cg")).value
    intro = load_exported(cgraph.load(SAMPLES / "intro.cg"), "python", tmp_path)
    with pytest.raises(KeyError, match="'z'"):
        intro.forward({"x": 1, "y": 2})


def test_loop_statements_keep_their_iteration_in_the_comment():
    text = module_code(cgraph.load(SAMPLES / "rnn.cg"), "python", grad=False)
    assert re.search(r"h_1 = .*# h\[1\], line \d+, t = 1\n", text), text


# --- IEEE results and kinks --------------------------------------------------------------

KINKS = """\
input a
input b
u = relu(a) + abs(a) + max(a, b) + min(b, a)
v = a / b + log(a) + sqrt(a) + exp(b) + sin(b) + tan(a) + sigmoid(b) + tanh(a)
w = a ^ b + pow(b, 0.5) + (-a) ^ 3
y = u * 2 + v + w + sum(a, b, a) + mean(a, b)
output y
"""
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1000.0, -1000.0, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("target", TARGETS)
def test_ieee_results_and_kink_conventions_are_cgraphs(tmp_path, target):
    graph = cgraph.parse(KINKS)
    module = load_exported(graph, target, tmp_path)
    for a in SPECIAL:
        for b in SPECIAL:
            check_module(module, graph, {"a": a, "b": b}, f"a={a}, b={b}")


@pytest.mark.parametrize("target", TARGETS)
def test_every_op_of_the_table_exports_with_cgraphs_semantics(tmp_path, target):
    for name, op in ops.OPS.items():
        arity = op.arity or 3
        args = [f"x{k}" for k in range(arity)]
        call = f" {op.symbol} ".join(args) if op.notation == ops.INFIX else (
            f"{op.symbol}{args[0]}" if op.notation == ops.PREFIX else f"{name}({', '.join(args)})")
        graph = cgraph.parse(f"y = {call}\noutput y")
        module = load_exported(graph, target, tmp_path)
        for point in [(0.0, 0.0, 0.0), (1.0, 1.0, 2.0), (-2.0, 0.5, 0.0), (math.inf, -1.0, 3.0), (math.nan, 2.0, 1.0),
                      (-math.inf, 0.5, 0.0), (0.0, -1.0, 1.0), (1e300, 1e10, -1e300)]:
            check_module(module, graph, dict(zip(args, point)), f"{name} at {point}")


# --- generated programs ------------------------------------------------------------------

special_values = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, math.inf, -math.inf, math.nan])


@given(st.data())
def test_generated_programs_export_to_what_cgraph_computes(tmp_path_factory, data):
    text = data.draw(programs())
    graph = cgraph.parse(text)
    directory = tmp_path_factory.mktemp("generated")
    names = list(graph.inputs)
    point = data.draw(values(names))
    if data.draw(st.booleans()):  # kinks, inf and nan at some inputs
        point.update({n: data.draw(special_values) for n in names if data.draw(st.booleans())})
    for target in TARGETS:
        module = load_exported(graph, target, directory)
        check_module(module, graph, point, f"{target}: {text!r} at {point}")


# --- NumPy: rows --------------------------------------------------------------------------


def test_numpy_over_a_thousand_rows_equals_eval_data(tmp_path, cg):
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 2, 1000), rng.normal(0, 2, 1000)
    x[:5] = [0.0, math.inf, -1e308, math.nan, 1e300]
    data = tmp_path / "rows.csv"
    data.write_text("x,y\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, y)), encoding="utf-8")
    result = cg("eval", str(SAMPLES / "linreg.cg"), "--data", str(data), "--w", "0.7", "--b", "-0.2")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    module = load_exported(cgraph.load(SAMPLES / "linreg.cg"), "numpy", tmp_path)
    inputs = {"x": x, "y": y, "w": 0.7, "b": -0.2}
    loss = module.forward(inputs)
    value, grads = module.value_and_grad(inputs)
    assert loss.shape == (1000,) and grads["w"].shape == (1000,)
    for i, row in enumerate(rows):
        assert_same(loss[i], float(row["loss"]), f"row {i}")
        assert_same(value[i], float(row["loss"]), f"row {i}")
        for name in ("w", "b", "x", "y"):
            assert_same(grads[name][i], float(row[f"dloss/d{name}"]), f"row {i} d/d{name}")


def test_numpy_results_have_the_rows_shape_even_when_constant(tmp_path):
    module = load_exported(cgraph.parse("input x\ny = 3 + 0 * 2\noutput y"), "numpy", tmp_path)
    assert module.forward({"x": np.zeros(4)}).shape == (4,)
    value, grads = module.value_and_grad({"x": np.arange(3.0)})
    assert value.shape == (3,) and grads["x"].shape == (3,)


# --- names, hostile programs, several outputs ---------------------------------------------


def test_names_become_distinct_identifiers_and_keys_stay_cgraphs(tmp_path):
    program = ("input lambda\ninput forward\ninput math\nw[1,2] = lambda * 2\nw_1_2 = w[1,2] + forward\n"
               "class = w_1_2 * math\nabs = class + 1\ny = abs(abs)\noutput y")
    graph = cgraph.parse(program)
    for target in TARGETS:
        text = module_code(graph, target)
        assert "lambda_ = " in text and "class_ = " in text
        assert "w_1_2 = lambda_ * 2.0  # w[1,2]" in text and "w_1_2_2 = w_1_2 + forward_2  # w_1_2" in text
        module = import_module(text, tmp_path)
        check_module(module, graph, {"lambda": 1.5, "forward": -2.0, "math": 3.0})


HOSTILE = '''\
# a comment with """ and \'\'\' and a backslash \\ and import os; os.system("echo hacked")
input x  # """ ); import os #
input y\u2028import os
w[1,2] = x * 2  # \\
import_os = w[1,2] + y # \r\nimport os
"""_div""" = 1
'''


def test_hostile_names_and_comments_reach_the_code_only_as_comments(tmp_path):
    source = ("# a comment with \"\"\" and ''' and a backslash \\ and import os; os.system('echo hacked')\n"
              "input x  # \"\"\" ); import os #\r\n"
              "input y  # \u2028import os \x0c \u2029 \x85 end\n"
              "w[1,2] = x * 2  # \\n import os\n"
              "_div = w[1,2] + y\n"
              "forward = sqrt(_div) + f(x)  # '''\n"
              "def f(a) = a * 3\n")
    source = source.replace("forward = sqrt(_div) + f(x)  # '''\ndef f(a) = a * 3\n",
                            "def f(a) = a * 3\nforward = sqrt(_div) + f(x)  # '''\n")
    graph = cgraph.parse(source, "evil \"\"\"\n import os.cg")
    for target in TARGETS:
        text = module_code(graph, target, header=[f"from {graph.source.filename}", "line\u2028two"])
        compile(text, "exported.py", "exec")
        assert "os" not in re.findall(r"\w+", code_only(text)), text
        check_module(import_module(text, tmp_path), graph, {"x": 2.0, "y": -1.0})
        check_module(import_module(text, tmp_path), graph, {"x": -2.0, "y": 0.0})


def test_several_outputs(tmp_path):
    graph = cgraph.parse("input x\ninput y\na = x * y\nb = x - y\noutput a, b")
    for target in TARGETS:
        module = load_exported(graph, target, tmp_path)
        got = module.outputs({"x": 2.0, "y": 5.0})
        assert {k: float(v) for k, v in got.items()} == {"a": 10.0, "b": -3.0}
        assert float(module.forward({"x": 2.0, "y": 5.0})) == 10.0
        value, grads = module.value_and_grad({"x": 2.0, "y": 5.0})  # of the first output, as cgraph's gradient
        assert {k: float(v) for k, v in grads.items()} == {"x": 5.0, "y": 2.0}


def test_wrt_and_no_grad_and_name(tmp_path):
    graph = cgraph.load(SAMPLES / "linreg.cg")
    module = load_exported(graph, "python", tmp_path, wrt=["w", "b"], name="loss_of")
    value, grads = module.value_and_grad({"x": 2.0})
    assert set(grads) == {"w", "b"} and value == module.loss_of({"x": 2.0})
    bare = load_exported(graph, "python", tmp_path, grad=False)
    assert not hasattr(bare, "value_and_grad")


# --- size ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target,depth", [("python", 100_000), ("numpy", 20_000)])
def test_a_100000_deep_expression_compiles_and_computes(tmp_path, target, depth):
    source = "input x\ny = " + "(" * depth + "x" + " * 0.5 + 1)" * depth + "\noutput y"
    graph = cgraph.parse(source)
    text = module_code(graph, target)  # compiled by the import: the same for every target
    assert max(len(line) for line in text.splitlines()) < 200
    check_module(import_module(text, tmp_path), graph, {"x": 3.0}, target)


# --- deterministic, with a header ---------------------------------------------------------


def test_the_same_file_gives_the_same_code(cg, tmp_path):
    first = cg("export", str(SAMPLES / "mlp.cg"), "--to", "numpy")
    second = cg("export", str(SAMPLES / "mlp.cg"), "--to", "numpy")
    assert first.code == 0 and first.out == second.out
    lines = first.out.splitlines()
    assert lines[0] == f"# Generated by cgraph {cgraph.__version__} from {SAMPLES / 'mlp.cg'}: edit that, not this file."
    assert lines[1] == f"# Regenerate with: cgraph export {SAMPLES / 'mlp.cg'} --to numpy"


@pytest.mark.parametrize("target", ["python", "numpy", "torch", "jax"])
def test_the_code_does_not_depend_on_the_process(cg_proc, target):
    runs = [cg_proc("export", SAMPLES / "rnn.cg", "--to", target, env={"PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    assert runs[0].returncode == 0 and runs[0].stdout == runs[1].stdout


def test_the_written_file_runs_and_says_how_to_regenerate_it(cg, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "intro.py"
    result = cg("export", "samples/intro.cg", "--to", "python", "--wrt", "x,z", "-o", str(out))
    assert result.code == 0 and result.err == f"wrote {out}\n"
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[1] == f"# Regenerate with: cgraph export samples/intro.cg --to python --wrt x,z -o {out}"
    assert import_module(text, tmp_path).value_and_grad({"x": 1, "y": 3, "z": -3}) == (-12.0, {"x": -3.0, "z": 4.0})


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("argv,message", [
    (["--to", "fortran"], "'fortran' is not one of"),
    (["--to", "python", "--wrt", "q"], "--wrt q: not an input or param"),
    (["--to", "torch", "--wrt", "x"], "--wrt applies to python and numpy"),
    (["--to", "python", "--name", "class"], "not a Python identifier"),
    (["--to", "python", "--name", "INPUTS"], "the exported module uses that name"),
    (["--to", "python", "--name", "a b"], "not a Python identifier"),
])
def test_bad_options_are_usage_errors(cg, argv, message):
    result = cg("export", str(SAMPLES / "intro.cg"), *argv)
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err


def test_latex_is_written_by_export_latex_or_is_a_clear_usage_error(cg):
    result = cg("export", str(SAMPLES / "intro.cg"), "--to", "latex")
    try:
        import cgraph.views.export_latex  # noqa: F401
    except ImportError:
        assert result.code == 2 and "--to latex is not available yet" in result.err
    else:
        assert result.code == 0 and "\\begin{aligned}" in result.out, result.err
        assert result.out.startswith(f"% Generated by cgraph {cgraph.__version__} from ")


def test_the_output_never_overwrites_the_input(cg, tmp_path):
    program = write(tmp_path, "y = 2 * x\n")
    before = (tmp_path / "prog.cg").read_bytes()
    result = cg("export", program, "--to", "python", "-o", program)
    assert result.code == 2 and "would overwrite the program" in result.err
    assert (tmp_path / "prog.cg").read_bytes() == before


def test_a_file_error_is_located(cg, tmp_path):
    result = cg("export", write(tmp_path, "y = (x +\n"), "--to", "python")
    assert result.code == 1 and "prog.cg:" in result.err


# --- the op table ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ops.OPS))
def test_every_op_has_a_spelling_in_every_target(name):
    op = ops.OPS[name]
    assert set(op.code) == set(ops.CODE_TARGETS), f"{name}: Op.code needs {ops.CODE_TARGETS}"
    for target, code in op.code.items():
        operator = code in ("+", "-", "*", "/") and op.arity in (1, 2)
        assert operator or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*\(#\)", code), (name, target, code)
        for helper in re.findall(r"\b(_\w+)\(", code):
            assert helper in ops.CODE_HELPERS[target], f"{name}: {target} calls {helper}, which CODE_HELPERS lacks"


def test_each_helper_source_defines_its_name_and_nothing_else():
    for target, helpers in ops.CODE_HELPERS.items():
        for name, source in helpers.items():
            tree = ast.parse(source)
            assert [type(n) for n in tree.body] == [ast.FunctionDef] and tree.body[0].name == name, (target, name)
            assert not keyword.iskeyword(name)


def test_an_op_without_a_spelling_fails_the_export_clearly():
    leaky = ops.Op("leaky_relu", "LReLU", 1, lambda a: a if a > 0 else 0.01 * a,
                   lambda o, a: (1.0 if a > 0 else 0.01,), ("1 if a > 0 else 0.01",))
    ops.register(leaky)
    try:
        graph = cgraph.parse("y = leaky_relu(x)\noutput y")
        with pytest.raises(cgraph.InputError, match="'leaky_relu' has no spelling for --to numpy"):
            module_code(graph, "numpy", grad=False)
    finally:
        ops.unregister(leaky.name)


def test_a_new_op_with_its_spellings_exports_with_no_other_edit(tmp_path):
    expm1 = ops.Op("expm1", "expm1", 1, math.expm1, lambda o, a: (o + 1.0,), ("out + 1",), np_forward=np.expm1,
                   rule=lambda w, o, a: (w.op("add", o, w.const(1.0)),),
                   code=ops._code("math.expm1(#)", "np.expm1(#)", "torch.expm1(#)", "jnp.expm1(#)"))
    ops.register(expm1)
    try:
        graph = cgraph.parse("input x\ny = expm1(x * 2)\noutput y")
        for target in TARGETS:
            text = module_code(graph, target)
            assert "y = " + {"python": "math", "numpy": "np"}[target] + ".expm1(x * 2.0)  # line 2" in text
            check_module(import_module(text, tmp_path), graph, {"x": 1e-9}, target)
    finally:
        ops.unregister(expm1.name)


def test_output_names_the_nodes_to_export(cg, tmp_path):
    out = tmp_path / "two.py"
    result = cg("export", str(SAMPLES / "linreg.cg"), "--to", "python", "--output", "pred,loss", "-o", str(out))
    assert result.code == 0, result.err
    module = import_module(out.read_text(encoding="utf-8"), tmp_path)
    assert module.outputs({"w": 2.0, "x": 1.0}) == {"pred": 2.0, "loss": 0.25}
    assert module.value_and_grad({"w": 2.0, "x": 1.0})[1]["w"] == 1.0  # d pred/d w: the first output's
    bad = cg("export", str(SAMPLES / "linreg.cg"), "--to", "python", "--output", "nope")
    assert bad.code == 2 and "--output nope: no node has that name" in bad.err
