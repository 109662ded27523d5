"""Syntax tree -> graph: names resolved, user functions inlined, loops unrolled.

The `Builder` runs a program's top-level statements one by one, as the parser hands
them over, and wires the units that do the work: the tape writer (cgraph/ir/tape.py)
holds the nodes; `scoping` the names; `expressions` lowers expressions; `statements`
runs assignments, declarations and loops; `integers` evaluates indices and bounds;
`constants` declared values and random draws; `functions` the `def`s and the recursion
check; `size_limits` refuses what would grow past --max-nodes before building it;
`output` chooses the output. Everything is a loop over explicit stacks, so neither deep
nesting nor long unrolling can exhaust Python's stack.
"""

from __future__ import annotations

from . import syntax as ast
from .constants import DEFAULT_SEED, RANDOM_INITS, Constants
from .expressions import REDUCTIONS, Lowering
from .functions import Functions
from .located import error, line
from .output import BARE_OUTPUT_NAME, choose_outputs
from .scoping import Env, GlobalNames
from .size_limits import DEFAULT_MAX_NODES, STEPS_PER_NODE, SizeLimits
from .statements import Statements
from ..errors import Source
from ..ir.graph import Graph
from ..ir.tape import RELEASE_EVERY, TapeWriter

__all__ = [
    "BARE_OUTPUT_NAME", "DEFAULT_MAX_NODES", "DEFAULT_SEED", "RANDOM_INITS", "REDUCTIONS", "RELEASE_EVERY",
    "STEPS_PER_NODE", "Builder", "build",
]


def build(program: ast.Program, source: Source, max_nodes: int = DEFAULT_MAX_NODES, seed: int = DEFAULT_SEED) -> Graph:
    """Unroll a parsed program into a graph. Raises BuildError (located) on a bad program.
    The program is left as it was (see `Builder`'s `consume`)."""
    builder = Builder(source, max_nodes, seed, consume=False)
    for st in program.statements:
        builder.statement(st)
    return builder.finish()


class Builder:
    """Builds a graph statement by statement.

    With `consume` (the default, for statements handed over by the parser and then
    dropped), a top-level statement's expression is taken apart as it is built: each
    syntax node lets go of its children once they are on the walk's stack, so a deep
    expression's tree is freed while its graph grows instead of living on beside it.
    Loop and function bodies, which run many times, are never touched.
    """

    def __init__(self, source: Source, max_nodes: int, seed: int = DEFAULT_SEED, consume: bool = True):
        self.source = source
        self.consume = consume
        self.tape = TapeWriter(source, max_nodes)
        self.top = Env({}, {}, ())  # the file's top level
        self.names = GlobalNames(source, self.tape)
        self.functions = Functions(source)
        self.limits = SizeLimits(source, self.tape, self.functions)
        self.lowering = Lowering(source, self.tape, self.names, self.functions, self.limits)
        self.statements = Statements(source, self.tape, self.names, self.lowering,
                                     Constants(source, self.functions, seed), self.limits, self.top, consume)
        self.output_stmt: ast.Output | None = None
        self.bare: ast.ExprStmt | None = None  # a bare expression statement, so far the last
        self.bare_output: int | None = None

    def statement(self, st: ast.Stmt) -> None:
        """Run one top-level statement. The parser calls this as soon as a statement is
        parsed, so a big file's syntax tree never exists whole."""
        if self.bare is not None:
            raise error(
                self.source, "an expression on its own is only allowed as the last statement of a file",
                self.bare, "give it a name: NAME = ...",
            )
        if isinstance(st, ast.Def):
            self.functions.define(st)
        elif isinstance(st, ast.Output):
            if self.output_stmt is not None:
                raise error(self.source, f"the outputs are already chosen on line {line(self.source, self.output_stmt)}", st)
            self.output_stmt = st
        elif isinstance(st, ast.ExprStmt):  # the output, if nothing follows it
            self.limits.spend(1, st)
            self.bare = st
            self.bare_output = self.statements.value_node(st.value, self.top)  # named `out` at the end
        else:
            self.statements.execute(st)

    def finish(self) -> Graph:
        """The graph, once every statement has run."""
        outputs = choose_outputs(self.source, self.tape, self.names, self.output_stmt,
                                 self.bare_output, self.statements.last_assigned)
        # What only building needed goes before the columns are copied into the graph's
        # tuples, which is when a big build peaks.
        self.names.release()
        self.limits.release()
        return self.tape.finish_outputs(outputs)
