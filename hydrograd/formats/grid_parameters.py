"""Parameter and initial-state maps as GeoTIFF files, in the layout of smash's
``save_grid_parameters``/``read_grid_parameters`` (``hydrograd.io`` converts a ``Model``).

A folder holds one file per map, ``<name>.tif`` (``cp.tif``, ``hp.tif``, ...; ``active_cell.tif``
for the mask): one float64 band without a nodata value, LZW-compressed, on the mesh's grid
(upper-left corner ``(xmin, ymax)``, cells of ``xres`` x ``yres``, ``nrow`` rows and ``ncol``
columns) in the CRS ``EPSG:<epsg>`` (none for a mesh without ``epsg``), tagged with the model's
``start_time``, ``end_time``, ``dt``, ``structure``, ``snow_module``, ``hydrological_module``,
``routing_module`` and ``epsg`` (as text).

Reading takes any raster (band 1): it is resampled by nearest neighbour onto the mesh's grid, and
reprojected from its CRS to the mesh's when both are known and differ (a raster or a mesh without
a CRS is taken to be in the other's). Mesh cells the raster does not cover, its nodata cells and
values outside the map's feasible domain take the map's default value (smash's constant, as
``hydrograd.core.parameters`` lists it). A raster covering only part of the mesh gives a
``UserWarning``; one that misses it, or that cannot be read, a ``ValueError`` naming the file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.warp import reproject, transform_bounds

from hydrograd.core.parameters import SMALLEST_POSITIVE, Spec
from hydrograd.formats._atomic import as_path, atomic_path
from hydrograd.formats._raster import UNREADABLE, GridLike, unreadable

ACTIVE_CELL = "active_cell"
"""Name (and file stem) of the active-cell mask."""

# The CRS given to both sides when either is unknown: identical, so no coordinate transformation.
_UNKNOWN_CRS = CRS.from_wkt('LOCAL_CS["unknown",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]')


def grid_crs(epsg: Any) -> CRS | None:
    """The CRS of a mesh's ``epsg`` code (None for a mesh without one); ValueError for a code
    that is not a known EPSG CRS."""
    if epsg is None:
        return None
    try:
        return CRS.from_epsg(int(epsg))
    except (CRSError, TypeError, ValueError) as error:
        raise ValueError(f"mesh 'epsg' {epsg!r} is not a known EPSG code ({error})") from None


def grid_file(directory: str, name: str) -> str:
    """The file of map ``name`` in ``directory``."""
    return os.path.join(directory, f"{name}.tif")


def _grid_transform(grid: GridLike) -> Affine:
    return Affine(float(grid.xres), 0.0, float(grid.xmin), 0.0, -float(grid.yres), float(grid.ymax))


def _grid_bounds(grid: GridLike) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of the mesh's grid."""
    left, top = float(grid.xmin), float(grid.ymax)
    return left, top - int(grid.nrow) * float(grid.yres), left + int(grid.ncol) * float(grid.xres), top


def write_grid_maps(
    directory: str | os.PathLike, maps: Mapping[str, np.ndarray], grid: GridLike, epsg: Any, tags: Mapping[str, Any]
) -> list[str]:
    """Write each ``(nrow, ncol)`` map of ``maps`` to ``<directory>/<name>.tif`` (see the module's
    docstring), creating ``directory`` if needed; ``tags`` are stored as text (None values are
    left out). Each file is written under a temporary name and then renamed onto its own, so an
    interrupted save leaves any previous file untouched. Returns the paths written."""
    directory = as_path(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"Cannot save grid maps in '{directory}': it is a file, not a directory")
    shape = (int(grid.nrow), int(grid.ncol))
    for name, values in maps.items():
        if np.shape(values) != shape:
            raise ValueError(f"map '{name}' has shape {np.shape(values)}; the mesh's grid is {shape}")
    profile = {
        "driver": "GTiff",
        "dtype": "float64",
        "nodata": None,
        "height": shape[0],
        "width": shape[1],
        "count": 1,
        "crs": grid_crs(epsg),
        "transform": _grid_transform(grid),
        "compress": "lzw",
    }
    text = {key: str(value) for key, value in tags.items() if value is not None}
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, values in maps.items():
        path = grid_file(directory, name)
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as ds:
            ds.write(np.asarray(values, dtype=np.float64), 1)
            ds.update_tags(**text)
        paths.append(path)
    return paths


def read_grid_map(path: str | os.PathLike, grid: GridLike, epsg: Any, spec: Spec, *, parameter: bool) -> np.ndarray:
    """The raster at ``path`` on the mesh's grid (see the module's docstring): float32
    ``(nrow, ncol)`` in the map's units, every value inside ``spec``'s feasible domain (strictly,
    and for a ``parameter`` whose domain starts at 0 at least the smallest normal float32), the
    others at ``spec.default``.

    FileNotFoundError if there is no such file; ValueError (naming the file) if it cannot be read,
    has no georeferencing, holds no numbers, or does not overlap the mesh; a ``UserWarning`` when it covers part of it.
    """
    path = as_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No grid map file at '{path}'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # refused just below
            with rasterio.open(path) as ds:
                source = ds.read(1)
                src_transform, src_crs, src_nodata, src_bounds = ds.transform, ds.crs, ds.nodata, tuple(ds.bounds)
    except UNREADABLE as error:
        raise unreadable(path, error) from None
    if src_transform.is_identity:
        raise ValueError(f"The raster '{path}' has no georeferencing (geotransform): it cannot be placed on the mesh")
    if source.dtype.kind not in "iuf":
        raise ValueError(f"The raster '{path}' holds {source.dtype} values; expected numbers")
    dst_crs = grid_crs(epsg)
    if src_crs is None or dst_crs is None:
        src_crs = dst_crs = _UNKNOWN_CRS
    elif src_crs != dst_crs:
        src_bounds = transform_bounds(src_crs, dst_crs, *src_bounds)
    _check_overlap(path, src_bounds, _grid_bounds(grid))
    out = np.full((int(grid.nrow), int(grid.ncol)), np.nan, dtype=np.float64)
    try:
        reproject(
            source,
            out,
            src_transform=src_transform,
            src_crs=src_crs,
            src_nodata=src_nodata,
            dst_transform=_grid_transform(grid),
            dst_crs=dst_crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    except UNREADABLE as error:
        raise unreadable(path, error) from None
    with np.errstate(over="ignore", invalid="ignore"):
        values = out.astype(np.float32)
    low, high = spec.feasible
    above = values >= SMALLEST_POSITIVE if parameter and low == 0 else values > low
    return np.where(above & (values < high), values, np.float32(spec.default))


def _check_overlap(path: str, raster: tuple[float, ...], mesh: tuple[float, ...]) -> None:
    """ValueError when the raster's bounds miss the mesh's, a UserWarning when they cover it only
    in part (both ``(left, bottom, right, top)`` in the mesh's CRS)."""
    left, bottom, right, top = raster
    m_left, m_bottom, m_right, m_top = mesh
    if min(right, m_right) <= max(left, m_left) or min(top, m_top) <= max(bottom, m_bottom):
        raise ValueError(
            f"The raster '{path}' (x [{left}, {right}], y [{bottom}, {top}]) does not overlap the mesh "
            f"(x [{m_left}, {m_right}], y [{m_bottom}, {m_top}])"
        )
    if left > m_left or right < m_right or bottom > m_bottom or top < m_top:
        warnings.warn(
            f"The raster '{path}' (x [{left}, {right}], y [{bottom}, {top}]) covers only part of the mesh "
            f"(x [{m_left}, {m_right}], y [{m_bottom}, {m_top}]): the cells outside it take the default value",
            UserWarning,
            stacklevel=4,
        )
