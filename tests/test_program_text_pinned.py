"""The program writer's output, byte for byte, pinned in tests/program_text_files/: the
writer is a hot loop tuned for speed (cgraph/views/program.py), and a faster version must
write exactly what the last one did. tests/test_program_text.py checks what the text
means (it parses back to the same values); this checks that not a byte of it moved.

The graphs come from the parser and the tape writer only, not from the gradient
transform, so a change there does not move these files: every sample (with notes on
every name, hostile ones too, and on some unnamed nodes, and a header), the hostile
names of a hand-built graph, and a generated (seeded) graph of 3,000 nodes with fan-out,
long unnamed chains, shared numbers with no literal (inf, nan, -0), aliases, names the
grammar cannot read back, and outputs that are numbers, leaves, or listed twice.

After an intended change of the output, regenerate the files and read their diff:
    PYTHONPATH=tests .venv/bin/python tests/test_program_text_pinned.py
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

import cgraph
from cgraph.errors import Source
from cgraph.ir.tape import Span, TapeWriter
from cgraph.views.program import program_text

from support.paths import SAMPLES, TESTS

FILES = TESTS / "program_text_files"
SITE = Span()
# Notes as a caller may give them: plain, with runs of spaces, line breaks, control and
# separator characters, non-ASCII text, a comment's end, empty.
NOTES = ["d y/d x (line 3)", "  two  spaces  ", "line\nbreak = 1", "tab\there\x00nul", "é and 日本",
         "\u2028x = 1\u2029", "a\u00a0b\u200bc", "", "x\x7fy # not code", "\r\n", "plain ASCII, punctuation: !@$%^&*()"]
HOSTILE = ["x\ny = 1", "for", "input", "a b", "h[01]", "w[1, 2]", "é", "", "1x", "x#y", "h[-0]", "t1",
           "dg/dx", "z@t=3", "h[3]", "w[1,2]", "x" * 300, "\u202ex", "in", "ok_name"]


def _tape() -> TapeWriter:
    return TapeWriter(Source("", "<built>"), 10**6)


def sample_case(path: Path) -> str:
    graph = cgraph.load(path)
    notes: dict[int | str, str] = {name: NOTES[k % len(NOTES)] for k, name in enumerate(graph.names)}
    unnamed = [i for i in range(len(graph)) if i not in graph.node_names and not graph.is_literal(i)]
    notes.update({i: f"unnamed node {i}" for i in unnamed[::3]})
    return program_text(graph, notes=notes, header=f"{path.name}\nwritten back\u2028by a test")


def hostile_case() -> str:
    tape = _tape()
    leaves = [tape.leaf("param" if k % 2 else "input", name, SITE, float(k) if k % 3 else None)
              for k, name in enumerate(HOSTILE)]
    total = tape.append("sum", tuple(leaves), SITE, tape.root)
    tape.name(total, "total\n# output x")
    nodes = []
    for k, leaf in enumerate(leaves):
        node = tape.append("mul", (total, leaf), SITE, tape.root)
        tape.name(node, HOSTILE[-1 - k])
        nodes.append(node)
    graph = tape.finish_outputs([(total, "out put"), (nodes[-1], "in"), (nodes[0], "ok_name"), (leaves[3], "a b")])
    return program_text(graph, notes={n: NOTES[k % len(NOTES)] for k, n in enumerate(nodes)})


BINARY = ["add", "sub", "mul", "div", "pow", "max", "zero_if"]
UNARY = ["neg", "tanh", "exp", "log", "sin", "abs"]
NUMBERS = [0.0, 1.0, 2.0, -2.0, 0.5, 1e-310, 1e308, math.inf, -math.inf, math.nan, -0.0, 0.1]


def generated_case(nodes: int = 3000, seed: int = 20240601) -> str:
    rng = random.Random(seed)
    tape = _tape()
    pool = [tape.leaf("input", "x", SITE, 0.5), tape.leaf("param", "w", SITE, 0.1),
            tape.leaf("input", "h[0]", SITE, None), tape.leaf("param", "b[1,2]", SITE, -1.5)]
    numbers = [tape.literal(v, SITE) for v in NUMBERS]
    notes: dict[int | str, str] = {}

    def pick() -> int:
        roll = rng.random()
        if roll < 0.1:
            return rng.choice(numbers)
        if roll < 0.75:  # the last few: long unnamed chains, inlined
            return pool[-1 - min(int(rng.expovariate(1.0)), len(pool) - 1)]
        return rng.choice(pool)  # anywhere: fan-out

    for k in range(nodes):
        roll = rng.random()
        if roll < 0.55:
            node = tape.append(rng.choice(BINARY), (pick(), pick()), SITE, tape.root)
        elif roll < 0.95:
            node = tape.append(rng.choice(UNARY), (pick(),), SITE, tape.root)
        else:
            node = tape.append(rng.choice(["sum", "mean"]), tuple(pick() for _ in range(rng.randint(1, 5))),
                               SITE, tape.root)
        roll = rng.random()
        if roll < 0.25:
            tape.name(node, f"h[{k}]" if k % 2 else f"v{k}")
            if rng.random() < 0.1:
                tape.name(node, f"alias{k}")
        elif roll < 0.27:
            tape.name(node, rng.choice(HOSTILE))  # may rebind a name an earlier node had
        elif roll < 0.30:
            notes[node] = rng.choice(NOTES)
        pool.append(node)
    deep = pool[0]  # an unnamed chain past the nesting and length limits: temporaries
    for k in range(40):
        deep = tape.append("tanh", (deep,), SITE, tape.root) if k % 2 else \
            tape.append("mul", (deep, pool[1] if k % 4 else numbers[3]), SITE, tape.root)
    tape.name(deep, "deep")
    outputs = [(pool[-1], "out"), (rng.choice(pool), "dy/dx"), (numbers[7], "inf_out"), (pool[0], "x_out"),
               (pool[-1], "out"), (pool[-2], "v5")]
    return program_text(tape.finish_outputs(outputs), notes=notes, header="generated")


CASES = {f"sample_{path.stem}": (lambda path=path: sample_case(path)) for path in sorted(SAMPLES.glob("*.cg"))}
CASES |= {"hostile": hostile_case, "generated": generated_case}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_written_text_is_byte_identical_to_the_pinned_one(case):
    expected = (FILES / f"{case}.expected").read_bytes().decode("utf-8")
    assert CASES[case]() == expected


def test_every_pinned_file_has_its_case():
    assert sorted(p.stem for p in FILES.glob("*.expected")) == sorted(CASES)


def regenerate() -> None:
    FILES.mkdir(exist_ok=True)
    for case, make in sorted(CASES.items()):
        (FILES / f"{case}.expected").write_bytes(make().encode("utf-8"))
        print(f"wrote {FILES.name}/{case}.expected")


if __name__ == "__main__":
    regenerate()
