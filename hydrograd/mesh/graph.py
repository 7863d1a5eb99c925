"""Build the routing ``FlowGraph`` of a mesh from its D8 flow directions (numpy, done once)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hydrograd.core.graph import FlowGraph

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
    n = downstream.shape[0]
    has_down = downstream < n
    indegree = np.bincount(downstream[has_down], minlength=n + 1)[:n]
    level = np.full(n, -1, dtype=np.int64)
    frontier = np.flatnonzero(indegree == 0)
    current = 0
    remaining = indegree.copy()
    while frontier.size:
        level[frontier] = current
        down = downstream[frontier]
        down = down[down < n]
        np.subtract.at(remaining, down, 1)
        candidates = np.unique(down)
        frontier = candidates[remaining[candidates] == 0]
        current += 1
    if (level < 0).any():
        bad = np.flatnonzero(level < 0)[:5]
        raise ValueError(f"Flow directions form a loop through active cells {bad.tolist()} (active-cell index)")
    return level


def level_buckets(level: np.ndarray, pad_index: int) -> tuple[np.ndarray, ...]:
    """Group cells by level into buckets of power-of-two width (see ``hydrograd.core.graph``).

    A level's width class is the next power of two of the widest level at or above it, so the
    classes never widen going downstream and the buckets number about log2(widest level).
    """
    order = np.argsort(level, kind="stable")
    counts = np.bincount(level)
    envelope = np.maximum.accumulate(counts[::-1])[::-1]
    width = 1 << np.ceil(np.log2(np.maximum(envelope, 1))).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    buckets = []
    first = 0
    for lvl in range(1, len(counts) + 1):
        if lvl == len(counts) or width[lvl] != width[first]:
            block = np.full((lvl - first, width[first]), pad_index, dtype=np.int32)
            for row, k in enumerate(range(first, lvl)):
                cells = order[starts[k] : starts[k + 1]]
                block[row, : cells.size] = cells
            buckets.append(block)
            first = lvl
    return tuple(buckets)


def build_flow_graph(
    flwdir: np.ndarray,
    active_cell: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    flwacc: np.ndarray,
    dtype=np.float32,
) -> FlowGraph:
    """The routing graph of the active cells of a mesh (grids of shape ``(nrow, ncol)``)."""
    rows, cols = active_cell_index(active_cell)
    nac = rows.size
    index = np.full(np.shape(active_cell), nac, dtype=np.int64)
    index[rows, cols] = np.arange(nac)
    drow, dcol = downstream_cell(flwdir)
    dr, dc = drow[rows, cols], dcol[rows, cols]
    downstream = np.where(dr >= 0, index[np.maximum(dr, 0), np.maximum(dc, 0)], nac)
    level = topological_levels(downstream)
    indegree = np.bincount(downstream[downstream < nac], minlength=nac)[:nac]

    def padded(values, fill=0):
        return np.concatenate([values, [fill]])

    cell_area = (np.asarray(dx) * np.asarray(dy))[rows, cols].astype(np.float64)
    upstream_area = np.asarray(flwacc)[rows, cols].astype(np.float64) - cell_area
    return FlowGraph(
        downstream=jnp.asarray(padded(downstream, nac), dtype=jnp.int32),
        buckets=tuple(jnp.asarray(b) for b in level_buckets(level, nac)),
        has_upstream=jnp.asarray(padded(indegree > 0, False)),
        cell_area=jnp.asarray(padded(cell_area, 1.0), dtype=dtype),
        upstream_area=jnp.asarray(padded(upstream_area, 0.0), dtype=dtype),
        dx=jnp.asarray(padded(np.asarray(dx)[rows, cols], 1.0), dtype=dtype),
    )


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


def grid_neighbours(active_cell: np.ndarray) -> np.ndarray:
    """``(nac, 4)`` active-cell indices of each active cell's neighbours above, below, left and
    right on the grid; a cell stands in for a neighbour that is outside the grid or inactive."""
    rows, cols = active_cell_index(active_cell)
    nrow, ncol = np.shape(active_cell)
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
