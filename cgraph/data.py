"""Data files (CSV, JSON Lines, Parquet) read in chunks and bound to a graph's inputs: the
public entry point (`cgraph.data.DataFile`). The code lives in the package cgraph/training/data/."""

from .training.data import Binding, Chunk, DataError, DataFile, RowWriter, Skipped, bind_columns

__all__ = ["DataFile", "DataError", "Chunk", "Skipped", "Binding", "bind_columns", "RowWriter"]
