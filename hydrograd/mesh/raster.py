"""Read a D8 flow-direction raster for the mesh tools: path checks, band 1, georeferencing, codes.

Flow directions follow smash's convention (see ``hydrograd.mesh.graph``): code 1 points north,
then clockwise to 8 (north-west). Any value below 1, and the raster's nodata value, means "no
direction".
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np
import rasterio
import rasterio.errors

# Integer stand-in for nodata / non-finite values once the raster is cast to D8 codes.
NO_CODE = -9999


def check_file(value: Any, name: str) -> str:
    """``value`` as a path string; TypeError naming ``name`` for a non-path, FileNotFoundError
    (smash's ``ENOENT`` form, with the path) when no file is there."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} argument must be of FilePath type (str, PathLike[str]), got {type(value).__name__}")
    path = os.fspath(value)
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    return path


def open_raster(path: str, name: str) -> rasterio.DatasetReader:
    """Open ``path`` with rasterio; ValueError naming the argument ``name`` when it is not a raster
    GDAL can read."""
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as error:
        raise ValueError(f"{name} '{path}' is not a raster file rasterio can read ({error})") from None


def as_codes(values: np.ndarray, nodata: float | None, path: str) -> np.ndarray:
    """Integer D8 codes of a raster band (int32, same shape): values truncated to integers as
    smash's Fortran reads them (the nodata value included, as smash compares codes with it),
    ``NO_CODE`` where not finite. ValueError if a value other than the nodata is >= 1 and not a
    code 1..8."""
    finite = np.isfinite(values)
    data = finite if nodata is None else finite & (values != nodata)
    bad = data & (values >= 1) & ((values > 8) | (values != np.floor(values)))
    if bad.any():
        sample = np.unique(values[bad])[:5].tolist()
        raise ValueError(
            f"flow directions raster '{path}' holds values that are not smash D8 codes 1..8 "
            f"(1 = north, then clockwise), e.g. {sample}; values < 1 and the raster nodata are "
            "read as no direction"
        )
    codes = np.full(values.shape, NO_CODE, dtype=np.int32)
    in_range = np.clip(values[finite].astype(np.float64), -(2**31), 2**31 - 1)
    codes[finite] = np.trunc(in_range).astype(np.int32)
    return codes


class FlowRaster:
    """A flow-direction raster: band 1 (``values``, the file's dtype), its D8 ``codes`` (int32)
    and its georeferencing (``xmin``, ``ymax``, ``xres``, ``yres`` in raster units, ``epsg``,
    ``geographic``: whether the units are degrees)."""

    def __init__(self, path: str, epsg: int | None) -> None:
        with open_raster(path, "flwdir_path") as ds:
            values = ds.read(1)
            transform = ds.transform
            crs = ds.crs
            nodata = ds.nodata
        if transform.b != 0 or transform.d != 0 or transform.a <= 0 or transform.e >= 0:
            raise ValueError(
                f"flow directions raster '{path}' must be north-up (no rotation, x growing to the east, "
                f"y to the north); got transform {tuple(transform)[:6]}"
            )
        if not crs:
            if epsg is None:
                raise ValueError(
                    f"flow directions raster '{path}' has no coordinate reference system; "
                    "give it with the 'epsg' argument"
                )
            try:
                crs = rasterio.CRS.from_epsg(epsg)
            except rasterio.errors.CRSError as error:
                raise ValueError(f"epsg {epsg} is not a known EPSG code ({error})") from None
        self.path = path
        self.values = values
        self.nrow, self.ncol = values.shape
        self.xres = float(transform.a)
        self.yres = float(-transform.e)
        self.xmin = float(transform.c)
        self.ymax = float(transform.f)
        self.xmax = self.xmin + self.ncol * self.xres
        self.ymin = self.ymax - self.nrow * self.yres
        self.crs = crs
        self.epsg = crs.to_epsg()
        self.geographic = crs.units_factor[0].lower() == "degree"
        self.codes = as_codes(values, nodata, path)

    @property
    def extent(self) -> str:
        return f"x in [{self.xmin}, {self.xmax}], y in [{self.ymin}, {self.ymax}]"
