"""Adaptive gradient optimizers (``adam``, ``sgd``, ``adagrad``, ``rmsprop``): optax gradient
transformations with smash's update rules, and the projected descent loop around them.

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
import numpy as np
import optax

from hydrograd.optimizers._base import (
    CALLBACK_STOP_MESSAGE,
    INDENT,
    MAXITER_MESSAGE,
    Functions,
    IterationCallback,
    OptimizerResult,
    Report,
    Settings,
    call_back,
    inf_norm,
    iteration_line,
)


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


TRANSFORMATIONS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": smash_adam,
    "sgd": optax.sgd,
    "adagrad": lambda lr: optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-8),
    "rmsprop": lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-8),
}


@functools.lru_cache(maxsize=32)
def jitted_update(name: str, learning_rate: float) -> tuple[optax.GradientTransformation, Callable]:
    """The optimizer ``name`` and its step ``(grad, state, x) -> (x + update, state)`` as one
    compiled program (step by step, each small array operation would compile on its own)."""
    optimizer = TRANSFORMATIONS[name](learning_rate)

    @jax.jit
    def step(grad, state, x):
        updates, state = optimizer.update(grad, state, x)
        return optax.apply_updates(x, updates), state

    return optimizer, step


def _adaptive_descent(
    name: str,
    functions: Functions,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    settings: Settings,
    report: Report,
    callback: IterationCallback = None,
) -> OptimizerResult:
    """Adam, SGD, Adagrad or RMSprop steps (optax) projected on the bounds, with smash's early
    stopping: stop after ``early_stopping`` iterations without a new best cost and return to
    the best iterate. ``functions.gradient_norm`` gives the reported ``|proj g|`` of a gradient
    (default: its infinity norm)."""
    value_and_grad, termination = functions.value_and_grad, settings.termination
    norm = functions.gradient_norm or inf_norm
    optimizer, step = jitted_update(name, settings.learning_rate)
    maxiter, patience = termination["maxiter"], termination.get("early_stopping", 0)
    x = np.asarray(x0, dtype=np.float64)
    opt_state = optimizer.init(x)
    value, grad = value_and_grad(x)
    projg = norm(grad)
    history, projg_history = [value], [projg]
    report(iteration_line(0, 1, value, f"|proj g| = {projg:>.5e}"))
    best = {"cost": np.inf, "iteration": 0, "x": x, "projg": projg}
    best_seen = {"cost": value, "iteration": 0, "x": x.copy(), "projg": projg}
    message = MAXITER_MESSAGE
    stopped = False
    iteration = 0
    for iteration in range(1, maxiter + 1):
        moved, opt_state = step(grad, opt_state, x)
        x = np.clip(np.asarray(moved), lower, upper)
        value, grad = value_and_grad(x)
        projg = norm(grad)
        history.append(value)
        projg_history.append(projg)
        if patience:
            if value < best["cost"] or iteration == 1:
                best = {"cost": value, "iteration": iteration, "x": x.copy(), "projg": projg}
            elif iteration - best["iteration"] > patience:
                message = f"EARLY STOPPING: NO IMPROVEMENT for {patience} CONSECUTIVE ITERATIONS"
                report(f"{INDENT}{message}")
                break
        if value < best_seen["cost"]:
            best_seen = {"cost": value, "iteration": iteration, "x": x.copy(), "projg": projg}
        stopped = call_back(callback, {"control_vector": x.copy(), "cost": value, "n_iter": iteration, "projg": projg})
        report(iteration_line(iteration, iteration + 1, value, f"|proj g| = {projg:>.5e}"))
        if stopped:
            message = CALLBACK_STOP_MESSAGE
            report(f"{INDENT}{message}")
            break
        if iteration == maxiter:
            report(f"{INDENT}{MAXITER_MESSAGE}")
    n_iter = iteration
    if stopped:
        report(f"{INDENT}Revert to iteration {best_seen['iteration']} with J = {best_seen['cost']:.5e}")
        x, value, projg, n_iter = best_seen["x"], best_seen["cost"], best_seen["projg"], best_seen["iteration"]
    elif patience and best["iteration"] < maxiter:
        report(f"{INDENT}Revert to iteration {best['iteration']} with J = {best['cost']:.5e} due to early stopping")
        x, value, projg, n_iter = best["x"], best["cost"], best["projg"], best["iteration"]
    return OptimizerResult(x, value, n_iter, message, projg, history, projg_history)


adam = functools.partial(_adaptive_descent, "adam")
sgd = functools.partial(_adaptive_descent, "sgd")
adagrad = functools.partial(_adaptive_descent, "adagrad")
rmsprop = functools.partial(_adaptive_descent, "rmsprop")
