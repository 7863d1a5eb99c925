"""Mesh generation: exact reproduction of smash's meshes, hand-checked small cases, errors."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import Affine

from hydrograd.formats.mesh import read_mesh
from hydrograd.mesh.generate import generate_mesh
from tests.mesh._reference import CANCE, assert_same_as_smash, smash_generate_mesh

FRANCE_BBOX = (100_000, 1_250_000, 6_050_000, 7_125_000)


def gauges(folder: Path) -> dict:
    table = pd.read_csv(folder / "gauge_attributes.csv")
    return {
        "x": table["x"].to_numpy(float),
        "y": table["y"].to_numpy(float),
        "area": table["area"].to_numpy(float) * 1e6,
        "code": table["code"].astype(str).tolist(),
    }


def smash_dataset(name: str) -> Path:
    smash = pytest.importorskip("smash")
    return Path(smash.__file__).parent / "factory" / "dataset" / name


def assert_same_mesh(ours: dict, reference: dict) -> None:
    """Same keys, dtypes and values as a mesh read from a file (plain arrays and numpy scalars):
    masked arrays count for their underlying data, as once saved."""
    assert sorted(ours) == sorted(reference)
    for key, expected in reference.items():
        got = np.ma.getdata(ours[key])
        assert np.asarray(got).dtype == np.asarray(expected).dtype, key
        assert np.shape(got) == np.shape(expected), key
        np.testing.assert_array_equal(got, expected, err_msg=key)


def write_raster(path: Path, values, res=1000.0, x0=500_000.0, y0=6_500_000.0, epsg=2154) -> Path:
    values = np.asarray(values, dtype=np.float32)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype="float32",
        crs=None if epsg is None else rasterio.CRS.from_epsg(epsg),
        transform=Affine(res, 0.0, x0, 0.0, -res, y0),
        nodata=-9999,
    ) as ds:
        ds.write(values, 1)
    return path


def random_tree_raster(rng: np.random.Generator, nrow: int, ncol: int) -> np.ndarray:
    """D8 codes draining each cell to its lowest neighbour on a random sloping surface (no
    loops), with some nodata cells."""
    elevation = rng.random((nrow + 2, ncol + 2)) + np.linspace(3, 0, nrow + 2)[:, None]
    elevation[0, :] = elevation[-1, :] = elevation[:, 0] = elevation[:, -1] = -1.0
    steps = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]
    around = np.stack([elevation[1 + dr : nrow + 1 + dr, 1 + dc : ncol + 1 + dc] for dr, dc in steps])
    codes = np.argmin(around, axis=0).astype(np.float32) + 1
    codes[rng.random((nrow, ncol)) < 0.05] = -9999
    return codes


# --- exact reproduction of smash's meshes ------------------------------------------------------


def test_lez_reproduces_smash_file(france_flwdir, lez_dir):
    mesh = generate_mesh(france_flwdir, **gauges(lez_dir))
    assert_same_mesh(mesh, read_mesh(lez_dir / "mesh_Lez.hdf5"))
    assert mesh["nac"] == 172
    np.testing.assert_array_equal(mesh["gauge_pos"], [[26, 12], [22, 11], [16, 8]])


@pytest.mark.parity
def test_cance_reproduces_smash_file(france_flwdir):
    folder = smash_dataset("Cance")
    mesh = generate_mesh(france_flwdir, **gauges(folder))
    assert_same_mesh(mesh, read_mesh(folder / "mesh_Cance.hdf5"))


@pytest.mark.parity
def test_cance_matches_smash_types_and_masks(france_flwdir):
    mesh = generate_mesh(france_flwdir, **CANCE)
    assert_same_as_smash(mesh, smash_generate_mesh(str(france_flwdir), **CANCE))
    assert isinstance(mesh["flwdir"], np.ma.MaskedArray) and mesh["nac"] == 383


@pytest.mark.parity
def test_signature_is_smash():
    smash = pytest.importorskip("smash")
    ours = inspect.signature(generate_mesh).parameters
    theirs = inspect.signature(smash.factory.generate_mesh).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@pytest.mark.parity
def test_france_bbox_reproduces_smash_file(france_flwdir):
    mesh = generate_mesh(france_flwdir, bbox=FRANCE_BBOX)
    reference = read_mesh(smash_dataset("France") / "mesh_France.hdf5")
    assert_same_mesh(mesh, reference)
    assert mesh["nac"] == 906044


@pytest.mark.parity
@pytest.mark.parametrize(
    "bbox",
    [
        (700_000, 760_000, 6_250_000, 6_290_000),
        (700_400.0, 760_600.5, 6_250_499.0, 6_290_500.0),
        (50_000, 160_000, 6_700_000, 6_760_000),  # crosses the raster's west edge: clipped
        (1_200_000, 1_300_000, 6_100_000, 6_200_000),  # crosses the east edge, sea and land
    ],
)
def test_bbox_matches_smash(france_flwdir, bbox):
    expected = smash_generate_mesh(str(france_flwdir), bbox=bbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = generate_mesh(france_flwdir, bbox=bbox)
    assert_same_as_smash(mesh, expected)


@pytest.mark.parity
def test_gauges_in_bbox_match_smash_and_drop_the_cut_catchment(france_flwdir, lez_dir):
    args = gauges(lez_dir)
    bbox = (760_000, 780_000, 6_276_000, 6_305_000)  # holds the two upstream catchments only
    with pytest.warns(UserWarning, match="Y3204040"):
        mesh = generate_mesh(france_flwdir, bbox=bbox, **args)
    expected = smash_generate_mesh(str(france_flwdir), bbox=bbox, **args)
    assert_same_as_smash(mesh, expected)
    assert list(mesh["code"]) == ["Y3204030", "Y3204010"]


@pytest.mark.parity
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("geographic", [False, True])
def test_random_rasters_match_smash(tmp_path, seed, geographic):
    rng = np.random.default_rng(seed)
    nrow, ncol = rng.integers(12, 30, 2)
    res, x0, y0, epsg = (0.01, 2.0, 47.0, 4326) if geographic else (1000.0, 500_000.0, 6_500_000.0, 2154)
    path = write_raster(tmp_path / "flwdir.tif", random_tree_raster(rng, nrow, ncol), res, x0, y0, epsg)
    ng = 3
    rows, cols = rng.integers(2, nrow - 2, ng), rng.integers(2, ncol - 2, ng)
    cases = [
        {"bbox": [x0 + 1.2 * res, x0 + (ncol - 3.7) * res, y0 - (nrow - 2.4) * res, y0 - 0.6 * res]},
        {
            "x": x0 + (cols + rng.random(ng)) * res,
            "y": y0 - (rows + rng.random(ng)) * res,
            "area": rng.uniform(2, 40, ng) * 1e6,
            "code": ["a", "b", "c"],
            "max_depth": int(rng.integers(1, 3)),
        },
    ]
    for kwargs in cases:
        expected = smash_generate_mesh(str(path), **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mesh = generate_mesh(path, **kwargs)
        assert_same_as_smash(mesh, expected)


# --- small hand-checked cases --------------------------------------------------------------------


def funnel(tmp_path: Path) -> Path:
    """A 3x3 funnel draining to its bottom-middle cell, inside a nodata frame."""
    values = np.full((7, 7), -9999.0)
    values[2:5, 2:5] = [[4, 5, 6], [4, 5, 6], [3, 5, 7]]
    return write_raster(tmp_path / "funnel.tif", values)


def test_funnel_catchment_by_hand(tmp_path):
    path = funnel(tmp_path)
    # the outlet is cell (4, 3) of the raster: x in [503000, 504000), y in (6495000, 6496000]
    mesh = generate_mesh(path, x=503_500.0, y=6_495_500.0, area=9e6, code="out")
    assert (mesh["nrow"], mesh["ncol"], mesh["nac"], mesh["ng"]) == (3, 3, 9, 1)
    assert (mesh["xmin"], mesh["ymax"]) == (502_000.0, 6_498_000.0)
    np.testing.assert_array_equal(mesh["gauge_pos"], [[2, 1]])
    np.testing.assert_array_equal(mesh["flwacc"] / 1e6, [[1, 1, 1], [1, 4, 1], [1, 9, 1]])
    np.testing.assert_array_equal(mesh["flwpar"], [[1, 1, 1], [1, 2, 1], [1, 3, 1]])
    diagonal = np.float32(np.sqrt(np.float32(2e6)))
    expected = [
        [1000 + diagonal, 2000, 1000 + diagonal],
        [diagonal, 1000, diagonal],
        [1000, 0, 1000],
    ]
    np.testing.assert_array_equal(mesh["flwdst"], np.array(expected, dtype=np.float32))
    assert mesh["npar"] == 3
    np.testing.assert_array_equal(mesh["ncpar"], [7, 1, 1])
    np.testing.assert_array_equal(mesh["cscpar"], [0, 7, 8])
    # column-major within each partition
    expected_order = [[0, 0], [1, 0], [2, 0], [0, 1], [0, 2], [1, 2], [2, 2], [1, 1], [2, 1]]
    np.testing.assert_array_equal(mesh["cpar_to_rowcol"], expected_order)
    assert mesh["area_dln"][0] == np.float32(9e6)
    assert mesh["code"].tolist() == ["out"]


def test_return_types_and_masks_by_hand(tmp_path):
    mesh = generate_mesh(
        funnel(tmp_path),
        x=503_500.0,
        y=6_495_500.0,
        area=9e6,
        code="out",
        bbox=[500_000, 507_000, 6_493_000, 6_500_000],
    )
    for key, kind in {"xres": float, "yres": float, "xmin": float, "ymax": float, "epsg": int, "nrow": int}.items():
        assert type(mesh[key]) is kind, key
    assert type(mesh["ng"]) is int and type(mesh["npar"]) is np.int32 and type(mesh["nac"]) is np.int64
    inactive = mesh["active_cell"] == 0
    assert inactive.sum() == 40
    for key, dtype in {"flwdir": np.float32, "flwacc": np.float32, "flwdst": np.float32, "flwpar": np.int32}.items():
        grid = mesh[key]
        assert type(grid) is np.ma.MaskedArray and grid.dtype == dtype, key
        np.testing.assert_array_equal(grid.mask, inactive, err_msg=key)
        assert grid.fill_value == np.ma.default_fill_value(grid.dtype.type(0)), key
    # the values under the mask: the raster (nodata frame), -99 off the catchment, drained areas
    # and partitions computed everywhere (the nodata cell below the outlet receives its 9 km2)
    assert (mesh["flwdir"].data[inactive] == -9999).all()
    assert (mesh["flwdst"].data[inactive] == -99).all()
    below_outlet = np.zeros((7, 7), dtype=bool)
    below_outlet[5, 3] = True
    np.testing.assert_array_equal(mesh["flwacc"].data[inactive], np.where(below_outlet, 10e6, 1e6)[inactive])
    np.testing.assert_array_equal(mesh["flwpar"].data[inactive], np.where(below_outlet, 4, 1)[inactive])
    for key in ("dx", "dy", "active_cell", "gauge_pos", "cpar_to_rowcol"):
        assert type(mesh[key]) is np.ndarray, key
    gauge_only = generate_mesh(funnel(tmp_path), x=503_500.0, y=6_495_500.0, area=9e6)
    assert type(gauge_only["xmin"]) is np.float64 and type(gauge_only["ymax"]) is np.float64


def test_area_error_th_removes_the_catchment_by_hand(tmp_path):
    path = funnel(tmp_path)
    kept = generate_mesh(path, x=503_500.0, y=6_495_500.0, area=9e6, code="out", area_error_th=0.0)
    assert kept["ng"] == 1 and kept["nac"] == 9
    # 9 km2 delineated for 10 km2 (max_depth=0: the gauge's own cell): a relative error of 0.1
    gauge = {"x": 503_500.0, "y": 6_495_500.0, "area": 10e6, "code": "out", "max_depth": 0}
    with pytest.warns(UserWarning, match=r"catchment out exceed the threshold 0.05 \(relative error 0.1:"):
        removed = generate_mesh(path, **gauge, area_error_th=0.05)
    # no catchment left: smash keeps the whole raster, every cell masked
    assert (removed["ng"], removed["nac"], removed["nrow"], removed["ncol"]) == (0, 0, 7, 7)
    assert removed["flwdir"].mask.all() and removed["gauge_pos"].shape == (0, 2)
    assert removed["flwdst"].dtype == np.float64 and not removed["flwdst"].data.any()
    assert generate_mesh(path, **gauge, area_error_th=0.2)["ng"] == 1


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (1, TypeError, r"area_error_th argument must be of Numeric type \(float\), got int 1"),
        (np.float32(0.1), TypeError, "area_error_th argument must be of Numeric type"),
        ("0.1", TypeError, "area_error_th argument must be of Numeric type"),
        (-0.1, ValueError, "area_error_th must be a relative error >= 0"),
        (float("nan"), ValueError, "area_error_th must be a relative error >= 0"),
    ],
)
def test_area_error_th_errors(tmp_path, value, error, message):
    with pytest.raises(error, match=message):
        generate_mesh(funnel(tmp_path), x=503_500.0, y=6_495_500.0, area=9e6, area_error_th=value)


@pytest.mark.parity
@pytest.mark.parametrize(("threshold", "codes"), [(0.01, ["V3524010", "V3515010"]), (1e-4, [])])
def test_area_error_th_matches_smash(france_flwdir, threshold, codes):
    removed = [c for c in CANCE["code"] if c not in codes]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh = generate_mesh(france_flwdir, **CANCE, area_error_th=threshold)
    assert_same_as_smash(mesh, smash_generate_mesh(str(france_flwdir), **CANCE, area_error_th=threshold))
    assert mesh["code"].tolist() == codes
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(removed)
    for text, code in zip(messages, removed, strict=True):
        # smash's leading words, with the threshold written in
        assert text.startswith(f"The error of the modeled area for catchment {code} exceed the threshold {threshold} ")
        assert "{" not in text and text.endswith("This catchment is removed from the mesh")


@pytest.mark.parity
def test_area_error_th_type_check_as_smash(france_flwdir):
    smash = pytest.importorskip("smash")
    for ours_and_theirs in (generate_mesh, smash.factory.generate_mesh):
        with pytest.raises(TypeError, match="area_error_th argument must be of Numeric type"):
            ours_and_theirs(str(france_flwdir), **CANCE, area_error_th=1)


def test_gauge_snaps_to_the_neighbour_with_the_best_area(tmp_path):
    path = funnel(tmp_path)
    # the gauge falls on (3, 3) (4 km2 drained), but 9 km2 matches its downstream neighbour
    mesh = generate_mesh(path, x=503_500.0, y=6_496_500.0, area=9e6)
    np.testing.assert_array_equal(mesh["gauge_pos"], [[2, 1]])
    assert mesh["code"].tolist() == ["_c0"]
    exact = generate_mesh(path, x=503_500.0, y=6_496_500.0, area=9e6, max_depth=0)
    assert exact["nac"] == 4
    np.testing.assert_array_equal(exact["gauge_pos"], [[1, 1]])


def test_bbox_mode_by_hand_with_a_two_cell_pit(tmp_path):
    values = [[3, 3, 7, 5], [-9999, -9999, -9999, -9999]]
    path = write_raster(tmp_path / "pit.tif", values)
    with pytest.warns(UserWarning, match="two-cell pits"):
        mesh = generate_mesh(path, bbox=[500_000, 504_000, 6_498_000, 6_500_000])
    assert "flwdst" not in mesh and "gauge_pos" not in mesh
    assert mesh["ng"] == 0
    np.testing.assert_array_equal(mesh["flwdir"].data[0], [3, 0, 0, 5])
    np.testing.assert_array_equal(mesh["active_cell"], [[1, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mesh["flwdir"].mask, mesh["active_cell"] == 0)
    assert mesh["nac"] == 2
    np.testing.assert_array_equal(mesh["flwacc"][0] / 1e6, [1, 2, 1, 1])
    assert mesh["cpar_to_rowcol"].shape == (8, 2)


def test_geographic_cell_sizes(tmp_path):
    path = write_raster(tmp_path / "geo.tif", np.full((4, 3), 5.0), res=0.5, x0=0.0, y0=60.0, epsg=4326)
    mesh = generate_mesh(path, bbox=[0, 1.5, 58, 60])
    meridian_degree = 6371228.0 * 2 * np.pi / 360
    np.testing.assert_allclose(mesh["dy"], 0.5 * meridian_degree, rtol=1e-6)
    latitude = 60 - 0.25 - 0.5 * np.arange(4)
    np.testing.assert_allclose(mesh["dx"][:, 0], 0.5 * meridian_degree * np.cos(np.radians(latitude)), rtol=1e-5)


def test_epsg_used_when_the_raster_has_no_crs(tmp_path):
    path = funnel(tmp_path)
    bare = write_raster(tmp_path / "bare.tif", rasterio.open(path).read(1), epsg=None)
    with pytest.raises(ValueError, match=r"no coordinate reference system.*epsg"):
        generate_mesh(bare, bbox=[500_000, 507_000, 6_493_000, 6_500_000])
    mesh = generate_mesh(bare, bbox=[500_000, 507_000, 6_493_000, 6_500_000], epsg="2154")
    assert mesh["epsg"] == 2154


def test_int_bbox_keeps_integer_origin_as_smash(tmp_path):
    path = funnel(tmp_path)
    mesh = generate_mesh(path, bbox=[501_000, 506_000, 6_494_000, 6_499_000])
    assert mesh["xmin"].dtype == np.int64 and mesh["xmin"] == 501_000
    mesh = generate_mesh(path, bbox=[501_000.0, 506_000.0, 6_494_000.0, 6_499_000.0])
    assert mesh["xmin"].dtype == np.float64


# --- errors --------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "flwdir.tif"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        generate_mesh(missing, bbox=FRANCE_BBOX)


def test_gauge_outside_raster_names_code_coordinates_and_extent(tmp_path):
    path = funnel(tmp_path)
    with pytest.raises(ValueError, match=r"gauge 'far' at \(x=600000.0, y=6495500.0\).*x in \[500000.0, 507000.0\]"):
        generate_mesh(path, x=[503_500, 600_000], y=[6_495_500, 6_495_500], area=[9e6, 9e6], code=["ok", "far"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": [1.0, 2.0], "y": [1.0], "area": [1.0, 2.0]}, "same length, got 2, 1 and 2"),
        (
            {"x": [503_500.0], "y": [6_495_500.0], "area": [9e6], "code": ["a", "b"]},
            "code must have the same",
        ),
        ({"x": 503_500.0, "y": 6_495_500.0, "area": 0.0}, "area must be positive"),
        ({"x": 503_500.0, "y": 6_495_500.0, "area": -5.0}, "area must be positive"),
        ({"x": 503_500.0, "y": 6_495_500.0}, "x, y and area must be given together"),
        ({}, r"bbox argument and / or \(x, y, area\) arguments must be defined"),
        ({"bbox": [400_000, 450_000, 6_400_000, 6_450_000]}, "lies outside the flow directions raster"),
        ({"bbox": [1, 2, 3]}, "4 numbers"),
        ({"bbox": [503_000, 502_000, 6_494_000, 6_499_000]}, "xmin .* greater than xmax"),
        ({"bbox": [503_000, 503_200, 6_494_000, 6_499_000]}, "smaller than one cell"),
        ({"bbox": FRANCE_BBOX, "max_depth": -1}, "max_depth must be >= 0"),
    ],
)
def test_argument_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_mesh(funnel(tmp_path), **kwargs)


def test_bbox_partly_outside_is_clipped_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="clipped"):
        mesh = generate_mesh(funnel(tmp_path), bbox=[490_000, 503_000, 6_494_000, 6_510_000])
    assert (mesh["xmin"], mesh["ymax"], mesh["nrow"], mesh["ncol"]) == (500_000, 6_500_000, 6, 3)


def test_type_errors(tmp_path):
    path = funnel(tmp_path)
    with pytest.raises(TypeError, match="flwdir_path"):
        generate_mesh(3, bbox=FRANCE_BBOX)
    with pytest.raises(TypeError, match="bbox"):
        generate_mesh(path, bbox="500000 507000 6493000 6500000")
    with pytest.raises(TypeError, match="x must be a number"):
        generate_mesh(path, x="a", y=1.0, area=1.0)


def test_non_d8_values_are_rejected(tmp_path):
    path = write_raster(tmp_path / "esri.tif", [[1, 2, 4], [8, 16, 32], [64, 128, 1]])
    with pytest.raises(ValueError, match=r"not smash D8 codes 1\.\.8"):
        generate_mesh(path, bbox=[500_000, 503_000, 6_497_000, 6_500_000])
