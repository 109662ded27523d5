"""Chunks evaluated on several threads, their results handed back in input order.

NumPy releases the GIL inside its array operations, so threads each running the tape over
a chunk of their own use every core (bench/bench_batch.py measures it). What a thread
computes depends only on its chunk, and the caller combines the results in chunk order,
so the output is the same bits whatever the number of threads:

    pool = ChunkPool(threads)            # None: CGRAPH_THREADS, else one per core
    for result in pool.map(work, chunks):   # chunk order; work(chunk) runs on a thread
        ...
    pool.close()

With 1 thread there is no pool at all: `map` is a plain loop in the calling thread (what
the engine did before threads). Memory stays bounded: at most `threads` chunks are
submitted ahead of the one the caller is handed, and the chunks are read (from a data
file, say) only as they are submitted. An exception raised by `work` or by the chunks'
iterator comes out where the single-threaded loop would have raised it: after the
results of every chunk before it. Nothing here imports NumPy.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from ..errors import InputError

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
    """A pool of `threads` worker threads (created on the first map over two or more
    chunks), reused map after map: a training run maps every step's batch."""

    def __init__(self, threads: int | None = None):
        self.threads = thread_count(threads)
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"<ChunkPool of {self.threads} thread{'s' if self.threads != 1 else ''}>"

    def map(self, work: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        """work(chunk) for every chunk, in chunk order."""
        if self.threads == 1 or (isinstance(chunks, (list, tuple)) and len(chunks) <= 1):
            return map(work, chunks)  # no thread: a single chunk gains nothing from a handoff
        return self._ordered(work, iter(chunks))

    def _ordered(self, work: Callable[[T], R], chunks: Iterator[T]) -> Iterator[R]:
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

    def close(self) -> None:
        """Stop the threads (after any chunk still running); a later map starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
