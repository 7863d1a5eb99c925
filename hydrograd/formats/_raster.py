"""Reading the part of a GeoTIFF that lies under a mesh grid, with smash's windowing rules.

A mesh grid is described by its upper-left corner ``(xmin, ymax)``, its cell size ``(xres, yres)``
(both positive, in the raster's CRS units) and its shape ``(nrow, ncol)``. The reader:

- snaps the mesh's corner to the nearest raster cell edge (when the two grids are not aligned);
- resamples with nearest neighbour when the raster's cell size differs from the mesh's;
- fills mesh cells lying outside the raster, and raster cells equal to the nodata value, with -99.

Those three situations are tolerated and reported once per batch of files through
:class:`ReadIssues`. A raster that does not overlap the mesh at all, or whose geometry cannot be
mapped onto it, raises a ``ValueError`` naming the file.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import rasterio
from rasterio.windows import Window

MISSING = np.float32(-99.0)
"""Value standing for "no data" in every array the readers return."""

SUPPORTED_FORMATS = ("tif",)


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
    """What went wrong, without being fatal, while reading a batch of rasters."""

    missing: list[str] = field(default_factory=list)
    resolution: bool = False
    alignment: bool = False
    partial: bool = False

    def message(self) -> str:
        lines = []
        if self.missing:
            lines.append(f"missing {len(self.missing)} file(s), filled with -99: {self.missing}")
        if self.resolution:
            lines.append(
                "at least one raster has a cell size different from the mesh's; it was resampled to the "
                "mesh resolution with nearest neighbour"
            )
        if self.alignment:
            lines.append(
                "at least one raster's cell edges do not line up with the mesh's; the reading window was "
                "snapped to the nearest raster cell"
            )
        if self.partial:
            lines.append("the mesh extends beyond at least one raster; mesh cells outside it were filled with -99")
        return "\n".join(lines)

    def warn(self, what: str, stacklevel: int = 3) -> None:
        """Emit one ``UserWarning`` summarising the issues, if any, for data described by ``what``."""
        text = self.message()
        if text:
            warnings.warn(f"While reading {what}:\n{text}", UserWarning, stacklevel=stacklevel)


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


def _tolerance(res: float) -> float:
    # Absolute tolerance of 1e-2 cell units, tightened for cell sizes below 1 (degrees, ...).
    return 1e-2 * 10.0 ** min(0.0, math.floor(math.log10(abs(res))))


def _close(a: float, b: float, atol: float) -> bool:
    # numpy.isclose's test (relative tolerance 1e-5 on b), on Python floats.
    return abs(a - b) <= atol + 1e-5 * abs(b)


def read_window(path: str | os.PathLike[str], grid: GridLike, issues: ReadIssues | None = None) -> np.ndarray:
    """Band 1 of the raster at ``path`` on the mesh grid: float32 array of shape ``(nrow, ncol)``.

    Values are in the raster's own units; nodata and out-of-raster cells are -99. Non-fatal
    mismatches are recorded in ``issues``.
    """
    nrow, ncol = int(grid.nrow), int(grid.ncol)
    gxmin, gymax, gxres, gyres = float(grid.xmin), float(grid.ymax), float(grid.xres), float(grid.yres)
    out = np.full((nrow, ncol), MISSING, dtype=np.float32)
    issues = ReadIssues() if issues is None else issues

    with rasterio.open(path) as ds:
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
        mesh_box = f"x [{gxmin}, {gxmin + ncol * gxres}], y [{gymax - nrow * gyres}, {gymax}]"
        if width < 1 or height < 1:
            raise ValueError(
                f"Raster '{path}' has cells of {xres} x {yres}, larger than twice the whole mesh extent "
                f"({mesh_box}); expected a cell size comparable to the mesh's ({gxres} x {gyres})"
            )
        if col_off >= ds.width or row_off >= ds.height or col_off + width <= 0 or row_off + height <= 0:
            b = ds.bounds
            raise ValueError(
                f"Raster '{path}' does not overlap the mesh: it covers x [{b.left}, {b.right}], "
                f"y [{b.bottom}, {b.top}] while the mesh covers {mesh_box}; expected a raster covering "
                f"the mesh, in the same coordinate reference system"
            )
        if col_off < 0 or row_off < 0 or col_off + width > ds.width or row_off + height > ds.height:
            issues.partial = True

        # Clip the window to the raster, and find the mesh cells it fills.
        c0, r0 = max(0.0, col_off), max(0.0, row_off)
        w = min(width + min(0.0, col_off), ds.width - c0)
        h = min(height + min(0.0, row_off), ds.height - r0)
        xs, ys = c0 - col_off, r0 - row_off
        cols = slice(int(np.rint(xs / xratio)), int(np.rint((xs + w) / xratio)))
        rows = slice(int(np.rint(ys / yratio)), int(np.rint((ys + h) / yratio)))
        target = out[rows, cols]
        if target.size == 0:
            raise ValueError(
                f"Raster '{path}' overlaps less than one mesh cell of the mesh covering {mesh_box}; "
                f"expected a raster covering the mesh"
            )
        ds.read(1, window=Window(int(c0), int(r0), int(w), int(h)), out=target)
        nodata = ds.nodata

    if nodata is not None:
        out = np.where(out == nodata, MISSING, out)
    return out
