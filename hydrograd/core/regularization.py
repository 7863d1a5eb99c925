"""The regularization components ``jreg`` of a calibration cost (smash's ``jreg_cmpt``), one row each.

Every component is a pure function of the same :class:`RegularizationInputs`: the control vector
(transformed and not) and the one it started from, and the calibrated maps for both on the active
cells with each cell's grid neighbours.

``prior`` is smash 1.3.0's: the squared distance of the untransformed control to its start (the
parameters themselves for ``uniform`` and ``distributed`` mappings, the coefficients for descriptor
mappings), whatever ``control_tfm`` the optimizer moves in. smash's documentation describes the
distance in the transformed control's space instead; that form is the opt-in component
``prior-transformed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray


class RegularizationInputs(NamedTuple):
    """``x_t`` and ``background``: the transformed control vector and its starting value; ``x``
    and ``start``: the same untransformed; ``maps`` and ``background_maps``: calibrated name ->
    ``(nac,)`` values for both (None when no component needs them); ``neighbours``: ``(nac, 4)``
    indices of each cell's neighbours above, below, left and right (the cell itself where that
    neighbour is outside the domain)."""

    x_t: Array
    background: Array
    x: Array
    start: Array
    maps: dict[str, Array] | None
    background_maps: dict[str, Array] | None
    neighbours: Array


def laplacian_energy(values: Array, neighbours: Array) -> Array:
    """Sum over cells of the squared discrete second differences along rows and columns."""
    up, down, left, right = (values[neighbours[:, i]] for i in range(4))
    return jnp.sum((down - 2.0 * values + up) ** 2 + (right - 2.0 * values + left) ** 2)


def prior(inputs: RegularizationInputs) -> Array:
    """Squared distance of the untransformed control to its start (smash 1.3.0's ``prior``)."""
    return jnp.sum((inputs.x - inputs.start) ** 2)


def prior_transformed(inputs: RegularizationInputs) -> Array:
    """Squared distance of the control to its start in the transformed space the optimizer moves in
    (the form smash's documentation gives)."""
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
        Regularization("prior-transformed", prior_transformed, False),
        Regularization("smoothing", smoothing, True),
        Regularization("hard-smoothing", hard_smoothing, True),
    )
}
