"""The samples with the inputs each needs (only the tutorial's has no defaults), shared by
the tests that run every sample through a command (explain, check)."""

from __future__ import annotations

from support.paths import SAMPLES

__all__ = ["INTRO_ARGS", "INTRO_INPUTS", "SAMPLES", "SAMPLE_CASES", "SAMPLE_IDS"]

INTRO_INPUTS = {"x": 1.0, "y": 3.0, "z": -3.0}
INTRO_ARGS = ["--x", "1", "--y", "3", "--z", "-3"]

SAMPLE_CASES = [
    ("intro", INTRO_INPUTS, INTRO_ARGS),
    ("neuron", {}, []),
    ("rnn", {}, []),
    ("mlp", {}, []),
    ("logreg", {}, []),
]
SAMPLE_IDS = [c[0] for c in SAMPLE_CASES]
