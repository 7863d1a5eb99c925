"""The regularization components ``jreg`` of a calibration cost (smash's ``jreg_cmpt``), one row each.

Every component is a pure function of the same :class:`RegularizationInputs`: the transformed
control vector and the one it started from, and the calibrated maps for both on the active cells
with each cell's grid neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray


class RegularizationInputs(NamedTuple):
    """``x_t`` and ``background``: the transformed control vector and its starting value;
    ``maps`` and ``background_maps``: calibrated name -> ``(nac,)`` values for both (None when no
    component needs them); ``neighbours``: ``(nac, 4)`` indices of each cell's neighbours above,
    below, left and right (the cell itself where that neighbour is outside the domain)."""

    x_t: Array
    background: Array
    maps: dict[str, Array] | None
    background_maps: dict[str, Array] | None
    neighbours: Array


def laplacian_energy(values: Array, neighbours: Array) -> Array:
    """Sum over cells of the squared discrete second differences along rows and columns."""
    up, down, left, right = (values[neighbours[:, i]] for i in range(4))
    return jnp.sum((down - 2.0 * values + up) ** 2 + (right - 2.0 * values + left) ** 2)


def prior(inputs: RegularizationInputs) -> Array:
    """Squared distance of the control to its start, in the control's own (transformed) space."""
    return jnp.sum((inputs.x_t - inputs.background) ** 2)


def smoothing(inputs: RegularizationInputs) -> Array:
    """Laplacian energy of the change of each map from its start."""
    return sum(
        (laplacian_energy(inputs.maps[k] - inputs.background_maps[k], inputs.neighbours) for k in inputs.maps),
        jnp.zeros((), inputs.x_t.dtype),
    )


def hard_smoothing(inputs: RegularizationInputs) -> Array:
    """Laplacian energy of each map itself."""
    return sum(
        (laplacian_energy(inputs.maps[k], inputs.neighbours) for k in inputs.maps), jnp.zeros((), inputs.x_t.dtype)
    )


class Regularization(NamedTuple):
    """One component: its ``term`` and whether it reads the maps (``RegularizationInputs.maps``)."""

    name: str
    term: Callable[[RegularizationInputs], Array]
    needs_maps: bool


REGULARIZATIONS: dict[str, Regularization] = {
    row.name: row
    for row in (
        Regularization("prior", prior, False),
        Regularization("smoothing", smoothing, True),
        Regularization("hard-smoothing", hard_smoothing, True),
    )
}
