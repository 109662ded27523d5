"""Evaluating a graph over many rows at once: the public entry point
(`from cgraph.batch import Plan`). The code lives in cgraph/engine/batch.py, and the pool
of workers (forked processes on Linux, threads elsewhere) that
`Plan.run_chunks(..., threads=N)` evaluates chunks on in cgraph/engine/pool.py."""

from .engine.batch import NonFinite, Plan, Result
from .engine.pool import ChunkPool, thread_count

__all__ = ["Plan", "Result", "NonFinite", "ChunkPool", "thread_count"]
