"""A training run's settings and the optimizers' update rules (SGD, momentum, Adam,
damped Newton).

An optimizer works on the vector of params; its `state` (momentum, moment estimates) is
saved with the params, so a run resumed with --init continues with the same state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import InputError, given_number

OPTIMIZERS = ("sgd", "momentum", "adam", "newton")
DEFAULT_LR = 0.01
NEWTON_LR = 1.0  # for newton the step scale: 1 is Newton's own step


@dataclass
class Settings:
    lr: float = None  # type: ignore[assignment]  # None: DEFAULT_LR, or NEWTON_LR for newton
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
    threads: int | None = None  # chunks evaluated at a time (None: $CGRAPH_THREADS, else one per core)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer '{self.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        if self.lr is None:
            self.lr = NEWTON_LR if self.optimizer == "newton" else DEFAULT_LR
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
        return f"W - lr * v, v = {given_number(self.mu)} * v + dL/dW"


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


class Newton(Optimizer):
    """Damped Newton (Levenberg-Marquardt): the step d solves (H + lam I) d = g, H the
    Hessian of the batch's mean loss. lam starts where the last step left it (0 at first:
    Newton's own step); while H + lam I is not positive definite (a Cholesky
    factorization fails), or the step does not lower the loss, lam grows tenfold, so the
    step turns into a short gradient step g / lam, which lowers any smooth loss that is
    not at a minimum already. After a step that lowers the loss, lam shrinks tenfold
    (to 0 below 1e-10 of H's scale). A loss within 1e-12 (relative) of the last counts as
    not higher: near the minimum the loss changes by less than its rounding. When no lam
    up to 1e30 gives such a step the params stay as they are (the gradient is 0 to
    rounding). The Hessian and trial losses come from the trainer (`newton_step`)."""

    name = "newton"
    TRIES = 41  # lam from 1e-10 to 1e30 times H's scale
    SLACK = 1e-12

    def __init__(self, settings: Settings, size: int):
        super().__init__(settings, size)
        self.damping = 0.0

    def direction(self, grad: np.ndarray) -> np.ndarray:
        raise TypeError("Newton's method needs the Hessian and the loss: call newton_step")

    def newton_step(self, params: np.ndarray, grad: np.ndarray, loss: float, hessian: np.ndarray,
                    loss_at: Callable[[np.ndarray], float]) -> tuple[np.ndarray, np.ndarray]:
        """(new params, the step d: new = params - lr * d)."""
        h = _usable(hessian)
        scale = max(1.0, float(np.abs(np.diag(h)).max(initial=0.0)))
        lam = self.damping
        with np.errstate(all="ignore"):
            for _ in range(self.TRIES):
                direction = _solve(h, grad, lam)
                if direction is not None:
                    new = params - self.lr * direction
                    trial = loss_at(new) if np.isfinite(new).all() else math.nan
                    if trial <= loss + self.SLACK * abs(loss):
                        self.damping = 0.0 if lam / 10 < 1e-10 * scale else lam / 10
                        return new, direction
                lam = max(lam * 10, 1e-10 * scale)
        return params.copy(), np.zeros_like(params)

    def state(self) -> dict[str, Any]:
        return {"damping": self.damping}

    def load_state(self, state: Mapping[str, Any]) -> None:
        damping = float(state["damping"])
        if not (math.isfinite(damping) and damping >= 0):
            raise ValueError(f"damping {damping}")
        self.damping = damping

    def explain(self) -> str:
        return "W - lr * step, (H + lam*I) step = dL/dW, H the Hessian of the loss, lam >= 0 raised until the loss falls"


def _usable(hessian: np.ndarray) -> np.ndarray:
    """H made exactly symmetric (it is, to rounding); an H with inf or nan in it says
    nothing about curvature: 0 then, so the steps are gradient steps."""
    if not np.isfinite(hessian).all():
        return np.zeros_like(hessian)
    return (hessian + hessian.T) / 2


def _solve(h: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray | None:
    """The solution of (H + lam I) d = g, or None unless H + lam I is positive definite."""
    a = h + lam * np.eye(len(g))
    try:
        np.linalg.cholesky(a)
        d = np.linalg.solve(a, g)
    except np.linalg.LinAlgError:
        return None
    return d if np.isfinite(d).all() else None


_OPTIMIZER_CLASSES = {"sgd": Optimizer, "momentum": Momentum, "adam": Adam, "newton": Newton}


def make_optimizer(settings: Settings, size: int) -> Optimizer:
    return _OPTIMIZER_CLASSES[settings.optimizer](settings, size)
