"""Capacity of the GR interception store fitted to the forcing, for sub-daily time steps.

For each active cell, the capacity ``ci`` is chosen among 0.1, 0.2, ..., 2.9 mm as the one whose
sub-daily interception run over the whole period evaporates a total closest to the daily
estimate ``sum over days of min(daily precipitation, daily PET)``. smash does this when a
structure has ``ci`` and ``dt < 86400``; the numbers here are smash's, bit for bit, which is why
the arithmetic is spelled out in float32 with smash's fused multiply-adds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from hydrograd.preprocess.sparse import SparseSeries, decode

_CELL_CHUNK = 16_384  # active cells simulated together (bounds memory on large meshes)
_TIME_BLOCK = 64  # time steps compared together when looking for repeated series


_LOW_29_BITS = (1 << 29) - 1  # float64 mantissa bits below float32 precision
_HALF_FLOAT32_ULP = 1 << 28  # their pattern when a float64 lies halfway between two float32
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` on float32 values with a single rounding, as an FMA instruction computes it.

    The product is exact in float64 and the float64 sum is rounded once; rounding that to float32
    gives the FMA result except when it lies exactly halfway between two float32 (or in the float32
    subnormal range), where the sum's own rounding error decides. Those rare entries are redone
    with the exact error of the sum (Knuth's two-sum), made into a round-to-odd float64.
    """
    p = np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)
    c64 = np.broadcast_to(np.asarray(c, dtype=np.float64), p.shape)
    s = np.asarray(p + c64)
    bits = s.view(np.int64)
    suspect = ((bits & _LOW_29_BITS) == _HALF_FLOAT32_ULP) | ((np.abs(s) < _FLOAT32_TINY) & (s != 0))
    if suspect.any():
        ps, cs, ss = p[suspect], c64[suspect], s[suspect]
        b_virtual = ss - ps
        err = (ps - (ss - b_virtual)) + (cs - b_virtual)
        even = (ss.view(np.int64) & 1) == 0
        s[suspect] = np.where((err != 0) & even, np.nextafter(ss, np.where(err > 0, np.inf, -np.inf)), ss)
    return s.astype(np.float32)


def capacity_candidates() -> np.ndarray:
    """Candidate capacities in mm (float32): 0.1 + i * 0.1 for i = 0..28, as smash builds them."""
    start, stop, step = np.float32(0.1), np.float32(3.0), np.float32(0.1)
    n = int(np.ceil((stop - start) / step))
    return _fma32(np.arange(n, dtype=np.float32), step, start)


def _daily_estimate(prcp: np.ndarray, pet: np.ndarray, day: np.ndarray) -> np.ndarray:
    """``sum_d min(P_d, E_d)`` per cell of ``(ncell, T)`` series, with daily totals of the
    non-negative values."""
    nday = int(day[-1]) + 1
    ncell = prcp.shape[0]
    daily_p = np.zeros((nday, ncell), dtype=np.float32)
    daily_e = np.zeros((nday, ncell), dtype=np.float32)
    for t, d in enumerate(day):
        p, e = prcp[:, t], pet[:, t]
        daily_p[d] += np.where(p >= 0, p, np.float32(0))
        daily_e[d] += np.where(e >= 0, e, np.float32(0))
    total = np.zeros(ncell, dtype=np.float32)
    for d in range(nday):
        total += np.minimum(daily_p[d], daily_e[d])
    return total


def _fit(prcp: np.ndarray, pet: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The capacity (float32 ``(ncell,)``, mm) fitted to each cell's ``(ncell, T)`` series."""
    candidates = capacity_candidates()
    totals = _interception_totals(prcp, pet, candidates)
    gap = np.abs(totals - _daily_estimate(prcp, pet, day)[:, None])
    return candidates[np.argmin(gap, axis=1)]


def _step_days(start_time: pd.Timestamp, end_time: pd.Timestamp, dt: float) -> np.ndarray:
    """Day of each time step (0 for the first step's day), steps ending at ``start + k dt``."""
    steps = pd.date_range(start=start_time, end=end_time, freq=f"{int(dt)}s")[1:]
    if steps.empty:
        raise ValueError(f"end_time ({end_time}) must be at least one step (dt={dt} s) after start_time ({start_time})")
    return np.asarray((steps.normalize() - steps[0].normalize()).days)


def _interception_totals(prcp: np.ndarray, pet: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Total interception evaporation ``(ncell, ncandidate)`` of a GR interception store run from
    empty with each capacity in ``ci`` over the series ``prcp``, ``pet`` of shape ``(ncell, T)``.

    Steps where either input is negative (missing) evaporate nothing and leave the store as is.
    So do steps without rain nor PET while the store's filling ratio is within [0, 1]: those are
    skipped.
    """
    level = np.zeros((prcp.shape[0], ci.size), dtype=np.float32)
    total = np.zeros_like(level)
    within = np.ones(prcp.shape[0], dtype=bool)  # every candidate's ratio in [0, 1]
    one, zero = np.float32(1), np.float32(0)
    valid = (prcp >= 0) & (pet >= 0)
    idle = (prcp == 0) & (pet == 0)
    for t in range(prcp.shape[1]):
        cells = np.flatnonzero(valid[:, t] & ~(idle[:, t] & within))
        if cells.size == 0:
            continue
        p, e, h = prcp[cells, t, None], pet[cells, t, None], level[cells]
        ei = np.minimum(e, _fma32(h, ci, p))
        pn = np.maximum(_fma32(-(one - h), ci, p) - ei, zero)
        en = e - ei
        total[cells] += e - en
        h = h + ((p - ei) - pn) / ci
        level[cells] = h
        within[cells] = ((h >= zero) & (h <= one)).all(axis=1)
    return total


def _fit_cells(
    default_ci: float | np.ndarray,
    active: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    day: np.ndarray,
    series: Callable[[slice], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """The ``(nrow, ncol)`` capacity map: ``default_ci`` everywhere, the fit on the cells ``(rows,
    cols)``, taken ``_CELL_CHUNK`` at a time; ``series(chunk)`` gives the chunk's ``(ncell,
    ntime_step)`` precipitation and PET."""
    out = np.array(np.broadcast_to(np.asarray(default_ci, dtype=np.float32), active.shape))
    chunks = [slice(s, s + _CELL_CHUNK) for s in range(0, rows.size, _CELL_CHUNK)]

    def fit(chunk: slice) -> None:
        out[rows[chunk], cols[chunk]] = _fit(*series(chunk), day)

    if len(chunks) < 2:
        for chunk in chunks:
            fit(chunk)
        return out
    # numpy computes outside the interpreter's lock: chunks fit on every core at once
    with ThreadPoolExecutor(
        max_workers=min(len(chunks), os.cpu_count() or 1), thread_name_prefix="hydrograd-ci"
    ) as threads:
        list(threads.map(fit, chunks))
    return out


def adjust_interception_capacity(
    prcp: np.ndarray,
    pet: np.ndarray,
    active_cell: np.ndarray,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
    *,
    default_ci: float | np.ndarray = 1e-6,
) -> np.ndarray:
    """Interception capacity map ``ci`` (mm) fitted to the forcing, as smash computes it.

    ``prcp`` and ``pet`` are ``(nrow, ncol, ntime_step)`` in mm per step (-99 or any negative
    value = missing), step ``k`` ending at ``start_time + (k + 1) * dt`` (``dt`` in seconds;
    smash applies this only for ``dt < 86400``). ``active_cell`` is ``(nrow, ncol)``, 1 on active
    cells. Returns a float32 ``(nrow, ncol)`` map: the fitted capacity on active cells and
    ``default_ci`` (smash's default 1e-6 mm, or a given map) elsewhere.
    """
    prcp = np.asarray(prcp, dtype=np.float32)
    pet = np.asarray(pet, dtype=np.float32)
    active = np.asarray(active_cell) == 1
    day = _step_days(start_time, end_time, dt)
    if prcp.shape != pet.shape or prcp.shape != (*active.shape, day.size):
        raise ValueError(
            f"prcp {prcp.shape}, pet {pet.shape} and active_cell {active.shape} do not match; expected "
            f"(nrow, ncol, ntime_step) = (*active_cell.shape, {day.size}) for the period "
            f"[{start_time}, {end_time}] at dt={dt} s"
        )
    # a cell repeating another's series bit for bit takes that cell's fit
    source = _same_series_source(prcp, pet, active)
    cells = np.flatnonzero(active)
    fitted = cells[source[cells] == cells]
    rows, cols = np.divmod(fitted, active.shape[1])
    out = _fit_cells(
        default_ci, active, rows, cols, day, lambda c: (prcp[rows[c], cols[c], :], pet[rows[c], cols[c], :])
    )
    out.flat[cells] = out.flat[source[cells]]
    return out


def _same_series_source(prcp: np.ndarray, pet: np.ndarray, active: np.ndarray) -> np.ndarray:
    """For each cell of the grid (row-major), the cell whose fit it can take: an active cell whose
    precipitation and PET series are bit for bit those of its left or upper active neighbour takes
    that neighbour's source, any other cell is its own. Forcing interpolated from a coarser grid
    repeats over neighbouring cells (France: 395,167 sources for 906,044 active cells).

    ``prcp``, ``pet``: ``(nrow, ncol, T)`` float32; ``active``: ``(nrow, ncol)`` bool."""
    nrow, ncol = active.shape
    same_left = np.zeros((nrow, ncol), bool)
    same_up = np.zeros((nrow, ncol), bool)
    same_left[:, 1:] = active[:, 1:] & active[:, :-1]
    same_up[1:] = active[1:] & active[:-1]
    for start in range(0, prcp.shape[2], _TIME_BLOCK):  # bounds the comparisons' memory
        for series in (prcp, pet):
            bits = series[:, :, start : start + _TIME_BLOCK].view(np.int32)
            same_left[:, 1:] &= (bits[:, 1:] == bits[:, :-1]).all(axis=2)
            same_up[1:] &= (bits[1:] == bits[:-1]).all(axis=2)
    index = np.arange(nrow * ncol).reshape(nrow, ncol)
    source = np.where(same_left, index - 1, np.where(same_up, index - ncol, index)).ravel()
    while True:  # follow the links to their ends, doubling the distance at each pass
        further = source[source]
        if np.array_equal(further, source):
            return source
        source = further


def adjust_active_interception_capacity(
    prcp: np.ndarray,
    pet: np.ndarray,
    active_cell: np.ndarray,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
    *,
    default_ci: float | np.ndarray = 1e-6,
) -> np.ndarray:
    """:func:`adjust_interception_capacity` from forcing given on the active cells only (as decoded
    from sparse storage): ``prcp`` and ``pet`` are ``(ntime_step, nac)`` mm per step, the active
    cells of ``active_cell`` in column-major order. Returns the same float32 ``(nrow, ncol)`` map."""
    prcp = np.asarray(prcp, dtype=np.float32)
    pet = np.asarray(pet, dtype=np.float32)
    active = np.asarray(active_cell) == 1
    day = _step_days(start_time, end_time, dt)
    cols, rows = np.nonzero(active.T)  # column-major order
    if prcp.shape != pet.shape or prcp.shape != (day.size, rows.size):
        raise ValueError(
            f"prcp {prcp.shape} and pet {pet.shape} must both be (ntime_step, nac) = ({day.size}, {rows.size}) "
            f"for the active cells of active_cell and the period [{start_time}, {end_time}] at dt={dt} s"
        )
    return _fit_cells(default_ci, active, rows, cols, day, lambda c: (prcp[:, c].T, pet[:, c].T))


def refit_interception_capacity(
    prcp: np.ndarray | SparseSeries,
    pet: np.ndarray | SparseSeries,
    ci: np.ndarray,
    active_cell: np.ndarray,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
    *,
    active_cell_only: bool = True,
) -> np.ndarray:
    """The capacity map ``ci`` (``(nrow, ncol)`` mm) refitted to a model's forcing, as smash's
    ``Model.adjust_interception`` does: on the active cells of ``active_cell``, or on every cell of
    the grid when ``active_cell_only`` is False; the other cells keep their value in ``ci``.

    ``prcp`` and ``pet`` are the forcing as the model stores it: ``(nrow, ncol, ntime_step)`` mm
    per step, or smash's sparse matrices (:class:`~hydrograd.preprocess.sparse.SparseSeries`),
    which hold the active cells only; refitting every cell then is a ValueError. Returns a new
    float32 map.
    """
    if isinstance(prcp, SparseSeries) or isinstance(pet, SparseSeries):
        if not active_cell_only:
            raise ValueError(
                "active_cell_only=False refits the capacity of every cell, but with sparse storage "
                "(setup 'sparse_storage') the forcing is kept on the active cells only; build the "
                "model with sparse_storage=False to refit the whole grid"
            )
        nac = int(np.count_nonzero(np.asarray(active_cell) == 1))
        return adjust_active_interception_capacity(
            decode(prcp, nac), decode(pet, nac), active_cell, start_time, end_time, dt, default_ci=ci
        )
    cells = active_cell if active_cell_only else np.ones_like(active_cell)
    return adjust_interception_capacity(prcp, pet, cells, start_time, end_time, dt, default_ci=ci)
