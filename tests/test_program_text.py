"""Graphs written back as programs (cgraph/views/program.py): the text parses to a graph
with the same values at every named node and output, and the same gradients, for parsed
programs, generated programs, gradient graphs and graphs built by hand through the tape
writer (constants the language has no literal for, shared and unnamed nodes, hostile
names, a 100k-node chain); it is readable; comments cannot break out."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import cgraph
from cgraph.errors import Source
from cgraph.frontend.parser import _tables
from cgraph.ir.tape import Span, TapeWriter
from cgraph.transform.grad import grad
from cgraph.views.program import KEYWORDS, MAX_DEPTH, comment, is_writable_name, constant, program_text
from support.paths import SAMPLES
from support.programs import programs, values
from support.samples import SAMPLE_CASES, SAMPLE_IDS

SITE = Span()


def _same(a: float, b: float, rel: float = 0.0) -> bool:
    if a != a or b != b:
        return a != a and b != b
    if rel == 0.0 or math.isinf(a) or math.isinf(b):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def round_trip(graph: cgraph.Graph, inputs: dict[str, float] | None = None, **kw) -> cgraph.Graph:
    """Write, parse back, and check values (exactly) and gradients (to rounding: the
    order of the sums at fan-out may differ) at every named node and every output."""
    text = program_text(graph, **kw)
    again = cgraph.parse(text, "<written>", max_nodes=10 * len(graph) + 100)
    inputs = inputs or {}
    one, two = cgraph.evaluate(graph, inputs), cgraph.evaluate(again, inputs)
    assert len(again.outputs) == len(graph.outputs)
    for k, (a, b) in enumerate(zip(graph.outputs, again.outputs)):
        assert _same(one.values[a], two.values[b]), (k, graph.output_names[k])
        name = graph.output_names[k]
        if is_writable_name(name) and name not in graph.output_names[:k] and graph.names.get(name, a) == a:
            assert again.output_names[k] == name  # kept where the grammar can say it
    for name, node in graph.names.items():
        if is_writable_name(name):
            assert _same(one.values[node], two.values[again.names[name]]), name
            assert _same(one.grads[node], two.grads[again.names[name]], 1e-12), name
    assert [graph.ops[i] for i in graph.leaves] == [again.ops[i] for i in again.leaves]
    for a, b in zip(graph.leaves, again.leaves):
        if graph.values[a] is not None:
            assert _same(graph.values[a], again.values[b])
    return again


# --- parsed programs -----------------------------------------------------------------------


@pytest.mark.parametrize("name, inputs, _args", SAMPLE_CASES, ids=SAMPLE_IDS)
def test_every_sample_round_trips(name, inputs, _args):
    round_trip(cgraph.load(SAMPLES / f"{name}.cg"), inputs)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.cg")), ids=lambda p: p.stem)
def test_every_sample_file_round_trips_with_its_defaults_and_its_gradient_graph(path):
    graph = cgraph.load(path)
    inputs = {name: 0.7 for name, i in graph.inputs.items() if graph.values[i] is None}
    round_trip(graph, inputs)
    round_trip(grad(graph, simplify=False), inputs)


@given(programs(), st.data())
@settings(deadline=None)
def test_generated_programs_round_trip(source, data):
    graph = cgraph.parse(source, max_nodes=50_000)
    note(program_text(graph))
    point = data.draw(values(list(graph.inputs)))
    round_trip(graph, point)
    if graph.inputs:  # and its gradient graph: shared forward nodes, numbers, unnamed sums
        round_trip(grad(graph, simplify=False), point)


def test_several_outputs_in_their_order():
    graph = cgraph.parse("input x = 2\na = x * x\nb = a + 1\nc = b\noutput b, a, c")
    again = round_trip(graph)
    assert again.output_names == ("b", "a", "c")


def test_a_small_program_reads_as_written():
    source = "input x\ninput y = 2\nparam w = 0.1\nf = 3\np = (x + y) * -w\nb = p\nq = p - (x - y)^2^-1 / f\noutput q, b\n"
    assert program_text(cgraph.parse(source)) == source


def test_precedence_and_associativity_keep_only_the_parentheses_needed():
    source = ("input a\ninput b\ninput c\n"
              "y = a - (b - c) + a / (b * c) * -a^b^c + (a^b)^c\n"
              "z = (-a)^2 + -(-a) - -(a + b) + (-2)^a - y^-2\n"
              "output z\n")
    graph = cgraph.parse(source)
    assert program_text(graph) == source
    round_trip(graph, {"a": 1.5, "b": 0.5, "c": 2.0})


def test_the_keywords_are_the_grammars():
    assert KEYWORDS == set(_tables().keywords)


# --- graphs built by hand ------------------------------------------------------------------


def _tape() -> TapeWriter:
    return TapeWriter(Source("", "<built>"), 10**6)


def test_constants_without_a_literal_are_written_exactly():
    tape = _tape()
    x = tape.leaf("input", "x", SITE, 1.0)
    specials = [math.inf, -math.inf, math.nan, -0.0, 0.0, -3.0, 1e-310, 1e308, 0.1]
    nodes = []
    for v in specials:
        c = tape.literal(v, SITE)
        nodes.append(tape.append("mul", (x, c), SITE, tape.root))
        nodes.append(tape.append("pow", (c, x), SITE, tape.root))  # the base: an atom
        nodes.append(tape.append("neg", (c,), SITE, tape.root))
    for k, v in enumerate(specials):  # as declared defaults too
        nodes.append(tape.append("add", (x, tape.leaf("param" if k % 2 else "input", f"d{k}", SITE, v)), SITE, tape.root))
    named = tape.own_constant(tape.literal(math.inf, SITE), len(tape), SITE, tape.root)
    tape.name(named, "f")
    total = tape.append("sum", tuple(nodes) + (named,), SITE, tape.root)
    tape.name(total, "total")
    graph = tape.finish_outputs([(total, "total")] + [(n, f"o{k}") for k, n in enumerate(nodes)])
    again = round_trip(graph)
    assert again.constants["f"] == again.names["f"]  # still a named constant
    for v in specials:
        text, _ = constant(v)
        assert _same(cgraph.parse(f"y = {text}").values[0], v) or "/" in text


def test_numbers_read_back_as_themselves():
    for v in (0.1, 1 / 3, 1e-310, 5e-324, 1.7976931348623157e308, 123456789012345678.0, 2.5, 3.0, -7.25):
        text, _ = constant(v)
        graph = cgraph.parse(f"y = {text}")
        assert graph.values[0] == v and math.copysign(1, graph.values[0]) == math.copysign(1, v)
    assert constant(3.0)[0] == "3" and constant(-0.0)[0] == "-0"


def test_shared_and_unnamed_nodes():
    tape = _tape()
    x = tape.leaf("input", "x", SITE, 0.5)
    s = tape.append("tanh", (x,), SITE, tape.root)  # unnamed, used three times
    sq = tape.append("mul", (s, s), SITE, tape.root)
    dead = tape.append("exp", (sq,), SITE, tape.root)  # unnamed and unused: not written
    y = tape.append("add", (sq, s), SITE, tape.root)
    tape.name(y, "y")
    graph = tape.finish(y, "y")
    text = program_text(graph)
    assert text == "input x = 0.5\nt1 = tanh(x)\ny = t1 * t1 + t1\noutput y\n"
    assert dead and round_trip(graph)


def test_temporaries_never_take_a_name_of_the_graph():
    graph = cgraph.parse("input t1\nt2 = t1 + 1\nt3 = tanh(t2 * t2)\ny = t3 + tanh(t2 * t2) * tanh(t2 * t2)")
    tape = TapeWriter.reopen(graph, 1000)
    u = tape.append("exp", (graph.names["t2"],), SITE, tape.root)
    v = tape.append("mul", (u, u), SITE, tape.root)
    tape.name(v, "z")
    again = round_trip(tape.finish(v, "z"), {"t1": 0.3})
    assert "t4" in again.names


HOSTILE = ["x\ny = 1", "for", "input", "a b", "h[01]", "w[1, 2]", "é", "", "1x", "x#y", "h[-0]", "t1",
           "dg/dx", "z@t=3", "x;y", "tanh", "h[99999999999999999999]", "x" * 5000, "\u202ex", "in"]


def test_hostile_names_are_replaced_by_safe_ones():
    tape = _tape()
    leaves = [tape.leaf("input", name, SITE, float(k)) for k, name in enumerate(HOSTILE)]
    total = tape.append("sum", tuple(leaves), SITE, tape.root)
    tape.name(total, "total\n# output x")
    for k, leaf in enumerate(leaves[:4]):
        node = tape.append("mul", (total, leaf), SITE, tape.root)
        tape.name(node, HOSTILE[-1 - k])
    graph = tape.finish_outputs([(total, "out put"), (node, "in")])
    text = program_text(graph)
    again = round_trip(graph)
    assert len(again.inputs) == len(HOSTILE) and "t1" in again.inputs
    assert all(is_writable_name(n) for n in again.names)
    assert again.output_names[0] == "total_output_x" and len(again.outputs) == 2
    assert "\ny = 1" not in text and "input x\n" not in text


def test_valid_names_are_kept_indexed_ones_in_the_parsers_spelling():
    for name in ("x", "_a1", "h[3]", "w[1,2]", "h[-1]", "h[0]", "sum", "exp", "h[999999999999999]"):
        assert is_writable_name(name), name
    for name in ("h[01]", "w[1, 2]", "h[-0]", "h[]", "h[1][2]", "for", "in[1]", "é", "x.y", "1a",
                 "h[99999999999999999999]"):
        assert not is_writable_name(name), name


def test_a_name_given_to_two_nodes_is_written_once():
    tape = _tape()
    x = tape.leaf("input", "x", SITE, 2.0)
    a1 = tape.append("mul", (x, x), SITE, tape.root)
    tape.name(a1, "a")
    a2 = tape.append("add", (a1, x), SITE, tape.root)
    tape.name(a2, "a")  # names["a"] is a2 now
    y = tape.append("mul", (a1, a2), SITE, tape.root)
    tape.name(y, "y")
    graph = tape.finish(y, "y")
    assert "a_2 = x * x\na = a_2 + x\ny = a_2 * a\n" in program_text(graph)
    round_trip(graph)


def test_a_deep_chain_is_not_one_pathological_line():
    n = 100_000
    tape = TapeWriter(Source("", "<built>"), 10 * n)
    x = tape.leaf("input", "x", SITE, 0.5)
    node = x
    for k in range(n):
        node = tape.append("sin" if k % 3 else "neg", (node,), SITE, tape.root)
    graph = tape.finish(node, "y")
    text = program_text(graph)  # its speed is measured in bench/, not here
    assert max(len(line) for line in text.splitlines()) < 200
    assert max(line.count("(") for line in text.splitlines()) <= MAX_DEPTH + 1
    again = cgraph.parse(text, max_nodes=10 * n)
    assert cgraph.evaluate(again).value == cgraph.evaluate(graph).value


def test_a_long_named_chain_reads_back_as_written():
    n = 100_000
    text = "input x = 0.5\n" + "".join(f"h{k + 1} = h{k} * 0.5 + 1\n" for k in range(n)).replace("h0 ", "x ", 1)
    graph = cgraph.parse(text, max_nodes=10 * n)
    written = program_text(graph)
    assert written == text + f"output h{n}\n"


# --- comments ------------------------------------------------------------------------------


def test_notes_and_header_stay_comments():
    graph = cgraph.parse("input x\ny = x * 2\nz = y + 1")
    hostile = "note\ny = 100\r\x0bz = 5\u2028w = 1\x85v = 2\\"
    text = program_text(graph, notes={graph.names["y"]: hostile, graph.names["x"]: "the input"},
                        header="made by a test\n\nline\rthree\u2029end")
    lines = text.splitlines()
    assert lines[:3] == ["# made by a test", "#", "# line"]  # \r ends a line of the header too
    assert "input x  # the input" in lines
    assert "y = x * 2  # note y = 100 z = 5 w = 1 v = 2\\" in lines
    again = round_trip(graph, {"x": 1.0}, notes={graph.names["y"]: hostile}, header=hostile)
    assert len(again) == len(graph)
    assert comment("a\tb\x00c\u200bd") == "a b c d"


def test_an_unnamed_node_with_a_note_gets_a_statement():
    graph = cgraph.parse("input x\ny = tanh(x * 2) + 1")
    inner = graph.args[graph.args[graph.names["y"]][0]][0]
    text = program_text(graph, notes={inner: "the product"})
    assert "t1 = x * 2  # the product\ny = tanh(t1) + 1\n" in text


# --- a written program through every command, from standard input -------------------------

INTRO_GRAD = program_text(grad(cgraph.load(SAMPLES / "intro.cg"), simplify=False), header="the gradient of intro.cg")
INTRO_POINT = ("--x", "1", "--y", "3", "--z", "-3")


def test_eval_reads_a_written_program_from_standard_input(cg):
    code, out, err = cg("eval", "-", *INTRO_POINT, "--format", "json", stdin=INTRO_GRAD)
    assert code == 0, err
    assert '"value": -3' in out  # dg/dx = z


def test_render_reads_a_written_program_from_standard_input(cg):
    code, out, err = cg("render", "-", *INTRO_POINT, "--format", "dot", "-o", "-", stdin=INTRO_GRAD)
    assert code == 0, err
    assert out.startswith("digraph") and "dg_dx" in out


def test_explain_reads_a_written_program_from_standard_input(cg):
    code, out, err = cg("explain", "-", *INTRO_POINT, stdin=INTRO_GRAD)
    assert code == 0, err
    assert "Forward pass" in out and "dg_dx" in out


def test_check_reads_a_written_program_from_standard_input(cg):
    code, out, err = cg("check", "-", *INTRO_POINT, stdin=INTRO_GRAD)
    assert code == 0, err
    assert "all passed" in out


def test_train_reads_a_written_program_from_standard_input(cg):
    linreg = SAMPLES / "linreg.cg"
    argv = ("--data", SAMPLES / "linreg.csv", "--lr", "0.5", "--epochs", "5")
    code, direct, err = cg("train", linreg, *argv)
    assert code == 0, err
    code, piped, err = cg("train", "-", *argv, stdin=program_text(cgraph.load(linreg)))
    assert code == 0, err
    assert piped.replace("<stdin>", str(linreg)) == direct


def test_outputs_that_are_numbers_leaves_or_listed_twice():
    graph = cgraph.parse("input x = 3\ninput u\ny = x * x + 0")
    zero, x = graph.args[graph.names["y"]][1], graph.names["x"]  # the program's shared 0
    tape = TapeWriter.reopen(graph, 1000)
    both = tape.finish_outputs([(zero, "dy/du"), (zero, "also_zero"), (x, "the_x"), (x, "the_x"),
                                (graph.names["y"], "x")])  # "x" names another node
    text = program_text(both)
    assert "dy_du = 0\nalso_zero = dy_du\n" in text and "the_x = x\n" in text
    assert "y = x * x + 0\n" in text  # the program's 0 is still written as a number
    assert text.endswith("the_x_2 = the_x\noutput dy_du, also_zero, the_x, the_x_2, y\n")
    again = round_trip(both, {"u": 1.0})
    assert again.constants == {"dy_du": again.outputs[0]}
