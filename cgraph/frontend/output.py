"""Choosing the outputs: the names of an `output` statement (`output a, b`: several, in
that order), else a bare expression that ends the file (named `out`), else the last name
assigned."""

from __future__ import annotations

from . import syntax as ast
from .integers import key
from .located import error
from .scoping import GlobalNames
from ..errors import BuildError, Location, Source, name_hint
from ..ir.tape import TapeWriter

BARE_OUTPUT_NAME = "out"


def choose_outputs(source: Source, tape: TapeWriter, names: GlobalNames, output_stmt: ast.Output | None,
                   bare_output: int | None, last_assigned: tuple[int, str] | None) -> list[tuple[int, str]]:
    """The output nodes and their names. A bare expression's node is named here."""
    if output_stmt is not None:
        chosen: dict[str, tuple[int, str]] = {}
        for target in output_stmt.targets:
            node, name = _chosen(source, tape, names, target)
            if name in chosen:
                raise error(source, f"'{name}' is already an output of this statement", target, width=len(target.name))
            chosen[name] = (node, name)
        return list(chosen.values())
    if bare_output is not None:
        name = BARE_OUTPUT_NAME
        while name in tape.names:
            name += "_"
        tape.name(bare_output, name)
        return [(bare_output, name)]
    if last_assigned is not None:
        return [last_assigned]
    raise BuildError(
        "nothing to compute: the file has no assignment and no expression",
        Location.at(source, 0),
        "write an expression, or NAME = expression",
    )


def _chosen(source: Source, tape: TapeWriter, names: GlobalNames, target: ast.Ref) -> tuple[int, str]:
    """The node of the name an `output` statement gives."""
    name = key(target, {}, source)
    if name not in tape.names and name in names.loop_locals:
        raise names.local_error(name, target)
    if name not in tape.names:
        raise error(
            source, f"output '{name}' is not a name in this file" + name_hint(name, tape.names),
            target, width=len(target.name),
        )
    return tape.names[name], name
