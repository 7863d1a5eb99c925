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


def _dense(weight: Array, bias: Array, x: Array) -> Array:
    # Full float32 products: GPUs would otherwise use reduced-precision (TF32) matrix products.
    return jnp.matmul(x, weight.T, precision=jax.lax.Precision.HIGHEST) + bias


def mlp(weights: Sequence[Array], biases: Sequence[Array], x: Array) -> Array:
    """Apply the network to features ``x`` of shape ``(..., n_in)``; returns ``(..., n_out)`` in (-1, 1)."""
    if len(weights) != len(biases) or not weights:
        raise ValueError(
            f"mlp needs as many weights as biases, at least one each: got {len(weights)} and {len(biases)}"
        )
    for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
        x = jax.nn.silu(_dense(weight, bias, x))
    return jnp.tanh(_dense(weights[-1], biases[-1], x))


def make_flux_correction(weights: Sequence[Array], biases: Sequence[Array]) -> Partial:
    """The ``flux_correction`` hook of a hybrid step: ``features (nac, n_in) -> corrections (nac, n_out)``.

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
