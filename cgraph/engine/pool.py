"""Chunks evaluated on every core, their results handed back in input order.

A chunk's work depends only on that chunk, and the caller takes the results in chunk
order, so the output is the same bits whatever the number of workers:

    pool = ChunkPool(threads, tasks=[work])  # None: CGRAPH_THREADS, else one per core
    for result in pool.map(work, chunks):    # chunk order
        ...
    pool.close()

On Linux a function registered in `tasks` runs in forked worker processes (workers.py),
started at the first map that has two or more chunks: they see what `work` reads as it was
then, so anything that changes from map to map (a training step's params) travels in the
chunk. Processes, because on threads the Python between a chunk's NumPy calls holds the
GIL: two threads measured 0.98-1.22x of one where two processes run ~1.9x
(bench/bench_batch.py). Any other function, and every function elsewhere, runs on a pool
of threads (NumPy releases the GIL inside its array operations).

With 1 worker there is no pool at all: `map` is a plain loop in the calling thread. Memory
stays bounded: at most `threads` chunks (2 x `threads` with processes, whose results are
read as soon as they are ready) are taken ahead of the one the caller is handed,
and the chunks are read (from a data file, say) only as they are sent out. An exception
raised by `work` or by the chunks' iterator comes out where the single-threaded loop would
have raised it: after the results of every chunk before it. Nothing here imports NumPy.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from ..errors import InputError, WorkerLost
from .workers import ForkedWorkers, can_fork

__all__ = ["ChunkPool", "thread_count", "THREADS_ENV"]

THREADS_ENV = "CGRAPH_THREADS"

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on (a container's or taskset's limit included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def max_threads() -> int:
    """The most threads a run may take: each holds a chunk (up to ~128 MB) in flight, so
    the count bounds the memory; a few per core is already more than pays."""
    return max(8, 4 * cores())


def thread_count(threads: int | None = None) -> int:
    """The number of threads to use: `threads` if given, else $CGRAPH_THREADS, else one
    per core. Raises InputError for a count below 1 or above `max_threads()`, or a
    variable that is not a number."""
    where = "--threads"
    if threads is None:
        text = os.environ.get(THREADS_ENV, "").strip()
        if not text:
            return cores()
        where = THREADS_ENV
        try:
            threads = int(text)
        except ValueError:
            raise InputError(f"{THREADS_ENV} must be a whole number of threads, not {text!r}") from None
    if threads < 1:
        raise InputError(f"{where} must be 1 or more, not {threads}")
    if threads > max_threads():
        raise InputError(f"{where} {threads} is more threads than this machine can use (at most {max_threads()}: "
                         "each holds a chunk of rows in memory)")
    return threads


class _Raised:
    """The exception the chunks' iterator raised, kept until the results before it are out."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


class ChunkPool:
    """A pool of `threads` workers, created on the first map over two or more chunks and
    reused map after map (a training run maps every step's batch): forked processes for
    the functions in `tasks` (where the platform can fork and `processes` is not False),
    threads for anything else."""

    def __init__(self, threads: int | None = None, *, tasks: Sequence[Callable[[Any], Any]] = (),
                 processes: bool | None = None):
        self.threads = thread_count(threads)
        self.tasks = tuple(tasks)
        self.processes = bool(self.tasks) and can_fork() if processes is None else processes and bool(self.tasks)
        self._executor: ThreadPoolExecutor | None = None
        self._workers: ForkedWorkers | None = None

    def __repr__(self) -> str:
        kind = ("process", "processes") if self.processes else ("thread", "threads")
        return f"<ChunkPool of {self.threads} {kind[self.threads != 1]}>"

    def map(self, work: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        """work(chunk) for every chunk, in chunk order."""
        if self.threads == 1 or (isinstance(chunks, (list, tuple)) and len(chunks) <= 1):
            return map(work, chunks)  # no pool: a single chunk gains nothing from a handoff
        if self.processes and work in self.tasks:
            return self._in_processes(work, iter(chunks))
        return self._on_threads(work, iter(chunks))

    def _on_threads(self, work: Callable[[T], R], chunks: Iterator[T]) -> Iterator[R]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="cgraph-chunk")
        executor = self._executor
        pending: deque[Future | _Raised] = deque()
        try:
            while True:
                # Keep every thread busy: refill before waiting on (and handing out) the oldest.
                while len(pending) < self.threads and not (pending and isinstance(pending[-1], _Raised)):
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                    except Exception as exc:  # a bad row, say: raised after the chunks before it
                        pending.append(_Raised(exc))
                        break
                    pending.append(executor.submit(work, chunk))
                if not pending:
                    return
                head = pending.popleft()
                if isinstance(head, _Raised):
                    raise head.error
                yield head.result()
        finally:
            # Stopped early (an error, Ctrl-C, a consumer that stopped reading): chunks not
            # started are dropped; one already running finishes on its thread, unread.
            for item in pending:
                if isinstance(item, Future):
                    item.cancel()

    def _in_processes(self, work: Callable[[T], R], chunks: Iterator[T]) -> Iterator[R]:
        first: list[T] = []
        raised: Exception | None = None
        try:
            for chunk in chunks:  # a single chunk (a small file) is not worth starting workers for
                first.append(chunk)
                if len(first) == 2:
                    break
        except Exception as exc:  # a bad row, say: raised after the chunks before it
            raised = exc
        if len(first) < 2 or raised is not None:
            yield from map(work, first)
            if raised is not None:
                raise raised
            return
        if self._workers is None or not self._workers.idle:
            if self._workers is not None:
                self._workers.kill()
            self._workers = None
            try:
                self._workers = ForkedWorkers(self.tasks, self.threads)
            except OSError:  # no fork to be had (out of memory or processes): threads instead
                self.processes = False
                yield from self._on_threads(work, itertools.chain(first, chunks))
                return
        dispatch = _Dispatch(self._workers, self.tasks.index(work), itertools.chain(first, chunks))
        try:
            yield from dispatch.results()
        finally:
            if not dispatch.workers.idle or dispatch.lost:
                # Stopped early (an error, Ctrl-C, a consumer that stopped reading; a send or
                # receive cut short would leave a worker out of step) or a worker died: the
                # workers are stopped now; a later map forks new ones.
                self._workers = None
                dispatch.workers.kill()

    def close(self) -> None:
        """Stop the workers (threads after any chunk still running); a later map starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Dispatch:
    """One map's chunks over forked workers. Each worker is sent a chunk, and its next one
    as soon as its result is read; a result is read as soon as it is ready, in whatever
    order the workers finish (one that waited for an earlier chunk's result to be read
    first would stand idle), and handed out in chunk order. At most 2 x workers chunks are
    out ahead of the one handed out next. An error (the chunks' own, a task's, a lost
    worker) is raised at its chunk's turn, and no chunk after it is sent out."""

    def __init__(self, workers: ForkedWorkers, index: int, chunks: Iterator[Any]):
        self.workers, self.index, self.chunks = workers, index, chunks
        self.running: dict[int, int] = {}  # worker -> the number of the chunk it is evaluating
        self.ready: dict[int, Any] = {}  # chunk number -> its result (or _Raised), read before its turn
        self.idle = list(range(len(workers)))[::-1]
        self.taken = 0  # chunks sent out (or failed to be read)
        self.exhausted = self.lost = False

    def results(self) -> Iterator[Any]:
        handed = 0
        while True:
            self._send_out(2 * len(self.workers) - (self.taken - handed))
            if handed in self.ready:
                result = self.ready.pop(handed)
                handed += 1
                if isinstance(result, _Raised):
                    raise result.error
                yield result
            elif self.running:
                self._collect()
            else:
                return

    def _send_out(self, room: int) -> None:
        while self.idle and not self.exhausted and room > 0:
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.exhausted = True
                return
            except Exception as exc:  # a bad row, say
                self._failed(self.taken, exc)
                self.taken += 1
                return
            worker = self.idle.pop()
            self.running[worker] = self.taken
            try:
                self.workers.send(worker, self.index, chunk)
            except WorkerLost as exc:  # it died between chunks
                del self.running[worker]
                self._failed(self.taken, exc)
            self.taken += 1
            room -= 1

    def _collect(self) -> None:
        for worker in self.workers.wait(list(self.running)):
            number = self.running[worker]
            try:
                self.ready[number] = self.workers.receive(worker)
            except Exception as exc:  # the task's error, or a lost worker
                self._failed(number, exc)
                if isinstance(exc, WorkerLost):
                    del self.running[worker]
                    continue
            del self.running[worker]  # only now: a receive cut short leaves it running
            self.idle.append(worker)

    def _failed(self, number: int, error: Exception) -> None:
        self.ready[number] = _Raised(error)
        self.exhausted = True
        self.lost = self.lost or isinstance(error, WorkerLost)
