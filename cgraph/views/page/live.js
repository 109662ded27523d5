"use strict";
// cgraph serve: the page reloads when the file is saved. The server's event stream
// sends its page's version at once and then at every new build; a version other than
// the one this page was built as means a newer page is waiting.
(function () {
  const meta = document.querySelector('meta[name="cgraph-live"]');
  if (meta === null || typeof EventSource === "undefined") return;
  const built = meta.getAttribute("content");
  const KEY = "cgraph-serve:inputs";

  // The inputs' starting values this page was built with ({name: value}), or null on a
  // page without a graph (an error's).
  function starts() {
    const tape = document.getElementById("cgraph-tape");
    if (tape === null) return null;
    return Object.fromEntries(JSON.parse(tape.textContent).inputs.map((input) => [input.name, input.value]));
  }

  // Values moved in the page outlive a save: each is kept for the next version of the file
  // when that version starts the input where this one did (an edit that gives it a new
  // value wins). A page without a graph leaves what was kept for the next that has one.
  function keep() {
    if (!window.cgraph) return;
    const state = window.cgraph.state();
    const now = Object.assign({}, state.inputs, state.params);
    for (const name of Object.keys(now)) {
      const v = now[name];
      if (!Number.isFinite(v)) now[name] = v !== v ? "nan" : v > 0 ? "inf" : "-inf"; // as the tape spells them
      else if (Object.is(v, -0)) now[name] = "-0"; // JSON writes -0 as 0: 1/x would come back inf, not -inf
    }
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ start: starts(), now }));
    } catch (error) {
      // storage refused (private mode, quota): the page reloads with the file's values
    }
  }

  function restore() {
    if (!window.cgraph) return;
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
      sessionStorage.removeItem(KEY);
    } catch (error) {
      return;
    }
    const start = starts();
    if (saved === null || start === null || saved.start === null) return;
    for (const [name, value] of Object.entries(saved.now)) {
      const same = Object.prototype.hasOwnProperty.call(start, name) && start[name] === saved.start[name];
      if (same && value !== start[name]) window.cgraph.setInput(name, value);
    }
  }

  setTimeout(restore, 0); // once the page's own script below has run
  const events = new EventSource("/events");
  events.addEventListener("message", (event) => {
    if (event.data === built) return;
    events.close();
    keep();
    location.reload();
  });
})();
