"""Exercise sheets: which numbers of a diagram and of an explanation are left blank, their
numbering, and the answer key.

A number shown by `render` or `explain` is one of four quantities: a node's value, its
gradient d out/d node, the local derivative d v/d u of a consumer v with respect to its
k-th argument u, and the share of u's gradient flowing back along that use (d out/d v
times the local derivative, an edge's red number; for a node used once, its gradient
itself). A `Worksheet` numbers the quantities chosen, in the order the passes compute
them (forward values in tape order, then, from the output back, each node's local
derivatives, shares and gradient): the order is fixed by the graph, the output and the
choice alone, so `render` and `explain` of one program write the same blank for the same
number, and a quantity shown twice (a gradient, then the upstream factor of the next
step) is the same blank twice.

What is given stays: a literal (a number written in the file), the seed d out/d out = 1,
and the values of inputs, params and named constants unless `nodes` names them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from ..engine.evaluator import Evaluation, local_derivatives
from ..errors import InputError, clip, name_hint
from ..ir.graph import Graph
from ..ops import LEAF_KINDS, OPS
from .node_text import node_label
from .numbers import Blank, blank_text, json_number, number, text_number

KINDS = ("values", "grads", "local")
ANSWER_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown"}  # any other name: text

Key = tuple  # ("value", i), ("grad", i), ("local", v, k), ("share", u, v, k)


@dataclass(frozen=True)
class Answer:
    blank: int
    kind: str  # value, grad, local (a share is a gradient: grad)
    quantity: str  # as explain writes it: p, dg/dp, dp/dx|local, dg/dx via p
    where: str  # the node's loop iterations and calls ('t = 3'), or ''
    value: float


class Worksheet:
    """The blanks of one program at one evaluation: `value`, `grad`, `local` and `share`
    give a number as it is (a float) or as its blank (a `Blank`, which views write `[n]`)."""

    def __init__(self, ev: Evaluation, kinds: frozenset[str], nodes: frozenset[int] | None) -> None:
        self.ev, self.graph, self.kinds, self.nodes = ev, ev.graph, kinds, nodes
        self.numbers: dict[Key, int] = {}
        self.answers: list[Answer] = []
        self._number_all()

    # --- which numbers are blanks, and in which order ------------------------------------

    def _chosen(self, kind: str, i: int) -> bool:
        """Whether node i's numbers of `kind` are blanks: named by `nodes`, or (without it)
        computed ones, as opposed to given ones."""
        if kind not in self.kinds or self.graph.is_literal(i):
            return False
        if kind == "grads" and i == self.ev.output:  # the seed: 1 by definition, where the backward pass starts
            return False
        if self.nodes is not None:
            return i in self.nodes
        return kind != "values" or self.graph.ops[i] not in LEAF_KINDS

    def _number_all(self) -> None:
        graph, ev = self.graph, self.ev
        needed = graph.upstream(ev.output)
        uses: dict[int, list[tuple[int, int]]] = {}
        for v in range(len(graph)):
            for k, u in enumerate(graph.args[v]):
                uses.setdefault(u, []).append((v, k))
        self.uses = {u: [(v, k) for v, k in vk if needed[v]] for u, vk in uses.items()}
        for i in range(len(graph)):
            if needed[i] and self._chosen("values", i):
                self._add(("value", i))
        for i in reversed(range(len(graph))):
            if needed[i]:
                self._number_backward(i)
        # What only a diagram shows: the nodes the output does not use (another output's).
        for i in range(len(graph)):
            if not needed[i]:
                if self._chosen("values", i):
                    self._add(("value", i))
                for k, u in enumerate(graph.args[i]):
                    self._number_use(u, i, k)

    def _number_backward(self, i: int) -> None:
        """Node i's backward step: the local derivative and share of each use, then its gradient."""
        mine = self.uses.get(i, [])
        for v, k in mine:
            self._number_use(i, v, k)
        if self._chosen("grads", i):
            self._add(("grad", i))

    def _number_use(self, u: int, v: int, k: int) -> None:
        if self._chosen("local", u):
            self._add(("local", v, k))
        share = self.share_key(u, v, k)
        if share[0] == "share" and self._chosen("grads", u):
            self._add(share)

    def share_key(self, u: int, v: int, k: int) -> Key:
        """A node's only use carries its whole gradient: the share is the gradient itself."""
        return ("grad", u) if self.uses.get(u) == [(v, k)] else ("share", u, v, k)

    def _add(self, key: Key) -> None:
        if key in self.numbers:
            return
        n = len(self.numbers) + 1
        self.numbers[key] = n
        self.answers.append(Answer(n, "grad" if key[0] == "share" else key[0], self._quantity(key),
                                   self._where(key), self._exact(key)))

    # --- the numbers, as they are or as blanks -------------------------------------------

    def blank_of(self, key: Key) -> int | None:
        """The blank of a quantity (see `Key`), None when it is shown."""
        return self.numbers.get(key)

    def _as(self, key: Key, x: float) -> float:
        n = self.numbers.get(key)
        return x if n is None else Blank(x, n)

    def value(self, i: int, x: float | None = None) -> float:
        return self._as(("value", i), self.ev.values[i] if x is None else x)

    def grad(self, i: int, x: float | None = None) -> float:
        return self._as(("grad", i), self.ev.grads[i] if x is None else x)

    def local(self, v: int, k: int, x: float) -> float:
        n = self.local_blank(v, k)
        return x if n is None else Blank(x, n)

    def local_blank(self, v: int, k: int) -> int | None:
        """The blank of d v/d (its k-th argument): its own, or, when the op's formula says
        it is a value (the other factor of a product, `out` for exp) and that value is a
        blank, that value's: a worksheet of values would give them away in the chain rule."""
        n = self.numbers.get(("local", v, k))
        if n is not None:
            return n
        same = self._local_is_value(v, k)
        return None if same is None else self.numbers.get(("value", same))

    def _local_is_value(self, v: int, k: int) -> int | None:
        op, args = OPS[self.graph.ops[v]], self.graph.args[v]
        formula = op.formulas[k] if k < len(op.formulas) else op.formulas[0]
        named = {"a": args[0], "out": v} | ({"b": args[1]} if len(args) > 1 else {})
        return named.get(formula)

    def share(self, u: int, v: int, k: int, x: float) -> float:
        return self._as(self.share_key(u, v, k), x)

    def values(self) -> list[float]:
        return [self.value(i) for i in range(len(self.graph))]

    def grads(self) -> list[float]:
        return [self.grad(i) for i in range(len(self.graph))]

    def _exact(self, key: Key) -> float:
        ev = self.ev
        if key[0] == "value":
            return ev.values[key[1]]
        if key[0] == "grad":
            return ev.grads[key[1]]
        local = local_derivatives(self.graph, ev.values, key[-2])[key[-1]]
        return local if key[0] == "local" else ev.grads[key[-2]] * local

    # --- how the key names them ----------------------------------------------------------

    def _name(self, i: int) -> str:
        return self.ev.output_name if i == self.ev.output else node_label(self.graph, i)

    def _quantity(self, key: Key) -> str:
        out = self.ev.output_name
        if key[0] == "value":
            return self._name(key[1])
        if key[0] == "grad":
            return f"d{out}/d{_d(self._name(key[1]))}"
        v, k = key[-2], key[-1]
        u = self.graph.args[v][k]
        if key[0] == "local":
            return f"d{_d(self._name(v))}/d{_d(self._name(u))}|local"
        return f"d{out}/d{_d(self._name(u))} via {self._name(v)}"

    def _where(self, key: Key) -> str:
        i = key[1] if key[0] in ("value", "grad") else key[-2]  # a use is where its consumer is
        return ", ".join(str(t) for t in self.graph.tags[i])


def _d(name: str) -> str:
    """A name after d, as explain writes it: dx, dh[3], d(x + y)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[0-9,\-]+\])?(@\S+)?", name) or (name.startswith("(") and name.endswith(")")):
        return name
    return f"({name})"


def worksheet(ev: Evaluation, kinds: set[str] | frozenset[str], names: list[str] | None = None,
              option: str = "--blank-nodes") -> Worksheet:
    """The blanks of `kinds` (any of values, grads, local), for every node or only for
    the nodes called `names`; an InputError (naming `option`) for a name no node has."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise InputError(f"--blank: unknown {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}")
    nodes = None
    if names is not None:
        graph = ev.graph
        for name in names:
            if name not in graph.names:
                raise InputError(f"{option} {clip(name)}: no node has that name" + name_hint(name, graph.names))
        nodes = frozenset(graph.names[name] for name in names)
    return Worksheet(ev, frozenset(kinds), nodes)


# --- the answer key ------------------------------------------------------------------------


def answers_format(path: str) -> str:
    """json, csv or markdown by the file's extension; text for any other."""
    lower = path.lower()
    return next((fmt for ext, fmt in ANSWER_FORMATS.items() if lower.endswith(ext)), "text")


def answer_key(sheet: Worksheet, fmt: str, precision: int) -> str:
    """The key, blank by blank: text and markdown with `precision` digits, as the sheet
    shows numbers; JSON and CSV at full precision, for programs."""
    if fmt == "json":
        rows = [{"blank": a.blank, "kind": a.kind, "quantity": a.quantity, "where": a.where,
                 "value": json_number(a.value)} for a in sheet.answers]
        return json.dumps({"output": sheet.ev.output_name, "answers": rows}, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["blank", "kind", "quantity", "where", "value"])
        for a in sheet.answers:
            writer.writerow([a.blank, a.kind, a.quantity, a.where, text_number(a.value)])
        return buffer.getvalue()
    if fmt == "markdown":
        lines = ["| blank | quantity | value |", "|---|---|---|"]
        lines += [f"| {blank_text(a.blank)} | {_md_cell(_where(a) + a.quantity)} | {number(a.value, precision)} |"
                  for a in sheet.answers]
        return "\n".join(lines) + "\n"
    return "".join(f"{blank_text(a.blank)} {_where(a)}{a.quantity} = {number(a.value, precision)}\n"
                   for a in sheet.answers)


def _where(a: Answer) -> str:
    return f"[{a.where}] " if a.where else ""


def _md_cell(text: str) -> str:
    """Text in a Markdown table cell: its pipes and emphasis characters escaped."""
    return re.sub(r"([\\`*_|\[\]<>])", r"\\\1", text)
