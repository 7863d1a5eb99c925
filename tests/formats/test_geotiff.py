"""Plain GeoTIFFs read by tifffile give what rasterio gives; every other file is left to rasterio."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.transform import Affine

from hydrograd.formats import _raster
from hydrograd.formats._geotiff import open_plain
from hydrograd.formats._raster import ReadIssues, read_window

RES = 1000.0
GRIDS = {
    "aligned": SimpleNamespace(xmin=1000.0, ymax=9000.0, xres=RES, yres=RES, nrow=6, ncol=8),
    "whole": SimpleNamespace(xmin=0.0, ymax=10_000.0, xres=RES, yres=RES, nrow=10, ncol=12),
    "shifted": SimpleNamespace(xmin=1250.0, ymax=8800.0, xres=RES, yres=RES, nrow=6, ncol=8),
    "partly west": SimpleNamespace(xmin=-2000.0, ymax=9000.0, xres=RES, yres=RES, nrow=6, ncol=8),
    "partly south-east": SimpleNamespace(xmin=8000.0, ymax=3000.0, xres=RES, yres=RES, nrow=6, ncol=8),
    "outside": SimpleNamespace(xmin=20_000.0, ymax=9000.0, xres=RES, yres=RES, nrow=6, ncol=8),
}
CELLS = 48  # the smallest grid's: every grid above reads the 120-cell rasters below without GDAL


def write(path: Path, values: np.ndarray, transform: Affine | None = None, tags: dict | None = None, **options) -> Path:
    profile = {"driver": "GTiff", "height": values.shape[-2], "width": values.shape[-1], "dtype": values.dtype}
    profile.update(
        count=1 if values.ndim == 2 else values.shape[0], transform=transform or Affine(RES, 0, 0, 0, -RES, 10_000)
    )
    with rasterio.open(path, "w", **profile, **options) as ds:
        ds.write(values if values.ndim == 3 else values[None])
        if tags:
            ds.update_tags(**tags)
    return path


def values(dtype: str) -> np.ndarray:
    out = np.arange(10 * 12, dtype=np.float64).reshape(10, 12) * 1.37
    out[2, 3] = -1.0
    if np.dtype(dtype).kind == "f":
        out[4, 5], out[5, 6] = 1e39, np.nan  # out of float32's range (an infinity in float32), not a number
    with np.errstate(over="ignore"):
        return out.astype(dtype) if np.dtype(dtype).kind != "u" else np.abs(out).astype(dtype)


def outcome(path: Path, grid) -> tuple[np.ndarray | str, ReadIssues]:
    """The window read (or the error's text) and the issues noted."""
    issues = ReadIssues()
    try:
        return read_window(path, grid, issues), issues
    except ValueError as error:
        return str(error), issues


def assert_read_alike(path: Path, monkeypatch) -> None:
    for name, grid in GRIDS.items():
        ours, issues = outcome(path, grid)
        with monkeypatch.context() as patch:
            patch.setattr(_raster, "open_plain", lambda *args: None)
            reference, reference_issues = outcome(path, grid)
        np.testing.assert_array_equal(ours, reference, err_msg=name)
        assert issues == reference_issues, name


PLAIN = {
    "float32": ("float32", {"nodata": -1.0}),
    "float32, no nodata": ("float32", {}),
    "float32, smash's nodata": ("float32", {"nodata": float(np.float32(-3.4e38))}),
    "float32, deflate, floating-point predictor": ("float32", {"nodata": -1.0, "compress": "deflate", "predictor": 3}),
    "float32, lzw, tiled": ("float32", {"compress": "lzw", "tiled": True, "blockxsize": 16, "blockysize": 16}),
    "float32, zstd": ("float32", {"compress": "zstd", "nodata": 0.0}),
    "float64, nodata": ("float64", {"nodata": -99.0}),
    "int32, packbits, nodata": ("int32", {"nodata": 65535, "compress": "packbits"}),
    "int16, deflate, horizontal predictor": ("int16", {"nodata": -1, "compress": "deflate", "predictor": 2}),
    "uint16": ("uint16", {"nodata": 1}),
    "uint8": ("uint8", {}),
    "uint32, lzw": ("uint32", {"compress": "lzw"}),
}


@pytest.mark.parametrize("case", list(PLAIN))
def test_plain_files_read_as_rasterio_reads_them(tmp_path, monkeypatch, case):
    dtype, options = PLAIN[case]
    path = write(tmp_path / "r.tif", values(dtype), **options)
    plain = open_plain(path, (RES, RES), CELLS)
    assert plain is not None, "expected a plain GeoTIFF"
    with rasterio.open(path) as ds:
        assert (plain.width, plain.height, plain.transform, plain.bounds) == (
            ds.width,
            ds.height,
            ds.transform,
            ds.bounds,
        )
        assert plain.nodata == ds.nodata
    assert_read_alike(path, monkeypatch)


def test_a_plain_file_is_read_without_gdal(tmp_path, monkeypatch):
    path = write(tmp_path / "r.tif", values("float32"), nodata=-1.0, compress="deflate")
    other = write(tmp_path / "int8.tif", values("int16").astype("int8"))  # left to rasterio
    expected = read_window(path, GRIDS["whole"])

    def refused(*args, **kwargs):
        raise AssertionError("rasterio's open called")

    monkeypatch.setattr(_raster.rasterio, "open", refused)
    np.testing.assert_array_equal(read_window(path, GRIDS["whole"]), expected)
    with pytest.raises(AssertionError, match="rasterio's open called"):
        read_window(other, GRIDS["whole"])


def test_pixel_is_point_moves_the_tie_point_to_the_corner_as_gdal(tmp_path, monkeypatch):
    path = write(tmp_path / "r.tif", values("float32"), tags={"AREA_OR_POINT": "Point"})
    with tifffile.TiffFile(path) as tif:
        assert tif.pages.first.tags.valueof(33922)[3] == RES / 2  # stored at the cell's centre
    plain = open_plain(path, (RES, RES), CELLS)
    with rasterio.open(path) as ds:
        assert plain is not None and plain.transform == ds.transform == Affine(RES, 0, 0, 0, -RES, 10_000)
    assert_read_alike(path, monkeypatch)
    with rasterio.Env(GTIFF_POINT_GEO_IGNORE=True):
        assert open_plain(path, (RES, RES), CELLS) is None
    monkeypatch.setenv("GTIFF_POINT_GEO_IGNORE", "NO")
    assert open_plain(path, (RES, RES), CELLS) is None  # set at all: left to GDAL


def crafted(path: Path, scale, tiepoint, raster_type: int = 1) -> Path:
    tags = [(33550, "d", 3, scale, True), (33922, "d", 6, tiepoint, True)]
    tags.append((34735, "H", 8, (1, 1, 0, 1, 1025, 0, 1, raster_type), True))
    tifffile.imwrite(path, values("float32"), extratags=tags)
    return path


LEFT_TO_RASTERIO = {
    "rotated": lambda p: write(p, values("float32"), transform=Affine(RES, 10, 0, 10, -RES, 10_000)),
    "not georeferenced": lambda p: tifffile.imwrite(p, values("float32")) or p,
    "tie point off the corner": lambda p: crafted(p, (RES, RES, 0), (1, 1, 0, RES, 9000, 0)),
    "negative y scale": lambda p: crafted(p, (RES, -RES, 0), (0, 0, 0, 0, 10_000, 0)),
    "unknown raster type": lambda p: crafted(p, (RES, RES, 0), (0, 0, 0, 0, 10_000, 0), raster_type=7),
    "int8": lambda p: write(p, values("int16").astype("int8")),
    "int64": lambda p: write(p, values("int64")),
    "three bands": lambda p: write(p, np.stack([values("float32")] * 3)),
    "NaN nodata": lambda p: write(p, values("float32"), nodata=float("nan")),
    "nodata not a float32": lambda p: write(p, values("float32"), nodata=-3.4e38),
    "other cell size": lambda p: write(p, values("float32"), transform=Affine(500, 0, 0, 0, -500, 10_000)),
}


@pytest.mark.parametrize("case", list(LEFT_TO_RASTERIO))
def test_other_files_are_left_to_rasterio(tmp_path, monkeypatch, case):
    path = LEFT_TO_RASTERIO[case](tmp_path / "r.tif")
    assert open_plain(path, (RES, RES), CELLS) is None
    assert_read_alike(path, monkeypatch)


def test_a_sparse_file_is_left_to_gdal(tmp_path, monkeypatch):
    pixels = np.full((32, 32), -5.0, np.float32)
    pixels[:16, :16] = 1.0
    path = write(tmp_path / "r.tif", pixels, nodata=-5.0, tiled=True, blockxsize=16, blockysize=16, sparse_ok=True)
    with tifffile.TiffFile(path) as tif:
        assert 0 in tif.pages.first.databytecounts  # no block written: GDAL reads the nodata value
    assert open_plain(path, (RES, RES), CELLS) is None
    assert_read_alike(path, monkeypatch)


def test_gdal_georeferencing_settings_leave_the_file_to_gdal(tmp_path, monkeypatch):
    path = write(tmp_path / "r.tif", values("float32"))
    (tmp_path / "r.tfw").write_text("500\n0\n0\n-500\n250\n9750\n")  # a world file, other cells
    assert open_plain(path, (RES, RES), CELLS) is not None
    with rasterio.Env(GDAL_GEOREF_SOURCES="WORLDFILE,INTERNAL"):
        assert open_plain(path, (RES, RES), CELLS) is None
        with rasterio.open(path) as ds:
            assert ds.transform.a == 500  # the world file wins in GDAL
    monkeypatch.setenv("GDAL_GEOREF_SOURCES", "INTERNAL")
    assert open_plain(path, (RES, RES), CELLS) is None


def test_a_sidecar_file_leaves_the_raster_to_gdal(tmp_path, monkeypatch):
    path = write(tmp_path / "r.tif", values("float32"), nodata=-1.0)
    (tmp_path / "r.tif.aux.xml").write_text(
        '<PAMDataset><PAMRasterBand band="1"><NoDataValue>0</NoDataValue></PAMRasterBand></PAMDataset>'
    )
    assert open_plain(path, (RES, RES), CELLS) is None
    with rasterio.open(path) as ds:
        assert ds.nodata == 0.0  # the sidecar's value wins in GDAL
    assert_read_alike(path, monkeypatch)


def test_a_raster_much_larger_than_the_window_is_left_to_rasterio(tmp_path):
    path = write(tmp_path / "r.tif", values("float32"))
    assert open_plain(path, (RES, RES), 120 // 4) is not None
    assert open_plain(path, (RES, RES), 120 // 4 - 1) is None


@pytest.mark.parametrize(
    "damage", [lambda data: data[:-40], lambda data: data[:200], lambda data: b"not a tiff", lambda data: b""]
)
def test_damaged_files_are_left_to_rasterio(tmp_path, damage):
    path = write(tmp_path / "r.tif", values("float32"), compress="deflate")
    path.write_bytes(damage(path.read_bytes()))
    assert open_plain(path, (RES, RES), CELLS) is None
    with pytest.raises(ValueError, match=r"r\.tif"):
        read_window(path, GRIDS["aligned"])


def test_tifffile_logs_nothing_about_the_files_read_here(tmp_path, caplog):
    path = write(tmp_path / "r.tif", values("float32"), nodata=-3.4e38)  # tifffile cannot parse it as float32
    with caplog.at_level(logging.DEBUG, logger="tifffile"):
        read_window(path, GRIDS["aligned"])
        with tifffile.TiffFile(path) as tif:  # outside this module, tifffile's records go through
            assert tif.pages.first.nodata == 0
    assert [record.name for record in caplog.records] == ["tifffile"]
