"""A graph (and its gradient) as LaTeX: an amsmath `aligned` system for a paper or a slide.

    p &= x + y \\\\
    g &= p \\cdot z

One row per named node the outputs depend on, in tape order; an unnamed node used once is
written inside its consumer's expression, with only the parentheses the grammar needs
(the same fold as `cgraph grad`'s program text: cgraph/views/program.py), and one used
more than once, or the head of a long or deeply nested chain, gets a row of its own named
\\tau_{1}, \\tau_{2}, ... (a Greek letter: no name of a program is ever written as one, so
a temporary cannot clash with a name). Given the gradient graph (`cgraph.grad(graph, wrt)`:
views do not import the transformations, the caller passes it), the gradient's rows
follow: \\frac{\\partial g}{\\partial x} &= ... for each output and each `wrt` name, the
forward rows' names reused, the gradient's shared intermediates as \\delta_{1}, ...

How an op is written comes from the op table (`Op.latex`, through texmath.op_template);
this module knows only the grammar's symbols: their precedence (program.py), and that `/`
is set as a fraction and `^` takes its exponent in braces. Names and the header are data:
names become math identifiers through texmath (no name reaches TeX as a command), the
header is cleaned to comment lines. One loop per graph, no recursion.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

from ..ir.graph import Graph
from ..ops import CONST, INFIX, INPUT_KINDS, PREFIX, Op
from . import texmath
from .numbers import program_number
from .fold import Fold, reach, use_counts
from .program import ATOM, INFIX_LEVELS, POWER, PRODUCT, UNARY, comment

# Past this nesting of inlined expressions, or this many characters of TeX (which spells
# more than program text does: \mathrm{loss}, \cdot), a temporary row is written.
MAX_DEPTH = 8
MAX_LENGTH = 200
_ROW_END = " \\\\\n"


def export_latex(graph: Graph, gradient: Graph | None = None, *, wrt: Sequence[str] | None = None,
                 header: str | None = None) -> str:
    """The outputs' formulas as an `aligned` environment (amsmath; put it inside math,
    `\\[ ... \\]`). `gradient`: the graph `cgraph.grad(graph, wrt)` returned, whose outputs
    are d output/d w for each output and each name of `wrt`, in that order (`wrt`
    defaults to every input and param, as grad's does); its formulas follow the forward
    ones. `header`: comment lines at the top."""
    names = _Temporaries()
    rows, known = _Section(graph, names).forward_rows()
    if gradient is not None:
        labels = _gradient_labels(graph, gradient, wrt)
        rows.append("% " + comment("the gradient of " + ", ".join(graph.output_names)))
        rows += _Section(gradient, names).gradient_rows(known, labels)
    lines = [f"% {comment(line)}".rstrip() for line in (header.splitlines() or [""])] if header is not None else []
    lines.append(r"\begin{aligned}")
    lines.append(_join(rows))
    lines.append(r"\end{aligned}")
    return "\n".join(lines) + "\n"


def write_tex(op: Op, operands: list[tuple[str, int]]) -> tuple[str, int]:
    """`op` applied to operands given as (TeX, binding level), with only the parentheses
    needed, and the level of the result: program.write_op's rules, in TeX."""
    template = texmath.op_template(op)
    if op.notation == INFIX and op.symbol in INFIX_LEVELS:
        level, left, right = INFIX_LEVELS[op.symbol]
        (a, a_level), (b, b_level) = operands
        if op.symbol == "/":  # a fraction's bar groups both operands
            return rf"\frac{{{a}}}{{{b}}}", POWER
        if "#" in template:  # ^{#}: the braces group the exponent
            opening, closing = template.split("#", 1)
            return f"{_wrap(a, a_level, ATOM)}{opening}{b}{closing}", level
        # A negation right of an operator is parenthesized, as a reader writes it: x \cdot (-y).
        right_text = f"({b})" if b_level == UNARY else _wrap(b, b_level, right)
        return f"{_wrap(a, a_level, left)} {template} {right_text}", level
    if op.notation == PREFIX:
        (only, only_level), = operands
        inner = f"({only})" if only_level < UNARY or only.startswith("-") else only
        return f"{template}{inner}", UNARY
    opening, closing = template.split("#", 1) if "#" in template else (template + "(", ")")
    return opening + ", ".join(text for text, _ in operands) + closing, ATOM


def tex_constant(value: float) -> tuple[str, int]:
    """A number as TeX (\\infty, \\mathrm{NaN}, 1 \\times 10^{-7}) and its binding level."""
    if value != value:
        return texmath.numerals("nan"), ATOM
    if math.isinf(value):
        return (texmath.numerals("inf"), ATOM) if value > 0 else ("-" + texmath.numerals("inf"), UNARY)
    return _numeral(program_number(value))


@functools.lru_cache(maxsize=4096)
def _numeral(written: str) -> tuple[str, int]:
    """A finite number as a program writes it, in TeX (cached by text: -0 is not 0)."""
    text = texmath.numerals(written)
    if text.startswith("-"):
        return text, UNARY
    return text, (PRODUCT if r"\times" in text else ATOM)


def partial(out: str, wrt: str) -> str:
    """d out/d wrt as a fraction of partials, both names as math identifiers."""
    return rf"\frac{{\partial {texmath.math(out)}}}{{\partial {texmath.math(wrt)}}}"


def _wrap(text: str, level: int, needed: int) -> str:
    if level >= needed:
        return text
    # Parentheses as tall as a fraction inside them.
    return rf"\left({text}\right)" if r"\frac" in text else f"({text})"


def _join(rows: list[str]) -> str:
    """Rows separated by \\\\, except around a comment row (a \\\\ after it would be commented out)."""
    out: list[str] = []
    for k, row in enumerate(rows):
        out.append(row)
        if k + 1 < len(rows):
            out.append("\n" if row.startswith("%") else _ROW_END)
    return "".join(out)


def _gradient_labels(graph: Graph, gradient: Graph, wrt: Sequence[str] | None) -> list[str]:
    """Each gradient output's TeX, \\frac{\\partial g}{\\partial x}: grad's outputs are in
    the order (output, wrt name) for each output, then each wrt name."""
    names = list(graph.inputs) if wrt is None else list(dict.fromkeys(wrt))
    if len(gradient.outputs) != len(graph.outputs) * len(names):
        raise ValueError(f"the gradient graph has {len(gradient.outputs)} outputs, not one per output and "
                         f"wrt name ({len(graph.outputs)} x {len(names)}): was it made with these wrt names?")
    return [partial(out, w) for out in graph.output_names for w in names]


class _Temporaries:
    """The names of temporary rows, numbered across the forward and gradient sections."""

    def __init__(self) -> None:
        self.count = {"tau": 0, "delta": 0}

    def new(self, letter: str) -> str:
        self.count[letter] += 1
        return rf"\{letter}_{{{self.count[letter]}}}"


class _Section:
    """The rows of one graph: a `Fold` over its tape with TeX's spelling."""

    def __init__(self, graph: Graph, temporaries: _Temporaries):
        self.graph, self.temporaries = graph, temporaries
        self.rows: list[str] = []

    def own_names(self, i: int) -> list[str]:
        """The names the graph finally binds to node i."""
        g = self.graph
        return [n for n in g.node_names.get(i, ()) if g.names.get(n) == i]

    def forward_rows(self) -> tuple[list[str], dict[str, str]]:
        """The rows of every named node the outputs depend on, and name -> TeX for each
        name a row (or a leaf) defines, for the gradient's rows to refer to."""
        g = self.graph
        labels: dict[int, list[str]] = {}
        for node, out in zip(g.outputs, g.output_names):
            labels.setdefault(node, [texmath.math(n) for n in self.own_names(node)])
            tex = texmath.math(out)
            if tex not in labels[node] and g.ops[node] not in INPUT_KINDS:
                labels[node].append(tex)
        leaves = {leaf: texmath.math(g.name_of(leaf) or "") for leaf in g.leaves}
        live = reach(g, g.outputs)
        fold = self.walk(live, use_counts(g, live), leaves, labels, temporary="tau", named=True)
        for node, out in zip(g.outputs, g.output_names):  # an input that is an output under another name
            if node in leaves and out not in self.own_names(node):
                self.rows.append(f"{texmath.math(out)} &= {fold.refs[node]}")
        known = {name: fold.refs[i] for name, i in g.names.items() if i in fold.refs and live[i]}
        return self.rows, known

    def gradient_rows(self, known: dict[str, str], labels: list[str]) -> list[str]:
        """The rows of the gradient graph's outputs (`labels`), the nodes the forward rows
        already name referred to by those names."""
        g = self.graph
        written: dict[int, str] = {}  # node -> TeX, for the nodes the forward rows name
        for i in range(len(g)):
            for n in self.own_names(i):
                if n in known:
                    written[i] = known[n]
                    break
        for leaf in g.leaves:
            written.setdefault(leaf, texmath.math(g.name_of(leaf) or ""))
        by_node: dict[int, list[str]] = {}
        for node, label in zip(g.outputs, labels):
            by_node.setdefault(node, []).append(label)
        for node, node_labels in by_node.items():  # a gradient that is a forward node: x, p, 0
            if node in written:
                self.rows += [f"{label} &= {written[node]}" for label in node_labels]
        pending = {node: ls for node, ls in by_node.items() if node not in written}
        live = reach(g, g.outputs, written)
        self.walk(live, use_counts(g, live, written), written, pending, temporary="delta", named=False)
        return self.rows

    def walk(self, live: bytearray, uses: list[int], refs: dict[int, str], labels: dict[int, list[str]],
             temporary: str, named: bool) -> Fold:
        """One pass over the tape: a row for each labelled node (its first label = its
        expression, any other = the first), and for each node the fold cannot inline;
        the nodes of `refs` are written already. `named`: a named node is labelled by its
        names (forward); in a gradient the names grad gives its intermediates
        (dloss_dsub6) are no label, they fold too."""
        g = self.graph
        fold = Fold(g, live, uses, write_tex, lambda node: tex_constant(_value(g, node)), MAX_DEPTH, MAX_LENGTH)
        fold.refs.update(refs)
        for i in range(len(g)):
            if live[i] and i not in refs:
                if i in labels:
                    own = labels[i]
                else:
                    own = [texmath.math(n) for n in self.own_names(i)] if named else []
                self.row(i, own, fold, temporary)
        return fold

    def row(self, i: int, own: list[str], fold: Fold, temporary: str) -> None:
        """Node i's row(s), if it has labels or cannot be inlined."""
        g = self.graph
        if g.ops[i] == CONST:
            if own:  # a named constant, f = 3: elsewhere a number is written in place
                self.assign(i, own, tex_constant(_value(g, i))[0], fold)
            return
        text, level, depth = fold.expression(i)
        if own:
            self.assign(i, own, text, fold)
        elif not fold.inlined(i, text, level, depth):
            self.assign(i, [self.temporaries.new(temporary if g.name_of(i) else "tau")], text, fold)

    def assign(self, node: int, lhs: list[str], text: str, fold: Fold) -> None:
        self.rows.append(f"{lhs[0]} &= {text}")
        self.rows += [f"{other} &= {lhs[0]}" for other in lhs[1:]]
        fold.refs[node] = lhs[0]


def _value(graph: Graph, node: int) -> float:
    value = graph.values[node]
    assert value is not None, "an unnamed argument written in place is a constant"
    return value
