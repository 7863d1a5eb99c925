"""Catchment-mean atmospheric series per gauge (smash's ``mean_prcp``, ``mean_pet``, ...)."""

from __future__ import annotations

import numpy as np

_MAX_BLOCK = 1 << 24  # values summed at once (cells x steps), to bound memory


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
    if masks.ndim != 3 or masks.shape[1:] != field.shape[:2]:
        raise ValueError(
            f"mask_per_gauge has shape {masks.shape}; expected (ng, {field.shape[0]}, {field.shape[1]}) "
            f"to match field {field.shape}"
        )
    if kind == "temp":
        threshold, inclusive = np.float32(-99), False
    elif kind in ("prcp", "pet", "snow"):
        threshold, inclusive = np.float32(0), True
    else:
        raise ValueError(f"Unknown atmospheric data kind {kind!r}; expected 'prcp', 'pet', 'snow' or 'temp'")

    ntime = field.shape[2]
    out = np.empty((masks.shape[0], ntime), dtype=np.float32)
    for g, mask in enumerate(masks):
        cols, rows = np.nonzero(mask.T)  # column-major cell order
        if rows.size == 0:
            out[g] = np.float32(-99)
            continue
        step = max(1, _MAX_BLOCK // rows.size)
        for t0 in range(0, ntime, step):
            values = field[rows, cols, t0 : t0 + step]
            valid = values >= threshold if inclusive else values > threshold
            # add.accumulate adds one cell after the other, like smash's loop (np.sum would not).
            total = np.add.accumulate(np.where(valid, values, np.float32(0)), axis=0)[-1]
            count = valid.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count.astype(np.float32)
            out[g, t0 : t0 + step] = np.where(count > 0, mean, np.float32(-99))
    return out
