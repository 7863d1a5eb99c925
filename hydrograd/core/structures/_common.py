"""Pieces shared by every hydrological structure: the per-step inputs and NaN-safe arithmetic."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray


class HydroInputs(NamedTuple):
    """What a hydrological operator sees at one time step, each array of shape ``(nac,)``.

    ``prcp`` (mm/dt, snow melt included) and ``pet`` (mm/dt) are negative where data are missing;
    ``beta`` is the percolation scale for the time step; ``imperviousness`` is the impervious
    fraction of each cell (0 when not read); ``dt`` is the time step in seconds.
    """

    prcp: Array
    pet: Array
    imperviousness: Array
    beta: float
    dt: float


def safe_pow(x: Array, p: float) -> Array:
    """``x ** p`` for ``x > 0`` and 0 elsewhere, with a finite gradient everywhere.

    The inner ``where`` keeps the untaken branch away from ``0 ** p`` so that its (discarded)
    derivative cannot turn into NaN (the "double where" pattern).
    """
    positive = x > 0
    return jnp.where(positive, jnp.where(positive, x, 1.0) ** p, 0.0)
