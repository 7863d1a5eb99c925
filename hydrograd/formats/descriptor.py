"""Physiographic descriptors and imperviousness rasters, read on the mesh grid as smash does."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import numpy as np
import rasterio

from hydrograd.formats._raster import MISSING, GridLike, ReadIssues, check_directory, check_format, read_window


def _find_descriptor(directory: str, name: str) -> str | None:
    found = sorted(glob.glob(f"{glob.escape(directory)}/**/{glob.escape(name)}.tif*", recursive=True))
    return found[0] if found else None


def read_descriptor(
    directory: str | os.PathLike[str],
    names: Sequence[str],
    *,
    grid: GridLike,
    fmt: str = "tif",
    require_variation: bool = True,
) -> np.ndarray:
    """Read the descriptors ``names`` from ``<name>.tif`` files found below ``directory``.

    Returns a float32 array ``(nrow, ncol, len(names))`` in each file's own units, -99 on cells
    without data. Raises ``FileNotFoundError`` when a descriptor has no file, and ``ValueError``
    when one has no data at all on the grid, has missing data on an active cell (checked when
    ``grid`` has an ``active_cell`` array), or, with ``require_variation`` (smash's behaviour
    unless ``descriptor_tfm='keep'``), takes a single value everywhere.
    """
    path = check_directory(directory, "descriptor_directory")
    check_format(fmt, "descriptor_format")
    active = getattr(grid, "active_cell", None)
    out = np.empty((int(grid.nrow), int(grid.ncol), len(names)), dtype=np.float32)
    issues = ReadIssues()
    with rasterio.Env():
        for i, name in enumerate(names):
            file = _find_descriptor(path, name)
            if file is None:
                raise FileNotFoundError(
                    f"No file for descriptor '{name}': expected '{name}.tif' below '{path}' "
                    f"(setup keys 'descriptor_name' and 'descriptor_directory')"
                )
            values = read_window(file, grid, issues)
            valid = values != MISSING
            if not valid.any():
                raise ValueError(f"Descriptor '{name}' ('{file}') has no data on the mesh grid")
            if active is not None and not valid[np.asarray(active) == 1].all():
                raise ValueError(
                    f"Descriptor '{name}' ('{file}') has missing values (-99 or nodata) on active "
                    f"cells; expected data on every active cell"
                )
            low, high = values[valid].min(), values[valid].max()
            if require_variation and low == high:
                raise ValueError(
                    f"Descriptor '{name}' ('{file}') is uniform ({low}) over the mesh grid and cannot be "
                    f"rescaled; expected spatially varying values (or descriptor_tfm='keep')"
                )
            out[..., i] = values
    issues.warn("physiographic descriptor")
    return out


def read_imperviousness(path: str | os.PathLike[str], *, grid: GridLike, fmt: str = "tif") -> np.ndarray:
    """Read the imperviousness rate (fraction of each cell, 0 to 1) on the mesh grid.

    Returns a float32 array ``(nrow, ncol)``, -99 on cells without data. Raises
    ``FileNotFoundError`` when the file is absent and ``ValueError`` when a value lies outside
    [0, 1].
    """
    file = os.fspath(path)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"No such file '{file}' (setup key 'imperviousness_file')")
    check_format(fmt, "imperviousness_format")
    issues = ReadIssues()
    values = read_window(file, grid, issues)
    valid = values != MISSING
    if valid.any():
        low, high = values[valid].min(), values[valid].max()
        if low < 0 or high > 1:
            raise ValueError(f"Imperviousness in '{file}' ranges from {low} to {high}; expected rates between 0 and 1")
    issues.warn("imperviousness")
    return values
