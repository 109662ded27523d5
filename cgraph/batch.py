"""Evaluating a graph over many rows at once: the public entry point
(`from cgraph.batch import Plan`). The code lives in cgraph/engine/batch.py."""

from .engine.batch import NonFinite, Plan, Result

__all__ = ["Plan", "Result", "NonFinite"]
