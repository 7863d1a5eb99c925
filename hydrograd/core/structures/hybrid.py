"""The flux-correction network of the hybrid GR structures, as pure functions.

smash fixes its form: a multilayer perceptron with SiLU hidden activations and a TanH output, so
every correction lies in (-1, 1). Weights follow smash's layout: ``weights[i]`` has shape
``(n_out_i, n_in_i)`` (``weight_1`` is ``(n_hidden_1, n_in)``) and ``biases[i]`` shape
``(n_out_i,)``; any number of hidden layers is accepted (smash allows one or two).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

Array = jnp.ndarray


def mlp(weights: Sequence[Array], biases: Sequence[Array], x: Array) -> Array:
    """Apply the network to features laid out one column per cell: ``(n_in, nac) -> (n_out, nac)``,
    each output in (-1, 1).

    The layout a time step's states already have: no transposes, and the products
    ``weight @ x`` (and their reverse passes) take the CPU's fast matrix kernels (measured against
    cells first in ``benchmarks/RESULTS.md``).
    """
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"mlp needs as many weights as biases, at least one each: got {len(weights)} and {len(biases)}"
        )
    for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
        x = silu(_dense(weight, bias, x))
    return jnp.tanh(_dense(weights[-1], biases[-1], x))


def silu(z: Array) -> Array:
    """SiLU, ``z * sigmoid(z)``, with the sigmoid written ``(1 + tanh(z / 2)) / 2``: the same values
    (to rounding) from one transcendental function and no division, which shortens a hybrid
    calibration's gradient (it evaluates the network twice a step, the reverse pass recomputing the
    forward one; ``benchmarks/RESULTS.md``, "Seventh session")."""
    return z * (0.5 + 0.5 * jnp.tanh(0.5 * z))


def _dense(weight: Array, bias: Array, x: Array) -> Array:
    # Full float32 products: GPUs would otherwise use reduced-precision (TF32) matrix products.
    return jnp.matmul(weight, x, precision=jax.lax.Precision.HIGHEST) + bias[:, None]


def make_flux_correction(weights: Sequence[Array], biases: Sequence[Array]) -> Partial:
    """The ``flux_correction`` hook of a hybrid step: ``features (n_in, nac) -> corrections (n_out, nac)``.

    The hook is a ``jax.tree_util.Partial``, a PyTree whose leaves are the weights and biases: it
    can cross ``jit`` boundaries as a traced argument, and differentiating a function that builds
    it from its arguments gives the gradient with respect to the network.
    """
    return Partial(mlp, tuple(weights), tuple(biases))


def flux_correction_from_layers(layers: dict[str, Array]) -> Partial:
    """:func:`make_flux_correction` from smash's named layers ``weight_1, bias_1, weight_2, ...``."""
    n_layers = len(layers) // 2
    return make_flux_correction(
        [layers[f"weight_{i}"] for i in range(1, n_layers + 1)],
        [layers[f"bias_{i}"] for i in range(1, n_layers + 1)],
    )
