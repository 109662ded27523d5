"use strict";
// The page's evaluator and controls. OPS (the op table's JavaScript) is written above
// this by cgraph/views/page. The tape comes from the JSON data block; program text in it
// (names) is only ever written with textContent.
(function () {
  const data = JSON.parse(document.getElementById("cgraph-tape").textContent);
  const n = data.ops.length;
  const fns = data.ops.map((op) => (op === null ? null : OPS[op]));
  const consts = data.consts.map((v) => (v === null ? null : toNumber(v)));
  const inputNode = new Map(data.inputs.map((input) => [input.name, input.node]));
  const current = new Map(data.inputs.map((input) => [input.name, toNumber(input.value)]));
  let last = null; // the latest {values, grads} of the page's own inputs
  const start = new Map(current); // what reset restores: the values the page was written with
  let step = 0; // training steps taken since the start (or the last reset)
  let history = []; // the output's value before the first step and after each

  // "inf", "-inf", "nan" (how cgraph spells them), JavaScript's spellings, or a number.
  function toNumber(x) {
    if (typeof x === "number") return x;
    const text = String(x).trim().toLowerCase();
    const named = { inf: Infinity, "+inf": Infinity, "-inf": -Infinity, infinity: Infinity, "+infinity": Infinity,
                    "-infinity": -Infinity, nan: NaN };
    if (Object.prototype.hasOwnProperty.call(named, text)) return named[text];
    if (text === "" || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) return undefined;
    return Number(text);
  }

  // Forward then backward over the tape: two loops, as cgraph's evaluator. Only nodes on
  // a path to the output pass their gradient on (0 times an inf derivative would be nan).
  function run(given) {
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) if (fns[i] === null) values[i] = consts[i] === null ? NaN : consts[i];
    for (const [name, node] of inputNode) values[node] = given.get(name);
    for (let i = 0; i < n; i++) {
      const f = fns[i];
      if (f === null) continue;
      const a = data.args[i];
      values[i] = a.length === 1 ? f.forward(values[a[0]]) : a.length === 2 ? f.forward(values[a[0]], values[a[1]])
        : f.forward(...a.map((j) => values[j]));
    }
    const out = data.output;
    // Sums start at -0, the exact additive identity (as cgraph's evaluator): from +0, a
    // gradient made only of -0 contributions would come out +0. Nodes not reached: +0.
    const grads = new Float64Array(n).fill(-0);
    const reached = new Uint8Array(n);
    grads[out] = 1;
    reached[out] = 1;
    for (let v = out; v >= 0; v--) {
      if (!reached[v] || fns[v] === null) continue;
      const a = data.args[v];
      const d = local(values, v);
      const g = grads[v];
      for (let k = 0; k < a.length; k++) {
        grads[a[k]] += g * d[k];
        reached[a[k]] = 1;
      }
    }
    for (let i = 0; i < n; i++) if (!reached[i]) grads[i] = 0;
    return { values, grads };
  }

  function local(values, v) {
    const a = data.args[v];
    return fns[v].local(values[v], ...a.map((j) => values[j]));
  }

  function given(inputs) {
    const merged = new Map(current);
    for (const [name, value] of Object.entries(inputs || {})) {
      if (!inputNode.has(name)) throw new Error("no input or param is named " + JSON.stringify(name));
      const x = toNumber(value);
      if (x === undefined) throw new Error(name + ": not a number: " + JSON.stringify(String(value)));
      merged.set(name, x);
    }
    return merged;
  }

  function result(r) {
    // Objects without a prototype: a program may name a node __proto__ or constructor.
    const values = Object.create(null);
    for (const [name, node] of Object.entries(data.names)) values[name] = r.values[node];
    const gradients = Object.create(null);
    for (const [name, node] of inputNode) gradients[name] = r.grads[node];
    return { value: r.values[data.output], values, gradients };
  }

  // Python's format(v, ".{p}g"), as cgraph's diagrams write numbers (views/numbers.py):
  // round half to even on the exact decimal value (JavaScript's toPrecision rounds half up).
  function formatNumber(v, p) {
    if (v !== v) return "nan";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    if (v === 0) return "0";
    const [digits, exp] = roundDigits(Math.abs(v), p);
    let text;
    if (exp >= -4 && exp < p) {
      const whole = exp >= 0 ? digits.slice(0, exp + 1) : "0";
      const fraction = (exp >= 0 ? digits.slice(exp + 1) : "0".repeat(-exp - 1) + digits).replace(/0+$/, "");
      text = fraction ? whole + "." + fraction : whole;
    } else {
      const rest = digits.slice(1).replace(/0+$/, "");
      text = digits[0] + (rest ? "." + rest : "") + "e" + (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    }
    return v < 0 ? "-" + text : text;
  }

  // The first p significant digits of x > 0 and the decimal exponent of the first.
  // toExponential rounds the exact value correctly but a tie up, where Python rounds it to
  // even; only a value whose next digit is a 5 can be a tie, and only those take the slow
  // path: 100 digits, the exact value of any double from 1e-30 up (a tie cut there is a tie).
  function roundDigits(x, p) {
    if (p <= 20 && x.toExponential(p).split("e")[0].slice(-1) !== "5") {
      const [mantissa, e] = x.toExponential(p - 1).split("e");
      return [mantissa.replace(".", ""), Number(e)];
    }
    const [mantissa, e] = x.toExponential(100).split("e");
    const all = mantissa.replace(".", "");
    let head = all.slice(0, p);
    const tail = all.slice(p);
    let exp = Number(e);
    const up = tail[0] > "5" || (tail[0] === "5" && (/[1-9]/.test(tail.slice(1)) || Number(head[p - 1]) % 2 === 1));
    if (up) {
      const bumped = (BigInt(head) + 1n).toString();
      if (bumped.length > p) {
        head = bumped.slice(0, p);
        exp += 1;
      } else {
        head = bumped;
      }
    }
    return [head, exp];
  }

  // --- the diagram's numbers -----------------------------------------------------------

  // On a large diagram most numbers are out of sight, and every number written costs the
  // browser a relayout and repaint of the diagram: while a slider is dragged the numbers
  // in view (and the readout rows in view) are written at once, the others when they come
  // into view, when the dragging stops (SETTLE_MS), or before anything reads the page
  // (the API's calls, printing). A small diagram is written whole, always.
  const LAZY_FROM = 300; // numbers of the diagram and the readout: below this, no deferring
  const SETTLE_MS = 250;
  const homeOf = new Map(); // element -> the box whose visibility decides (its edge's or node's group, its row)
  const inBox = new Map(); // box -> its elements
  const inView = new Set(); // boxes in view, or near it
  const deferred = new Map(); // element -> [number, precision, prefix] not written yet
  let lazyOn = false; // set once the diagram's observer has first said what is in view
  let diagramObserver = null;
  let settleTimer = null;

  // The diagram's elements by id, found once: the parts of a large diagram far from the
  // view are out of the document (showNear), where getElementById cannot find them.
  const drawnById = new Map(Array.from(document.querySelectorAll("#cg-svg [id]"), (el) => [el.id, el]));
  const drawn = (id) => drawnById.get(id) || null;

  const colors = data.colors;
  const labels = data.edges.map((edge) => {
    const g = drawn(edge.id);
    const texts = g ? Array.from(g.querySelectorAll("text")) : [];
    const find = (color) => texts.find((t) => (t.getAttribute("fill") || "").toLowerCase() === color.toLowerCase());
    const label = { edge, value: find(colors.value), grad: find(colors.grad), local: find(colors.local) };
    for (const el of [label.value, label.grad, label.local]) home(el, g);
    return label;
  });
  const totals = data.totals.map((total) => {
    const g = drawn(total.id);
    const texts = g ? Array.from(g.querySelectorAll("text")) : [];
    const text = texts.find((t) => t.textContent.startsWith("\u03a3"));
    home(text, g);
    return { node: total.node, text };
  });

  // Text is written only where it changes: on a large diagram most labels keep theirs,
  // and every write costs the browser a relayout of the text.
  const shown = new WeakMap(); // element -> the text last written to it (reading the DOM costs more)

  function setText(el, text) {
    if (shown.get(el) === text) return;
    shown.set(el, text);
    const node = el.firstChild;
    if (node !== null && node.nodeType === Node.TEXT_NODE && node.nextSibling === null) node.data = text; // no new node
    else el.textContent = text;
  }

  // A number is formatted only when it differs from the one last written there: a slider
  // moves part of the graph, and formatting thousands of unchanged numbers costs frames.
  const numbers = new Map(); // element -> the number last written to it

  function setNumber(el, v, p, prefix) {
    const old = numbers.get(el);
    if (old !== undefined && Object.is(old, v)) { // not ===: the readout writes 0 and -0 apart, as cgraph eval does
      deferred.delete(el);
      return;
    }
    if (lazyOn) {
      const box = homeOf.get(el);
      if (box !== undefined && !inView.has(box)) {
        deferred.set(el, [v, p, prefix]);
        return;
      }
    }
    deferred.delete(el);
    numbers.set(el, v);
    setText(el, prefix + numberText(v, p));
  }

  // p digits as a diagram writes them, or (p null) as cgraph eval's table does.
  function numberText(v, p) {
    return p === null ? shortNumber(v) : formatNumber(v, p);
  }

  function home(el, box) {
    if (!el || !box) return;
    homeOf.set(el, box);
    if (!inBox.has(box)) inBox.set(box, []);
    inBox.get(box).push(el);
  }

  function writeDeferred(el) {
    const [v, p, prefix] = deferred.get(el);
    deferred.delete(el);
    numbers.set(el, v);
    setText(el, prefix + numberText(v, p));
  }

  function writeAllDeferred() {
    if (settleTimer !== null) clearTimeout(settleTimer);
    settleTimer = null;
    for (const el of Array.from(deferred.keys())) writeDeferred(el);
  }

  function afterRedraw() {
    if (deferred.size === 0) return;
    if (settleTimer !== null) clearTimeout(settleTimer);
    settleTimer = setTimeout(writeAllDeferred, SETTLE_MS);
  }

  function startDeferring() {
    if (homeOf.size < LAZY_FROM || typeof IntersectionObserver === "undefined") return;
    const seen = (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) {
          inView.delete(entry.target);
          continue;
        }
        inView.add(entry.target);
        for (const el of inBox.get(entry.target) || []) if (deferred.has(el)) writeDeferred(el);
      }
    };
    diagramObserver = new IntersectionObserver((entries) => {
      seen(entries);
      lazyOn = true;
    }, { root: document.getElementById("cg-svg"), rootMargin: "300px" });
    const page = new IntersectionObserver(seen, { rootMargin: "200px" });
    for (const box of inBox.keys()) {
      if (box.tagName === "TR") page.observe(box);
      else if (box.isConnected) diagramObserver.observe(box);
    }
    window.addEventListener("beforeprint", writeAllDeferred);
  }

  // The groups of a chunk of the diagram shown or hidden (showNear): the observer watches
  // only the groups displayed (its work is per frame and per target: 5 ms a frame for
  // 4,000 groups); a hidden group is out of view.
  function watchChunk(chunk, near) {
    if (diagramObserver === null) return;
    for (const g of chunk.children) {
      if (!inBox.has(g)) continue;
      if (near) diagramObserver.observe(g);
      else {
        diagramObserver.unobserve(g);
        inView.delete(g);
      }
    }
  }

  function redraw(r) {
    const p = data.precision;
    const locals = new Map(); // each consumer's local derivatives, computed once per redraw
    const magnitudes = []; // --heat: the sizes the scale spans, as render collects them
    const heated = []; // --heat: (edge, its gradient)
    const localOf = (v) => {
      if (!locals.has(v)) locals.set(v, local(r.values, v));
      return locals.get(v);
    };
    for (const { edge, value, grad, local: localText } of labels) {
      if (value && edge.value !== null) setNumber(value, r.values[edge.value], p, edge.prefix);
      if (edge.uses !== null) {
        // As render sums a collapsed box's uses, and (--heat) counts each partial sum's size.
        let sum = 0;
        edge.uses.forEach(([v, k], at) => {
          const c = r.grads[v] * localOf(v)[k];
          sum = at === 0 ? c : c + sum;
          if (edge.heat) magnitudes.push(Math.abs(sum));
        });
        if (grad && edge.grad) setNumber(grad, sum, p, "");
        if (edge.heat) heated.push([edge.id, sum]);
      }
      if (edge.seed) {
        magnitudes.push(1); // d out/d out, on the scale like any gradient
        heated.push([edge.id, 1]);
      }
      if (localText && edge.local !== null) setNumber(localText, localOf(edge.local[0])[edge.local[1]], p, "local ");
    }
    if (data.heat !== null) recolour(heated, magnitudes);
    for (const { node, text } of totals) if (text) setNumber(text, r.grads[node], p, "\u03a3 ");
    showReadout(r);
    if (explainBox !== null && position > 0) setText(explainBox, stepLines(data.steps[position - 1], r).join("\n"));
    showInspected();
  }

  // --- --heat: render's colours (cgraph/views/render/heat.py) for the page's numbers ------

  const legendTicks = (() => {
    const root = document.querySelector("#diagram svg > g.graph");
    if (data.heat === null || !root) return [];
    const texts = Array.from(root.children).filter((el) => el.tagName === "text");
    const title = texts.findIndex((t) => t.textContent.startsWith("|gradient|"));
    return title < 0 ? [] : texts.slice(title + 1);
  })();

  function heatRange(magnitudes) {
    if (data.heat.scale === "absolute") return data.heat.absolute;
    const logs = magnitudes.filter((m) => m > 0 && Number.isFinite(m)).map(Math.log10);
    return logs.length ? [Math.min(...logs), Math.max(...logs)] : null;
  }

  function heatPlace(g, [lo, hi]) {
    const m = Math.abs(g);
    if (!Number.isFinite(m)) return 1;
    if (m === 0) return 0;
    return hi === lo ? 0.5 : Math.min(Math.max((Math.log10(m) - lo) / (hi - lo), 0), 1);
  }

  // Python's round(): half to even.
  function roundEven(x) {
    const r = Math.round(x);
    return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
  }

  function heatColour(place) {
    const stops = data.heat.stops.map((c) => [1, 3, 5].map((at) => parseInt(c.slice(at, at + 2), 16)));
    const at = Math.min(Math.max(place, 0), 1) * (stops.length - 1);
    const k = Math.min(Math.trunc(at), stops.length - 2);
    const t = at - k;
    return "#" + stops[k].map((a, j) => roundEven(a + (stops[k + 1][j] - a) * t).toString(16).padStart(2, "0")).join("");
  }

  const painted = new Map(); // edge id -> the colour and width last written to it

  function recolour(heated, magnitudes) {
    const range = heatRange(magnitudes);
    for (const [id, g] of heated) {
      const place = heatPlace(g, range || [0, 0]);
      const colour = heatColour(place);
      const width = (1 + 2.5 * place).toFixed(2).replace(/\.?0+$/, "");
      if (painted.get(id) === colour + width) continue;
      painted.set(id, colour + width);
      // An edge drawn through a relay point (dot.py) has a bare first stretch, id + "-wire".
      for (const g of [drawn(id), drawn(id + "-wire")]) {
        if (!g) continue;
        for (const el of g.children) {
          if (el.tagName !== "path" && el.tagName !== "polygon") continue;
          el.setAttribute("stroke", colour);
          el.setAttribute("stroke-width", width);
          if (el.tagName === "polygon") el.setAttribute("fill", colour);
        }
      }
    }
    // The legend's numbers. Where render would draw one cell (a range shrunk to one value)
    // or none, the drawn cells stay but only the middle one (place 0.5) keeps a number, or
    // none does: the numbers of the range before would be stale.
    if (data.heat.scale === "absolute") return;
    const places = range === null ? [] : range[0] === range[1] ? [0.5]
      : Array.from({ length: data.heat.cells }, (_, k) => k / (data.heat.cells - 1));
    const tick = (t) => formatNumber(range[0] === range[1] ? 10 ** range[0] : 10 ** (range[0] + t * (range[1] - range[0])), 3);
    if (places.length === legendTicks.length) places.forEach((t, k) => setText(legendTicks[k], tick(t)));
    else legendTicks.forEach((el, k) => setText(el, places.length === 1 && 2 * k === legendTicks.length - 1 ? tick(0.5) : ""));
  }

  // --- the controls and the readout ----------------------------------------------------

  const fields = new Map();

  function element(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A number as a field shows it: the shortest text that reads back as it (-0 too, which
  // String() writes as 0: 1/x would read inf where the page computes -inf).
  function fieldText(x) {
    if (Object.is(x, -0)) return "-0";
    return Number.isFinite(x) ? String(x) : formatNumber(x, 1);
  }

  // Ten significant digits, as cgraph eval's table writes a number (short_number): the
  // sign of zero kept, where the diagram's shorter numbers write 0.
  function shortNumber(v) {
    return Object.is(v, -0) ? "-0" : formatNumber(v, 10);
  }

  // A field's text that is no number is said in words beside it: the page keeps showing
  // the numbers of the last value that was one, and a red border alone does not say so.
  function fieldMessage(field) {
    const id = field.id + "-error";
    let box = document.getElementById(id);
    if (box === null) {
      box = element("span", { id, class: "field-error", role: "status" });
      field.setAttribute("aria-describedby", id);
      field.after(box);
    }
    return box;
  }

  function markField(field, problem) {
    field.setAttribute("aria-invalid", problem === null ? "false" : "true");
    if (problem === null && field.getAttribute("aria-describedby") === null) return;
    const box = fieldMessage(field);
    box.hidden = problem === null;
    setText(box, problem === null ? "" : problem);
  }

  function notANumber(field, name) {
    const text = field.value.trim();
    const said = text === "" ? "empty" : JSON.stringify(text.length > 20 ? text.slice(0, 20) + "\u2026" : text) + " is not a number";
    const shortName = name.length > 40 ? name.slice(0, 39) + "\u2026" : name;
    return said + " (write e.g. 2.5, -1e-3, inf or nan): the page still shows " + shortName + " = " + fieldText(current.get(name));
  }

  // A slider range around a value: two of its sizes (at least 1) either side, kept to
  // finite numbers: near 1e308 the ends overflowed to inf, which the browser takes as no
  // range at all (0 to 100), so that a key on the slider moved -1e308 to 1.
  function range(x) {
    if (!Number.isFinite(x)) return { min: -1, max: 1, step: 0.01 };
    const size = Math.max(1, Math.abs(x));
    const end = (v) => Math.min(Math.max(v, -Number.MAX_VALUE), Number.MAX_VALUE);
    return { min: end(x - 2 * size), max: end(x + 2 * size), step: size / 50 };
  }

  function setSlider(slider, x) {
    const r = range(x);
    // The range stays while the value is in it (a training step moves the thumb, not the
    // scale), unless it is far too wide for it: after 1e300, a 1e-3 typed in would sit on
    // a grid of 4e298 steps, and a key on the slider would take it there.
    const [low, high] = [Number(slider.min), Number(slider.max)];
    const fits = x >= low && x <= high && high - low <= 8 * Math.max(1, Math.abs(x));
    if (!(Number.isFinite(x) && fits)) {
      slider.min = String(r.min);
      slider.max = String(r.max);
      slider.step = String(r.step);
    }
    slider.disabled = !Number.isFinite(x);
    if (Number.isFinite(x)) slider.value = String(x);
  }

  function buildControls() {
    const box = document.getElementById("controls");
    data.inputs.forEach((input, k) => {
      const row = element("div", { class: "control " + input.kind });
      const id = "cg-in-" + k;
      const label = element("label", { for: id, title: input.name });
      label.append(element("span", { class: "name" }, input.name), element("span", { class: "kind" }, " " + input.kind));
      const field = element("input", { id, type: "text", inputmode: "decimal", spellcheck: "false",
                                       "data-name": input.name, autocomplete: "off" });
      const slider = element("input", { type: "range", "aria-label": input.name + " (slider)", "data-name": input.name });
      const x = current.get(input.name);
      field.value = fieldText(x);
      setSlider(slider, x);
      field.addEventListener("input", () => {
        const value = toNumber(field.value);
        if (value === undefined) flush(); // what the message names: the value in use
        markField(field, value === undefined ? notANumber(field, input.name) : null);
        if (value === undefined) return;
        setSlider(slider, value);
        schedule(input.name, value);
      });
      slider.addEventListener("input", () => {
        const value = Number(slider.value);
        field.value = fieldText(value);
        markField(field, null);
        schedule(input.name, value);
      });
      fields.set(input.name, { field, slider });
      row.append(label, field, slider);
      box.append(row);
    });
    for (const note of data.notes) box.append(element("p", { class: "note" }, note));
  }

  let readout = null; // the output's and each input's cells, made once

  function buildReadout() {
    const box = document.getElementById("readout");
    const out = element("p", { class: "output" });
    const value = element("output", { id: "cg-value" });
    out.append(element("span", { class: "name", title: data.outputName }, data.outputName), document.createTextNode(" = "), value);
    const table = element("table", { id: "cg-gradients" });
    const head = element("tr");
    head.append(element("th", {}, "name"), element("th", {}, "value"), element("th", {}, "d " + data.outputName + " / d name"));
    table.append(head);
    const rows = data.inputs.map((input) => {
      const row = element("tr", { "data-name": input.name });
      const cells = { node: input.node, value: element("td", { class: "value" }), grad: element("td", { class: "grad" }) };
      const name = element("td", { class: "name" });
      name.append(element("span", { class: "name", title: input.name }, input.name));
      row.append(name, cells.value, cells.grad);
      home(cells.value, row);
      home(cells.grad, row);
      table.append(row);
      return cells;
    });
    box.append(out, table);
    readout = { value, rows };
  }

  function showReadout(r) {
    setNumber(readout.value, r.values[data.output], null, "");
    for (const cells of readout.rows) {
      setNumber(cells.value, r.values[cells.node], null, "");
      setNumber(cells.grad, r.grads[cells.node], null, "");
    }
  }

  // A dragged slider fires more events than frames: the controls' changes are gathered
  // and the page recomputed once per frame. (The API's setInput recomputes at once.)
  const pending = new Map();

  function schedule(name, value) {
    if (pending.size === 0) requestAnimationFrame(flush);
    pending.set(name, value);
  }

  function flush() {
    if (pending.size === 0) return;
    for (const [name, value] of pending) current.set(name, value);
    pending.clear();
    last = run(current);
    redraw(last);
    afterRedraw();
  }

  function update(name, value) {
    pending.delete(name);
    current.set(name, value);
    last = run(current);
    redraw(last);
  }

  function showInput(name, x) {
    const control = fields.get(name);
    if (control) {
      control.field.value = fieldText(x);
      markField(control.field, null);
      setSlider(control.slider, x);
    }
  }

  function setInput(name, value) {
    const x = given({ [name]: value }).get(name);
    showInput(name, x);
    update(name, x);
    return state();
  }

  function state() {
    flush();
    writeAllDeferred(); // what the API reports, the page shows
    const inputs = Object.create(null);
    const params = Object.create(null);
    for (const input of data.inputs) (input.kind === "param" ? params : inputs)[input.name] = current.get(input.name);
    const r = result(last);
    const shownStep = position > 0 ? data.steps[position - 1] : null;
    return { inputs, params, value: r.value, output: data.outputName, gradients: r.gradients, step, history: history.slice(),
             position, positions: data.steps.length, phase: shownStep === null ? null : shownStep.phase,
             node: shownStep === null ? null : shownStep.node, explanation: shownStep === null ? [] : stepLines(shownStep, last) };
  }

  // --- stepping through the passes, in `cgraph explain`'s words ------------------------

  let position = 0; // 0: before the first step; k: step k of data.steps shown
  let timer = null; // play's interval

  // A step's lines, as explain.lines writes them, with the page's current numbers.
  function stepLines(s, r) {
    const p = data.precision;
    const fmt = (v) => formatNumber(v, p);
    if (s.phase === "forward") return [s.head + operands(s, r, fmt) + " = " + fmt(r.values[s.node]), ...s.after];
    const grad = fmt(r.grads[s.node]);
    const aliases = s.aliases.map((text) => text + grad);
    if (s.contributions.length === 0) return [s.prefix + s.d + " = 1", ...aliases];
    const chains = s.contributions.map((c) => {
      const upstream = r.grads[c.v];
      const d = localAt(r, c.v)[c.k];
      const value = upstream * d;
      let text = c.head + fmt(upstream) + " * " + c.formula;
      if (c.raw !== fmt(d)) text += " = " + fmt(upstream) + " * " + fmt(d);
      return { via: c.via, text: text + " = " + fmt(value), value };
    });
    if (chains.length === 1) return [s.prefix + s.d + " = " + chains[0].text, ...aliases];
    return [
      s.prefix + s.d + ": " + s.name + " is used " + chains.length + " times, so its contributions add up:",
      ...chains.map((c) => "     via " + c.via + ": " + c.text),
      "     " + s.d + " = " + chains.map((c) => fmt(c.value)).join(" + ") + " = " + grad,
      ...aliases,
    ];
  }

  function localAt(r, v) {
    return local(r.values, v);
  }

  // The operands with their numbers: `4 * -3`, `-(2)`, `tanh(0.5)`.
  function operands(s, r, fmt) {
    const parts = s.args.map((a, k) => {
      const text = fmt(r.values[a]);
      return s.notation !== "call" && s.tight.includes(k) && text.startsWith("-") ? "(" + text + ")" : text;
    });
    if (s.notation === "prefix") return s.symbol + parts[0];
    if (s.notation === "infix") return parts.join(" " + s.symbol + " ");
    if (parts.length > 6) return s.symbol + "(" + parts.slice(0, 3).join(", ") + ", ..., " + parts[parts.length - 1] + ")  [" + parts.length + " terms]";
    return s.symbol + "(" + parts.join(", ") + ")";
  }

  let explainBox = null;
  let positionText = null;
  let playButton = null;

  function buildStepping() {
    const box = element("section", { id: "stepping", "aria-label": "The passes step by step" });
    const bar = element("div", { class: "step-bar" });
    const button = (id, text, label, action) => {
      const b = element("button", { id, type: "button", "aria-label": label }, text);
      b.addEventListener("click", action);
      bar.append(b);
      return b;
    };
    button("cg-first", "start", "back to the start", () => stepTo(0));
    button("cg-prev", "\u25c0", "previous step (\u2190)", () => stepTo(position - 1));
    playButton = button("cg-play", "\u25b6 play", "play the steps (space)", () => play());
    button("cg-next", "\u25b6", "next step (\u2192)", () => stepTo(position + 1));
    button("cg-fit", "fit", "fit the diagram to the column, or show it at its size", (event) => toggleFit(event.currentTarget));
    positionText = element("span", { id: "cg-position", class: "hint" });
    bar.append(positionText);
    explainBox = element("pre", { id: "cg-explain", "aria-live": "polite" });
    box.append(bar, explainBox);
    document.getElementById("diagram").prepend(box);
    document.addEventListener("keydown", (event) => {
      const tag = event.target && event.target.tagName;
      if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || tag === "BUTTON" || event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowRight") stepTo(position + 1);
      else if (event.key === "ArrowLeft") stepTo(position - 1);
      else if (event.key === " ") play();
      else return;
      event.preventDefault();
    });
  }

  function play() {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    } else {
      if (position >= data.steps.length) stepTo(0);
      timer = setInterval(() => {
        if (position >= data.steps.length) play();
        else stepTo(position + 1);
      }, 900);
    }
    playButton.textContent = timer === null ? "\u25b6 play" : "pause";
  }

  function stepTo(k) {
    position = Math.max(0, Math.min(data.steps.length, Math.trunc(Number(k)) || 0));
    showStep();
    return state();
  }

  let highlighted = []; // the current step's node and edges

  function showStep() {
    if (explainBox === null) return;
    for (const el of highlighted) el.classList.remove("cg-current", "cg-current-edge");
    highlighted = [];
    const s = position > 0 ? data.steps[position - 1] : null;
    const phase = s === null ? "" : s.phase === "forward" ? "forward pass" : "backward pass";
    setText(positionText, s === null ? "step 0 of " + data.steps.length : "step " + position + " of " + data.steps.length + ", " + phase);
    setText(explainBox, s === null ? "Press \u2192 (or next) to step through the forward pass, then the backward pass." : stepLines(s, last).join("\n"));
    if (s === null) return;
    const node = drawn("cg-n" + s.node);
    if (node) highlighted.push(node), node.classList.add("cg-current");
    for (const id of s.edges) {
      const edge = drawn(id);
      if (edge) highlighted.push(edge), edge.classList.add("cg-current-edge");
    }
  }

  // --- inspecting a node: its numbers and the chain rule's every path -------------------

  const MAX_PATHS = 50; // a path list longer than this is cut (their count and sum stay whole)
  let inspected = null; // the node shown in the inspector, or null
  let inspectBox = null;

  // Each node's uses on the paths to the output: (consumer, argument position).
  const uses = (() => {
    const out = data.output;
    const needed = new Uint8Array(n);
    needed[out] = 1;
    for (let v = out; v >= 0; v--) if (needed[v]) for (const a of data.args[v]) needed[a] = 1;
    const found = Array.from({ length: n }, () => []);
    for (let v = 0; v <= out; v++) if (needed[v]) data.args[v].forEach((a, k) => found[a].push([v, k]));
    return found;
  })();

  // The paths from node i to the output, each a list of (consumer, position) hops: a walk
  // with an explicit stack (no recursion), stopped after `limit` paths; and their count.
  function paths(i, limit) {
    const found = [];
    let count = 0;
    const stack = [[i, []]];
    while (stack.length) {
      const [u, hops] = stack.pop();
      if (u === data.output) {
        count += 1;
        if (found.length < limit) found.push(hops);
        if (count > 100000) return { found, count, more: true };
        continue;
      }
      for (let j = uses[u].length - 1; j >= 0; j--) stack.push([uses[u][j][0], hops.concat([uses[u][j]])]);
    }
    return { found, count, more: false };
  }

  function inspectLines(i, r) {
    const fmt = (v) => formatNumber(v, data.precision);
    const name = data.labels[i];
    const out = data.outputName;
    const dOut = "d" + out + "/d" + data.dnames[i]; // as explain writes it: dy/dw, dy/d(w * x1)
    const lines = [name + " = " + fmt(r.values[i]) + ",  " + dOut + " = " + fmt(r.grads[i])];
    const args = data.args[i];
    if (fns[i] !== null && args.length) {
      const d = localAt(r, i);
      lines.push("local derivatives:");
      args.forEach((a, k) => lines.push("  d" + data.dnames[i] + "/d" + data.dnames[a] + " = " + data.formulas[i][k] + " = " + fmt(d[k])));
    }
    if (i === data.output) return lines.concat(["the output: d" + out + "/d" + out + " = 1"]);
    const { found, count, more } = paths(i, MAX_PATHS);
    if (count === 0) return lines.concat([out + " does not depend on it: its gradient is 0"]);
    lines.push("chain rule: " + (more ? "over 100000" : String(count)) + " path" + (count === 1 ? "" : "s") + " to " + out +
               ", each the product of the local derivatives along it:");
    for (const hops of found) {
      const names = [name];
      const factors = [];
      let product = 1;
      for (const [v, k] of hops) {
        const d = localAt(r, v)[k];
        factors.push(fmt(d));
        product *= d;
        names.push(data.labels[v]);
      }
      lines.push("  " + names.join(" \u2192 ") + ": " + factors.join(" \u00b7 ") + " = " + fmt(product));
    }
    if (found.length < count) lines.push("  ... and " + (more ? "many" : String(count - found.length)) + " more");
    lines.push("  sum over the paths = " + dOut + " = " + fmt(r.grads[i]));
    return lines;
  }

  function buildInspector() {
    inspectBox = element("pre", { id: "cg-inspect", "aria-live": "polite" },
                         "Click a node (or focus it with Tab and press Enter) to see its derivatives.");
    document.getElementById("stepping").append(inspectBox);
    for (let i = 0; i < n; i++) {
      const g = drawn("cg-n" + i);
      if (!g) continue;
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      g.setAttribute("aria-label", "inspect " + data.labels[i]);
    }
    // One listener for the whole diagram (not two per node: a large graph has thousands).
    const diagram = document.getElementById("cg-svg");
    const nodeOf = (target) => {
      const g = target instanceof Element ? target.closest("g.node[id^='cg-n']") : null;
      return g === null ? -1 : Number(g.id.slice(4));
    };
    diagram.addEventListener("click", (event) => {
      const i = nodeOf(event.target);
      if (i >= 0) inspect(i);
    });
    diagram.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      const i = nodeOf(event.target);
      if (i < 0) return;
      event.preventDefault();
      event.stopPropagation();
      inspect(i);
    });
  }

  function inspect(i) {
    if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new Error("inspect: no node " + i);
    flush();
    inspected = i;
    showInspected();
    return inspectLines(i, last);
  }

  function showInspected() {
    if (inspectBox !== null && inspected !== null) setText(inspectBox, inspectLines(inspected, last).join("\n"));
  }

  // --- training: W = W - lr * dW for every param ---------------------------------------

  const params = data.inputs.filter((input) => input.kind === "param");

  // n steps of gradient descent on the output at the current inputs (cgraph train's sgd
  // on one row): each step's gradients at the params the step before left.
  function trainStep(n, lr) {
    const steps = n === undefined ? 1 : Number(n);
    const rate = lr === undefined ? learningRate() : toNumber(lr);
    if (!Number.isInteger(steps) || steps < 0) throw new Error("trainStep: n must be a whole number >= 0");
    if (rate === undefined || !(rate > 0) || !Number.isFinite(rate)) throw new Error("trainStep: lr must be a positive number");
    if (params.length === 0) throw new Error("trainStep: this graph has no params");
    flush(); // a control's change not drawn yet is where the step starts
    let r = last;
    if (history.length === 0) history.push(r.values[data.output]);
    for (let k = 0; k < steps; k++) {
      for (const p of params) current.set(p.name, current.get(p.name) - rate * r.grads[p.node]);
      r = run(current);
      step += 1;
      history.push(r.values[data.output]);
    }
    for (const p of params) showInput(p.name, current.get(p.name));
    last = r;
    redraw(last);
    drawHistory();
    return state();
  }

  function reset() {
    pending.clear();
    for (const [name, value] of start) {
      current.set(name, value);
      showInput(name, value);
    }
    step = 0;
    history = [];
    last = run(current);
    redraw(last);
    drawHistory();
    return state();
  }

  const MAX_RUN = 100000; // steps a click on "run" takes at most
  let rateField = null;
  let stepsField = null;

  function learningRate() {
    return rateField === null ? 0.01 : toNumber(rateField.value);
  }

  function buildTraining() {
    if (params.length === 0) return;
    const box = element("section", { id: "training", "aria-label": "Training" });
    box.append(element("h2", {}, "Training"));
    box.append(element("p", { class: "hint" }, "Each step moves every param against its gradient: W = W \u2212 lr \u00b7 dW."));
    const row = element("div", { class: "train-row" });
    rateField = element("input", { id: "cg-lr", type: "text", inputmode: "decimal", value: "0.01", size: "6", autocomplete: "off" });
    stepsField = element("input", { id: "cg-steps", type: "text", inputmode: "numeric", value: "100", size: "5", autocomplete: "off" });
    const stepButton = element("button", { id: "cg-step", type: "button" }, "step");
    const runButton = element("button", { id: "cg-run", type: "button" }, "run");
    const resetButton = element("button", { id: "cg-reset", type: "button" }, "reset");
    row.append(element("label", { for: "cg-lr" }, "lr"), rateField, stepButton, resetButton);
    const more = element("div", { class: "train-row" });
    more.append(runButton, stepsField, element("label", { for: "cg-steps" }, "steps"));
    box.append(row, more);
    const plot = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    plot.setAttribute("id", "cg-history");
    plot.setAttribute("viewBox", "0 0 300 100");
    plot.setAttribute("preserveAspectRatio", "none"); // the plot's box, whatever its shape
    plot.setAttribute("role", "img");
    plot.setAttribute("aria-label", data.outputName + " over the steps");
    box.append(plot, element("p", { id: "cg-step-text", class: "hint" }, ""));
    document.getElementById("readout").after(box);
    const guarded = (action) => () => {
      const rate = learningRate();
      const ok = rate !== undefined && rate > 0 && Number.isFinite(rate);
      markField(rateField, ok ? null : "lr must be a number > 0 (e.g. 0.01)");
      if (ok) action(rate);
    };
    stepButton.addEventListener("click", guarded((rate) => trainStep(1, rate)));
    runButton.addEventListener("click", guarded((rate) => {
      const n = Number(stepsField.value);
      // The steps run in one go, with the page frozen meanwhile: 1e9 of them typed in hung it.
      const ok = Number.isInteger(n) && n >= 0 && n <= MAX_RUN;
      markField(stepsField, ok ? null : "steps must be a whole number from 0 to " + MAX_RUN);
      if (ok) trainStep(n, rate);
    }));
    resetButton.addEventListener("click", () => reset());
  }

  // The output over the steps taken: a line scaled to its finite values.
  function drawHistory() {
    const plot = document.getElementById("cg-history");
    if (!plot) return;
    plot.replaceChildren();
    const text = document.getElementById("cg-step-text");
    text.textContent = history.length ? "step " + step + ": " + data.outputName + " = " + formatNumber(history[history.length - 1], 10) : "";
    const finite = history.filter(Number.isFinite);
    if (finite.length < 2) return;
    const low = Math.min(...finite);
    const high = Math.max(...finite);
    const points = [];
    history.forEach((v, k) => {
      if (!Number.isFinite(v)) return;
      const x = 4 + (292 * k) / (history.length - 1);
      const y = high === low ? 50 : 96 - (92 * (v - low)) / (high - low);
      points.push(x.toFixed(2) + "," + y.toFixed(2));
    });
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", "history-line");
    plot.append(line);
  }

  window.cgraph = Object.freeze({
    evaluate: (inputs) => result(run(given(inputs))),
    setInput,
    state,
    trainStep,
    reset,
    stepTo,
    inspect,
    formatNumber,
  });

  // The diagram at its own size, scrolling, when it is wider than its column; a smaller
  // one enlarged to the column, up to 1.6 times (larger, its text would shout).
  // The "fit" button shrinks a wide one to the column, for the whole at a glance.
  let fitted = false;

  // Said in CSS (the column is 100%), so the browser works it out in its own layout:
  // reading the column's width here would force a layout of the whole diagram at start.
  function fitDiagram() {
    const svg = document.querySelector("#diagram svg");
    if (!svg || !svg.width || !svg.width.baseVal) return;
    const natural = svg.width.baseVal.value; // Graphviz's pt, in px (an absolute unit: no layout needed)
    svg.style.width = fitted ? "100%" : "max(" + natural + "px, min(" + 1.6 * natural + "px, 100%))";
  }

  function toggleFit(button) {
    fitted = !fitted;
    button.textContent = fitted ? "actual size" : "fit";
    button.setAttribute("aria-pressed", String(fitted));
    fitDiagram();
    nearSoon();
  }

  // --- a large diagram: only its parts near the view are drawn ---------------------------

  // Chromium styles, lays out, pre-paints, paints and layerizes every element of an SVG
  // at each change, the ones far out of sight too: on a 2,000-node diagram (23,000
  // elements) that was 30 of a slider change's 45 ms. A large diagram comes in chunks,
  // each with the box it covers (views/page/__init__.py, _chunked); the chunks more than
  // a window away from the view are taken out of the document (a comment keeps their
  // place), and put back as the diagram scrolls there, and all of them for printing.
  // Out, not display: none: hidden chunks still cost 5 of a change's 19 ms (Chrome's
  // "compositing inputs" phase; measured with bench_page.py --trace). Keyboard focus in a
  // chunk keeps the chunks with nodes before and after it in, so Tab and Shift+Tab go on.
  const NEAR = 1; // windows of margin around the view, each side
  const chunks = Array.from(document.querySelectorAll("#diagram g.cg-chunk[data-box]"), (g) => ({
    g, box: g.getAttribute("data-box").split(" ").map(Number), nodes: g.querySelector("g.node[id^='cg-n']") !== null,
    place: document.createComment(""), near: true,
  }));
  let printing = false;
  let pinned = new Set(); // chunks kept for the focus
  let nearQueued = false;

  // The part of the diagram near the view, in the SVG's viewBox units. Before the first
  // layout (at start) no layout is read: the view is the window's size at the diagram's
  // top left, at its smallest scale (so as large as it can be).
  function nearRegion(measured) {
    const svg = document.querySelector("#diagram svg");
    const vb = svg.viewBox.baseVal;
    const w = innerWidth * NEAR;
    const h = innerHeight * NEAR;
    if (!measured) {
      const scale = svg.width.baseVal.value / vb.width;
      return [vb.x - w / scale, vb.y - h / scale, vb.x + (innerWidth + w) / scale, vb.y + (innerHeight + h) / scale];
    }
    const r = svg.getBoundingClientRect();
    const c = document.getElementById("cg-svg").getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return null;
    const sx = vb.width / r.width;
    const sy = vb.height / r.height;
    const left = Math.max(c.left, 0) - w;
    const top = Math.max(c.top, 0) - h;
    const right = Math.min(c.right, innerWidth) + w;
    const bottom = Math.min(c.bottom, innerHeight) + h;
    return [vb.x + (left - r.left) * sx, vb.y + (top - r.top) * sy, vb.x + (right - r.left) * sx, vb.y + (bottom - r.top) * sy];
  }

  function showNear(measured) {
    nearQueued = false;
    const region = printing ? null : nearRegion(measured);
    chunks.forEach((chunk, k) => {
      const [x0, y0, x1, y1] = chunk.box;
      const near = region === null || pinned.has(k) || (x1 >= region[0] && x0 <= region[2] && y1 >= region[1] && y0 <= region[3]);
      if (chunk.near === near) return;
      chunk.near = near;
      if (near) chunk.place.replaceWith(chunk.g);
      else chunk.g.replaceWith(chunk.place);
      watchChunk(chunk.g, near);
    });
  }

  function nearSoon() {
    if (chunks.length === 0 || nearQueued) return;
    nearQueued = true;
    requestAnimationFrame(() => showNear(true));
  }

  // The chunk holding a focused node, and the nearest ones with nodes before and after it.
  function pinAround(target) {
    const g = target instanceof Element ? target.closest("g.cg-chunk") : null;
    const k = chunks.findIndex((chunk) => chunk.g === g);
    pinned = new Set();
    if (k < 0) return;
    pinned.add(k);
    for (let j = k - 1; j >= 0; j--) if (chunks[j].nodes) { pinned.add(j); break; }
    for (let j = k + 1; j < chunks.length; j++) if (chunks[j].nodes) { pinned.add(j); break; }
  }

  function startNear() {
    if (chunks.length === 0) return;
    showNear(false);
    const scroller = document.getElementById("cg-svg");
    scroller.addEventListener("scroll", nearSoon, { passive: true });
    addEventListener("scroll", nearSoon, { passive: true });
    addEventListener("resize", nearSoon);
    scroller.addEventListener("focusin", (event) => {
      pinAround(event.target);
      showNear(true);
    });
    addEventListener("beforeprint", () => {
      printing = true;
      showNear(false);
    });
    addEventListener("afterprint", () => {
      printing = false;
      nearSoon();
    });
  }

  fitDiagram();
  buildControls();
  buildReadout();
  buildTraining();
  buildStepping();
  buildInspector();
  last = run(current);
  redraw(last);
  drawHistory();
  showStep();
  startNear(); // last: before it every part of the diagram is in the document
  requestAnimationFrame(() => setTimeout(() => {
    startDeferring(); // after the first paint: not needed for it
    nearSoon(); // the view measured, now that reading the layout costs nothing (a page reloaded scrolled)
  }, 0));
  // bench/bench_page.py's measure: the first frame drawn once the page can be used
  requestAnimationFrame(() => setTimeout(() => performance.mark("cgraph:drawn"), 0));
})();
