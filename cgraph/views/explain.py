"""Both passes in the words of a backprop lecture, step by step.

    Forward pass
      1. p = x + y = 1 + 3 = 4
      2. g = p * z = 4 * -3 = -12
    Backward pass
      1. dg/dg = 1
      2. dg/dz = dg/dg * dg/dz|local = 1 * p = 1 * 4 = 4
      ...

(`cgraph explain` of `p = x + y; g = p * z` at x = 1, y = 3, z = -3.) `steps()` gives the
steps as data; `layout` and `to_text` and `to_dict` (JSON) write them, and
explain_tex.py `to_markdown` and `to_latex` (as math). A node used by several consumers
gets one line per contribution and their sum.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ..engine.evaluator import Evaluation, local_derivatives
from ..ir.graph import Graph
from ..ops import CALL, CONST, FORMULA_TERMS, LEAF_KINDS, OPS, PREFIX
from .focus import focus_nodes
from .node_text import node_text
from .numbers import Blank, json_number, number

if TYPE_CHECKING:
    from .worksheet import Worksheet

DEFAULT_MAX_STEPS = 200


@dataclass
class Contribution:
    consumer: str  # the node using this one
    upstream: float  # d out / d consumer
    formula: str  # d consumer / d this node, as a formula of the op
    local: float  # ... and its value
    value: float  # upstream * local
    where: str = ""  # the consumer's loop iterations and calls ('t = 4'), as a step's `where`


@dataclass
class Step:
    phase: str  # 'forward' or 'backward'
    number: int
    node: int
    name: str
    where: str  # 't = 3', 'neuron #2', or ''
    value: float  # the node's value and d out / d node, in both passes
    grad: float
    # forward only (None in a backward step): the expression with names and with numbers
    expression: str | None = None
    numbers: str | None = None
    # backward: the terms d out / d node adds up (none in a forward step)
    contributions: list[Contribution] = field(default_factory=list)
    # the node's other names (`g = f` makes g another name of f's node: one gradient)
    aliases: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    output: str
    steps: list[Step]
    omitted: int  # steps beyond max_steps
    precision: int


def steps(
    ev: Evaluation,
    *,
    only: str | None = None,
    node: str | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    precision: int = 6,
    blanks: Worksheet | None = None,
) -> Explanation:
    """The steps of both passes (or `only` one), for every node or for those on the paths
    from `node` to the output; with `blanks` (an exercise sheet), its numbers as blanks."""
    graph = ev.graph
    shown = focus_nodes(graph, node, ev.output, "--node") if node else list(range(ev.output + 1))
    needed = graph.upstream(ev.output)
    shown = [i for i in shown if needed[i]]
    fmt = lambda v: number(v, precision)  # noqa: E731
    out = ev.output_name
    values, grads = _numbers(ev, blanks)
    result: list[Step] = []
    total = 0
    if only in (None, "forward"):
        for i in shown:
            if graph.ops[i] in LEAF_KINDS:
                continue
            total += 1
            if len(result) < max_steps:
                names, numbers = _expression(graph, ev, i, fmt, values)
                result.append(Step("forward", total, i, _label(graph, i, ev), _where(graph, i), values[i], grads[i],
                                   expression=names, numbers=numbers, aliases=_aliases(graph, i, ev)))
    if only in (None, "backward"):
        consumers = _consumers(graph, set(shown) | {ev.output})
        count = 0
        for i in reversed(shown):
            if graph.is_literal(i):  # no one asks d out/d 2; a named constant's step is shown
                continue
            count += 1
            total += 1
            if len(result) >= max_steps:
                continue
            step = Step("backward", count, i, _label(graph, i, ev), _where(graph, i), values[i], grads[i],
                        aliases=_aliases(graph, i, ev))
            for v, k in consumers.get(i, []):
                local = local_derivatives(graph, ev.values, v)[k]
                where = _where(graph, v)
                contribution = Contribution(
                    _label(graph, v, ev) + (f" [{where}]" if where and len(consumers[i]) > 1 else ""),
                    grads[v], _formula(graph, v, k, fmt), local, ev.grads[v] * local, where,
                )
                step.contributions.append(_blanked(contribution, blanks, i, v, k, fmt))
            result.append(step)
    return Explanation(out, result, total - len(result), precision)


def _numbers(ev: Evaluation, blanks: Worksheet | None) -> tuple[list[float], list[float]]:
    """The values and gradients the steps show: the evaluation's, or an exercise sheet's
    (some of them blanks)."""
    return (blanks.values(), blanks.grads()) if blanks is not None else (ev.values, ev.grads)


def _blanked(c: Contribution, blanks: Worksheet | None, u: int, v: int, k: int, fmt) -> Contribution:
    """A contribution with its numbers as the sheet's blanks. A formula that is a number
    (the 1 of a sum) is the local derivative itself: it is blanked with it."""
    if blanks is None:
        return c
    local = blanks.local(v, k, c.local)
    formula = fmt(local) if isinstance(local, Blank) and c.formula == fmt(c.local) else c.formula
    return Contribution(c.consumer, c.upstream, formula, local, blanks.share(u, v, k, c.value), c.where)


def _consumers(graph: Graph, keep: set[int]) -> dict[int, list[tuple[int, int]]]:
    found: dict[int, list[tuple[int, int]]] = {}
    for v in sorted(keep):
        for k, a in enumerate(graph.args[v]):
            found.setdefault(a, []).append((v, k))
    return found


def _label(graph: Graph, i: int, ev: Evaluation | None = None) -> str:
    if ev is not None and i == ev.output:
        return ev.output_name
    return graph.name_of(i) or node_text(graph, i)


def _aliases(graph: Graph, i: int, ev: Evaluation | None = None) -> list[str]:
    """The node's names other than the one it is called by in the step."""
    label = _label(graph, i, ev)
    return [name for name in graph.node_names.get(i, ()) if name != label]


def _where(graph: Graph, i: int) -> str:
    return ", ".join(str(t) for t in graph.tags[i])


def _operand(graph: Graph, i: int, fmt, numbers: list[float] | None, tight: bool = False) -> str:
    """An argument as written in a step: its name, its value, or (its expression).
    `tight`: it sits where a minus sign would bind wrongly (the base of ^, after unary -)."""
    if numbers is not None:
        text = fmt(numbers[i])
        return f"({text})" if tight and text.startswith("-") else text
    name = graph.name_of(i)
    if graph.ops[i] == CONST and not name:
        return fmt(graph.values[i])
    if name:
        return name
    text = node_text(graph, i)
    return text if not _is_operator(graph.ops[i]) or text.startswith("(") else f"({text})"


def _is_operator(kind: str) -> bool:
    """Written with a symbol (a + b, -a), so its text needs parentheses as an operand."""
    op = OPS.get(kind)
    return op is not None and op.notation != CALL


def _expression(graph: Graph, ev: Evaluation, i: int, fmt, values: list[float]) -> tuple[str, str]:
    op, args = graph.ops[i], graph.args[i]
    entry = OPS[op]

    def write(numbers):
        if entry.notation != CALL:
            parts = [_operand(graph, a, fmt, numbers, tight=k in entry.tight) for k, a in enumerate(args)]
            if entry.notation == PREFIX:
                return f"{entry.symbol}{parts[0]}"
            return f" {entry.symbol} ".join(parts)
        # Inside a function's parentheses an argument needs no more of them.
        parts = [fmt(numbers[a]) if numbers is not None else (graph.name_of(a) or (
                 node_text(graph, a) if graph.ops[a] != CONST else fmt(graph.values[a]))) for a in args]
        if len(parts) > 6:
            return f"{op}({', '.join(parts[:3])}, ..., {parts[-1]})  [{len(parts)} terms]"
        return f"{op}({', '.join(parts)})"

    return write(None), write(values)


def _formula(graph: Graph, v: int, k: int, fmt) -> str:
    """d v / d (its k-th argument) spelled with the arguments' names: for mul, the other factor."""
    op = OPS[graph.ops[v]]
    formula = op.formulas[k] if k < len(op.formulas) else op.formulas[0]
    args = graph.args[v]
    names = {"a": _operand(graph, args[0], fmt, None), "out": _label(graph, v)}
    if len(args) > 1:
        names["b"] = _operand(graph, args[1], fmt, None)
    names["n"] = str(len(args))
    return re.sub(FORMULA_TERMS, lambda m: names[m["arg"]] if m["arg"] in names else m[0], formula)


# --- writing ----------------------------------------------------------------------------


def lines(exp: Explanation) -> list[tuple[str, str]]:
    """(section, line) pairs in plain text: the narrative, for the terminal."""
    fmt = lambda v: number(v, exp.precision)  # noqa: E731
    out = exp.output
    result = []
    for step in exp.steps:
        where = f"[{step.where}] " if step.where else ""
        if step.phase == "forward":
            # A node known by its expression (`w * h[3]` in a loop) says it once, not twice.
            expression = "" if step.expression == step.name else f" = {step.expression}"
            result.append(("forward", f"{step.number}. {where}{step.name}{expression} = {step.numbers} = {fmt(step.value)}"))
            result.extend(("forward", f"     {alias} is another name of {step.name}") for alias in step.aliases)
            continue
        d = f"d{out}/d{_d(step.name)}"
        if not step.contributions:
            result.append(("backward", f"{step.number}. {where}{d} = 1"))
        elif len(step.contributions) == 1:
            c = step.contributions[0]
            result.append(("backward", f"{step.number}. {where}{d} = {_chain(out, step.name, c, fmt)}"))
        else:
            n = len(step.contributions)
            result.append(("backward", f"{step.number}. {where}{d}: {step.name} is used {n} times, so its contributions add up:"))
            for c in step.contributions:
                result.append(("backward", f"     via {c.consumer}: {_chain(out, step.name, c, fmt)}"))
            total = " + ".join(fmt(c.value) for c in step.contributions)
            result.append(("backward", f"     {d} = {total} = {fmt(step.grad)}"))
        result.extend(
            ("backward", f"     {alias} is another name of {step.name}, so d{out}/d{_d(alias)} = {fmt(step.grad)}")
            for alias in step.aliases
        )
    return result


def _d(name: str) -> str:
    """A name after d: dx, dh[3], d(x + y)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[0-9,\-]+\])?(@\S+)?", name) or (name.startswith("(") and name.endswith(")")):
        return name
    return f"({name})"


def _chain(out: str, name: str, c: Contribution, fmt) -> str:
    """upstream gradient * local derivative, as formula, then numbers: the chain rule."""
    consumer = c.consumer.split(" [", 1)[0]
    up = f"d{out}/d{_d(consumer)}"
    local = f"d{_d(consumer)}/d{_d(name)}|local"
    formula = f"({c.formula})" if re.search(r"[ +\-*/]", c.formula.lstrip("-")) else c.formula
    head = f"{up} * {local} = {fmt(c.upstream)} * {formula}"
    if c.formula != fmt(c.local):
        head += f" = {fmt(c.upstream)} * {fmt(c.local)}"
    return f"{head} = {fmt(c.value)}"


# The style of each kind of line on a terminal (rich style names).
STYLES = {"heading": "bold", "forward": "green", "backward": "red", "note": "dim"}


def layout(exp: Explanation) -> list[tuple[str, str]]:
    """The text explanation as (line, kind) pairs, kind a key of STYLES: a heading per
    pass, its steps indented, and a note when steps were left out. `to_text` joins the
    lines; the CLI prints each in its kind's style, so both show the same layout."""
    out = []
    section = None
    for phase, line in lines(exp):
        if phase != section:
            out.append(("Forward pass" if phase == "forward" else "Backward pass", "heading"))
            section = phase
        out.append(("  " + line, phase))
    if exp.omitted:
        out.append((f"  ... and {exp.omitted} more steps (raise --max-steps to see them)", "note"))
    return out


def to_text(exp: Explanation) -> str:
    return "\n".join(line for line, _ in layout(exp)) + "\n"


def to_dict(exp: Explanation) -> dict:
    def clean(obj):
        if isinstance(obj, float):
            return None if isinstance(obj, Blank) else json_number(obj)
        if isinstance(obj, dict):
            # An exercise sheet's number is null, and "blanks" says which blank it is.
            blanks = {k: v.blank for k, v in obj.items() if isinstance(v, Blank)}
            return {k: clean(v) for k, v in obj.items()} | ({"blanks": blanks} if blanks else {})
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return {"output": exp.output, "steps": [clean(asdict(s)) for s in exp.steps], "omitted": exp.omitted}


def __getattr__(name: str):
    """explain.to_markdown and explain.to_latex, which live in explain_tex.py (they build
    on this module's steps, so it cannot import them while it loads)."""
    if name in ("to_markdown", "to_latex"):
        from . import explain_tex

        return getattr(explain_tex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
