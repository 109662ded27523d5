"""Reports and diagrams of large graphs stay linear in the graph's size: what a node
carries of its source text is bounded, so one expression nested thousands deep (each of
whose nodes spans most of it) does not make every node carry the whole file."""

from __future__ import annotations

import json
import random

import cgraph
from cgraph.errors import clip
from cgraph.views import report
from cgraph.views.node_text import TOOLTIP_TEXT_LIMIT
from cgraph.views.render import scene

DEPTH = 4_000  # nodes whose texts would total ~50 MB uncut


def nested(depth: int) -> str:
    text = "x"
    for k in range(depth):
        text = f"tanh({text})" if k % 2 else f"({text} + 0.1)"
    return "y = " + text


def test_json_and_csv_of_a_deep_expression_grow_linearly():
    ev = cgraph.evaluate(cgraph.parse(nested(DEPTH)), {"x": 0.5})
    nodes = report.to_dict(ev, show="all")["nodes"]
    assert max(len(node["expr"]) for node in nodes) == report.EXPR_LIMIT
    assert len(json.dumps(nodes)) < 1_500 * len(nodes)  # uncut: ~12,000 characters a node
    assert len(report.to_csv(ev, show="all")) < 1_500 * len(nodes)
    cut = max(nodes, key=lambda node: node["id"])["expr"]
    assert cut.endswith("...") and nested(DEPTH)[4:].startswith(cut[:-3])


def test_tooltips_of_a_deep_expression_are_cut():
    graph = cgraph.parse(nested(DEPTH))
    drawn = scene(graph, cgraph.evaluate(graph, {"x": 0.5}), max_render_nodes=10 * DEPTH)
    assert max(len(node.tooltip) for node in drawn.nodes) < TOOLTIP_TEXT_LIMIT + 20
    assert len(drawn.nodes) > DEPTH


def test_clipped_line_text_is_clip_of_the_whole_line_text():
    """The cheap reading equals clipping the whole text, also where comments, line breaks
    and continuations make the text's one-line form shorter than its source."""
    rng = random.Random(7)
    leaves = ["x", "(x + 1)", "tanh(w*x)", "0.5"]
    gaps = ["", " ", "  ", " # a comment\n", "\\\n", "\n", "# " + "c" * 900 + "\n"]
    for trial in range(30):
        body = "x"
        for _ in range(rng.randrange(20, 400)):
            body = f"({body}{rng.choice(gaps)} +{rng.choice(gaps)} {rng.choice(leaves)})"
        graph = cgraph.parse("y = " + body)
        for i in range(len(graph)):
            for limit in (60, 120, TOOLTIP_TEXT_LIMIT):
                assert graph.clipped_line_text(i, limit) == clip(graph.line_text_of(i), limit), (trial, i, limit)


def test_export_of_many_inputs_looks_each_gradient_root_up_in_a_set(monkeypatch):
    """value_and_grad has a root per input: looking each output up in the list of roots
    was quadratic (100,000 inputs: 53 s, of which 38 in that `in`)."""
    from cgraph.cli.export_cmd import module_code
    from cgraph.views import export_code

    looked_up = []

    class Roots(list):
        def __contains__(self, item: object) -> bool:
            looked_up.append(item)
            return super().__contains__(item)

    statements = export_code._Module._statements

    def counting(self, graph, roots, *args, **kwargs):
        return statements(self, graph, Roots(roots), *args, **kwargs)

    monkeypatch.setattr(export_code._Module, "_statements", counting)
    n = 300
    code = module_code(cgraph.parse("y = " + " + ".join(f"x{i}*x{i}" for i in range(n))), "numpy")
    assert "def value_and_grad" in code
    assert len(looked_up) < n


def test_the_inputs_mapping_is_built_once_and_read_only():
    """Training looks each param's node up by name: a mapping rebuilt per lookup made
    10,000 params take minutes (each lookup built all 10,000 entries)."""
    import pytest

    graph = cgraph.parse("param w = 1\ny = w*x + b")
    assert graph.inputs is graph.inputs
    assert list(graph.inputs) == ["w", "x", "b"]
    with pytest.raises(TypeError):
        graph.inputs["z"] = 0  # type: ignore[index]


def test_frames_are_built_one_at_a_time(monkeypatch):
    """There is a frame per node and each is the whole diagram: built all before the
    first was written, 200 loop steps held 2.4 GB (now ~30 MB)."""
    from cgraph.views import render
    from cgraph.views.render import frameset

    built = []
    build = frameset.build_scene

    def counting(*args, **kwargs):
        built.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(frameset, "build_scene", counting)
    graph = cgraph.parse("input h[0] = 0\nfor t in 1..20 { h[t] = tanh(0.5*h[t-1] + x[t]) }")
    ev = cgraph.evaluate(graph, {f"x[{t}]": 0.1 * t for t in range(1, 21)})
    frames = render.frames(graph, ev)
    label, first = next(frames)
    assert label.endswith("-forward") and len(built) <= 2
    assert sum(1 for _ in frames) > 40
