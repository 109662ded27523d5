"""The IR: one immutable tape of nodes in topological order (graph.py), stored as compact
columns (columns.py)."""

from .graph import Graph, Node, Tag, one_line

__all__ = ["Graph", "Node", "Tag", "one_line"]
