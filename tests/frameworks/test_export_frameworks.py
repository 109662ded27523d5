"""`cgraph export --to torch|jax`: the exported code, differentiated by torch's autograd and by
jax.grad, gives cgraph's values and gradients to 1e-12 in float64 (samples, every op at its
kinks, generated programs), and the torch module trains samples/linreg.cg with
torch.optim.SGD to the params `cgraph train` finds with the same settings.

Not part of `make test` (pyproject.toml's norecursedirs leaves this folder out, so CI needs
neither torch nor jax); `make test-frameworks` installs both and runs it."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cgraph
from cgraph import ops
from support.exported import assert_same, load_exported, scale_of
from support.paths import ROOT, SAMPLES
from support.programs import programs, values
from support.samples import SAMPLE_CASES, SAMPLE_IDS

torch = pytest.importorskip("torch")  # make test-frameworks installs it: a skip here is a set-up error
jax = pytest.importorskip("jax")

CASES = SAMPLE_CASES + [("linreg", {}, []), ("xor", {}, [])]
IDS = SAMPLE_IDS + ["linreg", "xor"]


def full_inputs(graph: cgraph.Graph, given: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(inputs, params) with a value for every leaf: the given one, else the default."""
    inputs, params = {}, {}
    for name, leaf in graph.inputs.items():
        value = given.get(name, graph.values[leaf])
        assert value is not None, name
        (params if graph.ops[leaf] == ops.PARAM else inputs)[name] = float(value)
    return inputs, params


def torch_value_and_grad(module, graph: cgraph.Graph, given: dict[str, float]) -> tuple[float, dict[str, float]]:
    inputs, params = full_inputs(graph, given)
    model = module.Model()
    with torch.no_grad():
        for name, value in params.items():
            model.named_params()[name].fill_(value)
    tensors = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in inputs.items()}
    out = model(tensors)
    if not out.requires_grad:  # piecewise constant (step, eq): torch builds no graph, the gradient is 0
        return float(out), dict.fromkeys([*inputs, *params], 0.0)
    out.backward()
    grads = {name: t.grad for name, t in tensors.items()} | {name: p.grad for name, p in model.named_params().items()}
    return float(out.detach()), {name: 0.0 if g is None else float(g) for name, g in grads.items()}


def jax_value_and_grad(module, graph: cgraph.Graph, given: dict[str, float]) -> tuple[float, dict[str, float]]:
    inputs, params = full_inputs(graph, given)
    value, (dparams, dinputs) = jax.value_and_grad(module.f, argnums=(0, 1))(params, inputs)
    return float(value), {name: float(g) for name, g in (dparams | dinputs).items()}


FRAMEWORKS = {"torch": torch_value_and_grad, "jax": jax_value_and_grad}


def check(target: str, module, graph: cgraph.Graph, given: dict[str, float], what: str = "") -> None:
    """Value and gradients to 1e-12 of the largest of them (XLA and torch sum and fuse in
    their own order: where terms cancel, the last bits of a small gradient differ)."""
    expected = cgraph.evaluate(graph, given)
    value, grads = FRAMEWORKS[target](module, graph, given)
    scale = scale_of([expected.value, *expected.gradients.values()])
    assert_same(value, expected.value, f"{target} {what} value", scale=scale)
    for name, gradient in expected.gradients.items():
        assert_same(grads[name], gradient, f"{target} {what} d/d{name}", scale=scale)


@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("name,inputs,_", CASES, ids=IDS)
def test_samples_differentiate_to_cgraphs_gradients(tmp_path, target, name, inputs, _):
    graph = cgraph.load(SAMPLES / f"{name}.cg")
    module = load_exported(graph, target, tmp_path)
    check(target, module, graph, inputs, name)
    rng = np.random.default_rng(11)
    for _row in range(3):
        check(target, module, graph, {n: float(v) for n, v in zip(graph.inputs, rng.normal(0, 1.5, len(graph.inputs)))},
              name)


KINK_POINTS = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (-1.0, -1.0), (2.0, -3.0), (-0.5, 0.25)]


@pytest.mark.parametrize("target", FRAMEWORKS)
@pytest.mark.parametrize("name", [n for n, op in ops.OPS.items() if op.function or op.notation != ops.CALL])
def test_every_op_at_its_kinks(tmp_path, target, name):
    op = ops.OPS[name]
    arity = op.arity or 3
    args = [f"x{k}" for k in range(arity)]
    call = f" {op.symbol} ".join(args) if op.notation == ops.INFIX else (
        f"{op.symbol}{args[0]}" if op.notation == ops.PREFIX else f"{name}({', '.join(args)})")
    graph = cgraph.parse(f"y = {call}\noutput y")
    module = load_exported(graph, target, tmp_path)
    for point in KINK_POINTS:
        given = dict(zip(args, (*point, 1.5)))
        if name == "pow" and given["x0"] <= 0:
            continue  # see test_pow_at_zero_and_below
        check(target, module, graph, given, f"{name} at {point}")


@pytest.mark.parametrize("target", FRAMEWORKS)
def test_jit_and_several_outputs(tmp_path, target):
    graph = cgraph.parse("input x\nparam w = 0.5\na = tanh(w * x)\nb = a * x\noutput a, b")
    module = load_exported(graph, target, tmp_path)
    if target == "jax":
        assert float(jax.jit(module.f)(module.PARAMS, {"x": 2.0})) == pytest.approx(math.tanh(1.0), rel=1e-15)
        got = module.outputs(module.PARAMS, {"x": 2.0})
    else:
        got = module.Model().outputs({"x": 2.0})
    got = {k: v.detach() if target == "torch" else v for k, v in got.items()}
    assert {k: float(v) for k, v in got.items()} == pytest.approx({"a": math.tanh(1.0), "b": 2 * math.tanh(1.0)},
                                                                   rel=1e-15)


special = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0])


@given(st.data())
def test_generated_programs_differentiate_to_cgraphs_gradients(tmp_path_factory, data):
    text = data.draw(programs())
    graph = cgraph.parse(text)
    point = data.draw(values(list(graph.inputs)))
    if data.draw(st.booleans()):  # kinks: ties and zeros
        point.update({n: data.draw(special) for n in point if data.draw(st.booleans())})
    expected = cgraph.evaluate(graph, point)
    if not all(map(math.isfinite, [expected.value, *expected.gradients.values()])):
        return  # at inf and nan the frameworks have conventions of their own (README: Export)
    directory = tmp_path_factory.mktemp("generated")
    for target in FRAMEWORKS:
        check(target, load_exported(graph, target, directory), graph, point, repr(text))


# --- training -------------------------------------------------------------------------------


def test_the_torch_module_trains_linreg_to_cgraphs_params(tmp_path, cg):
    saved = tmp_path / "params.json"
    result = cg("train", str(SAMPLES / "linreg.cg"), "--data", str(SAMPLES / "linreg.csv"), "--lr", "0.5",
                "--epochs", "50", "--optimizer", "sgd", "--save", str(saved))
    assert result.code == 0, result.err
    expected = json.loads(saved.read_text(encoding="utf-8"))
    expected = expected.get("params", expected)

    module = load_exported(cgraph.load(SAMPLES / "linreg.cg"), "torch", tmp_path)
    rows = np.loadtxt(SAMPLES / "linreg.csv", delimiter=",", skiprows=1)
    data = {"x": torch.tensor(rows[:, 0]), "y": torch.tensor(rows[:, 1])}
    model = module.Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _epoch in range(50):  # full batch: the mean loss over the rows, as cgraph train
        optimizer.zero_grad()
        model(data).mean().backward()
        optimizer.step()
    for name, value in expected.items():
        assert_same(model.named_params()[name].item(), value, f"param {name}", rel=1e-10)


# --- the README's torch and jax examples ----------------------------------------------------


def readme_framework_examples() -> list[tuple[str, str, str]]:
    """(export command, program, what its print shows) of each ```python block of the README
    that starts with a `# cgraph export` line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```python\n(# cgraph export [^\n]*)\n(.*?)```", text, re.S):
        command, program = block
        printed = re.search(r"^print\(.*\)  # (.*)$", program, re.M)
        assert printed, program
        found.append((command[2:], program, printed.group(1)))
    return found


@pytest.mark.parametrize("command,program,expected", readme_framework_examples())
def test_the_readme_examples_print_what_the_readme_says(tmp_path, command, program, expected):
    shutil.copytree(SAMPLES, tmp_path / "samples")
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "cgraph"), *shlex.split(command)[1:]], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "example.py").write_text(program, encoding="utf-8")
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


# --- hostile names ----------------------------------------------------------------------------

HOSTILE = ("# \"\"\" ''' \\ import os\n"
           "param keys = 0.5  # \"\"\" ); import os #\r\n"
           "param type = -1.5\n"
           "param forward = 2\n"
           "input lambda  # \u2028import os \x0c \u2029 end\n"
           "input _t\n"
           "w[1,2] = keys * lambda + type  # \\n import os\n"
           "jnp = w[1,2] * forward + _t\n"
           "y = tanh(jnp) + relu(keys) + abs(lambda)\n")


@pytest.mark.parametrize("target", FRAMEWORKS)
def test_hostile_names_and_comments(tmp_path, target):
    graph = cgraph.parse(HOSTILE, "evil \"\"\"\n import os.cg")
    module = load_exported(graph, target, tmp_path, header=[graph.source.filename])
    for point in ({"lambda": 0.5, "_t": -1.0}, {"lambda": 0.0, "_t": 2.0, "keys": 0.0}):
        check(target, module, graph, point, repr(point))
