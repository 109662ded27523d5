"""Dask, imported only here and only when `--engine dask` is given, and the client of a
local cluster (N worker processes, one thread each) or of an existing scheduler."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..errors import CgraphError, InputError, MissingDependency

CONNECT_TIMEOUT = 5.0  # seconds: an unreachable --scheduler fails well within 10 s


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDependency(
            "--engine dask needs dask and distributed, which are not installed",
            hint="pip install 'cgraph[dask]'",
        ) from None


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A dask.distributed Client: of the scheduler at `scheduler`, or of a local cluster of
    `workers` processes (default: the number of cores), closed at the end."""
    require_dask()
    import os

    from distributed import Client, LocalCluster

    if scheduler is not None:
        _check_address(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise CgraphError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({_reason(exc)})",
                              hint="start one with `dask scheduler` (and workers with `dask worker ADDRESS`), "
                                   "or leave --scheduler out for a local cluster") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    most = max(8, 4 * (os.cpu_count() or 1))
    if n > most:  # each worker is a process with its own Python and data: past a few per core it only costs
        raise InputError(f"--workers {n} is more local worker processes than this machine can use (at most {most})",
                         hint="for more workers, start a cluster over several machines and give --scheduler")
    # One thread per worker process: the NumPy tape is one thread's work, and processes
    # sidestep the GIL. Everything on loopback; the dashboard (which Dask starts anyway)
    # on a free port, so that a second run does not warn that 8787 is taken.
    try:
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", silence_logs=50)
    except (OSError, RuntimeError, TimeoutError) as exc:  # no port, no fork, workers that never came up
        raise CgraphError(f"cannot start a local Dask cluster of {n} workers: {type(exc).__name__}: {exc}") from None
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def _check_address(scheduler: str) -> None:
    """A malformed address is a usage error, found before a Client exists: one that fails
    in its constructor prints a traceback from its __del__ when it is collected."""
    from distributed.comm import get_address_host_port

    try:
        get_address_host_port(scheduler)
    except ValueError as exc:
        raise InputError(f"--scheduler {scheduler}: not a scheduler's address ({exc})",
                         hint="a Dask scheduler's address is tcp://HOST:PORT (dask scheduler prints it)") from None


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start the worker processes with SIGINT ignored (they inherit it, and Python leaves an
    ignored SIGINT alone). Ctrl-C on a terminal goes to the whole process group: the
    workers would die with the batch in flight and the run could not stop cleanly; this
    way only cgraph sees it, finishes the step, saves and exits 130."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_failed(exc: Exception) -> CgraphError:
    """A task that failed on a worker for a reason cgraph did not raise on purpose (a worker
    without cgraph, one killed again and again, a file it cannot open): one clear error."""
    return CgraphError(f"a Dask worker failed: {type(exc).__name__}: {_reason(exc)}",
                       hint="every worker needs the same cgraph installed (pip install 'cgraph[dask]'), "
                            "and the data path readable under the same name")


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
