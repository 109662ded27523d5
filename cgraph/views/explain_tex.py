"""explain's steps as math: Markdown with $...$ for notes, and a LaTeX align* environment.

Both write the same lines as the text (explain.lines), with names as math identifiers
and ops as the op table spells them in TeX (cgraph.views.texmath):

    Markdown   2. $\\frac{\\partial g}{\\partial z} = \\frac{\\partial g}{\\partial g} \\cdot
                  \\left.\\frac{\\partial g}{\\partial z}\\right|_{\\text{local}} = 1 \\cdot p = 1 \\cdot 4 = 4$
    LaTeX      \\text{2.}\\quad \\frac{\\partial g}{\\partial z} &= ... \\\\

A step's chain rule is built once (`_chain`) and placed in either format: Markdown puts
it after `$lhs = `, LaTeX after `lhs &= `, one aligned row per step.
"""

from __future__ import annotations

import re

from . import texmath
from .explain import Contribution, Explanation, Step, _d
from .numbers import number

LOCAL = r"\text{local}"


def _md(text: str) -> str:
    """Text outside math: Markdown's special characters escaped."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~$])", r"\\\1", text)


def _operand(name: str) -> str:
    """A name or expression where it follows \\partial: x, h_{3}, (w \\cdot h_{t-1})."""
    return texmath.math(_d(name))


def _partial(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {_operand(top)}}}{{\partial {_operand(bottom)}}}"


def _consumer(c: Contribution) -> tuple[str, str]:
    """The consumer's expression and the iteration or call it is in ('' if none)."""
    name, _, where = c.consumer.partition(" [")
    return name, where.removesuffix("]")


def _chain(out: str, name: str, c: Contribution, fmt) -> tuple[str, str]:
    """(the chain rule's symbols, its numbers): upstream times the local derivative,
    then the same with the formula, then with numbers."""
    consumer, _ = _consumer(c)
    local = rf"\left.{_partial(consumer, name)}\right|_{{{LOCAL}}}"
    formula = texmath.formula(c.formula)
    if re.search(r"[ +\-*/]", c.formula.lstrip("-")):
        formula = f"({formula})"
    up = texmath.numerals(fmt(c.upstream))
    numbers = rf"{up} \cdot {formula}"
    if c.formula != fmt(c.local):
        numbers += rf" = {up} \cdot {texmath.numerals(fmt(c.local))}"
    return rf"{_partial(out, consumer)} \cdot {local}", f"{numbers} = {texmath.numerals(fmt(c.value))}"


def _forward(step: Step, fmt) -> tuple[str, str]:
    """(lhs, rhs) of a forward step: name = expression = numbers = value."""
    parts = [texmath.numerals(step.numbers or ""), texmath.numerals(fmt(step.value))]
    if step.expression != step.name:  # a node known by its expression says it once, as in the text
        parts.insert(0, texmath.math(step.expression or ""))
    return texmath.math(step.name), " = ".join(parts)


def _sum(step: Step, fmt) -> str:
    return " + ".join(texmath.numerals(fmt(c.value)) for c in step.contributions) + " = " + texmath.numerals(fmt(step.grad))


# --- Markdown ------------------------------------------------------------------------------


def to_markdown(exp: Explanation) -> str:
    fmt = lambda v: number(v, exp.precision)  # noqa: E731
    md = [f"# Backpropagation through ${texmath.math(exp.output)}$"]
    section = None
    for step in exp.steps:
        if step.phase != section:
            md += ["", "## Forward pass" if step.phase == "forward" else "## Backward pass", ""]
            section = step.phase
        if step.phase == "forward":
            lhs, rhs = _forward(step, fmt)
            md.append(f"{step.number}. {_md_where(step)}${lhs} = {rhs}$" + _md_aliases(step))
        else:
            md += _md_backward(step, exp.output, fmt)
    if exp.omitted:
        md += ["", f"*... and {exp.omitted} more steps (raise --max-steps to see them).*"]
    return "\n".join(md).strip() + "\n"


def _md_where(step: Step) -> str:
    return f"*{_md(step.where)}*: " if step.where else ""


def _md_backward(step: Step, out: str, fmt) -> list[str]:
    """A backward step's item: its chain rule, or with several consumers a sub-list of
    their contributions (each via its consumer) and their sum."""
    where, d = _md_where(step), _partial(out, step.name)
    if not step.contributions:
        return [f"{step.number}. {where}${d} = 1$" + _md_aliases(step, out, fmt)]
    if len(step.contributions) == 1:
        symbols, numbers = _chain(out, step.name, step.contributions[0], fmt)
        return [f"{step.number}. {where}${d} = {symbols} = {numbers}$" + _md_aliases(step, out, fmt)]
    indent = " " * len(f"{step.number}. ")  # a sub-list must start under the item's text
    n = len(step.contributions)
    md = [f"{step.number}. {where}${texmath.math(step.name)}$ is used {n} times; the contributions add up"
          + (_md_aliases(step, out, fmt) + ":" if step.aliases else ":")]
    for c in step.contributions:
        consumer, at = _consumer(c)
        label = f" *({_md(at)})*" if at else ""
        symbols, numbers = _chain(out, step.name, c, fmt)
        md.append(f"{indent}- via ${texmath.math(consumer)}${label}: ${symbols} = {numbers}$")
    md.append(f"{indent}- ${d} = {_sum(step, fmt)}$")
    return md


def _md_aliases(step: Step, out: str | None = None, fmt=None) -> str:
    """The step's other names, after its line: ' ($g$ is another name of $f$, so ∂y/∂g = 2)'."""
    notes = []
    for alias in step.aliases:
        note = f"${texmath.math(alias)}$ is another name of ${texmath.math(step.name)}$"
        if out is not None:
            note += f", so ${_partial(out, alias)} = {texmath.numerals(fmt(step.grad))}$"
        notes.append(note)
    return f" ({'; '.join(notes)})" if notes else ""


# --- LaTeX ---------------------------------------------------------------------------------


def to_latex(exp: Explanation) -> str:
    """The steps as an align* environment (amsmath), ready to \\input into a document:
    a comment and a bold row open each pass, then one row per step in two column pairs,
    its number (and iteration or call) on the left, its equation aligned at `&=`."""
    fmt = lambda v: number(v, exp.precision)  # noqa: E731
    rows: list[str] = []
    section = None
    for step in exp.steps:
        if step.phase != section:
            title = "Forward pass" if step.phase == "forward" else "Backward pass"
            rows.append(f"% {title}\n\\textbf{{{title}}} &&")
            section = step.phase
        rows += _tex_forward(step, fmt) if step.phase == "forward" else _tex_backward(step, exp.output, fmt)
    if exp.omitted:
        rows.append(f"&& & {texmath.text(f'... and {exp.omitted} more steps (raise the step limit to see them)')}")
    head = f"% cgraph explain: backpropagation through {texmath.escape_text(exp.output)} (needs amsmath)"
    body = " \\\\\n".join(rows)
    return f"{head}\n\\begin{{align*}}\n{body}\n\\end{{align*}}\n"


def _tex_label(step: Step) -> str:
    r"""The step's number and iteration or call, its row's first column: \text{3. [t = 5]}."""
    where = f" [{step.where}]" if step.where else ""
    return texmath.text(f"{step.number}.{where}")


def _tex_alias(alias: str, equation: str) -> str:
    """A row for another name of a step's node (`alias` already TeX)."""
    return rf"&& {alias} &= {equation} \quad {texmath.text('(another name of the same node)')}"


def _tex_forward(step: Step, fmt) -> list[str]:
    lhs, rhs = _forward(step, fmt)
    return [f"{_tex_label(step)} && {lhs} &= {rhs}"] + [_tex_alias(texmath.math(alias), lhs) for alias in step.aliases]


def _tex_backward(step: Step, out: str, fmt) -> list[str]:
    d = _partial(out, step.name)
    label = _tex_label(step)
    if not step.contributions:
        rows = [f"{label} && {d} &= 1"]
    elif len(step.contributions) == 1:
        symbols, numbers = _chain(out, step.name, step.contributions[0], fmt)
        rows = [f"{label} && {d} &= {symbols} = {numbers}"]
    else:
        n = len(step.contributions)
        rows = [rf"{label} && & {texmath.math(step.name)}\ {texmath.text(f'is used {n} times; the contributions add up:')}"]
        for c in step.contributions:
            consumer, at = _consumer(c)
            symbols, numbers = _chain(out, step.name, c, fmt)
            via = texmath.text("via ") + texmath.math(consumer) + (r"\ " + texmath.text(f"[{at}]") if at else "")
            rows.append(f"{via} && {symbols} &= {numbers}")
        rows.append(f"&& {d} &= {_sum(step, fmt)}")
    grad = texmath.numerals(fmt(step.grad))
    return rows + [_tex_alias(_partial(out, alias), f"{d} = {grad}") for alias in step.aliases]
