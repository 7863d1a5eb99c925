"""``cost_options``: which discharge misfit a run or a calibration measures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config._checks import choice, closest, reject_unknown_keys
from hydrograd.core.cost import ObservationCost
from hydrograd.core.metrics import METRICS

TRANSFORMS = ("keep", "sqrt", "inv")
GAUGE_ALIASES = ("dws", "all")
GAUGE_WEIGHT_QUANTILES = {"median": 0.5, "lquartile": 0.25, "uquartile": 0.75}

SIMULATION_COST_KEYS = (
    "jobs_cmpt",
    "wjobs_cmpt",
    "jobs_cmpt_tfm",
    "end_warmup",
    "gauge",
    "wgauge",
    "event_seg",
)


def _as_list(value: Any, key: str) -> list:
    if isinstance(value, str | int | float):
        return [value]
    if isinstance(value, list | tuple | np.ndarray):
        return list(np.ravel(value))
    raise TypeError(f"cost_options key '{key}' must be a str/number or a list of them, got {value!r}")


def _components(value: Any) -> tuple[str, ...]:
    names = _as_list(value, "jobs_cmpt")
    if not names:
        raise ValueError("cost_options key 'jobs_cmpt' must name at least one component")
    return tuple(choice(str(n), METRICS, "cost_options 'jobs_cmpt' component") for n in names)


def _component_weights(value: Any, n: int) -> tuple[float, ...]:
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"cost_options key 'wjobs_cmpt' alias must be 'mean', got '{value}'")
        return (1.0 / n,) * n
    weights = [float(w) for w in _as_list(value, "wjobs_cmpt")]
    if len(weights) != n:
        raise ValueError(f"cost_options key 'wjobs_cmpt' has {len(weights)} weights for {n} components in 'jobs_cmpt'")
    if any(w < 0 for w in weights):
        raise ValueError(f"cost_options key 'wjobs_cmpt' must hold non-negative weights, got {weights}")
    return tuple(weights)


def _transforms(value: Any, n: int) -> tuple[str, ...]:
    tfms = [choice(str(t), TRANSFORMS, "cost_options 'jobs_cmpt_tfm'") for t in _as_list(value, "jobs_cmpt_tfm")]
    if len(tfms) == 1:
        tfms = tfms * n
    if len(tfms) != n:
        raise ValueError(f"cost_options key 'jobs_cmpt_tfm' has {len(tfms)} entries for {n} components in 'jobs_cmpt'")
    return tuple(tfms)


def warmup_index(value: Any, start: pd.Timestamp, end: pd.Timestamp, dt: float) -> int:
    """Index of the first time step of the cost window for ``end_warmup`` (None: no warm-up)."""
    if value is None:
        return 0
    try:
        date = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValueError(f"cost_options key 'end_warmup' is not a valid date: {value!r}") from None
    if date < start or date > end:
        raise ValueError(
            f"cost_options key 'end_warmup' ({date}) must lie between start_time ({start}) and end_time ({end})"
        )
    index = int((date - start).total_seconds() / dt)
    if index >= int((end - start).total_seconds() / dt):
        raise ValueError(f"cost_options key 'end_warmup' ({date}) leaves no time step in the cost window ending {end}")
    return index


def gauge_indices(value: Any, codes: np.ndarray, downstream: np.ndarray) -> tuple[int, ...]:
    """Indices of the gauges named by ``value``: ``"dws"`` (outlet gauges), ``"all"``, a code or
    a list of codes. ``downstream`` flags the gauges whose cell is an outlet of the mesh."""
    codes = [str(c) for c in codes]
    if isinstance(value, str):
        if value == "dws":
            return tuple(int(i) for i in np.flatnonzero(downstream))
        if value == "all":
            return tuple(range(len(codes)))
        value = [value]
    if not isinstance(value, list | tuple | np.ndarray):
        raise TypeError(
            f"cost_options key 'gauge' must be 'dws', 'all', a gauge code or a list of codes, got {value!r}"
        )
    if len(value) == 0:
        raise ValueError("cost_options key 'gauge' must not be an empty list")
    out = []
    for code in value:
        if str(code) not in codes:
            raise ValueError(
                f"cost_options key 'gauge': unknown gauge code '{code}'.{closest(str(code), codes)} "
                f"Gauges of this mesh: {codes}"
            )
        out.append(codes.index(str(code)))
    return tuple(out)


def _gauge_weights(value: Any, n: int) -> tuple[tuple[float, ...] | None, float | None]:
    if isinstance(value, str):
        if value == "mean":
            return (1.0 / n,) * n, None
        if value == "uniform":
            return (1.0,) * n, None
        if value in GAUGE_WEIGHT_QUANTILES:
            return None, GAUGE_WEIGHT_QUANTILES[value]
        valid = ["mean", "uniform", *GAUGE_WEIGHT_QUANTILES]
        raise ValueError(f"cost_options key 'wgauge': unknown alias '{value}'.{closest(value, valid)} Choices: {valid}")
    weights = [float(w) for w in _as_list(value, "wgauge")]
    if len(weights) != n:
        raise ValueError(f"cost_options key 'wgauge' has {len(weights)} weights for {n} gauges in 'gauge'")
    if any(w < 0 for w in weights):
        raise ValueError(f"cost_options key 'wgauge' must hold non-negative weights, got {weights}")
    return tuple(weights), None


def observation_cost_spec(
    cost_options: dict[str, Any] | None,
    *,
    codes: np.ndarray,
    outlet_gauges: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
    dt: float,
) -> ObservationCost:
    """Check the observation part of ``cost_options`` and build the core's ``ObservationCost``."""
    options = {} if cost_options is None else cost_options
    if not isinstance(options, dict):
        raise TypeError(f"cost_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, SIMULATION_COST_KEYS, "cost_options")
    components = _components(options.get("jobs_cmpt", "nse"))
    gauges = gauge_indices(options.get("gauge", "dws"), codes, outlet_gauges)
    weights, quantile = _gauge_weights(options.get("wgauge", "mean"), len(gauges))
    return ObservationCost(
        components=components,
        component_weights=_component_weights(options.get("wjobs_cmpt", "mean"), len(components)),
        transforms=_transforms(options.get("jobs_cmpt_tfm", "keep"), len(components)),
        start=warmup_index(options.get("end_warmup"), start, end, dt),
        gauges=gauges,
        gauge_weights=weights,
        gauge_quantile=quantile,
    )
