"""Catchment outlines from a vector file (``shp_path`` of ``generate_mesh``): read, then burn
onto a window of the flow-direction grid.

The file is any vector format GDAL reads (ESRI Shapefile, GeoPackage, GeoJSON, ...), read with
geopandas through pyogrio (imported on first use: they are slow to import and only this feature
needs them). It must have a ``code`` field; the polygons of the rows whose code is one of the
gauges' codes are kept, compared as text.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
import rasterio.features
from rasterio.transform import Affine


def _same_crs(vector_crs: Any, raster_crs: rasterio.CRS) -> bool:
    """Whether a pyproj CRS (geopandas') and a rasterio CRS describe the same system (axis order
    aside, and matching EPSG codes count as the same: a shapefile's ESRI ``.prj`` seldom compares
    equal)."""
    if vector_crs.equals(raster_crs.to_wkt(), ignore_axis_order=True):
        return True
    epsg = vector_crs.to_epsg()
    return epsg is not None and epsg == raster_crs.to_epsg()


def read_outlines(path: str, codes: Sequence[str], crs: rasterio.CRS) -> dict[str, list[Any]]:
    """The non-empty polygons of each code of ``codes`` found in the vector file ``path``, as
    shapely geometries (a code may have several rows: all of them count).

    ValueError when the file is not a vector file, has no ``code`` field, or has a coordinate
    reference system other than ``crs`` (the flow-direction raster's; a file without one is taken
    to share it). Codes without a geometry are reported in a UserWarning (their gauges are then
    delineated by the area-based rule).
    """
    import geopandas
    import pyogrio
    import pyogrio.errors

    try:
        fields = pyogrio.read_info(path)["fields"]
    except pyogrio.errors.DataSourceError as error:
        raise ValueError(f"shp_path '{path}' is not a vector file GDAL can read ({error})") from None
    if "code" not in fields:
        raise ValueError(
            f"Shapefile must contain at least a 'code' column; shp_path '{path}' has the fields {list(fields)}"
        )
    table = geopandas.read_file(path, columns=["code"], engine="pyogrio")
    if table.crs is not None and not _same_crs(table.crs, crs):
        raise ValueError(
            f"shp_path '{path}' is in the coordinate reference system {table.crs.to_string()}, the flow "
            f"directions raster in {crs.to_string()}: reproject the outlines first (e.g. GeoDataFrame.to_crs)"
        )
    wanted = set(codes)
    outlines: dict[str, list[Any]] = {}
    for code, geometry in zip(table["code"].astype(str), table.geometry, strict=True):
        if code in wanted and geometry is not None and not geometry.is_empty:
            outlines.setdefault(code, []).append(geometry)
    missing = sorted(wanted.difference(outlines))
    if missing:
        warnings.warn(
            f"Missing shapefile geometry for the code: {missing}. The area-based method will be used "
            "instead of the contour-based one",
            stacklevel=3,
        )
    return outlines


def burn(
    geometries: Sequence[Any], shape: tuple[int, int], xmin: float, ymax: float, xres: float, yres: float
) -> np.ndarray:
    """0/1 grid (uint8, ``shape``) of the cells whose centre lies inside one of ``geometries``, on
    the north-up grid whose top-left corner is ``(xmin, ymax)`` with cells of ``xres`` by ``yres``
    (raster units)."""
    transform = Affine(xres, 0.0, xmin, 0.0, -yres, ymax)
    return rasterio.features.rasterize(
        [(geometry, 1) for geometry in geometries], out_shape=shape, transform=transform, fill=0, dtype="uint8"
    )
