"""Mappings from a control vector to parameter (and initial-state) values on the active cells.

- ``uniform``: one value per name, the same on every cell;
- ``distributed``: one value per name and cell (cells in the active-cell order);
- ``multi-linear``: ``v = l + (u - l) * sigmoid(a0 + sum_k a_k d_k)`` on the normalised
  descriptors ``d_k``;
- ``multi-power``: ``v = l + (u - l) * sigmoid(a0 + sum_k a_k d_k ** b_k)`` (sign-preserving power).

The control vector holds, name after name, that name's coefficients. Which names, which
descriptors and which bounds is static (hashable), so a mapping can be a ``jit`` static argument.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

Array = jnp.ndarray


class Mapping(NamedTuple):
    """Static description of a mapping.

    ``names``: the controlled parameters/states, in control-vector order; ``bounds``: their
    ``(low, high)``, used by the descriptor mappings; ``descriptors``: per name, the indices of
    the descriptors it depends on (descriptor mappings only); ``nac``: number of active cells.
    """

    kind: str
    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    descriptors: tuple[tuple[int, ...], ...]
    nac: int

    def block_size(self, i: int) -> int:
        """Number of control values of the ``i``-th name."""
        if self.kind == "uniform":
            return 1
        if self.kind == "distributed":
            return self.nac
        per_descriptor = 1 if self.kind == "multi-linear" else 2
        return 1 + per_descriptor * len(self.descriptors[i])

    @property
    def size(self) -> int:
        return sum(self.block_size(i) for i in range(len(self.names)))


SIGMOID_FLOOR = -80.0
"""Below this argument ``sigmoid`` is 0 to single precision; ``exp(-z)`` would overflow to inf and
turn the gradient into ``inf / inf``."""


def scaled_sigmoid(z: Array, low: float, high: float) -> Array:
    """``low + (high - low) * sigmoid(z)``, with ``z`` floored at ``SIGMOID_FLOOR`` (values and
    gradients unchanged above it, finite below it)."""
    return low + (high - low) / (1.0 + jnp.exp(-jnp.maximum(z, SIGMOID_FLOOR)))


def apply_mapping(x: Array, mapping: Mapping, descriptors: Array | None) -> dict[str, Array]:
    """Values of every controlled name on the active cells, each of shape ``(nac,)``.

    ``descriptors``: normalised descriptors on the active cells, ``(nac, nd)`` (descriptor
    mappings only).
    """
    out = {}
    start = 0
    for i, name in enumerate(mapping.names):
        block = x[start : start + mapping.block_size(i)]
        start += block.shape[0]
        if mapping.kind == "uniform":
            out[name] = jnp.broadcast_to(block[0], (mapping.nac,))
        elif mapping.kind == "distributed":
            out[name] = block
        else:
            z = jnp.broadcast_to(block[0], (mapping.nac,))
            for k, d in enumerate(mapping.descriptors[i]):
                if mapping.kind == "multi-linear":
                    z = z + block[1 + k] * descriptors[:, d]
                else:
                    z = z + block[1 + 2 * k] * _power(descriptors[:, d], block[2 + 2 * k])
            low, high = mapping.bounds[i]
            out[name] = scaled_sigmoid(z, low, high)
    return out


def _power(base: Array, exponent: Array) -> Array:
    """Sign-preserving power ``sign(d) * |d| ** b``: equal to ``d ** b`` for positive descriptors,
    and defined for the negative values a standardised descriptor takes (smash returns NaN there
    once ``b`` leaves an integer value)."""
    nonzero = base != 0
    magnitude = jnp.where(nonzero, jnp.abs(base), 1.0)
    return jnp.where(nonzero, jnp.sign(base) * magnitude**exponent, 0.0)
