"""A node is named the same way in every message: one line, comments gone, clipped.
An expression written over several lines with a comment, 5 KB long, must not turn a
warning into a 5 KB block with a comment in it, whichever command reports it."""

from __future__ import annotations

import cgraph
from cgraph.errors import clip
from cgraph.ir.graph import one_line
from cgraph.render import frames

LONG = "+ 0." + "0" * 5000  # over 5 KB of source in one expression (one number: few nodes)
PROGRAM = f"param w = -1\ninput x = 1\ninput y = -3\nr = log(w*x  # a comment\n {LONG})\nloss = (r - y)^2\n"
UNNAMED = f"param w = -1\ninput x = 1\ninput y = -3\nloss = (log(w*x  # a comment\n {LONG}) - y)^2\n"
LOG_TEXT = "log(w*x  # a comment\n" + f" {LONG})"
SHORT = "'" + clip(one_line(LOG_TEXT)) + "' (r)"


def _log_node(graph) -> int:
    return next(i for i in range(len(graph)) if graph.ops[i] == "log")


def test_describe_is_one_clipped_line():
    graph = cgraph.parse(PROGRAM)
    assert len(LOG_TEXT) > 5000 and graph.text_of(_log_node(graph)) == LOG_TEXT
    assert graph.describe(_log_node(graph)) == SHORT
    assert "\n" not in SHORT and "#" not in SHORT and len(SHORT) < 80
    assert graph.describe(graph.inputs["x"]) == "the input 'x'"


def _mentions(text: str) -> list[str]:
    """The lines of `text` that name the log node: each must be short and comment-free."""
    lines = [line for line in text.splitlines() if "log(w*x" in line and " | " not in line]  # not the excerpt
    for line in lines:
        assert "comment" not in line and len(line) < 400, line[:200]
    return lines


def test_the_eval_warning_clips_the_node():
    warnings = cgraph.evaluate(cgraph.parse(PROGRAM)).warnings
    assert len(warnings) == 1 and f"{SHORT} is nan" in warnings[0]
    assert _mentions("\n".join(warnings))


def test_the_batch_warning_and_strict_error_clip_the_node(cg, tmp_path):
    program = tmp_path / "m.cg"
    program.write_text(PROGRAM)
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,-3\n2,-3\n")
    code, out, err = cg("eval", str(program), "--data", str(data))
    assert code == 0 and f"{SHORT} is inf or nan in 2 rows" in err and _mentions(err)
    code, out, err = cg("eval", str(program), "--data", str(data), "--strict")
    assert code == 1 and f"{SHORT} is inf or nan for the row at" in err and _mentions(err)


def test_the_train_error_clips_the_node(cg, tmp_path):
    program = tmp_path / "m.cg"
    program.write_text(PROGRAM)
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,-3\n2,-3\n")
    code, out, err = cg("train", str(program), "--data", str(data), "--epochs", "2")
    assert code == 1 and f"{SHORT} is the first node to go non-finite" in err and _mentions(err)


def test_render_captions_clip_the_node():
    graph = cgraph.parse(UNNAMED)
    captions = [s.caption for _, s in frames(graph, cgraph.evaluate(graph))]
    named = [c for c in captions if "log(w*x" in c]
    assert named and _mentions("\n".join(named)) == named
