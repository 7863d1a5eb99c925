"""Metrics of simulated against observed discharge, per gauge."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hydrograd._arrays import to_device
from hydrograd.core.metrics import METRICS
from hydrograd.simulation.cost import warn_unobserved_gauges


def evaluate(
    q_obs: np.ndarray, q_sim: np.ndarray, metrics: Sequence[str], window: slice, codes: Sequence[str]
) -> np.ndarray:
    """Each metric of ``metrics`` at each gauge over the steps ``window`` of ``q_obs`` and ``q_sim``
    (``(ng, ntime_step)`` m3/s): array ``(ng, n_metrics)`` float64. Missing observations (-99 or
    NaN) are skipped; a gauge without any in the window gets NaN metrics (as in smash) and a
    warning."""
    warn_unobserved_gauges(q_obs, codes, range(len(codes)), window, "between start_eval and end_eval")
    obs = to_device(np.asarray(q_obs)[:, window])
    sim = to_device(np.asarray(q_sim)[:, window])
    return np.stack([np.asarray(METRICS[m](obs, sim), dtype=np.float64) for m in metrics], axis=-1)
