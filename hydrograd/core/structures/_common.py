"""Pieces shared by every hydrological structure: the per-step inputs and NaN-safe arithmetic."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from hydrograd._process import traced_for_accelerator

Array = jnp.ndarray


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["prcp", "pet", "imperviousness"],
    meta_fields=["beta", "dt", "complete"],
)
@dataclasses.dataclass(frozen=True)
class HydroInputs:
    """What a hydrological operator sees at one time step, each array of shape ``(nac,)``.

    ``prcp`` (mm/dt, snow melt included) and ``pet`` (mm/dt) are negative where data are missing;
    ``beta`` is the percolation scale for the time step; ``imperviousness`` is the impervious
    fraction of each cell (0 when not read); ``dt`` is the time step in seconds; ``complete`` says
    that no value of the whole forcing is missing, so that the operators can leave out their
    missing-data branches. ``beta``, ``dt`` and ``complete`` are static under ``jit``.
    """

    prcp: Array
    pet: Array
    imperviousness: Array
    beta: float
    dt: float
    complete: bool = False


def safe_pow(x: Array, p: float) -> Array:
    """``x ** p`` for ``x > 0`` and 0 elsewhere, with a finite gradient everywhere.

    The inner ``where`` keeps the untaken branch away from ``0 ** p`` so that its (discarded)
    derivative cannot turn into NaN (the "double where" pattern).
    """
    positive = x > 0
    return jnp.where(positive, jnp.where(positive, x, 1.0) ** p, 0.0)


def stored(x: Array) -> Array:
    """``x`` itself, rounded to its own dtype as it already is: a no-op for the arithmetic, which
    XLA's simplifier cannot see through. Without it XLA folds ``(1 + u) - 1`` into ``u`` and
    ``(1 - a) - 1`` into ``-a``, undoing the rounding that smash's single-precision arithmetic
    performs and that a few laws here reproduce on purpose. In programs traced for an accelerator,
    whose compiler sees through that rounding (an NVIDIA H200 gave ``z`` for
    ``stored(z + 1.5 2^52) - 1.5 2^52``), an optimization barrier, which ends the kernel there."""
    if traced_for_accelerator():
        return jax.lax.optimization_barrier(x)
    info = jnp.finfo(x.dtype)
    return jax.lax.reduce_precision(x, exponent_bits=info.nexp, mantissa_bits=info.nmant)


@jax.custom_jvp
def guarded_ratio(num: Array, den: Array, limit: Array) -> Array:
    """``num / den`` where ``den > 0``, and ``limit`` elsewhere, with finite gradients.

    For the GR store laws, whose denominators stay positive while the filling ratio lies in the
    range the model can reach (a ratio in [0, 1], or up to twice that with a hybrid network's
    corrections). A network whose output rounds to exactly +-1 can take the ratio to the edge,
    where the law is ``0 / 0``; ``limit`` is then the law's limit at that point, so results inside
    the reachable range are unchanged. The derivative is written out, ``(dnum - ratio * dden) / den``,
    which reuses the ratio instead of dividing twice.
    """
    regular = den > 0.0
    return jnp.where(regular, num / jnp.where(regular, den, 1.0), limit)


@guarded_ratio.defjvp
def _guarded_ratio_jvp(primals: tuple[Array, Array, Array], tangents: tuple[Array, Array, Array]) -> tuple:
    (num, den, limit), (d_num, d_den, d_limit) = primals, tangents
    regular = den > 0.0
    safe_den = jnp.where(regular, den, 1.0)
    ratio = jnp.where(regular, num / safe_den, limit)
    return ratio, jnp.where(regular, (d_num - ratio * d_den) / safe_den, d_limit)


GRADIENT_LIMIT = 1e30
"""Largest gradient magnitude a time step passes back (see :func:`gradient_guard`)."""


@jax.custom_vjp
def gradient_guard(tree: Any) -> Any:
    """Identity on a PyTree of float arrays whose reverse pass bounds the cotangents.

    A structure's step applies it to its parameters and states, so the gradient a step sends
    back to the previous step and to the parameters is clipped to ``+-GRADIENT_LIMIT``, a NaN
    becoming 0. Where the float32 state-to-state derivatives chain to overflow (a store of
    capacity 1e-6 mm against an exchange of 50 mm/dt, or a run that converges to rounding noise),
    the gradient stays finite instead of turning into ``inf * 0``; anywhere else it passes
    unchanged, since real gradients are many orders of magnitude below the limit.
    """
    return tree


def _guard_forward(tree: Any) -> tuple[Any, None]:
    return tree, None


def _guard_backward(_: None, cotangent: Any) -> tuple[Any]:
    def bound(g):
        return jnp.where(jnp.isnan(g), 0.0, jnp.clip(g, -GRADIENT_LIMIT, GRADIENT_LIMIT)).astype(g.dtype)

    return (jax.tree_util.tree_map(bound, cotangent),)


gradient_guard.defvjp(_guard_forward, _guard_backward)
