"""Simplification while a pass writes nodes, and dead nodes dropped after.

`SimplifyingWriter` is the `ops.NodeWriter` a transformation writes through. Before it
appends `op(args)` it tries, in order:
- constant folding: every argument a constant -> the constant the op's own forward
  function gives (the evaluator's function, so inf and nan come out as they would);
- identities exact in IEEE arithmetic: x*1, 1*x, x/1, x+(-0), x-0, x^1 -> x; --x -> x;
  x*(-1), (-1)*x -> -x. Never x*0 -> 0 (inf*0 and nan*0 are nan) nor x-x -> 0;
- common subexpressions (hash-consing): one node per op and arguments, the graph's own
  nodes included, so a rule's `cos(a)` reuses the forward pass's `cos(a)`; a commutative
  op's (Op.commutative) arguments in one order, so `b*a` is `a*b`.
Each is exact, so a simplified graph computes what the raw one does: folding runs the
same float function at build time that the evaluator would run later, and no identity
changes as much as the sign of a zero (x + 0 stays: -0 + 0 is +0).

`live_nodes` flags what the outputs need; `TapeWriter.copy_of` copies only those.
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.tape import RuleWriter, Scope, Site, TapeWriter
from ..ops import CONST, LEAF_KINDS, OPS, SIMPLIFICATIONS


class SimplifyingWriter(RuleWriter):
    """A RuleWriter that folds constants, applies exact identities and shares equal nodes."""

    __slots__ = ("_known", "_depth")

    def __init__(self, tape: TapeWriter, site: Site | None = None, scope: Scope | None = None):
        super().__init__(tape, site, scope)
        # (op, args) -> node, for every op node on the tape so far (leaves are shared already).
        self._known: dict[tuple, int] = {}
        self._depth = 0  # rewrites in progress (a rewrite writes its result through `op`)
        ops = tape.ops
        for i in range(len(ops)):
            if ops[i] not in LEAF_KINDS:
                self._known.setdefault((ops[i], tape.args_of(i)), i)

    def op(self, name: str, *args: int) -> int:
        tape = self.tape
        ops = tape.ops
        if len(args) == 2 and args[0] > args[1] and OPS[name].commutative:
            args = (args[1], args[0])  # one order of a commutative op's arguments: one node
        values: list[float | None] = [tape.value_of(a) if ops[a] == CONST else None for a in args]
        if None not in values:
            return self.const(OPS[name].forward(*values))
        rewrite = SIMPLIFICATIONS.get(name)
        # A rewrite's result is written through `op` again, and may be rewritten in turn;
        # a program's own chain of negations could take that deep, so past a few levels
        # the node is written as it is.
        if rewrite is not None and self._depth < _MAX_DEPTH:
            found = rewrite(args, values, ops, tape.args_of)
            if found is not None:
                if isinstance(found, int):
                    return found
                self._depth += 1
                try:
                    return self._term(found)
                finally:
                    self._depth -= 1
        key = (name, args)
        node = self._known.get(key)
        if node is None:
            node = self._known[key] = tape.append(name, args, self.site, self.scope)
        return node


    def _term(self, term: tuple) -> int:
        """The node of a rewrite's term: (op, arg, ...), each arg a node id, a term, or
        (CONST, value). Terms are a few nodes deep, written by the op table."""
        name, *parts = term
        if name == CONST:
            return self.const(parts[0])
        return self.op(name, *(p if isinstance(p, int) else self._term(p) for p in parts))


_MAX_DEPTH = 32


def live_nodes(graph: Graph) -> bytearray:
    """Flags: 1 for every node an output needs (and the outputs)."""
    return graph.upstream(*graph.outputs)
