"""The passes step by step, as data the page turns into `cgraph explain`'s lines.

The page recomputes every number when an input changes, so a step is sent as the
explanation's text without its numbers: the static parts (names, expressions, formulas),
and which node's value or gradient, or which local derivative, each number is. The
page's script writes the lines exactly as explain.lines does (tests/test_html_page.py
compares them), and highlights the step's node and edges.
"""

from __future__ import annotations

import re

from ...engine.evaluator import Evaluation
from ...ops import CALL, OPS, PREFIX
from ..explain import Explanation, Step, _d, _formula, _label, steps
from ..numbers import number
from ..render.scene import Scene


def step_data(ev: Evaluation, scene: Scene) -> list[dict]:
    """Every step of both passes (none left out), in explain's order."""
    exp = steps(ev, precision=scene.options.precision, max_steps=2 * len(ev.graph) + 2)
    edges_into: dict[int, list[str]] = {}
    edges_out_of: dict[int, list[str]] = {}
    for edge in scene.edges:
        if edge.dom_id:
            for u, v, _ in edge.sources:
                edges_out_of.setdefault(u, []).append(edge.dom_id)
                if v >= 0:
                    edges_into.setdefault(v, []).append(edge.dom_id)
    consumers = _consumers(ev)
    result = []
    for step in exp.steps:
        if step.phase == "forward":
            entry = _forward(ev, step)
            entry["edges"] = sorted(set(edges_into.get(step.node, [])))
        else:
            entry = _backward(exp, step, consumers.get(step.node, []))
            entry["edges"] = sorted(set(edges_out_of.get(step.node, [])))
        entry["node"] = step.node
        result.append(entry)
    return result


def _consumers(ev: Evaluation) -> dict[int, list[tuple[int, int]]]:
    """Each node's uses (consumer, argument position) on the paths to the output, in the
    order explain lists a node's contributions: by consumer, then position."""
    graph = ev.graph
    needed = graph.upstream(ev.output)
    found: dict[int, list[tuple[int, int]]] = {}
    for v in range(ev.output + 1):
        if needed[v]:
            for k, a in enumerate(graph.args[v]):
                found.setdefault(a, []).append((v, k))
    return found


def _where(step: Step) -> str:
    return f"[{step.where}] " if step.where else ""


def _forward(ev: Evaluation, step: Step) -> dict:
    """`3. [t = 2] h[2] = tanh(w * h[1]) = ` then the numbers, then ` = ` the value."""
    graph = ev.graph
    op = OPS[graph.ops[step.node]]
    expression = "" if step.expression == step.name else f" = {step.expression}"
    notation = "call" if op.notation == CALL else "prefix" if op.notation == PREFIX else "infix"
    return {
        "phase": "forward",
        "head": f"{step.number}. {_where(step)}{step.name}{expression} = ",
        "notation": notation, "symbol": op.name if notation == "call" else op.symbol,
        "args": list(graph.args[step.node]), "tight": list(op.tight),
        "after": [f"     {alias} is another name of {step.name}" for alias in step.aliases],
    }


def _backward(exp: Explanation, step: Step, uses: list[tuple[int, int]]) -> dict:
    out = exp.output
    d = f"d{out}/d{_d(step.name)}"
    contributions = []
    for c, (v, k) in zip(step.contributions, uses):
        consumer = c.consumer.split(" [", 1)[0]
        formula = f"({c.formula})" if re.search(r"[ +\-*/]", c.formula.lstrip("-")) else c.formula
        contributions.append({"via": c.consumer, "head": f"d{out}/d{_d(consumer)} * d{_d(consumer)}/d{_d(step.name)}|local = ",
                              "formula": formula, "raw": c.formula, "v": v, "k": k})
    return {
        "phase": "backward",
        "prefix": f"{step.number}. {_where(step)}",
        "d": d, "name": step.name,
        "contributions": contributions,
        "aliases": [f"     {alias} is another name of {step.name}, so d{out}/d{_d(alias)} = " for alias in step.aliases],
    }


def node_data(ev: Evaluation, precision: int) -> dict:
    """What clicking a node shows besides numbers: each node's label (as explain calls
    it) and each op node's local derivatives as formulas of its operands' names."""
    graph = ev.graph
    fmt = lambda v: number(v, precision)  # noqa: E731
    labels = [_label(graph, i, ev) for i in range(len(graph))]
    formulas = [[_formula(graph, v, k, fmt) for k in range(len(graph.args[v]))] for v in range(len(graph))]
    return {"labels": labels, "dnames": [_d(label) for label in labels], "formulas": formulas}
