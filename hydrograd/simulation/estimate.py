"""Estimates of parameters and initial states from a set of forward runs: smash's ``multiset_estimate``.

Each of ``n`` runs gave every estimated name ``p`` a value ``x_k`` on each cell and measured a cost
``J_k``. A run is weighed, on each cell, by its likelihood times its prior density there::

    w_k = exp(-2**alpha * (J_k / min_j J_j - 1)**2) * d_k

and the estimate of ``p`` on the cell is the weighted mean ``m = sum(w x) / sum(w)``. The
weighted spread of the values around it gives a precision ``t = sum(w) / sum(w (x - m)**2)``, and
``mean((m - mean_k x_k)**2 * t)`` over the grid is the (squared) Mahalanobis distance of the
estimate from the plain mean of the sets; the distance of an estimate is the average of those of
its names. A larger ``alpha`` trusts the best runs more: the cost of the estimate falls as it moves
away from the prior mean. Given several ``alpha``, the L-curve picks the one closest to the
origin once both the distances and the costs are rescaled to ``[0, 1]``.

The prior density ``d_k`` is that of the sampling law when the sets come from ``Samples``, else a
Gaussian kernel density estimate of each cell's ``n`` values (Scott's bandwidth, as
``scipy.stats.gaussian_kde``), 1 where a cell's values are all (nearly) equal. Every array here is
a plain grid ``(nrow, ncol, n)``; the runs of an L-curve are one batched program
(:func:`hydrograd.simulation.multiple.multiple_forward`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hydrograd.core.cost import CostData, ObservationCost
from hydrograd.core.simulate import CoreInputs
from hydrograd.mesh.layout import CellLayout
from hydrograd.simulation.multiple import multiple_forward

_KDE_CHUNK = 1 << 22
"""Elements of the ``(cells, n, n)`` kernel block evaluated at a time."""


def _kernel_density(values: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of each row of ``values`` ``(m, n)`` (its ``n`` points, Scott's
    bandwidth ``n**(-1/5)`` times their standard deviation) at those points, float64 ``(m, n)``."""
    m, n = values.shape
    out = np.empty((m, n))
    rows = max(1, _KDE_CHUNK // (n * n))
    for start in range(0, m, rows):
        x = values[start : start + rows]
        variance = np.var(x, axis=1, ddof=1) * n ** (-2.0 / 5.0)  # the kernel's variance
        gaps = x[:, :, None] - x[:, None, :]
        kernel = np.exp(-0.5 * gaps**2 / variance[:, None, None])
        out[start : start + rows] = kernel.sum(axis=2) / (n * np.sqrt(2.0 * np.pi * variance))[:, None]
    return out


def kernel_density(sets: np.ndarray) -> np.ndarray:
    """Prior density of each cell's ``n`` values of ``sets`` ``(nrow, ncol, n)``, at those values:
    a Gaussian kernel density estimate, or 1 on a cell whose values all equal its first one (within
    numpy's ``allclose``). Cells holding the same values share one estimate. Float64, same shape."""
    values = np.asarray(sets, dtype=np.float64)
    grid, n = values.shape[:2], values.shape[-1]
    rows = values.reshape(-1, n)
    distinct, which = np.unique(rows, axis=0, return_inverse=True)
    constant = np.all(np.abs(distinct - distinct[:, :1]) <= 1e-8 + 1e-5 * np.abs(distinct[:, :1]), axis=1)
    density = np.ones_like(distinct)
    if not constant.all():
        density[~constant] = _kernel_density(distinct[~constant])
    return density[which.reshape(-1)].reshape(*grid, n)


def likelihood(cost: np.ndarray, alpha: float) -> np.ndarray:
    """``exp(-2**alpha * (J / min J - 1)**2)`` of each run's cost ``J`` ``(n,)``, float64 (the
    cost ratio taken in the costs' precision, float32 as smash's)."""
    cost = np.asarray(cost)
    ratio = (cost / cost.min() - 1).astype(np.float64)
    return np.exp(-(2.0**alpha) * ratio**2)


def weighted_estimate(sets: np.ndarray, density: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float]:
    """The estimate ``(nrow, ncol)`` of one name from its ``sets`` ``(nrow, ncol, n)``, their prior
    ``density`` (same shape) and the runs' likelihood ``weight`` ``(n,)``, and its Mahalanobis
    distance from the plain mean of the sets (the module's docstring). Float64; NaN where the sets
    do not vary (as smash's)."""
    sets = np.asarray(sets, dtype=np.float64)
    w = density * weight
    total = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = (sets * w).sum(axis=-1) / total
        precision = total / (((sets - estimate[..., None]) ** 2) * w).sum(axis=-1)
        distance = float(np.mean((estimate - sets.mean(axis=-1)) ** 2 * precision))
    return estimate, distance


def estimate(
    sets: Mapping[str, np.ndarray], density: Mapping[str, np.ndarray], cost: np.ndarray, alpha: float
) -> tuple[dict[str, np.ndarray], float]:
    """Estimates of every name of ``sets`` (name -> ``(nrow, ncol, n)``) for ``alpha``, given their
    prior ``density`` and the runs' ``cost`` ``(n,)``, and the mean of their distances."""
    weight = likelihood(cost, alpha)
    values, distances = {}, []
    for name, grid in sets.items():
        values[name], distance = weighted_estimate(grid, density[name], weight)
        distances.append(distance)
    return values, float(np.mean(distances))


def lcurve_choice(cost: np.ndarray, distance: np.ndarray) -> int:
    """Index of the L-curve's point closest to the origin once ``cost`` and ``distance`` (one per
    ``alpha``) are each rescaled to ``[0, 1]`` (the first when that is undefined, as smash's)."""

    def rescaled(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (x - x.min()) / (x.max() - x.min())

    return int(np.argmin(rescaled(np.asarray(distance)) ** 2 + rescaled(np.asarray(cost)) ** 2))


@dataclass(frozen=True)
class LCurve:
    """The L-curve over ``alpha``: the ``distance`` and the ``cost`` of each estimate (float64
    ``(len(alpha),)``) and the index ``best`` of the chosen ``alpha``."""

    distance: np.ndarray
    cost: np.ndarray
    best: int


def estimate_lcurve(
    inputs: CoreInputs,
    layout: CellLayout,
    sets: Mapping[str, np.ndarray],
    density: Mapping[str, np.ndarray],
    cost: np.ndarray,
    alpha: np.ndarray,
    q_obs: np.ndarray,
    spec: ObservationCost,
    data: CostData | None,
) -> LCurve:
    """The estimate for each ``alpha`` (:func:`estimate`), each run once (one batched program over
    ``inputs`` with the estimates in place, as float32 values on the active cells) and measured
    with ``spec`` against ``q_obs``, and the L-curve's choice among them."""
    distances = np.empty(len(alpha))
    runs: dict[str, list[np.ndarray]] = {name: [] for name in sets}
    for i, a in enumerate(np.asarray(alpha, dtype=np.float64)):
        values, distances[i] = estimate(sets, density, cost, float(a))
        for name, grid in values.items():
            runs[name].append(layout.to_active(grid.astype(np.float32)))
    costs, _ = multiple_forward(inputs, {k: np.stack(v) for k, v in runs.items()}, q_obs, spec, data)
    costs = costs.astype(np.float64)
    return LCurve(distance=distances, cost=costs, best=lcurve_choice(costs, distances))
