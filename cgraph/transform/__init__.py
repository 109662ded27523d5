"""Passes that turn a graph into another graph (the derivative of a graph, as a graph)."""
