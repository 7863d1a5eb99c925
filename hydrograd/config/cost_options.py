"""``cost_options``: which discharge misfit a run or a calibration measures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hydrograd._validate import as_date, as_weights, choice, closest, reject_unknown_keys
from hydrograd.config.facts import ModelFacts
from hydrograd.config.signal_options import event_seg, select_gauges
from hydrograd.core.cost import ObservationCost
from hydrograd.core.metrics import METRICS
from hydrograd.core.signatures import SIGNATURES

TRANSFORMS = ("keep", "sqrt", "inv")
GAUGE_WEIGHT_QUANTILES = {"median": 0.5, "lquartile": 0.25, "uquartile": 0.75}
JOBS_COMPONENTS = (*METRICS, *SIGNATURES)

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
    return tuple(choice(str(n), JOBS_COMPONENTS, "cost_options 'jobs_cmpt' component") for n in names)


def _component_weights(value: Any, n: int) -> tuple[float, ...]:
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"cost_options key 'wjobs_cmpt' alias must be 'mean', got '{value}'")
        return (1.0 / n,) * n
    return as_weights(value, n, f"cost_options key 'wjobs_cmpt' (one weight per 'jobs_cmpt' component, {n})")


def _transforms(value: Any, components: tuple[str, ...]) -> tuple[str, ...]:
    n = len(components)
    tfms = [choice(str(t), TRANSFORMS, "cost_options 'jobs_cmpt_tfm'") for t in _as_list(value, "jobs_cmpt_tfm")]
    if len(tfms) == 1:
        tfms = tfms * n
    if len(tfms) != n:
        raise ValueError(f"cost_options key 'jobs_cmpt_tfm' has {len(tfms)} entries for {n} components in 'jobs_cmpt'")
    for name, tfm in zip(components, tfms, strict=True):
        if name in SIGNATURES and tfm != "keep":
            raise ValueError(
                f"cost_options key 'jobs_cmpt_tfm': transform '{tfm}' is not available for signature component "
                f"'{name}'; signatures only take 'keep'"
            )
    return tuple(tfms)


def warmup_index(value: Any, start: pd.Timestamp, end: pd.Timestamp, dt: float) -> int:
    """Index of the first time step of the cost window for ``end_warmup`` (None: no warm-up)."""
    if value is None:
        return 0
    date = as_date(value, "cost_options key 'end_warmup'")
    if date < start or date > end:
        raise ValueError(
            f"cost_options key 'end_warmup' ({date}) must lie between start_time ({start}) and end_time ({end})"
        )
    index = int((date - start).total_seconds() / dt)
    if index >= int((end - start).total_seconds() / dt):
        raise ValueError(f"cost_options key 'end_warmup' ({date}) leaves no time step in the cost window ending {end}")
    return index


def _gauge_weights(value: Any, n: int) -> tuple[tuple[float, ...] | None, float | None]:
    if isinstance(value, str):
        if value == "mean":
            return (1.0 / max(n, 1),) * n, None
        if value == "uniform":
            return (1.0,) * n, None
        if value in GAUGE_WEIGHT_QUANTILES:
            return None, GAUGE_WEIGHT_QUANTILES[value]
        valid = ["mean", "uniform", *GAUGE_WEIGHT_QUANTILES]
        raise ValueError(f"cost_options key 'wgauge': unknown alias '{value}'.{closest(value, valid)} Choices: {valid}")
    return as_weights(value, n, f"cost_options key 'wgauge' (one weight per gauge in 'gauge', {n})"), None


def observation_cost_spec(cost_options: dict[str, Any] | None, facts: ModelFacts) -> ObservationCost:
    """Check the observation part of ``cost_options`` and build the core's ``ObservationCost``."""
    options = {} if cost_options is None else cost_options
    if not isinstance(options, dict):
        raise TypeError(f"cost_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, SIMULATION_COST_KEYS, "cost_options")
    components = _components(options.get("jobs_cmpt", "nse"))
    gauges = select_gauges(
        options.get("gauge", "dws"), facts.gauge_codes, facts.outlet_gauges, "cost_options key 'gauge'"
    )
    weights, quantile = _gauge_weights(options.get("wgauge", "mean"), len(gauges))
    segmentation = event_seg(options.get("event_seg"), "cost_options 'event_seg'", with_by=False)
    return ObservationCost(
        components=components,
        component_weights=_component_weights(options.get("wjobs_cmpt", "mean"), len(components)),
        transforms=_transforms(options.get("jobs_cmpt_tfm", "keep"), components),
        start=warmup_index(options.get("end_warmup"), facts.start, facts.end, facts.dt),
        gauges=gauges,
        gauge_weights=weights,
        gauge_quantile=quantile,
        event_seg=(segmentation.peak_quant, segmentation.peak_value, segmentation.max_duration),
    )
