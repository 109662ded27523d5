"""`cgraph serve`: the interactive page of a file, reloaded in the browser at every save."""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
from typing import Any

import click

from ..engine.evaluator import evaluate
from ..errors import CgraphError, OptionError, OutputError, clip_path
from ..frontend.loading import load_bytes
from ..views import render
from ..views.page import error_page, page
from ..views.page.server import PageServer, Watcher
from .common import Count, ProgramCommand, evaluation_options, gather_inputs, input_options, params_values
from .render_cmd import PAGE_START, diagram_options, opts_of

EPILOG = f"""\b
Example:
  $ cgraph serve samples/intro.cg --x 1 --y 3 --z -3 --heat
  serving samples/intro.cg at http://127.0.0.1:43117/ (Ctrl-C stops)
  (open the address; edit and save the file: the page reloads)

The page is the html page cgraph render writes, served at / with its reload
channel at /events; the server answers nothing else (no other path, no
file). It watches FILE and rebuilds the page whenever its bytes change; an
error in the file (syntax, names, values) is shown in the page, located as
the command line shows it, until a save fixes it (so is an inf or nan
with --strict). --host is 127.0.0.1
unless you say otherwise: anyone who can reach the port sees the page.
--port 0 (the default) takes a free port.

\b
Exit codes: 1 the port is in use or not allowed (an error in the file
is shown in the page instead); 2 a usage error (bad options, a --host
that is not this machine's); 130 interrupted (Ctrl-C: how it stops).
"""


@click.command("serve", cls=ProgramCommand, epilog=EPILOG, short_help="Serve the interactive page; reload it on save.")
@click.argument("file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--port", type=Count(0, 65535), default=0, show_default=True,
              help="The port to listen on; 0 takes a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; 127.0.0.1 is this machine only.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the web browser.")
@input_options
@evaluation_options
@diagram_options
def serve_command(file: str, port: int, host: str, open_browser: bool, **options: Any) -> None:
    """Serve FILE's interactive page (the html page that render writes)
    on a local address, and reload it in the browser whenever FILE is saved.

    Input values are given as for render (--x 1, --input, --inputs, --params);
    an input without a value starts at 1.
    """
    if options["heat_scale"] is not None and not options["heat"]:
        raise click.UsageError("--heat-scale goes with --heat, which colours the edges")
    if not host.strip():
        # An empty host would bind every address: the page is this machine's unless asked.
        raise click.BadParameter("give an address (127.0.0.1 is this machine only; 0.0.0.0 every address)",
                                 param_hint="--host")
    if file == "-":
        raise click.BadParameter("serve watches a file and reloads the page when it is saved: standard input (-) "
                                 "cannot be watched; save the program to a file", param_hint="FILE")
    if not os.path.isfile(file):
        # A FIFO or a device would block or never end the first read, before anything is served.
        raise click.BadParameter(f"{clip_path(file)} is not a regular file", param_hint="FILE")
    settings = _Settings(click.get_current_context(), file, options)
    watcher = Watcher(file, settings.build)
    server = _listen(host, port, watcher)
    try:
        watcher.start()
        click.echo(f"serving {click.format_filename(file)} at {server.url} (Ctrl-C stops)")
        _flush_stdout()
        if open_browser:
            _open(server.url)
        server.serve_forever(poll_interval=0.2)
    finally:
        watcher.stop()
        server.server_close()


class _Settings:
    """What each build needs from the command line: the page's options and the input
    values, given again to every new version of the file (its names may change)."""

    def __init__(self, ctx: click.Context, file: str, options: dict[str, Any]):
        self.ctx = ctx
        self.file = file
        self.title = os.path.basename(file) or "graph"
        self.input_pairs = options.pop("input_pairs")
        self.inputs_file = options.pop("inputs_file")
        self.output_name = options.pop("output_name")
        self.max_nodes = options.pop("max_nodes")
        self.params_file = options.pop("params_file")
        self.seed = options.pop("seed")
        self.strict = options.pop("strict")
        self.cache = not options.pop("no_cache")
        self.opts = opts_of(**options)
        self.theme = options["theme"]
        try:  # a bad option is the command's usage error now, not every page's
            render.options(**self.opts)
        except OptionError as exc:
            raise click.UsageError(exc.message) from None

    def build(self, data: bytes | None, version: int) -> str:
        """The page of these bytes of the file, or the page of the error they make."""
        if data is None:
            return self._failed(f"error: cannot read {clip_path(self.file)}: was it moved or deleted? "
                                "(the page comes back when it is there again)", version)
        try:
            with self.ctx:  # the input options are read from the command's context, as render reads them
                text = self._page(data, version)
        except CgraphError as exc:
            return self._failed(exc.cli_text(), version)
        except click.ClickException as exc:
            return self._failed(f"error: {exc.format_message()}", version)
        click.echo(f"page {version}: {self.title} built", err=True)
        return text

    def _page(self, data: bytes, version: int) -> str:
        graph = load_bytes(data, self.file, max_nodes=self.max_nodes, seed=self.seed, cache=self.cache)
        given = gather_inputs(graph, self.inputs_file, self.input_pairs)
        inputs = {**params_values(graph, self.params_file), **given} if self.params_file else given
        missing = [graph.node_names.primary(i) for i in graph.leaves
                   if graph.values[i] is None and graph.node_names.primary(i) not in inputs]
        notes = tuple(f"{name} had no value: it starts at {PAGE_START:g}" for name in missing)
        ev = evaluate(graph, {**dict.fromkeys(missing, PAGE_START), **inputs}, output=self.output_name, strict=self.strict)
        for warning in ev.warnings:
            click.echo(warning, err=True)
        return page(graph, ev, render.options(**self.opts), self.title, notes, live=version)

    def _failed(self, message: str, version: int) -> str:
        click.echo(f"page {version}: {message}", err=True)
        return error_page(self.title, message, self.theme, live=version)


def _listen(host: str, port: int, watcher: Watcher) -> PageServer:
    """The server, bound: a port in use is the run's error (exit 1), a host that is not
    this machine's a usage error (exit 2)."""
    try:
        return PageServer(host, port, watcher)
    except socket.gaierror as exc:
        raise click.BadParameter(f"{host!r} is not a host name or address ({exc.strerror})", param_hint="--host") from None
    except OverflowError:  # port is range-checked, but say so rather than fail
        raise click.BadParameter(f"{port} is not a port number", param_hint="--port") from None
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise click.BadParameter(f"{host!r} is not an address of this machine", param_hint="--host") from None
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if exc.errno == errno.EADDRINUSE else "is not allowed (ports below 1024 need root)"
            raise OutputError(f"cannot listen on {host} port {port}: it {why}",
                              hint="--port 0 takes a free port") from None
        raise OutputError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def _open(url: str) -> None:
    """The browser, in the background: a text browser would hold the server up until it quits."""
    import webbrowser

    threading.Thread(target=webbrowser.open, args=(url,), name="cgraph-open", daemon=True).start()


def _flush_stdout() -> None:
    # The address goes out at once: a script (or a test) reading it waits for nothing more.
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
