"""The interactive page (`cgraph render --format html`) in a real browser: Debian's
headless Chromium, driven by selenium, one browser for the whole session.

The page's JavaScript evaluator is checked against cgraph's own: the op table's JS
(each Op's `js`) op by op on a grid of arguments with the kinks, infs and nans, then
whole pages (every sample, and generated programs) through `window.cgraph.evaluate`.
Then what the page shows: a changed input rewrites the diagram's numbers to exactly what
`render` draws at the new inputs. And what it must not do: log an error, make a network
request, or run a program's text as markup or script.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cgraph
from cgraph import ops
from cgraph.views.page import op_table_js, page
from cgraph.views.render import options
from support import programs
from support.browser import start_chromium
from support.paths import SAMPLES
from support.samples import SAMPLE_CASES, SAMPLE_IDS

RELATIVE = 1e-12

# What the browser hands back: numbers as JSON, the ones JSON has none for as strings.
AS_JSON = ("(x) => JSON.stringify(x, (k, v) => typeof v !== 'number' ? v : !Number.isFinite(v) ? String(v) "
           ": Object.is(v, -0) ? '-0' : v)")
_BACK = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan, "-0": -0.0}


def from_browser(text: str):
    return json.loads(text, object_hook=lambda d: {k: _BACK.get(v, v) if isinstance(v, str) else v for k, v in d.items()})


def _number(v):
    return _BACK.get(v, v) if isinstance(v, str) else v


def to_browser(v: float) -> float | str:
    return v if math.isfinite(v) else ("nan" if v != v else "inf" if v > 0 else "-inf")


def same(js: float, py: float) -> bool:
    """Equal to RELATIVE, and nan and the infinities exactly."""
    if py != py or js != js:
        return py != py and js != js
    if math.isinf(py) or math.isinf(js):
        return js == py
    if js == 0 and py == 0:  # the sign of zero too: 1/g tells them apart
        return math.copysign(1.0, js) == math.copysign(1.0, py)
    return abs(js - py) <= RELATIVE * max(abs(js), abs(py))


# --- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every test here; Debian's packages, which `make test`
    installs (make system-packages). Missing ones fail the tests: they are not optional."""
    session = start_chromium(("browser", "performance"))
    session.set_script_timeout(30)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture(scope="session")
def pages(tmp_path_factory):
    return tmp_path_factory.mktemp("pages")


_count = itertools.count()


def write_page(directory: Path, graph, inputs: dict, title: str = "graph.cg", **opts) -> Path:
    ev = cgraph.evaluate(graph, inputs)
    path = directory / f"page{next(_count)}.html"
    path.write_text(page(graph, ev, options(**opts), title), encoding="utf-8")
    return path


def load(browser, path: Path) -> None:
    browser.get(path.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    requests = _requests(browser)
    assert requests <= {path.as_uri()}, f"the page asked for {requests - {path.as_uri()}}"


def _requests(browser) -> set[str]:
    """Every URL the browser asked for since the last look (its performance log)."""
    urls = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def js_evaluate(browser, inputs: dict) -> dict:
    text = browser.execute_script(f"return ({AS_JSON})(window.cgraph.evaluate(arguments[0]))",
                                  {k: to_browser(v) for k, v in inputs.items()})
    return from_browser(text)


def assert_same_evaluation(browser, graph, inputs: dict) -> None:
    ev = cgraph.evaluate(graph, inputs)
    got = js_evaluate(browser, inputs)
    assert same(got["value"], ev.value), (got["value"], ev.value)
    for name, i in graph.names.items():
        assert same(got["values"][name], ev.values[i]), (name, got["values"][name], ev.values[i])
    for name, g in ev.gradients.items():
        assert same(got["gradients"][name], g), (name, got["gradients"][name], g)


# --- the op table's JavaScript, op by op -------------------------------------------------

GRID = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 3.0, 0.1, 1e-300, 1e300, 710.0, -745.5, math.inf, -math.inf, math.nan, 5e-324]


def test_every_op_has_its_javascript():
    for op in ops.OPS.values():
        assert op.js is not None and len(op.js) == 2, f"{op.name}: no js=(forward, local) on its table entry"
        assert all(isinstance(text, str) and "=>" in text for text in op.js), op.name


def _arguments(op: ops.Op) -> list[tuple[float, ...]]:
    if op.arity == 1:
        return [(a,) for a in GRID]
    if op.arity == 2:
        return list(itertools.product(GRID, GRID))
    return [(a,) for a in GRID] + list(itertools.product(GRID[:8], GRID[:8], GRID[8:]))


def test_the_javascript_op_table_gives_pythons_numbers(browser):
    """Every op's JS forward and local derivatives against its Python ones on a grid with
    0, -0, kinks, ties, overflow, inf and nan: 1/0 = inf, log(-1) = nan, pow's C
    conventions, relu'(0) = abs'(0) = 0, max/min 0.5/0.5 on ties."""
    browser.get("about:blank")
    cases = {name: _arguments(op) for name, op in ops.OPS.items()}
    script = op_table_js(sorted(ops.OPS)) + f"""
        const cases = arguments[0];
        const out = {{}};
        for (const [name, list] of Object.entries(cases)) {{
          out[name] = list.map((args) => {{
            const xs = args.map((x) => typeof x === "string" ? Number(x === "inf" ? Infinity : x === "-inf" ? -Infinity : NaN) : x);
            const o = OPS[name].forward(...xs);
            return [o, OPS[name].local(o, ...xs)];
          }});
        }}
        return ({AS_JSON})(out);"""
    got = json.loads(browser.execute_script(script, {k: [[to_browser(x) for x in a] for a in v] for k, v in cases.items()}))
    wrong = []
    for name, op in ops.OPS.items():
        for args, (out, local) in zip(cases[name], got[name]):
            py_out = op.forward(*args)
            py_local = op.local(py_out, *args)
            js_local = [_number(d) for d in local]
            if not same(_number(out), py_out) or len(js_local) != len(py_local) or \
                    not all(same(j, p) for j, p in zip(js_local, py_local)):
                wrong.append((name, args, (out, local), (py_out, py_local)))
    assert not wrong, wrong[:10]


# --- whole pages against cgraph.evaluate -------------------------------------------------

SPECIAL = [0.0, -1.0, 2.5, math.inf, -math.inf, math.nan, 1e300]


@pytest.mark.parametrize(("name", "inputs", "args"), SAMPLE_CASES, ids=SAMPLE_IDS)
def test_every_sample_evaluates_as_cgraph_does(browser, pages, name, inputs, args):
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    load(browser, write_page(pages, graph, inputs))
    assert_same_evaluation(browser, graph, inputs)
    start = cgraph.evaluate(graph, inputs).inputs
    for leaf in list(graph.inputs)[:6]:
        for value in SPECIAL:
            assert_same_evaluation(browser, graph, {**start, leaf: value})


INPUT_VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 3.0, 0.1, 1e300, math.inf, -math.inf, math.nan])


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=programs.programs(), data=st.data())
def test_generated_programs_evaluate_as_cgraph_does(browser, pages, text, data):
    graph = cgraph.parse(text)
    inputs = {name: data.draw(INPUT_VALUES, label=name) for name in graph.inputs}
    load(browser, write_page(pages, graph, inputs))
    assert_same_evaluation(browser, graph, inputs)
    assert page_lines(browser) == explain_lines(graph, inputs, 4)  # and its steps read as explain's


# --- what the page shows -----------------------------------------------------------------

DIAGRAM_TEXT = """() => Array.from(document.querySelectorAll("#diagram g.edge, #diagram g.node"))
  .map((g) => [g.id, Array.from(g.querySelectorAll("text")).map((t) => t.textContent)])"""


def diagram_text(browser) -> list:
    return browser.execute_script(f"return ({DIAGRAM_TEXT})()")


@pytest.mark.parametrize(("name", "start", "change", "opts"), [
    ("intro", {"x": 1.0, "y": 3.0, "z": -3.0}, {"x": 2.0, "z": 0.5}, {}),
    ("neuron", {}, {"w": -1.5, "x1": math.inf}, {"annotate": "values,grads,local"}),
    ("rnn", {}, {"w": 1.25, "u": -0.5}, {"collapse": True, "precision": 6}),
], ids=["intro", "neuron-local", "rnn-collapsed"])
def test_set_input_redraws_the_numbers_render_draws(browser, pages, name, start, change, opts):
    """After setInput the diagram's every text is what the page drawn at the new inputs
    shows: the numbers Python's render writes, in its format."""
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    start = {**cgraph.evaluate(graph, start).inputs, **start}
    moved = {**start, **change}
    load(browser, write_page(pages, graph, moved, **opts))
    expected = diagram_text(browser)
    load(browser, write_page(pages, graph, start, **opts))
    before = diagram_text(browser)
    for leaf, value in change.items():
        browser.execute_script("window.cgraph.setInput(arguments[0], arguments[1])", leaf, to_browser(value))
    assert diagram_text(browser) == expected
    assert before != expected
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))
    ev = cgraph.evaluate(graph, moved)
    assert same(state["value"], ev.value)
    assert {**state["inputs"], **state["params"]} == pytest.approx(ev.inputs, nan_ok=True)
    assert browser.find_element("id", "cg-value").text == cgraph.views.numbers.short_number(ev.value)


def test_typing_into_a_field_or_moving_a_slider_recomputes(browser, pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    field = browser.find_element(By.CSS_SELECTOR, 'input[type=text][data-name="x"]')
    field.clear()
    field.send_keys("-2.5")
    shown = wait_for_text(browser, "cg-value", "-1.5")  # (-2.5 + 3) * -3, drawn at the next frame
    row = browser.find_element(By.CSS_SELECTOR, '#cg-gradients tr[data-name="z"] td.grad')
    assert row.text == "0.5"
    slider = browser.find_element(By.CSS_SELECTOR, 'input[type=range][data-name="y"]')
    slider.send_keys(Keys.ARROW_RIGHT)  # the keyboard moves a slider: y = 3 + 0.06
    wait_for_text(browser, "cg-value", "-1.68")
    field.clear()
    field.send_keys("oops")
    assert field.get_attribute("aria-invalid") == "true"
    assert shown.text == "-1.68"


def test_a_field_that_is_no_number_says_so_in_the_page(browser, pages):
    """Text that is no number leaves the numbers of the last value that was one: the page
    says so in words beside the field (not only a red border), and a number clears it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    field = browser.find_element(By.CSS_SELECTOR, 'input[type=text][data-name="x"]')
    field.clear()
    field.send_keys("1,5")  # "1" is a number (drawn), "1," and "1,5" are not
    message = browser.find_element("id", field.get_attribute("aria-describedby"))
    assert message.is_displayed() and message.text.startswith('"1,5" is not a number'), message.text
    assert message.text.endswith("the page still shows x = 1")
    assert browser.find_element("id", "cg-value").text == "-12"  # (1 + 3) * -3: what the message says
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)  # as a user empties it (clear() fires no input event)
    assert message.text.startswith("empty") and field.get_attribute("aria-invalid") == "true"
    field.send_keys("2")
    wait_for_text(browser, "cg-value", "-15")
    assert not message.is_displayed() and field.get_attribute("aria-invalid") == "false"


def test_a_key_on_the_slider_moves_an_extreme_value_one_step(browser, pages):
    """The slider's range is finite and fits the value: near 1e308 its ends overflowed to
    inf, the browser fell back to 0..100, and a key moved x from -1e308 to 1; after 1e300
    a value of 1e-3 was kept on a grid of 4e298 steps."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    field = browser.find_element(By.CSS_SELECTOR, 'input[type=text][data-name="x"]')
    slider = browser.find_element(By.CSS_SELECTOR, 'input[type=range][data-name="x"]')
    for typed, low, high in (("-1e308", -1e308, -0.95e308), ("1e300", 1e300, 1.05e300), ("1e-3", 1e-3, 0.1)):
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(typed)
        assert all(math.isfinite(float(slider.get_attribute(k))) for k in ("min", "max", "step"))
        slider.send_keys(Keys.ARROW_RIGHT)
        x = browser.execute_script("return window.cgraph.state().inputs.x")
        assert low < x < high, (typed, x)
        assert float(field.get_attribute("value")) == x


def test_training_fields_that_are_no_numbers_say_so(browser, pages):
    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    load(browser, write_page(pages, graph, {}))
    rate = browser.find_element("id", "cg-lr")
    rate.clear()
    rate.send_keys("fast")
    browser.find_element("id", "cg-step").click()
    said = browser.find_element("id", rate.get_attribute("aria-describedby"))
    assert said.is_displayed() and "lr must be a number > 0" in said.text
    assert browser.execute_script("return window.cgraph.state().step") == 0
    rate.clear()
    rate.send_keys("0.01")
    steps = browser.find_element("id", "cg-steps")
    steps.clear()
    steps.send_keys("1000000000")  # run in one go, the page frozen meanwhile: it hung
    browser.find_element("id", "cg-run").click()
    said = browser.find_element("id", steps.get_attribute("aria-describedby"))
    assert said.is_displayed() and "from 0 to 100000" in said.text
    assert browser.execute_script("return window.cgraph.state().step") == 0


def test_minus_zero_keeps_its_sign_in_the_field_and_the_readout(browser, pages):
    """-0 is a value of its own (1/-0 = -inf): the field and the readout write it as
    cgraph eval's table does, where String(-0) and the diagram's numbers write 0."""
    from selenium.webdriver.common.by import By

    graph = cgraph.parse("input x = 1\ny = 1/x\n")
    load(browser, write_page(pages, graph, {"x": 1.0}))
    browser.execute_script("window.cgraph.setInput('x', '-0')")
    field = browser.find_element(By.CSS_SELECTOR, 'input[type=text][data-name="x"]')
    assert field.get_attribute("value") == "-0"
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, '#cg-gradients tr[data-name="x"] td')]
    ev = cgraph.evaluate(graph, {"x": -0.0})
    short = cgraph.views.numbers.short_number
    assert cells[1:] == [short(-0.0), short(ev.gradients["x"])] == ["-0", "-inf"]
    assert browser.find_element("id", "cg-value").text == short(ev.value) == "-inf"
    browser.execute_script("window.cgraph.setInput('x', 0)")  # 0 after -0 is a change to write
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, '#cg-gradients tr[data-name="x"] td')]
    assert cells[1:] == ["0", "-inf"] and browser.find_element("id", "cg-value").text == "inf"


def test_a_very_long_name_leaves_the_numbers_in_sight(browser, pages, tmp_path):
    """A 3,000-character name wraps or is cut in its column (whole in its tooltip): the
    page does not grow sideways, and its value and gradient stay beside it."""
    from selenium.webdriver.common.by import By

    name = "a" * 3000
    path = tmp_path / "long.cg"
    path.write_text(f"input {name} = 2\ninput b = 1\ny = {name} * b\n", encoding="utf-8")
    graph = cgraph.load(str(path))
    load(browser, write_page(pages, graph, {}))
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    column = browser.execute_script("return document.getElementById('diagram').getBoundingClientRect().left")
    row = browser.find_element(By.CSS_SELECTOR, '#cg-gradients tr[data-name="b"]')
    for cell in browser.find_elements(By.CSS_SELECTOR, '#cg-gradients tr:nth-child(2) td'):
        assert cell.rect["x"] + cell.rect["width"] <= column, cell.text[:20]
    assert [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")] == ["b", "1", "2"]
    label = browser.find_element(By.CSS_SELECTOR, "#controls label")
    assert label.rect["height"] < 100 and label.get_attribute("title") == name


def wait_for_text(browser, element_id: str, text: str):
    """The element, once it shows `text` (the controls redraw at the next animation frame)."""
    from selenium.webdriver.support.ui import WebDriverWait

    element = browser.find_element("id", element_id)
    WebDriverWait(browser, 5).until(lambda _: element.text == text, f"#{element_id} never showed {text}: {element.text}")
    return element


def test_a_number_is_written_as_python_writes_it(browser, pages):
    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    numbers = [0.125, 1.0625, 2.5, 0.5, 123456.0, 1e-5, -0.0001234567, 1e21, 9.9999, 99999.5, 5e-324, 1.7976931348623157e308,
               -0.0, 0.30000000000000004, 1 / 3, 2 / 3, 1e16, 12345.5, 0.00015]
    for precision in (1, 2, 4, 6, 10, 17):
        got = browser.execute_script("return arguments[0].map((v) => window.cgraph.formatNumber(v, arguments[1]))",
                                     numbers, precision)
        assert got == [cgraph.views.numbers.number(v, precision) for v in numbers], precision


# --- what it must not do -----------------------------------------------------------------

HOSTILE = "</script><img src=x onerror=\"window.pwned=1\"> <!-- \"q\" 'q' \\back ${window.pwned=2} \u2028"


def test_hostile_text_is_shown_as_text_and_runs_nothing(browser, pages, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    text = f"# {HOSTILE}\ninput x  # {HOSTILE}\ny = x * 2  # </script>\noutput y\n"
    path = tmp_path / f"{HOSTILE.replace('/', '_')}.cg"
    path.write_text(text, encoding="utf-8")
    graph = cgraph.load(str(path))
    target = write_page(pages, graph, {"x": 1.0}, title=path.name)
    load(browser, target)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text
    assert browser.execute_script("return window.pwned === undefined && document.querySelectorAll('img').length === 0")
    assert browser.execute_script("return document.querySelector('h1').textContent") == path.name
    assert browser.title == f"{path.name} · cgraph"
    assert js_evaluate(browser, {"x": 4.0})["value"] == 8.0  # the page's own script still runs


def test_the_rnn_samples_page_is_small(pages):
    graph = cgraph.load(str(SAMPLES / "rnn.cg"))
    assert write_page(pages, graph, {}).stat().st_size <= 300_000


def test_the_page_forbids_the_network(pages):
    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    text = write_page(pages, graph, {}).read_text(encoding="utf-8")
    policy = text.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "default-src 'none'" in policy and "'unsafe-eval'" not in policy
    assert "script-src 'sha256-" in policy
    assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text


# --- the command -------------------------------------------------------------------------


def test_render_writes_the_page_by_extension_or_format(cg, browser, tmp_path):
    res = cg("render", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "-o", tmp_path / "intro.html")
    assert res.code == 0, res.err
    assert f"wrote {tmp_path / 'intro.html'}" in res.err
    load(browser, tmp_path / "intro.html")
    assert js_evaluate(browser, {})["value"] == -12.0
    res = cg("render", SAMPLES / "neuron.cg", "--format", "html", "-o", "-")
    assert res.code == 0 and res.out.startswith("<!DOCTYPE html>")


def test_ten_thousand_character_names_are_drawn(cg, browser, tmp_path):
    """A node's tooltip is `name = expression`: with a 10,000-character name it passed
    Graphviz's 16,384-byte limit on a quoted string, and render failed ("Graphviz
    failed: String starting: ..."). Tooltips are cut; the names stay whole in the labels."""
    name = "a" * 10_000
    source = tmp_path / "long.cg"
    source.write_text(f"input {name} = 2\ninput b = 1\n{name}2 = {name} * b\ny = {name}2 + b\n", encoding="utf-8")
    for target in ("long.html", "long.svg"):
        res = cg("render", source, "-o", tmp_path / target)
        assert res.code == 0, res.err[-300:]
    load(browser, tmp_path / "long.html")
    assert js_evaluate(browser, {name: 3.0})["value"] == 4.0


def test_an_input_without_a_value_starts_at_1_and_says_so(cg, browser, tmp_path):
    res = cg("render", SAMPLES / "intro.cg", "--x", "2", "-o", tmp_path / "p.html")
    assert res.code == 0, res.err
    load(browser, tmp_path / "p.html")
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))
    assert state["inputs"] == {"x": 2.0, "y": 1.0, "z": 1.0} and state["value"] == 3.0
    notes = browser.execute_script("return Array.from(document.querySelectorAll('#controls .note')).map((p) => p.textContent)")
    assert notes == ["y had no value: it starts at 1", "z had no value: it starts at 1"]


@pytest.mark.parametrize("option", [["--frames", "f"], ["--backward"], ["--blank", "grads"]])
def test_what_the_page_cannot_redraw_is_refused(cg, tmp_path, option):
    res = cg("render", SAMPLES / "intro.cg", "--x", "1", "--y", "3", "--z", "-3", "-o", tmp_path / "p.html", *option)
    assert res.code == 2 and option[0] in res.err and "html page" in res.err
    assert not (tmp_path / "p.html").exists()


def test_an_op_without_javascript_is_a_clear_error(cg, tmp_path):
    leaky = ops.Op("leaky", "LReLU", 1, lambda a: a if a > 0 else 0.1 * a, lambda o, a: (1.0 if a > 0 else 0.1,),
                   ("1 if a > 0 else 0.1",))
    ops.register(leaky)
    try:
        program = tmp_path / "l.cg"
        program.write_text("input x\ny = leaky(x)\noutput y\n", encoding="utf-8")
        res = cg("render", program, "--x", "1", "-o", tmp_path / "l.html")
    finally:
        ops.unregister("leaky")
    assert res.code == 1 and "the page cannot compute leaky" in res.err and "Traceback" not in res.err


# --- training ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "steps", "lr"), [("neuron", 5, 0.1), ("mlp", 20, 0.05), ("logreg", 3, 0.5)])
def test_train_steps_move_the_params_as_cgraph_train_does(cg, browser, pages, tmp_path, name, steps, lr):
    res = cg("train", SAMPLES / f"{name}.cg", "--lr", str(lr), "--epochs", str(steps), "--save", tmp_path / "fit.json")
    assert res.code == 0, res.err
    saved = json.loads((tmp_path / "fit.json").read_text())
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    load(browser, write_page(pages, graph, {}))
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.trainStep(arguments[0], arguments[1]))",
                                                steps, lr))
    assert state["step"] == steps and len(state["history"]) == steps + 1
    for param, value in saved["params"].items():
        assert same(state["params"][param], value), (param, state["params"][param], value)
    assert same(state["value"], saved["loss_at_params"])
    assert same(state["history"][-2], saved["epoch_loss"])  # the loss of the last step, taken before it


def test_the_training_buttons_and_keys(browser, pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    load(browser, write_page(pages, graph, {}))
    w = browser.find_element(By.CSS_SELECTOR, 'input[type=text][data-name="w"]')
    rate = browser.find_element("id", "cg-lr")
    rate.clear()
    rate.send_keys("0.1")
    browser.find_element("id", "cg-step").click()
    after_one = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))
    assert after_one["step"] == 1 and w.get_attribute("value") == repr(after_one["params"]["w"])
    assert browser.find_element("id", "cg-step-text").text.startswith("step 1: y = ")
    browser.find_element("id", "cg-step").send_keys(Keys.ENTER)  # the keyboard reaches it too
    steps = browser.find_element("id", "cg-steps")
    steps.clear()
    steps.send_keys("10")
    browser.find_element("id", "cg-run").click()
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))
    assert state["step"] == 12 and len(state["history"]) == 13
    assert browser.execute_script("return document.querySelector('#cg-history polyline').getAttribute('points').split(' ').length") == 13
    browser.find_element("id", "cg-reset").click()
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))
    assert state["step"] == 0 and state["params"] == {"w": 0.5, "b": 0.1} and w.get_attribute("value") == "0.5"
    rate.clear()
    rate.send_keys("-1")
    browser.find_element("id", "cg-step").click()
    assert rate.get_attribute("aria-invalid") == "true"
    assert from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.state())"))["step"] == 0


def test_a_graph_without_params_has_no_training_panel(browser, pages):
    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    assert browser.execute_script("return document.getElementById('training') === null")


# --- stepping through the passes ---------------------------------------------------------


def explain_lines(graph, inputs: dict, precision: int) -> list[list[str]]:
    """`cgraph explain`'s lines, step by step (every step, none left out)."""
    from cgraph.views import explain

    ev = cgraph.evaluate(graph, inputs)
    exp = explain.steps(ev, precision=precision, max_steps=10 ** 6)
    return [[line for _, line in explain.lines(explain.Explanation(exp.output, [step], 0, precision))] for step in exp.steps]


def page_lines(browser) -> list[list[str]]:
    count = browser.execute_script("return window.cgraph.state().positions")
    lines = [browser.execute_script("return window.cgraph.stepTo(arguments[0]).explanation", k) for k in range(1, count + 1)]
    browser.execute_script("window.cgraph.stepTo(0)")
    return lines


@pytest.mark.parametrize(("name", "inputs", "args"), SAMPLE_CASES, ids=SAMPLE_IDS)
def test_every_step_reads_as_cgraph_explain_at_the_pages_inputs(browser, pages, name, inputs, args):
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    load(browser, write_page(pages, graph, inputs))
    assert page_lines(browser) == explain_lines(graph, inputs, 4)
    leaf = next(iter(graph.inputs))
    moved = {**cgraph.evaluate(graph, inputs).inputs, leaf: -0.25}
    browser.execute_script("window.cgraph.setInput(arguments[0], arguments[1])", leaf, -0.25)
    assert page_lines(browser) == explain_lines(graph, moved, 4)


def test_the_step_buttons_and_keys_highlight_the_step(browser, pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    inputs = {"x": 1.0, "y": 3.0, "z": -3.0}
    load(browser, write_page(pages, graph, inputs, precision=6))
    expected = explain_lines(graph, inputs, 6)
    text = browser.find_element("id", "cg-explain")
    current = "return Array.from(document.querySelectorAll('.cg-current, .cg-current-edge')).map((g) => g.id).sort()"
    browser.find_element("id", "cg-next").click()
    assert text.text == "\n".join(expected[0])  # 1. p = x + y = 1 + 3 = 4
    p = graph.names["p"]
    highlighted = browser.execute_script(current)
    assert f"cg-n{p}" in highlighted and len(highlighted) == 3  # p and the edges from x and y
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert text.text == "\n".join(expected[2])  # the backward pass's first step
    body.send_keys(Keys.ARROW_LEFT)
    assert text.text == "\n".join(expected[1])
    assert browser.find_element("id", "cg-position").text == f"step 2 of {len(expected)}, forward pass"
    browser.find_element("id", "cg-first").click()
    assert browser.execute_script(current) == []
    browser.find_element("id", "cg-prev").click()  # nothing before the start
    assert browser.execute_script("return window.cgraph.state().position") == 0
    body.send_keys(" ")  # play: one step every 0.9 s
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 5).until(lambda b: b.execute_script("return window.cgraph.state().position") >= 1)
    body.send_keys(" ")  # pause
    paused = browser.execute_script("return window.cgraph.state().position")
    assert browser.find_element("id", "cg-play").text == "\u25b6 play"
    assert browser.execute_script("return window.cgraph.state().position") == paused


# --- inspecting a node -------------------------------------------------------------------


def _path_count(graph, node: int, out: int) -> int:
    """How many paths lead from node to out (a count over the tape, no enumeration)."""
    count = [0] * len(graph)
    count[out] = 1
    for v in range(out, -1, -1):
        for a in graph.args[v]:
            count[a] += count[v]
    return count[node]


def test_inspecting_a_node_shows_its_chain_rule(browser, pages):
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    x, p = graph.names["x"], graph.names["p"]
    browser.find_element("id", f"cg-n{p}").click()
    assert browser.find_element("id", "cg-inspect").text.splitlines() == [
        "p = 4,  dg/dp = -3",
        "local derivatives:",
        "  dp/dx = 1 = 1",
        "  dp/dy = 1 = 1",
        "chain rule: 1 path to g, each the product of the local derivatives along it:",
        "  p \u2192 g: -3 = -3",
        "  sum over the paths = dg/dp = -3",
    ]
    node = browser.find_element("id", f"cg-n{x}")  # the keyboard reaches every node
    browser.execute_script("arguments[0].focus()", node)
    node.send_keys(Keys.ENTER)
    assert browser.find_element("id", "cg-inspect").text.splitlines()[-2:] == ["  x \u2192 p \u2192 g: 1 \u00b7 -3 = -3",
                                                                               "  sum over the paths = dg/dx = -3"]
    browser.execute_script("window.cgraph.setInput('z', 2)")  # the inspector follows the inputs
    assert browser.find_element("id", "cg-inspect").text.splitlines()[-1] == "  sum over the paths = dg/dx = 2"


@pytest.mark.parametrize("name", ["neuron", "rnn", "mlp"])
def test_the_paths_add_up_to_the_gradient(browser, pages, name):
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    ev = cgraph.evaluate(graph, {})
    load(browser, write_page(pages, graph, {}))
    for leaf, i in graph.inputs.items():
        lines = browser.execute_script("return window.cgraph.inspect(arguments[0])", i)
        count = _path_count(graph, i, ev.output)
        assert lines[0].endswith(" = " + cgraph.views.numbers.number(ev.grads[i], 4)), (leaf, lines[0])
        if count == 0:
            assert lines[-1].endswith("does not depend on it: its gradient is 0")
            continue
        assert f"chain rule: {count} path" in "\n".join(lines), (leaf, count)
        shown = [line for line in lines if line.startswith("  ") and "\u2192" in line]
        assert len(shown) == min(count, 50)


# --- --heat ------------------------------------------------------------------------------

HEAT_STATE = """() => [
  Array.from(document.querySelectorAll("#diagram g.edge")).map((g) => {
    const path = g.querySelector("path");
    return [g.id, path.getAttribute("stroke"), Number(path.getAttribute("stroke-width") || 1)];
  }),
  Array.from(document.querySelector("#diagram svg > g.graph").children).filter((el) => el.tagName === "text").map((t) => t.textContent),
]"""


@pytest.mark.parametrize(("name", "change", "opts"), [
    ("neuron", {"w": -1.5, "x1": 3.0}, {"heat": True}),
    ("intro", {"x": 2.0, "z": 0.001}, {"heat": True, "theme": "dark"}),
    ("rnn", {"w": 1.25, "u": -0.5}, {"heat": True, "heat_scale": "absolute", "collapse": True}),
    ("mlp", {}, {"heat": True}),
    ("intro", {"x": math.inf, "z": -0.0}, {"heat": True}),
    ("neuron", {"w": math.nan, "x2": 1e308}, {"heat": True}),
    ("neuron", {"w": 1e308, "x1": -0.0}, {"heat": True, "heat_scale": "absolute"}),
], ids=["neuron", "intro-dark", "rnn-absolute-collapsed", "mlp", "intro-inf", "neuron-nan", "neuron-huge-absolute"])
def test_heat_colours_follow_the_inputs_as_render_draws_them(browser, pages, name, change, opts):
    graph = cgraph.load(str(SAMPLES / f"{name}.cg"))
    start = {"x": 1.0, "y": 3.0, "z": -3.0} if name == "intro" else {}
    start = {**cgraph.evaluate(graph, start).inputs, **start}
    change = change or {next(iter(graph.inputs)): -2.0}
    load(browser, write_page(pages, graph, {**start, **change}, **opts))
    expected = browser.execute_script(f"return ({HEAT_STATE})()")
    load(browser, write_page(pages, graph, start, **opts))
    before = browser.execute_script(f"return ({HEAT_STATE})()")
    for leaf, value in change.items():
        browser.execute_script("window.cgraph.setInput(arguments[0], arguments[1])", leaf, to_browser(value))
    got = browser.execute_script(f"return ({HEAT_STATE})()")
    assert got[0] == expected[0]  # the edges' colours and widths
    # the legend's numbers: where render draws one cell, the page's middle cell alone keeps one
    assert [text for text in got[1] if text] == expected[1]
    assert before != expected


def test_heat_colours_reach_a_large_diagrams_parts_out_of_the_document(browser, pages):
    """The edges out of the document while the inputs change are coloured as a page drawn
    at the new inputs colours them (seen when printing puts them back)."""
    graph = _loop_graph(120)
    start = cgraph.evaluate(graph, {}).inputs
    whole_heat = f"() => {{ window.dispatchEvent(new Event('beforeprint')); const h = ({HEAT_STATE})(); " \
                 "window.dispatchEvent(new Event('afterprint')); return h; }"
    load(browser, write_page(pages, graph, {**start, "w": 0.5}, heat=True))
    expected = browser.execute_script(f"return ({whole_heat})()")
    load(browser, write_page(pages, graph, start, heat=True))
    assert browser.execute_script("return document.getElementById('cg-n0') !== null && document.getElementById('cg-e300') === null")
    before = browser.execute_script(f"return ({whole_heat})()")
    browser.execute_script("window.cgraph.setInput('w', 0.5)")
    assert browser.execute_script(f"return ({whole_heat})()") == expected
    assert before != expected


def test_names_that_are_javascripts_own_words_are_plain_names(browser, pages):
    """A node may be named __proto__, constructor or toString: in the page they are keys
    like any other, not the objects' machinery."""
    text = ("input __proto__\ninput constructor\nparam toString = 2\nhasOwnProperty = __proto__ * constructor\n"
            "y = hasOwnProperty + toString\noutput y\n")
    graph = cgraph.parse(text)
    inputs = {"__proto__": 3.0, "constructor": -1.0}
    load(browser, write_page(pages, graph, inputs))
    assert_same_evaluation(browser, graph, {**inputs, "toString": 0.5})
    state = from_browser(browser.execute_script(f"return ({AS_JSON})(window.cgraph.setInput('__proto__', 4))"))
    assert state["inputs"] == {"__proto__": 4.0, "constructor": -1.0} and state["params"] == {"toString": 2.0}
    assert state["value"] == -2.0 and state["gradients"] == {"__proto__": -1.0, "constructor": 4.0, "toString": 1.0}


def test_a_new_op_with_javascript_needs_no_other_edit(browser, pages):
    """Registering an op with its `js` is all the page needs to compute it."""
    leaky = ops.Op("leaky", "LReLU", 1, lambda a: a if a > 0 else 0.1 * a, lambda o, a: (1.0 if a > 0 else 0.1,),
                   ("1 if a > 0 else 0.1",), js=("(a) => a > 0 ? a : 0.1 * a", "(o, a) => [a > 0 ? 1 : 0.1]"))
    ops.register(leaky)
    try:
        graph = cgraph.parse("input x\ny = leaky(x) * x\noutput y\n")
        load(browser, write_page(pages, graph, {"x": 2.0}))
        for x in (2.0, -3.0, 0.0, math.inf, math.nan):
            assert_same_evaluation(browser, graph, {"x": x})
    finally:
        ops.unregister("leaky")


# --- keyboard, themes, print ---------------------------------------------------------------


def _tab_through(browser, presses: int) -> list[str]:
    """What Tab focuses, press after press, from the top of the page: an id, or a node's
    `node:<id>`, with whether its focus is drawn (an outline, or a node's thicker stroke)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    seen = []
    for _ in range(presses):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        seen.append(browser.execute_script("""
            const el = document.activeElement;
            const node = el.closest && el.closest("g.node");
            let shown;
            if (node) {
              // a ring on its shape, or (an input is a name without one) its text in the focus colour
              const shape = node.querySelector(":scope > ellipse, :scope > polygon, :scope > path");
              const text = getComputedStyle(node.querySelector("text"));
              const focus = getComputedStyle(document.documentElement).getPropertyValue("--focus").trim();
              const probe = document.createElement("span");
              probe.style.color = focus;
              document.body.append(probe);
              const focusColour = getComputedStyle(probe).color;
              probe.remove();
              shown = (shape !== null && parseFloat(getComputedStyle(shape).strokeWidth) >= 3) ||
                      (text.textDecorationLine.includes("underline") && text.fill === focusColour);
            } else {
              const style = getComputedStyle(el);
              shown = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
            }
            return (node ? "node:" + node.id : (el.id || el.getAttribute("data-name") || el.tagName)) + (shown ? "" : " (no focus shown)");
        """))
    return seen


def test_tab_reaches_every_control_and_node_with_focus_shown(browser, pages):
    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    load(browser, write_page(pages, graph, {}))
    controls = len(graph.inputs) * 2 + 5 + 5  # field and slider each; 5 step buttons; lr, step, reset, run, steps
    nodes = browser.execute_script("return document.querySelectorAll('#diagram g.node[tabindex]').length")
    seen = _tab_through(browser, controls + nodes)
    hidden = [what for what in seen if what.endswith("(no focus shown)")]
    assert not hidden, hidden
    for expected in ("cg-in-0", "w", "cg-lr", "cg-step", "cg-reset", "cg-run", "cg-steps", "cg-first", "cg-prev",
                     "cg-play", "cg-next", "cg-fit"):
        assert expected in seen, (expected, seen)
    reached = {what for what in seen if what.startswith("node:")}
    assert len(reached) == nodes, (len(reached), nodes)
    for i in range(len(graph.ops)):
        node = browser.find_elements("id", f"cg-n{i}")
        if node:
            assert node[0].get_attribute("role") == "button" and node[0].get_attribute("aria-label").startswith("inspect ")


def test_enter_or_space_on_a_node_reached_by_tab_inspects_it(browser, pages):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    graph = cgraph.load(str(SAMPLES / "intro.cg"))
    load(browser, write_page(pages, graph, {"x": 1.0, "y": 3.0, "z": -3.0}))
    seen = _tab_through(browser, 40)
    first = next(what for what in seen if what.startswith("node:"))
    # Tab on to the first node, then Enter; then Tab to the next node and Space
    browser.execute_script("document.getElementById(arguments[0]).focus()", first[len("node:"):])
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    index = int(first[len("node:cg-n"):])
    assert browser.find_element("id", "cg-inspect").text.startswith(browser.execute_script(
        "return window.cgraph.inspect(arguments[0])[0]", index))
    browser.execute_script("document.getElementById('cg-inspect').textContent = ''")
    ActionChains(browser).send_keys(Keys.TAB).send_keys(Keys.SPACE).perform()
    shown = browser.find_element("id", "cg-inspect").text
    assert shown and "chain rule" in shown or "the output" in shown, shown
    assert browser.execute_script("return window.cgraph.state().position") == 0  # space on a node is not "play"


def _luminance(colour: str) -> float:
    r, g, b = (int(x) / 255 for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_both_themes_are_readable(browser, pages, theme):
    """WCAG's contrast: 4.5 for text (the faint hints too), 3 for the focus ring."""
    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    load(browser, write_page(pages, graph, {}, theme=theme))
    colours = browser.execute_script("""
        const style = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
        const root = getComputedStyle(document.documentElement);
        return {bg: style("body", "backgroundColor"), fg: style("body", "color"), faint: style(".hint", "color"),
                field: style("#cg-in-0", "color"), button: style("#cg-step", "color"),
                buttonBg: style("#cg-step", "backgroundColor"), focus: root.getPropertyValue("--focus").trim()};""")
    dark = _luminance(colours["bg"]) < 0.2
    assert dark == (theme == "dark"), colours
    for key in ("fg", "faint", "field", "button"):
        assert _contrast(colours[key], colours["bg"]) >= 4.5, (key, colours)
    focus = colours["focus"]
    focus_rgb = f"rgb({int(focus[1:3], 16)}, {int(focus[3:5], 16)}, {int(focus[5:7], 16)})"
    assert _contrast(focus_rgb, colours["bg"]) >= 3, colours


def test_the_printed_page_has_the_diagram_and_numbers_and_no_controls(browser, pages):
    graph = cgraph.load(str(SAMPLES / "neuron.cg"))
    load(browser, write_page(pages, graph, {}))
    shown = """
        const visible = (el) => el !== null && getComputedStyle(el).display !== "none" && el.getClientRects().length > 0;
        return {controls: visible(document.getElementById("controls")),
                buttons: Array.from(document.querySelectorAll("button")).filter(visible).length,
                sliders: Array.from(document.querySelectorAll("input")).filter(visible).length,
                diagram: visible(document.querySelector("#diagram svg")),
                readout: visible(document.getElementById("cg-gradients")) && visible(document.getElementById("cg-value")),
                numbers: document.querySelector("#diagram svg").textContent.includes(document.getElementById("cg-value").textContent.slice(0, 4))};"""
    on_screen = browser.execute_script(shown)
    assert on_screen["controls"] and on_screen["buttons"] and on_screen["sliders"]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = browser.execute_script(shown)
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert printed == {"controls": False, "buttons": 0, "sliders": 0, "diagram": True, "readout": True,
                       "numbers": on_screen["numbers"]}, printed


def test_a_large_diagram_drawn_lazily_ends_up_with_every_number(browser, pages):
    """A large diagram writes the numbers out of sight after a drag settles (or as they come
    into view): then every text is what a page drawn at the new inputs shows, as when
    setInput writes them all at once."""
    graph = _loop_graph(120)  # 480 nodes, over page.js's LAZY_FROM numbers
    start = cgraph.evaluate(graph, {}).inputs
    moved = {**start, "w": 0.5}
    load(browser, write_page(pages, graph, moved))
    expected = diagram_text(browser)
    load(browser, write_page(pages, graph, start))
    before = diagram_text(browser)
    _move_slider(browser, "w", 0.5)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 5).until(lambda _: diagram_text(browser) == expected)  # without asking the API
    assert before != expected
    # the parts far from the view, out of the document while the page is on screen, too
    load(browser, write_page(pages, graph, moved))
    whole = _whole_diagram_text(browser)
    assert len(whole) > len(expected)
    load(browser, write_page(pages, graph, start))
    _move_slider(browser, "w", 0.5)
    WebDriverWait(browser, 5).until(lambda _: diagram_text(browser) == expected)
    assert _whole_diagram_text(browser) == whole
    assert browser.execute_script("return window.cgraph.state().params.w") == 0.5


def _loop_graph(steps: int):
    text = f"input h[0] = 0\nparam w = 0.9\nfor t in 1..{steps} {{\n    input x[t] = 0.01 * t\n    h[t] = tanh(w*h[t-1] + x[t])\n}}\n"
    return cgraph.parse(text, "loop.cg")


def _move_slider(browser, name: str, value: float) -> None:
    browser.execute_script("""
        const slider = document.querySelector('input[type=range][data-name="' + arguments[0] + '"]');
        slider.value = String(arguments[1]);
        slider.dispatchEvent(new Event("input"));""", name, value)


def _whole_diagram_text(browser) -> list:
    """The diagram's every text, its parts out of the document too: as printing puts them back."""
    browser.execute_script("window.dispatchEvent(new Event('beforeprint'))")
    try:
        return diagram_text(browser)
    finally:
        browser.execute_script("window.dispatchEvent(new Event('afterprint'))")


def test_a_large_diagrams_far_parts_leave_the_document_and_come_back(browser, pages):
    """Only the chunks of a large diagram near the view are in the document (Chromium works
    on every element of an SVG at each change, in sight or not); scrolling the diagram
    brings the others back, with the numbers of the page's current inputs, and takes the
    far ones out; stepping highlights a node out of the document all the same."""
    from selenium.webdriver.support.ui import WebDriverWait

    graph = _loop_graph(120)
    start = cgraph.evaluate(graph, {}).inputs
    path = write_page(pages, graph, start)
    chunks = path.read_text(encoding="utf-8").count('<g class="cg-chunk"')
    load(browser, write_page(pages, graph, {**start, "w": 0.5}))
    browser.execute_script("document.getElementById('cg-svg').scrollLeft = 1e9")
    WebDriverWait(browser, 5).until(lambda _: browser.execute_script("return document.getElementById('cg-n0') === null"))
    expected_end = diagram_text(browser)
    load(browser, path)
    inside = browser.execute_script("return document.querySelectorAll('#diagram g.cg-chunk').length")
    assert 0 < inside < chunks
    last = len(graph.ops) - 1
    assert browser.execute_script(f"return document.getElementById('cg-n{last}')") is None
    _move_slider(browser, "w", 0.5)
    browser.execute_script("document.getElementById('cg-svg').scrollLeft = 1e9")
    WebDriverWait(browser, 5).until(lambda _: diagram_text(browser) == expected_end)
    assert browser.execute_script(f"return document.getElementById('cg-n{last}') !== null && document.getElementById('cg-n0') === null")
    browser.execute_script("window.cgraph.stepTo(window.cgraph.state().positions)")  # the last step: h[0]'s, out of sight
    assert browser.execute_script("return document.getElementById('cg-n' + window.cgraph.state().node)") is None
    browser.execute_script("document.getElementById('cg-svg').scrollLeft = 0")
    WebDriverWait(browser, 5).until(lambda _: browser.execute_script("return document.getElementById('cg-n0') !== null"))
    node = browser.execute_script("return window.cgraph.state().node")
    assert browser.execute_script(f"return document.getElementById('cg-n{node}').classList.contains('cg-current')")
    near = diagram_text(browser)
    whole = _whole_diagram_text(browser)
    assert len(whole) == len(set(g for g, _ in whole)) > len(near)  # all back for print, once each
    browser.execute_script("window.printed = null; addEventListener('beforeprint', () => {"
                           " window.printed = document.querySelectorAll('#diagram g.cg-chunk').length; }, {once: true})")
    browser.execute_cdp_cmd("Page.printToPDF", {"pageRanges": "1"})  # a real print: every chunk is on paper
    assert browser.execute_script("return window.printed") == chunks


def test_tab_goes_on_through_a_large_diagrams_parts(browser, pages):
    """From node to node with Tab, past the chunks first in the document, in both directions."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    graph = _loop_graph(120)
    load(browser, write_page(pages, graph, {}))
    ids = browser.execute_script("return Array.from(document.querySelectorAll('#diagram g.node[tabindex]'), (g) => g.id)")
    browser.execute_script("document.getElementById(arguments[0]).focus()", ids[-1])
    seen = []
    for _ in range(len(ids) + 10):  # on past every node first in the document
        ActionChains(browser).send_keys(Keys.TAB).perform()
        seen.append(browser.execute_script("const g = document.activeElement.closest('g.node'); return g ? g.id : null"))
    assert None not in seen
    assert len(set(seen)) == len(seen)
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert browser.execute_script("return document.activeElement.id") == seen[-2]


def test_a_large_diagrams_groups_are_chunked_in_their_order():
    """Wrapping a large diagram's nodes and edges in groups moves nothing else: without the
    wrappers it is Graphviz's SVG line for line, and it is well-formed."""
    from xml.dom import minidom

    from cgraph.views.page import CHUNK, CHUNK_FROM, _chunked

    groups = "\n".join(f'<g id="node{k}" class="node">\n<title>n{k}</title>\n<g id="a_node{k}"><a>\n<text>{k}</text>\n</a>\n</g>\n</g>'
                       for k in range(CHUNK_FROM + 5))
    svg = ('<svg>\n<g id="graph0" class="graph">\n<title>G</title>\n<polygon points="0,0"/>\n' + groups +
           '\n<text>|gradient|</text>\n<text>0.1</text>\n</g>\n</svg>')
    chunked = _chunked(svg)
    minidom.parseString(chunked)
    assert [line for line in chunked.split("\n") if line not in ('<g class="cg-chunk">', "</g>")] == \
        [line for line in svg.split("\n") if line != "</g>"]
    assert chunked.count('<g class="cg-chunk">') == -(-(CHUNK_FROM + 5) // CHUNK)
    assert chunked.split("\n")[-4:] == ["<text>|gradient|</text>", "<text>0.1</text>", "</g>", "</svg>"]  # the legend stays the graph's
    assert _chunked(svg.replace(groups, groups[: groups.index(f'<g id="node{CHUNK}"')].rstrip())) == \
        svg.replace(groups, groups[: groups.index(f'<g id="node{CHUNK}"')].rstrip())  # a small one as it was


def test_a_chunks_box_covers_what_it_draws():
    """Each chunk's data-box (viewBox units, through the graph's transform) holds every
    shape of its groups and every text's anchor, so the page never takes out a chunk in view."""
    import re

    from cgraph.views.page import CHUNK, CHUNK_FROM, _chunked

    def group(k: int, x: int) -> str:
        return (f'<g id="node{k}" class="node">\n<title>n{k}</title>\n'
                f'<ellipse fill="none" stroke="black" cx="{x}" cy="-{k % 7 * 10 + 20}" rx="18" ry="12"/>\n'
                f'<path fill="none" stroke="black" d="M{x + 18},-20C{x + 40},-25 {x + 60},-30 {x + 82},-20"/>\n'
                f'<text text-anchor="middle" x="{x}" y="-{k % 5}" font-size="10.00">v{k}</text>\n</g>')

    def diagram(far: int | None = None) -> str:
        groups = "\n".join(group(k, 900000 if k == far else 100 * k) for k in range(CHUNK_FROM + 5))
        return ('<svg width="100pt" height="100pt" viewBox="0.00 0.00 100.00 100.00">\n'
                '<g id="graph0" class="graph" transform="scale(1 1) rotate(0) translate(4 96)">\n<title>G</title>\n' + groups + "\n</g>\n</svg>")

    svg = diagram()
    chunked = _chunked(svg)
    boxes = [tuple(map(float, box.split())) for box in re.findall(r'<g class="cg-chunk" data-box="([^"]*)">', chunked)]
    assert len(boxes) == -(-(CHUNK_FROM + 5) // CHUNK)
    for k in range(CHUNK_FROM + 5):
        x0, y0, x1, y1 = boxes[k // CHUNK]
        cy = -(k % 7 * 10 + 20)
        for x, y in ((100 * k - 18 + 4, cy - 12 + 96), (100 * k + 18 + 4, cy + 12 + 96), (100 * k + 82 + 4, -30 + 96),
                     (100 * k + 4, -(k % 5) + 96)):
            assert x0 <= x <= x1 and y0 <= y <= y1, (k, (x, y), boxes[k // CHUNK])
    assert boxes[0][2] < boxes[-1][0]  # and no larger than needed: the first and the last apart
    # a group far from the others (Graphviz's order jumps across the diagram) starts a chunk of its own
    jumped = [tuple(map(float, box.split())) for box in re.findall(r'data-box="([^"]*)"', _chunked(diagram(far=30)))]
    assert len(jumped) == len(boxes) + 2  # the far one alone, and the rest of its chunk after it
    assert max(x1 - x0 for x0, _, x1, _ in jumped) < 100 * CHUNK + 200
