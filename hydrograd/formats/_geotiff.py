"""Plain GeoTIFFs read without GDAL: tifffile parses the header and decodes the pixels.

Opening a file with rasterio costs about a millisecond (GDAL's driver probing and PROJ's
identification of the CRS), most of a forcing read when every time step is a small file. A file
this module recognises as plain gives the same transform, nodata value and pixels as rasterio
through :class:`PlainGeoTiff`, which offers the part of rasterio's dataset interface that
``_raster`` uses. Anything else returns ``None`` from :func:`open_plain`, and the caller reads the
file with rasterio: other georeferencing (a transformation matrix, a tie point off the
upper-left cell, none at all, an ``.aux.xml`` sidecar file, GDAL's ``GTIFF_POINT_GEO_IGNORE`` or
``GDAL_GEOREF_SOURCES`` set in the environment or a ``rasterio.Env``), a pixel type outside
:data:`PIXEL_TYPES`, several samples, missing blocks, a codec tifffile lacks, a damaged file, or a
raster much larger than the mesh window (rasterio then decodes only the strips it needs).
tifffile's log records about the files opened here are dropped: rasterio reports on whatever this
module leaves to it.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import tifffile
from rasterio.coords import BoundingBox
from rasterio.env import get_gdal_config
from rasterio.transform import Affine, array_bounds
from rasterio.windows import Window

_MODEL_PIXEL_SCALE, _MODEL_TIEPOINT, _MODEL_TRANSFORMATION = 33550, 33922, 34264
_INTERGRAPH_MATRIX, _GEO_KEY_DIRECTORY, _GDAL_NODATA, _ORIENTATION = 33920, 34735, 42113, 274
_RASTER_TYPE_KEY, _PIXEL_IS_AREA, _PIXEL_IS_POINT = 1025, 1, 2
_POINT_GEO_IGNORE, _GEOREF_SOURCES = "GTIFF_POINT_GEO_IGNORE", "GDAL_GEOREF_SOURCES"
"""GDAL settings that change a GeoTIFF's georeferencing: while either is set, rasterio reads the file."""

PIXEL_TYPES = frozenset(np.dtype(t) for t in ("float32", "float64", "uint8", "int16", "uint16", "int32", "uint32"))
"""Pixel types whose cast to float32 is numpy's and GDAL's alike (one rounding to nearest)."""

LARGEST_DECODED = 4
"""A raster decoded here holds at most this many times the cells of the mesh window read from it."""


_quiet = threading.local()
logging.getLogger("tifffile").addFilter(lambda record: not getattr(_quiet, "active", False))


class PlainGeoTiff:
    """Band 1 of a plain GeoTIFF, decoded: ``width``, ``height`` (cells), ``transform`` (north-up
    ``Affine``), ``bounds``, ``nodata`` (float or None) and ``read``, as rasterio's dataset gives them."""

    def __init__(self, pixels: np.ndarray, transform: Affine, nodata: float | None) -> None:
        self._pixels = pixels
        self.height, self.width = pixels.shape
        self.transform = transform
        self.nodata = nodata
        self.bounds = BoundingBox(*array_bounds(self.height, self.width, transform))

    def read(self, band: int, window: Window, out: np.ndarray) -> np.ndarray:
        """Copy ``window`` of band 1 into ``out`` (same shape: no resampling), cast to its dtype."""
        rows, cols = window.toslices()
        with np.errstate(over="ignore"):
            out[...] = self._pixels[rows, cols]
        return out


def open_plain(path: str | os.PathLike[str], res: tuple[float, float], cells: int) -> PlainGeoTiff | None:
    """The raster at ``path`` if it is a plain GeoTIFF with cells of exactly ``res`` (x, y) and at
    most ``LARGEST_DECODED * cells`` of them; ``None`` when rasterio must read it."""
    if os.path.exists(os.fspath(path) + ".aux.xml"):
        return None
    _quiet.active = True
    try:
        # an open file: tifffile given a path resolves it (realpath), a third of its time on small files
        with open(path, "rb") as handle, tifffile.TiffFile(handle) as tif:
            page = tif.pages.first
            transform = _transform(page.tags)
            if (
                transform is None
                or (transform.a, -transform.e) != res
                or page.dtype not in PIXEL_TYPES
                or page.samplesperpixel != 1
                or page.imagedepth != 1
                or page.tags.valueof(_ORIENTATION, 1) != 1
                or 0 in page.databytecounts  # a sparse file's missing blocks: GDAL fills them with nodata
                or page.imagewidth * page.imagelength > LARGEST_DECODED * max(cells, 1)
            ):
                return None
            nodata = _nodata(page.tags.valueof(_GDAL_NODATA))
            pixels = page.asarray()
    except Exception:  # anything tifffile cannot read is rasterio's to read or refuse
        return None
    finally:
        _quiet.active = False
    if pixels.shape != (page.imagelength, page.imagewidth):
        return None
    return PlainGeoTiff(pixels, transform, nodata)


def _transform(tags: tifffile.TiffTags) -> Affine | None:
    # GDAL's geotransform from a pixel scale and one tie point at the raster's upper-left corner.
    if tags.valueof(_MODEL_TRANSFORMATION) is not None or tags.valueof(_INTERGRAPH_MATRIX) is not None:
        return None
    if get_gdal_config(_GEOREF_SOURCES) is not None:  # world files may come first: GDAL decides
        return None
    scale, tiepoint, keys = (
        tags.valueof(_MODEL_PIXEL_SCALE),
        tags.valueof(_MODEL_TIEPOINT),
        tags.valueof(_GEO_KEY_DIRECTORY, ()),
    )
    if scale is None or tiepoint is None or len(scale) < 2 or len(tiepoint) != 6:
        return None
    if tiepoint[0] != 0 or tiepoint[1] != 0 or not (scale[0] > 0 and scale[1] > 0):
        return None
    raster_type = _PIXEL_IS_AREA
    for k in range(4, len(keys) - 3, 4):
        if keys[k] == _RASTER_TYPE_KEY:
            raster_type = keys[k + 3] if keys[k + 1] == 0 else None
    xres, yres, x0, y0 = float(scale[0]), float(scale[1]), float(tiepoint[3]), float(tiepoint[4])
    if raster_type == _PIXEL_IS_POINT:
        if get_gdal_config(_POINT_GEO_IGNORE) is not None:  # set (environment or rasterio.Env): GDAL decides
            return None
        # GDAL moves a tie point given at a cell's centre to the cell's corner
        x0, y0 = x0 - xres * 0.5, y0 + yres * 0.5
    elif raster_type != _PIXEL_IS_AREA:
        return None
    return Affine(xres, 0.0, x0, 0.0, -yres, y0)


def _nodata(text: str | None) -> float | None:
    # GDAL's nodata value; ValueError where GDAL's parsing could differ from Python's (rasterio decides).
    if text is None:
        return None
    value = float(text)
    if "_" in text:  # Python reads digit separators, GDAL's strtod stops at them
        raise ValueError(text)
    with np.errstate(over="ignore"):
        if float(np.float32(value)) != value:  # GDAL may move it (to float32's largest value, say)
            raise ValueError(text)
    return value
