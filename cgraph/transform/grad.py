"""Reverse mode as a graph-to-graph transformation: the gradient of a graph's output,
written as nodes appended to a copy of the graph.

The walk is the evaluator's backward pass (cgraph/engine/evaluator.py) with nodes instead
of numbers: the seed 1 at the output; going back along the tape, each node on a path to
the output gives each argument the contribution grad(node) * d node/d arg, the local
derivative written by the op table's graph rule (`Op.rule`); contributions to one node
are summed in the order the backward pass adds them. Nodes off every path to the output
pass nothing on (as in the backward pass: 0 times an inf derivative would be nan).
Nothing is simplified yet: a contribution `g * 1` is a node.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import InputError
from ..ir.graph import Graph
from ..ir.tape import RuleWriter, Span, TapeWriter
from ..ops import OPS, NodeWriter


def grad_nodes(graph: Graph, wrt: Sequence[str] | None = None) -> tuple[Graph, dict[str, int]]:
    """The graph extended with the first-order gradient of its output with respect to each
    name of `wrt` (default: every input and param), and those gradients' nodes by name.
    The extended graph's output is the first gradient (a graph has one output)."""
    inputs = graph.inputs
    names = list(inputs) if wrt is None else list(wrt)
    unknown = [name for name in names if name not in inputs]
    if unknown:
        raise InputError(f"not an input or param of the graph: {', '.join(unknown)}")
    if not names:
        raise InputError("the graph has no inputs or params to differentiate with respect to")
    # Each node's rule writes a handful of nodes (pow's the most, 11) and its contributions two.
    tape = TapeWriter.reopen(graph, max_nodes=16 * len(graph) + 64)
    grads = _backward(graph, tape)
    zero = RuleWriter(tape).const(0.0)
    result = {name: grads.get(inputs[name], zero) for name in names}
    return tape.finish(result[names[0]], f"d{graph.output_name}/d{names[0]}"), result


def _backward(graph: Graph, tape: TapeWriter) -> dict[int, int]:
    """Each node on a path to the output -> the node of d output/d that node."""
    out = graph.output
    on_path = graph.upstream(out)
    w = RuleWriter(tape)
    writer: NodeWriter = w  # what the rules write through (the type checker checks it is one)
    grads: dict[int, int] = {out: w.const(1.0)}
    for v in range(out, -1, -1):
        g = grads.get(v)
        op = OPS.get(graph.ops[v])
        if g is None or op is None or not on_path[v]:  # the leaves pass nothing on
            continue
        assert op.rule is not None, f"the op {op.name} has no graph rule"
        w.site = _site(graph, v)
        args = graph.args[v]
        for a, d in zip(args, op.rule(writer, v, *args)):
            contribution = w.op("mul", g, d)
            before = grads.get(a)
            grads[a] = contribution if before is None else w.op("add", before, contribution)
    return grads


def _site(graph: Graph, v: int) -> Span:
    """The site of node v: the gradient nodes of v point where v does."""
    p = graph.positions
    return Span(p[3 * v], p[3 * v + 1], p[3 * v + 2])
