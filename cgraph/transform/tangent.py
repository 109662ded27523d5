"""Forward mode as a graph transformation: the node of dv/dw for any node v, written onto
a tape through a NodeWriter with the op table's graph rules (`Op.rule`).

The tangent of a node is the sum over its arguments of tangent(arg) * d node/d arg; a
node that does not depend on w has none (None), and passes nothing on, as a node off
every path passes nothing on in the backward pass (0 times an inf derivative would be
nan). For the same reason an argument that does not move the node at all (the rule says
None: a piecewise-constant op's, a select's condition) passes nothing on, and a select
passes its branch's tangent through a select, not a product with 0 or 1. So a tangent is
the same whether a simplifier folded a condition to a constant or not. Tangents are kept per node, so asking for the tangent of a later node, even one
written after the last question (a tangent of a tangent), reuses every tangent already
written: the n-th derivative of a function of one variable costs what the new nodes of
the (n-1)-th cost, not a walk over all of them. That is why higher orders are forward
over reverse (cgraph/transform/grad.py).
"""

from __future__ import annotations

from ..ir.tape import RuleWriter, TapeWriter
from ..ops import OPS, NodeWriter, chain_product, chain_sum, select_tangent


class Tangents:
    """d node/d `leaf` for the nodes of one tape, written on demand and remembered."""

    __slots__ = ("tape", "writer", "_known")

    def __init__(self, tape: TapeWriter, writer: RuleWriter, leaf: int):
        self.tape = tape
        self.writer = writer
        self._known: dict[int, int | None] = {leaf: writer.const(1.0)}

    def of(self, root: int) -> int | None:
        """The node of d root/d leaf, or None where root does not depend on the leaf.
        A walk with an explicit stack: a deep graph is a long chain of arguments."""
        known = self._known
        if root in known:
            return known[root]
        args_of = self.tape.args_of
        stack = [root]
        while stack:
            v = stack[-1]
            if v in known:
                stack.pop()
                continue
            args = args_of(v)
            missing = [a for a in args if a not in known]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            known[v] = self._tangent(v, args)
        return known[root]

    def _tangent(self, v: int, args: tuple[int, ...]) -> int | None:
        tangents = [self._known[a] for a in args]
        op = OPS.get(self.tape.ops[v])
        if op is None or all(t is None for t in tangents):
            return None  # a leaf other than the one, or a node that does not depend on it
        assert op.rule is not None, f"the op {op.name} has no graph rule"
        w = self.writer
        w.site = self.tape.site_of(v)
        writer: NodeWriter = w
        if op.select:  # its condition moves nothing; its value is x's or a constant's
            return None if tangents[1] is None else select_tangent(writer, args[0], tangents[1])
        terms = [chain_product(writer, t, d) for t, d in zip(tangents, op.rule(writer, v, *args))
                 if t is not None and d is not None]
        return chain_sum(writer, terms) if terms else None
