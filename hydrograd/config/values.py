"""Values given for a parameter or an initial state: a number or a map, checked against the
feasible domain (``set_rr_parameters``, ``set_rr_initial_states``, ``multiple_forward_run``), and
values given for a structural-error parameter: a number or one value per gauge
(``set_serr_mu_parameters``, ``set_serr_sigma_parameters``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from hydrograd._validate import is_real
from hydrograd.core.parameters import Spec


def _numbers(name: str, value: Any, what: str) -> np.ndarray:
    """``value`` as an array of numbers; TypeError for anything else."""
    if not (is_real(value) or isinstance(value, np.ndarray | jax.Array)):
        raise TypeError(f"value of {what} '{name}' must be a number or an array, got {type(value).__name__}")
    given = np.asarray(value)
    if given.dtype.kind not in "iuf":
        raise TypeError(f"value of {what} '{name}' must hold numbers, got an array of dtype {given.dtype}")
    return given


def _check_domain(name: str, checked: np.ndarray, spec: Spec, what: str, where: str, strict: bool) -> None:
    """ValueError unless the values ``checked`` are finite, within float32 and inside the feasible
    domain of ``spec`` (``where`` says which values were checked, for the messages)."""
    if not np.all(np.isfinite(checked)):
        raise ValueError(f"value of {what} '{name}' holds NaN or inf{where}")
    with np.errstate(over="ignore"):
        overflow = not np.all(np.isfinite(checked.astype(np.float32)))
    if overflow:
        raise ValueError(f"value of {what} '{name}' exceeds the single-precision range (about 3.4e38)")
    if checked.size == 0:  # nothing to check
        return
    low, high = float(checked.min()), float(checked.max())
    if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
        edge = " (a parameter must lie strictly inside it, at least 1.2e-38 above 0)" if strict else ""
        raise ValueError(
            f"value of {what} '{name}' spans [{low}, {high}], outside its feasible domain "
            f"]{spec.feasible[0]}, {spec.feasible[1]}[{edge}"
        )


def checked_value(name: str, value: Any, spec: Spec, what: str, active_cell: np.ndarray) -> np.ndarray:
    """``value`` (a number or a ``(nrow, ncol)`` map) as a float32 ``(nrow, ncol)`` map (a
    broadcast view for a number), after checking that it is finite on the active cells (``active_cell``
    == 1) and inside the feasible domain of ``spec``; strictly inside it, at least the smallest
    normal float32 above a domain starting at 0, when ``what`` is ``"rr_parameter"``. ``what``
    names the kind of value in the messages."""
    given = _numbers(name, value, what)
    grid = np.shape(active_cell)
    if given.size == 1:
        checked = given.reshape(-1)
    elif given.shape == grid:
        checked = given[np.asarray(active_cell) == 1]
    else:
        raise ValueError(f"value of {what} '{name}' must be a scalar or an array of shape {grid}, got {given.shape}")
    _check_domain(name, checked, spec, what, " on active cells", strict=what == "rr_parameter")
    with np.errstate(over="ignore"):
        arr = given.astype(np.float32)
    if checked.size == 0:  # a mesh without active cells
        return np.broadcast_to(arr.reshape(grid), grid)
    return np.broadcast_to(arr.reshape(grid) if arr.size > 1 else arr.reshape(()), grid)


def checked_gauge_value(name: str, value: Any, spec: Spec, what: str, ng: int) -> np.ndarray:
    """``value`` (a number or one value per gauge, shape ``(ng,)``) as a float32 ``(ng,)`` array
    (a broadcast view for a number), after checking that every value is finite and inside the
    feasible domain of ``spec`` give or take smash's tolerance (``sg0 = 0`` is accepted, as in
    smash). ``what`` names the kind of value in the messages."""
    given = _numbers(name, value, what)
    if given.size != 1 and given.shape != (ng,):
        raise ValueError(f"value of {what} '{name}' must be a scalar or an array of shape {(ng,)}, got {given.shape}")
    _check_domain(name, given.reshape(-1), spec, what, "", strict=False)
    return np.broadcast_to(given.astype(np.float32).reshape(-1 if given.size > 1 else ()), (ng,))
