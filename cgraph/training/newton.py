"""What `--optimizer newton` needs besides the gradient: the Hessian of the loss's mean
over a batch's rows w.r.t. the params.

It comes from the second-order gradient graph (cgraph.engine.hessian.hessian_graph:
outputs H[i][j] of one row's loss), evaluated over the rows in one vectorized forward
pass per chunk, each node one NumPy operation (the op table's vector versions; nodes
that depend on no data column once, with the scalar ones), and averaged as the trainer
averages the loss and the gradient.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..engine.evaluator import bind
from ..engine.hessian import hessian_graph
from ..errors import InputError
from ..ir.graph import Graph
from ..ops import OPS

# Newton solves an n x n system per step and builds a graph of n*n outputs: past a few
# hundred params that is slower than many cheap steps of a first-order optimizer.
MAX_PARAMS = 500
_CHUNK_BYTES = 32 * 2**20


def refuse_too_many(count: int) -> None:
    if count > MAX_PARAMS:
        raise InputError(
            f"--optimizer newton: the loss has {count} params, more than {MAX_PARAMS}: each Newton step builds "
            f"and solves with the {count} x {count} Hessian",
            hint="use --optimizer adam (or sgd, momentum) for this many params")


class HessianRows:
    """The Hessian of `loss` (default: the graph's output) w.r.t. `params`, averaged over
    rows of the data columns named `data_names`."""

    def __init__(self, graph: Graph, params: Sequence[str], data_names: Sequence[str], loss: str | None,
                 given: Mapping[str, float]):
        refuse_too_many(len(params))
        self.graph = second = hessian_graph(graph, params, loss)
        self.size = len(params)
        leaves = second.inputs
        self.param_ids = [leaves[p] for p in params]
        self.data_ids = [leaves.get(d, -1) for d in data_names]  # -1: no second derivative depends on it
        self.base = bind(second, {**given, **{d: 0.0 for d in data_names}})
        self.chunk = max(1, _CHUNK_BYTES // (8 * max(1, len(second))))

    def mean(self, params: np.ndarray, columns: Sequence[np.ndarray], rows: int) -> np.ndarray:
        """The mean over `rows` rows (the columns' values, in chunks) of the Hessian at `params`."""
        total = np.zeros((self.size, self.size))
        for start in range(0, rows, self.chunk):
            stop = min(rows, start + self.chunk)
            values = self._forward(params, [c[start:stop] for c in columns])
            total += np.array([np.sum(values[i]) if isinstance(values[i], np.ndarray) else values[i] * (stop - start)
                               for i in self.graph.outputs]).reshape(self.size, self.size)
        return total / rows

    def _forward(self, params: np.ndarray, columns: Sequence[np.ndarray]) -> list:
        """Every node's value: an array over the rows where it depends on a column, else a float."""
        values: list = list(self.base)
        for i, v in zip(self.param_ids, params.tolist()):
            values[i] = v
        for i, column in zip(self.data_ids, columns):
            if i >= 0:
                values[i] = column
        ops, all_args = self.graph.ops, self.graph.args
        with np.errstate(all="ignore"):
            for i in range(len(values)):
                args = all_args[i]
                if not args:
                    continue
                operands = [values[a] for a in args]
                op = OPS[ops[i]]
                batched = any(isinstance(v, np.ndarray) for v in operands)
                values[i] = (op.vector_forward if batched else op.forward)(*operands)
        return values
