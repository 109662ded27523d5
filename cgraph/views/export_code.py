"""A graph (and its gradient graph) written as a Python module: `cgraph export`.

Four targets, one writer: `python` (nothing but `math`), `numpy` (every input may be an
array; rows broadcast), `torch` (an nn.Module whose params are nn.Parameters) and `jax`
(a pure function of (params, inputs)). The statements come from the walk the formula
writers share (fold.py): one statement per named node, named after it, with its source
line (and loop iteration) in a comment; unnamed nodes used once are folded into their
consumer; deep expressions are split into temporaries so any graph compiles.

How each op is written in each target is on its op-table entry (`Op.code`), with the
helper functions a target needs (`CODE_HELPERS`), so this module names no op; the
helpers give cgraph's results (IEEE inf and nan, never an exception). python and numpy's
`value_and_grad` is cgraph's own gradient graph written as code (so its conventions at
kinks are cgraph's); torch and jax differentiate the forward code themselves.

Safety: text from the program reaches the module only as identifiers made of
[A-Za-z0-9_], string literals written by repr(), or comments cleaned to one line; no
docstrings. Renderers return text: only the CLI writes it.

Why one module: the four targets differ in a few lines each (how a leaf is bound, what
wraps the functions), and share everything else (names, statements, comments, layout);
a module per target would repeat the writer.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import InputError
from ..ir.graph import Graph
from ..ops import CODE_HELPERS, CONST, OPS, PARAM, Op
from .numbers import code_number
from .program import comment
from .fold import Fold, reach, use_counts
from .program import ATOM

TARGETS = ("python", "numpy", "torch", "jax")

# The target's own precedence of the operators an op's code may be (Python's): level of
# the result, level the left operand needs, level the right one needs.
_SUM, _PRODUCT, _UNARY = 1, 2, 3
_INFIX = {"+": (_SUM, _SUM, _PRODUCT), "-": (_SUM, _SUM, _PRODUCT),
          "*": (_PRODUCT, _PRODUCT, _UNARY), "/": (_PRODUCT, _PRODUCT, _UNARY)}
_PREFIX = frozenset({"-"})

_PLAIN_NUMBER = re.compile(r"(?:[-+*/() .0-9e]|math\.inf|math\.nan)+")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # no leading _: the helpers' names start with one
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(#\)")
_HELPER_CALL = re.compile(r"\b(_[A-Za-z0-9_]+)\(")


@dataclass(frozen=True)
class _Target:
    module: str  # where inf and nan come from: math.inf
    imports: tuple[str, ...]
    setup: tuple[str, ...] = ()  # lines after the imports
    default_name: str = "forward"
    globals: tuple[str, ...] = ()  # names the module defines besides helpers and functions


_TARGETS = {
    "python": _Target("math", ("import math",)),
    "numpy": _Target("np", ("import numpy as np",),
                     ("def _rows(value, rows):",
                      "    # An array of the inputs' shape, even for a result that is a constant.",
                      "    return np.broadcast_to(value, rows).copy()"),
                     globals=("_rows", "rows")),
    "torch": _Target("math", ("import math", "", "import torch", "from torch import nn"),
                     ("DTYPE = torch.float64  # cgraph computes in float64", "", "",
                      "def _t(x):",
                      "    return torch.as_tensor(x, dtype=DTYPE)"),
                     default_name="Model", globals=("DTYPE", "_t")),
    "jax": _Target("jnp", ("import jax", "import jax.numpy as jnp"),
                   ("# float64, as cgraph computes (JAX's default is float32): this sets it for the process.",
                    'jax.config.update("jax_enable_x64", True)'),
                   default_name="f"),
}
# Names no program identifier may take: what the module's code reads.
_RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {
    "math", "np", "torch", "nn", "jax", "jnp", "rows", "INPUTS", "PARAMS", "inputs", "params", "self",
    "forward", "value_and_grad", "outputs", "DTYPE", "super"}


@dataclass(frozen=True)
class Gradient:
    """cgraph's gradient graph of the first output (`cgraph.grad`), its notes (gradient
    name -> what it is), and the wrt names in the order of its outputs."""

    graph: Graph
    notes: dict[str, str]
    wrt: tuple[str, ...]


def function_name_error(name: str) -> str | None:
    """Why `name` cannot be the exported function's (or class's) name, or None."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or keyword.iskeyword(name):
        return f"--name {name!r}: not a Python identifier (letters, digits and _, starting with a letter)"
    if name in _RESERVED - {"forward"}:
        return f"--name {name!r}: the exported module uses that name itself"
    return None


def export_code(graph: Graph, target: str, *, gradient: Gradient | None = None, name: str | None = None,
                header: Sequence[str] = ()) -> str:
    """The module's text. `gradient`: for python and numpy, writes `value_and_grad`;
    `name`: the function's (torch: the class's) name; `header`: comment lines on top."""
    if target not in _TARGETS:
        raise InputError(f"unknown export target {target!r}: one of {', '.join(TARGETS)}")
    _check_spellings(graph, gradient, target)
    writer = _Module(graph, target, _TARGETS[target], name or _TARGETS[target].default_name)
    return writer.write(gradient, header)


def _check_spellings(graph: Graph, gradient: Gradient | None, target: str) -> None:
    """Every op of the graphs has code in `target` (a new op without it fails clearly)."""
    for g in (graph, gradient.graph if gradient else None):
        if g is None:
            continue
        for op_name in sorted(set(g.ops) & set(OPS)):
            if target not in OPS[op_name].code:
                raise InputError(f"the op '{op_name}' has no spelling for --to {target} (Op.code in cgraph/ops.py)")


class _Names:
    """Python identifiers for cgraph's names: valid, not a keyword or anything the module
    reads, never two alike; the same name gets the same identifier in every function."""

    def __init__(self, reserved: set[str]):
        self.taken = set(reserved)
        self.by_name: dict[str, str] = {}
        self.temps = 0

    def of(self, name: str) -> str:
        ident = self.by_name.get(name)
        if ident is None:
            ident = self.by_name[name] = self.fresh(name)
        return ident

    def fresh(self, wanted: str) -> str:
        if wanted not in self.taken and _IDENTIFIER.fullmatch(wanted) and not keyword.iskeyword(wanted):
            self.taken.add(wanted)  # the common case: already a Python identifier of its own
            return wanted
        base = re.sub(r"[^A-Za-z0-9_]+", "_", wanted).strip("_") or "t"
        if base[0].isdigit():
            base = "n" + base
        if keyword.iskeyword(base) or keyword.issoftkeyword(base):
            base += "_"
        ident, k = base, 1
        while ident in self.taken:
            k += 1
            ident = f"{base}_{k}"
        self.taken.add(ident)
        return ident

    def temp(self) -> str:
        while True:
            self.temps += 1
            ident = f"t{self.temps}"
            if ident not in self.taken:
                self.taken.add(ident)
                return ident


@dataclass
class _Spelling:
    """How one target writes an op (fold.WriteOp) and a number."""

    target: str
    module: str
    helpers: set[str] = field(default_factory=set)  # the helpers the code calls, collected as it is written

    def op(self, op: Op, operands: list[tuple[str, int]]) -> tuple[str, int]:
        code = op.code[self.target]
        if code in _INFIX and len(operands) == 2:
            level, left, right = _INFIX[code]
            (a, a_level), (b, b_level) = operands
            return f"{_wrap(a, a_level, left)} {code} {_wrap(b, b_level, right)}", level
        if code in _PREFIX and len(operands) == 1:
            (a, a_level), = operands
            inner = f"({a})" if a_level < _UNARY or a.startswith("-") else a
            return f"{code}{inner}", _UNARY
        if not _CALL.fullmatch(code):
            raise InputError(f"the op '{op.name}' has no usable spelling for --to {self.target}: {code!r}")
        self.helpers.update(_HELPER_CALL.findall(code))
        return code.replace("#", ", ".join(self.value(text) for text, _ in operands)), ATOM

    def value(self, text: str) -> str:
        """`text` as a value of the target's own kind: torch's functions take tensors only,
        so a plain number (or arithmetic of numbers only) becomes one. (An identifier that
        looks like a number, `e`, is wrapped too: harmless, _t of a tensor is that tensor.)"""
        return f"_t({text})" if self.target == "torch" and _PLAIN_NUMBER.fullmatch(text) else text

    def constant(self, value: float) -> tuple[str, int]:
        text = code_number(value, self.module)
        return text, (_UNARY if text.startswith("-") else ATOM)


def _wrapped(head: str, items: list[str], tail: str, indent: str, width: int = 100) -> list[str]:
    """`head`, the items comma-separated, `tail`: one line if it is short, else an item a line."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= width or not items:
        return [line]
    return [f"{indent}{head}"] + [f"{indent}    {item}," for item in items] + [f"{indent}{tail}"]


def _value(graph: Graph, node: int) -> float:
    value = graph.values[node]
    assert value is not None, "a constant has a value"
    return value


def _wrap(text: str, level: int, needed: int) -> str:
    return text if level >= needed else f"({text})"


class _Module:
    def __init__(self, graph: Graph, target: str, spec: _Target, name: str):
        self.graph, self.target, self.spec, self.name = graph, target, spec, name
        self.spelling = _Spelling(target, spec.module)
        helpers = set(CODE_HELPERS.get(target, {}))
        self.names = _Names(set(_RESERVED) | helpers | set(spec.globals) | {name})

    # --- the module ---------------------------------------------------------------------

    def write(self, gradient: Gradient | None, header: Sequence[str]) -> str:
        body = self._body(gradient)
        helpers = self._helpers()
        declarations = self._declarations()
        uses_math = any("math." in line for line in (*body, *helpers, *declarations))
        imports = [line for line in self.spec.imports if uses_math or line != "import math"]
        while imports and not imports[0]:
            imports.pop(0)
        sections = [imports, list(self.spec.setup), declarations, *(h.splitlines() for h in helpers), body]
        text = "\n\n\n".join("\n".join(section) for section in sections if section) + "\n"
        top = "".join(f"# {comment(line)}".rstrip() + "\n" for line in header)
        return f"{top}\n{text}" if top else text

    def _body(self, gradient: Gradient | None) -> list[str]:
        """The functions (torch: the class)."""
        g, t = self.graph, self.target
        body: list[str] = []
        several = len(g.outputs) > 1
        if t == "torch":
            body += self._torch_class(several)
        elif t == "jax":
            body += self._function(f"def {self.name}(params, inputs):", g, [g.output], ["params", "inputs"], "    ")
            if several:
                body += ["", ""] + self._function("def outputs(params, inputs):", g, list(g.outputs),
                                                  ["params", "inputs"], "    ", as_dict=True)
        else:
            value = "float" if t == "python" else "np.ndarray"
            body += self._function(f"def {self.name}(inputs: dict[str, float]) -> {value}:", g, [g.output],
                                   ["inputs"], "    ")
            if several:
                body += ["", ""] + self._function(f"def outputs(inputs: dict[str, float]) -> dict[str, {value}]:",
                                                  g, list(g.outputs), ["inputs"], "    ", as_dict=True)
            if gradient is not None:
                body += ["", ""] + self._value_and_grad(gradient, value)
        return body

    def _declarations(self) -> list[str]:
        g = self.graph
        inputs = [leaf for leaf in g.leaves if g.ops[leaf] != PARAM]
        params = [leaf for leaf in g.leaves if g.ops[leaf] == PARAM]
        lines = ["# Each input's default (None: none, the caller gives it), and each param's initial value."]
        for title, leaves in (("INPUTS", inputs), ("PARAMS", params)):
            entries = [f"    {self._key(leaf)}: {self._default(leaf)}," for leaf in leaves]
            lines += [f"{title} = {{"] + entries + ["}"] if entries else [f"{title}: dict = {{}}"]
        return lines

    def _key(self, leaf: int) -> str:
        return repr(self.graph.name_of(leaf))

    def _default(self, leaf: int) -> str:
        value = self.graph.values[leaf]
        return "None" if value is None else code_number(value, self.spec.module)

    def _helpers(self) -> list[str]:
        """The helpers the code calls, and those they call, in the table's order."""
        table = CODE_HELPERS.get(self.target, {})
        needed = set(self.spelling.helpers) & set(table)
        pending = list(needed)
        while pending:
            for called in _HELPER_CALL.findall(table[pending.pop()]):
                if called in table and called not in needed:
                    needed.add(called)
                    pending.append(called)
        return [source for helper, source in table.items() if helper in needed]

    # --- functions ----------------------------------------------------------------------

    def _function(self, signature: str, graph: Graph, roots: list[int], sources: list[str], indent: str,
                  as_dict: bool = False, notes: dict[str, str] | None = None) -> list[str]:
        """A function computing `roots` of `graph`: the leaves bound from `sources`, one
        statement per named node; returns the first root, or all by output name."""
        lines = [signature]
        inner = indent
        if self.target == "numpy":
            lines.append(f"{indent}with np.errstate(all=\"ignore\"):  # inf and nan are results, not warnings")
            inner = indent + "    "
        refs = self._bindings(graph, sources, inner, lines)
        lines += self._rows(graph, refs, inner)
        self._statements(graph, roots, refs, inner, lines, notes)
        if as_dict:
            items = [f"{repr(name)}: {self._result(refs[node])}" for node, name in zip(graph.outputs, graph.output_names)]
            lines += _wrapped("return {", items, "}", inner)
        else:
            lines.append(f"{inner}return {self._result(refs[roots[0]])}")
        return lines

    def _result(self, ref: str) -> str:
        return f"_rows({ref}, rows)" if self.target == "numpy" else ref

    def _bindings(self, graph: Graph, sources: list[str], indent: str, lines: list[str]) -> dict[int, str]:
        """One line per leaf: its identifier bound to the caller's value (or its default)."""
        refs: dict[int, str] = {}
        g, t = graph, self.target
        params = [leaf for leaf in g.leaves if g.ops[leaf] == PARAM]
        for leaf in g.leaves:
            name = g.name_of(leaf) or "x"
            ident = refs[leaf] = self.names.of(name)
            is_param = g.ops[leaf] == PARAM
            if t == "torch" and is_param:
                value = f"self.params[{params.index(leaf)}]"
            elif t == "jax" and is_param:
                value = f"jnp.asarray(params[{name!r}], dtype=jnp.float64)"
            else:
                source = sources[-1]
                default = g.values[leaf]
                value = (f"{source}[{name!r}]" if default is None
                         else f"{source}.get({name!r}, {code_number(default, self.spec.module)})")
                value = {"python": f"float({value})", "numpy": f"np.asarray({value}, dtype=np.float64)",
                         "torch": f"_t({value})", "jax": f"jnp.asarray({value}, dtype=jnp.float64)"}[t]
            note = "" if ident == name and not (t == "torch" and is_param) else f"  # {comment(name)}"
            lines.append(f"{indent}{ident} = {value}{note}")
        return refs

    def _statements(self, graph: Graph, roots: list[int], refs: dict[int, str], indent: str, lines: list[str],
                    notes: dict[str, str] | None) -> None:
        g = graph
        live = reach(g, roots)
        uses = use_counts(g, live)
        idents = self._identifiers(g, live, roots, refs)

        def emit(node: int, text: str, ident: str) -> str:
            why = self._comment(g, node, ident, notes)
            lines.append(f"{indent}{ident} = {self.spelling.value(text)}" + (f"  # {why}" if why else ""))
            return ident

        # (Past fold's depth or length, an expression gets a temporary of its own: t1, t2, ...)
        fold = Fold(g, live, uses, self.spelling.op, lambda a: self.spelling.constant(_value(g, a)))
        fold.refs.update(refs)
        for i in range(len(g)):
            if not live[i] or i in fold.refs:
                continue
            if g.ops[i] == CONST:  # a number is written where it is used, unless it is named
                if i in idents:
                    fold.refs[i] = emit(i, self.spelling.constant(_value(g, i))[0], idents[i])
                continue
            text, level, depth = fold.expression(i)
            if i in idents:
                fold.refs[i] = emit(i, text, idents[i])
            elif not fold.inlined(i, text, level, depth):
                fold.refs[i] = emit(i, text, self.names.temp())
        refs.update(fold.refs)

    def _identifiers(self, g: Graph, live: bytearray, roots: list[int], refs: dict[int, str]) -> dict[int, str]:
        """An identifier for each live named node and each root (but the leaves, bound)."""
        final: dict[int, str] = {}  # a name the graph binds to the node at the end
        for name, node in g.names.items():
            final.setdefault(node, name)
        idents: dict[int, str] = {}
        for node in sorted(g.node_names):
            if live[node] and node not in refs:
                # Its first name, unless that name is later given to another node (then it is
                # that node's): another name of its own, else a fresh identifier.
                primary = g.node_names.primary(node)
                own = primary if g.names.get(primary) == node else final.get(node)
                idents[node] = self.names.of(own) if own is not None else self.names.fresh(primary)
        wanted = set(roots)  # a gradient has a root per input: a list's `in` made it quadratic
        for node, name in zip(g.outputs, g.output_names):
            if node in wanted and node not in refs and node not in idents:
                idents[node] = self.names.fresh(name)
        return idents

    def _comment(self, g: Graph, node: int, ident: str, notes: dict[str, str] | None) -> str:
        """Where the node comes from: its cgraph name if the identifier differs, the note of a
        gradient, or the source line, the loop iteration and the call (`in neuron#2`)."""
        parts: list[str] = []
        name = g.node_names.first(node)
        if name and name != ident:
            parts.append(name)
        note = notes.get(name) if notes and name else None
        if note:
            parts.append(note)
        elif g.ops[node] != CONST or name:
            line = g.line_of(node)
            tags = g.tags[node]
            where = [str(tag) if tag.kind == "loop" else f"in {tag}" for tag in tags] if tags else []
            parts.append(f"line {line}" + (f", {', '.join(where)}" if where else ""))
        return comment(", ".join(parts))

    def _value_and_grad(self, gradient: Gradient, value: str) -> list[str]:
        grad = gradient.graph
        lines = [f"def value_and_grad(inputs: dict[str, float]) -> tuple[{value}, dict[str, {value}]]:",
                 "    # The gradient graph of `cgraph grad` written out: cgraph's derivatives, kinks included."]
        inner = "    "
        if self.target == "numpy":
            lines.append('    with np.errstate(all="ignore"):  # inf and nan are results, not warnings')
            inner = "        "
        refs = self._bindings(grad, ["inputs"], inner, lines)
        lines += self._rows(grad, refs, inner)
        roots = list(grad.outputs) if gradient.wrt else []
        self._statements(grad, roots, refs, inner, lines, gradient.notes)
        items = [f"{repr(wrt)}: {self._result(refs[node])}" for wrt, node in zip(gradient.wrt, roots)]
        lines += _wrapped(f"return {self.name}(inputs), {{", items, "}", inner)
        return lines

    def _rows(self, graph: Graph, refs: dict[int, str], indent: str) -> list[str]:
        """numpy: the shape every result has, the inputs' broadcast."""
        if self.target != "numpy":
            return []
        shapes = [f"np.shape({refs[leaf]})" for leaf in graph.leaves]
        return _wrapped("rows = np.broadcast_shapes(", shapes, ")  # every result has the inputs' shape", indent)

    def _torch_class(self, several: bool) -> list[str]:
        g = self.graph
        lines = [f"class {self.name}(nn.Module):",
                 "    # The params are nn.Parameters, initialised to the file's values: self.params in the order",
                 "    # of PARAMS (a list: a dict keyed by cgraph's names would clash with its own methods for a",
                 "    # param named `keys` or `type`), by name through named_params(); forward takes the inputs",
                 "    # by name (tensors or floats).",
                 "",
                 "    def __init__(self) -> None:",
                 "        super().__init__()",
                 "        self.params = nn.ParameterList(nn.Parameter(_t(value)) for value in PARAMS.values())",
                 "",
                 "    def named_params(self) -> dict[str, nn.Parameter]:",
                 "        return dict(zip(PARAMS, self.params))",
                 ""]
        lines += self._function("    def forward(self, inputs: dict[str, float]) -> torch.Tensor:", g, [g.output],
                                ["inputs"], "        ")
        if several:
            lines += [""] + self._function("    def outputs(self, inputs: dict[str, float]) -> dict[str, torch.Tensor]:",
                                           g, list(g.outputs), ["inputs"], "        ", as_dict=True)
        return lines
