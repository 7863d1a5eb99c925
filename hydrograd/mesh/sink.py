"""Sinks of a D8 flow-direction raster, as smash's ``detect_sink`` defines them.

A sink, for smash, is a two-cell pit: two neighbouring cells whose directions point at each
other, so that water entering either never leaves. The search (``sink_pairs``) is smash's:

- each cell is paired with its east, south-east and south neighbours only (codes 3, 4 and 5
  answered by 7, 8 and 1), and never from the last row or column; so a pair lying along the
  north-east/south-west diagonal (codes 6 and 2) is not found;
- longer loops (three cells or more) are not sinks for this check, nor are cells pointing off
  the raster or at a cell without a direction.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np
import rasterio
import rasterio.errors

from hydrograd.mesh.raster import as_codes, check_file, open_raster

# (row step, col step), the code pointing that way from the first cell, the code pointing back
_PAIRS = (((0, 1), 3, 7), ((1, 1), 4, 8), ((1, 0), 5, 1))
_SINK_NODATA = np.iinfo(np.uint8).max


def sink_pairs(codes: np.ndarray) -> np.ndarray:
    """Cells of the two-cell pits of the D8 ``codes`` (int, ``(nrow, ncol)``), as a bool grid of the
    same shape; see the module docstring for which pairs are looked for."""
    sink = np.zeros(codes.shape, dtype=bool)
    first = codes[:-1, :-1]
    for (dr, dc), there, back in _PAIRS:
        second = codes[dr : dr + first.shape[0], dc : dc + first.shape[1]]
        pair = (first == there) & (second == back)
        sink[:-1, :-1] |= pair
        sink[dr : dr + first.shape[0], dc : dc + first.shape[1]] |= pair
    return sink


def _check_output_path(output_path: Any) -> str | None:
    if output_path is None:
        return None
    if not isinstance(output_path, str | os.PathLike):
        raise TypeError(
            f"output_path argument must be of FilePath type (str, PathLike[str]), got {type(output_path).__name__}"
        )
    path = os.fspath(output_path)
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), folder)
    return path


def detect_sink(flwdir_path: str | os.PathLike, output_path: str | os.PathLike | None = None) -> np.ndarray:
    """Sink cells of the flow-direction raster ``flwdir_path`` (band 1, smash's D8 codes).

    Returns an int32 array of the raster's shape ``(nrow, ncol)``: 1 on each cell of a two-cell
    pit (two neighbours pointing at each other, looked for as the module docstring says), 0
    elsewhere. With ``output_path``, the array is also written there as a GeoTIFF with the
    raster's georeferencing (uint8, nodata 255); its folder must exist.

    Raises TypeError for a path that is not a str or path-like, FileNotFoundError for a missing
    raster or output folder, and ValueError for a file that is not a raster or holds values
    other than D8 codes 1..8 outside its nodata and values below 1.
    """
    path = check_file(flwdir_path, "flwdir_path")
    output = _check_output_path(output_path)
    with open_raster(path, "flwdir_path") as ds:
        values = ds.read(1)
        profile = ds.profile
        nodata = ds.nodata
    sink = sink_pairs(as_codes(values, nodata, path)).astype(np.int32)
    if output is not None:
        profile.update(driver="GTiff", dtype="uint8", count=1, nodata=_SINK_NODATA)
        try:
            with rasterio.open(output, "w", **profile) as dst:
                dst.write(sink.astype(np.uint8), 1)
        except rasterio.errors.RasterioIOError as error:
            raise ValueError(f"output_path '{output}' cannot be written ({error})") from None
    return sink
