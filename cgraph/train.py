"""Training params by gradient descent: the public entry point
(`from cgraph.train import Settings, Trainer`). The code lives in cgraph/training/."""

from .training.trainer import OPTIMIZERS, Callbacks, Epoch, Outcome, Settings, Trainer, Update

__all__ = ["Settings", "Trainer", "Callbacks", "Outcome", "Epoch", "Update", "OPTIMIZERS"]
