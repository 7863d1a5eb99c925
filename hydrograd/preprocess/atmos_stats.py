"""Catchment-mean atmospheric series per gauge (smash's ``mean_prcp``, ``mean_pet``, ...)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_MAX_BLOCK = 1 << 24  # values summed at once (cells x steps), to bound memory


def _threshold(kind: str) -> tuple[np.float32, bool]:
    """The smallest valid value of ``kind`` and whether it is itself valid."""
    if kind == "temp":
        return np.float32(-99), False
    if kind in ("prcp", "pet", "snow"):
        return np.float32(0), True
    raise ValueError(f"Unknown atmospheric data kind {kind!r}; expected 'prcp', 'pet', 'snow' or 'temp'")


def _catchment_means(
    cell_values: Callable[[np.ndarray, np.ndarray, int, int], np.ndarray],
    masks: np.ndarray,
    ntime: int,
    kind: str,
) -> np.ndarray:
    """Float32 ``(ng, ntime)`` means over each mask's valid values; ``cell_values(rows, cols, t0,
    t1)`` gives the ``(ncell, t1 - t0)`` values of the cells ``rows, cols`` (column-major order)."""
    threshold, inclusive = _threshold(kind)
    out = np.empty((masks.shape[0], ntime), dtype=np.float32)
    for g, mask in enumerate(masks):
        cols, rows = np.nonzero(mask.T)  # column-major cell order
        if rows.size == 0:
            out[g] = np.float32(-99)
            continue
        step = max(1, _MAX_BLOCK // rows.size)
        for t0 in range(0, ntime, step):
            values = cell_values(rows, cols, t0, min(t0 + step, ntime))
            valid = values >= threshold if inclusive else values > threshold
            # add.accumulate adds one cell after the other, like smash's loop (np.sum would not).
            total = np.add.accumulate(np.where(valid, values, np.float32(0)), axis=0)[-1]
            count = valid.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count.astype(np.float32)
            out[g, t0 : t0 + step] = np.where(count > 0, mean, np.float32(-99))
    return out


def _check_masks(masks: np.ndarray, grid: tuple[int, ...], what: str) -> None:
    if masks.ndim != 3 or masks.shape[1:] != grid:
        raise ValueError(f"mask_per_gauge has shape {masks.shape}; expected (ng, {grid[0]}, {grid[1]}) to match {what}")


def mean_atmos_per_gauge(field: np.ndarray, mask_per_gauge: np.ndarray, *, kind: str = "prcp") -> np.ndarray:
    """Mean of ``field`` over each gauge's cells, at each time step.

    ``field`` is ``(nrow, ncol, T)``; ``mask_per_gauge`` is ``(ng, nrow, ncol)`` bool, True on the
    cells draining to the gauge (its upstream cells and itself, active or not). A value is used
    where it is valid: ``>= 0`` for "prcp", "pet" and "snow", ``> -99`` for "temp". The sum runs in
    float32 over the valid cells in column-major order and is divided by their count, as smash
    does; a step with no valid cell gives -99. Returns float32 ``(ng, T)`` in ``field``'s units.
    """
    field = np.asarray(field, dtype=np.float32)
    masks = np.asarray(mask_per_gauge, dtype=bool)
    _check_masks(masks, field.shape[:2], f"field {field.shape}")
    _threshold(kind)
    return _catchment_means(lambda rows, cols, t0, t1: field[rows, cols, t0:t1], masks, field.shape[2], kind)


def mean_sparse_atmos_per_gauge(
    active_series: np.ndarray,
    zvalues: np.ndarray,
    cell_index: np.ndarray,
    mask_per_gauge: np.ndarray,
    *,
    kind: str = "prcp",
) -> np.ndarray:
    """:func:`mean_atmos_per_gauge` of a forcing in sparse storage, as smash computes it there.

    ``active_series`` is the decoded forcing ``(T, nac)`` (active cells in column-major order),
    ``zvalues`` ``(T,)`` the value each step gives the cells it does not store, ``cell_index``
    ``(nrow, ncol)`` each cell's column-major active-cell index (-1 on inactive cells). An inactive
    cell of a gauge's mask takes the step's ``zvalue`` (0 for a file read: it counts as a valid 0,
    where dense storage has the raster's value). Returns float32 ``(ng, T)``.
    """
    active_series = np.asarray(active_series, dtype=np.float32)
    zvalues = np.asarray(zvalues, dtype=np.float32)
    cell_index = np.asarray(cell_index)
    masks = np.asarray(mask_per_gauge, dtype=bool)
    _check_masks(masks, cell_index.shape, f"cell_index {cell_index.shape}")
    _threshold(kind)

    def cell_values(rows: np.ndarray, cols: np.ndarray, t0: int, t1: int) -> np.ndarray:
        k = cell_index[rows, cols]
        stored = active_series[t0:t1, np.maximum(k, 0)].T
        return np.where((k >= 0)[:, None], stored, zvalues[None, t0:t1])

    return _catchment_means(cell_values, masks, active_series.shape[0], kind)
