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

Why one module of ~470 lines: the tables' format (FORMAT, cached on disk), the loop that
runs them and `expected`, which runs the same loop on the error path, must change
together; split, a change to one would silently break the cache or the other loop.
"""

from __future__ import annotations

import itertools
import operator
import re
from typing import Any, Callable

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

    With a `shortcut`, a statement that starts with a name where its rule (`top`) can
    start and ends with a line break is read whole and replayed (see `Script`); any
    other statement, or one whose shape has no script, goes through the loop."""
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
    # The lexer's iterator without any tokens put back in front of it (put back only
    # before it: never nested, however many statements are replayed).
    base = matches
    starts = shortcut.starts(tables) if shortcut is not None else frozenset()
    through = 0  # tokens put back before this offset go through the loop, not the shortcut
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
                    matches = base = _relex(tables, before, kind, m, text, newline)
                    break
                if action >= 0:  # shift
                    if state in starts and kind in keyword_like and not depth and m.start() >= through:
                        # A statement starts with this name (the reductions of the one before
                        # are done): read it whole, and replay its script if it has one.
                        assert shortcut is not None
                        found = _statement(tables, shortcut, state, m, tokens, text, newline)
                        if isinstance(found, list):  # its tokens put back, to go through the loop
                            through = found[-1].end()
                            matches = itertools.chain(found, base)
                            break
                        shape, texts, spans, after = found
                        if shortcut.in_a_row and len(states) > 1 and _rejoins(tables, shortcut, states[-2], state, newline):
                            shape, texts, spans, after = _in_a_row(shortcut, state, text, found)
                        lookahead[0] = None  # (the statement's end is `after`, not a token)
                        push_value(shortcut.statement(shape, texts, spans, after))
                        state = gotos[state][shortcut.rule]
                        push_state(state)
                        # The loop goes on from the line break after the statement.
                        matches = base = tables.lexer.finditer(text, spans[-1][1])
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


def _first_chars(regex: str) -> frozenset[str] | None:
    """The characters a match of `regex` can start with; None if that is not simply known
    (any character, a category, or a pattern that can match nothing at all)."""
    from re import _parser

    result = _first_set(_parser.parse(regex).data)
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
        return _first_set(av[3].data)
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
        ignored = "|".join(regex for name, regex in data["terminals"] if name in data["ignore"])
        self.skip = f"(?:{ignored})*+" if ignored else ""
        apart = set(data["ignore"]) | set(data["keywords"].values())
        self.order = [(name, regex) for name, regex in data["terminals"] if name not in apart]
        self.firsts = {name: _first_chars(regex) for name, regex in self.order}
        self.pieces: dict[str, tuple[str, int]] = {}

    def token(self, kind: str) -> tuple[str, int]:
        """The pattern of terminal `kind` where the lexer reads it, and its own groups."""
        if kind not in self.pieces:
            at = [name for name, _ in self.order].index(kind)
            firsts = self.firsts
            earlier = "|".join(f"(?:{regex})" for name, regex in self.order[:at] if not _disjoint(firsts[name], firsts[kind]))
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

    __slots__ = ("script", "kinds", "pattern", "groups", "texts", "spans", "names", "kept", "seen")

    def __init__(self, tables: Tables, kinds: tuple[str, ...], script: Script):
        self.script, self.kinds = script, kinds
        self.pattern = ""
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
            parts.append(f"{lexicon.skip}({piece})")
            self.groups.append(count + 1)
            count += 1 + groups
        parts.append(f"{lexicon.skip}{lexicon.token(newline)[0]}")  # the line break is read too: see `_in_a_row`
        self.pattern = "".join(parts)

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
    of its own (empty), whose index (`lastindex`) says which matched."""

    __slots__ = ("shapes", "regex", "by_marker")

    def __init__(self) -> None:
        self.shapes: list[Shape] = []
        self.regex: re.Pattern | None = None
        self.by_marker: dict[int, Shape] = {}

    def add(self, shape: Shape) -> None:
        self.shapes.append(shape)
        parts, count = [], 0
        self.by_marker = {}
        for known in self.shapes:
            known.place(count)
            count += re.compile(known.pattern).groups + 1
            self.by_marker[count] = known
            parts.append(f"(?:{known.pattern}())")
        self.regex = re.compile("|".join(parts))


class Shortcut:
    """What `run` needs to read whole statements: the rule a statement makes (`rule`),
    the shapes found so far (per state, at most `shapes`), and `statement`, which gives a
    statement's value from its shape, its tokens' texts and their spans, and the offset
    after its line break. With `in_a_row` (only when the caller keeps no statement's
    value: see `_in_a_row`), consecutive statements are read without the loop.

    A statement of a shape not seen yet is read token by token (at most `limit`) and its
    script worked out; a file whose statements keep missing (each of its own shape) stops
    trying after `patience` misses more than hits."""

    def __init__(self, rule: str, statement: Callable[[Shape, tuple, tuple, int], Any], in_a_row: bool = False,
                 limit: int = 48, shapes: int = 32, patience: int = 64):
        self.rule, self.statement, self.limit = rule, statement, limit
        self.in_a_row = in_a_row
        self.rejoins: dict[tuple[int, int], bool] = {}
        self.scripts: dict[tuple[int, tuple[str, ...]], Shape | None] = {}
        self.shapes: dict[int, _Shapes] = {}  # per state
        self.most, self.patience, self.balance = shapes, patience, 0
        self.keywords: frozenset[str] = frozenset()
        self.lexicon: _Lexicon | None = None

    def starts(self, tables: Tables) -> frozenset[int]:
        """The states where the statement's rule can start (those that go to it)."""
        self.keywords = frozenset(tables.keywords)
        return frozenset(state for state, row in enumerate(tables.gotos) if self.rule in row)


def _statement(tables: Tables, shortcut: Shortcut, state: int, first: re.Match, tokens: Any, text: str,
               newline: str) -> tuple[Shape, tuple, tuple, int] | list[re.Match]:
    """The statement starting with the name `first`: (its shape, its tokens' texts and
    spans, where the line break after it is), or the matches read from `tokens` to put
    back (no shape: it goes through the loop)."""
    known = shortcut.shapes.get(state)
    if known is None:
        known = shortcut.shapes[state] = _Shapes()
    if known.regex is not None:
        fm = known.regex.match(text, first.start())
        if fm is not None:
            shape = known.by_marker[fm.lastindex or 0]
            texts = shape.texts(fm.groups())
            if not shortcut.keywords.isdisjoint([texts[i] for i in shape.names]):
                return _learn(tables, shortcut, state, first, tokens, newline, known)  # (it gives up)
            shortcut.balance += 1
            return shape, texts, shape.spans(fm.regs), fm.end()
    return _learn(tables, shortcut, state, first, tokens, newline, known)


def _learn(tables: Tables, shortcut: Shortcut, state: int, first: re.Match, tokens: Any, newline: str,
           known: _Shapes) -> tuple[Shape, tuple, tuple, int] | list[re.Match]:
    """`_statement` for a statement no known shape matched: read it token by token and
    work out its script, if it is a one-line statement of names that are not keywords."""
    shortcut.balance -= 1
    if shortcut.balance < -shortcut.patience:
        return [first]
    read = _read_line(tables, shortcut, first, tokens, newline)
    if read[-1].lastgroup != newline:
        return read
    kinds = tuple(m.lastgroup or "" for m in read[:-1])
    shape = _shape(tables, shortcut, state, kinds, newline)
    if shape is None:
        return read
    if shape.seen == 2 and len(known.shapes) < shortcut.most:  # (a shape seen once needs no regex)
        if shortcut.lexicon is None:
            shortcut.lexicon = _Lexicon(tables)
        shape.make_pattern(shortcut.lexicon, newline)
        known.add(shape)
    texts = tuple(m.group(k) for m, k in zip(read, kinds))
    spans = tuple(m.span(k) for m, k in zip(read, kinds))
    return shape, texts, spans, read[-1].end()


def _read_line(tables: Tables, shortcut: Shortcut, first: re.Match, tokens: Any, newline: str) -> list[re.Match]:
    """The matches from `first` to the line break after it; they end elsewhere if a
    keyword, an error, the end or more than `limit` tokens come first."""
    read = [first]
    keywords, keyword_like = tables.keywords, tables.keyword_like
    if first.group(first.lastgroup or 0) in keywords:
        return read
    for m in tokens:
        read.append(m)
        kind = m.lastgroup or ""
        if kind == newline or kind == END or kind == ERROR or len(read) > shortcut.limit:
            break
        if kind in keyword_like and m.group(kind) in keywords:
            break
    return read


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


def _in_a_row(shortcut: Shortcut, state: int, text: str, found: tuple[Shape, tuple, tuple, int]) -> tuple[Shape, tuple, tuple, int]:
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


def _unit_chain(actions: list[dict[str, int]], gotos: list[dict[str, int]], reducers: list, below: int, state: int,
                kind: str) -> int:
    """The state `run` reaches from `state` (above `below`) on `kind` by the unit rules
    (reduced without a callback) it reduces one after another: the first is certain."""
    while True:
        action = actions[state].get(kind)
        if action is None or action >= 0 or reducers[~action][2] is not None:
            return state
        state = gotos[below][reducers[~action][0]]


# --- whole statements replayed -------------------------------------------------------
#
# Most of a big file is short statements of a few shapes (`s3 = s2 * w`, `d = tanh(a + b)`).
# For a given state and sequence of terminals the LALR automaton does the same shifts and
# reductions every time, so `run` works them out once per (state, terminals), from the
# tables, as a `Script`: the callbacks to call and which values each receives. Replaying
# it skips, per token, the classification, the table lookups and the stack's pushes and
# pops, most of the loop's time on one-operation statements. A shape seen twice gets a
# regex (`Shape`), so a statement is then read by one C-level match rather than a Python
# loop turn per token, and statements in a row skip the loop altogether (`_in_a_row`).
# Measured (CPU time, bench_core's 1e5-node files): parse+build of the one-operation
# chain 17.0 -> 11.1 µs/node with statements replayed into the same syntax trees, and
# 6.1 with frontend/direct.py building them; the random DAG 11.7 -> 8.6 -> 4.4.


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
