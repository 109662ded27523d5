"""`cgraph serve`: a real server process on a free port, and Debian's headless Chromium.

The page loads; a save of the file reaches the open page; an error in the file shows in
the page, located, and a fix brings the diagram back; nothing but / and the reload
channel is served; Ctrl-C ends the server with 130 and one line; bad ports and hosts
are clear errors.
"""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support.browser import start_chromium
from support.paths import SAMPLES
from support.runner import cgraph_script, script_env

INTRO = (SAMPLES / "intro.cg").read_text(encoding="utf-8")
URL = re.compile(r"at (http://127\.0\.0\.1:(\d+)/) ")


# --- the browser and the server ----------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for this module (as tests/test_html_page.py's)."""
    session = start_chromium()
    try:
        yield session
    finally:
        session.quit()


class Server:
    """`cgraph serve` in a process of its own, and the address it printed."""

    def __init__(self, *argv, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([*cgraph_script(), "serve", *map(str, argv)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=script_env(**(env or {})))
        line = self.proc.stdout.readline().decode("utf-8")  # type: ignore[union-attr]
        found = URL.search(line)
        if not found:
            self.proc.kill()
            raise AssertionError(f"no address printed: {line!r} {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
        self.url, self.port = found.group(1), int(found.group(2))

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; the exit code and standard error."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, err.decode("utf-8")

    def get(self, target: str, method: str = "GET", host: str | None = None) -> tuple[int, bytes]:
        """A request with this exact target: no client normalises `..` or `%2e` away."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host or f"127.0.0.1:{self.port}")
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture
def serve():
    started: list[Server] = []

    def start(*argv, env: dict[str, str] | None = None) -> Server:
        started.append(Server(*argv, env=env))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def wait_for(browser, script: str, timeout: float = 15.0):
    """The value of `script` in the page once it is truthy (the page reloads meanwhile)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = browser.execute_script(script)
        except Exception as exc:  # the page is reloading: its document is going away
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout} s for {script!r}: last {last!r}")


def save(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def open_served(browser, serve, source: Path, text: str, *argv) -> Server:
    """Write `text` to `source`, serve it with `argv`, and open its page in the browser."""
    save(source, text)
    server = serve(source, *argv)
    browser.get(server.url)
    return server


# --- the page, its reloads, its errors ---------------------------------------------------


def test_the_page_loads_and_a_save_reaches_it(browser, serve, tmp_path):
    source = tmp_path / "intro.cg"
    server = open_served(browser, serve, source, INTRO, "--x", 1, "--y", 3, "--z", -3)
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value") == -12
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    save(source, INTRO.replace("g = p * z", "g = p * z * 2"))
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value === -24") is True
    # the inputs given on the command line still hold in the new version of the file
    assert browser.execute_script("return window.cgraph.state().inputs") == {"x": 1, "y": 3, "z": -3}
    code, err = server.stop()
    assert code == 130 and "Traceback" not in err


def test_values_moved_in_the_page_outlive_a_save_unless_the_edit_moves_them(browser, serve, tmp_path):
    source = tmp_path / "intro.cg"
    server = open_served(browser, serve, source, "input x = 1\ninput y = 3\ninput z = -3\np = x + y\ng = p * z\n")
    wait_for(browser, "return window.cgraph")
    browser.execute_script("window.cgraph.setInput('z', 2); window.cgraph.setInput('x', 5)")
    save(source, "input x = 1\ninput y = 3\ninput z = -3\np = x + y\ng = p * z * 2\n")
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value === 32") is True  # (5 + 3) * 2 * 2
    save(source, "input x = 10\ninput y = 3\ninput z = -3\np = x + y\ng = p * z * 2\n")  # the edit moves x
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value === 52") is True  # (10 + 3) * 2 * 2
    save(source, "input x = 10\ninput y = 3\np = x + y\ng = p * z * 2\n(")  # an error page between
    wait_for(browser, "return document.getElementById('cg-error')")
    save(source, "input x = 10\ninput y = 3\ninput z = -3\np = x + y\ng = p * z * 2\n")
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().inputs.z") == 2
    server.stop()


def test_a_minus_zero_moved_in_the_page_outlives_a_save(browser, serve, tmp_path):
    source = tmp_path / "recip.cg"
    server = open_served(browser, serve, source, "input x = 1\ny = 1/x\n")
    wait_for(browser, "return window.cgraph")
    browser.execute_script("window.cgraph.setInput('x', '-0')")
    save(source, "input x = 1\nz = 2/x\n")  # -0 kept through the reload: 2/-0 = -inf, not inf
    wait_for(browser, "return window.cgraph && window.cgraph.state().output === 'z'")  # the new version's page
    assert browser.execute_script("const s = window.cgraph.state(); return [s.value === -Infinity, Object.is(s.inputs.x, -0)]") \
        == [True, True]
    server.stop()


def test_an_error_in_the_file_shows_in_the_page_until_it_is_fixed(browser, serve, tmp_path):
    source = tmp_path / "intro.cg"
    server = open_served(browser, serve, source, INTRO, "--x", 1, "--y", 3, "--z", -3)
    wait_for(browser, "return window.cgraph")
    broken = INTRO.replace("g = p * z", "g = p * <img src=x onerror=alert(1)>")
    save(source, broken)
    shown = wait_for(browser, "const e = document.getElementById('cg-error'); return e && e.textContent")
    line = broken.splitlines().index("g = p * <img src=x onerror=alert(1)>") + 1
    # the command line's located message, caret and all, as text (no markup made of it)
    assert re.search(rf"intro\.cg:{line}:\d+: error: ", shown), shown
    assert "<img src=x onerror=alert(1)>" in shown and "^" in shown
    assert browser.execute_script("return document.querySelectorAll('#cg-error *, img').length") == 0
    save(source, INTRO)
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value") == -12
    assert browser.execute_script("return document.getElementById('cg-error')") is None
    server.stop()


def test_a_missing_input_value_or_unknown_name_is_shown_not_fatal(browser, serve, tmp_path):
    source = tmp_path / "intro.cg"
    server = open_served(browser, serve, source, INTRO, "--x", 1)  # y and z start at 1, and the page says so
    assert wait_for(browser, "return window.cgraph && window.cgraph.state().value") == 2
    assert "y had no value: it starts at 1" in browser.find_element("id", "controls").text
    save(source, "q = y * z\n")  # x is no longer a name of the file: its value is an error
    shown = wait_for(browser, "const e = document.getElementById('cg-error'); return e && e.textContent")
    assert "x" in shown and "error" in shown
    server.stop()


def test_the_served_page_may_reach_its_server_and_the_file_page_may_not(serve, tmp_path, cg):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    served = serve(source).get("/")[1].decode("utf-8")
    assert "connect-src 'self'" in served and "default-src 'none'" in served
    assert cg("render", str(source), "-o", str(tmp_path / "p.html")).code == 0
    written = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "connect-src" not in written and "EventSource" not in written and "cgraph-live" not in written


def test_a_deleted_file_is_said_in_the_page_and_its_return_brings_the_diagram_back(serve, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    server = serve(source, "--x", 1, "--y", 3, "--z", -3)
    assert b'id="cgraph-tape"' in server.get("/")[1]
    source.unlink()  # as some editors save: remove, then write anew
    _until(lambda: b"cannot read" in server.get("/")[1])
    save(source, INTRO)
    _until(lambda: b'id="cgraph-tape"' in server.get("/")[1])
    server.stop()


def _until(condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "waited too long"
        time.sleep(0.05)


# --- what the server answers -------------------------------------------------------------

NOT_SERVED = ["/../etc/passwd", "/%2e%2e/", "/%2e%2e/%2e%2e/etc/passwd", "/page.js", "/page.css", "/index.html",
              "//etc/passwd", "/./", "/events/../", "/intro.cg", "/%2F", "/..%2f..%2fetc%2fpasswd", "/\\..\\", "*",
              "http://127.0.0.1/etc/passwd", "/favicon.ico"]


def test_only_the_page_and_its_events_are_served(serve, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    (tmp_path / "page.js").write_text("secret", encoding="utf-8")  # a file beside the program: never served
    server = serve(source)
    status, body = server.get("/")
    assert status == 200 and body.startswith(b"<!DOCTYPE html>")
    assert server.get("/", method="HEAD") == (200, b"")
    for target in NOT_SERVED:
        status, body = server.get(target)
        assert status == 404, (target, status)
        assert b"secret" not in body and b"root:" not in body
    assert server.get("/", method="POST")[0] == 501
    assert server.get("/", host="evil.example:80")[0] == 403  # a DNS name rebound to 127.0.0.1
    assert server.get("/", host=f"localhost:{server.port}")[0] == 200
    server.stop()


def test_the_event_channel_says_the_version_and_then_each_new_one(serve, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    server = serve(source)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        stream = conn.makefile("rb")
        head = b"".join(iter(stream.readline, b"\r\n"))
        assert b"text/event-stream" in head
        assert _event(stream) == "1"
        save(source, INTRO + "\n# a comment\n")
        assert _event(stream) == "2"
        code, err = server.stop()  # an open event stream does not hold the server up
    assert code == 130 and err.strip().splitlines()[-1] == "cgraph: interrupted" and "Traceback" not in err


def _event(stream) -> str:
    while True:
        line = stream.readline().decode("utf-8")
        if line.startswith("data: "):
            return line[len("data: "):].strip()


# --- stopping and starting ---------------------------------------------------------------


def test_ctrl_c_exits_130_without_a_traceback(serve, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    server = serve(source)
    assert server.get("/")[0] == 200
    code, err = server.stop()
    assert code == 130
    assert err.strip().splitlines()[-1] == "cgraph: interrupted" and "Traceback" not in err


def test_a_port_in_use_is_a_clear_error(cg_proc, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cg_proc("serve", source, "--port", port, timeout=30)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1, err
    assert f"port {port}" in err and "in use" in err and "--port 0" in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "words"), [
    (["--port", "70000"], "70000"),
    (["--port", "-1"], "-1"),
    (["--port", "eighty"], "eighty"),
    (["--host", "no-such-host.invalid"], "no-such-host.invalid"),
    (["--host", "192.0.2.1"], "not an address of this machine"),  # TEST-NET-1: nobody's
    (["--heat-scale", "absolute"], "--heat"),
])
def test_bad_ports_and_hosts_are_usage_errors(cg_proc, tmp_path, argv, words):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    result = cg_proc("serve", source, *argv, timeout=30)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2, err
    assert words in err and "Traceback" not in err


def test_a_missing_file_is_a_usage_error(cg_proc, tmp_path):
    result = cg_proc("serve", tmp_path / "nothing.cg", timeout=30)
    assert result.returncode == 2 and b"nothing.cg" in result.stderr


def test_open_starts_the_browser_at_the_address(serve, tmp_path):
    source = tmp_path / "intro.cg"
    save(source, INTRO)
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "browser.sh"
    fake.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    fake.chmod(0o755)
    server = serve(source, "--open", env={"BROWSER": f"{fake} %s", "DISPLAY": ""})
    end = time.monotonic() + 10
    while not (opened.exists() and opened.read_text().strip()) and time.monotonic() < end:
        time.sleep(0.05)
    assert opened.read_text(encoding="utf-8").strip() == server.url
    server.stop()


def test_help_ends_with_an_example(cg):
    result = cg("serve", "--help")
    assert result.code == 0 and "$ cgraph serve samples/" in result.out and "--port" in result.out


def test_the_server_module_uses_the_standard_library_only():
    from support.paths import PACKAGE
    import ast

    tree = ast.parse((PACKAGE / "views" / "page" / "server.py").read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    import sys

    assert names <= set(sys.stdlib_module_names) | {"__future__"}, names - set(sys.stdlib_module_names)


def test_bad_options_an_empty_host_and_a_fifo_are_usage_errors_before_serving(cg, tmp_path):
    """Found before the server starts (exit 2), not shown in every page for ever: a bad
    diagram option, an empty --host (which would bind every address), a FILE that is not a
    regular file (a FIFO would block the first read)."""
    import os

    program = tmp_path / "s.cg"
    program.write_text("p = x + y\n")
    fifo = tmp_path / "fifo.cg"
    os.mkfifo(fifo)
    for args, words in (((program, "--annotate", "bogus"), "--annotate"),
                        ((program, "--host", ""), "--host"),
                        ((program, "--host", "  "), "--host"),
                        ((fifo,), "not a regular file")):
        result = cg("serve", *args)
        assert result.code == 2, (args, result.err)
        assert words in result.err
        assert "serving" not in result.out
