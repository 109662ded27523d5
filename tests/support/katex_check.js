// Renders TeX with KaTeX and reports each parse error, for tests/support/katex.py.
// Usage: node katex_check.js KATEX_DIR INPUT.json
// INPUT.json is a list of {"id": ..., "tex": ..., "display": true|false}; the TeX is read as
// data from the file (never pasted into JavaScript source). Prints one JSON list of
// {"id": ..., "error": ...} for the items KaTeX refused, [] when every item rendered.
"use strict";
const fs = require("fs");
const path = require("path");

const katex = require(path.resolve(process.argv[2]));
const items = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const errors = [];
for (const item of items) {
  try {
    // strict "error": what real LaTeX would not accept (e.g. \^ in math) fails too.
    katex.renderToString(item.tex, { displayMode: item.display, throwOnError: true, strict: "error" });
  } catch (e) {
    errors.push({ id: item.id, error: String(e.message || e) });
  }
}
process.stdout.write(JSON.stringify(errors));
