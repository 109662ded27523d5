"""The size cap (--max-nodes) refuses whatever multiplies nodes before building it.

Sums and means over a range, nested ones (also with bounds that run with an outer
variable: `1..i`), loops holding them, calls of user functions inside loops and sums, and
calls nested in calls are all sized from the syntax tree first, so a program far over the
limit is refused at once, with the located GraphTooLarge error, instead of after building
as much of it as the limit allows. Timing-free: the tests count the work the builder did
(nodes added, names resolved) before refusing. The size worked out beforehand is a lower
bound, so a graph of exactly --max-nodes nodes is still built.
"""

from __future__ import annotations

import pytest

import cgraph
from cgraph.frontend.expressions import Lowering
from cgraph.ir.tape import TapeWriter

F50 = "def f(a) = sum(a*x[i] for i in 1..50)\n"


def doubling(depth: int, leaf: str) -> str:
    """g0 .. g{depth}, each calling the one below twice: 2**depth copies of g0's body."""
    lines = [f"def g0(a) = {leaf}"]
    lines += [f"def g{k}(a) = g{k - 1}(g{k - 1}(a))" for k in range(1, depth + 1)]
    return "\n".join(lines) + f"\ny = g{depth}(x)"


# (program, --max-nodes): each at least ten times over its limit, and within the old
# budget of unrolling steps (10 per node), which used to let it build up to the limit first.
OVER = [
    ("y = sum(x[i] for i in 1..5000)", 1000),
    ("y = mean(x[i]*w for i in 1..3000)", 1000),
    ("y = sum(sum(x[i]*j for j in 1..100) for i in 1..100)", 1000),
    ("y = sum(sum(x[j]*i for j in 1..i) for i in 1..300)", 1000),
    ("y = sum(sum(sum(w*i*j*k for k in 1..20) for j in 1..20) for i in 1..20)", 1000),
    ("for t in 1..100 { y[t] = sum(x[i]*t for i in 1..100) }", 1000),
    ("for t in 1..200 { y[t] = sum(w*x[i] for i in 1..t) }", 1000),
    ("for t in 1..200 { for s in 1..t { y[t,s] = w*x[s] } }", 1000),
    ("for t in 1..200 { for s in t..200 { y[t,s] = w*x[s] } }", 1000),
    (F50 + "for t in 1..100 { y[t] = f(w) }", 1000),
    (F50 + "y = sum(f(x[i]) for i in 1..100)", 1000),
    (F50 + "for t in 1..10 { y[t] = sum(f(x[i]*t) for i in 1..20) }", 1000),
    (doubling(14, "a*a"), 1000),
    (doubling(20, "a"), 1000),  # a million calls that add no node: the work is capped too
    ("for i in 1..5000 { param w[i] = 0 }\ny = w[1]", 1000),  # a new param each run
    ("for i in 1..5000 { y[i] = x[i] }", 1000),  # a new input each run, named twice
    ("for t in 1..50 { for i in 1..2000 { y[t,i] = x[2*i+1, t] } }", 1000),
]


class Work:
    """Counts the builder's work: nodes added and names resolved."""

    def __init__(self, monkeypatch):
        self.count = 0
        for cls, method in ((TapeWriter, "push"), (Lowering, "resolve")):
            original = getattr(cls, method)

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(cls, method, counted)


@pytest.mark.parametrize("source,limit", OVER, ids=range(len(OVER)))
def test_refused_before_it_is_built(monkeypatch, source, limit):
    work = Work(monkeypatch)
    with pytest.raises(cgraph.GraphTooLarge) as caught:
        cgraph.parse(source, max_nodes=limit)
    assert work.count < 60, f"built {work.count} nodes and names before refusing"
    error = caught.value
    assert error.location is not None and error.location.line >= 1
    assert f"the limit is {limit:,} nodes" in str(error) and "at least" in str(error)


@pytest.mark.parametrize("source,limit", OVER[:4] + OVER[9:11], ids=range(6))
def test_cli_error_is_located_with_exit_1(cg, source, limit):
    code, out, err = cg("eval", "-e", source, "--max-nodes", limit)
    assert code == 1 and out == ""
    assert "<expr>:" in err and "^" in err and "--max-nodes" in err
    assert "Traceback" not in err


def test_the_readme_example_is_refused_at_once(monkeypatch):
    """The default limit: a hundred million terms, once two minutes and 2 GB."""
    work = Work(monkeypatch)
    with pytest.raises(cgraph.GraphTooLarge, match="this sum adds at least 100,000,001 nodes"):
        cgraph.parse("y = sum(x[i] for i in 1..100000000)")
    assert work.count == 0


# Programs whose size the bounds must not overestimate: each is built with --max-nodes at
# exactly its node count (and refused one below).
EXACT = [
    "y = sum(x[i] for i in 1..30)",
    "for i in 1..30 { param w[i] = 0.1 }\ny = sum(w[i] for i in 1..30)",
    "y = sum(w for i in 1..40)",
    "y = sum(x[1] + i for i in 1..25)",
    "y = sum(x[i*i] for i in 1..20)",
    "y = sum(x[0*i] for i in 1..20)",
    "y = sum(sum(x[j]*i for j in 1..i) for i in 1..12)",
    "y = sum(sum(x[j] for j in i..12) for i in 1..12)",
    "for t in 1..15 { y[t] = sum(w*x[i] for i in 1..t) }",
    "for t in 1..12 { for s in t..12 { y[t,s] = w*x[s] } }",
    "for t in 1..8 { for s in 1..t { for u in s..t { z[t,s,u] = w*x[u] } } }",
    "for t in 1..8 { for s in 1..t { for u in t..8 { z[t,s,u] = w*x[u] } } }",
    F50 + "for t in 1..4 { y[t] = f(w) }",
    F50 + "y = sum(f(x[i]) for i in 1..3)",
    doubling(6, "a*a"),
    doubling(6, "a"),
    "def k(a) = a\nf = 3\ng = k(f)\ny = sum(g*x[i] for i in 1..10)",
    "for i in 1..20 { y[i] = x[i] }",
    "for i in 1..20 { param w[i] = 0.5 }\nfor i in 1..20 { v[i] = w[i] }\ny = v[3]",
    "for t in 1..20 { h[t] = tanh(h[t-1]) }",
    "for t in 1..20 { y[t] = x[t] + x[t+1] }",
    "for t in 1..5 { for i in 1..4 { y[t,i] = x[i] } }",
    "for t in 1..6 { y[t] = sum(x[t] for i in t..3) }",
]


@pytest.mark.parametrize("source", EXACT, ids=range(len(EXACT)))
def test_a_graph_of_exactly_the_limit_is_built(source):
    n = len(cgraph.parse(source))
    assert len(cgraph.parse(source, max_nodes=n)) == n
    with pytest.raises(cgraph.GraphTooLarge):
        cgraph.parse(source, max_nodes=n - 1)


def random_program(rng) -> str:
    """Loops and sums nested up to three deep, with bounds that are constants or affine in
    the enclosing variables (empty ranges included), and bodies of names indexed by them."""

    def bound(scope: list[str]) -> str:
        k = rng.randint(0, 4)
        if not scope or rng.random() < 0.3:
            return str(k)
        v = rng.choice(scope)
        return rng.choice([v, f"{v}+{k}", f"{k + 3}-{v}", f"2*{v}"])

    def expr(depth: int, scope: list[str]) -> str:
        r = rng.random()
        if depth == 0 or r < 0.3:
            if scope and rng.random() < 0.5:
                v = rng.choice(scope)
                return rng.choice([f"x[{v}]", f"x[{v}]*{v}", f"w*{v}", f"x[{v}*{v}]", "w"])
            return rng.choice(["w", "x[1]", "w*w"])
        if r < 0.7:
            v = f"r{len(scope)}"
            return f"sum({expr(depth - 1, scope + [v])} for {v} in {bound(scope)}..{bound(scope)})"
        return f"({expr(depth - 1, scope)} + {expr(depth - 1, scope)})"

    def stmt(depth: int, scope: list[str], n: int) -> str:
        if depth == 0 or rng.random() < 0.4:
            return f"y{n}[{','.join(scope)}] = {expr(2, scope)}" if scope else f"y{n} = {expr(2, scope)}"
        v = f"t{len(scope)}"
        return f"for {v} in {bound(scope)}..{bound(scope)} {{ {stmt(depth - 1, scope + [v], n)} }}"

    return "\n".join(stmt(3, [], n) for n in range(rng.randint(1, 3)))


@pytest.mark.parametrize("seed", range(4))
def test_the_sizes_worked_out_beforehand_never_exceed_the_graph(seed):
    import random

    rng = random.Random(seed)
    for _ in range(150):
        source = random_program(rng)
        try:
            n = len(cgraph.parse(source))
        except cgraph.CgraphError:
            continue  # an index out of what the generator keeps defined, and the like
        assert len(cgraph.parse(source, max_nodes=n)) == n, source
