"""Forked worker processes that run a fixed set of functions on tasks sent to them.

Why processes: a chunk of the batch engine is ~3 NumPy calls per node, and on threads the
Python between those calls holds the GIL; handing it over per call kept two threads at
0.98-1.22x of one (bench/bench_batch.py), where two processes run 1.9x. The workers are
forked, so they start with the caller's plan, data and functions as they were at the fork
(nothing is pickled but each task and its result), and they are Linux-only: elsewhere the
pool (pool.py) stays on threads.

    workers = ForkedWorkers([plan_chunk, loss_chunk], 2)   # forks now
    workers.send(0, 1, task)        # worker 0 runs functions[1](task)
    result = workers.receive(0)     # its result, or the exception it raised, raised here
    workers.close()                 # tells them to exit; kill() if one may be busy

A worker runs one task at a time and is sent the next only after its result is read: a
task or result larger than the socket's buffer then never has both ends waiting to write.
Arrays travel out of band (pickle protocol 5): one copy into the socket and one out, no
pickled copy of their bytes. A worker ignores Ctrl-C (the caller stops it) and leaves with
os._exit, so it never runs the caller's exit handlers or flushes the caller's buffers.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import signal
import socket
import sys
import time
import warnings
import weakref
from multiprocessing import connection
from multiprocessing.connection import Connection
from typing import Any, Callable, Sequence

from .. import errors
from ..errors import WorkerLost

__all__ = ["ForkedWorkers", "WorkerLost", "can_fork"]


def can_fork() -> bool:
    """Whether worker processes are available: Linux, where fork is cheap and safe for NumPy."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _send(conn: Connection, obj: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raw = [b.raw() for b in buffers]
    conn.send_bytes(pickle.dumps((head, [len(r) for r in raw])))
    for r in raw:
        conn.send_bytes(r)


def _receive(conn: Connection) -> Any:
    head, sizes = _Unpickler(io.BytesIO(conn.recv_bytes())).load()
    buffers = []
    for size in sizes:
        buffer = bytearray(size)  # writable: the arrays built on it may be modified by their user
        if size:
            conn.recv_bytes_into(buffer)
        else:
            conn.recv_bytes()
        buffers.append(buffer)
    return _Unpickler(io.BytesIO(head), buffers=buffers).load()


# What a task or a result may be made of. Only cgraph and the worker it forked ever write
# to the socket pair, but a pickle can name any function to call, so the reading side
# builds nothing else: plain values, NumPy arrays, slices, exceptions, and these classes.
_NUMPY_GLOBALS = {"_frombuffer", "_reconstruct", "dtype", "ndarray", "scalar"}  # an array's or scalar's parts
_CLASSES = {
    "cgraph.engine.batch": {"Result"},
    "cgraph.engine.non_finite": {"NonFinite"},
    "cgraph.engine.workers": {"_Failed"},
    "cgraph.training.rows": {"RowResults"},
    "cgraph.training.data.base": {"Chunk"},
    "cgraph.errors": {"Location", "Source", "_OneLine"},  # an error's place (_Failed.state)
    "array": {"_array_reconstructor", "array"},  # a Source's line starts
}


def _numpy_dtypes() -> set[str]:
    import numpy.dtypes

    return set(numpy.dtypes.__all__)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = "." not in name and (  # a dotted name would reach attributes of what is allowed
            module.split(".")[0] == "numpy" and name in _NUMPY_GLOBALS
            or module == "numpy.dtypes" and name in _numpy_dtypes()
            or module == "builtins" and name == "slice"
            or name in _CLASSES.get(module, ())
        )
        if not allowed:
            raise pickle.UnpicklingError(f"a worker's message names {module}.{name}, which it may not")
        return super().find_class(module, name)


class _Failed:
    """What a worker sends back instead of a result: the exception its task raised, as
    plain parts (not the exception object, whose pickling other libraries may replace):
    a cgraph error whole, a built-in one by its type and arguments, another library's as
    the built-in class it derives from (NumPy's out-of-memory error is a MemoryError, and
    the command line says so) with its message."""

    __slots__ = ("kind", "name", "args", "state")

    def __init__(self, error: BaseException):
        self.state: dict = {}
        if isinstance(error, errors.CgraphError):
            self.kind, self.name, self.args, self.state = "cgraph", type(error).__name__, error.args, dict(vars(error))
        elif type(error).__module__ == "builtins" and all(isinstance(a, (str, int, float)) for a in error.args):
            self.kind, self.name, self.args = "builtins", type(error).__name__, error.args
        else:
            base = next(c for c in type(error).__mro__ if c.__module__ == "builtins")
            message = str(error)
            if base in (BaseException, Exception):
                base, message = RuntimeError, f"{type(error).__name__}: {error}"
            self.kind, self.name, self.args = "builtins", base.__name__, (message,)

    def error(self) -> BaseException:
        """The exception, rebuilt: only a cgraph error class or a built-in exception class
        is looked up (the names come from the message)."""
        if self.kind == "cgraph":
            cls = getattr(errors, self.name, None)
            if isinstance(cls, type) and issubclass(cls, errors.CgraphError):
                error = cls.__new__(cls)
                error.args = tuple(self.args)
                vars(error).update(self.state)
                return error
        else:
            cls = getattr(builtins, self.name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException) and \
                    all(isinstance(a, (str, int, float)) for a in self.args):
                return cls(*self.args)
        return RuntimeError(f"a worker failed with an error that cannot be rebuilt here ({self.kind} {self.name!r})")


def _serve(conn: Connection, functions: Sequence[Callable[[Any], Any]]) -> None:
    while True:
        try:
            message = _receive(conn)
        except (EOFError, OSError):  # the caller is gone
            return
        except pickle.UnpicklingError as exc:  # read whole, but made of something not allowed
            _send(conn, _Failed(RuntimeError(f"a chunk could not be sent to a worker: {exc}")))
            continue
        if message is None:
            return
        index, task = message
        try:
            reply: Any = functions[index](task)
        except BaseException as exc:  # noqa: BLE001 - every failure is the caller's to raise
            reply = _Failed(exc)
        try:
            _send(conn, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _send(conn, _Failed(RuntimeError(f"a worker's result could not be sent back: {exc}")))
        except (BrokenPipeError, ConnectionResetError):
            return


class ForkedWorkers:
    """`count` processes forked now, each running `functions[i](task)` for the tasks it is sent."""

    def __init__(self, functions: Sequence[Callable[[Any], Any]], count: int):
        self.functions = tuple(functions)
        self._conns: list[Connection] = []
        self._pids: list[int] = []  # -1 once reaped (a pid may be reused by then)
        self._busy: set[int] = set()  # sent a task whose result is not read in full yet
        # Never left running or unreaped: a pool dropped without close() (or still open at
        # exit) has its workers killed when it is collected.
        self._finalizer = weakref.finalize(self, _stop, self._pids, self._conns)
        _LIVE.add(self)
        try:
            for _ in range(count):
                self._fork()
        except BaseException:
            self.kill()
            raise

    def _fork(self) -> None:
        mine, theirs = socket.socketpair()
        # Ctrl-C is held off until the worker ignores it (else it could die of one in between).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about forking a process that has threads; the worker only
                # runs NumPy and the functions given, never a lock another thread may hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    pid = os.fork()
                except OSError:  # out of memory or processes: the caller falls back to threads
                    mine.close()
                    theirs.close()
                    raise
            if pid == 0:  # the worker
                self._become_worker(mine, theirs, mask)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        self._conns.append(Connection(mine.detach()))
        self._pids.append(pid)

    def _become_worker(self, mine: socket.socket, theirs: socket.socket, mask: Any) -> None:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            mine.close()
            # Every pool's end of its sockets, this one's earlier workers' included: a worker
            # holding one would keep that socket open after its pool closed it.
            for workers in list(_LIVE):
                for conn in workers._conns:
                    conn.close()
            _serve(Connection(theirs.detach()), self.functions)
        except BaseException:  # noqa: BLE001 - nothing may escape into the caller's code
            code = 1
        finally:
            os._exit(code)

    def __len__(self) -> int:
        return len(self._pids)

    @property
    def idle(self) -> bool:
        """No worker has a task whose result is not read in full (else: kill, not close)."""
        return not self._busy

    def send(self, worker: int, index: int, task: Any) -> None:
        """Worker `worker` runs functions[index](task); it must have answered its last task."""
        self._busy.add(worker)  # from now on: a send cut short leaves it out of step
        try:
            _send(self._conns[worker], (index, task))
        except OSError:
            raise self._lost(worker) from None

    def receive(self, worker: int) -> Any:
        """The result of the task `worker` was sent last; its exception, if it raised one."""
        try:
            reply = _receive(self._conns[worker])
        except (EOFError, OSError):  # it died, before or while writing its result
            raise self._lost(worker) from None
        except pickle.UnpicklingError as exc:  # a bug: a task returned something not listed above
            raise RuntimeError(f"a worker's result could not be read back: {exc}") from None
        self._busy.discard(worker)
        if isinstance(reply, _Failed):
            raise reply.error()
        return reply

    def wait(self, busy: list[int]) -> list[int]:
        """Those of the `busy` workers whose result is ready to be received (waits for one)."""
        conns = {id(self._conns[w]): w for w in busy}
        return [conns[id(c)] for c in connection.wait([self._conns[w] for w in busy])]

    def _lost(self, worker: int) -> WorkerLost:
        pid = self._pids[worker]
        how = "ended"
        try:
            # Its socket closed as it died; waiting for it to be reapable takes a moment at most.
            deadline = time.monotonic() + 2.0
            done, status = os.waitpid(pid, os.WNOHANG)
            while not done and time.monotonic() < deadline:
                time.sleep(0.01)
                done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._pids[worker] = -1  # reaped: never signalled again
                how = (f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                       else f"exited with status {os.WEXITSTATUS(status)}")
        except ChildProcessError:
            pass
        return WorkerLost(f"a worker process evaluating rows {how} (out of memory?)",
                          hint="with threads=1 the rows are evaluated in this process",
                          cli_hint="--threads 1 evaluates in this process")

    def close(self) -> None:
        """Ask every worker to exit and wait for them; a worker still busy is killed."""
        if self._busy:
            self.kill()
            return
        for conn in self._conns:
            try:
                _send(conn, None)
            except OSError:
                pass
        _stop(self._pids, self._conns, kill=False)

    def kill(self) -> None:
        """Stop every worker now, busy or not (an error or Ctrl-C in the caller)."""
        self._finalizer()


_LIVE: "weakref.WeakSet[ForkedWorkers]" = weakref.WeakSet()


def _stop(pids: list[int], conns: list[Connection], kill: bool = True) -> None:
    """Kill the workers (unless they were asked to exit), close their sockets and reap them."""
    living = [pid for pid in pids if pid > 0]
    for pid in living if kill else ():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for conn in conns:
        conn.close()
    for pid in living:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    pids.clear()
    conns.clear()
