"""Adaptive gradient optimizers (optax gradient transformations), with smash's update rules.

sgd, adagrad and rmsprop are optax's, configured as smash configures them. smash's Adam divides
the moment estimates by the constant ``1 - b`` rather than by ``1 - b**t``; ``scale_by_smash_adam``
reproduces that rule so that trajectories match smash's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class SmashAdamState(NamedTuple):
    mu: optax.Updates
    nu: optax.Updates


def scale_by_smash_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam direction ``m / (1 - b1) / (sqrt(v / (1 - b2)) + eps)`` with constant bias scaling."""

    def init(params):
        zeros = optax.tree.zeros_like(params)
        return SmashAdamState(zeros, zeros)

    def update(updates, state, params=None):
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        direction = jax.tree_util.tree_map(
            lambda m, v: (m / (1.0 - b1)) / (jnp.sqrt(v / (1.0 - b2)) + eps),
            mu,
            nu,
        )
        return direction, SmashAdamState(mu, nu)

    return optax.GradientTransformation(init, update)


def smash_adam(learning_rate: float) -> optax.GradientTransformation:
    """Adam as smash updates it."""
    return optax.chain(scale_by_smash_adam(), optax.scale_by_learning_rate(learning_rate))


OPTIMIZERS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": smash_adam,
    "sgd": optax.sgd,
    "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-8),
    "rmsprop": lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-8),
}


@functools.lru_cache(maxsize=32)
def jitted_update(name: str, learning_rate: float) -> tuple[optax.GradientTransformation, Callable]:
    """The optimizer ``name`` and its step ``(grad, state, x) -> (x + update, state)`` as one
    compiled program (step by step, each small array operation would compile on its own)."""
    optimizer = OPTIMIZERS[name](learning_rate)

    @jax.jit
    def step(grad, state, x):
        updates, state = optimizer.update(grad, state, x)
        return optax.apply_updates(x, updates), state

    return optimizer, step
