"""Random initial values of params: `param w = uniform(a, b)` and `normal(mean, std)`,
drawn from a seeded generator in statement order (cgraph.parse/load(..., seed=N)).
"""

from __future__ import annotations

import random

import pytest

import cgraph


RANDOM = """
param a = uniform(-1, 1)
for i in 1..3 { param w[i] = normal(0, 0.5) }
param c = 2 * uniform(0, 1) + 10
y = a + w[1] + w[2] + w[3] + c + x
"""


def params_of(graph: cgraph.Graph) -> dict[str, float]:
    return {n: graph.values[i] for n, i in graph.inputs.items() if graph.ops[i] == "param"}


def test_random_params_repeat_for_a_seed_and_follow_statement_order():
    first, again = params_of(cgraph.parse(RANDOM)), params_of(cgraph.parse(RANDOM, seed=0))
    assert first == again  # the default seed is 0
    rng = random.Random(5)
    expected = {"a": rng.uniform(-1, 1), "w[1]": rng.gauss(0, 0.5), "w[2]": rng.gauss(0, 0.5), "w[3]": rng.gauss(0, 0.5),
                "c": 2 * rng.uniform(0, 1) + 10}
    assert params_of(cgraph.parse(RANDOM, seed=5)) == expected
    assert params_of(cgraph.parse(RANDOM, seed=6)) != expected
    assert -1 <= first["a"] <= 1 and 10 <= first["c"] <= 12


@pytest.mark.parametrize("text, message", [
    ("input x = uniform(0, 1)\ny = x", "uniform() is only allowed in a param's value"),
    ("y = normal(0, 1) * x", "normal() is only allowed in a param's value"),
    ("param w = uniform(1, 0)\ny = w", "uniform(low, high) needs low <= high"),
    ("param w = normal(0, -1)\ny = w", "normal(mean, std) needs std >= 0"),
    ("param w = uniform(0)\ny = w", "uniform() takes 2 arguments, got 1"),
    ("param w = normal(0, 1/0)\ny = w", "normal() needs finite arguments"),
])
def test_random_values_outside_params_or_with_bad_arguments_are_located_errors(text, message):
    with pytest.raises(cgraph.BuildError) as info:
        cgraph.parse(text)
    assert message in str(info.value) and str(info.value).startswith("<expr>:")


def test_loops_draw_in_order_and_load_takes_a_seed(tmp_path):
    path = tmp_path / "m.cg"
    path.write_text("for i in 1..3 { param w[i] = uniform(0, 1) }\ny = w[1] + w[2] + w[3]\n")
    rng = random.Random(9)
    assert params_of(cgraph.load(path, seed=9)) == {f"w[{i}]": rng.uniform(0, 1) for i in (1, 2, 3)}
