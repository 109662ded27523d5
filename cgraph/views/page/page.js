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
    const grads = new Float64Array(n);
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
    const values = {};
    for (const [name, node] of Object.entries(data.names)) values[name] = r.values[node];
    const gradients = {};
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

  // The first p significant digits of x > 0 and the decimal exponent of the first. 100
  // digits are the exact value of any double from 1e-30 up; a tie cut there is a tie.
  function roundDigits(x, p) {
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

  const colors = data.colors;
  const labels = data.edges.map((edge) => {
    const g = document.getElementById(edge.id);
    const texts = g ? Array.from(g.querySelectorAll("text")) : [];
    const find = (color) => texts.find((t) => (t.getAttribute("fill") || "").toLowerCase() === color.toLowerCase());
    return { edge, value: find(colors.value), grad: find(colors.grad), local: find(colors.local) };
  });
  const totals = data.totals.map((total) => {
    const g = document.getElementById(total.id);
    const texts = g ? Array.from(g.querySelectorAll("text")) : [];
    return { node: total.node, text: texts.find((t) => t.textContent.startsWith("\u03a3")) };
  });

  function redraw(r) {
    const p = data.precision;
    for (const { edge, value, grad, local: localText } of labels) {
      if (value && edge.value !== null) value.textContent = edge.prefix + formatNumber(r.values[edge.value], p);
      if (grad && edge.grads !== null) {
        let sum = 0;
        edge.grads.forEach(([v, k], at) => {
          const c = r.grads[v] * local(r.values, v)[k];
          sum = at === 0 ? c : c + sum;
        });
        grad.textContent = formatNumber(sum, p);
      }
      if (localText && edge.local !== null) localText.textContent = "local " + formatNumber(local(r.values, edge.local[0])[edge.local[1]], p);
    }
    for (const { node, text } of totals) if (text) text.textContent = "\u03a3 " + formatNumber(r.grads[node], p);
    showReadout(r);
  }

  // --- the controls and the readout ----------------------------------------------------

  const fields = new Map();

  function element(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A number as a field shows it: the shortest text that reads back as it.
  function fieldText(x) {
    return Number.isFinite(x) ? String(x) : formatNumber(x, 1);
  }

  // A slider range around a value: two of its sizes (at least 1) either side.
  function range(x) {
    const span = Number.isFinite(x) ? 2 * Math.max(1, Math.abs(x)) : 1;
    const centre = Number.isFinite(x) ? x : 0;
    return { min: centre - span, max: centre + span, step: span / 100 };
  }

  function setSlider(slider, x) {
    const r = range(x);
    if (!(Number.isFinite(x) && x >= Number(slider.min) && x <= Number(slider.max))) {
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
      const label = element("label", { for: id });
      label.append(element("span", { class: "name" }, input.name), element("span", { class: "kind" }, " " + input.kind));
      const field = element("input", { id, type: "text", inputmode: "decimal", spellcheck: "false",
                                       "data-name": input.name, autocomplete: "off" });
      const slider = element("input", { type: "range", "aria-label": input.name + " (slider)", "data-name": input.name });
      const x = current.get(input.name);
      field.value = fieldText(x);
      setSlider(slider, x);
      field.addEventListener("input", () => {
        const value = toNumber(field.value);
        field.setAttribute("aria-invalid", value === undefined ? "true" : "false");
        if (value === undefined) return;
        setSlider(slider, value);
        update(input.name, value);
      });
      slider.addEventListener("input", () => {
        const value = Number(slider.value);
        field.value = fieldText(value);
        field.setAttribute("aria-invalid", "false");
        update(input.name, value);
      });
      fields.set(input.name, { field, slider });
      row.append(label, field, slider);
      box.append(row);
    });
    for (const note of data.notes) box.append(element("p", { class: "note" }, note));
  }

  function showReadout(r) {
    const box = document.getElementById("readout");
    box.replaceChildren();
    const out = element("p", { class: "output" });
    out.append(element("span", { class: "name" }, data.outputName), document.createTextNode(" = "),
               element("output", { id: "cg-value" }, formatNumber(r.values[data.output], 10)));
    box.append(out);
    const table = element("table", { id: "cg-gradients" });
    const head = element("tr");
    head.append(element("th", {}, "name"), element("th", {}, "value"), element("th", {}, "d " + data.outputName + " / d name"));
    table.append(head);
    for (const input of data.inputs) {
      const row = element("tr", { "data-name": input.name });
      row.append(element("td", { class: "name" }, input.name), element("td", { class: "value" }, formatNumber(r.values[input.node], 10)),
                 element("td", { class: "grad" }, formatNumber(r.grads[input.node], 10)));
      table.append(row);
    }
    box.append(table);
  }

  function update(name, value) {
    current.set(name, value);
    last = run(current);
    redraw(last);
  }

  function setInput(name, value) {
    const x = given({ [name]: value }).get(name);
    const control = fields.get(name);
    if (control) {
      control.field.value = fieldText(x);
      control.field.setAttribute("aria-invalid", "false");
      setSlider(control.slider, x);
    }
    update(name, x);
    return state();
  }

  function state() {
    const inputs = {};
    const params = {};
    for (const input of data.inputs) (input.kind === "param" ? params : inputs)[input.name] = current.get(input.name);
    const r = result(last);
    return { inputs, params, value: r.value, output: data.outputName, gradients: r.gradients, step: 0 };
  }

  window.cgraph = Object.freeze({
    evaluate: (inputs) => result(run(given(inputs))),
    setInput,
    state,
    formatNumber,
  });

  buildControls();
  last = run(current);
  redraw(last);
})();
