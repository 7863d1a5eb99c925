"""``common_options`` and ``return_options`` of the simulation functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config._checks import as_bool, choice, reject_unknown_keys

COMMON_OPTIONS = {"ncpu": 1, "verbose": True, "precision": None}
PRECISIONS = ("float32", "float64")

RETURN_OPTIONS = {
    "forward_run": ("time_step", "rr_states", "q_domain", "internal_fluxes", "cost", "jobs"),
    "optimize": (
        "time_step",
        "rr_states",
        "q_domain",
        "internal_fluxes",
        "control_vector",
        "net",
        "cost",
        "n_iter",
        "projg",
        "jobs",
        "jreg",
        "lcurve_wjreg",
        "iter_cost",
        "iter_projg",
    ),
}


def common_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``verbose`` (bool), ``ncpu`` (accepted for compatibility; XLA picks its own threads) and
    ``precision`` (hydrograd's: ``"float32"``, ``"float64"`` or None for the default, see
    ``hydrograd.optimize.run.model_precision``)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"common_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, COMMON_OPTIONS, "common_options")
    out = {**COMMON_OPTIONS, **options}
    out["verbose"] = as_bool(out["verbose"], "common_options key 'verbose'")
    ncpu = out["ncpu"]
    if isinstance(ncpu, bool | np.bool_) or not isinstance(ncpu, int | np.integer):
        raise TypeError(f"common_options key 'ncpu' must be a positive int, got {type(ncpu).__name__} {ncpu!r}")
    if ncpu < 1:
        raise ValueError(f"common_options key 'ncpu' must be a positive int, got {ncpu!r}")
    out["ncpu"] = int(ncpu)
    if out["precision"] is not None:
        out["precision"] = choice(out["precision"], PRECISIONS, "common_options key 'precision'")
    return out


def _time_steps(value: Any, time_index: pd.DatetimeIndex) -> np.ndarray:
    """Indices into ``time_index`` of the steps to return."""
    if isinstance(value, str) and value == "all":
        return np.arange(len(time_index))
    if isinstance(value, str | pd.Timestamp):
        value = [value]
    try:
        dates = pd.DatetimeIndex(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"return_options key 'time_step' must be 'all', a date or a list of dates, got {value!r}"
        ) from None
    positions = time_index.get_indexer(dates)
    if (positions < 0).any():
        bad = dates[positions < 0][0]
        raise ValueError(
            f"return_options key 'time_step': {bad} is not a time step of the simulation "
            f"({time_index[0]} to {time_index[-1]} every {time_index.freq})"
        )
    return np.unique(positions)


def return_options(options: dict[str, Any] | None, func: str, time_index: pd.DatetimeIndex) -> dict[str, Any]:
    """Flags of what to return, with ``time_step`` turned into step indices."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"return_options must be a dict, got {type(options).__name__}")
    valid = RETURN_OPTIONS[func]
    reject_unknown_keys(options, valid, "return_options")
    out = {k: as_bool(options.get(k, False), f"return_options key '{k}'") for k in valid if k != "time_step"}
    out["time_step"] = _time_steps(options.get("time_step", "all"), time_index)
    return out
