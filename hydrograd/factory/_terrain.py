"""Terrain of the synthetic catchment: relief, pit filling, D8 flow directions, gauges, descriptors.

Everything lives on a ``(nrow, ncol)`` grid of square cells; row 0 is the northern edge. Flow
directions follow smash's D8 convention (see :mod:`hydrograd.mesh.graph`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from hydrograd.mesh.graph import COL_STEP, ROW_STEP

FILL_EPSILON = 1e-3
"""Smallest drop (m) the pit filling leaves between a cell and the neighbour it drains into."""

CHANNEL_CELLS = 5
"""Drained area (cells) from which a cell counts as a channel for the drainage density."""

_STEP_LENGTH = np.where((ROW_STEP != 0) & (COL_STEP != 0), np.sqrt(2.0), 1.0)


@dataclass(frozen=True)
class Terrain:
    """Relief and drainage of the grid.

    - ``elevation``: raw relief (m), the ``elevation`` descriptor;
    - ``filled``: relief after pit filling (m), strictly decreasing along every flow path;
    - ``flwdir``: D8 codes 1..8 (int), border cells without a lower neighbour point off the grid;
    - ``flwacc``: number of cells drained through each cell, itself included;
    - ``outlet``: (row, col) of the main catchment's outlet, next to the border;
    - ``catchment``: bool mask of the cells draining to ``outlet``.
    """

    elevation: np.ndarray
    filled: np.ndarray
    flwdir: np.ndarray
    flwacc: np.ndarray
    outlet: tuple[int, int]
    catchment: np.ndarray


def _gaussian_smoothed(field: np.ndarray, sigma: float) -> np.ndarray:
    """``field`` low-pass filtered with a Gaussian of ``sigma`` cells, edges reflected."""
    # imported here: scipy.ndimage takes about 0.2 s to import, which `import hydrograd` should not pay
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(field, sigma, mode="reflect")


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """White noise low-pass filtered with a Gaussian of ``sigma`` cells, rescaled to mean 0, std 1."""
    field = _gaussian_smoothed(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / field.std()


def relief(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Elevation (m) of a basin: a valley ringed by an irregular ridge, open to the south.

    The ridge follows a randomly perturbed circle whose gap on the southern side leads to the
    grid's bottom edge; the floor tilts towards that gap. Gaussian hills and filtered noise
    roughen the whole, so the raw relief has pits that :func:`fill_pits` removes.
    """
    nrow, ncol = shape
    rows, cols = np.indices(shape, dtype=np.float64)
    centre_row = 0.42 * nrow + rng.uniform(-1.0, 1.0)
    centre_col = 0.5 * (ncol - 1) + rng.uniform(-1.5, 1.5)
    outlet_angle = np.pi / 2 + rng.uniform(-0.25, 0.25)  # angle measured from east, rows pointing south

    angle = np.arctan2(rows - centre_row, cols - centre_col)
    wobble = sum(rng.uniform(-0.07, 0.07) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in range(2, 5))
    radius = 0.36 * min(nrow, ncol) * (1.0 + wobble)
    rho = np.hypot(rows - centre_row, cols - centre_col) / radius
    gap = 1.0 - 0.9 * np.exp(-((np.angle(np.exp(1j * (angle - outlet_angle))) / 0.45) ** 2))
    profile = np.where(rho < 1.0, 380.0 * rho**1.5, 380.0 - 260.0 * (rho - 1.0))
    along = ((rows - centre_row) * np.sin(outlet_angle) + (cols - centre_col) * np.cos(outlet_angle)) / radius

    valleys = np.zeros(shape)

    def polar(distance: float, direction: float) -> tuple[float, float]:
        return centre_row + distance * np.sin(direction), centre_col + distance * np.cos(direction)

    mouth = polar(1.2 * radius, outlet_angle)
    head = polar(-0.8 * radius, outlet_angle)
    segments = [(head, mouth, 40.0, 2.0)]
    for k, side in enumerate(rng.permutation([-1.0, -1.0, 1.0, 1.0])):
        start_angle = outlet_angle + np.pi + side * rng.uniform(0.35, 1.1) * (1 + k % 2)
        start = polar(0.85 * radius, start_angle)
        t = rng.uniform(0.35, 0.75)
        join = (head[0] + t * (mouth[0] - head[0]), head[1] + t * (mouth[1] - head[1]))
        segments.append((start, join, rng.uniform(30.0, 60.0), rng.uniform(1.5, 2.5)))
    for (r0, c0), (r1, c1), depth, width in segments:
        length2 = (r1 - r0) ** 2 + (c1 - c0) ** 2
        t = np.clip(((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / length2, 0.0, 1.0)
        distance2 = (rows - r0 - t * (r1 - r0)) ** 2 + (cols - c0 - t * (c1 - c0)) ** 2
        valleys = np.minimum(valleys, -depth * np.exp(-distance2 / (2 * width**2)))

    hills = np.zeros(shape)
    for _ in range(28):
        r0, c0 = rng.uniform(0, nrow), rng.uniform(0, ncol)
        width = rng.uniform(1.2, 3.5)
        height = rng.uniform(-35.0, 60.0)
        hills += height * np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * width**2))
    roughness = 8.0 * smooth_noise(rng, shape, 1.0)
    return 230.0 + gap * profile - 110.0 * along + valleys + hills + roughness


def _neighbours(row: int, col: int, shape: tuple[int, int]):
    for k in range(8):
        r, c = row + ROW_STEP[k], col + COL_STEP[k]
        if 0 <= r < shape[0] and 0 <= c < shape[1]:
            yield r, c


def fill_pits(elevation: np.ndarray, epsilon: float = FILL_EPSILON) -> np.ndarray:
    """Priority-flood + epsilon (Barnes et al., 2014) from every border cell.

    Every interior cell of the result has a neighbour lower by at least ``epsilon``, so flow paths
    of steepest descent reach the border.
    """
    shape = elevation.shape
    filled = elevation.astype(np.float64).copy()
    closed = np.zeros(shape, dtype=bool)
    heap: list[tuple[float, int, int, int]] = []
    border = np.zeros(shape, dtype=bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    for order, (r, c) in enumerate(zip(*np.nonzero(border), strict=True)):
        heap.append((filled[r, c], order, int(r), int(c)))
        closed[r, c] = True
    heapq.heapify(heap)
    order = len(heap)
    while heap:
        level, _, row, col = heapq.heappop(heap)
        for r, c in _neighbours(row, col, shape):
            if closed[r, c]:
                continue
            closed[r, c] = True
            filled[r, c] = max(filled[r, c], level + epsilon)
            heapq.heappush(heap, (filled[r, c], order, r, c))
            order += 1
    return filled


def _interior(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[1:-1, 1:-1] = True
    return mask


def _off_grid_code(row: int, col: int, shape: tuple[int, int]) -> int:
    """D8 code pointing out of the grid from a border cell (diagonal at the corners)."""
    drow = -1 if row == 0 else (1 if row == shape[0] - 1 else 0)
    dcol = -1 if col == 0 else (1 if col == shape[1] - 1 else 0)
    return int(np.flatnonzero((drow == ROW_STEP) & (dcol == COL_STEP))[0]) + 1


def d8_directions(filled: np.ndarray) -> np.ndarray:
    """D8 code (1..8) of steepest descent on a pit-free relief; off-grid for border minima."""
    nrow, ncol = filled.shape
    padded = np.pad(filled, 1, constant_values=np.inf)
    drops = np.stack(
        [
            (filled - padded[1 + dr : 1 + dr + nrow, 1 + dc : 1 + dc + ncol]) / length
            for dr, dc, length in zip(ROW_STEP, COL_STEP, _STEP_LENGTH, strict=True)
        ]
    )
    flwdir = np.argmax(drops, axis=0) + 1
    for row, col in zip(*np.nonzero(drops.max(axis=0) <= 0), strict=True):
        if 0 < row < nrow - 1 and 0 < col < ncol - 1:
            raise ValueError(f"cell ({row}, {col}) is a pit: fill the relief first")
        flwdir[row, col] = _off_grid_code(int(row), int(col), filled.shape)
    return flwdir.astype(np.int32)


def downstream_flat(flwdir: np.ndarray) -> np.ndarray:
    """Flat index of the cell each cell drains into, -1 off the grid."""
    nrow, ncol = flwdir.shape
    rows, cols = np.indices(flwdir.shape)
    r = rows + ROW_STEP[flwdir - 1]
    c = cols + COL_STEP[flwdir - 1]
    inside = (r >= 0) & (r < nrow) & (c >= 0) & (c < ncol)
    return np.where(inside, r * ncol + c, -1).ravel()


def accumulate(flwdir: np.ndarray, filled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drained area (cells, itself included) and the flat index of the border cell each cell
    finally drains through; both of shape ``(nrow, ncol)``."""
    down = downstream_flat(flwdir)
    order = np.argsort(-filled, axis=None, kind="stable")
    acc = np.ones(down.size, dtype=np.int64)
    for cell in order:
        if down[cell] >= 0:
            acc[down[cell]] += acc[cell]
    sink = np.arange(down.size)
    for cell in order[::-1]:
        if down[cell] >= 0:
            sink[cell] = sink[down[cell]]
    return acc.reshape(flwdir.shape), sink.reshape(flwdir.shape)


def _catchment_of(down: np.ndarray, cell: int) -> np.ndarray:
    """Bool mask (flat) of the cells whose flow path passes through ``cell``."""
    inside = np.zeros(down.size, dtype=bool)
    inside[cell] = True
    changed = True
    while changed:
        grown = inside | ((down >= 0) & inside[np.maximum(down, 0)])
        changed = bool((grown != inside).any())
        inside = grown
    return inside


def make_terrain(rng: np.random.Generator, shape: tuple[int, int]) -> Terrain:
    """Relief, pit filling, D8 directions and the main catchment, from ``rng``.

    The outlet is the interior cell draining the most into the border cell through which the
    largest area leaves the grid (smash's mesh generator does not place gauges on the border).
    """
    elevation = relief(rng, shape)
    filled = fill_pits(elevation)
    flwdir = d8_directions(filled)
    flwacc, sink = accumulate(flwdir, filled)
    flat_acc = flwacc.ravel()
    main_sink = int(np.argmax(np.where(sink.ravel() == np.arange(sink.size), flat_acc, 0)))
    down = downstream_flat(flwdir)
    feeders = np.flatnonzero((down == main_sink) & _interior(shape).ravel())
    outlet = int(feeders[np.argmax(flat_acc[feeders])])
    catchment = _catchment_of(down, outlet).reshape(shape)
    row, col = divmod(outlet, shape[1])
    return Terrain(elevation, filled, flwdir, flwacc, (int(row), int(col)), catchment)


def _path_from(down: np.ndarray, cell: int) -> np.ndarray:
    """Bool mask (flat) of ``cell`` and every cell downstream of it."""
    path = np.zeros(down.size, dtype=bool)
    while cell >= 0:
        path[cell] = True
        cell = down[cell]
    return path


def choose_gauges(
    terrain: Terrain, targets: tuple[tuple[float, bool], ...], min_ratio: float = 1.3
) -> list[tuple[int, int]]:
    """Outlet first, then one gauge per ``(fraction, tributary)`` target, in the given order.

    Each gauge is the catchment cell whose drained area is closest to ``fraction`` of the
    outlet's, among interior cells whose drained area differs from every neighbour's (so that a
    mesh generator snapping gauges by area within one cell finds exactly it) and by at least
    ``min_ratio`` from the gauges already chosen. A ``tributary`` gauge is moreover neither
    upstream nor downstream of any gauge chosen before it, the outlet aside.
    """
    acc = terrain.flwacc
    ncol = acc.shape[1]
    down = downstream_flat(terrain.flwdir)
    candidates = _gauge_candidates(terrain)
    flat_acc = acc.ravel().astype(np.float64)
    outlet = terrain.outlet[0] * ncol + terrain.outlet[1]
    gauges = [outlet]
    related = np.zeros(down.size, dtype=bool)
    for fraction, tributary in targets:
        areas = flat_acc[gauges]
        distinct = np.all(np.abs(np.log(flat_acc[:, None] / areas)) >= np.log(min_ratio), axis=-1)
        allowed = candidates & distinct & ~(related if tributary else np.zeros_like(related))
        mismatch = np.where(allowed, np.abs(np.log(flat_acc / (fraction * flat_acc[outlet]))), np.inf)
        best = int(np.argmin(mismatch))
        if not np.isfinite(mismatch[best]):
            raise ValueError(f"no cell drains about {fraction:.0%} of the catchment with a distinct area")
        gauges.append(best)
        related |= _catchment_of(down, best) | _path_from(down, best)
    return [divmod(int(g), ncol) for g in gauges]


def _gauge_candidates(terrain: Terrain) -> np.ndarray:
    """Flat mask of the interior catchment cells whose drained area differs from every
    neighbour's, so that snapping a gauge by its area finds exactly that cell."""
    acc = terrain.flwacc
    nrow, ncol = acc.shape
    unique = np.ones(acc.shape, dtype=bool)
    padded = np.pad(acc, 1, constant_values=-1)
    for dr, dc in zip(ROW_STEP, COL_STEP, strict=True):
        unique &= padded[1 + dr : 1 + dr + nrow, 1 + dc : 1 + dc + ncol] != acc
    return (terrain.catchment & unique & _interior(acc.shape)).ravel()


def choose_headwaters(terrain: Terrain, gauges: list[tuple[int, int]], cells: tuple[int, int]) -> list[tuple[int, int]]:
    """Outlets of disjoint headwater sub-catchments draining ``cells[0]`` to ``cells[1]`` cells each.

    Greedy, largest first: a candidate (an interior catchment cell whose drained area differs from
    every neighbour's, and not already in ``gauges``) is kept when its sub-catchment shares no cell
    with those kept before it. Together they tile much of the catchment with independent
    hydrographs, which is what makes a spatial parameter pattern identifiable from discharge.
    """
    acc = terrain.flwacc
    ncol = acc.shape[1]
    down = downstream_flat(terrain.flwdir)
    candidates = _gauge_candidates(terrain)
    candidates[[row * ncol + col for row, col in gauges]] = False
    flat_acc = acc.ravel()
    covered = np.zeros(down.size, dtype=bool)
    chosen = []
    for cell in np.argsort(-flat_acc, kind="stable"):
        if not (candidates[cell] and cells[0] <= flat_acc[cell] <= cells[1]):
            continue
        inside = _catchment_of(down, int(cell))
        if not (inside & covered).any():
            chosen.append(divmod(int(cell), ncol))
            covered |= inside
    return chosen


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def descriptor_fields(rng: np.random.Generator, terrain: Terrain, cell_size: float) -> dict[str, np.ndarray]:
    """Physiographic descriptors on the grid, float32 ``(nrow, ncol)`` each.

    - ``elevation`` (m) and ``slope`` (degrees) of the raw relief;
    - ``drainage_density`` (km/km2): smoothed share of channel cells;
    - ``soil_depth`` (m): deeper on gentle, low ground;
    - ``forest`` and ``urban`` (fractions): forest on high, steep ground, a town near the outlet;
    - ``clay`` (fraction): a smooth field, a little richer in the valley.
    """
    shape = terrain.elevation.shape
    elevation = terrain.elevation
    grad_row, grad_col = np.gradient(elevation, cell_size)
    slope = np.degrees(np.arctan(np.hypot(grad_row, grad_col)))
    channel = (terrain.flwacc >= CHANNEL_CELLS).astype(np.float64)
    drainage_density = _gaussian_smoothed(channel, 1.5) * 1000.0 / cell_size

    elev_z = (elevation - elevation.mean()) / elevation.std()
    slope_z = (slope - slope.mean()) / slope.std()
    soil_depth = 0.2 + 1.6 * _sigmoid(-0.9 * slope_z - 0.5 * elev_z + 0.8 * smooth_noise(rng, shape, 3.0))
    forest = _sigmoid(1.0 * elev_z + 0.7 * slope_z + 1.0 * smooth_noise(rng, shape, 2.5) - 0.2)

    rows, cols = np.indices(shape, dtype=np.float64)
    out_r, out_c = terrain.outlet
    town_r, town_c = out_r - rng.uniform(3.0, 6.0), out_c + rng.uniform(-3.0, 3.0)
    village_r, village_c = rng.uniform(0.3, 0.6) * shape[0], rng.uniform(0.25, 0.75) * shape[1]
    urban = 0.65 * np.exp(-((rows - town_r) ** 2 + (cols - town_c) ** 2) / (2 * 2.5**2))
    urban += 0.3 * np.exp(-((rows - village_r) ** 2 + (cols - village_c) ** 2) / (2 * 1.2**2))
    urban = np.clip(urban * (1.0 - 0.6 * forest) + 0.02 * (smooth_noise(rng, shape, 1.0) + 1.0), 0.0, 1.0)
    clay = 0.1 + 0.4 * _sigmoid(1.3 * smooth_noise(rng, shape, 4.0) - 0.5 * elev_z)
    fields = {
        "elevation": elevation,
        "slope": slope,
        "drainage_density": drainage_density,
        "soil_depth": soil_depth,
        "forest": forest,
        "urban": urban,
        "clay": clay,
    }
    return {name: value.astype(np.float32) for name, value in fields.items()}
