"use strict";
// cgraph serve: the page reloads when the file is saved. The server's event stream
// sends its page's version at once and then at every new build; a version other than
// the one this page was built as means a newer page is waiting.
(function () {
  const meta = document.querySelector('meta[name="cgraph-live"]');
  if (meta === null || typeof EventSource === "undefined") return;
  const built = meta.getAttribute("content");
  const events = new EventSource("/events");
  events.addEventListener("message", (event) => {
    if (event.data === built) return;
    events.close();
    location.reload();
  });
})();
