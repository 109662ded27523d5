"""Program text as LaTeX math, for explain's Markdown and LaTeX.

explain's steps are text in the language of a cgraph file (names, numbers, operators,
calls, `h[t-1]`, `sum(W[j]*x[j] for j in 1..3)`) and the op table's formulas
("1 if a > b, 0.5 on a tie, else 0"). `math` writes such a text as TeX, token by token:

    h[t-1]^2 * tanh(z)   ->   h_{t-1}^{2} \\cdot \\tanh(z)

How an op is written comes from its table entry (`Op.latex`); names become math
identifiers (x, x_{1} for x1, \\mathrm{loss}, W_{j,i} for W[j,i]). Everything a program
wrote is data: a character this module does not know is escaped inside \\text{}, and a
name can only be letters, digits and an escaped underscore, so no name or text of a
program reaches TeX as a command.

One pass over the tokens, no recursion (an expression is as long as its file allows):
an exponent's extent is found from the table of matching parentheses, and the brace
that closes it is written after its last token.
"""

from __future__ import annotations

import functools
import re

from ..ops import BINARY_SYMBOLS, CALL, FUNCTIONS, OPS, Op

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<tie>on a tie\b)"
    r"|(?P<number>(?:[0-9]+(?:\.(?!\.)[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"  # the grammar's NUMBER
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<index>\[[^\[\]]*\])"
    r"|(?P<tag>@[A-Za-z0-9_=#+-]+)"
    r"|(?P<range>\.\.)"
    r"|(?P<op>\*\*|[-+*/^(),=<>])"
    r"|(?P<other>.)",
    re.S,
)
# Words written as words: the grammar's keywords of a generator expression (never names);
# in a formula also if and else, and in numbers inf and nan (elsewhere, names like any other).
_KEYWORDS = {"for": r"\text{ for }", "in": r"\text{ in }"}
_FORMULA_WORDS = {**_KEYWORDS, "if": r"\text{ if }", "else": r"\text{ else }"}
_NUMBER_WORDS = {**_KEYWORDS, "inf": r"\infty", "nan": r"\mathrm{NaN}"}
# TeX's text-mode spelling of the characters that are not themselves there.
_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#", "$": r"\$",
    "%": r"\%", "&": r"\&", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    # pdfLaTeX's default font encoding prints these three as other glyphs (¡, ¿, —) in text
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}
# Characters of no token that math mode prints as themselves.
_MATH_PUNCTUATION = frozenset("|!?:;.")

Token = tuple[str, str]  # (kind, text): a group name of _TOKEN and what it matched


def text(s: str) -> str:
    r"""Any text as \text{...}, TeX's special characters escaped (control characters dropped)."""
    return r"\text{" + escape_text(s) + "}"


def escape_text(s: str) -> str:
    """The characters of `s` as TeX text mode reads them literally."""
    return "".join(_TEXT_ESCAPES.get(c, c) for c in s if c.isprintable())


def math(source: str, words: dict[str, str] = _KEYWORDS) -> str:
    """`source` (a name or an expression as explain writes it) as TeX math."""
    tokens = [(t.lastgroup or "other", "^" if t.group() == "**" else t.group())  # ** is the grammar's other ^
              for t in _TOKEN.finditer(source) if t.lastgroup != "space"]
    return _Writer(tokens, words).write()


def formula(source: str) -> str:
    """A local derivative's formula (`1 if x > 0 else 0`) as TeX math."""
    return math(source, _FORMULA_WORDS)


def numerals(s: str) -> str:
    """A number or an expression of numbers as printed (`-3`, `1.5e-07`, `inf`,
    `tanh(0.5)`) as TeX: 1.5 \\times 10^{-7}, \\infty."""
    return math(s, _NUMBER_WORDS)


def identifier(base: str, subscripts: list[str]) -> str:
    """A name as a math identifier: one letter as itself, a letter and digits as x_{1},
    longer names upright (\\mathrm{loss}); `subscripts` (already TeX) after it."""
    if not subscripts:
        return _plain_identifier(base)
    head = base if len(base) == 1 and base.isalpha() else r"\mathrm{" + escape_text(base) + "}"
    return head + "_{" + ",".join(subscripts) + "}"


@functools.lru_cache(maxsize=4096)
def _plain_identifier(base: str) -> str:
    """identifier(base, []): names repeat in every step, so each is worked out once."""
    if len(base) == 1 and base.isalpha():
        return base
    if re.fullmatch(r"[A-Za-z][0-9]+", base):
        return f"{base[0]}_{{{base[1:]}}}"
    return r"\mathrm{" + escape_text(base) + "}"


def op_template(op: Op) -> str:
    """The op's LaTeX (Op.latex), or its default: the symbol of an operator, or
    \\operatorname{name}(...) for a function."""
    if op.latex is not None:
        return op.latex
    if op.notation != CALL:
        return escape_text(op.symbol)
    return r"\operatorname{" + escape_text(op.name) + r"}(#)"


def _matching(tokens: list[Token]) -> dict[int, int]:
    """Each parenthesis's partner, both ways; an unmatched one has none."""
    pairs: dict[int, int] = {}
    open_: list[int] = []
    for k, token in enumerate(tokens):
        if token == ("op", "("):
            open_.append(k)
        elif token == ("op", ")") and open_:
            start = open_.pop()
            pairs[start], pairs[k] = k, start
    return pairs


class _Writer:
    """One left-to-right pass: a piece of TeX per token, plus what closes after a token
    (`after`) and what a parenthesis is written as instead (`instead`)."""

    def __init__(self, tokens: list[Token], words: dict[str, str]):
        self.tokens, self.words = tokens, words
        self.pairs = _matching(tokens)
        self.after = [""] * len(tokens)
        self.instead: dict[int, str] = {}
        self.operand_ends: dict[int, int] = {}  # see operand_end
        self.pieces: list[str] = []
        self.last = ""  # the last piece that was not empty
        self.glue = False  # the last piece was a sign: the next one follows it unspaced

    def write(self) -> str:
        k = 0
        while k < len(self.tokens):
            k = self.token(k)
        return "".join(self.pieces).strip()

    def emit(self, k: int, tex: str) -> None:
        """Token k's TeX, spaced from the previous piece where TeX needs it (after a
        command word) or a reader likes it (around operators)."""
        if not tex:  # a parenthesis whose group is braces now
            self.pieces.append(self.after[k])
            self.last = self.after[k] or self.last
            return
        if self.last and not self.glue and _spaced(self.last, tex):
            self.pieces.append(" ")
        self.last = tex + self.after[k]
        self.pieces.append(self.last)
        self.glue = False

    def token(self, k: int) -> int:
        """Write token k (and those it takes with it); the index of the next one."""
        kind, value = self.tokens[k]
        if kind == "name":
            return self.name(k)
        if kind == "op":
            self.operator(k)
        elif kind == "number":
            self.emit(k, _times_ten(value, self.next_is(k, "^")))
        elif kind == "tie":
            self.emit(k, r"\text{ on a tie}")
        elif kind == "index":
            self.emit(k, "[" + _index(value) + "]")
        elif kind == "range":
            self.emit(k, "..")
        else:
            self.emit(k, value if value in _MATH_PUNCTUATION else text(value))
        return k + 1

    def next_is(self, k: int, op: str) -> bool:
        return k + 1 < len(self.tokens) and self.tokens[k + 1] == ("op", op)

    def name(self, k: int) -> int:
        value = self.tokens[k][1]
        if value in self.words:
            self.emit(k, self.words[value])
            return k + 1
        if self.next_is(k, "(") and k + 1 in self.pairs:  # a call: the op's template around its arguments
            op = FUNCTIONS.get(value)
            template = op_template(op) if op else r"\operatorname{" + escape_text(value) + r"}(#)"
            opening, closing = template.split("#", 1)
            self.instead[self.pairs[k + 1]] = closing
            self.emit(k, opening)
            return k + 2
        subscripts, end = [], k
        while end + 1 < len(self.tokens) and self.tokens[end + 1][0] in ("index", "tag"):
            end += 1
            kind, part = self.tokens[end]
            subscripts.append(_index(part) if kind == "index" else text(part[1:]))
        self.after[k] += "".join(self.after[k + 1:end + 1])  # an exponent may end at the index
        self.emit(k, identifier(value, subscripts))
        return end + 1

    def operator(self, k: int) -> None:
        value = self.tokens[k][1]
        if value == "(":
            self.emit(k, self.instead.get(k, "("))
        elif value == ")":
            self.emit(k, self.instead.get(k, ")"))
        elif value in "-+" and self.is_sign(k):
            self.emit(k, value)
            self.glue = True
        elif value in BINARY_SYMBOLS:
            self.binary(k, op_template(OPS[BINARY_SYMBOLS[value]]))
        else:  # a comma, a comparison, or a sign no op is written with
            self.emit(k, value)

    def is_sign(self, k: int) -> bool:
        """A - or + with no left operand: at the start, or after an operator, a comma or a word."""
        if k == 0:
            return True
        kind, value = self.tokens[k - 1]
        return (kind == "op" and value != ")") or kind == "tie" or (kind == "name" and self.words.get(value, "").startswith(r"\text"))

    def binary(self, k: int, template: str) -> None:
        """An operator; one whose template has # (^{#}) wraps its right operand."""
        if "#" not in template:
            self.emit(k, template)
            return
        opening, closing = template.split("#", 1)
        start, end = k + 1, self.operand_end(k + 1)
        if start <= end and self.pairs.get(start) == end:  # (b - 1) as ^{b - 1}: the braces group it
            self.instead[start], self.instead[end] = "", closing
        elif start <= end:
            self.after[end] += closing
        else:
            opening += closing  # nothing after the operator
        self.emit(k, opening)

    def operand_end(self, k: int) -> int:
        """The last token of the right operand of a right-associative operator starting
        at k: signs, then an atom, then more ^ atoms (a^b^c is a^(b^c))."""
        # Remembered per start: in a^b^c^... every ^ asks for the end of the same chain,
        # which a walk per ^ made quadratic (a chain of 180 powers took a second).
        ends = self.operand_ends
        last = len(self.tokens) - 1
        starts = []
        while True:
            if k in ends:
                end = ends[k]
                break
            starts.append(k)
            while k <= last and self.tokens[k] in (("op", "-"), ("op", "+")):
                k += 1
            if k > last:
                end = last
                break
            k = self.atom_end(k)
            if not self.next_is(k, "^"):
                end = k
                break
            k += 2
        for start in starts:
            ends[start] = end
        return end

    def atom_end(self, k: int) -> int:
        kind, value = self.tokens[k]
        if (kind, value) == ("op", "("):
            return self.pairs.get(k, k)
        if kind == "name" and self.next_is(k, "(") and k + 1 in self.pairs:
            return self.pairs[k + 1]
        while kind == "name" and k + 1 < len(self.tokens) and self.tokens[k + 1][0] in ("index", "tag"):
            k += 1
        return k


def _spaced(before: str, tex: str) -> bool:
    if before == " " or before.endswith(("{", "(", "[", "|", "..")):
        return False
    return not tex.startswith(("^", "_", "}", r"\right", ")", ",", "]", "[", ".."))


def _times_ten(value: str, is_base: bool) -> str:
    """1.5e-07 as 1.5 \\times 10^{-7} (in parentheses as the base of a power)."""
    mantissa, _, exponent = value.lower().partition("e")
    if not exponent:
        return mantissa
    tex = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return f"({tex})" if is_base else tex


def _index(value: str) -> str:
    """The inside of [t-1] or [3,2] (brackets included or not) as a subscript: t-1, 3,2."""
    parts = []
    for t in _TOKEN.finditer(value.removeprefix("[").removesuffix("]")):
        kind, part = t.lastgroup, t.group()
        if kind == "name":
            parts.append(identifier(part, []))
        elif kind == "number":
            parts.append(_times_ten(part, False))
        elif kind == "op" and part in BINARY_SYMBOLS and "#" not in op_template(OPS[BINARY_SYMBOLS[part]]):
            tex = op_template(OPS[BINARY_SYMBOLS[part]])
            parts.append(tex + " " * tex[-1].isalpha())  # \cdot t, not \cdott
        elif kind == "op" and part == ",":
            parts.append(part)
        elif kind != "space":
            parts.append(text(part))
    return "".join(parts)
