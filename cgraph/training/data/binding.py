"""Binding a data file's columns to a graph's inputs: which field gives which input, what
the data leaves to defaults, and (for JSON Lines) what a later row's new keys bind."""

from __future__ import annotations

import json
from typing import Sequence


from ...engine import input_values
from ...errors import InputError, clip, did_you_mean
from ...ir.graph import Graph
from ...ops import INPUT, PARAM
from .base import DataError, Field, json_number
from .datafile import DataFile

class Binding:
    """Which fields of a data file give which inputs, and what the data leaves out.

    names      the inputs the data gives, as the graph names them
    fields     where each comes from in the file
    notes      columns that bind nothing
    defaulted  inputs with a declared default that the data could give but does not (and
               no option gives): every row uses the default
    near       defaulted input -> a column that nearly names it (a case or spelling slip)"""

    def __init__(self, names: list[str], fields: list[Field], notes: list[str],
                 defaulted: Sequence[str] = (), near: dict[str, str] | None = None):
        self.names = names
        self.fields = fields
        self.notes = notes
        self.defaulted = list(defaulted)
        self.near = near or {}


class _KeyRules:
    """What a key of a data file binds: for the header, and for the keys a later JSON
    Lines row brings that the first row did not have.

    Every row of a JSON Lines file gives the inputs its first row gives, no more and no
    fewer (each indexed input as `"x[2]": v` or in a list `"x": [...]`, the form may change
    from row to row); keys that bind nothing may come and go."""

    def __init__(self, graph: Graph, data: DataFile, given: Sequence[str], params_ok: bool):
        self.graph = graph
        self.data = data
        self.given = set(given)
        self.params_ok = params_ok
        self.leaves = graph.inputs
        self.known: set[str] = set(data.columns)  # keys any row may have without a second look
        self.source: dict[str, str] = {}  # bound input -> the key that gives it
        self.name_of: dict[Field, str] = {}
        self.list_form: dict[str, tuple[str, int, int]] = {}  # x[2] -> ("x", position, count)
        self.bases: set[str] = set()  # the x of each bound x[...]

    def _where(self, key: str, line: int | None) -> str:
        return f"column '{key}'" if line is None else f"'{key}' on line {line}"

    def targets(self, key: str, length: int | None, line: int | None = None,
                text: str | None = None) -> list[tuple[str, Field]] | str:
        """The inputs `key` binds, as (input, field); or a note saying why it binds nothing.
        Raises for a key that names a computed node, a param when training, or an input
        also given as an option."""
        what = f"--data {self.data.label}: '{key}'"
        try:
            base = input_values.canonical(key)
        except InputError:
            return f"column '{clip(key)}' is not an input name; ignored"
        targets: list[tuple[str, tuple[str, int | None]]]
        if length is None:
            targets = [(base, (key, None))]
        else:
            try:
                expanded = input_values.expand(self.graph, base, [0.0] * length, what, self.leaves)
            except InputError as exc:
                if input_values.indexed_names(self.graph, base, self.leaves) or base in self.leaves:
                    raise self._error(exc.message, line, text, key) from None
                return f"'{clip(key)}' is not an input of {self.graph.source.filename}; ignored"
            targets = [(name, (key, k if length else None)) for k, name in enumerate(expanded)]
        for name, _ in targets:
            self._check(key, name, line, text)
        if not all(name in self.leaves for name, _ in targets):
            name = targets[0][0]
            indexed = input_values.indexed_names(self.graph, name, self.leaves)
            hint = (f" (the file's inputs are {', '.join(indexed[:4])}{', ...' if len(indexed) > 4 else ''})"
                    if indexed else "")
            return (f"column '{clip(key)}' is not an input of {self.graph.source.filename}; ignored"
                    + (hint or did_you_mean(name, self.leaves)))
        return targets

    def _check(self, key: str, name: str, line: int | None, text: str | None) -> None:
        graph = self.graph
        if name in self.leaves:
            i = self.leaves[name]
            if graph.ops[i] == PARAM and not self.params_ok:
                raise self._error(
                    f"{self._where(key, line)} is the param '{name}'; params are learned, not read from data",
                    line, text, key, "rename or drop the column; --init FILE.json sets params' starting values",
                    graph.location(i) if line is None else None,
                )
            if name in self.given:
                first = "" if line is None else f" ('{clip(key)}', first on line {line})"
                raise self._error(
                    f"'{name}' is given both as a column of {self.data.label}{first} and on the command line",
                    line, text, key, "give each input one value: drop the option or the column",
                )
        elif name in graph.names:
            i = graph.names[name]
            raise self._error(
                f"{self._where(key, line)} " + (f"names '{name}', which " if key != name else "")
                + f"is computed on line {graph.line_of(i)}; only inputs can be read from data",
                line, text, key, None, graph.location(i) if line is None else None,
            )

    def _error(self, message: str, line: int | None, text: str | None, key: str, hint: str | None = None,
               location=None) -> InputError:
        if line is not None and text is not None:
            found = text.find(json.dumps(key))
            width = len(json.dumps(key)) if found >= 0 else 1
            return DataError(message, self.data.label, line, text, max(found + 1, 1), width, hint=hint)
        if location is not None:
            return InputError(f"--data {self.data.label}: {message}", location, hint)
        return InputError(message, hint=hint)

    def bound(self, names: list[str], fields: list[Field]) -> None:
        """Remember what the first row binds, to check later rows against it."""
        families: dict[str, dict[str, int]] = {}  # base -> {x[k]: position}, each made once
        for name, field in zip(names, fields):
            self.source[name] = field[0]
            self.name_of[field] = name
            if "[" in name:
                base = name[: name.index("[")]
                if base not in families:
                    family = input_values.indexed_names(self.graph, base, self.leaves)
                    families[base] = {n: k for k, n in enumerate(family)}
                self.list_form[name] = (base, families[base][name], len(families[base]))
        self.bases = set(families)
        # A first-row key naming an input or a base without binding it (a base whose value
        # is not a list): rows with it are read one by one, where it is judged per row.
        sources = set(self.source.values())
        for key in list(self.known):
            if key not in sources and (_canonical(key) in self.bases or _canonical(key) in self.leaves):
                self.known.discard(key)

    # --- later rows of a JSON Lines file ------------------------------------------------

    def _new_key(self, key: str, raw, line: int, text: str) -> tuple[str, str] | None:
        """A key the first row lacks: None if it is fine in this row, else (message, key).
        A key that binds nothing is remembered as harmless."""
        length = len(raw) if type(raw) is list else None
        try:
            base = input_values.canonical(key)
        except InputError:
            self.known.add(key)
            return None
        # An input's own name, or an indexed input's base with a list (its list form).
        if base in self.leaves:
            names = [base]
        elif length is not None:
            names = input_values.indexed_names(self.graph, base, self.leaves)
        else:
            names = []
        if not names:
            self.targets(key, length, line, text)  # raises for a computed node's name
            if base not in self.bases:  # a base's key stays unknown: with a list it is the list form
                self.known.add(key)
            return None
        for name in names:
            self._check(key, name, line, text)
        missing = [n for n in names if n not in self.source]
        if missing:
            first = self.data.header_line
            gives = f"'{clip(key)}'" if missing[0] == base else f"'{clip(key)}' gives '{missing[0]}', which"
            return (f"{gives} is not in the first row (line {first}); every row must give the inputs "
                    "the first row gives", key)
        return None  # the other form of inputs the first row gives

    def row(self, obj: dict, fields: Sequence[Field], line: int,
            text: str) -> tuple[list[float] | None, tuple[str, str | None] | None]:
        """One row's values: (values, None), or (None, (message, key)) for a bad row."""
        for key in obj:
            if key not in self.known:
                problem = self._new_key(key, obj[key], line, text)
                if problem is not None:
                    return None, problem
        by_name: dict[str, str] = {}
        for key in obj:
            try:
                name = input_values.canonical(key)
            except InputError:
                continue
            if name in by_name and (name in self.source or name in self.bases):
                return None, (f"'{name}' is given twice: as '{by_name[name]}' and as '{clip(key)}'", key)
            by_name.setdefault(name, key)
        row: list[float] = []
        for field in fields:
            bound = self.name_of.get(field)
            if bound is None:  # a field the binding does not know: read as given
                values, bare_problem = self.data._jsonl_row(obj, [field])
                if values is None:
                    return None, bare_problem
                row.extend(values)
                continue
            value, problem = self._value(obj, by_name, bound, field)
            if problem is not None:
                return None, problem
            row.append(value)
        return row, None

    def _value(self, obj: dict, by_name: dict[str, str], name: str, field: Field):
        """Input `name` in one row: by its own key, or from its list; never both."""
        own = by_name.get(name)
        listed = None
        base_key = None
        if name in self.list_form:
            base, position, count = self.list_form[name]
            base_key = by_name.get(base)
            if base_key is not None and type(obj[base_key]) is list:  # anything else is not the list form
                listed = base_key
        if own is not None and listed is not None:
            return None, (f"'{name}' is given twice: as '{own}' and in the list '{listed}'", own)
        if own is not None:
            raw = obj[own]
            if type(raw) is list and len(raw) == 1:
                raw = raw[0]
            value = json_number(raw)
            if value is None:
                return None, (f"'{name}' must be a number, not {clip(json.dumps(raw))}", own)
            return value, None
        if listed is not None:
            raw = obj[listed]
            if len(raw) != count:
                return None, (f"'{listed}' must be a list of {count} numbers, not {len(raw)} values", listed)
            value = json_number(raw[position])
            if value is None:
                return None, (f"'{name}' (in the list '{listed}') must be a number, not {clip(json.dumps(raw[position]))}",
                              listed)
            return value, None
        if base_key is not None:
            return None, (f"missing '{name}' ('{base_key}' is not a list of {count} numbers: "
                          f"{clip(json.dumps(obj[base_key]))})", base_key)
        return None, (f"missing '{field[0]}'", None)


def bind_columns(graph: Graph, data: DataFile, *, given: Sequence[str] = (), params_ok: bool = True) -> Binding:
    """Match a data file's columns to the graph's inputs.

    A column naming an input binds it; one naming a computed node, or an input also given
    on the command line (`given`), is an error; a column naming a param is an error when
    `params_ok` is false (training: params are learned, not read). Other columns are
    ignored with a note (an id or a label column is fine). A file none of whose columns
    binds an input is an error (with what the columns nearly name). From then on `data`
    checks each JSON Lines row against the first: a later key that gives an input is the
    other form of one the first row gives, or an error naming its line."""
    rules = _KeyRules(graph, data, given, params_ok)
    names: list[str] = []
    fields: list[Field] = []
    notes: list[str] = []
    owner: dict[str, str] = {}
    first_text = getattr(data, "_first_text", None)
    for key, length in data.columns.items():
        targets = rules.targets(key, length)
        if isinstance(targets, str):
            notes.append(targets)
            continue
        for name, field in targets:
            if name in owner:
                where = (f"line {data.header_line} of {data.label}" if data.format == "jsonl"
                         else f"the header of {data.label}")
                raise DataError(f"'{name}' is given twice in {where}: by '{owner[name]}' and by '{key}'",
                                data.label, data.header_line if first_text else None, first_text)
            owner[name] = key
            names.append(name)
            fields.append(field)
    rules.bound(names, fields)
    data.rules = rules
    if not names:
        raise _binds_nothing(graph, data, notes)
    defaulted = [n for n, i in graph.inputs.items()
                 if graph.ops[i] == INPUT and n not in owner and n not in rules.given and graph.values[i] is not None]
    near = _near_columns(defaulted[:8], data.columns, set(owner.values()))  # messages name the first few
    return Binding(names, fields, notes, defaulted, near)


def _canonical(key: str) -> str | None:
    try:
        return input_values.canonical(key)
    except InputError:
        return None


def _near_columns(inputs: Sequence[str], columns, used, cutoff: float = 0.75) -> dict[str, str]:
    """input -> an unused column naming it but for case or a slip of spelling."""
    import difflib

    free = [c for c in columns if c not in used]
    lower = {c.strip().lower().replace(" ", ""): c for c in free}
    near = {}
    for name in inputs:
        base = name.split("[", 1)[0]
        match = lower.get(name.lower()) or lower.get(base.lower())
        if match is None:
            close = difflib.get_close_matches(name, free, n=1, cutoff=cutoff)
            match = close[0] if close else None
        if match is not None:
            near[name] = match
    return near


def _binds_nothing(graph: Graph, data: DataFile, notes: list[str]) -> DataError:
    """The error for a file that gives no input, with the likeliest reason as its hint."""
    inputs = [n for n, i in graph.inputs.items() if graph.ops[i] == INPUT] or list(graph.inputs)
    shown = ", ".join(inputs[:6]) + (", ..." if len(inputs) > 6 else "")
    columns = list(data.columns)
    listed = ", ".join(f"'{clip(c, 30)}'" for c in columns[:6]) + (", ..." if len(columns) > 6 else "") or "none"
    message = f"no column of {data.label} is an input of {graph.source.filename} (columns: {listed}; inputs: {shown or 'none'})"
    hint = _separator_hint(graph, data) or _case_hint(inputs, columns)
    if hint is None:
        near = _near_columns(inputs[:20], columns[:200], (), cutoff=0.6)
        if near:
            hint = "did you mean " + ", ".join(f"'{n}' for column '{clip(c, 30)}'" for n, c in list(near.items())[:4]) + "?"
    return DataError(message, data.label, hint=hint or "name the columns after the inputs: x, x[1], w[1,2]")


def _separator_hint(graph: Graph, data: DataFile) -> str | None:
    """'the header looks ;-separated' when splitting it at another separator names inputs."""
    if data.format != "csv":
        return None
    header = data.delimiter.join(data._header)
    for separator, spelled in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','"), (" ", "' '")):
        if separator == data.delimiter or separator not in header:
            continue
        parts = [p.strip().strip('"') for p in header.split(separator)]
        if len(parts) > 1 and any(_names_input(graph, p) for p in parts):
            shown = "tab" if separator == "\t" else separator
            return f"the header looks {shown}-separated: use --delimiter {spelled}"
    return None


def _names_input(graph: Graph, key: str) -> bool:
    try:
        name = input_values.canonical(key)
    except InputError:
        return False
    return name in graph.inputs or bool(input_values.indexed_names(graph, name))


def _case_hint(inputs: Sequence[str], columns: Sequence[str]) -> str | None:
    lower = {n.lower(): n for n in inputs}
    bases = {n.split("[", 1)[0].lower(): n.split("[", 1)[0] for n in inputs}
    pairs = []
    for column in columns:
        try:
            key = input_values.canonical(column).lower()
        except InputError:
            continue
        match = lower.get(key) or bases.get(key)
        if match is not None:
            pairs.append(f"'{match}' for column '{clip(column, 30)}'")
    if not pairs:
        return None
    return f"did you mean {', '.join(pairs[:4])}? (names are case-sensitive)"
