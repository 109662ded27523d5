"""Names of derivatives: `dg_dp` for d g/d p, `d2g_dx_dy` for d/dy of dg_dx, and so on.

A name is composed from the output's and the node's names and must be a name the language
reads back (`cgraph grad f.cg | cgraph eval -`): an identifier, optionally with integer
indices at its end (`h[3]`, `w[1,2]`, `h[-1]`). So indices inside a composed name are flattened
(`d2g_dw_1_2_dx`) and only the last part keeps its own (`dloss_dh[3]`). A composed name
already taken (by the program or an earlier derivative) gets `_` appended to its word.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ..ir.graph import Graph

_INDEXED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\[-?[0-9]+(?:,-?[0-9]+)*\])?$")


def _flat(name: str) -> str:
    """w[1,2] -> w_1_2, h[-1] -> h_m1: a name inside a longer one."""
    return name.replace("[", "_").replace(",", "_").replace("]", "").replace("-", "m")


class DerivativeNames:
    """Composes derivative names and keeps them unique and stable within a transformation:
    the same (output, node) always gets the same name."""

    def __init__(self, graph: Graph, wrt: Sequence[str]):
        self._taken: set[str] = set(graph.names)
        self._made: dict[tuple[str, str], str] = {}
        # A derivative's name -> (what was differentiated, the nodes, in order), so that
        # differentiating it again extends the list: dg_dx -> d2g_dx_dy.
        self._parts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._heads: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._wrt = sorted({_flat(w) for w in wrt}, key=len, reverse=True)

    def take(self, names: Iterable[str]) -> None:
        """Names that a new name must not be (those of the graph about to be transformed)."""
        self._taken.update(names)

    def of(self, out: str, node: str, again: bool = True) -> str:
        """The name of d out/d node. `again=False`: a name that is asked for once and never
        differentiated again (an intermediate gradient's: one per node of a big program, so
        nothing is kept for it)."""
        if again:
            made = self._made.get((out, node))
            if made is not None:
                return made
        head = self._heads.get(out)
        if head is None:
            head = self._heads[out] = self._head(out)
        prefix, base, parts = head
        if "[" in node or "-" in node:
            last = _INDEXED.match(node)
            word, index = (f"d{last.group(1)}", last.group(2) or "") if last else (f"d{_flat(node)}", "")
        else:  # a plain name (the common case, once per node of a big program: no regex)
            word, index = "d" + node, ""
        name = prefix + word
        taken = self._taken
        while name + index in taken:
            name += "_"
        name += index
        taken.add(name)
        if again:
            self._made[(out, node)] = name
            self._parts[name] = (base, parts + (node,))
        return name

    def _head(self, out: str) -> tuple[str, str, tuple[str, ...]]:
        """What every derivative of `out` starts with: `d2g_dx_` for out = dg_dx; and out's
        (what was differentiated, the nodes)."""
        known = self._parts.get(out)
        base, parts = known if known is not None else self._parse(out) or (out, ())
        order = len(parts) + 1
        prefix = f"d{order if order > 1 else ''}{_flat(base)}_" + "".join(f"d{_flat(p)}_" for p in parts)
        return prefix, base, parts

    def _parse(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        """Read `d2g_dx_dy` (from a program `cgraph grad` wrote) as (g, (x, y)), where x and
        y are names differentiated with respect to; None if it is not of that form."""
        m = re.match(r"d([2-9]|[1-9][0-9]+)?(?=[A-Za-z_])", name)
        if not m:
            return None
        order = int(m.group(1) or 1)
        rest = name[m.end():]
        parts: list[str] = []
        for _ in range(order):
            for w in self._wrt:
                if rest.endswith("_d" + w) and len(rest) > len(w) + 2:
                    parts.insert(0, w)
                    rest = rest[: -len(w) - 2]
                    break
            else:
                return None
        return rest, tuple(parts)
