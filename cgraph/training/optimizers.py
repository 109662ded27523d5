"""A training run's settings and the optimizers' update rules (SGD, momentum, Adam).

An optimizer works on the vector of params; its `state` (momentum, moment estimates) is
saved with the params, so a run resumed with --init continues with the same state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import InputError

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass
class Settings:
    lr: float = 0.01
    epochs: int = 100
    batch_size: int | None = None  # None: every row in one batch (full-batch gradient descent)
    optimizer: str = "sgd"
    momentum: float = 0.9  # for "momentum"
    betas: tuple[float, float] = (0.9, 0.999)  # for "adam"
    eps: float = 1e-8  # for "adam"
    shuffle: bool = True
    seed: int = 0
    tol: float = 0.0  # an epoch improves on the best loss by more than this, or counts against patience
    patience: int | None = None  # stop after this many epochs in a row without improvement
    max_time: float | None = None  # seconds
    chunk_rows: int | None = None  # rows per vectorized pass (default: sized by the plan)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a positive number, not {self.lr!r}")
        if self.epochs < 0:
            raise InputError("--epochs must be 0 or more")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError("--batch-size must be 1 or more")
        if self.tol < 0:
            raise InputError("--tol must be 0 or more")
        if self.patience is None and self.tol > 0:
            self.patience = 1  # --tol alone: stop at the first epoch that improves by less


class Optimizer:
    """An update rule over the vector of params. `state` is saved with the params, so a
    resumed run continues with the same momentum / moment estimates."""

    name = "sgd"

    def __init__(self, settings: Settings, size: int):
        self.lr = settings.lr

    def direction(self, grad: np.ndarray) -> np.ndarray:
        """The step the params move against: params - lr * direction."""
        return grad

    def step(self, params: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A huge --lr may overflow to inf: the loss check after the step reports it, so
        # NumPy's own RuntimeWarning would only repeat it in Python's words.
        with np.errstate(all="ignore"):
            direction = self.direction(grad)
            return params - self.lr * direction, direction

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        pass

    def explain(self) -> str:
        return "W - lr * dL/dW"


class Momentum(Optimizer):
    name = "momentum"

    def __init__(self, settings: Settings, size: int):
        super().__init__(settings, size)
        self.mu = settings.momentum
        self.velocity = np.zeros(size)

    def direction(self, grad: np.ndarray) -> np.ndarray:
        self.velocity = self.mu * self.velocity + grad  # as torch.optim.SGD(momentum=mu)
        return self.velocity

    def state(self) -> dict[str, Any]:
        return {"velocity": self.velocity.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.velocity = np.array(state["velocity"], dtype=np.float64)

    def explain(self) -> str:
        return f"W - lr * v, v = {self.mu:g} * v + dL/dW"


class Adam(Optimizer):
    name = "adam"

    def __init__(self, settings: Settings, size: int):
        super().__init__(settings, size)
        self.b1, self.b2 = settings.betas
        self.eps = settings.eps
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def direction(self, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad * grad
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        return m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self) -> dict[str, Any]:
        return {"t": self.t, "m": self.m.tolist(), "v": self.v.tolist()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.t = int(state["t"])
        self.m = np.array(state["m"], dtype=np.float64)
        self.v = np.array(state["v"], dtype=np.float64)

    def explain(self) -> str:
        return "W - lr * m^ / (sqrt(v^) + eps), Adam's moment estimates of dL/dW"


_OPTIMIZER_CLASSES = {"sgd": Optimizer, "momentum": Momentum, "adam": Adam}


def make_optimizer(settings: Settings, size: int) -> Optimizer:
    return _OPTIMIZER_CLASSES[settings.optimizer](settings, size)
