"""`cgraph serve`'s server: the page of one file, rebuilt and reloaded when the file changes.

Standard library only (http.server's ThreadingHTTPServer). It answers exactly two paths:
`/`, the page as it was last built, and `/events`, a server-sent event stream that says
"reload" whenever a new build is ready. Every other path (`/page.js`, `/../etc/passwd`,
`/%2e%2e/`, ...) is a 404: the server never maps a path to a file. A Host header that
names another site is refused too, so a web page elsewhere cannot reach the server
through a DNS name pointed at 127.0.0.1.

The file is watched by polling: its size and modification time, then (when those
change) a hash of its bytes, so a save that writes the same text rebuilds nothing.
`build` turns the file's bytes into the page's HTML; it never raises for an error in the
file (the caller shows such an error as a page), and whatever it does raise is shown as
an internal error page rather than stopping the server.
"""

from __future__ import annotations

import hashlib
import html
import http.server
import os
import socket
import threading
from typing import Callable

__all__ = ["PageServer", "Watcher", "Build", "EVENTS_PATH", "POLL_SECONDS"]

EVENTS_PATH = "/events"
POLL_SECONDS = 0.25  # how often the file is looked at: a save shows in the page within this and a build
KEEPALIVE_SECONDS = 15.0  # an idle event stream sends a comment this often (and so notices a closed tab)

# (the file's bytes or None if it cannot be read, its version) -> the page's HTML
Build = Callable[[bytes | None, int], str]


class Watcher:
    """The file's latest page, and its version: 1 for the first build, then one more for
    each change of the file's bytes. Waiters on `changed` are woken at each new version."""

    def __init__(self, path: str, build: Build, poll: float = POLL_SECONDS):
        self.path = path
        self.build = build
        self.poll = poll
        self.changed = threading.Condition()
        self.version = 0
        self.page = b""
        self.stopping = False
        self._stat: tuple[int, int] | None = None
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._loop, name="cgraph-watch", daemon=True)

    def start(self) -> None:
        """The first build, then polling in the background."""
        self.check()
        self._thread.start()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()

    def check(self) -> bool:
        """Look at the file once; rebuild if its bytes changed. True if they did."""
        stat = _stat(self.path)
        if stat == self._stat and self.version:
            return False
        self._stat = stat
        data = _read(self.path) if stat is not None else None
        digest = hashlib.sha256(data).hexdigest() if data is not None else None
        if digest == self._digest and self.version:
            return False
        self._digest = digest
        version = self.version + 1
        page = self._build(data, version).encode("utf-8")
        with self.changed:
            self.page, self.version = page, version
            self.changed.notify_all()
        return True

    def _build(self, data: bytes | None, version: int) -> str:
        try:
            return self.build(data, version)
        except Exception as exc:  # a bug in a build: shown, and the next save tries again
            return internal_error_page(f"cgraph: internal error: {type(exc).__name__}: {exc} (this is a bug)")

    def _loop(self) -> None:
        while True:
            with self.changed:
                if self.changed.wait_for(lambda: self.stopping, timeout=self.poll):
                    return
            self.check()

    def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from `seen` (or after `timeout`); -1 when stopping."""
        with self.changed:
            self.changed.wait_for(lambda: self.stopping or self.version != seen, timeout=timeout)
            return -1 if self.stopping else self.version


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def internal_error_page(message: str) -> str:
    """A page with one message, for what the build itself could not show."""
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><title>cgraph</title></head>"
            f"<body><pre>{html.escape(message)}</pre><p>Save the file again, or restart cgraph serve.</p></body></html>")


class PageServer(http.server.ThreadingHTTPServer):
    """An HTTP server for one Watcher's page. Binding happens in the constructor, so a
    port in use or a bad host raises OSError there, before anything is printed."""

    daemon_threads = True  # an open event stream does not keep the program from exiting
    allow_reuse_address = True  # a restart right after Ctrl-C can take the same port again

    def __init__(self, host: str, port: int, watcher: Watcher):
        self.watcher = watcher
        self.keepalive = KEEPALIVE_SECONDS
        if ":" in host:  # an IPv6 address (::1)
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that goes away mid-answer (a reload, a closed tab) is routine, not a
        traceback on the terminal; anything else is one line."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        print(f"cgraph serve: a request failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    def address(self) -> tuple[str, int]:
        """The host and port listened on (the port the system chose for port 0)."""
        host, port = self.server_address[:2]
        return (host.decode("ascii") if isinstance(host, bytes) else str(host)), int(port)

    @property
    def url(self) -> str:
        host, port = self.address()
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def allowed_hosts(self) -> set[str]:
        """The Host headers of a request meant for this server: its own address, and the
        loopback names when it listens on loopback or on every address."""
        host, port = self.address()
        names = {host, f"[{host}]"}
        if host in ("127.0.0.1", "::1", "0.0.0.0", "::") or host.startswith("127."):
            names |= {"localhost", "127.0.0.1", "[::1]"}
        return {f"{name}:{port}" for name in names}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: PageServer
    protocol_version = "HTTP/1.1"
    server_version = "cgraph"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        # The raw request target, compared whole: no decoding, no normalising, so no
        # spelling of another path (%2e%2e, //, /./) can reach anything but a 404.
        path = self.path.split("?", 1)[0]
        if not self._host_ok():
            self._plain(403, "this server answers only to its own address\n", body)
        elif path == "/":
            self._page(body)
        elif path == EVENTS_PATH and body:
            self._events()
        else:
            self._plain(404, "not found: cgraph serve serves its page at / and nothing else\n", body)

    def _host_ok(self) -> bool:
        host = self.headers.get("Host")
        bound = self.server.address()[0]
        return bound in ("0.0.0.0", "::") or host in self.server.allowed_hosts()

    def _page(self, body: bool) -> None:
        page = self.server.watcher.page
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(page)

    def _plain(self, status: int, text: str, body: bool) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _events(self) -> None:
        """The reload channel: the current version at once (a page built before the
        latest save reloads straight away), then each new one as it is built."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        watcher = self.server.watcher
        version = watcher.version
        try:
            self._send(f"retry: 500\ndata: {version}\n\n")
            while True:
                now = watcher.wait(version, self.server.keepalive)
                if now < 0:
                    return
                self._send(f"data: {now}\n\n" if now != version else ": still here\n\n")
                version = now
        except (BrokenPipeError, ConnectionResetError):  # the tab was closed or reloaded
            return

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8"))
        self.wfile.flush()

    def log_message(self, format: str, *args) -> None:  # http.server's own signature
        pass  # a request log would bury the build messages that matter
