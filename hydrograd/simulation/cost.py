"""A run's cost against observations: the data signature components need, the cost of a simulated
discharge, and the warnings where the cost is undefined."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from hydrograd._arrays import to_device
from hydrograd.core.cost import CostData, ObservationCost, observation_cost
from hydrograd.signal import event_mask


def warn_unobserved_gauges(
    q_obs: np.ndarray, codes: Sequence[str], gauges: Sequence[int], window: slice, where: str
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


def cost_data(
    spec: ObservationCost,
    q_obs: np.ndarray,
    mean_prcp: np.ndarray,
    area_dln: np.ndarray,
    dt: float,
    codes: Sequence[str],
) -> CostData | None:
    """The ``CostData`` the signature components of ``spec`` need, or None when it has none.

    ``q_obs`` and ``mean_prcp`` are ``(ng, ntime_step)`` (m3/s, mm/dt), ``area_dln`` ``(ng,)`` m2.
    The rainfall is converted to smash's ``mprcp`` (m3/s): ``mean_prcp * area_dln * 1e-3 / dt``
    in single precision. With flood-event signatures, the events come from the observed discharge
    over the whole period (``hydrograd.signal.event_mask``) at the cost's gauges; a gauge without
    any event in the cost window gives a NaN component, as in smash, and a warning.
    """
    if not spec.needs_data:
        return None
    area = np.asarray(area_dln, dtype=np.float32)[:, None]
    prcp = np.asarray(mean_prcp, dtype=np.float32)
    mprcp = prcp * area * np.float32(1e-3) / np.float32(dt)
    if spec.needs_events:
        mask, n_event = event_mask(q_obs, prcp, dt, spec.gauges, spec.event_seg)
        empty = [str(codes[g]) for g in spec.gauges if not np.any(mask[g, spec.start :] > 0)]
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


def response_cost(
    q_sim: np.ndarray, q_obs: np.ndarray, spec: ObservationCost, data: CostData | None, codes: Sequence[str]
) -> float:
    """The cost ``spec`` of the simulated discharge ``q_sim`` against ``q_obs`` (both
    ``(ng, ntime_step)``), with a warning where it is undefined: gauges without observations in the
    cost window (NaN, as in smash), or any other non-finite cost (e.g. NSE on a window where the
    observed discharge does not vary)."""
    unobserved = warn_unobserved_gauges(q_obs, codes, spec.gauges, slice(spec.start, None), "in the cost window")
    jobs = float(observation_cost(to_device(q_sim), to_device(q_obs), spec, data))
    if not (np.isfinite(jobs) or unobserved):
        warnings.warn(
            f"The cost is {jobs} over the cost window ({np.shape(q_obs)[1] - spec.start} time step(s) "
            "from cost_options 'end_warmup'): a component of 'jobs_cmpt' is undefined there, e.g. NSE or KGE "
            "where the observed discharge does not vary",
            stacklevel=3,
        )
    return jobs
