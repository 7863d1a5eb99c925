"""Build the routing ``FlowGraph`` of a mesh from its D8 flow directions (numpy, done once)."""

from __future__ import annotations

import numpy as np

from hydrograd._arrays import to_device
from hydrograd.core.graph import Bucket, FlowGraph

# smash's D8 code d (1..8) points from a cell to the neighbour at (row + ROW_STEP, col + COL_STEP):
# 1 north, 2 north-east, 3 east, 4 south-east, 5 south, 6 south-west, 7 west, 8 north-west.
ROW_STEP = np.array([-1, -1, 0, 1, 1, 1, 0, -1])
COL_STEP = np.array([0, 1, 1, 1, 0, -1, -1, -1])


def active_cell_index(active_cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the active cells in smash's order (column-major over the grid)."""
    cols, rows = np.nonzero(np.asarray(active_cell).T)
    return rows, cols


def downstream_cell(flwdir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column each grid cell drains into (-1 where the direction leaves the grid or is
    not a D8 code)."""
    flwdir = np.asarray(flwdir)
    nrow, ncol = flwdir.shape
    code = np.rint(np.where(np.isfinite(flwdir), flwdir, 0)).astype(np.int64)
    valid = (code >= 1) & (code <= 8)
    rows, cols = np.indices(flwdir.shape)
    step = np.clip(code - 1, 0, 7)
    drow = np.where(valid, rows + ROW_STEP[step], -1)
    dcol = np.where(valid, cols + COL_STEP[step], -1)
    inside = valid & (drow >= 0) & (drow < nrow) & (dcol >= 0) & (dcol < ncol)
    return np.where(inside, drow, -1), np.where(inside, dcol, -1)


def topological_levels(downstream: np.ndarray) -> np.ndarray:
    """Level of each node of a forest given as ``downstream`` indices (``n`` for a root/outlet):
    0 for sources, else one more than the highest level upstream (Kahn's algorithm)."""
    level = peel_levels(downstream)
    if (level < 0).any():
        bad = np.flatnonzero(level < 0)[:5]
        raise ValueError(f"Flow directions form a loop through active cells {bad.tolist()} (active-cell index)")
    return level


def peel_levels(downstream: np.ndarray) -> np.ndarray:
    """:func:`topological_levels` without the check: nodes on a loop, or below one, get -1."""
    n = downstream.shape[0]
    has_down = downstream < n
    remaining = np.bincount(downstream[has_down], minlength=n + 1)[:n]
    level = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(remaining == 0)
    current = 0
    while frontier.size:
        level[frontier] = current
        down = downstream[frontier]
        down = down[down < n]
        np.subtract.at(remaining, down, 1)
        candidates = np.unique(down)
        frontier = candidates[remaining[candidates] == 0]
        current += 1
    return level


def cells_to_outlet(downstream: np.ndarray) -> np.ndarray:
    """Number of cells between each node of a forest and its outlet (0 for an outlet), given as
    ``downstream`` indices (``n`` for an outlet), by pointer jumping: each pass doubles the
    stretch of flow path every node has summed."""
    n = downstream.shape[0]
    jump = np.append(downstream, n)
    hops = np.append(downstream < n, False).astype(np.int64)
    while np.any(jump < n):
        hops, jump = hops + hops[jump], jump[jump]
    return hops[:n]


def level_buckets(counts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Group levels of ``counts`` cells (in order) into buckets ``(starts, counts, width)``.

    A level's width is the next power of two of the widest level at or above it, so widths never
    grow going downstream and the buckets number about log2(widest level).
    """
    envelope = np.maximum.accumulate(counts[::-1])[::-1]
    width = 1 << np.ceil(np.log2(np.maximum(envelope, 1))).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    buckets = []
    first = 0
    for lvl in range(1, len(counts) + 1):
        if lvl == len(counts) or width[lvl] != width[first]:
            buckets.append((starts[first:lvl], counts[first:lvl], int(width[first])))
            first = lvl
    return buckets


def build_flow_graph(
    flwdir: np.ndarray,
    active_cell: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    flwacc: np.ndarray,
    dtype=np.float32,
) -> tuple[FlowGraph, np.ndarray]:
    """The routing graph of the active cells of a mesh (grids of shape ``(nrow, ncol)``), and
    ``order``: for each graph cell (level order), its index in smash's column-major order."""
    rows, cols = active_cell_index(active_cell)
    nac = rows.size
    index = np.full(np.shape(active_cell), nac, dtype=np.int64)
    index[rows, cols] = np.arange(nac)
    drow, dcol = downstream_cell(flwdir)
    dr, dc = drow[rows, cols], dcol[rows, cols]
    downstream = np.where(dr >= 0, index[np.maximum(dr, 0), np.maximum(dc, 0)], nac)
    level = topological_levels(downstream) if nac else np.zeros(0, dtype=np.int64)
    order = np.argsort(level, kind="stable")
    rank = np.empty(nac + 1, dtype=np.int64)
    rank[order] = np.arange(nac)
    rank[nac] = nac
    down = rank[downstream[order]]
    indegree = np.bincount(down[down < nac], minlength=nac)[:nac]
    buckets = level_buckets(np.bincount(level)) if nac else []
    wave_offset = (level.max() if nac else 0) - cells_to_outlet(down)
    pad = max((w for *_, w in buckets), default=1)

    def padded(values, fill):
        return np.concatenate([values, np.full(pad, fill, dtype=np.asarray(values).dtype)])

    cell_area = (np.asarray(dx) * np.asarray(dy))[rows, cols].astype(np.float64)[order]
    upstream_area = np.asarray(flwacc)[rows, cols].astype(np.float64)[order] - cell_area
    graph = FlowGraph(
        cell_area=to_device(cell_area, dtype),
        downstream=to_device(padded(down, nac), np.int32),
        has_upstream=to_device(padded(indegree > 0, False)),
        upstream_area=to_device(padded(upstream_area, 0.0), dtype),
        dx=to_device(padded(np.asarray(dx, dtype=np.float64)[rows, cols][order], 1.0), dtype),
        wave_offset=to_device(wave_offset, np.int32),
        buckets=tuple(
            Bucket(to_device(s, np.int32), to_device(c, np.int32), to_device(np.arange(w), np.int32))
            for s, c, w in buckets
        ),
    )
    return graph, order


def catchment_masks(flwdir: np.ndarray, gauge_pos: np.ndarray) -> np.ndarray:
    """Catchment of each gauge: ``(ng, nrow, ncol)`` bool, True on the gauge cell and every cell
    whose flow path passes through it (the whole grid is walked, not only active cells)."""
    flwdir = np.asarray(flwdir)
    nrow, ncol = flwdir.shape
    drow, dcol = downstream_cell(flwdir)
    down = np.where(drow >= 0, drow * ncol + dcol, -1).ravel()
    cells = np.flatnonzero(down >= 0)
    order = np.argsort(down[cells], kind="stable")
    upstream = cells[order]
    start = np.searchsorted(down[cells][order], np.arange(nrow * ncol + 1))
    masks = np.zeros((len(gauge_pos), nrow * ncol), dtype=bool)
    for g, (row, col) in enumerate(np.asarray(gauge_pos, dtype=np.int64)):
        frontier = np.array([row * ncol + col])
        while frontier.size:
            masks[g, frontier] = True
            frontier = np.concatenate([upstream[start[c] : start[c + 1]] for c in frontier])
            frontier = frontier[~masks[g, frontier]]
    return masks.reshape(len(gauge_pos), nrow, ncol)


def grid_neighbours(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(nac, 4)`` indices (in the order of ``rows``/``cols``) of each active cell's neighbours
    above, below, left and right on a grid of ``shape``; a cell stands in for a neighbour that is
    outside the grid or inactive."""
    nrow, ncol = shape
    index = np.full((nrow, ncol), -1, dtype=np.int64)
    index[rows, cols] = np.arange(rows.size)
    own = np.arange(rows.size)
    out = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r = np.clip(rows + dr, 0, nrow - 1)
        c = np.clip(cols + dc, 0, ncol - 1)
        neighbour = index[r, c]
        out.append(np.where(neighbour >= 0, neighbour, own))
    return np.stack(out, axis=1).astype(np.int32)
