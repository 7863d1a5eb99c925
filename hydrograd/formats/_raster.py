"""Reading the part of a GeoTIFF that lies under a mesh grid, with smash's windowing rules.

A mesh grid is described by its upper-left corner ``(xmin, ymax)``, its cell size ``(xres, yres)``
(both positive, in the raster's CRS units) and its shape ``(nrow, ncol)``. The reader:

- snaps the mesh's corner to the nearest raster cell edge (when the two grids are not aligned);
- resamples with nearest neighbour when the raster's cell size differs from the mesh's (rasterio
  resamples the window it reads to the shape of the mesh cells it covers);
- fills mesh cells lying outside the raster, and raster cells equal to the nodata value, with -99;
  a raster that does not overlap the mesh at all gives -99 everywhere.

Those situations are tolerated and reported once per variable through :class:`ReadIssues`, in
smash's words. A file that rasterio cannot read (not a GeoTIFF, truncated, empty), a rotated
raster, and a raster overlapping the mesh with cells so much larger than the mesh that its
window rounds to no cell at all (smash then reads nothing and leaves -99 everywhere) raise a
``ValueError`` naming the file. Plain GeoTIFFs at the mesh's cell size are read by
:mod:`hydrograd.formats._geotiff` (same values, without GDAL's per-file cost), the others by rasterio.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.windows import Window

from hydrograd.formats._geotiff import open_plain

MISSING = np.float32(-99.0)
"""Value standing for "no data" in every array the readers return."""

SUPPORTED_FORMATS = ("tif",)

# What rasterio and GDAL raise on a file they cannot read (GDAL's own errors are not RasterioError).
UNREADABLE = (RasterioError, CPLE_BaseError, OSError, IndexError)

PARTIAL, TOTAL = 1, 2
"""Values of :attr:`ReadIssues.out_of_bound`: some mesh cells, or all of them, lie outside a raster."""


class GridLike(Protocol):
    """Geometry of a regular north-up mesh grid (smash's ``mesh`` attributes)."""

    xmin: float
    ymax: float
    xres: float
    yres: float
    nrow: int
    ncol: int


@dataclass
class ReadIssues:
    """What went wrong, without being fatal, while reading the rasters of one variable.

    ``missing``: the dates (``'%Y-%m-%d %H:%M'``, or ``'%m-%d'`` for interannual PET) or names of
    the files not found; ``resolution``: a raster's cell size differs from the mesh's;
    ``alignment``: a raster's cell edges do not line up with the mesh's; ``out_of_bound``: 0, or
    :data:`PARTIAL` / :data:`TOTAL` for the first raster the mesh stuck out of (as smash, a later
    raster does not change it).
    """

    missing: list[str] = field(default_factory=list)
    resolution: bool = False
    alignment: bool = False
    out_of_bound: int = 0

    def note_out_of_bound(self, kind: int) -> None:
        if not self.out_of_bound:
            self.out_of_bound = kind

    def message(self) -> str:
        """smash's lines for these issues, one per kind, in smash's order (empty when none)."""
        lines = []
        if self.missing:
            lines.append(f"Missing warning: missing {len(self.missing)} file(s): {self.missing}")
        if self.resolution:
            lines.append(
                "Resolution warning: resolution missmatch between mesh and at least one raster file. Nearest "
                "neighbour resampling algorithm has been used to match mesh resolution"
            )
        if self.alignment:
            lines.append(
                "Overlap warning: overlap missmatch between mesh and at least one raster file. Cropping domain "
                "has been updated to the nearest overlapping cell"
            )
        if self.out_of_bound:
            extent = "partially" if self.out_of_bound == PARTIAL else "totally"
            lines.append(
                f"Out of bound warning: mesh is {extent} out of bound for at least one raster file. Out of "
                "bound domain has been filled in with no data"
            )
        return "\n".join(lines)

    def warn(self, what: str, stacklevel: int = 3) -> None:
        """Emit one ``UserWarning`` (smash's text) for the variable ``what`` (``"precipitation"``,
        ``"potential evapotranspiration"``, ``"physiographic descriptor"``, ...), if any issue."""
        text = self.message()
        if text:
            warnings.warn(f"Warning(s) linked to {what} reading.\n{text}", UserWarning, stacklevel=stacklevel)


def check_format(fmt: str, key: str) -> None:
    """Raise unless ``fmt`` is a raster format the readers handle; ``key`` names the setup entry."""
    if fmt == "nc":
        raise NotImplementedError(f"{key}='nc': NetCDF input is not implemented (nor is it in smash 1.3.0)")
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(f"Unknown {key} {fmt!r}; expected one of {list(SUPPORTED_FORMATS)}")


def check_directory(directory: str | os.PathLike[str], key: str) -> str:
    """Return ``directory`` as a string, or raise ``FileNotFoundError`` naming it and its setup ``key``."""
    path = os.fspath(directory)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No such directory '{path}' (setup key '{key}')")
    return path


def unreadable(path: str | os.PathLike[str], error: BaseException) -> ValueError:
    """The error for a raster file rasterio could not read."""
    return ValueError(
        f"Cannot read the raster file '{os.fspath(path)}' ({type(error).__name__}: {error}); expected a "
        f"GeoTIFF: the file may be empty, truncated or damaged"
    )


def _tolerance(res: float) -> float:
    # Absolute tolerance of 1e-2 cell units, tightened for cell sizes below 1 (degrees, ...).
    return 1e-2 * 10.0 ** min(0.0, math.floor(math.log10(abs(res))))


def _close(a: float, b: float, atol: float) -> bool:
    # numpy.isclose's test (relative tolerance 1e-5 on b), on Python floats.
    return abs(a - b) <= atol + 1e-5 * abs(b)


def read_window(path: str | os.PathLike[str], grid: GridLike, issues: ReadIssues | None = None) -> np.ndarray:
    """Band 1 of the raster at ``path`` on the mesh grid: float32 array of shape ``(nrow, ncol)``.

    Values are in the raster's own units; nodata and out-of-raster cells are -99. Non-fatal
    mismatches are recorded in ``issues``. ``ValueError`` (naming the file) when the file cannot
    be read, the raster is rotated, or its window over the mesh rounds to no cell.
    """
    issues = ReadIssues() if issues is None else issues
    plain = open_plain(path, (float(grid.xres), float(grid.yres)), int(grid.nrow) * int(grid.ncol))
    if plain is not None:
        return _read_open(plain, path, grid, issues)
    try:
        with rasterio.open(path) as ds:
            return _read_open(ds, path, grid, issues)
    except UNREADABLE as error:
        raise unreadable(path, error) from None


def _read_open(ds, path: str | os.PathLike[str], grid: GridLike, issues: ReadIssues) -> np.ndarray:
    nrow, ncol = int(grid.nrow), int(grid.ncol)
    gxmin, gymax, gxres, gyres = float(grid.xmin), float(grid.ymax), float(grid.xres), float(grid.yres)
    out = np.full((nrow, ncol), MISSING, dtype=np.float32)

    t = ds.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise ValueError(
            f"Raster '{path}' has geotransform {tuple(t)[:6]}; expected a north-up grid "
            f"(no rotation, positive x cell size, negative y cell size)"
        )
    xmin, ymax, xres, yres = t.c, t.f, t.a, -t.e
    xtol, ytol = _tolerance(xres), _tolerance(yres)

    if not _close(gxres, xres, xtol) or not _close(gyres, yres, ytol):
        issues.resolution = True
    xshift = (gxmin - xmin) / xres
    yshift = (ymax - gymax) / yres
    if not _close(abs(xshift - round(xshift)), 0.0, xtol) or not _close(abs(yshift - round(yshift)), 0.0, ytol):
        issues.alignment = True

    # Window over the raster, in raster cells, that the mesh covers.
    col_off, row_off = float(np.rint(xshift)), float(np.rint(yshift))
    xratio, yratio = gxres / xres, gyres / yres
    width, height = float(np.rint(ncol * xratio)), float(np.rint(nrow * yratio))
    b = ds.bounds
    inside_x = gxmin < b.right and gxmin + ncol * gxres > b.left
    inside_y = gymax > b.bottom and gymax - nrow * gyres < b.top
    if nrow and ncol and inside_x and inside_y and (width < 1 or height < 1):
        raise ValueError(
            f"Raster '{path}' has cells of {xres} x {yres}, so large that its window over the mesh "
            f"(x [{gxmin}, {gxmin + ncol * gxres}], y [{gymax - nrow * gyres}, {gymax}]) rounds to no "
            f"cell; expected a cell size comparable to the mesh's ({gxres} x {gyres})"
        )
    if col_off >= ds.width or row_off >= ds.height or col_off + width <= 0 or row_off + height <= 0:
        issues.note_out_of_bound(TOTAL)
        return out
    if col_off < 0 or row_off < 0 or col_off + width > ds.width or row_off + height > ds.height:
        issues.note_out_of_bound(PARTIAL)

    # Clip the window to the raster, and find the mesh cells it fills.
    c0, r0 = max(0.0, col_off), max(0.0, row_off)
    w = min(width + min(0.0, col_off), ds.width - c0)
    h = min(height + min(0.0, row_off), ds.height - r0)
    xs, ys = c0 - col_off, r0 - row_off
    cols = slice(int(np.rint(xs / xratio)), int(np.rint((xs + w) / xratio)))
    rows = slice(int(np.rint(ys / yratio)), int(np.rint((ys + h) / yratio)))
    target = out[rows, cols]
    if target.size:
        ds.read(1, window=Window(int(c0), int(r0), int(w), int(h)), out=target)
    nodata = ds.nodata
    if nodata is not None:
        out = np.where(out == nodata, MISSING, out)
    return out
