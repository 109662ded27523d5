"""Running the LALR(1) tables of grammar/cgraph.lark, without Lark's per-token machinery.

Lark reads the grammar and computes its lexer and LALR(1) tables; `Tables.from_lark`
copies them out as plain lists and dicts, and `run` drives them with one loop. The
grammar file stays the single definition of the language: this module knows nothing of
cgraph's syntax, only of Lark's conventions for turning reductions into callbacks:

- anonymous tokens ("=", "input", ",") and terminals named `_X` are dropped;
- a rule named `_x` (or Lark's own `__x_star_0` helpers) is spliced into its parent;
- a `?rule` with one child left passes that child up; otherwise `-> alias`, or the rule's
  own name, names the callback, which receives the children as arguments.

Why not Lark's own loop: it spends ~2 µs per token and per reduction on objects the
callbacks never look at (a Token is a str with eight attributes; each callback passes
through three wrappers), which made parsing 90% of `cgraph eval` on large files. This
loop does the same work in a fraction of that and imports nothing from Lark, so a cached
table also spares the start-up of every command the import of Lark.

Syntax errors are not described here: `run` raises `Rejected` and the caller asks Lark
to parse the text again for its full error (what was expected, where).

Why one module of ~560 lines: the tables' format (FORMAT, cached on disk), the loop that
runs them and `expected`, which runs the same loop on the error path, must change
together; split, a change to one would silently break the cache or the other loop.
"""

from __future__ import annotations

import itertools
import operator
import re
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .shapes import Shortcut

FORMAT = 3  # of the serialised tables; a change makes old cache files stale
ERROR = "zz_error"  # the lexer's catch-all group (Lark's terminal names are upper case)
END = "zz_end"  # the lexer's group for the end of the text


class Rejected(Exception):
    """The text is not in the language; `offset` is where the parser stopped."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


class Token:
    """A terminal the callbacks receive, with the attributes of Lark's Token they read.

    A `__slots__` class, not a tuple subclass with itemgetter properties: that one was
    measured ~0.08 µs cheaper to make but ~0.025 µs dearer per field read, and a token's
    fields are read 2-3 times, so no gain."""

    value: str
    start_pos: int
    end_pos: int

    __slots__ = ("value", "start_pos", "end_pos")

    def __init__(self, value: str, start_pos: int, end_pos: int):
        self.value, self.start_pos, self.end_pos = value, start_pos, end_pos

    def __repr__(self) -> str:
        return f"Token({self.value!r}, {self.start_pos})"


class Tables:
    """Lark's analysis of a grammar as plain data (JSON-serialisable: `data`)."""

    def __init__(self, data: dict[str, Any]):
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("tables of another format")
        self.data = data
        # One match per token: first any ignored text (spaces, comments), then one of the
        # terminals; the catch-all and end-of-text groups make the matches contiguous.
        # A keyword is read as the terminal it also matches (a NAME), then told apart.
        ignored = "|".join(regex for name, regex in data["terminals"] if name in data["ignore"])
        apart = set(data["ignore"]) | set(data["keywords"].values())
        tokens = [f"(?P<{name}>{regex})" for name, regex in data["terminals"] if name not in apart]
        skip = f"(?:{ignored})*+" if ignored else ""  # possessive: never backtracks into spaces
        self.lexer = re.compile(f"{skip}(?:{'|'.join(tokens)}|(?P<{END}>\\Z)|(?P<{ERROR}>[\\s\\S]))")
        self.keywords: dict[str, str] = data["keywords"]
        self.keyword_like = frozenset(data["keyword_like"])  # terminals a keyword also matches (NAME)
        self.kept = frozenset(data["kept"])  # terminals some rule passes to a callback
        self.actions: list[dict[str, int]] = data["actions"]
        self.gotos: list[dict[str, int]] = data["gotos"]
        self.rules: list[list] = data["rules"]
        self.start: int = data["start"]
        self.end: int = data["end"]
        self._state_lexers: dict[int, re.Pattern] = {}

    def state_lexer(self, state: int, newline: str) -> re.Pattern:
        """The lexer Lark's contextual lexer uses in `state`: only the terminals the parser
        can take there. It differs from `lexer` where a keyword is a prefix of a name the
        state cannot take: after `for t`, `in1..3` is the keyword `in` then `1..3`."""
        if state not in self._state_lexers:
            accepted = set(self.actions[state]) | {newline}
            if accepted & self.keyword_like:  # as in Lark, the name's match decides the keyword
                accepted -= set(self.keywords.values())
            groups = [f"(?P<{name}>{regex})" for name, regex in self.data["terminals"] if name in accepted]
            self._state_lexers[state] = re.compile("|".join(groups) or "(?!)")
        return self._state_lexers[state]

    @classmethod
    def from_lark(cls, lark: Any, start: str = "start") -> Tables:
        """Copy the lexer and the LALR tables out of a `Lark(..., parser="lalr")`."""
        from lark.parsers.lalr_analysis import Shift

        table = lark.parser.parser.parser.parse_table
        states = sorted(table.states)
        if states != list(range(len(states))):
            raise ValueError("Lark's states are not numbered 0..n-1")
        rules = _Rules()
        actions: list[dict[str, int]] = [{} for _ in states]
        gotos: list[dict[str, int]] = [{} for _ in states]
        for state, row in table.states.items():
            for symbol, (action, arg) in row.items():
                if not symbol.isupper():  # a rule's name: where to go after reducing it
                    gotos[state][symbol] = arg
                elif action is Shift:
                    actions[state][symbol] = arg
                else:
                    actions[state][symbol] = ~rules.id(arg)

        ignore = list(lark.lexer_conf.ignore)
        keywords, keyword_like = _keywords(lark.terminals)
        # Lark's own order of alternatives, so the same text makes the same tokens.
        terminals = sorted(lark.terminals, key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
        for t in terminals:
            if not t.name.isidentifier() or t.name == ERROR:
                raise ValueError(f"terminal name {t.name!r} cannot name a regex group")
        if len(keyword_like) > 1:
            raise ValueError(f"keywords match more than one terminal: {sorted(keyword_like)}")
        return cls({
            "format": FORMAT,
            "terminals": [(t.name, t.pattern.to_regexp()) for t in terminals],
            "ignore": ignore,
            "keywords": keywords,
            "keyword_like": sorted(keyword_like),
            "kept": sorted(rules.kept_terminals),
            "actions": actions,
            "gotos": gotos,
            "rules": rules.rules,
            "start": table.start_states[start],
            "end": table.end_states[start],
        })

    def reducers(self, callbacks: object) -> list[tuple[str, int, Callable[..., Any] | None, bool]]:
        """For each rule: (its name, how many symbols it pops, what computes its value from
        them, whether that takes them as arguments or as one list); None for a rule that
        passes its one symbol up unchanged."""
        return [_reducer(callbacks, *rule) for rule in self.rules]


class _Rules:
    """Lark's rules as the loop runs them, numbered as the tables first refer to them:
    [origin, size, kind, callback, kept, splice] (see `_reducer`)."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.rules: list[list[Any]] = []
        self.kept_terminals: set[str] = set()  # terminals some callback receives

    def id(self, rule: Any) -> int:
        if rule not in self.ids:
            self.ids[rule] = len(self.rules)
            self.rules.append(self._row(rule))
        return self.ids[rule]

    def _row(self, rule: Any) -> list[Any]:
        from lark.grammar import NonTerminal

        options = rule.options
        if options.keep_all_tokens or options.empty_indices or options.template_source:
            raise ValueError(f"rule {rule} uses a Lark option this loop does not run")
        expansion = rule.expansion
        kept = [i for i, sym in enumerate(expansion) if not (sym.is_term and sym.filter_out)]
        splice = [i for i in kept if isinstance(expansion[i], NonTerminal) and expansion[i].name.startswith("_")]
        self.kept_terminals.update(expansion[i].name for i in kept if expansion[i].is_term)
        kind, callback = _callback(rule)
        return [rule.origin.name, len(expansion), kind, callback, kept, splice]


def _callback(rule: Any) -> tuple[str, str | None]:
    """How a rule's value is made ('splice', 'expand1' or 'call') and the callback's name."""
    origin = rule.origin.name
    if origin.startswith("_"):
        return "splice", None  # its children go into the parent's
    if rule.options.expand1 and not rule.alias:
        return "expand1", origin
    return "call", rule.alias or origin


def _keywords(terminals: list[Any]) -> tuple[dict[str, str], set[str]]:
    """Keywords ("for" -> its terminal) and the terminals they also match (NAME): a
    keyword is a NAME unless the parser can take the keyword there."""
    by_regex = [t for t in terminals if t.pattern.type == "re"]
    keywords: dict[str, str] = {}
    keyword_like: set[str] = set()
    for t in terminals:
        if t.pattern.type != "str":
            continue
        value = t.pattern.value
        like = [r.name for r in by_regex if re.fullmatch(r.pattern.to_regexp(), value)]
        if like:
            keywords[value] = t.name
            keyword_like.update(like)
    return keywords, keyword_like


def _nothing(values: list) -> list:
    return []  # a new list each time: a parent may extend it in place


def _first(values: list):
    return values[0]


def _children(kept: list[int], splice: list[int]) -> Callable[[list], list]:
    """What takes a rule's kept symbols out of its popped values, splicing in the lists
    of the `splice` ones (rules named `_x`)."""
    spliced = set(splice)

    def children(values: list) -> list:
        out: list | None = None
        for i in kept:
            if i in spliced:
                if out is None:
                    out = values[i]  # extended in place, as Lark does: `a: a b` stays linear
                else:
                    out.extend(values[i])
            elif out is None:
                out = [values[i]]
            else:
                out.append(values[i])
        return [] if out is None else out

    return children


def _splicer(kept: list[int], splice: list[int]) -> Callable[[list], list]:
    """The value of a rule spliced into its parent (`_x`): the list of its kept symbols."""
    if not kept:  # a separator: nothing to pass on
        return _nothing
    if kept == [0] and splice == [0]:  # (sep+ -> sep*): the same list
        return _first
    return _children(kept, splice)


def _reducer(callbacks: object, origin: str, size: int, kind: str, callback: str | None, kept: list[int],
             splice: list[int]) -> tuple[str, int, Callable[..., Any] | None, bool]:
    """(name, size, function, spread): `function(*symbols)` if spread, else `function(symbols)`."""
    if kind == "expand1" and size == 1 and kept == [0] and not splice:
        return origin, size, None, False
    if kind == "splice":
        return origin, size, _splicer(kept, splice), False
    if callback is None:
        raise ValueError(f"rule {origin} of kind {kind} names no callback")
    method = getattr(callbacks, callback)
    if not splice and kind == "call":
        if kept == list(range(size)):
            return origin, size, method, True  # the common case: no wrapper at all
        if len(kept) > 1:  # (assign: ref "=" expr) itemgetter picks them in C: no list built
            pick = operator.itemgetter(*kept)
            return origin, size, lambda values: method(*pick(values)), False
        return origin, size, lambda values: method(*[values[i] for i in kept]), False
    children = _children(kept, splice)
    if kind == "expand1":
        def expand1(values: list):
            kids = children(values)
            return kids[0] if len(kids) == 1 else method(*kids)
        return origin, size, expand1, False
    return origin, size, lambda values: method(*children(values)), False


def _relex(tables: Tables, state: int, kind: str, m: re.Match, text: str, newline: str) -> Any:
    """The parser in `state` cannot take the token `m` (of `kind`). If Lark's contextual
    lexer would have read a different token there, go on from that token; else the text
    is refused. (Only the state before any reduction: a token that made the parser reduce
    was one the state could take, which Lark's lexer reads the same way.)"""
    matches = _relexed(tables, state, kind, m, text, newline)
    if matches is None:
        raise Rejected(m.start(m.lastgroup or 0))
    return matches


def _relexed(tables: Tables, state: int, kind: str, m: re.Match, text: str, newline: str) -> Any:
    """The tokens from the one `state`'s own lexer reads where `m` is, if it reads another
    token there than the lexer of every terminal did (see `_relex`); else None."""
    if kind in tables.actions[state]:
        return None
    start = m.start(m.lastgroup or 0)
    other = tables.state_lexer(state, newline).match(text, start)
    if other is not None and (other.lastgroup, other.end()) != (m.lastgroup, m.end()):
        return itertools.chain([other], tables.lexer.finditer(text, other.end()))
    return None


class Refusal:
    """Where the tables refuse a text and every terminal they could have taken there;
    `keyword`: (offset, word) of a keyword, at the refused token or just before it, that
    read as a name would have let the parse go on (`for = 3`, `output = y`)."""

    offset: int
    expected: frozenset[str]
    keyword: tuple[int, str] | None

    __slots__ = ("offset", "expected", "keyword")

    def __init__(self, offset: int, expected: frozenset[str], keyword: tuple[int, str] | None):
        self.offset, self.expected, self.keyword = offset, expected, keyword


def expected(tables: Tables, text: str, newline: str, opening: frozenset[str],
             closing: frozenset[str]) -> Refusal | None:
    """Where the tables refuse `text`, and every terminal the parser could have taken there
    instead; None if the text parses.

    Lark's own list is what the state left after the refused token's reductions takes: an
    LALR state reduces on lookaheads it merged from other contexts, so by the time it
    finds the token wrong it has reduced past other choices (`(x + y` at the end of the
    file reduces `y` to an expression, where only ')', '+' and '-' remain, though '*', '^'
    and '[' could follow `y`). Here each terminal is tried on the stack as it was when the
    refused token came: it could follow exactly when its reductions end in a shift. Only
    for the error path: it runs the loop of `run` again, without values."""
    states = [tables.start]
    depth = 0
    last_keyword: tuple[int, str, list[int]] | None = None  # the previous token, if a keyword
    matches: Any = tables.lexer.finditer(text)
    while matches is not None:
        tokens, matches = matches, None
        for m in tokens:
            before = depth
            kind, depth = _kind(tables, m, states[-1], depth, newline, opening, closing)
            if kind is None:
                continue  # a line break inside brackets
            if kind != ERROR:
                taken = _take(tables, states, kind)
                if taken is True:
                    return None  # accepted
                if taken is not None and taken is not False:
                    word = m.group(m.lastgroup or 0)
                    last_keyword = (m.start(m.lastgroup or 0), word, list(states)) if kind == tables.keywords.get(word) else None
                    base, top = taken
                    del states[base:]
                    states.extend(top)
                    continue
                matches = _relexed(tables, states[-1], kind, m, text, newline)  # as `run`
                if matches is not None:
                    break
            return _refused(tables, states, m, kind, newline if before else None, last_keyword)
    return None


def _kind(tables: Tables, m: re.Match, state: int, depth: int, newline: str, opening: frozenset[str],
          closing: frozenset[str]) -> tuple[str | None, int]:
    """The terminal the parser in `state` takes token `m` as (None: a line break it skips,
    inside brackets), and the depth of brackets after it: as in `run`."""
    kind = group = m.lastgroup or ""
    if kind == newline:
        return (None if depth else kind), depth
    if kind in opening:
        return kind, depth + 1
    if kind in closing:
        return kind, depth - 1 if depth else depth
    if kind in tables.keyword_like:
        keyword = tables.keywords.get(m.group(group))
        if keyword is not None and keyword in tables.actions[state]:
            return keyword, depth
    elif kind == END:
        return "$END", depth
    return kind, depth


def _refused(tables: Tables, states: list[int], m: re.Match, kind: str, skipped: str | None,
             last_keyword: tuple[int, str, list[int]] | None) -> Refusal:
    """The refusal of token `m` (taken as `kind`) by the parser with `states`: every
    terminal it could have taken instead (but `skipped`, a line break inside brackets),
    and a keyword that read as a name would have let the parse go on."""
    group = m.lastgroup or 0
    terminals = {t for row in tables.actions for t in row} | {"$END"}
    terminals.discard(skipped or "")
    found = frozenset(t for t in terminals if _take(tables, states, t) is not None)
    name = next(iter(tables.keyword_like), None)  # the terminal a keyword would be as a name
    keyword = None
    if m.group(group) in tables.keywords and name in found:
        keyword = (m.start(group), m.group(group))
    elif last_keyword is not None and kind != ERROR and name:
        offset, word, stack = last_keyword
        taken = _take(tables, stack, name)
        if isinstance(taken, tuple):
            base, top = taken
            if _take(tables, stack[:base] + top, kind) is not None:
                keyword = (offset, word)
    return Refusal(m.start(group), found, keyword)


def _take(tables: Tables, states: list[int], kind: str) -> tuple[int, list[int]] | bool | None:
    """The parser with `states` given the terminal `kind`, without changing `states`: None
    if it refuses it; True if it accepts the text (`kind` is the end); else (n, top): the
    stack is then states[:n] + top (its reductions pop into states, then it shifts)."""
    actions, gotos, rules = tables.actions, tables.gotos, tables.rules
    base = len(states)
    top: list[int] = []
    while True:
        state = top[-1] if top else states[base - 1]
        action = actions[state].get(kind)
        if action is None:
            return True if state == tables.end and kind == "$END" else None
        if action >= 0:
            top.append(action)
            return base, top
        origin, size = rules[~action][0], rules[~action][1]
        from_top = min(size, len(top))
        del top[len(top) - from_top:]
        base -= size - from_top
        below = top[-1] if top else states[base - 1]
        top.append(gotos[below][origin])


def run(tables: Tables, reducers: list, text: str, newline: str, opening: frozenset[str], closing: frozenset[str],
        lookahead: list, shortcut: Shortcut | None = None) -> Any:
    """Parse `text`; returns the value of the start rule. Raises Rejected.

    A `newline` token inside brackets (an `opening` terminal not yet closed) is skipped,
    as the post-lexer of cgraph/parser.py does for Lark. `lookahead[0]` is kept set to
    the current token's match, for callbacks that want to know where they are.

    One long loop on purpose: it runs once per token and per reduction of every file
    (millions on a big one), and a function call per step would cost a measurable share
    of parsing; the error path (`expected`) is the same loop split into functions.

    With a `shortcut` (cgraph/frontend/shapes.py), a statement that starts with a name
    where its rule (`top`) can start and ends with a line break is read whole and
    replayed; any other statement, or one whose shape has no script, goes through the
    loop."""
    actions, gotos = tables.actions, tables.gotos
    keywords, keyword_like, kept = tables.keywords, tables.keyword_like, tables.kept
    end = tables.end
    # The terminals that need nothing but their token made (not a line break, bracket or
    # name that may be a keyword, nor the end or an error).
    plain = frozenset(name for name, _ in tables.data["terminals"]) - keyword_like - opening - closing - {newline}
    unit_chains: dict[tuple[int, int, str], int] = {}
    state = tables.start  # always states[-1]
    states = [state]
    values: list = []
    push_state, push_value = states.append, values.append
    depth = 0
    matches: Any = tables.lexer.finditer(text)
    starts = shortcut.starts(tables) if shortcut is not None else frozenset()
    while matches is not None:
        tokens, matches = matches, None
        for m in tokens:
            kind = group = m.lastgroup
            # Most tokens are names and operators: one set test each, then their value read
            # once (a name's decides whether it is a keyword and is the token's too). With
            # the in-place size-1 reductions below: parsing ~7% faster on 1e5-node files.
            if kind in keyword_like:
                value = m.group(group)
                keyword = keywords.get(value)
                if keyword is not None and keyword in actions[state]:
                    kind = keyword
                token = Token(value, *m.span(group)) if kind in kept else None
            elif kind in plain:
                token = Token(m.group(group), *m.span(group)) if kind in kept else None
            else:
                if kind == newline:
                    if depth:
                        continue
                elif kind in opening:
                    depth += 1
                elif kind in closing:
                    if depth:
                        depth -= 1
                elif kind == END:
                    kind = "$END"  # Lark's name for the end of the input
                elif kind == ERROR:
                    raise Rejected(m.start(kind))
                token = Token(m.group(group), *m.span(group)) if kind in kept else None
            lookahead[0] = m
            before = state
            while True:
                try:
                    action = actions[state][kind]
                except KeyError:
                    if state == end and kind == "$END":
                        return values[-1]  # the start rule is complete: accept
                    matches = _relex(tables, before, kind, m, text, newline)
                    break
                if action >= 0:  # shift
                    if state in starts and kind in keyword_like and not depth:
                        # A statement starts with this name (the reductions of the one before
                        # are done): read it whole, and replay its script if it has one.
                        assert shortcut is not None
                        found = shortcut.read(tables, state, m, text, newline)
                        if found is not None:
                            shape, texts, spans, after = found
                            in_a_row = shortcut.in_a_row and len(states) > 1
                            if in_a_row and shortcut.rejoined(tables, states[-2], state, newline):
                                shape, texts, spans, after = shortcut.in_a_row_from(state, text, found)
                            lookahead[0] = None  # (the statement's end is `after`, not a token)
                            push_value(shortcut.statement(shape, texts, spans, after))
                            state = gotos[state][shortcut.rule]
                            push_state(state)
                            # The loop goes on from the line break after the statement.
                            matches = tables.lexer.finditer(text, spans[-1][1])
                            break
                    push_state(action)
                    push_value(token)
                    state = action
                    break
                origin, size, reduce, spread = reducers[~action]
                if reduce is None:  # a unit rule (expr: product): only the state changes
                    # A chain of them (atom -> factor -> product -> expr after each operand)
                    # keeps the same state below, so where it ends is remembered per
                    # (below, top, terminal): one lookup instead of a loop turn per rule
                    # (measured: 2-3% of parsing a 1e5-node file).
                    below = states[-2]
                    unit_key = (below, state, kind)
                    final = unit_chains.get(unit_key)
                    if final is None:
                        final = unit_chains[unit_key] = _unit_chain(actions, gotos, reducers, below, state, kind)
                    state = states[-1] = final
                    continue
                if size == 1:  # (ref: NAME, top: stmt, _sep: _NL) in place: no popping and pushing
                    # (spread callbacks get the value; list ones a fresh one-item list, which
                    # a splice may still extend in place)
                    values[-1] = reduce(values[-1]) if spread else reduce(values[-1:])
                    state = states[-1] = gotos[states[-2]][origin]
                    continue
                if size:
                    popped = values[-size:]
                    del values[-size:]
                    del states[-size:]
                else:
                    popped = []
                push_value(reduce(*popped) if spread else reduce(popped))
                state = gotos[states[-1]][origin]
                push_state(state)
            if matches is not None:
                break  # lex again from the token the state could not take
    raise Rejected(len(text))  # (not reached: the lexer always ends with END)



def _unit_chain(actions: list[dict[str, int]], gotos: list[dict[str, int]], reducers: list, below: int, state: int,
                kind: str) -> int:
    """The state `run` reaches from `state` (above `below`) on `kind` by the unit rules
    (reduced without a callback) it reduces one after another: the first is certain."""
    while True:
        action = actions[state].get(kind)
        if action is None or action >= 0 or reducers[~action][2] is not None:
            return state
        state = gotos[below][reducers[~action][0]]
