"""Vectorized evaluation: the same tape, each node one NumPy operation over many rows.

A `Plan` compiles a graph once for a given set of *batched* leaves (the inputs read from
a data file, one value per row). Every other leaf (params, constants, inputs given once)
is *row-shared*: a node whose arguments are all row-shared is computed once, as a float,
with the op table's scalar versions; a node with a batched argument is one array
operation over the rows of a chunk, with the op table's vector versions
(`op.vector_forward`, `op.vector_local`). There are no per-op cases here: an op added to
`ops.py` works in batches too.

Backward is the scalar backward's loop over the same tape, with arrays:
  * gradients are accumulated, never assigned; an array is added to in place only when
    this pass made it (a gradient of 1.0 passes the consumer's array itself on, and
    that shared array must not be modified);
  * d out/d (a row-shared node) is per row in `shared_grads="rows"` mode (what
    `cgraph eval --data` writes: each row's gradient w.r.t. every input and param), or
    summed over the rows in `"sum"` mode (autograd's unbroadcast; what training needs);
  * each node's value is dropped once the backward pass is past it, and only nodes on a
    path from a leaf we want the gradient of to the output are visited.

The property the tests check: row i of a batch equals the scalar evaluation of row i.
NumPy is imported by this module: import it only on the batch paths.

Why one module of ~450 lines: compiling a plan, the forward loop and the backward loop
share the per-node flags and the step tuples `Plan.__init__` builds (their layout is what
the loops unpack), so they change together. What can live apart does: the diagnosis of
where inf or nan starts is in non_finite.py.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import InputError
from .evaluator import bind, output_node
from ..ir.graph import Graph
from ..ops import OPS
# NonFinite and NonFiniteTally are also reached as batch.NonFinite(Tally) by their users.
from .non_finite import NonFinite, NonFiniteTally, diagnose_step, value_origins
from .pool import ChunkPool

__all__ = ["Plan", "Result", "NonFinite", "NonFiniteTally", "SHARED_GRADS", "CHUNK_BUDGET_BYTES",
           "MIN_CHUNK_ROWS", "MAX_CHUNK_ROWS"]

SHARED_GRADS = ("rows", "sum")
_ndarray = np.ndarray

# Chunk sizing: the forward pass keeps one array per batched node alive, so rows per
# chunk = memory budget / (8 bytes * batched nodes), within these bounds. Chunks of
# 8k-64k rows also keep each array in the CPU's caches (see bench/bench_batch.py).
# The budget is per chunk in flight, and the pool (pool.py) has one in flight per
# worker: 128 MB, not the 256 MB of one process, kept 1e6 rows of the benchmark's
# 1,001-node graph on 2 workers under 400 MB (612 MB with 256 MB, measured on threads).
# Measured on that graph (CPU time per node*row, 2e5 rows): 2 threads 2.69 ns against
# 3.11 with 256 MB (two chunks' arrays compete for the shared L3 cache), 1 thread 2.74
# against 2.47. The budget does not depend on the worker count, so neither do the
# chunks' sums.
CHUNK_BUDGET_BYTES = 128 * 2**20
MIN_CHUNK_ROWS = 256
MAX_CHUNK_ROWS = 65_536


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Each chunk allocates and frees an array per node. By default glibc hands arrays over
    128 KB to mmap and trims the heap when the pass frees them, so every chunk pays a
    page fault per 4 KB of every array again: measured here, that was 45% of the time of
    a 1,000-node graph. With arrays below 16 MB taken from the heap and up to two chunks'
    budget kept at its top, the pages are reused. The peak memory is unchanged (it is
    the chunk's arrays either way). Elsewhere (musl, macOS) this does nothing.

    And one arena for every thread: by default glibc gives each pool thread (pool.py) an
    arena of its own, each keeping its freed chunk arrays, so 1e6 rows of the benchmark's
    graph on 2 threads peaked at 614 MB; with one arena the threads reuse each other's
    freed arrays: 357 MB, and no slower (a malloc per node and chunk is no contention)."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
    mallopt(M_MMAP_THRESHOLD, 16 * 2**20)
    mallopt(M_TRIM_THRESHOLD, 2 * CHUNK_BUDGET_BYTES)
    mallopt(M_ARENA_MAX, 1)


_malloc_tuned = False


class Result:
    """One batch: the output's value per row and the gradients asked for.

    `grads` maps each wanted leaf's name to an array of one gradient per row, or, for a
    row-shared leaf in "sum" mode, to the float sum over the rows."""

    value: np.ndarray  # one per row
    grads: dict[str, np.ndarray | float]
    n: int  # rows
    # With run(check_values=True): False if some node's value may be inf or nan in some
    # row (a sum over the rows that overflowed is a false alarm, never a miss).
    values_finite: bool | None

    __slots__ = ("value", "grads", "n", "values_finite")

    def __init__(self, value: np.ndarray, grads: dict[str, np.ndarray | float], n: int,
                 values_finite: bool | None = None):
        self.value = value
        self.grads = grads
        self.n = n
        self.values_finite = values_finite

    def __repr__(self) -> str:
        return f"<batch.Result of {self.n} rows, gradients of {len(self.grads)} leaves>"


class Plan:
    """A graph compiled for evaluation over rows.

    graph     the graph
    batched   names of the leaves given one value per row (data columns)
    output    the node to differentiate (default: the graph's output)
    wrt       names of the leaves whose gradients are wanted (default: every input and param)
    shared_grads  "rows": a row-shared leaf's gradient per row; "sum": summed over the rows
    """

    graph: Graph
    output: int  # the node differentiated
    output_name: str
    shared_grads: str
    batched_names: list[str]
    batched_leaves: list[int]  # their nodes
    wrt_names: list[str]
    wrt_leaves: list[int]  # their nodes
    batched_nodes: int  # needed nodes with a value per row
    live_arrays: int  # the most of their arrays alive at once in the forward pass (values are dropped)
    output_batched: bool  # whether the output has a value per row
    # Compiled once (see __init__): per-node flags, then the forward steps of batched
    # nodes, the scalar steps of row-shared ones, and the backward steps.
    _needed: bytearray
    _batched: bytearray
    _depends: bytearray
    _fwd: list[tuple[int, Callable[..., Any], int, int, tuple[int, ...], tuple[int, ...]]]
    _shared_steps: list[tuple[int, Callable[..., float], tuple[int, ...]]]
    _bwd: list[tuple[int, Callable[..., tuple], tuple[int, ...], tuple[tuple[int, int, int], ...], int]]

    def __init__(self, graph: Graph, batched: Iterable[str], *, output: str | None = None,
                 wrt: Iterable[str] | None = None, shared_grads: str = "rows"):
        if shared_grads not in SHARED_GRADS:
            raise ValueError(f"shared_grads must be one of {SHARED_GRADS}, not {shared_grads!r}")
        _keep_freed_memory()
        self.graph = graph
        self.output = out = output_node(graph, output)
        self.output_name = output or graph.output_name
        self.shared_grads = shared_grads
        leaves = graph.inputs
        self.batched_names = list(batched)
        _check_leaves(leaves, self.batched_names, "an input")
        self.wrt_names = list(leaves) if wrt is None else list(wrt)
        _check_leaves(leaves, self.wrt_names, "an input or param")
        self.batched_leaves = [leaves[name] for name in self.batched_names]
        self.wrt_leaves = [leaves[name] for name in self.wrt_names]

        # Only the output's ancestors matter (the scalar backward skips the rest too).
        needed = graph.upstream(out)
        is_batched = _flags(len(graph), self.batched_leaves)
        depends = _flags(len(graph), self.wrt_leaves)  # on a leaf in wrt: only those nodes carry gradients
        all_args = list(graph.args)  # the tuples, made once
        fwd, self._shared_steps = _plan_forward(graph.ops, all_args, out, needed, is_batched, depends)
        self._bwd = _plan_backward(graph.ops, all_args, out, needed, is_batched, depends)
        self._fwd, self.live_arrays = _with_drops(fwd, self._bwd, graph.ops, out, is_batched, self.batched_leaves)
        self._needed, self._batched, self._depends = needed, is_batched, depends
        self.batched_nodes = sum(1 for i in range(len(graph)) if needed[i] and is_batched[i])
        self.output_batched = bool(is_batched[out])

    def uses(self, name: str) -> bool:
        """Whether the output depends on this input or param at all."""
        return bool(self._needed[self.graph.inputs[name]])

    def __repr__(self) -> str:
        return (f"<batch.Plan: {self.batched_nodes} batched nodes of {len(self.graph)}, "
                f"{len(self.batched_leaves)} data columns, gradients of {len(self.wrt_leaves)} leaves>")

    # --- binding -------------------------------------------------------------------------

    def bind(self, given: Mapping[str, float] | None = None) -> list:
        """The row-shared values: constants, defaults and `given`, and every node computed
        from them alone (once, with the scalar ops). Batched leaves are left as None.
        Raises InputError like `cgraph.evaluate` for unknown, non-numeric or missing inputs."""
        placeholders = {name: 0.0 for name in self.batched_names}
        values = bind(self.graph, {**(given or {}), **placeholders})
        for i in self.batched_leaves:
            values[i] = None
        return self.shared(values)

    def shared(self, values: list) -> list:
        """Compute the row-shared nodes of `values` (a full value list, leaves filled in)."""
        for i, f, args in self._shared_steps:
            if len(args) == 2:
                values[i] = f(values[args[0]], values[args[1]])
            elif len(args) == 1:
                values[i] = f(values[args[0]])
            else:
                values[i] = f(*[values[a] for a in args])
        return values

    def set_leaves(self, base: list, leaf_values: Mapping[int, float]) -> list:
        """A copy of `base` with new values for some row-shared leaves (params), recomputed."""
        values = list(base)
        for i, v in leaf_values.items():
            values[i] = v
        return self.shared(values)

    def chunk_rows(self, total: int | None = None, budget_bytes: int = CHUNK_BUDGET_BYTES) -> int:
        """Rows per chunk so that one chunk's arrays stay within the memory budget: the
        values alive at once and the gradients of the wanted leaves (the backward pass frees
        a value as it makes a gradient).

        With the `total` rows known and more than one chunk's worth: chunks of even size, as
        many as a multiple of 4, so that 1, 2 or 4 workers share them evenly (1e5 rows of the
        benchmark's graph in chunks of 34k would be 3 chunks, one of 2 workers doing two).
        Not a multiple of the actual worker count: sums over rows are added chunk by chunk,
        and the bits must not depend on the number of workers."""
        per_row = 8 * (self.live_arrays + 2 * len(self.wrt_leaves) + len(self.batched_leaves) + 4)
        rows = int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, budget_bytes // per_row)))
        if total is None or total <= rows:
            return rows
        count = -(-total // rows)
        count = -(-count // 4) * 4
        return max(MIN_CHUNK_ROWS, -(-total // count))

    # --- evaluation ----------------------------------------------------------------------

    def run(self, base: list, columns: Sequence[np.ndarray], n: int | None = None, *,
            check_values: bool = False) -> Result:
        """Forward and backward over one chunk. `base` comes from `bind`; `columns` are
        float64 arrays of the batched leaves' values, in the order of `batched`.

        `check_values` also tells whether every batched node's value is finite (one sum
        per node: an inf or nan inside the graph may leave the output and gradients
        finite, as in 1/(1 + y*y) when y*y overflows)."""
        n = self._rows(columns, n)
        finite: list[bool] | None = [True] if check_values else None
        values = self._forward(base, columns, finite)
        out = self.output
        value = values[out]
        grads, owned = self._backward(values, n)
        if type(value) is not _ndarray:
            value = np.full(n, value, dtype=np.float64)
        return Result(value, self._wanted(grads, owned, n), n, finite[0] if finite is not None else None)

    def run_chunks(self, base: list, chunks: Iterable[Sequence[np.ndarray]], *, threads: int | None = None,
                   check_values: bool = False, pool: ChunkPool | None = None) -> Iterator[Result]:
        """`run` over each chunk's columns on `threads` cores (None: $CGRAPH_THREADS, else one
        per core; 1: in this thread, no pool), the results in chunk order: the same bits for
        every count. At most 2 x `threads` chunks are taken ahead of the one handed out, so
        memory stays bounded. Workers are started for the call and stopped after it, unless
        `pool` (from `self.pool()`) is given: a caller evaluating many batches keeps one."""
        own = pool is None
        workers = self.pool(threads) if pool is None else pool
        try:
            yield from workers.map(self._run_task, ((base, columns, check_values) for columns in chunks))
        finally:
            if own:
                workers.close()

    def pool(self, threads: int | None = None) -> ChunkPool:
        """Workers for `run_chunks(..., pool=)`: forked once, reused call after call (close it)."""
        return ChunkPool(threads, tasks=[self._run_task])

    def _run_task(self, task: tuple[list, Sequence[np.ndarray], bool]) -> Result:
        base, columns, check_values = task  # the base travels with the chunk: it may differ from call to call
        return self.run(base, columns, check_values=check_values)

    def shared_finite(self, base: list) -> bool:
        """Whether every row-shared value the output depends on (from `bind`) is finite."""
        needed = self._needed
        return all(v is None or not needed[i] or math.isfinite(v) for i, v in enumerate(base))

    def forward(self, base: list, columns: Sequence[np.ndarray], n: int | None = None) -> np.ndarray:
        """Only the output's value per row."""
        n = self._rows(columns, n)
        value = self._forward(base, columns)[self.output]
        return value if type(value) is _ndarray else np.full(n, value, dtype=np.float64)

    def _rows(self, columns: Sequence[np.ndarray], n: int | None) -> int:
        if len(columns) != len(self.batched_leaves):
            raise ValueError(f"expected {len(self.batched_leaves)} columns, got {len(columns)}")
        if n is None:
            if not columns:
                raise ValueError("n (the number of rows) is needed when no leaf is batched")
            n = len(columns[0])
        return n

    def _forward(self, base: list, columns: Sequence[np.ndarray], finite: list[bool] | None = None, *,
                 keep_all: bool = False) -> list:
        """Every needed node's value; with `finite` ([True]), finite[0] becomes False if a
        batched value (a data column or a node) may hold inf or nan.

        How that is known without a pass over every node's array (a sum per node cost 15%
        of `eval --data`): an operation that makes inf or nan from finite arguments raises
        the CPU's IEEE overflow, invalid or divide-by-zero flag, which NumPy reads after
        each call and, in errstate "call" mode, reports to us. The data columns are summed
        (inf or nan there is not made by an operation), and the row-shared values are
        checked by the caller (`shared_finite`). A flag raised without a non-finite value
        is a false alarm (the caller then looks node by node), never a miss.

        A value the backward pass does not read (what each op's local derivative reads is
        `Op.saves`) is dropped once no later step needs it, unless `keep_all`: its memory
        is reused, still in the CPU's cache, by the next nodes. Measured on the benchmark's
        graph (16k rows): writing every node's value to memory that has left the cache was
        most of the forward pass."""
        values = list(base)
        for i, col in zip(self.batched_leaves, columns):
            values[i] = col
        if finite is None:
            with np.errstate(all="ignore"):
                self._forward_steps(values, keep_all)
            return values
        raised: list[str] = []
        with np.errstate(over="call", invalid="call", divide="call", under="ignore",
                         call=lambda kind, flag: raised.append(kind)):
            self._forward_steps(values, keep_all)
        with np.errstate(all="ignore"):
            reduce, isfinite = np.add.reduce, math.isfinite
            finite[0] = not raised and all(isfinite(reduce(values[i])) for i in self.batched_leaves)
        return values

    def _forward_steps(self, values: list, keep_all: bool) -> None:
        for i, f, a, b, args, drop in self._fwd:
            if b >= 0:
                values[i] = f(values[a], values[b])
            elif a >= 0:
                values[i] = f(values[a])
            else:
                values[i] = f(*[values[j] for j in args])
            if drop and not keep_all:
                for j in drop:
                    values[j] = None

    def _backward(self, values: list, n: int, diagnose: np.ndarray | None = None):
        """d out/d node for the wanted leaves (a list indexed by node; None: not reached).

        With `diagnose` (a mask of the rows to look at), nothing is freed or modified in
        place, and every node whose local derivative turns a finite gradient non-finite in
        one of those rows is returned instead, in the order of the backward pass.

        One long loop on purpose: it is a measured hot loop (bench/bench_batch.py), run for
        every node of every chunk. The per-node work (calling the local derivative by arity,
        the summing and pass-through cases, accumulating in place into arrays this pass
        owns) is inlined, since a helper call per node and argument costs more than the
        NumPy operation itself on cache-sized chunks."""
        diagnosing = diagnose is not None
        found: list[NonFinite] = []
        size = len(values)
        grads: list = [None] * size
        owned = bytearray(size)  # grads[i] is an array this pass made, so += may modify it
        summing = self.shared_grads == "sum"
        out = self.output
        grads[out] = float(n) if summing and not self._batched[out] else 1.0
        ndarray = _ndarray
        with np.errstate(all="ignore"):
            for i, local, args, targets, batched in self._bwd:
                g = grads[i]
                if g is None:  # pragma: no cover - every visited node is an ancestor of the output
                    continue
                if not diagnosing:
                    grads[i] = None
                if len(args) == 2:
                    ds = local(values[i], values[args[0]], values[args[1]])
                elif len(args) == 1:
                    ds = local(values[i], values[args[0]])
                else:
                    ds = local(values[i], *[values[a] for a in args])
                if diagnose is not None:
                    diagnose_step(found, i, g, ds, targets, diagnose, n)
                for k, j, target_batched in targets:
                    d = ds[k]
                    d_array = type(d) is ndarray
                    if summing and batched and not target_batched:
                        # A row-shared argument of a per-row node: sum over the rows now (einsum,
                        # not np.dot: a BLAS call wakes threads that then compete with NumPy).
                        if type(g) is ndarray:
                            c = float(np.einsum("i,i->", g, d)) if d_array else float(g.sum()) * d
                        else:
                            c = g * float(d.sum()) if d_array else n * g * d
                        fresh = False
                    elif not d_array and d == 1.0:
                        c, fresh = g, False  # pass the consumer's gradient on as it is
                    elif type(g) is not ndarray and g == 1.0 and d_array:
                        c, fresh = d, False
                    else:
                        c = g * d
                        fresh = type(c) is ndarray
                    if diagnosing:
                        fresh = False
                    current = grads[j]
                    if current is None:
                        grads[j] = c
                        owned[j] = fresh
                    elif owned[j] and type(current) is ndarray and (type(c) is not ndarray or c.shape == current.shape):
                        current += c
                    else:
                        grads[j] = current + c
                        owned[j] = type(grads[j]) is ndarray
                if not diagnosing:
                    values[i] = None  # no node still to visit needs it
        return found if diagnosing else (grads, owned)

    def _wanted(self, grads: list, owned: bytearray, n: int) -> dict[str, np.ndarray | float]:
        result: dict[str, np.ndarray | float] = {}
        summing = self.shared_grads == "sum"
        for name, i in zip(self.wrt_names, self.wrt_leaves):
            g = grads[i]
            if summing and not self._batched[i]:
                result[name] = 0.0 if g is None else float(g)
            elif g is None:
                result[name] = np.zeros(n)
            elif type(g) is not _ndarray:
                result[name] = np.full(n, g, dtype=np.float64)
            else:
                # A gradient passed on unchanged may be another leaf's gradient or an input
                # column itself (d(w*x)/dw is x): the caller gets an array of its own.
                result[name] = g if owned[i] else g.copy()
        return result

    # --- where inf or nan starts ---------------------------------------------------------

    def first_non_finite(self, base: list, columns: Sequence[np.ndarray], n: int | None = None) -> NonFinite | None:
        """The first node (in tape order) whose value is inf or nan in some row where its
        arguments are finite; failing that, the first node in the backward pass whose local
        derivative makes a finite gradient non-finite. None if everything is finite."""
        origins = self.non_finite_origins(base, columns, n)
        return origins[0] if origins else None

    def non_finite_origins(self, base: list, columns: Sequence[np.ndarray], n: int | None = None) -> list[NonFinite]:
        """Every node where inf or nan starts in some row of the chunk, each once with its rows.

        A node is an origin in row r if its value is inf or nan in row r while its arguments
        are finite in row r (kind "value", in tape order; a batched leaf with a non-finite
        data value counts, its arguments being none). In the rows where every value is
        finite, a node whose local derivative turns a finite gradient non-finite is an
        origin too (kind "gradient", in backward order). Empty if everything is finite.
        Slower than `run` (nothing is freed early): call it only on a chunk that `run`
        found non-finite."""
        n = self._rows(columns, n)
        values = self._forward(base, columns, keep_all=True)
        origins, finite_rows = value_origins(self.graph.args, self._needed, values, self.output, n)
        if finite_rows.any():
            origins += self._backward(values, n, diagnose=finite_rows)
        return origins



# --- compiling a plan (once per Plan; the loops below run per chunk) -------------------


def _check_leaves(leaves: Mapping[str, int], names: list[str], what: str) -> None:
    for name in names:
        if name not in leaves:
            raise InputError(f"'{name}' is not {what} of this graph")


def _flags(size: int, nodes: Iterable[int]) -> bytearray:
    flags = bytearray(size)
    for i in nodes:
        flags[i] = 1
    return flags


def _plan_forward(ops: Sequence[str], all_args: list[tuple[int, ...]], out: int, needed: bytearray,
                  is_batched: bytearray, depends: bytearray):
    """The forward steps of the batched nodes and the scalar steps of the row-shared ones,
    in tape order. Marks `is_batched` (a batched argument) and `depends` (an argument
    depending on a wanted leaf) for every needed operation on the way."""
    fwd: list[tuple[int, Callable[..., Any], int, int, tuple[int, ...]]] = []
    shared_steps: list[tuple[int, Callable[..., float], tuple[int, ...]]] = []
    for i in range(out + 1):
        args = all_args[i]
        if not needed[i] or not args:
            continue
        if any(is_batched[a] for a in args):
            is_batched[i] = 1
        if any(depends[a] for a in args):
            depends[i] = 1
        op = OPS[ops[i]]
        if is_batched[i]:
            a = args[0]
            b = args[1] if len(args) == 2 else -1
            fwd.append((i, op.vector_forward, a if len(args) <= 2 else -1, b, args))
        else:
            shared_steps.append((i, op.forward, args))
    return fwd, shared_steps


def _with_drops(fwd: list, bwd: list, ops: Sequence[str], out: int, is_batched: bytearray,
                batched_leaves: list[int]) -> tuple[list, int]:
    """The forward steps, each with the values to drop once it is done: those it was the
    last step to read that the backward pass will not read (see `Op.saves`); and the most
    arrays alive at once."""
    kept = set(batched_leaves)  # the caller's columns: dropping them would free nothing
    kept.add(out)
    for i, _local, args, _targets, _batched in bwd:
        saves = OPS[ops[i]].saves
        if "out" in saves:
            kept.add(i)
        if "args" in saves:
            kept.update(args)
    last: dict[int, int] = {}
    for step, (i, _f, _a, _b, args) in enumerate(fwd):
        for j in args:
            last[j] = step
    drops: list[list[int]] = [[] for _ in fwd]
    for j, step in last.items():
        if is_batched[j] and j not in kept:
            drops[step].append(j)
    live = peak = len(batched_leaves)
    for drop in drops:
        live += 1 - len(drop)
        peak = max(peak, live + len(drop))
    return [(*entry, tuple(drop)) for entry, drop in zip(fwd, drops)], peak


def _plan_backward(ops: Sequence[str], all_args: list[tuple[int, ...]], out: int, needed: bytearray,
                   is_batched: bytearray, depends: bytearray):
    """The backward steps, output first: each needed operation on a path from a wanted leaf,
    with its local-derivative function and the arguments that carry a gradient."""
    bwd = []
    for i in range(out, -1, -1):
        if not needed[i] or not depends[i]:
            continue
        args = all_args[i]
        if not args:
            continue
        op = OPS[ops[i]]
        targets = tuple((k, a, is_batched[a]) for k, a in enumerate(args) if depends[a])
        bwd.append((i, op.vector_local if is_batched[i] else op.local, args, targets, is_batched[i]))
    return bwd
