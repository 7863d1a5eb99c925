"""``common_options`` and ``return_options`` of the simulation functions, and ``evaluation``'s
arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._validate import as_bool, as_date, choice, reject_unknown_keys
from hydrograd.core.metrics import METRICS
from hydrograd.core.simulate import Record

COMMON_OPTIONS = {"ncpu": 1, "verbose": True, "precision": None}
PRECISIONS = ("float32", "float64")

RETURN_OPTIONS = {
    "forward_run": ("time_step", "rr_states", "q_domain", "internal_fluxes", "cost", "jobs"),
    "backward_run": ("time_step", "rr_states", "q_domain", "internal_fluxes", "cost", "jobs", "grad"),
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
    "bayesian_optimize": (
        "time_step",
        "rr_states",
        "q_domain",
        "internal_fluxes",
        "control_vector",
        "cost",
        "n_iter",
        "projg",
        "log_lkh",
        "log_prior",
        "log_h",
        "serr_mu",
        "serr_sigma",
        "iter_cost",
        "iter_projg",
    ),
    "multiset_estimate": ("time_step", "rr_states", "q_domain", "internal_fluxes", "cost", "jobs", "lcurve_multiset"),
}


@dataclass(frozen=True)
class CommonSpec:
    """Checked ``common_options``: ``verbose``; ``ncpu`` (accepted for compatibility: XLA picks its
    own threads); ``precision`` (hydrograd's: ``"float32"``, ``"float64"`` or None for the default,
    see ``hydrograd.calibration.precision``)."""

    ncpu: int
    verbose: bool
    precision: str | None


def common_options(options: dict[str, Any] | None) -> CommonSpec:
    """Check ``common_options`` (None: the defaults)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"common_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, COMMON_OPTIONS, "common_options")
    given = {**COMMON_OPTIONS, **options}
    ncpu = given["ncpu"]
    if isinstance(ncpu, bool | np.bool_) or not isinstance(ncpu, int | np.integer):
        raise TypeError(f"common_options key 'ncpu' must be a positive int, got {type(ncpu).__name__} {ncpu!r}")
    if ncpu < 1:
        raise ValueError(f"common_options key 'ncpu' must be a positive int, got {ncpu!r}")
    precision = given["precision"]
    if precision is not None:
        precision = choice(precision, PRECISIONS, "common_options key 'precision'")
    return CommonSpec(
        ncpu=int(ncpu), verbose=as_bool(given["verbose"], "common_options key 'verbose'"), precision=precision
    )


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


@dataclass(frozen=True, eq=False)
class ReturnSpec:
    """Checked ``return_options``: the names asked for (``wanted``) and the indices of the returned
    time steps (``time_step``)."""

    wanted: frozenset[str]
    time_step: np.ndarray

    def __getitem__(self, name: str) -> bool:
        """Whether ``name`` is asked for."""
        return name in self.wanted

    @property
    def record(self) -> Record:
        """What the run must keep for these outputs."""
        return Record(
            states="rr_states" in self.wanted,
            q_domain="q_domain" in self.wanted,
            fluxes="internal_fluxes" in self.wanted,
        )


def return_options(options: dict[str, Any] | None, func: str, time_index: pd.DatetimeIndex) -> ReturnSpec:
    """Check ``return_options`` of ``func`` (a key of :data:`RETURN_OPTIONS`)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"return_options must be a dict, got {type(options).__name__}")
    valid = RETURN_OPTIONS[func]
    reject_unknown_keys(options, valid, "return_options")
    wanted = frozenset(
        k for k in valid if k != "time_step" and as_bool(options.get(k, False), f"return_options key '{k}'")
    )
    return ReturnSpec(wanted, _time_steps(options.get("time_step", "all"), time_index))


def _eval_step(value: Any, which: str, start: pd.Timestamp, end: pd.Timestamp, dt: float) -> int:
    if value is None:
        date = start if which == "start" else end
    else:
        date = as_date(value, f"{which}_eval")
        if date < start or date > end:
            raise ValueError(f"{which}_eval ({date}) must lie between start_time ({start}) and end_time ({end})")
    return int((date - start).total_seconds() / dt)


def evaluation_options(
    metric: Any, start_eval: Any, end_eval: Any, start: pd.Timestamp, end: pd.Timestamp, dt: float
) -> tuple[tuple[str, ...], slice]:
    """The metric names and the window of time steps of ``evaluation``'s arguments."""
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list | tuple) or not names:
        raise TypeError(f"metric must be a metric name or a list of names, got {metric!r}")
    names = tuple(choice(m, METRICS, "evaluation metric") for m in names)
    first = _eval_step(start_eval, "start", start, end, dt)
    last = _eval_step(end_eval, "end", start, end, dt)
    if last <= first:
        raise ValueError(f"end_eval must come after start_eval (steps {first} to {last})")
    return names, slice(first, last)
