"""Reverse mode as a graph-to-graph transformation: `grad(graph)` is a graph whose outputs
are the derivatives of the graph's outputs, written with the same ops as any program.

The walk is the evaluator's backward pass (cgraph/engine/evaluator.py) with nodes instead
of numbers: the seed 1 at the output; going back along the tape, each node on a path to
the output gives each argument the contribution grad(node) * d node/d arg, the local
derivative written by the op table's graph rule (`Op.rule`); contributions to one node
are summed in the order the backward pass adds them. Nodes off every path to the output
pass nothing on (as in the backward pass: 0 times an inf derivative would be nan).

A graph of several outputs (a gradient graph is one) gets a backward walk per output, so
`grad` applied to its own result gives second derivatives, and so on (`order`). Written
through a `SimplifyingWriter`, the nodes are folded, shared and rid of exact identities as
they are written, and the nodes no output needs are dropped after (simplify.py says what
is exact); raw, every node of the walk stays, the seed and each `g * 1` included.

Every gradient of a named (or op) node gets a name, `dg_dp` for d g/d p, and a note
saying which forward node it belongs to; `gradient_program` returns both, for a program
text to show (cgraph/views/program.py).
"""

from __future__ import annotations

from typing import Sequence

from ..errors import GraphTooLarge, InputError, clip, did_you_mean
from ..ir.graph import Graph
from ..ir.tape import RuleWriter, Span, TapeWriter, paused_gc
from ..ops import CONST, INPUT_KINDS, LEAF_KINDS, RULES, NodeWriter, chain_product, chain_sum
from .naming import DerivativeNames
from .simplify import SimplifyingWriter, live_nodes
from .tangent import Tangents

MAX_ORDER = 16
# A gradient's note: its text, or (the forward graph, the output's name, the forward node),
# worded by `_note` once the gradient is known to be kept.
Note = str | tuple[Graph, str, int]  # the node count of an n-th derivative grows with n: past this it is a typo


def grad(graph: Graph, wrt: Sequence[str] | None = None, order: int = 1, *, simplify: bool = True,
         max_nodes: int = 10_000_000) -> Graph:
    """The derivatives of `graph`'s outputs with respect to each name of `wrt` (default:
    every input and param), as a graph: same inputs and params (declarations and defaults
    kept), one output per (output, wrt name) pair, `dg_dx`; `order` n applies this n times
    (outputs `d2g_dx_dy`, ...)."""
    return gradient_program(graph, wrt, order, simplify=simplify, max_nodes=max_nodes)[0]


def gradient_program(graph: Graph, wrt: Sequence[str] | None = None, order: int = 1, *, simplify: bool = True,
                     max_nodes: int = 10_000_000) -> tuple[Graph, dict[str, str]]:
    """`grad`, and a note per gradient name: which forward node it is the derivative of,
    and where that node is in the source."""
    names = _wrt_names(graph, wrt)
    if not 1 <= order <= MAX_ORDER:
        raise InputError(f"the order must be between 1 and {MAX_ORDER}, not {order}")
    with paused_gc():
        return _gradient_program(graph, names, order, simplify, max_nodes)


def _gradient_program(graph: Graph, names: list[str], order: int, simplify: bool,
                      max_nodes: int) -> tuple[Graph, dict[str, str]]:
    _refuse_too_many_outputs(graph, names, order, max_nodes)
    derivative_names = DerivativeNames(graph, names)
    notes: dict[str, str] = {}
    derivative_names.take(graph.names)
    graph, notes = _one_order(graph, names, derivative_names, simplify, max_nodes)
    if order > 1:
        derivative_names.take(graph.names)
        graph, notes = _higher_orders(graph, names, order - 1, derivative_names, simplify, max_nodes)
    return graph, notes


def _refuse_too_many_outputs(graph: Graph, names: list[str], order: int, max_nodes: int) -> None:
    """Sized before it is built: order n has an output (a node at least) per output of
    `graph` and n-tuple of wrt names. The Hessian of 50,000 inputs would fill memory for
    minutes before the node limit stopped it."""
    count = len(graph.outputs) * len(names) ** order
    if count > max_nodes:
        raise GraphTooLarge(
            f"the derivatives of order {order} would be {count:,} outputs ({len(graph.outputs)} "
            f"output{'s' if len(graph.outputs) != 1 else ''} x {len(names):,} inputs and params"
            f"{f' to the power {order}' if order > 1 else ''}), over the limit of {max_nodes:,} nodes",
            hint="differentiate with respect to fewer inputs and params, or raise the limit (--max-nodes N)")


def _wrt_names(graph: Graph, wrt: Sequence[str] | None) -> list[str]:
    inputs = graph.inputs
    names = list(inputs) if wrt is None else list(dict.fromkeys(wrt))
    unknown = [name for name in names if name not in inputs]
    if unknown:
        raise InputError(f"not an input or param of the graph: {', '.join(unknown)}"
                         + did_you_mean(unknown[0], inputs))
    if not names:
        raise InputError("the graph has no inputs or params to differentiate with respect to")
    return names


def _one_order(graph: Graph, wrt: list[str], derivative_names: DerivativeNames, simplify: bool,
               max_nodes: int) -> tuple[Graph, dict[str, str]]:
    """One application: the derivative of every output of `graph` w.r.t. every wrt name."""
    tape = TapeWriter.reopen(graph, max_nodes=max_nodes)
    writer: RuleWriter = SimplifyingWriter(tape) if simplify else RuleWriter(tape)
    inputs = graph.inputs
    outputs: list[tuple[int, str]] = []
    naming: list[tuple[int, str, Note]] = []  # (node, name, note) for each gradient to name
    first, ops, of = graph.node_names.first, graph.ops, derivative_names.of
    for out, out_name in zip(graph.outputs, graph.output_names):
        grads = _backward(graph, tape, writer, out, seed_named=not simplify)
        for v, g in grads.items():
            name = first(v)
            if name is None and ops[v] == CONST:
                continue  # nobody asks for d out/d 3
            # A gradient's name says the forward node's name, else its op and id; a leaf's
            # is asked for again below, as an output's.
            label = f"{ops[v]}{v}" if name is None else name
            naming.append((g, of(out_name, label, ops[v] in INPUT_KINDS), (graph, out_name, v)))
        for w in wrt:
            node = grads.get(inputs[w])
            name = of(out_name, w)
            if node is None:  # w does not reach this output: the derivative is 0
                # (written only then: a 0 nobody uses would be a dead node to drop after)
                node = writer.const(0.0)
                naming.append((node, name, f"d {out_name}/d {w}: {out_name} does not depend on {w}"))
            outputs.append((node, name))
    return _finish(tape, outputs, naming, simplify)


def _higher_orders(graph: Graph, wrt: list[str], more: int, derivative_names: DerivativeNames, simplify: bool,
                   max_nodes: int) -> tuple[Graph, dict[str, str]]:
    """`more` further orders of the gradient graph `graph`, by forward mode: each output's
    tangent along each wrt name (forward over reverse). Reverse again would walk every
    node of the last order's graph per output, doubling the graph at each order (tanh's
    8th derivative: 253 operation nodes); tangents remembered per node cost only the new nodes of
    each order (83). Only the outputs get names: one per node of a derivative would be noise."""
    tape = TapeWriter.reopen(graph, max_nodes=max_nodes)
    writer: RuleWriter = SimplifyingWriter(tape) if simplify else RuleWriter(tape)
    inputs = graph.inputs
    tangents = {w: Tangents(tape, writer, inputs[w]) for w in wrt}
    outputs = list(zip(graph.outputs, graph.output_names))
    naming: list[tuple[int, str, Note]] = []
    for _ in range(more):
        following: list[tuple[int, str]] = []
        for y, y_name in outputs:
            for w in wrt:
                node = tangents[w].of(y)
                name = derivative_names.of(y_name, w)
                following.append((writer.const(0.0) if node is None else node, name))
                naming.append((following[-1][0], name, f"d/d {w} of {y_name}"))
        outputs = following
    return _finish(tape, outputs, naming, simplify)


def _note(graph: Graph, out_name: str, v: int) -> str:
    """Which forward node a gradient belongs to: `d g/d p, p = x + y (line 2)`."""
    name = graph.name_of(v)
    if graph.ops[v] in INPUT_KINDS:
        return f"d {out_name}/d {name}"
    text = graph.line_text_of(v)
    if name is not None:
        where = f"{name}, {name} = {clip(text)}"
    else:
        where = clip(text) if text.startswith("(") and text.endswith(")") else f"({clip(text)})"
    return f"d {out_name}/d {where} (line {graph.line_of(v)})"


def _backward(graph: Graph, tape: TapeWriter, w: RuleWriter, out: int, seed_named: bool) -> dict[int, int]:
    """Each node on a path to `out` -> the node of d out/d that node. (A node gets a
    gradient only from a consumer that has one, so every node reached is on such a path.)"""
    writer: NodeWriter = w  # what the rules write through (the type checker checks it is one)
    # One site, moved from node to node: the nodes written for node v point where v does
    # (the tape copies a site's offsets when it appends, so one object serves them all).
    site = w.site = Span()
    positions = graph.positions
    site.pos, site.start, site.end = positions[3 * out : 3 * out + 3]
    # Raw, the seed is a constant of its own, so a program shows `dg_dg = 1` and its uses.
    seed = tape.push(CONST, -1, -3, site, tape.root, 1.0) if seed_named else w.const(1.0)
    grads: dict[int, int] = {out: seed}
    # A node's contributions wait here until the walk reaches it: by then every consumer
    # (later on the tape) has given its own, and one sum node adds them.
    waiting: dict[int, list[int]] = {}
    ops, all_args, rules = graph.ops, graph.args, RULES
    for v in range(out, -1, -1):
        terms = waiting.pop(v, None)
        if terms is None and v != out:
            continue  # not on a path to the output (or a leaf, which passes nothing on)
        site.pos, site.start, site.end = positions[3 * v : 3 * v + 3]
        g = grads[v] = seed if terms is None else chain_sum(writer, terms)
        rule = rules.get(ops[v])
        if rule is None:
            if ops[v] in LEAF_KINDS:
                continue  # passes nothing on
            raise ValueError(f"the op {ops[v]!r} has no graph rule (Op.rule)")
        args = all_args[v]
        for a, d in zip(args, rule(writer, v, *args)):
            # An argument that moves nothing still gets g * 0, as the evaluator's backward
            # pass gives it (nan where g is inf): the first order mirrors that pass.
            waiting.setdefault(a, []).append(chain_product(writer, g, writer.const(0.0) if d is None else d))
    return grads


def _finish(tape: TapeWriter, outputs: list[tuple[int, str]], naming: list[tuple[int, str, Note]],
            simplify: bool) -> tuple[Graph, dict[str, str]]:
    """The written tape as a graph: dead nodes dropped (simplifying), gradients named."""
    new_id: list[int] | None = None
    if simplify:
        draft = tape.finish_outputs(outputs)
        tape, new_id = TapeWriter.copy_of(draft, tape.max_nodes, keep=live_nodes(draft))
        outputs = [(new_id[node], name) for node, name in outputs]
        naming = [(new_id[node], name, note) for node, name, note in naming if new_id[node] >= 0]
    notes: dict[str, str] = {}
    output_names = {name for _, name in outputs}
    for node, name, note in naming:
        if name in tape.names:
            continue  # a leaf's gradient is also an output
        if tape.is_shared_literal(node):
            if name not in output_names:
                continue  # a constant gradient is written where it is used
            # A named constant is a node of its own (naming the shared literal would name
            # every use of the value), and an output needs a name.
            node = tape.own_constant(node, len(tape), Span(), tape.root)
        tape.name(node, name)
        # Notes are worded only for the gradients that are kept and named.
        notes[name] = note if isinstance(note, str) else _note(*note)
    outputs = [(tape.names[name], name) for _, name in outputs]
    return tape.finish_outputs(outputs), notes
