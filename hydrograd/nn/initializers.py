"""Weight initializers that draw the same numbers as smash for the same ``random_state``.

smash draws from numpy's legacy ``RandomState``: a whole ``(n_out, n_in)`` matrix at a time,
uniform on ``[-limit, limit]`` or normal with standard deviation ``std``, where

- ``uniform``: limit ``1/sqrt(n_in)``; ``glorot_uniform``: ``sqrt(6/(n_in+n_out))``;
  ``he_uniform``: ``sqrt(6/n_in)``;
- ``normal``: std ``0.01``; ``glorot_normal``: ``sqrt(2/(n_in+n_out))``; ``he_normal``:
  ``sqrt(2/n_in)``;
- ``zeros``: nothing is drawn.

A bias of ``n`` values is drawn as an ``(n, 1)`` matrix (fan-in 1). A given seed uses a private
generator, so the caller's global numpy stream is left alone; ``None`` draws from that stream.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

INITIALIZERS = ("uniform", "glorot_uniform", "he_uniform", "normal", "glorot_normal", "he_normal", "zeros")
MAX_SEED = 2**32 - 1


def check_random_state(value: Any) -> int | None:
    """A seed in ``[0, 2**32 - 1]`` or None."""
    if value is None:
        return None
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not math.isfinite(value) or value != int(value):
        raise TypeError(f"random_state must be an integer or None, got {type(value).__name__} {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"random_state must be between 0 and 2**32 - 1, got {value!r}")
    return int(value)


def random_generator(random_state: int | None) -> Any:
    """numpy's global stream for None, else a fresh ``RandomState`` seeded with ``random_state``."""
    return np.random if random_state is None else np.random.RandomState(random_state)


def initial_values(initializer: str, n_in: int, n_out: int, rng: Any) -> np.ndarray:
    """An ``(n_out, n_in)`` float64 matrix drawn as smash draws it."""
    family, _, law = initializer.rpartition("_")
    if initializer == "zeros":
        return np.zeros((n_out, n_in))
    if law == "uniform":
        limit = {"glorot": math.sqrt(6 / (n_in + n_out)), "he": math.sqrt(6 / n_in)}.get(family, 1 / math.sqrt(n_in))
        return rng.uniform(-limit, limit, (n_out, n_in))
    std = {"glorot": math.sqrt(2 / (n_in + n_out)), "he": math.sqrt(2 / n_in)}.get(family, 0.01)
    return rng.normal(0, std, (n_out, n_in))
