"""Values given for a parameter or an initial state: a number or a map, checked against the
feasible domain (``set_rr_parameters``, ``set_rr_initial_states``, ``multiple_forward_run``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from hydrograd._validate import is_real
from hydrograd.core.parameters import Spec


def checked_value(name: str, value: Any, spec: Spec, what: str, active_cell: np.ndarray) -> np.ndarray:
    """``value`` (a number or a ``(nrow, ncol)`` map) as a float32 ``(nrow, ncol)`` map (a
    broadcast view for a number), after checking that it is finite on the active cells (``active_cell``
    == 1) and inside the feasible domain of ``spec``; strictly inside it, at least the smallest
    normal float32 above a domain starting at 0, when ``what`` is ``"rr_parameter"``. ``what``
    names the kind of value in the messages."""
    if not (is_real(value) or isinstance(value, np.ndarray | jax.Array)):
        raise TypeError(f"value of {what} '{name}' must be a number or an array, got {type(value).__name__}")
    given = np.asarray(value)
    if given.dtype.kind not in "iuf":
        raise TypeError(f"value of {what} '{name}' must hold numbers, got an array of dtype {given.dtype}")
    grid = np.shape(active_cell)
    if given.size == 1:
        checked = given.reshape(-1)
    elif given.shape == grid:
        checked = given[np.asarray(active_cell) == 1]
    else:
        raise ValueError(f"value of {what} '{name}' must be a scalar or an array of shape {grid}, got {given.shape}")
    if not np.all(np.isfinite(checked)):
        raise ValueError(f"value of {what} '{name}' holds NaN or inf on active cells")
    with np.errstate(over="ignore"):
        arr = given.astype(np.float32)
        overflow = not np.all(np.isfinite(checked.astype(np.float32)))
    if overflow:
        raise ValueError(f"value of {what} '{name}' exceeds the single-precision range (about 3.4e38)")
    if checked.size == 0:  # a mesh without active cells: nothing to check
        return np.broadcast_to(arr.reshape(grid), grid)
    low, high = float(checked.min()), float(checked.max())
    strict = what == "rr_parameter"
    if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
        edge = " (a parameter must lie strictly inside it, at least 1.2e-38 above 0)" if strict else ""
        raise ValueError(
            f"value of {what} '{name}' spans [{low}, {high}], outside its feasible domain "
            f"]{spec.feasible[0]}, {spec.feasible[1]}[{edge}"
        )
    return np.broadcast_to(arr.reshape(grid) if arr.size > 1 else arr.reshape(()), grid)
