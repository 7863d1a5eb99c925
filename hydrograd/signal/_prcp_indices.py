"""Precipitation indices of each gauge's catchment at each time step, as smash 1.3.0 computes them.

For gauge ``g`` and a step's rainfall ``p`` (mm/dt), over the cells ``C`` of its catchment (the
gauge cell and every cell draining through it) where ``p >= 0``, with ``d`` the flow distance to
the gauge (m, ``flwdst - flwdst[gauge]``) and means ``P_k = mean(p d^k)``, ``g_k = mean(d^k)``:

- ``std = sqrt(mean(p^2) - P_0^2)``: the spatial standard deviation of the rainfall (mm/dt);
- ``d1 = P_1 / (P_0 g_1)`` and ``d2 = (P_2/P_0 - (P_1/P_0)^2) / (g_2 - g_1^2)``: the first and
  second scaled moments of Zocatelli et al. (2011), the rainfall-weighted mean flow distance over
  the mean flow distance, and the rainfall-weighted variance of the flow distances over their
  variance;
- ``vg`` (vertical gap) and ``hg`` (horizontal gap) of Emmanuel et al. (2015) compare two
  cumulative distributions over 11 flow-distance class edges ``0, s, 2s, ..., 10s`` (``s`` a
  tenth of the largest distance): the width function ``W`` (``W_0 = 1``, then the count of cells
  in each class ``]edge_{i-1}, edge_i]`` added up, divided by its last value) and the
  rainfall-weighted one ``R`` (rainfall at distance 0, then each class's rainfall added up,
  divided by the total). ``vg`` is the largest ``|W - R|``, at edge ``i``; ``hg`` is the distance
  from edge ``i`` to the edge whose ``W`` is closest to ``R_i``, over the largest edge.

As smash does, ``W``, ``R`` and the edges count every cell of the grid whose distance to the gauge
is at least 0 (cells farther from the outlet than the gauge, within its catchment or not), and a
step without rainfall on the catchment (sum 0) or an index that comes out negative gives NaN.
The arithmetic is smash's too, so the digits are: float32 throughout, sums over the cells one
after the other in smash's column-major order, and the sums of products and the two differences
of ``d2`` rounded once per multiply-add (smash's compiled core fuses them). Where rainfall is
uniform over a catchment, ``d2``'s numerator is a difference of equal numbers whose rounding
decides between 0 and a tiny negative value (NaN): this is what keeps those steps as smash has
them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hydrograd.preprocess.sparse import SparseSeries, decode, zvalues

PRECIPITATION_INDICES = ("std", "d1", "d2", "vg", "hg")
"""The indices, in smash's order."""

N_CLASSES = 10
"""Flow-distance classes of the width functions (``N_CLASSES + 1`` edges)."""

_MAX_BLOCK = 1 << 24  # values (cells x steps) handled at once, to bound memory

CellValues = Callable[[np.ndarray, int, int], np.ndarray]
"""``(cells, t0, t1) -> (len(cells), t1 - t0)`` float32 rainfall of grid cells (column-major
flat indices) at steps ``t0`` to ``t1``."""


class PrecipitationIndices:
    """Result of ``precipitation_indices``: ``std``, ``d1``, ``d2``, ``vg`` and ``hg``, each a
    float32 ``(ng, ntime_step)`` array (see :mod:`hydrograd.signal._prcp_indices` for their
    definitions; NaN at a step without rainfall on the gauge's catchment)."""

    def __init__(self, indices: dict[str, np.ndarray]):
        self.__dict__.update(indices)

    def __repr__(self) -> str:
        width = max(map(len, self.__dict__)) + 1
        return "\n".join(f"{k.rjust(width)}: {type(v)!r}" for k, v in sorted(self.__dict__.items()))

    def to_numpy(self, axis: int = 0) -> np.ndarray:
        """The indices stacked along ``axis`` in alphabetical order (``d1``, ``d2``, ``hg``, ``std``,
        ``vg``): ``(5, ng, ntime_step)`` for ``axis=0``."""
        return np.stack([getattr(self, k) for k in sorted(PRECIPITATION_INDICES)], axis=axis)


def _sequential_sum(values: np.ndarray) -> np.ndarray:
    """Float32 sums over the first axis, adding one row after the other as smash's loops do."""
    if values.shape[0] == 0:
        return np.zeros(values.shape[1:], dtype=np.float32)
    return np.add.accumulate(values, axis=0, dtype=np.float32)[-1]


def _valid(values: np.ndarray) -> np.ndarray:
    """``values`` with the missing ones (negative or NaN) at 0, which adds nothing to a sum."""
    return np.where(values >= 0, values, np.float32(0))


def _class_edges(distance: np.ndarray) -> np.ndarray:
    """The ``N_CLASSES + 1`` float32 edges ``0, s, 2s, ...``, each the previous one plus ``s`` (a
    tenth of the largest distance), in float32 as smash adds them."""
    step = np.float32(distance.max()) / np.float32(N_CLASSES)
    return np.concatenate([[np.float32(0)], np.add.accumulate(np.full(N_CLASSES, step, np.float32))])


def _classes(distance: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class of each cell, -1 for none: 0 at distance 0, ``i`` in ``]edges[i-1], edges[i]]``."""
    found = np.searchsorted(edges, distance, side="left")
    return np.where((distance < 0) | (distance > edges[-1]), -1, found)


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``a * b + c`` of float32 values rounded once to float32, as a fused multiply-add computes it
    (emulated in double precision, where the product is exact)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def _fused_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float32 sums of ``a * b`` over axis 1 (``a`` and ``b``: ``(k, ncell, ...)``), each product
    added to the running sum by a fused multiply-add, one cell after the other, as smash's compiled
    core adds them."""
    total = np.zeros((a.shape[0], *a.shape[2:]), dtype=np.float32)
    for i in range(a.shape[1]):
        total = _fma(a[:, i], b[:, i], total)
    return total


def _moment_indices(p: np.ndarray, d: np.ndarray) -> dict[str, np.ndarray]:
    """``std``, ``d1``, ``d2`` of one gauge's catchment, and the rainfall ``sum``, from its cells'
    rainfall ``p`` ``(ncell, nstep)`` (negative or NaN: missing) and float32 flow distances ``d``
    ``(ncell, 1)``."""
    valid = p >= 0
    p = _valid(p)
    d = np.where(valid, d, np.float32(0))
    inv_n = np.float32(1) / valid.sum(axis=0).astype(np.float32)
    total = _sequential_sum(p)
    sum_p2, sum_d2, sum_pd, sum_pd2 = _fused_sums(np.stack([p, d, p, p * d]), np.stack([p, d, d, d]))
    p0, g1 = inv_n * total, inv_n * _sequential_sum(d)
    p1, p2, g2 = inv_n * sum_pd, inv_n * sum_pd2, inv_n * sum_d2
    centroid = p1 / p0
    return {
        "sum": total,
        "std": np.sqrt(inv_n * sum_p2 - p0 * p0),
        "d1": p1 / (p0 * g1),
        "d2": np.float32(1) / _fma(-g1, g1, g2) * _fma(-centroid, centroid, p2 / p0),
    }


def _gap_indices(width: np.ndarray, rain: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """``vg`` and ``hg`` from the width function ``width`` ``(N_CLASSES + 1,)``, the rainfall per
    class ``rain`` ``(N_CLASSES + 1, nstep)`` (mm/dt summed over the class's cells) and the class
    ``edges``."""
    weighted = np.add.accumulate(rain, axis=0, dtype=np.float32)
    weighted = weighted / weighted[-1]
    gap = np.abs(width[:, None] - weighted)
    steps = np.arange(rain.shape[1])
    at = np.argmax(gap, axis=0)
    closest = np.argmin(np.abs(width[:, None] - weighted[at, steps]), axis=0)
    return {"vg": gap[at, steps], "hg": np.abs(edges[closest] - edges[at]) / edges[-1]}


def _gauge_indices(
    cell_values: CellValues, catchment: np.ndarray, distance: np.ndarray, ntime: int
) -> dict[str, np.ndarray]:
    """The indices ``(ntime,)`` of one gauge: ``catchment`` (flat column-major indices of its
    cells), ``distance`` (every grid cell's float32 flow distance to the gauge, m)."""
    edges = _class_edges(distance)
    classes = _classes(distance, edges)
    counts = np.bincount(classes[classes > 0], minlength=N_CLASSES + 1)[1:]
    width = np.concatenate([[np.float32(1)], np.float32(1) + np.add.accumulate(counts.astype(np.float32))])
    width = width / width[-1]
    members = [np.flatnonzero(classes == i) for i in range(N_CLASSES + 1)]
    d = distance[catchment][:, None]
    out = {k: np.full(ntime, np.nan, dtype=np.float32) for k in PRECIPITATION_INDICES}
    block = max(1, _MAX_BLOCK // max(distance.size, 1))
    for t0 in range(0, ntime, block):
        t1 = min(t0 + block, ntime)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = _moment_indices(cell_values(catchment, t0, t1), d)
            rain = np.stack([_sequential_sum(_valid(cell_values(cells, t0, t1))) for cells in members])
            values.update(_gap_indices(width, rain, edges))
        rained = values.pop("sum") > 0
        for k, v in values.items():
            out[k][t0:t1] = np.where(rained & ~(v < 0), v, np.float32(np.nan))
    return out


def _indices(
    cell_values: CellValues, flwdst: np.ndarray, catchments: np.ndarray, gauge_pos: np.ndarray, ntime: int
) -> PrecipitationIndices:
    """The indices of every gauge, from the rainfall of the grid cells as ``cell_values`` gives
    them; ``flwdst`` ``(nrow, ncol)`` m, ``catchments`` ``(ng, nrow, ncol)`` bool, ``gauge_pos``
    ``(ng, 2)`` rows and columns."""
    flat = np.asarray(flwdst, dtype=np.float32).T.reshape(-1)  # column-major cell order
    masks = np.asarray(catchments, dtype=bool).transpose(0, 2, 1).reshape(len(catchments), flat.size)
    per_gauge = []
    for mask, (row, col) in zip(masks, np.asarray(gauge_pos), strict=True):
        distance = flat - np.float32(flwdst[row, col])
        per_gauge.append(_gauge_indices(cell_values, np.flatnonzero(mask), distance, ntime))
    return PrecipitationIndices(
        {
            k: np.stack([g[k] for g in per_gauge]) if per_gauge else np.zeros((0, ntime), np.float32)
            for k in PRECIPITATION_INDICES
        }
    )


def precipitation_indices(
    prcp: np.ndarray | SparseSeries,
    active_cell: np.ndarray,
    flwdst: np.ndarray,
    catchments: np.ndarray,
    gauge_pos: np.ndarray,
) -> PrecipitationIndices:
    """smash's precipitation indices of each gauge at each step (see the module's docstring).

    ``prcp``: the rainfall, ``(nrow, ncol, ntime_step)`` mm/dt (negative: missing), or its sparse
    storage (one matrix per step over the active cells; a cell of the grid it does not store takes
    the step's ``zvalue``, as in smash); ``active_cell``: ``(nrow, ncol)`` 0/1; ``flwdst``:
    ``(nrow, ncol)`` flow distance to the outlet (m, negative off the active cells);
    ``catchments``: ``(ng, nrow, ncol)`` bool, each gauge's cells; ``gauge_pos``: ``(ng, 2)``.
    Returns float32 ``(ng, ntime_step)`` arrays.
    """
    nrow, ncol = np.shape(active_cell)
    if isinstance(prcp, SparseSeries):
        ntime = len(prcp)
        active = decode(prcp, int(np.sum(np.asarray(active_cell) == 1))) if ntime else None
        fill = zvalues(prcp)
        index = np.full(nrow * ncol, -1, dtype=np.int64)
        stored = np.flatnonzero(np.asarray(active_cell).T.reshape(-1) == 1)
        index[stored] = np.arange(stored.size)

        def cell_values(cells: np.ndarray, t0: int, t1: int) -> np.ndarray:
            k = index[cells]
            return np.where((k >= 0)[:, None], active[t0:t1, np.maximum(k, 0)].T, fill[None, t0:t1])
    else:
        field = np.asarray(prcp, dtype=np.float32)
        ntime = field.shape[2]

        def cell_values(cells: np.ndarray, t0: int, t1: int) -> np.ndarray:
            return field[cells % nrow, cells // nrow, t0:t1]

    return _indices(cell_values, flwdst, catchments, gauge_pos, ntime)
