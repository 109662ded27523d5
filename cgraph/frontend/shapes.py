"""Whole statements read at once: the statement shortcut of `lalr.run`.

Most of a big file is short statements of a few shapes (`s3 = s2 * w`, `d = tanh(a + b)`).
For a given state and sequence of terminals the LALR automaton does the same shifts and
reductions every time, so they are worked out once per (state, terminals), from the
tables, as a `Script`: the callbacks to call and which values each receives. Replaying
it skips, per token, the classification, the table lookups and the stack's pushes and
pops, most of the loop's time on one-operation statements. A shape seen twice gets a
regex (`Shape`), so a statement is then read by one C-level match rather than a Python
loop turn per token, and statements in a row skip the loop altogether (`_in_a_row`).
Measured (CPU time, bench_core's 1e5-node files): parse+build of the one-operation
chain 17.0 -> 11.1 µs/node with statements replayed into the same syntax trees, and
6.1 with frontend/direct.py building them; the random DAG 11.7 -> 8.6 -> 4.4.

Like `lalr`, this knows nothing of cgraph's syntax: only Lark's tables, its terminals'
regexes and its conventions for callbacks. Whatever it cannot read whole (a statement
over several lines, a keyword, a shape with no script) it hands back to the loop.
tests/test_statement_shortcut.py compares the result with Lark's parser.

Why one module of ~450 lines: a `Script`'s registers are the tokens a `Shape`'s regex
reads, in the same order, and the `Shortcut` keys both by (state, terminals); split,
a change to how one side numbers the tokens would silently misread the other.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Callable

from .lalr import END, ERROR, Tables, Token


class Script:
    """The reductions a statement of one shape makes, as calls: `steps` are
    (callback, registers of its arguments); registers 0..n-1 are the statement's tokens
    (None for a token no callback keeps), then one per step, in order. The last step is
    the statement's own rule (`top`)."""

    __slots__ = ("steps", "size", "result")

    def __init__(self, steps: list[tuple[str, tuple[int, ...]]], size: int, result: int):
        self.steps, self.size, self.result = steps, size, result


def compile_statement(tables: Tables, state: int, kinds: tuple[str, ...], lookahead: str,
                      rule: str) -> Script | None:
    """The script of the terminals `kinds` read in `state` up to `lookahead` (not shifted),
    if they make exactly one `rule` on top of `state` and nothing below it is touched;
    else None (the caller lets `run` parse them token by token)."""
    actions, gotos, rules = tables.actions, tables.gotos, tables.rules
    states = [state]
    held: list[Any] = []  # per symbol above `state`: a register, or a list of them (a splice)
    steps: list[tuple[str, tuple[int, ...]]] = []
    complete = False
    n = len(kinds)
    for index, kind in enumerate((*kinds, lookahead)):
        while True:
            action = actions[states[-1]].get(kind)
            if action is None:
                return None
            if action >= 0:
                if index == n:  # the lookahead: the statement's reductions are done
                    done = len(states) == 2 and states[1] == gotos[state].get(rule) and complete
                    return Script(steps, n, held[0]) if done and isinstance(held[0], int) else None
                if complete:
                    return None  # a second statement (`a = 1; b = 2`)
                states.append(action)
                held.append(index)
                break
            origin, size, kind_of, callback, kept, splice = rules[~action]
            if size >= len(states) or complete:
                return None  # it reaches below the statement, or goes on past it
            popped = held[len(held) - size:] if size else []
            del held[len(held) - size:]
            del states[len(states) - size:]
            value = _held_value(popped, kind_of, callback, kept, splice, steps, n)
            if value is None:
                return None
            held.append(value)
            states.append(gotos[states[-1]][origin])
            complete = origin == rule  # then only the lookahead's shift may follow
    return None


def _held_value(popped: list, kind: str, callback: str | None, kept: list[int], splice: list[int],
                steps: list[tuple[str, tuple[int, ...]]], n: int) -> Any:
    """What `_reducer`'s function would make of `popped`, as a register (a new step when a
    callback is called) or a list of registers (a rule spliced into its parent)."""
    children: list[int] = []
    for i in kept:
        if i in splice:
            children.extend(popped[i])
        else:
            children.append(popped[i])
    if kind == "splice":
        return children
    if kind == "expand1" and len(children) == 1:
        return children[0]  # a unit rule, or `?rule` with one child left: passed up
    if callback is None:
        return None
    steps.append((callback, tuple(children)))
    return n + len(steps) - 1


def replay(script: Script, registers: list, callbacks: object) -> Any:
    """Run `script` on the tokens in `registers` (extended in place): the statement's value."""
    for callback, args in script.steps:
        registers.append(getattr(callbacks, callback)(*[registers[i] for i in args]))
    return registers[script.result]


def _first_chars(regex: str) -> frozenset[str] | None:
    """The characters a match of `regex` can start with; None if that is not simply known
    (any character, a category, or a pattern that can match nothing at all)."""
    from re import _parser

    parsed = _parser.parse(regex)
    if parsed.state.flags & re.IGNORECASE:
        return None  # a literal would also match its other case
    result = _first_set(parsed.data)
    if result is None or result[1]:
        return None
    return frozenset(chr(code) for code in result[0])


def _first_set(items: Any) -> tuple[set[int], bool] | None:
    """(the first characters, whether it can match nothing) of a parsed regex's items."""
    from re import _constants as c

    found: set[int] = set()
    for op, av in items:
        if op is c.LITERAL:
            return found | {av}, False
        if op is c.IN:
            chars = _first_of_set(av)
            return None if chars is None else (found | chars, False)
        if op in (c.ASSERT, c.ASSERT_NOT, c.AT):
            continue  # zero-width: what follows starts the match
        inner = _first_inner(op, av)
        if inner is None:
            return None
        found |= inner[0]
        if not inner[1]:
            return found, False
    return found, True


def _first_of_set(items: Any) -> set[int] | None:
    from re import _constants as c

    chars: set[int] = set()
    for kind, value in items:
        if kind is c.LITERAL:
            chars.add(value)
        elif kind is c.RANGE:
            chars.update(range(value[0], value[1] + 1))
        else:  # a category, a negated set
            return None
    return chars


def _first_inner(op: Any, av: Any) -> tuple[set[int], bool] | None:
    """`_first` of a group, an alternation or a repetition."""
    from re import _constants as c

    if op is c.BRANCH:
        union: tuple[set[int], bool] | None = (set(), False)
        for branch in av[1]:
            part = _first_set(branch.data)
            union = None if part is None or union is None else (union[0] | part[0], union[1] or part[1])
        return union
    if op is c.SUBPATTERN:
        return None if av[1] & re.IGNORECASE else _first_set(av[3].data)
    if op is c.ATOMIC_GROUP:
        return _first_set(av.data)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        inner = _first_set(av[2].data)
        return inner if inner is None or av[0] else (inner[0], True)
    return None


def _disjoint(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    return a is not None and b is not None and not (a & b)


class _Lexicon:
    """The lexer's terminals as `Shape` patterns use them (worked out once per parse)."""

    def __init__(self, tables: Tables):
        data = tables.data
        ignores = [regex for name, regex in data["terminals"] if name in data["ignore"]]
        self.skip = f"(?:{'|'.join(ignores)})*+" if ignores else ""
        # Between two tokens of a line, most files have only blanks: the ignored pattern
        # that reads a space. Where no ignored pattern can start a token, the lexer's skip
        # stops after the same blanks, so `blank` may stand for `skip` before it: a pattern
        # a third as long, which compiles and matches faster (a shape's first compile is
        # most of what a 1,000-node file pays for its shapes).
        blanks = [regex for regex in ignores if re.fullmatch(regex, " ")]
        self.blank = f"(?:{blanks[0]})*+" if blanks else None
        self.ignored_firsts = [_first_chars(regex) for regex in ignores]
        apart = set(data["ignore"]) | set(data["keywords"].values())
        self.order = [(name, regex) for name, regex in data["terminals"] if name not in apart]
        self.firsts = {name: _first_chars(regex) for name, regex in self.order}
        self.pieces: dict[str, tuple[str, int]] = {}

    def before(self, kind: str) -> str:
        """What may come before a token of `kind` on its line (see `blank`)."""
        if self.blank is not None and all(_disjoint(first, self.firsts[kind]) for first in self.ignored_firsts):
            return self.blank
        return self.skip

    def token(self, kind: str) -> tuple[str, int]:
        """The pattern of terminal `kind` where the lexer reads it, and its own groups."""
        if kind not in self.pieces:
            at = [name for name, _ in self.order].index(kind)
            firsts = self.firsts
            earlier = "|".join(f"(?:{regex})" for name, regex in self.order[:at]
                               if not _disjoint(firsts[name], firsts[kind]))
            piece = (f"(?!{earlier})" if earlier else "") + f"(?>{self.order[at][1]})"
            self.pieces[kind] = (piece, re.compile(piece).groups)
        return self.pieces[kind]


class Shape:
    """A statement shape (its terminals, read in one state) that has a script. Once seen
    twice it gets `pattern`, a regex matching exactly the texts the lexer reads as those
    terminals followed by a line break: `run` tries it where a statement starts, one
    C-level match instead of a Python loop turn per token. As in the lexer, whose first
    matching alternative wins and never backtracks, each token's pattern is atomic and
    preceded by a negative lookahead of the lexer's earlier alternatives (those that can
    start with one of its own first characters: the others cannot match there); a name
    must not be a keyword (checked on the texts: `names`)."""

    __slots__ = ("script", "kinds", "pattern", "size", "groups", "texts", "spans", "names", "kept", "seen")

    def __init__(self, tables: Tables, kinds: tuple[str, ...], script: Script):
        self.script, self.kinds = script, kinds
        self.pattern = ""
        self.size = 0
        self.groups: list[int] = []  # of each token, counted from the pattern's start
        self.names = [i for i, k in enumerate(kinds) if k in tables.keyword_like]
        self.kept = [k in tables.kept for k in kinds]
        self.texts: Callable[[tuple], tuple] = operator.itemgetter(0)
        self.spans: Callable[[tuple], tuple] = operator.itemgetter(0)
        self.seen = 1

    def make_pattern(self, lexicon: _Lexicon, newline: str) -> None:
        parts: list[str] = []
        count = 0
        for kind in self.kinds:
            piece, groups = lexicon.token(kind)
            parts.append(f"{lexicon.before(kind)}({piece})")
            self.groups.append(count + 1)
            count += 1 + groups
        # The line break is read too (see `_in_a_row`), after anything the lexer skips: a
        # comment at the end of the line.
        piece, groups = lexicon.token(newline)
        parts.append(f"{lexicon.skip}{piece}")
        self.pattern = "".join(parts)
        self.size = count + groups  # its groups

    def place(self, offset: int) -> None:
        """Its token groups, once its pattern is `offset` groups into a bigger one."""
        self.texts = _picker([offset + g - 1 for g in self.groups])  # of Match.groups()
        self.spans = _picker([offset + g for g in self.groups])  # of Match.regs

    def tokens(self, texts: tuple, spans: tuple) -> list:
        """The statement's tokens as the callbacks receive them (None: not kept)."""
        return [Token(t, *span) if keep else None for t, span, keep in zip(texts, spans, self.kept)]


def _picker(indices: list[int]) -> Callable[[tuple], tuple]:
    """itemgetter that always returns a tuple (itemgetter of one index does not)."""
    if len(indices) == 1:
        i = indices[0]
        return lambda items: (items[i],)
    return operator.itemgetter(*indices)


class _Shapes:
    """The shapes known in one state, as one regex of alternatives: each ends in a group
    of its own (empty), whose index (`lastindex`) says which matched. The regex tries
    them one after another, each up to where it differs from the text, so their tokens
    are counted (`tokens`): shapes with long common beginnings (`v = a + a + ... + a`
    of 1, 2, ... 40 terms) made a statement cost more than the loop."""

    __slots__ = ("shapes", "regex", "by_marker", "tokens")

    def __init__(self) -> None:
        self.shapes: list[Shape] = []
        self.regex: re.Pattern | None = None
        self.by_marker: dict[int, Shape] = {}
        self.tokens = 0

    def add(self, shape: Shape) -> None:
        self.shapes.append(shape)
        self.tokens += len(shape.kinds)
        parts, count = [], 0
        self.by_marker = {}
        for known in self.shapes:
            known.place(count)
            count += known.size + 1
            self.by_marker[count] = known
            parts.append(f"(?:{known.pattern}())")
        self.regex = re.compile("|".join(parts))


class Shortcut:
    """What `run` needs to read whole statements: the rule a statement makes (`rule`),
    the shapes found so far (per state, at most `tokens` tokens of them), and
    `statement`, which gives a statement's value from its shape, its tokens' texts and
    their spans, and the offset after its line break. With `in_a_row` (only when the
    caller keeps no statement's value: see `_in_a_row`), consecutive statements are read
    without the loop.

    A statement of a shape not seen yet is lexed on its own (at most `limit` tokens) and
    its script worked out; a file whose statements keep missing (each of its own shape)
    stops trying after `patience` misses more than hits."""

    def __init__(self, rule: str, statement: Callable[[Shape, tuple, tuple, int], Any], in_a_row: bool = False,
                 limit: int = 48, tokens: int = 96, patience: int = 64):
        self.rule, self.statement, self.limit = rule, statement, limit
        self.in_a_row = in_a_row
        self.rejoins: dict[tuple[int, int], bool] = {}
        self.scripts: dict[tuple[int, tuple[str, ...]], Shape | None] = {}
        self.shapes: dict[int, _Shapes] = {}  # per state
        self.most, self.patience, self.balance = tokens, patience, 0
        self.too_long = 16 * limit  # characters: a longer line is not lexed on its own (see `_line`)
        self.keywords: frozenset[str] = frozenset()
        self.lexicon: _Lexicon | None = None

    def read(self, tables: Tables, state: int, first: re.Match, text: str,
             newline: str) -> tuple[Shape, tuple, tuple, int] | None:
        """See `_statement`."""
        return _statement(tables, self, state, first, text, newline)

    def rejoined(self, tables: Tables, below: int, state: int, newline: str) -> bool:
        """See `_rejoins`."""
        return _rejoins(tables, self, below, state, newline)

    def in_a_row_from(self, state: int, text: str,
                      found: tuple[Shape, tuple, tuple, int]) -> tuple[Shape, tuple, tuple, int]:
        """See `_in_a_row`."""
        return _in_a_row(self, state, text, found)

    def starts(self, tables: Tables) -> frozenset[int]:
        """The states where the statement's rule can start (those that go to it)."""
        self.keywords = frozenset(tables.keywords)
        return frozenset(state for state, row in enumerate(tables.gotos) if self.rule in row)


def _statement(tables: Tables, shortcut: Shortcut, state: int, first: re.Match, text: str,
               newline: str) -> tuple[Shape, tuple, tuple, int] | None:
    """The statement starting with the name `first`: its shape, its tokens' texts and
    spans, and where the line break after it ends; None if it has no shape (it then goes
    through the loop, which has taken nothing past `first`)."""
    known = shortcut.shapes.get(state)
    if known is None:
        known = shortcut.shapes[state] = _Shapes()
    if known.regex is not None:
        fm = known.regex.match(text, first.start())
        if fm is not None:
            shape = known.by_marker[fm.lastindex or 0]
            texts = shape.texts(fm.groups())
            if not shortcut.keywords.isdisjoint([texts[i] for i in shape.names]):
                return None  # a keyword read as a name: the loop decides
            shortcut.balance += 1
            return shape, texts, shape.spans(fm.regs), fm.end()
    return _learn(tables, shortcut, state, first, text, newline, known)


def _learn(tables: Tables, shortcut: Shortcut, state: int, first: re.Match, text: str, newline: str,
           known: _Shapes) -> tuple[Shape, tuple, tuple, int] | None:
    """`_statement` for a statement no known shape matched: lex its line on its own and
    work out its script, if it is a one-line statement of names that are not keywords."""
    shortcut.balance -= 1
    if shortcut.balance < -shortcut.patience:
        return None
    line = _line(tables, shortcut, first, text)
    if line is None:
        return None
    kinds = tuple(m.lastgroup or "" for m in line)
    shape = _shape(tables, shortcut, state, kinds, newline)
    if shape is None:
        return None
    if shape.seen == 2 and known.tokens + len(kinds) <= shortcut.most:  # (a shape seen once needs no regex)
        if shortcut.lexicon is None:
            shortcut.lexicon = _Lexicon(tables)
        shape.make_pattern(shortcut.lexicon, newline)
        known.add(shape)
    texts = tuple(m.group(k) for m, k in zip(line, kinds))
    spans = tuple(m.span(k) for m, k in zip(line, kinds))
    return shape, texts, spans, line[-1].end() + 1


def _line(tables: Tables, shortcut: Shortcut, first: re.Match, text: str) -> list[re.Match] | None:
    """The tokens from `first` to the end of its line, lexed on their own (the lexer's
    matches up to a line break do not depend on what follows it, but for a backslash
    continuation, which then reads as an error); None if the line is longer than a
    line that had more than `limit` tokens (or than 16 characters a token: a line of a
    million-deep expression is not lexed twice), has more tokens itself, or has an error
    or a keyword.
    The loop, which goes on from `first`, has then lost nothing."""
    start = first.start()
    stop = text.find("\n", start)
    if stop < 0 or stop - start >= shortcut.too_long:
        return None
    line = list(tables.lexer.finditer(text, start, stop))
    line.pop()  # the end of the text (at `stop`)
    if len(line) > shortcut.limit:
        shortcut.too_long = stop - start  # (a longer line is not lexed for nothing again)
        return None
    keywords, keyword_like = tables.keywords, tables.keyword_like
    for m in line:
        kind = m.lastgroup
        if kind == ERROR or kind == END or (kind in keyword_like and m.group(kind or 0) in keywords):
            return None
    return line


def _shape(tables: Tables, shortcut: Shortcut, state: int, kinds: tuple[str, ...], newline: str) -> Shape | None:
    """The shape of the terminals `kinds` read in `state`, if they have a script; counted."""
    key = (state, kinds)
    if key not in shortcut.scripts:
        script = compile_statement(tables, state, kinds, newline, shortcut.rule)
        shortcut.scripts[key] = None if script is None else Shape(tables, kinds, script)
        return shortcut.scripts[key]
    shape = shortcut.scripts[key]
    if shape is not None:
        shape.seen += 1
    return shape


def _rejoins(tables: Tables, shortcut: Shortcut, below: int, state: int, newline: str) -> bool:
    """Whether, in `state` above `below`, a statement, the line break after it and the
    name starting the next one take the parser back to `state` above `below` by rules
    that call no callback (separators, and Lark's helpers that splice them): then
    statements in a row need not go through the loop."""
    key = (below, state)
    if key not in shortcut.rejoins:
        stack = [below, state, tables.gotos[state][shortcut.rule]]
        ok = True
        for kind in (newline, next(iter(tables.keyword_like), "")):
            while ok:
                action = tables.actions[stack[-1]].get(kind)
                if action is None:
                    ok = False
                elif action >= 0:
                    if kind == newline:
                        stack.append(action)
                    break
                else:
                    origin, size, rule_kind = tables.rules[~action][:3]
                    ok = size < len(stack) and rule_kind == "splice"
                    del stack[len(stack) - size:]
                    stack.append(tables.gotos[stack[-1]][origin])
        shortcut.rejoins[key] = ok and stack == [below, state]
    return shortcut.rejoins[key]


def _in_a_row(shortcut: Shortcut, state: int, text: str,
              found: tuple[Shape, tuple, tuple, int]) -> tuple[Shape, tuple, tuple, int]:
    """Hand statements of known shapes that follow each other line after line to
    `statement` without the loop; returns the last, for the loop to finish.

    Between two such statements the loop would only shift the line break and reduce
    the separators into Lark's list of statements, returning to the same state
    (`_rejoins`), and keep each statement's value in that list. So this is only for a
    caller whose `statement` values are None (a sink takes the statements), for which
    the list is never read; the values stack keeps the loop's shape either way."""
    known = shortcut.shapes[state]
    regex, by_marker, statement = known.regex, known.by_marker, shortcut.statement
    shape, texts, spans, after = found
    if regex is None:  # no shape seen twice yet
        return found
    while True:
        fm = regex.match(text, after)
        if fm is None:
            return shape, texts, spans, after
        following = by_marker[fm.lastindex or 0]
        following_texts = following.texts(fm.groups())
        if not shortcut.keywords.isdisjoint([following_texts[i] for i in following.names]):
            return shape, texts, spans, after  # a keyword read as a name: the loop decides
        statement(shape, texts, spans, after)
        shape, texts, spans, after = following, following_texts, following.spans(fm.regs), fm.end()
