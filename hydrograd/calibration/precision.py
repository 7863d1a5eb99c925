"""The arithmetic of a calibration, decided once before it starts.

Forward runs and derivative-free searches (sbs, nelder-mead, powell) run the model in single
precision, as smash does, and print smash's numbers. Gradient-based calibrations of mapped
parameters, and the derivatives of ``backward_run``, default to double precision: a single-precision
model adds rounding noise of about 1e-7 to every cost and gradient (sums of derivatives that nearly
cancel lose every digit; smash's adjoint keeps them), and on the non-convex problems of calibration
L-BFGS-B amplifies it into different trajectories and, on average, worse optima
(``benchmarks/RESULTS.md``). Learnable regionalization (``mapping="ann"``) runs the model in single
precision, as smash does (its network computes in double precision). Domains too large for a
double-precision reverse pass (``DOUBLE_PRECISION_BUDGET``) stay in single precision, and so does
everything on an accelerator, where double precision is many times slower.
``common_options["precision"]`` overrides the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device

DOUBLE_PRECISION_BUDGET = 2 << 30
"""Largest float64 working set (states kept for the reverse pass, bytes) that a calibration
computes in double precision by default."""


@dataclass(frozen=True)
class Precision:
    """``model``: the dtype the model computes in (``"float32"`` or ``"float64"``); ``double``:
    whether the search runs under ``jax.enable_x64`` (a float64 control vector, network and cost
    reduction); ``cost``: the dtype the discharge misfit is reduced in (``"float32"`` reduces it
    exactly as smash does, same digits; ``"float64"`` removes the single-precision noise of long
    sums, which derails line searches)."""

    model: str
    double: bool
    cost: str


def choose_precision(
    gradient: bool, mapping: str, requested: str | None, n_cells: int, n_steps: int, n_states: int
) -> Precision:
    """The precision of a calibration of ``mapping`` on a model of ``n_cells`` active cells,
    ``n_steps`` time steps and ``n_states`` states, by a gradient-based optimizer or for a
    derivative (``gradient``) or not; ``requested``: the user's ``common_options["precision"]``
    (None: the default of the module docstring)."""
    if requested is not None:
        model = requested
    elif not gradient or mapping == "ann" or jax.default_backend() != "cpu":
        model = "float32"
    else:
        working_set = n_cells * n_steps * (n_states + 2) * 8
        model = "float64" if working_set <= DOUBLE_PRECISION_BUDGET else "float32"
    if mapping == "ann":
        return Precision(model, double=True, cost="float64")
    cost = "float64" if gradient else "float32"
    return Precision(model, double=gradient or model == "float64", cost=cost)


def cast_floating(tree: Any, dtype: str) -> Any:
    """Floating leaves of ``tree`` on the device in ``dtype`` (integers and booleans untouched).

    The cast runs in numpy: a JAX cast would compile one small program per array shape. Call under
    ``jax.enable_x64`` for float64.
    """
    target = np.dtype(dtype)

    def cast(a):
        if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) and a.dtype != target:
            return to_device(a, target)
        return a

    return jax.tree_util.tree_map(cast, tree)
