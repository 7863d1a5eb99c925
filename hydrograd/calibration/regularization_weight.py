"""Choosing the regularization weight ``wjreg`` by calibration cycles (``cost_options["wjreg"]``
``"fast"`` or ``"lcurve"``), as smash does.

Every cycle calibrates from the same starting control; the model is only written by the last one.

- ``fast``: one cycle without regularization moves the misfit from ``jobs0`` (at the start) to
  ``jobs1`` and the regularization term to ``jreg1``; the weight ``(jobs0 - jobs1) / jreg1`` makes
  the regularization worth, at that optimum, what the calibration gained.
- ``lcurve``: around that weight, five weights spaced by a factor ``10**0.33`` (``10**-0.66`` to
  ``10**0.66`` times it) are each calibrated; with the unregularized cycle, the ``(jobs, jreg)``
  pairs trace an L-curve. Normalized to the unit square (``x``: share of the misfit range gained,
  ``y``: share of the regularization range used), the chosen weight is that of the point farthest
  below the diagonal ``y = x``, i.e. the largest ``(x - y) / sqrt(2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hydrograd.optimizers import INDENT, Report

LCURVE_DECADES = np.arange(-0.66, 0.67, 0.33)
"""log10 of the L-curve's weights relative to the fast one."""

Cycle = Callable[[float], dict[str, float]]
"""One calibration from the starting control with a given ``wjreg``; returns the ``cost``, ``jobs``
and ``jreg`` of its result."""


def fast_weight(jobs_start: float, jobs: float, jreg: float) -> float:
    """``(jobs_start - jobs) / jreg``; 0 when the unregularized cycle left ``jreg`` at 0 (it did not
    move from the start, so there is nothing to weigh)."""
    return (jobs_start - jobs) / jreg if jreg > 0 else 0.0


def lcurve_distances(jobs: np.ndarray, jreg: np.ndarray) -> np.ndarray:
    """Distance of each ``(jobs, jreg)`` point below the diagonal of the normalized L-curve.

    NaN for points on or above the diagonal, 0 for points at the largest misfit; all NaN when the
    misfits or the regularization terms do not vary (no trade-off to read).
    """
    jobs, jreg = np.asarray(jobs, dtype=np.float64), np.asarray(jreg, dtype=np.float64)
    jobs_span, jreg_span = np.ptp(jobs), np.ptp(jreg)
    if jobs_span <= 0 or jreg_span <= 0:
        return np.full(jobs.shape, np.nan)
    x = (jobs.max() - jobs) / jobs_span
    y = (jreg - jreg.min()) / jreg_span
    return np.where(y < x, (x - y) / np.sqrt(2.0), np.nan)


def lcurve_weight(weights: np.ndarray, jobs: np.ndarray, jreg: np.ndarray) -> tuple[float, np.ndarray]:
    """``(chosen weight, distances)``: the weight of the farthest point (the first one on ties), 0
    when no point lies below the diagonal."""
    distances = lcurve_distances(jobs, jreg)
    below = np.where(np.isnan(distances), -np.inf, distances)
    best = int(np.argmax(below))
    return (float(weights[best]) if below[best] > 0 else 0.0), distances


def choose_wjreg(kind: str, jobs_start: float, cycle: Cycle, report: Report) -> tuple[float, dict[str, Any] | None]:
    """Run the cycles of ``kind`` (``"fast"`` or ``"lcurve"``); return the chosen ``wjreg`` and, for
    ``lcurve``, the curve (``wjreg_opt``, ``wjreg_approx``, ``distance``, ``cost``, ``jobs``,
    ``jreg``, ``wjreg``: the fields of smash's ``lcurve_wjreg`` return)."""
    label = "FAST" if kind == "fast" else "L-CURVE"
    report(f"{INDENT}{label} WJREG CYCLE 1")
    first = cycle(0.0)
    approx = fast_weight(jobs_start, first["jobs"], first["jreg"])
    if kind == "fast":
        report(f"{INDENT}FAST WJREG LAST CYCLE. wjreg: {approx:.5e}")
        return approx, None
    if first["jobs"] < 0.95 * jobs_start and first["jreg"] > 0:
        candidates = approx * 10.0**LCURVE_DECADES
    else:
        candidates, approx = np.empty(0), 0.0
    results = [first]
    for i, wjreg in enumerate(candidates):
        report(f"{INDENT}L-CURVE WJREG CYCLE {i + 2}")
        results.append(cycle(float(wjreg)))
    weights = np.concatenate([[0.0], candidates])
    terms = {k: np.array([r[k] for r in results]) for k in ("cost", "jobs", "jreg")}
    chosen, distances = lcurve_weight(weights, terms["jobs"], terms["jreg"])
    report(f"{INDENT}L-CURVE WJREG LAST CYCLE. wjreg: {chosen:.5e}")
    curve = {"wjreg_opt": chosen, "wjreg_approx": approx, "distance": distances, **terms, "wjreg": weights}
    return chosen, curve
