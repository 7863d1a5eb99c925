"""``cost_options``: which discharge misfit a run or a calibration measures."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hydrograd._arrays import to_device
from hydrograd.config._checks import as_date, as_weights, choice, closest, reject_unknown_keys
from hydrograd.core.cost import CostData, ObservationCost
from hydrograd.core.metrics import METRICS
from hydrograd.core.signatures import SIGNATURES
from hydrograd.signal.segmentation import (
    MAX_DURATION,
    PEAK_QUANT,
    PEAK_VALUE,
    check_max_duration,
    check_peak_quant,
    check_peak_value,
    event_mask,
)

if TYPE_CHECKING:
    from hydrograd.model import Model

TRANSFORMS = ("keep", "sqrt", "inv")
GAUGE_ALIASES = ("dws", "all")
GAUGE_WEIGHT_QUANTILES = {"median": 0.5, "lquartile": 0.25, "uquartile": 0.75}
JOBS_COMPONENTS = (*METRICS, *SIGNATURES)
EVENT_SEG_CHECKS = {"peak_quant": check_peak_quant, "peak_value": check_peak_value, "max_duration": check_max_duration}

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


def event_seg_options(value: Any) -> tuple[float, float, float]:
    """``(peak_quant, peak_value, max_duration)`` from the ``event_seg`` dict (None: defaults)."""
    out = {"peak_quant": PEAK_QUANT, "peak_value": PEAK_VALUE, "max_duration": MAX_DURATION}
    if value is None:
        return tuple(out.values())
    if not isinstance(value, dict):
        raise TypeError(f"cost_options key 'event_seg' must be a dict or None, got {type(value).__name__}")
    reject_unknown_keys(value, EVENT_SEG_CHECKS, "cost_options 'event_seg'")
    for key, item in value.items():
        out[key] = EVENT_SEG_CHECKS[key](item, f"cost_options 'event_seg' key '{key}'")
    return tuple(out.values())


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
            return (1.0 / max(n, 1),) * n, None
        if value == "uniform":
            return (1.0,) * n, None
        if value in GAUGE_WEIGHT_QUANTILES:
            return None, GAUGE_WEIGHT_QUANTILES[value]
        valid = ["mean", "uniform", *GAUGE_WEIGHT_QUANTILES]
        raise ValueError(f"cost_options key 'wgauge': unknown alias '{value}'.{closest(value, valid)} Choices: {valid}")
    return as_weights(value, n, f"cost_options key 'wgauge' (one weight per gauge in 'gauge', {n})"), None


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
        transforms=_transforms(options.get("jobs_cmpt_tfm", "keep"), components),
        start=warmup_index(options.get("end_warmup"), start, end, dt),
        gauges=gauges,
        gauge_weights=weights,
        gauge_quantile=quantile,
        event_seg=event_seg_options(options.get("event_seg")),
    )


def warn_unobserved_gauges(
    q_obs: np.ndarray, codes: np.ndarray, gauges: tuple[int, ...], window: slice, where: str
) -> list[str]:
    """Warn about the gauges of ``gauges`` without any valid observation (>= 0; smash's -99 and NaN
    are missing) in the steps ``window`` of ``q_obs`` (``(ng, ntime_step)``). smash returns NaN
    metrics for them without a word; here the NaN comes with a warning naming them. Returns the
    codes of those gauges."""
    observed = np.asarray(q_obs)[list(gauges), window] >= 0
    empty = [str(codes[g]) for g, row in zip(gauges, observed, strict=True) if not row.any()]
    if empty:
        warnings.warn(
            f"No observed discharge (every value -99 or NaN) {where} at gauge(s) {empty}: their metrics are "
            "undefined (NaN), as in smash",
            stacklevel=3,
        )
    return empty


def cost_data(model: Model, spec_or_options: ObservationCost | dict[str, Any] | None) -> CostData | None:
    """The ``CostData`` the signature components of a cost need, or None when it has none.

    ``spec_or_options``: an ``ObservationCost`` or a ``cost_options`` dict (checked here). The
    rainfall is converted here to smash's ``mprcp`` (m3/s): ``mean_prcp * area_dln * 1e-3 / dt``
    in single precision. With flood-event signatures, the events come from the observed discharge
    over the whole period (``hydrograd.signal.segmentation.event_mask``) at the cost's gauges;
    a gauge without any event in the cost window gives a NaN component, as in smash, and a warning.
    """
    if isinstance(spec_or_options, ObservationCost):
        spec = spec_or_options
    else:
        spec = observation_cost_spec(
            spec_or_options,
            codes=model.mesh.code,
            outlet_gauges=model._outlet_gauges,
            start=model.setup.start,
            end=model.setup.end,
            dt=model.setup.dt,
        )
    if not spec.needs_data:
        return None
    area = np.asarray(model.mesh.area_dln, dtype=np.float32)[:, None]
    prcp = np.asarray(model.atmos_data.mean_prcp, dtype=np.float32)
    mprcp = prcp * area * np.float32(1e-3) / np.float32(model.setup.dt)
    if spec.needs_events:
        mask, n_event = event_mask(model, spec.gauges, *spec.event_seg)
        empty = [str(model.mesh.code[g]) for g in spec.gauges if not np.any(mask[g, spec.start :] > 0)]
        if empty:
            warnings.warn(
                f"No flood event in the cost window at gauge(s) {empty}: their event signature components "
                "are NaN (lower event_seg 'peak_quant' or 'peak_value' to find events)",
                stacklevel=2,
            )
    else:
        mask = np.zeros(prcp.shape, dtype=np.int32)
        n_event = np.zeros(prcp.shape[0], dtype=np.int32)
    return CostData(to_device(mprcp), to_device(mask), to_device(n_event))
