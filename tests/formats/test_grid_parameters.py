"""GeoTIFF maps on a mesh grid: smash's file layout, exact round trips, resampling, reprojection,
the feasible-domain rule, and bad files named."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.formats.grid_parameters import grid_crs, read_grid_map, write_grid_maps

# 4 x 5 cells of 1 km in Lambert-93, upper-left corner (800 km, 6400 km)
GRID = SimpleNamespace(xmin=800_000.0, ymax=6_400_000.0, xres=1000.0, yres=1000.0, nrow=4, ncol=5)
EPSG = 2154
CP, HP = RR_PARAMETERS["cp"], RR_STATES["hp"]


def write_raster(path, values, transform, crs="EPSG:2154", nodata=None, dtype="float64") -> None:
    profile = {"driver": "GTiff", "height": values.shape[0], "width": values.shape[1], "count": 1, "dtype": dtype}
    with rasterio.open(path, "w", crs=crs, transform=transform, nodata=nodata, **profile) as ds:
        ds.write(values.astype(dtype), 1)


def read_cp(path, grid=GRID, epsg=EPSG) -> np.ndarray:
    return read_grid_map(path, grid, epsg, CP, parameter=True)


def test_files_have_smash_s_layout(tmp_path):
    cp = np.arange(20, dtype=np.float32).reshape(4, 5) * np.float32(10.5) + np.float32(1e-3)
    tags = {"dt": 3600.0, "structure": "zero-gr4-lr", "epsg": EPSG, "unset": None}
    paths = write_grid_maps(tmp_path / "out", {"cp": cp}, GRID, EPSG, tags)
    assert paths == [str(tmp_path / "out" / "cp.tif")]
    with rasterio.open(paths[0]) as ds:
        assert (ds.count, ds.height, ds.width, ds.dtypes[0], ds.nodata) == (1, 4, 5, "float64", None)
        assert ds.crs == CRS.from_epsg(EPSG)
        assert ds.transform == Affine(1000.0, 0.0, 800_000.0, 0.0, -1000.0, 6_400_000.0)
        assert ds.compression.value == "LZW"
        assert {k: v for k, v in ds.tags().items() if k != "AREA_OR_POINT"} == {
            "dt": "3600.0",
            "structure": "zero-gr4-lr",
            "epsg": "2154",
        }
        np.testing.assert_array_equal(ds.read(1), cp.astype(np.float64))
    back = read_cp(paths[0])
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, cp)


def test_a_mesh_without_epsg_writes_no_crs_and_reads_any(tmp_path):
    cp = np.full((4, 5), 321.0)
    write_grid_maps(tmp_path, {"cp": cp}, GRID, None, {})
    with rasterio.open(tmp_path / "cp.tif") as ds:
        assert ds.crs is None
    np.testing.assert_array_equal(read_cp(tmp_path / "cp.tif", epsg=None), cp)
    np.testing.assert_array_equal(read_cp(tmp_path / "cp.tif", epsg=EPSG), cp)
    write_grid_maps(tmp_path, {"cp": cp}, GRID, EPSG, {})
    np.testing.assert_array_equal(read_cp(tmp_path / "cp.tif", epsg=None), cp)


def test_finer_and_coarser_rasters_take_the_nearest_cell(tmp_path):
    fine = np.arange(80, dtype=np.float64).reshape(8, 10) + 1.0  # 500 m cells
    write_raster(tmp_path / "fine.tif", fine, Affine(500.0, 0, GRID.xmin, 0, -500.0, GRID.ymax))
    # the 500 m cell under each 1 km cell's centre: the lower-right one of its four
    np.testing.assert_array_equal(read_cp(tmp_path / "fine.tif"), fine[1::2, 1::2])
    coarse = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]])  # 2 km cells
    write_raster(tmp_path / "coarse.tif", coarse, Affine(2000.0, 0, GRID.xmin, 0, -2000.0, GRID.ymax))
    expected = np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[:4, :5]
    np.testing.assert_array_equal(read_cp(tmp_path / "coarse.tif"), expected)


def test_partial_cover_warns_and_fills_the_default(tmp_path):
    values = np.full((2, 2), 42.0)
    write_raster(tmp_path / "part.tif", values, Affine(1000.0, 0, GRID.xmin + 1000, 0, -1000.0, GRID.ymax - 1000))
    with pytest.warns(UserWarning, match=r"part\.tif.*covers only part of the mesh"):
        got = read_cp(tmp_path / "part.tif")
    expected = np.full((4, 5), CP.default, dtype=np.float32)
    expected[1:3, 1:3] = 42.0
    np.testing.assert_array_equal(got, expected)


def test_a_raster_missing_the_mesh_is_refused(tmp_path):
    write_raster(tmp_path / "far.tif", np.ones((2, 2)), Affine(1000.0, 0, 0.0, 0, -1000.0, 2000.0))
    with pytest.raises(ValueError, match=r"far\.tif.*does not overlap the mesh"):
        read_cp(tmp_path / "far.tif")


def test_nodata_and_infeasible_values_take_the_default(tmp_path):
    cp = np.full((4, 5), 100.0)
    cp[0, :5] = [-99.0, 0.0, np.nan, 1e-40, np.inf]  # nodata, on the edge, NaN, subnormal, inf
    cp[1, 0] = 1e39  # beyond float32
    write_raster(tmp_path / "cp.tif", cp, Affine(1000.0, 0, GRID.xmin, 0, -1000.0, GRID.ymax), nodata=-99.0)
    got = read_cp(tmp_path / "cp.tif")
    assert (got[0] == CP.default).all() and got[1, 0] == CP.default and (got[1:][got[1:] != CP.default] == 100).all()
    hp = np.full((4, 5), 0.5)
    hp[0, :4] = [0.0, 1.0, -0.1, 1e-40]  # the domain ]0, 1[ is open; a state may be subnormal
    write_raster(tmp_path / "hp.tif", hp, Affine(1000.0, 0, GRID.xmin, 0, -1000.0, GRID.ymax))
    got = read_grid_map(tmp_path / "hp.tif", GRID, EPSG, HP, parameter=False)
    np.testing.assert_array_equal(got[0, :4], np.float32([HP.default, HP.default, HP.default, 1e-40]))
    kexc = np.full((4, 5), -1e30)  # no bounds: any finite value
    write_raster(tmp_path / "kexc.tif", kexc, Affine(1000.0, 0, GRID.xmin, 0, -1000.0, GRID.ymax))
    got = read_grid_map(tmp_path / "kexc.tif", GRID, EPSG, RR_PARAMETERS["kexc"], parameter=True)
    np.testing.assert_array_equal(got, np.float32(-1e30))


def test_another_crs_is_reprojected(tmp_path):
    """A raster in Web Mercator whose value at each of its cells is the cell centre's Lambert-93 x
    (km): read back, each mesh cell gets about its own centre's x."""
    x, y = [800_000.0 - 3000, 806_000.0 + 3000], [6_395_000.0, 6_401_000.0]
    (left, right), (bottom, top) = warp_transform("EPSG:2154", "EPSG:3857", x, y)
    res = 250.0
    width, height = int((right - left) / res), int((top - bottom) / res)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    cx, _ = warp_transform("EPSG:3857", "EPSG:2154", (left + cols * res).ravel(), (top - rows * res).ravel())
    values = (np.asarray(cx) / 1000.0).reshape(height, width)
    write_raster(tmp_path / "cp.tif", values, Affine(res, 0, left, 0, -res, top), crs="EPSG:3857")
    got = read_cp(tmp_path / "cp.tif")
    centres = (GRID.xmin + (np.arange(5) + 0.5) * GRID.xres) / 1000.0
    np.testing.assert_allclose(got, np.broadcast_to(centres, (4, 5)), atol=0.5)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.tif"):
        read_cp(tmp_path / "absent.tif")
    (tmp_path / "text.tif").write_text("not a raster")
    with pytest.raises(ValueError, match=r"text\.tif"):
        read_cp(tmp_path / "text.tif")
    write_raster(tmp_path / "valid.tif", np.ones((4, 5)), Affine(1000.0, 0, GRID.xmin, 0, -1000.0, GRID.ymax))
    data = (tmp_path / "valid.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.tif"):
        read_cp(tmp_path / "cut.tif")
    transform = Affine(1000.0, 0, GRID.xmin, 0, -1000.0, GRID.ymax)
    write_raster(tmp_path / "c.tif", np.ones((4, 5)), transform, dtype="complex64")
    with pytest.raises(ValueError, match=r"c\.tif.*complex64"):
        read_cp(tmp_path / "c.tif")
    plain = {"driver": "GTiff", "height": 4, "width": 5, "count": 1, "dtype": "float64"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tmp_path / "plain.tif", "w", **plain) as ds:
            ds.write(np.ones((4, 5)), 1)
    with pytest.raises(ValueError, match=r"plain\.tif.*no georeferencing"):
        read_cp(tmp_path / "plain.tif")


def test_bad_writes_are_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        write_grid_maps(tmp_path / "file", {"cp": np.ones((4, 5))}, GRID, EPSG, {})
    with pytest.raises(ValueError, match=r"'cp' has shape \(5, 4\)"):
        write_grid_maps(tmp_path, {"cp": np.ones((5, 4))}, GRID, EPSG, {})
    with pytest.raises(ValueError, match="not a known EPSG code"):
        grid_crs(-99)
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_a_failing_write_keeps_the_previous_file(tmp_path, monkeypatch):
    write_grid_maps(tmp_path, {"cp": np.full((4, 5), 1.0)}, GRID, EPSG, {})
    before = (tmp_path / "cp.tif").read_bytes()

    def failing(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "update_tags", failing)
    with pytest.raises(OSError, match="disk full"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_grid_maps(tmp_path, {"cp": np.full((4, 5), 2.0)}, GRID, EPSG, {"dt": 1})
    assert (tmp_path / "cp.tif").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cp.tif"]
