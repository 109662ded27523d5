"""What every command that reads a program shares: FILE or -e, and input values.

Input values are free-form options (`--x 1`, `--x=1`, `--z -3`, `--x 1,2,3`), so
`ProgramCommand` takes them out of the argument list before click parses the rest:
any `--NAME` that is not one of the command's own options is an input.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from typing import Any, Callable

import click

from ..engine import input_values
from ..frontend.builder import DEFAULT_MAX_NODES, DEFAULT_SEED
from ..errors import InputError, clip, did_you_mean, stdin_buffer
from ..ir.graph import Graph
from ..frontend.loading import load, load_bytes, parse

_PAIRS = "cgraph.input_pairs"
_KNOWN = "cgraph.known_options"


class FiniteFloat(click.FloatRange):
    """A float option with a valid range, shown in --help: click's FloatRange lets nan
    through every bound (nan < 0 is False) and inf through an open end, so they are
    refused here before the range is checked."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number (the range is {self._describe_range()}).", param, ctx)
        return super().convert(number, param, ctx) + 0.0  # -0 is 0: it is echoed in JSON output

    def _describe_range(self) -> str:
        # click writes its bounds as given (0<x<1.0); %g keeps them short: 0<x<1.
        low, high = (None if b is None else _Short(b) for b in (self.min, self.max))
        shown = click.FloatRange(low, high, min_open=self.min_open, max_open=self.max_open)
        return shown._describe_range()


class _Short(float):
    def __str__(self) -> str:
        return format(self, "g")


class Count(click.IntRange):
    """An integer option with a valid range, shown in --help. Python's integers have no
    size limit, but counts end up in slices and array sizes: one beyond sys.maxsize is
    refused here rather than failing deep inside."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = super().convert(value, param, ctx)
        if abs(number) > sys.maxsize:
            self.fail(f"{number} is too large (the range is {self._describe_range()}, at most {sys.maxsize}).",
                      param, ctx)
        return number


# The ranges every command shares, one place each.
SEED = Count(min=0)  # numpy's generators (shuffling in train) take no negative seeds
PRECISION = Count(1, 17)  # significant digits: 17 is a float64's round-trip width


class ProgramCommand(click.Command):
    """A command reading `FILE [--NAME VALUE ...]`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[OPTIONS] [--NAME VALUE]...")
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {opt for p in self.get_params(ctx) for opt in (*p.opts, *p.secondary_opts)}
        rest: list[str] = []
        pairs: list[tuple[str, str, bool]] = []  # (name, value, given with --input)
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                rest.extend(args[i:])
                break
            head, eq, value = arg.partition("=")
            if head == "--input":  # kept in order with the --NAME VALUE pairs: the later one wins
                if not eq:
                    if i + 1 >= len(args):
                        raise click.UsageError("--input needs a value: --input NAME=VALUE", ctx)
                    value = args[i + 1]
                    i += 1
                name, eq, value = value.partition("=")
                if not eq:
                    raise InputError(f"--input '{clip(name)}': expected NAME=VALUE")
                pairs.append((name, value, True))
                i += 1
                continue
            if arg.startswith("--") and len(arg) > 2 and head not in known:
                name = head[2:]
                if eq:
                    pairs.append((name, value, False))
                    i += 1
                    continue
                if i + 1 >= len(args):
                    raise click.UsageError(f"{clip(head)} needs a value: {clip(head)} VALUE", ctx)
                if args[i + 1].partition("=")[0] in known | {"--input"}:
                    # `train --strict --epochs 1`: a flag this command lacks, not an input's value
                    raise click.UsageError(f"no such option: {clip(head)} (for an input of that name, give its value: "
                                           f"{clip(head)} VALUE)", ctx)
                pairs.append((name, args[i + 1], False))
                i += 2
                continue
            rest.append(arg)
            i += 1
        ctx.meta[_PAIRS] = pairs
        ctx.meta[_KNOWN] = known
        return super().parse_args(ctx, rest)


# Options for which an empty value means something: -e '' is an empty program (reported
# as such, with its place), --annotate '' a diagram without numbers; --delimiter and
# serve's --host say themselves why not.
_EMPTY_ALLOWED = {"expr", "annotate", "delimiter", "host"}


def refuse_empty_values(ctx: click.Context) -> None:
    """`--save ''` (an unset shell variable, say) is a usage error, not a run that quietly
    saves nothing: the same for every option that names a file or a node."""
    for param in ctx.command.params:
        if (isinstance(param, click.Option) and not param.is_flag and param.name not in _EMPTY_ALLOWED
                and ctx.params.get(param.name or "") == ""):
            raise click.UsageError(f"{'/'.join(param.opts)} needs a value, not an empty string", ctx)


def no_cache_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--no-cache: on every command that reads a program (the graph cache, graph_cache.py)."""
    return click.option(
        "--no-cache", is_flag=True,
        help="Parse FILE even if its graph is cached (in ~/.cache/cgraph), and cache nothing; "
             "CGRAPH_NO_CACHE=1 does the same.",
    )(command)


def program_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """FILE, -e, --input, --inputs, --output, --max-nodes, --no-cache: the options of every command reading a program."""
    command = input_options(command)  # the innermost decorator: listed last
    options = [
        click.argument("file", required=False, metavar="FILE"),
        click.option("-e", "--expr", metavar="EXPR", help="Evaluate this program text instead of a FILE."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--input, --inputs, --output, --max-nodes, --no-cache: how a command reading a program is
    given its input values and output (serve, which watches a FILE, takes these alone)."""
    options = [
        click.option(
            "--input", "input_pairs", multiple=True, metavar="NAME=VALUE",
            help="An input value; for names that clash with an option, or indexed names: --input 'x[2]=5'.",
        ),
        click.option(
            "--inputs", "inputs_file", metavar="FILE.json",
            help='Input values from a JSON object: {"x": 1, "w[2]": 0.5, "h": [0.1, 0.2]}.',
        ),
        click.option("--output", "output_name", metavar="NAME", help="Differentiate this named node instead of the file's output."),
        click.option(
            "--max-nodes", type=Count(min=1), default=DEFAULT_MAX_NODES, show_default=True,
            help="Refuse to unroll a graph larger than this.",
        ),
    ]
    command = no_cache_option(command)
    for option in reversed(options):
        command = option(command)
    return command


def read_graph(file: str | None, expr: str | None, max_nodes: int, seed: int = DEFAULT_SEED,
               no_cache: bool = False) -> Graph:
    """The program of FILE (`-`: standard input) or -e EXPR. A file's graph and standard
    input's come from the graph cache when their bytes were built before (by content: a
    generated program piped in twice is read back too); -e text is small and always parsed."""
    if expr is not None and file is not None:
        raise click.UsageError("give either FILE or -e EXPR, not both")
    if expr is not None:
        return parse(expr, "<expr>", max_nodes=max_nodes, seed=seed)
    if file is None:
        raise click.UsageError("missing FILE (or -e EXPR, or - for standard input)")
    if file == "-":
        return load_bytes(stdin_buffer("the program -").read(), "<stdin>", max_nodes=max_nodes, seed=seed, cache=not no_cache)
    return load(file, max_nodes=max_nodes, seed=seed, cache=not no_cache)


def gather_inputs(graph: Graph, inputs_file: str | None, input_pairs: tuple[str, ...]) -> dict[str, float]:
    """Values in rising priority: --inputs FILE, then --input NAME=VALUE and --NAME VALUE in order."""
    values: dict[str, float] = {}
    if inputs_file:
        values.update(input_values.from_json_file(graph, inputs_file))
    pairs: list[tuple[str, str]] = []
    ctx = click.get_current_context()
    # --input and --NAME come from ProgramCommand.parse_args, in the order given;
    # `input_pairs` (click's own --input) is empty then, and only used by direct callers.
    for item in input_pairs:
        name, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"--input '{clip(item)}': expected NAME=VALUE")
        pairs.append((name, value))
    for name, value, via_input in ctx.meta.get(_PAIRS, []):
        if not via_input:
            _check_not_a_typo(ctx, graph, name, value)
        pairs.append((name, value))
    values.update(input_values.from_pairs(graph, pairs))
    return values


def with_program(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the program options into `graph` and `inputs` arguments of the command.

    With `evaluation_options`, --seed draws the random params and --params values sit
    under every other value; the command gets `seed`, `params_file` and `max_nodes` only
    if its signature names them (train shuffles with its seed)."""
    wanted = inspect.signature(command).parameters

    @functools.wraps(command)
    def wrapper(file, expr, input_pairs, inputs_file, output_name, max_nodes, no_cache, **kwargs):
        seed = kwargs["seed"] if "seed" in wanted else kwargs.pop("seed", None)
        params_file = kwargs.get("params_file") if "params_file" in wanted else kwargs.pop("params_file", None)
        graph = read_graph(file, expr, max_nodes, DEFAULT_SEED if seed is None else seed, no_cache)
        if "max_nodes" in wanted:  # the cap of the graphs the command derives (hessian's second order)
            kwargs["max_nodes"] = max_nodes
        given = gather_inputs(graph, inputs_file, input_pairs)
        inputs = {**params_values(graph, params_file), **given} if params_file else given
        return command(graph=graph, inputs=inputs, output_name=output_name, **kwargs)

    return program_options(wrapper)


STRICT_HELP = "Fail (exit 1) if any node's value is inf or nan."


def evaluation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--params, --seed and --strict: the same options, with the same meaning, on every
    command that evaluates a program (eval, render, explain, check, hessian, serve; train
    has its own --params and --seed)."""
    options = [
        click.option("--params", "params_file", metavar="FILE.json",
                     help="Param values saved by `cgraph train --save` (or a plain JSON object); "
                          "--inputs, --input and --NAME values override them."),
        click.option("--seed", type=SEED, default=DEFAULT_SEED, show_default=True,
                     help="Seed of random param initializations (param w = uniform(-1, 1))."),
        click.option("--strict", is_flag=True, help=STRICT_HELP),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def params_values(graph: Graph, path: str | None, what: str = "--params") -> dict[str, float]:
    """The values of a params file (`cgraph train --save`), {} without one."""
    if not path:
        return {}
    from ..training.paramsfile import read_params

    return read_params(path, graph, what).values


def _check_not_a_typo(ctx: click.Context, graph: Graph, name: str, value: str) -> None:
    """`--fromat json` is a mistyped option, not an input called fromat; `check --wrt b2`
    an option of another command: neither is an input of the file, and `b2` no number."""
    base = name.split("[", 1)[0]
    if base in graph.names or any(n.startswith(base + "[") for n in graph.inputs):
        return
    suggestion = did_you_mean("--" + name, sorted(ctx.meta.get(_KNOWN, ())), cutoff=0.75)
    if suggestion:
        raise click.UsageError(f"no such option: --{clip(name)}{suggestion}", ctx)
    try:
        [float(part) for part in value.split(",")]
    except ValueError:
        raise click.UsageError(f"no such option: --{clip(name)} (nor is '{clip(name)}' an input of this file)", ctx) from None


def output_list(text: str | None, option: str = "--output") -> str | list[str] | None:
    """`--output a,b` as the names it lists; one name (`h[2]`, or `w[1,2]`: a comma inside
    brackets is part of the name) stays as it was given."""
    if text is None:
        return None
    names = input_values.split_items(text)
    # Every command's lists (--output, --wrt, --blank-nodes) refuse the same mistakes:
    # an empty name (`--wrt ''`, `x,`) and a name given twice.
    if "" in names:
        raise click.BadParameter(f"{text!r}: an empty name in the list (give NAME or NAME,NAME,...)",
                                 param_hint=f"'{option}'")
    seen: set[str] = set()
    for name in names:  # (a set: a list of 10,000 names is checked in linear time)
        if name in seen:
            raise click.BadParameter(f"'{clip(name)}' is named twice", param_hint=f"'{option}'")
        seen.add(name)
    if len(names) == 1:
        return text
    return names
