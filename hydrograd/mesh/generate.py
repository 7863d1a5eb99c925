"""Build a smash-compatible mesh dictionary from a D8 flow-direction raster (numpy only).

The result matches ``smash.factory.generate_mesh`` (hydro-smash 1.3.0) key for key, type for type
(masked arrays included), dtype for dtype and value for value, including its float32 round-off,
so that a mesh built here and one built by smash can be swapped. The flow-direction convention
is smash's (see ``hydrograd.mesh.graph``).

Facts reproduced from smash (observed behaviour, re-implemented here):

- a gauge ``(x, y)`` falls in the cell ``row = int((ymax - y) / yres)``, ``col = int((x - xmin) /
  xres)`` (float32 arithmetic); every cell within ``max_depth`` cells of it is tried as the
  outlet and the one whose drained area is closest, in relative terms, to the given ``area`` wins
  (first one in column-major order on ties). The drained area is searched in a window of
  ``ceil(area / (dx * dy)) + max_depth`` cells around the gauge, so a catchment is cut at that
  window; candidate outlets that lie on a flow loop are skipped. With catchment outlines
  (``shp_path``) the candidate whose catchment best matches the burnt outline wins instead (see
  ``generate_mesh``);
- ``flwacc`` and ``flwpar`` are computed over every cell of the output grid, active or not, with
  smash's rule that a cell pointing at a neighbour that points back (direction codes differing by
  4) passes nothing on, and a cell receiving from such a pair (or from a loop) passes nothing on;
- ``flwdst`` is the distance (m) along the flow to the most downstream gauge, ``-99`` elsewhere;
- ``dx``/``dy`` are ``xres``/``yres`` for a projected raster, and an approximation in metres
  (spherical Earth) for a geographic one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hydrograd.mesh.graph import COL_STEP, ROW_STEP
from hydrograd.mesh.outlines import burn, read_outlines
from hydrograd.mesh.raster import FlowRaster, check_file
from hydrograd.mesh.sink import sink_pairs

# Offsets of the upstream neighbour that drains into a cell through D8 code k + 1 (k = 0..7).
_UP_ROW = -ROW_STEP
_UP_COL = -COL_STEP
_CODES = np.arange(1, 9)

# Constants of smash's degree-to-metre conversion, in float32 as smash computes them.
_DEG_TO_RAD = np.float32(6.2831853) / np.float32(360.0)
_DEG_TO_M = np.float32(6371228.0) * _DEG_TO_RAD


def _cell_sizes(grid: FlowRaster, nrow: int, ncol: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell sizes ``dx``, ``dy`` (m), float32 arrays of shape ``(nrow, ncol)``.

    For a geographic raster the latitude of the first row is taken from the top of the raster, as
    smash does (also for a bounding-box mesh, whose first row may lie lower).
    """
    if not grid.geographic:
        return (
            np.full((nrow, ncol), grid.xres, dtype=np.float32),
            np.full((nrow, ncol), grid.yres, dtype=np.float32),
        )
    xres, yres = np.float32(grid.xres), np.float32(grid.yres)
    steps = np.full(nrow + 1, -yres, dtype=np.float32)
    steps[0] = np.float32(grid.ymax) + yres * np.float32(0.5)
    lat = np.cumsum(steps, dtype=np.float32)[1:]
    # cosine in float64 rounded to float32: the correctly rounded value, as the C library gives
    cos_lat = np.cos((lat * _DEG_TO_RAD).astype(np.float64)).astype(np.float32)
    dx_row = xres * cos_lat * _DEG_TO_M
    dx = np.repeat(dx_row[:, None], ncol, axis=1).astype(np.float32)
    dy = np.full((nrow, ncol), yres * _DEG_TO_M, dtype=np.float32)
    return dx, dy


def _upstream(
    codes: np.ndarray,
    row: int,
    col: int,
    bounds: tuple[int, int, int, int],
    skip_pairs: bool,
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], bool]:
    """Walk upstream from ``(row, col)`` inside ``bounds = (row0, row1, col0, col1)`` (ends excluded).

    Returns the walk level by level as ``(parent, child, k)`` arrays of flat grid indices and the
    D8 index ``k`` (code ``k + 1``) of each child, and whether the walk ran into a flow loop (then
    it stops). With ``skip_pairs`` a child whose code differs by 4 from its parent's is not
    followed.
    """
    ncol = codes.shape[1]
    row0, row1, col0, col1 = bounds
    seen = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    seen[row - row0, col - col0] = True
    frontier_r = np.array([row])
    frontier_c = np.array([col])
    levels = []
    while frontier_r.size:
        nr = frontier_r[:, None] + _UP_ROW
        nc = frontier_c[:, None] + _UP_COL
        inside = (nr >= row0) & (nr < row1) & (nc >= col0) & (nc < col1)
        nrc, ncc = np.where(inside, nr, row0), np.where(inside, nc, col0)
        drains = inside & (codes[nrc, ncc] == _CODES)
        if skip_pairs:
            parent_code = codes[frontier_r, frontier_c][:, None]
            drains &= np.abs(parent_code - codes[nrc, ncc]) != 4
        parent, k = np.nonzero(drains)
        child_r, child_c = nr[parent, k], nc[parent, k]
        if seen[child_r - row0, child_c - col0].any():
            return levels, True
        seen[child_r - row0, child_c - col0] = True
        levels.append((frontier_r[parent] * ncol + frontier_c[parent], child_r * ncol + child_c, k))
        frontier_r, frontier_c = child_r, child_c
    return levels, False


def _search_window(
    shape: tuple[int, int], row: int, col: int, area: np.float32, cell_area: np.float32, max_depth: int
) -> tuple[int, int, int, int]:
    """Bounds ``(row0, row1, col0, col1)`` (ends excluded) of the cells searched for the catchment
    of a gauge on ``(row, col)``: as far as a one-cell-wide catchment of ``area`` (m2) could
    reach, plus ``max_depth``, stopping one cell short of the last row and column as smash does."""
    nrow, ncol = shape
    reach = int(np.ceil(area / cell_area)) + max_depth
    return max(0, row - reach), min(nrow - 1, row + reach), max(0, col - reach), min(ncol - 1, col + reach)


Misfit = Callable[[np.ndarray, np.ndarray], np.float32]
"""Score of a candidate catchment given the rows and columns of its cells (lower is better)."""


def _area_misfit(cell_area: np.ndarray, area: np.float32) -> Misfit:
    """Area-based rule: relative difference between the drained area and ``area`` (m2)."""

    def misfit(rows: np.ndarray, cols: np.ndarray) -> np.float32:
        # float32 running sum in column-major order, as smash's Fortran sums the cell areas
        order = np.lexsort((rows, cols))
        drained = np.cumsum(cell_area[rows[order], cols[order]], dtype=np.float32)[-1]
        return np.abs(area - drained) / area

    return misfit


def _contour_misfit(outline: np.ndarray, row0: int, col0: int) -> Misfit:
    """Contour-based rule: number of cells of the search window (top-left cell ``(row0, col0)``)
    that lie in the catchment or in the burnt ``outline`` (0/1) but not in both."""
    total = int(outline.sum())

    def misfit(rows: np.ndarray, cols: np.ndarray) -> np.float32:
        shared = int(outline[rows - row0, cols - col0].sum())
        # a float32 count, as smash compares them
        return np.float32(total + rows.size - 2 * shared)

    return misfit


def _delineate(
    codes: np.ndarray,
    row: int,
    col: int,
    bounds: tuple[int, int, int, int],
    max_depth: int,
    misfit: Misfit,
) -> tuple[int, int, np.ndarray, bool] | None:
    """Choose the outlet within ``max_depth`` cells of ``(row, col)`` whose catchment, cut at the
    search window ``bounds``, has the lowest ``misfit`` (the first in column-major order on
    ties); candidates on a flow loop are skipped.

    Returns the outlet row and column, the flat grid indices of its catchment and whether a
    candidate lay on a flow loop; ``None`` if no candidate qualifies.
    """
    ncol = codes.shape[1]
    best = None
    best_misfit = np.finfo(np.float32).max
    loop_seen = False
    for dc in range(-max_depth, max_depth + 1):
        for dr in range(-max_depth, max_depth + 1):
            r, c = row + dr, col + dc
            if not (bounds[0] <= r < bounds[1] and bounds[2] <= c < bounds[3]):
                continue
            levels, loop = _upstream(codes, r, c, bounds, skip_pairs=False)
            if loop:
                loop_seen = True
                continue
            cells = np.concatenate([[r * ncol + c]] + [child for _, child, _ in levels])
            score = misfit(*np.divmod(cells, ncol))
            if score < best_misfit:
                best_misfit = score
                best = (r, c, cells)
    if best is None:
        return None
    return (*best, loop_seen)


def _accumulate(codes: np.ndarray, cell_area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drained area ``flwacc`` (m2, float32) and flow partition ``flwpar`` (int32) of every cell.

    ``flwpar`` is 1 for a cell with nothing upstream, else 1 + the largest ``flwpar`` among the
    cells that deliver into it. Sums are made in float32 in the order smash's recursive
    traversal adds them (by the column-major rank of the last source feeding each branch), so
    the values are bit-identical to smash's.
    """
    nrow, ncol = codes.shape
    n = nrow * ncol
    code = codes.ravel().astype(np.int64)
    rows, cols = np.divmod(np.arange(n), ncol)
    valid = (code >= 1) & (code <= 8)
    step = np.clip(code - 1, 0, 7)
    drow, dcol = rows + ROW_STEP[step], cols + COL_STEP[step]
    has_down = valid & (drow >= 0) & (drow < nrow) & (dcol >= 0) & (dcol < ncol)
    down = np.where(has_down, drow * ncol + dcol, 0)
    delivers = has_down & (np.abs(code - code[down]) != 4)
    n_in = np.bincount(down[has_down], minlength=n)

    senders = np.flatnonzero(delivers)
    inflow = np.full((n, 8), -1, dtype=np.int32)
    inflow[down[senders], code[senders] - 1] = senders

    flwacc = cell_area.ravel().astype(np.float32)
    flwpar = np.ones(n, dtype=np.int32)
    rank = cols * nrow + rows
    done = np.zeros(n, dtype=bool)

    def gather(cells: np.ndarray) -> None:
        up = inflow[cells]
        ok = (up >= 0) & done[np.maximum(up, 0)]
        up = np.where(ok, up, 0)
        up_rank = np.where(ok, rank[up], -1)
        order = np.argsort(up_rank, axis=1)
        values = np.take_along_axis(np.where(ok, flwacc[up], np.float32(0)), order, axis=1)
        total = flwacc[cells]
        for j in range(8):
            total = total + values[:, j]
        flwacc[cells] = total
        flwpar[cells] = np.maximum(1, np.where(ok, flwpar[up] + 1, 1).max(axis=1))
        rank[cells] = up_rank.max(axis=1)

    frontier = np.flatnonzero(n_in == 0)
    done[frontier] = True
    remaining = n_in.copy()
    while frontier.size:
        targets, counts = np.unique(down[frontier[delivers[frontier]]], return_counts=True)
        remaining[targets] -= counts
        frontier = targets[remaining[targets] == 0]
        if frontier.size:
            gather(frontier)
            done[frontier] = True
    # cells behind a two-cell pit or a loop keep what reached them but pass nothing on
    partial = np.flatnonzero(~done)
    if partial.size:
        gather(partial)
    return flwacc.reshape(nrow, ncol), flwpar.reshape(nrow, ncol)


def _partition(flwpar: np.ndarray) -> tuple[np.int32, np.ndarray, np.ndarray, np.ndarray]:
    """``npar``, ``ncpar`` (cells per partition), ``cscpar`` (cells in lower partitions) and
    ``cpar_to_rowcol`` (every grid cell's row and column, sorted by partition then column-major)."""
    nrow = flwpar.shape[0]
    by_column = flwpar.T.ravel()
    npar = by_column.max().astype(np.int32)
    ncpar = np.bincount(by_column, minlength=npar + 1)[1:].astype(np.int32)
    cscpar = np.concatenate([[0], np.cumsum(ncpar)[:-1]]).astype(np.int32)
    order = np.argsort(by_column, kind="stable")
    cpar_to_rowcol = np.column_stack([order % nrow, order // nrow]).astype(np.int32)
    return npar, ncpar, cscpar, cpar_to_rowcol


def _largest_first(values: np.ndarray) -> list[int]:
    """Indices of ``values`` from largest to smallest, ties resolved as smash's selection sort."""
    remaining = [float(v) for v in values]
    index = list(range(len(remaining)))
    for i in range(len(remaining) - 1):
        j = i + int(np.argmax(remaining[i:]))
        remaining[i], remaining[j] = remaining[j], remaining[i]
        index[i], index[j] = index[j], index[i]
    return index


def _flow_distance(
    codes: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    gauge_rows: np.ndarray,
    gauge_cols: np.ndarray,
    area_dln: np.ndarray,
) -> np.ndarray:
    """Distance (m, float32) from each cell to the outlet of the largest catchment containing it,
    ``-99`` outside the gauged catchments. Shape of ``codes``."""
    nrow, ncol = codes.shape
    flwdst = np.full(nrow * ncol, -99, dtype=np.float32)
    dx_flat, dy_flat = dx.ravel(), dy.ravel()
    diagonal = np.sqrt(dx_flat * dx_flat + dy_flat * dy_flat)
    gauge_cells = gauge_rows.astype(np.int64) * ncol + gauge_cols
    nested = np.zeros(gauge_cells.size, dtype=bool)
    for g in _largest_first(area_dln):
        if nested[g]:
            continue
        flwdst[gauge_cells[g]] = 0
        levels, _ = _upstream(codes, int(gauge_rows[g]), int(gauge_cols[g]), (0, nrow, 0, ncol), True)
        for parent, child, k in levels:
            length = np.where(COL_STEP[k] == 0, dy_flat[parent], dx_flat[parent])
            length = np.where((COL_STEP[k] != 0) & (ROW_STEP[k] != 0), diagonal[parent], length)
            flwdst[child] = flwdst[parent] + length
            nested |= np.isin(gauge_cells, child)
    return flwdst.reshape(nrow, ncol)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _check_bbox(grid: FlowRaster, bbox: Any) -> np.ndarray:
    """The bounding box ``(xmin, xmax, ymin, ymax)`` clipped to the raster (with a warning) and
    snapped to its cell edges; keeps the dtype of the given values, as smash does."""
    if not isinstance(bbox, list | tuple | np.ndarray):
        raise TypeError(f"bbox must be a list, tuple or array (xmin, xmax, ymin, ymax), got {type(bbox).__name__}")
    box = np.array(bbox).ravel()
    if box.size != 4 or box.dtype.kind not in "iuf":
        raise ValueError(f"bbox must hold 4 numbers (xmin, xmax, ymin, ymax), got {bbox!r}")
    if not np.isfinite(box).all():
        raise ValueError(f"bbox values must be finite, got {bbox!r}")
    if box[0] > box[1]:
        raise ValueError(f"bbox xmin ({box[0]}) is greater than xmax ({box[1]})")
    if box[2] > box[3]:
        raise ValueError(f"bbox ymin ({box[2]}) is greater than ymax ({box[3]})")
    if box[0] >= grid.xmax or box[1] <= grid.xmin or box[2] >= grid.ymax or box[3] <= grid.ymin:
        raise ValueError(
            f"bbox {tuple(box.tolist())} lies outside the flow directions raster '{grid.path}' ({grid.extent})"
        )
    limits = (
        (0, grid.xmin, np.less),
        (1, grid.xmax, np.greater),
        (2, grid.ymin, np.less),
        (3, grid.ymax, np.greater),
    )
    names = ("xmin", "xmax", "ymin", "ymax")
    for i, bound, beyond in limits:
        if beyond(box[i], bound):
            warnings.warn(
                f"bbox {names[i]} ({box[i]}) lies beyond the flow directions raster ({bound}); "
                "it is clipped to the raster",
                stacklevel=3,
            )
            box[i] = bound
    box[0:2] = grid.xmin + _round_half_up((box[0:2] - grid.xmin) / grid.xres) * grid.xres
    box[2:4] = grid.ymin + _round_half_up((box[2:4] - grid.ymin) / grid.yres) * grid.yres
    if int((box[1] - box[0]) / grid.xres) < 1 or int((box[3] - box[2]) / grid.yres) < 1:
        raise ValueError(f"bbox {bbox!r} is smaller than one cell of the raster once snapped to its cells")
    return box


def _bbox_window(grid: FlowRaster, box: np.ndarray) -> tuple[slice, slice]:
    col_off = int((box[0] - grid.xmin) / grid.xres)
    row_off = int((grid.ymax - box[3]) / grid.yres)
    ncol = int((box[1] - box[0]) / grid.xres)
    nrow = int((box[3] - box[2]) / grid.yres)
    return slice(row_off, row_off + nrow), slice(col_off, col_off + ncol)


def _as_float32_vector(value: Any, name: str) -> np.ndarray:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number | list | tuple | np.ndarray):
        raise TypeError(f"{name} must be a number or a list/array of numbers, got {type(value).__name__}")
    try:
        array = np.array(value, dtype=np.float32, ndmin=1)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a list/array of numbers, got {value!r}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_gauges(
    grid: FlowRaster, x: Any, y: Any, area: Any, code: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gauge coordinates, areas (float32) and codes (str), with the cell each gauge falls in."""
    if x is None or y is None or area is None:
        given = [n for n, v in (("x", x), ("y", y), ("area", area)) if v is not None]
        raise ValueError(f"x, y and area must be given together; got only {given}")
    x, y, area = (_as_float32_vector(v, n) for v, n in ((x, "x"), (y, "y"), (area, "area")))
    if not x.size == y.size == area.size:
        raise ValueError(f"x, y and area must have the same length, got {x.size}, {y.size} and {area.size}")
    if code is None:
        code = np.array([f"_c{i}" for i in range(x.size)])
    else:
        if not isinstance(code, str | list | tuple | np.ndarray):
            raise TypeError(f"code must be a str or a list/array of str, got {type(code).__name__}")
        code = np.array(code, ndmin=1).astype(str)
        if code.size != x.size:
            raise ValueError(f"code must have the same length as x ({x.size}), got {code.size}")
        codes, counts = np.unique(code, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"code must name each gauge once; {codes[counts > 1].tolist()} repeat")
    bad = ~(np.isfinite(area) & (area > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"area must be positive (m2); gauge '{code[i]}' has area {area[i]}")
    # float32 arithmetic, as smash places its gauges
    rows = np.trunc((np.float32(grid.ymax) - y) / np.float32(grid.yres))
    cols = np.trunc((x - np.float32(grid.xmin)) / np.float32(grid.xres))
    outside = ~(
        np.isfinite(x)
        & np.isfinite(y)
        & (x >= grid.xmin)
        & (y <= grid.ymax)
        & (rows >= 0)
        & (rows < grid.nrow)
        & (cols >= 0)
        & (cols < grid.ncol)
    )
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"gauge '{code[i]}' at (x={float(x[i])}, y={float(y[i])}) lies outside the flow directions "
            f"raster '{grid.path}' ({grid.extent})"
        )
    return x, y, area, code, rows.astype(np.int64), cols.astype(np.int64)


def _check_max_depth(max_depth: Any) -> int:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | float | np.number):
        raise TypeError(f"max_depth must be a number, got {type(max_depth).__name__}")
    depth = int(max_depth)
    if depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    return depth


def _check_epsg(epsg: Any) -> int | None:
    if epsg is None:
        return None
    if isinstance(epsg, bool) or not isinstance(epsg, str | int | float | np.number):
        raise TypeError(f"epsg must be an int or a str of digits, got {type(epsg).__name__}")
    try:
        return int(epsg)
    except ValueError as exc:
        raise ValueError(f"epsg must be an integer code, got {epsg!r}") from exc


def _check_area_error_th(area_error_th: Any) -> float | None:
    if area_error_th is None:
        return None
    if not isinstance(area_error_th, float):
        raise TypeError(
            "area_error_th argument must be of Numeric type (float), got "
            f"{type(area_error_th).__name__} {area_error_th!r} (write 1.0, not 1)"
        )
    if not area_error_th >= 0:
        raise ValueError(f"area_error_th must be a relative error >= 0 (0.2 for 20%), got {area_error_th}")
    return float(area_error_th)


def generate_mesh(
    flwdir_path: str | os.PathLike,
    bbox: Sequence[float] | np.ndarray | None = None,
    x: float | Sequence[float] | np.ndarray | None = None,
    y: float | Sequence[float] | np.ndarray | None = None,
    area: float | Sequence[float] | np.ndarray | None = None,
    code: str | Sequence[str] | np.ndarray | None = None,
    shp_path: str | os.PathLike | None = None,
    max_depth: int = 1,
    epsg: int | str | None = None,
    area_error_th: float | None = None,
) -> dict[str, Any]:
    """Mesh dictionary of smash's layout from a D8 flow-direction raster.

    - ``bbox`` alone: every cell of the box ``(xmin, xmax, ymin, ymax)`` (raster units) that holds
      a direction is active; cells of two-cell pits are set to 0 and left inactive (with a
      warning). No gauge keys.
    - ``x``, ``y`` (raster units), ``area`` (m2), optional ``code``: the catchments of the gauges
      are delineated (see the module docstring) and the grid is trimmed to them. With ``bbox`` as
      well, the grid is the box and gauges whose catchment leaves it are dropped with a warning.

    ``shp_path``: a vector file (ESRI Shapefile, GeoPackage, ... in the raster's coordinate
    reference system) with a ``code`` field. A gauge whose code has polygons there is delineated
    by the contour-based rule instead of the area-based one: its polygons are burnt onto the
    search window (cells whose centre lies inside), and among the candidate outlets within
    ``max_depth`` cells the one whose catchment differs from the burnt outline by the fewest
    cells (cells in one but not the other) wins, the first in column-major order on ties. Codes
    without polygons keep the area-based rule (with a warning).

    ``area_error_th``: a float; a catchment whose relative area error ``|area_dln - area| / area``
    exceeds it is removed from the mesh (gauge and cells) with a warning. None keeps them all.

    Returned grids have shape ``(nrow, ncol)``: ``dx``, ``dy`` (m, float32 ndarrays) and
    ``active_cell`` (int32 ndarray, 1 on the active cells); ``flwdir`` (raster values and dtype),
    ``flwacc`` (m2, float32), ``flwdst`` (m, float32, ``-99`` off the catchments; float64 zeros
    if no gauge is left) and ``flwpar`` (int32) are ``numpy.ma.MaskedArray`` masked off the
    active cells, as smash returns them; the values under the mask are kept (flow directions,
    drained areas and partitions computed over the whole grid), and a Model reads those
    underlying values. ``gauge_pos`` is ``(ng, 2)`` int32 rows and columns; ``area`` and
    ``area_dln`` (delineated) are ``(ng,)`` float32 m2. Scalars have smash's types: ``xres``,
    ``yres`` float, ``nrow``, ``ncol``, ``ng`` int, ``epsg`` int (None for a system without EPSG
    code), ``npar`` numpy.int32, ``nac`` numpy.int64, ``xmin``/``ymax`` numpy.float64 (float with
    ``bbox`` and gauges, the bbox's numpy scalars with ``bbox`` alone). ``max_depth`` is how many
    cells around each gauge are tried as its outlet; ``epsg`` is used only when the raster has no
    coordinate reference system.
    """
    path = check_file(flwdir_path, "flwdir_path")
    depth = _check_max_depth(max_depth)
    epsg_code = _check_epsg(epsg)
    error_th = _check_area_error_th(area_error_th)
    outline_path = None if shp_path is None else check_file(shp_path, "shp_path")
    if bbox is None and x is None:
        raise ValueError("bbox argument and / or (x, y, area) arguments must be defined")
    grid = FlowRaster(path, epsg_code)
    box = None if bbox is None else _check_bbox(grid, bbox)
    if x is None and y is None and area is None:
        if outline_path is not None:
            raise ValueError("shp_path needs the gauges (x, y, area, code): its outlines are matched to their codes")
        return _mesh_from_bbox(grid, box)
    gauges = _check_gauges(grid, x, y, area, code)
    outlines = {} if outline_path is None else read_outlines(outline_path, gauges[3].tolist(), grid.crs)
    return _mesh_from_gauges(grid, box, *gauges, depth, outlines, error_th)


def _partition_keys(codes: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> dict[str, Any]:
    flwacc, flwpar = _accumulate(codes, dx * dy)
    npar, ncpar, cscpar, cpar_to_rowcol = _partition(flwpar)
    return {
        "flwacc": flwacc,
        "npar": npar,
        "ncpar": ncpar,
        "cscpar": cscpar,
        "cpar_to_rowcol": cpar_to_rowcol,
        "flwpar": flwpar,
    }


def _header(grid: FlowRaster, xmin: Any, ymax: Any, nrow: int, ncol: int) -> dict[str, Any]:
    return {
        "xres": grid.xres,
        "yres": grid.yres,
        "xmin": xmin,
        "ymax": ymax,
        "epsg": grid.epsg,
        "nrow": nrow,
        "ncol": ncol,
    }


def _masked(data: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
    """``data`` masked where ``mask`` (bool) is True, numpy's default fill value."""
    return np.ma.masked_array(data, mask=mask)


def _mesh_from_bbox(grid: FlowRaster, box: np.ndarray) -> dict[str, Any]:
    window = _bbox_window(grid, box)
    values = grid.values[window].copy()
    codes = grid.codes[window].copy()
    sink = sink_pairs(codes)
    if sink.any():
        values[sink] = 0
        codes[sink] = 0
        warnings.warn(
            f"{int(sink.sum())} cells of the bounding box form two-cell pits (neighbours pointing at "
            "each other); they are set to 0 and left inactive",
            stacklevel=3,
        )
    nrow, ncol = codes.shape
    dx, dy = _cell_sizes(grid, nrow, ncol)
    flwdir = _masked(values, (codes < 1) | (codes > 8))
    partition = _partition_keys(codes, dx, dy)
    mesh = _header(grid, box[0], box[3], nrow, ncol)
    mesh.update(dx=dx, dy=dy, flwdir=flwdir, flwacc=_masked(partition.pop("flwacc"), flwdir.mask))
    mesh.update(partition, flwpar=_masked(partition["flwpar"], flwdir.mask))
    mesh.update(nac=np.int64(np.count_nonzero(~flwdir.mask)), active_cell=1 - flwdir.mask.astype(np.int32), ng=0)
    return mesh


def _mesh_from_gauges(
    grid: FlowRaster,
    box: np.ndarray | None,
    x: np.ndarray,
    y: np.ndarray,
    area: np.ndarray,
    code: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    max_depth: int,
    outlines: dict[str, list[Any]],
    area_error_th: float | None,
) -> dict[str, Any]:
    dx_all, dy_all = _cell_sizes(grid, grid.nrow, grid.ncol)
    cell_area = dx_all * dy_all
    catchments = np.zeros(grid.nrow * grid.ncol, dtype=bool)
    outlet_r, outlet_c, area_dln, kept, looped = [], [], [], [], []
    for i in range(x.size):
        row, col = int(rows[i]), int(cols[i])
        bounds = _search_window(grid.codes.shape, row, col, area[i], cell_area[row, col], max_depth)
        if str(code[i]) in outlines:
            row0, row1, col0, col1 = bounds
            outline = burn(
                outlines[str(code[i])],
                (row1 - row0, col1 - col0),
                grid.xmin + col0 * grid.xres,
                grid.ymax - row0 * grid.yres,
                grid.xres,
                grid.yres,
            )
            misfit = _contour_misfit(outline, row0, col0)
        else:
            misfit = _area_misfit(cell_area, area[i])
        found = _delineate(grid.codes, row, col, bounds, max_depth, misfit)
        if found is None:
            raise ValueError(
                f"no outlet found for gauge '{code[i]}' at (x={float(x[i])}, y={float(y[i])}): every cell "
                f"within max_depth={max_depth} of it lies on a flow loop or at the raster edge"
            )
        r, c, cells, loop = found
        if loop:
            looped.append(str(code[i]))
        cells_r, cells_c = np.divmod(cells, grid.ncol)
        dln = np.float32(np.sum(dx_all[cells_r, cells_c].astype(np.float64) * dy_all[cells_r, cells_c]))
        if box is not None:
            top = grid.ymax - cells_r.min() * grid.yres
            left = grid.xmin + cells_c.min() * grid.xres
            extent = (
                float(left),
                float(left + (cells_c.max() + 1 - cells_c.min()) * grid.xres),
                float(top - (cells_r.max() + 1 - cells_r.min()) * grid.yres),
                float(top),
            )
            if extent[0] < box[0] or extent[1] > box[1] or extent[2] < box[2] or extent[3] > box[3]:
                warnings.warn(
                    f"the catchment of gauge '{code[i]}' (extent {extent}) leaves the bbox "
                    f"{tuple(box.tolist())}; the gauge is dropped from the mesh",
                    stacklevel=3,
                )
                continue
        # float32 arithmetic, as smash compares the error with the threshold
        error = np.abs((dln - area[i]) / area[i])
        if area_error_th is not None and error > area_error_th:
            warnings.warn(
                f"The error of the modeled area for catchment {code[i]} exceed the threshold {area_error_th} "
                f"(relative error {float(error):.4g}: delineated {float(dln):.6g} m2 for {float(area[i]):.6g} m2). "
                "This catchment is removed from the mesh",
                stacklevel=3,
            )
            continue
        catchments[cells] = True
        outlet_r.append(r)
        outlet_c.append(c)
        area_dln.append(dln)
        kept.append(i)
    if looped:
        warnings.warn(
            f"flow loops (sinks) lie next to gauge(s) {looped}; those cells were not taken as outlets",
            stacklevel=3,
        )
    catchments = catchments.reshape(grid.nrow, grid.ncol)
    if box is not None:
        window = _bbox_window(grid, box)
    elif kept:
        used_r = np.flatnonzero(catchments.any(axis=1))
        used_c = np.flatnonzero(catchments.any(axis=0))
        window = (slice(used_r[0], used_r[-1] + 1), slice(used_c[0], used_c[-1] + 1))
    else:  # every catchment was removed: smash keeps the whole raster, every cell masked
        window = (slice(0, grid.nrow), slice(0, grid.ncol))
    row0, col0 = window[0].start, window[1].start
    codes = grid.codes[window]
    dx, dy = dx_all[window], dy_all[window]
    gauge_pos = np.column_stack([np.array(outlet_r) - row0, np.array(outlet_c) - col0]).astype(np.int32)
    gauge_pos = gauge_pos.reshape(-1, 2)
    area_dln = np.array(area_dln, dtype=np.float32)
    if kept:
        flwdst = _flow_distance(codes, dx, dy, gauge_pos[:, 0], gauge_pos[:, 1], area_dln)
    else:  # no gauge left: smash then gives float64 zeros
        flwdst = np.zeros(codes.shape)
    flwdir = _masked(grid.values[window].copy(), ~catchments[window])
    partition = _partition_keys(codes, dx, dy)
    xmin, ymax = grid.xmin + col0 * grid.xres, grid.ymax - row0 * grid.yres
    if box is None:  # smash's origin is then shifted by numpy integers
        xmin, ymax = np.float64(xmin), np.float64(ymax)
    mesh = _header(grid, xmin, ymax, *codes.shape)
    mesh.update(dx=dx.copy(), dy=dy.copy(), flwdir=flwdir, flwdst=_masked(flwdst, flwdir.mask))
    mesh["flwacc"] = _masked(partition.pop("flwacc"), flwdir.mask)
    mesh.update(partition, flwpar=_masked(partition["flwpar"], flwdir.mask))
    mesh.update(
        nac=np.int64(np.count_nonzero(~flwdir.mask)),
        active_cell=1 - flwdir.mask.astype(np.int32),
        ng=len(kept),
        gauge_pos=gauge_pos,
        code=code[kept],
        area=area[kept],
        area_dln=area_dln,
    )
    return mesh
