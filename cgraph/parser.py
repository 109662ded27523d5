"""Text -> syntax tree, with the Lark grammar in grammar/cgraph.lark.

The callbacks run inside Lark's LALR parser as each rule is reduced (the transformer is
passed to the `Lark` constructor), so no parse tree is built and nothing recurses: a
100,000-deep nested expression parses like a flat one. The callbacks only build the
syntax tree of `cgraph.syntax`; the builder gives it meaning.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache
from typing import Callable

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import syntax as ast
from .errors import Location, ParseError, Source, clip


_HERE = os.path.dirname(os.path.abspath(__file__))


def grammar_path() -> str:
    """The grammar shipped in the wheel (cgraph/grammar/), else the checkout's grammar/."""
    packaged = os.path.join(_HERE, "grammar", "cgraph.lark")
    if os.path.isfile(packaged):
        return packaged
    return os.path.join(os.path.dirname(_HERE), "grammar", "cgraph.lark")


def grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as f:
        return f.read()


_name = sys.intern  # a name used a thousand times is one string
_EXACT = 2**53  # the largest integer literal a float holds exactly enough to index with


def _exact_int(digits: str) -> bool:
    digits = digits.lstrip("0")  # (int() of a 10 MB literal would refuse, past 4300 digits)
    return len(digits) < 16 or (len(digits) == 16 and int(digits) <= _EXACT)


@v_args(inline=True)
class _Callbacks(Transformer):
    """One method per `-> alias` in the grammar.

    With a `sink`, each statement of the file itself (the grammar's `top`) is handed to it
    as soon as it is parsed, and then forgotten here; a loop's statements stay in the loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sink: Callable[[ast.Stmt], None] | None = None

    def top(self, st: ast.Stmt) -> ast.Stmt | None:
        if self.sink is not None:
            self.sink(st)
            return None
        return st

    def start(self, *statements: ast.Stmt | None) -> ast.Program:
        return ast.Program([st for st in statements if st is not None])

    # statements
    def assign(self, target, value):
        return ast.Assign(target, value)

    def input_decl(self, target, value=None):
        return ast.Declare("input", target, value)

    def param_decl(self, target, value):
        return ast.Declare("param", target, value)

    def output_decl(self, target):
        return ast.Output(target)

    def def_stmt(self, name, _lpar, *rest):
        params = tuple(_name(str(t)) for t in rest[:-2])
        return ast.Def(name.start_pos, _name(str(name)), params, rest[-1])

    def for_stmt(self, var, lo, _range, hi, *body):
        return ast.For(var.start_pos, _name(str(var)), lo, hi, list(body))

    def expr_stmt(self, value):
        return ast.ExprStmt(value)

    # expressions
    def number(self, tok):
        text = str(tok)
        # Usable as an index only while the float is the exact integer (up to 2^53).
        exact = text.isdigit() and (len(text) < 16 or _exact_int(text))
        return ast.Num(tok.start_pos, tok.end_pos, float(text), exact)

    def ref(self, name, *rest):
        if not rest:
            return ast.Ref(name.start_pos, name.end_pos, _name(str(name)))
        indices = tuple(e for e in rest if not isinstance(e, Token))
        return ast.Ref(name.start_pos, rest[-1].end_pos, _name(str(name)), indices)

    def binary(self, left, op, right):
        return ast.Binary(op.start_pos, "^" if op == "**" else str(op), left, right)

    def unary(self, op, operand):
        if op == "-" and isinstance(operand, ast.Num):
            # A negative literal is one constant, not neg(constant).
            return ast.Num(op.start_pos, operand.end, -operand.value, operand.is_int)
        return ast.Unary(op.start_pos, operand.end, str(op), operand)

    def call(self, name, _lpar, *rest):
        return ast.Call(name.start_pos, rest[-1].end_pos, _name(str(name)), tuple(rest[:-1]))

    def reduction(self, name, _lpar, body, var, lo, _range, hi, rpar):
        return ast.Reduction(name.start_pos, rpar.end_pos, _name(str(name)), body, _name(str(var)), lo, hi)

    def group(self, lpar, inner, rpar):
        inner.start, inner.end = lpar.start_pos, rpar.end_pos  # the node's text includes its parentheses
        return inner


class _NewlinesInBrackets:
    """Post-lexer: a newline inside ( ) or [ ] continues the expression, as in Python."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if depth:
                    continue
            elif kind == "LPAR" or kind == "LSQB":
                depth += 1
            elif kind == "RPAR" or kind == "RSQB":
                depth = max(depth - 1, 0)
            yield tok


def _cache_path() -> str | bool:
    """Lark's analysis of the grammar, cached per user (a new grammar gets a new entry)."""
    base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cgraph")
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        return False
    if not os.access(base, os.W_OK):
        return False
    from . import __version__

    return os.path.join(base, f"parser-{__version__}.lark")


_CALLBACKS = _Callbacks()
_LOCK = threading.Lock()  # the callbacks carry the state of one parse at a time


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        transformer=_CALLBACKS,
        postlex=_NewlinesInBrackets(),
        cache=_cache_path(),
    )


def parse_program(source: Source, sink: Callable[[ast.Stmt], None] | None = None) -> ast.Program:
    """Parse a whole file. Raises ParseError with the location and what was expected.

    With a `sink`, top-level statements go to it one by one as they are parsed, and the
    returned Program is empty."""
    text = source.text
    if not text.endswith("\n"):
        text += "\n"  # a missing final newline is fine
    parser = _lark()
    with _LOCK:
        _CALLBACKS.sink = sink
        try:
            return parser.parse(text)
        except UnexpectedInput as exc:
            raise _parse_error(exc, source) from None
        finally:
            _CALLBACKS.sink = None


# --- turning Lark's errors into located, readable ones -------------------------------

_TERMINAL_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "_NL": "end of line",
    "$END": "end of file",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*' or '/'",
    "POWOP": "'^'",
}


def _describe(terminal: str) -> str:
    if terminal in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[terminal]
    try:
        pattern = _lark().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    return f"'{pattern.value}'" if pattern.type == "str" else terminal


def _expected(names) -> str:
    described = sorted({_describe(n) for n in names})
    if not described:
        return ""
    if len(described) > 8:
        described = described[:8] + ["..."]
    head = ", ".join(described[:-1])
    return f"expected {head} or {described[-1]}" if head else f"expected {described[0]}"


def _parse_error(exc: UnexpectedInput, source: Source) -> ParseError:
    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None) or 1
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
        if char.isalpha() or char.isdigit():
            message = f"unexpected character {char!r} (U+{ord(char):04X}): names use only ASCII letters, digits and '_'"
        elif char == "\x00":
            message = "unexpected NUL byte"
        else:
            message = f"unexpected character {char!r}"
        expected = _expected(exc.allowed or ())
        return ParseError(message + (f"; {expected}" if expected else ""), Location(source, line, column))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return _at_end(source, _expected(exc.accepts or exc.expected))
        if tok.type == "_NL":
            what = "end of line"
            line, column = tok.line, tok.column
        else:
            what = repr(clip(str(tok)))
        width = max(len(str(tok)), 1) if tok.type != "_NL" else 1
        return ParseError(f"unexpected {what}; {_expected(exc.accepts or exc.expected)}", Location(source, line, column, width))
    if isinstance(exc, UnexpectedEOF):
        return _at_end(source, _expected(exc.expected))
    return ParseError(str(exc), Location(source, line, column))


def _at_end(source: Source, expected: str) -> ParseError:
    lines = source.text.rstrip("\n").split("\n")
    return ParseError(
        f"unexpected end of file; {expected}" if expected else "unexpected end of file",
        Location(source, len(lines), len(lines[-1]) + 1),
    )
