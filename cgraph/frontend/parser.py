"""Text -> syntax tree, with the Lark grammar in grammar/cgraph.lark.

Lark analyses the grammar; `cgraph.lalr` runs the resulting LALR tables (cached per
user, so a command that parses a valid file never imports Lark). The callbacks run as
each rule is reduced, so no parse tree is built and nothing recurses: a 100,000-deep
nested expression parses like a flat one. The callbacks only build the syntax tree of
`cgraph.syntax`; the builder gives it meaning.

A file that does not parse is parsed again by Lark itself (the same grammar, the same
callbacks), whose exception says where and what was expected; `parse_syntax_lark` is
also what the tests compare the fast loop with.

Why one module of ~430 lines: the callbacks, the table cache and the wording of syntax
errors all hang on the one shared callback object and the one Lark parser (`_lark`,
`_tables`), and each half is only read with the other; split, each would import the
other's private state.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import zlib
from functools import lru_cache
from typing import Any, Callable

from . import lalr, shapes
from . import syntax as ast
from ..errors import Location, ParseError, Source, clip


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # cgraph/


def grammar_path() -> str:
    """The grammar shipped in the wheel (cgraph/grammar/), else the checkout's grammar/."""
    packaged = os.path.join(_PACKAGE, "grammar", "cgraph.lark")
    if os.path.isfile(packaged):
        return packaged
    return os.path.join(os.path.dirname(_PACKAGE), "grammar", "cgraph.lark")


@lru_cache(maxsize=1)
def grammar_text() -> str:
    with open(grammar_path(), encoding="utf-8") as f:
        return f.read()


_name = sys.intern  # a name used a thousand times is one string
_EXACT = 2**53  # the largest integer literal a float holds exactly enough to index with


def _exact_int(digits: str) -> bool:
    digits = digits.lstrip("0")  # (int() of a 10 MB literal would refuse, past 4300 digits)
    return len(digits) < 16 or (len(digits) == 16 and int(digits) <= _EXACT)


class _ReservedWord(Exception):
    """A reserved word where a name goes (`y = for + 1`): the lexer reads it as a name
    wherever the keyword cannot come, so it is caught as the name's rule is reduced."""

    def __init__(self, token):
        super().__init__(token.value)
        self.word, self.offset = token.value, token.start_pos


class _Callbacks:
    """One method per `-> alias` in the grammar (and per rule without one, like `ref`);
    each receives the rule's children as arguments: tokens (`.value`, `.start_pos`,
    `.end_pos`) and the values of earlier callbacks.

    With a `sink`, each statement of the file itself (the grammar's `top`) is handed to it
    as soon as it is parsed, and then forgotten here; a loop's statements stay in the loop.
    """

    def __init__(self) -> None:
        self.reserved: frozenset[str] = frozenset()  # the grammar's keywords (set before a parse)
        self.sink: Callable[[ast.Stmt], None] | None = None
        self.lookahead: list = [None]  # lalr.run's current token (a regex match)
        self.resume = 0  # where the text after the last complete top-level statement starts

    def top(self, st: ast.Stmt) -> ast.Stmt | None:
        # The token that completed the statement is the separator after it.
        m = self.lookahead[0]
        if m is not None:
            self.resume = m.end(m.lastgroup)
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

    def output_decl(self, *targets):
        return ast.Output(targets)

    def name(self, token) -> str:
        """A name token's text; a keyword read as a name is refused (see _ReservedWord)."""
        if token.value in self.reserved:
            raise _ReservedWord(token)
        return _name(token.value)

    def def_stmt(self, name, _lpar, *rest):
        params = tuple(self.name(t) for t in rest[:-2])
        return ast.Def(name.start_pos, self.name(name), params, rest[-1])

    def for_stmt(self, var, lo, _range, hi, *body):
        return ast.For(var.start_pos, self.name(var), lo, hi, list(body))

    def expr_stmt(self, value):
        return ast.ExprStmt(value)

    # expressions
    def number(self, tok):
        text = tok.value
        # Usable as an index only while the float is the exact integer (up to 2^53).
        exact = text.isdigit() and (len(text) < 16 or _exact_int(text))
        return ast.Num(tok.start_pos, tok.end_pos, float(text), exact)

    def ref(self, name, *rest):
        if name.value in self.reserved:
            raise _ReservedWord(name)
        if not rest:
            return ast.Ref(name.start_pos, name.end_pos, _name(name.value))
        indices = tuple(e for e in rest if isinstance(e, ast.Expr))  # without the brackets
        return ast.Ref(name.start_pos, rest[-1].end_pos, _name(name.value), indices)

    def binary(self, left, op, right):
        return ast.Binary(op.start_pos, "^" if op.value == "**" else op.value, left, right)

    def unary(self, op, operand):
        if op.value == "-" and isinstance(operand, ast.Num):
            # A negative literal is one constant, not neg(constant).
            return ast.Num(op.start_pos, operand.end, -operand.value, operand.is_int)
        return ast.Unary(op.start_pos, operand.end, op.value, operand)

    def call(self, name, _lpar, *rest):
        return ast.Call(name.start_pos, rest[-1].end_pos, self.name(name), tuple(rest[:-1]))

    def reduction(self, name, _lpar, body, var, lo, _range, hi, rpar):
        return ast.Reduction(name.start_pos, rpar.end_pos, self.name(name), body, self.name(var), lo, hi)

    def group(self, lpar, inner, rpar):
        inner.start, inner.end = lpar.start_pos, rpar.end_pos  # the node's text includes its parentheses
        return inner


# A newline inside ( ) or [ ] continues the expression, as in Python.
_NEWLINE = "_NL"
_OPENING = frozenset({"LPAR", "LSQB"})
_CLOSING = frozenset({"RPAR", "RSQB"})


class _NewlinesInBrackets:
    """Lark's post-lexer for the same rule as `lalr.run` applies."""

    always_accept = (_NEWLINE,)

    def process(self, stream):
        depth = 0
        for tok in stream:
            kind = tok.type
            if kind == _NEWLINE:
                if depth:
                    continue
            elif kind in _OPENING:
                depth += 1
            elif kind in _CLOSING:
                depth = max(depth - 1, 0)
            yield tok


def _cache_dir() -> str | None:
    """Per user (XDG_CACHE_HOME or ~/.cache)/cgraph, or None when it cannot be written."""
    base = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cgraph")
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK) else None


def _cache_file(kind: str) -> str | None:
    """A cache entry named after cgraph's version and the grammar's digest, so an edited
    grammar never meets the tables of the old one."""
    base = _cache_dir()
    if base is None:
        return None
    from .. import __version__

    digest = f"{zlib.crc32(grammar_text().encode()):08x}"  # (hashlib's import costs 3 ms a start)
    return os.path.join(base, f"{kind}-{__version__}-{digest}")


class _InlineArgs:
    """Lark hands a callback its children as one list; ours take them as arguments. A rule
    without a method here (`_args`...) gets Lark's default, a tree it splices."""

    def __init__(self, target: object):
        self._target = target

    def __getattr__(self, name: str):
        method = getattr(self._target, name)
        return lambda children: method(*children)


_CALLBACKS = _Callbacks()
_LOCK = threading.Lock()  # the callbacks carry the state of one parse at a time


@lru_cache(maxsize=1)
def _lark() -> Any:
    from lark import Lark

    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        transformer=_InlineArgs(_CALLBACKS),
        postlex=_NewlinesInBrackets(),
        # No `cache=`: Lark's cache is a pickle, which runs code when read, and the cache
        # directory must hold nothing a planted file could turn into code. Built afresh it
        # costs ~35 ms, paid only on a syntax error or a table miss (the tables below are
        # our own JSON).
    )


@lru_cache(maxsize=1)
def _tables() -> lalr.Tables:
    """The LALR tables: from the cache, else from Lark (and then into the cache)."""
    path = _cache_file(f"tables{lalr.FORMAT}")
    if path is not None:
        try:
            with open(path + ".json", encoding="utf-8") as f:
                return lalr.Tables(json.load(f))
        except Exception:  # absent, unreadable, truncated, edited by hand: whatever it is,
            pass  # a cache must never stop a parse; build the tables again
    tables = lalr.Tables.from_lark(_lark())
    if path is not None:
        try:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(tables.data, f)
            os.replace(tmp, path + ".json")  # atomic: a concurrent reader sees all or nothing
        except OSError:
            pass
    return tables


@lru_cache(maxsize=1)
def _reducers() -> list:
    return _tables().reducers(_CALLBACKS)


def parse_syntax(source: Source, sink: Callable[[ast.Stmt], None] | None = None,
                 direct: Callable[[shapes.Script, tuple, tuple], bool] | None = None) -> ast.Program:
    """Parse a whole file into its syntax tree (`loading.parse` goes on to the Graph).
    Raises ParseError with the location and what was expected.

    With a `sink`, top-level statements go to it one by one as they are parsed, and the
    returned Program is empty. With `direct` too, a short top-level statement is first
    offered to it as its script and its tokens' texts and spans (see `shapes.Script`); if it returns True it
    built the statement itself, and the sink never sees it."""
    text = _with_final_newline(source.text)
    tables, reducers = _tables(), _reducers()
    with _LOCK:
        _CALLBACKS.sink, _CALLBACKS.resume, _CALLBACKS.reserved = sink, 0, frozenset(tables.keywords)
        shortcut = shapes.Shortcut("top", _replayer(direct if sink is not None else None), in_a_row=sink is not None)
        try:
            return lalr.run(tables, reducers, text, _NEWLINE, _OPENING, _CLOSING, _CALLBACKS.lookahead, shortcut)
        except lalr.Rejected:
            resume = _CALLBACKS.resume
        except _ReservedWord as exc:
            raise _reserved_error(source, exc.offset, exc.word) from None
        finally:
            _CALLBACKS.sink, _CALLBACKS.lookahead[0] = None, None
        error = _lark_error(source, text, resume)
    raise error


def _replayer(direct: Callable[[shapes.Script, tuple, tuple], bool] | None) -> Callable[[shapes.Shape, tuple, tuple, int], Any]:
    """The value of a statement `lalr.run` read whole, whose line break ends at `after`:
    built by `direct`, or the callbacks'."""

    def statement(shape: shapes.Shape, texts: tuple, spans: tuple, after: int) -> Any:
        if direct is not None and direct(shape.script, texts, spans):
            value = None
        else:
            value = shapes.replay(shape.script, shape.tokens(texts, spans), _CALLBACKS)
        _CALLBACKS.resume = after  # as `top` notes it, from the line break after the statement
        return value

    return statement


def _lark_error(source: Source, text: str, resume: int) -> ParseError:
    """Lark's description of the error in a text the loop refused. Lark parses only what
    follows the last complete top-level statement (a file is a list of statements, so the
    error is the same there): an error at the end of a million-line file costs one line's
    parse, not a million. Spaces stand in for the rest of the line, so columns stay."""
    from lark.exceptions import UnexpectedInput

    line_start = text.rfind("\n", 0, resume) + 1
    shift = (text.count("\n", 0, line_start), line_start)
    for rest, at in ((" " * (resume - line_start) + text[resume:], shift), (text, (0, 0))):
        try:
            _lark().parse(rest)
        except UnexpectedInput as exc:
            return _parse_error(exc, source, *at, text=rest)
        except _ReservedWord as exc:
            return _reserved_error(source, exc.offset + at[1], exc.word)
    raise AssertionError(f"{source.filename}: cgraph's LALR loop refused a text that Lark parses")


def parse_syntax_lark(source: Source, sink: Callable[[ast.Stmt], None] | None = None) -> ast.Program:
    """`parse_syntax` with Lark's own parser loop: slower, the reference."""
    from lark.exceptions import UnexpectedInput

    text = _with_final_newline(source.text)
    parser = _lark()
    with _LOCK:
        _CALLBACKS.sink, _CALLBACKS.reserved = sink, frozenset(_tables().keywords)
        try:
            return parser.parse(text)
        except UnexpectedInput as exc:
            raise _parse_error(exc, source, text=text) from None
        except _ReservedWord as exc:
            raise _reserved_error(source, exc.offset, exc.word) from None
        finally:
            _CALLBACKS.sink = None


def _with_final_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"  # a missing final newline is fine


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


def _parse_error(exc: Any, source: Source, lines_before: int = 0, offset: int = 0, text: str | None = None) -> ParseError:
    """A located ParseError from Lark's exception about `text`, which started `offset`
    characters (`lines_before` lines) into the source. What was expected is every token
    that could have come there (see `lalr.expected`), not Lark's list."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    refusal = _refusal(exc, text)
    if refusal is not None and refusal.keyword is not None:
        at, word = refusal.keyword
        return _reserved_error(source, at + offset, word)
    exact = refusal.expected if refusal is not None else None
    line = (getattr(exc, "line", None) or 1) + lines_before
    column = getattr(exc, "column", None) or 1
    if isinstance(exc, UnexpectedCharacters):
        message = _unexpected_character(source, (exc.pos_in_stream or 0) + offset)
        expected = _expected(exact if exact is not None else exc.allowed or ())
        return ParseError(message + (f"; {expected}" if expected else ""), Location(source, line, column))
    if isinstance(exc, UnexpectedToken):
        return _unexpected_token(exc, source, exact, lines_before, Location(source, line, column))
    if isinstance(exc, UnexpectedEOF):
        return _at_end(source, _expected(exc.expected))
    return ParseError(str(exc), Location(source, line, column))


def _unexpected_character(source: Source, pos: int) -> str:
    char = source.text[pos] if pos < len(source.text) else ""
    if char.isalpha() or char.isdigit():
        return f"unexpected character {char!r} (U+{ord(char):04X}): names use only ASCII letters, digits and '_'"
    if char == "\x00":
        return "unexpected NUL byte"
    return f"unexpected character {char!r}"


def _unexpected_token(exc: Any, source: Source, exact: frozenset[str] | None, lines_before: int,
                      at: Location) -> ParseError:
    """The error for a token the parser could not take (`at`: where Lark says it is)."""
    tok = exc.token
    names = exact if exact is not None else exc.accepts or exc.expected
    if tok.type == "$END":
        return _at_end(source, _expected(names))
    if tok.type == "_NL":
        return ParseError(f"unexpected end of line; {_expected(names)}",
                          Location(source, tok.line + lines_before, tok.column, 1))
    width = max(len(str(tok)), 1)
    return ParseError(f"unexpected '{clip(str(tok))}'; {_expected(names)}", Location(source, at.line, at.column, width))


def _refusal(exc: Any, text: str | None) -> lalr.Refusal | None:
    """Where and why the tables refuse `text` (every terminal that could have come there),
    when they refuse it where Lark did (they always should; if not, Lark's own list is
    used: a list too long beats a wrong place)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if text is None or not isinstance(exc, (UnexpectedCharacters, UnexpectedToken)):
        return None
    found = lalr.expected(_tables(), text, _NEWLINE, _OPENING, _CLOSING)
    if found is None:
        return None
    if isinstance(exc, UnexpectedCharacters):
        where = exc.pos_in_stream
    else:
        where = len(text) if exc.token.type == "$END" else exc.token.start_pos
    return found if found.offset == where else None


def _reserved_error(source: Source, offset: int, word: str) -> ParseError:
    return ParseError(
        f"'{word}' is a reserved word, not a name",
        Location.at(source, offset, len(word)),
        f"the reserved words are {', '.join(_tables().keywords)}; choose another name",
    )


def _at_end(source: Source, expected: str) -> ParseError:
    lines = source.text.rstrip("\n").split("\n")
    return ParseError(
        f"unexpected end of file; {expected}" if expected else "unexpected end of file",
        Location(source, len(lines), len(lines[-1]) + 1),
    )
