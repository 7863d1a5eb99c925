"""A mesh holding only the grid geometry (smash's tests read forcing on one): reading rules and
warnings as smash 1.3.0's, and a clear refusal of anything that needs active cells."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import hydrograd as hg

smash = pytest.importorskip("smash")

BBOX = (670_000, 770_000, 6_600_000, 6_700_000)  # (xmin, xmax, ymin, ymax) inside France's rasters


def minimal_mesh(bbox: tuple[float, float, float, float], xres: float, yres: float) -> dict:
    """The geometry of a bounding box, nrow and ncol as the floats a division gives."""
    xmin, xmax, ymin, ymax = bbox
    return {
        "xres": xres,
        "yres": yres,
        "xmin": xmin,
        "ymax": ymax,
        "nrow": (ymax - ymin) / yres,
        "ncol": (xmax - xmin) / xres,
        "npar": 0,
        "ng": 0,
    }


@pytest.fixture(scope="module")
def france_setup() -> dict:
    """smash's France setup, hourly, over 4 steps (interannual PET, prcp in tenths of mm)."""
    setup, _ = smash.factory.load_dataset("France")
    setup["end_time"] = str(pd.Timestamp(setup["start_time"]) + pd.Timedelta(hours=4))
    return setup


def build(library, setup: dict, mesh: dict):
    """A model of ``library`` and the texts of the UserWarnings its construction emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = library.Model(setup, mesh) if library is smash else library.Model(setup, mesh, verbose=False)
    return model, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def assert_bitwise(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.dtype == ref.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours.view(np.uint32), ref.view(np.uint32))


CASES = {
    "same resolution": (BBOX, 1000),
    "finer mesh": (BBOX, 500),
    "coarser mesh": (BBOX, 2000),
    "offset 100 m": ((670_100, 770_100, 6_600_100, 6_700_100), 1000),
    "offset 900 m": ((670_900, 770_900, 6_600_900, 6_700_900), 1000),
    "partly out of bound": ((670_000, 770_000, 7_100_000, 7_200_000), 1000),
    "totally out of bound, no column": ((770_000, 770_000, 7_200_000, 7_300_000), 1000),
    "totally out of bound": ((-500_000, -400_000, 6_600_000, 6_700_000), 1000),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", list(CASES))
def test_reading_matches_smash(france_setup, case):
    bbox, res = CASES[case]
    mesh = minimal_mesh(bbox, res, res)
    ref, ref_warnings = build(smash, france_setup, mesh)
    ours, our_warnings = build(hg, france_setup, mesh)
    assert our_warnings == ref_warnings
    assert_bitwise(ours.atmos_data.prcp, ref.atmos_data.prcp)
    assert_bitwise(ours.atmos_data.pet, ref.atmos_data.pet)
    assert ours.atmos_data.mean_prcp.shape == ref.atmos_data.mean_prcp.shape == (0, 4)
    if case != "same resolution":
        assert len(our_warnings) == 2  # one per variable: precipitation, then PET
        assert our_warnings[0].startswith("Warning(s) linked to precipitation reading.\n")
        assert our_warnings[1].startswith("Warning(s) linked to potential evapotranspiration reading.\n")


@pytest.mark.parity
def test_out_of_bound_cells_hold_minus_99_times_the_conversion_factor(france_setup):
    """smash multiplies the whole window by the conversion factor, -99 fill included: with France's
    factor 0.1, precipitation outside the raster is -9.900001, and interannual PET outside it is
    -99 times the hourly share (-0.0 at night)."""
    mesh = minimal_mesh(CASES["totally out of bound"][0], 1000, 1000)
    ours, our_warnings = build(hg, france_setup, mesh)
    assert "Out of bound warning: mesh is totally out of bound" in our_warnings[0]
    assert (ours.atmos_data.prcp == np.float32(-99) * np.float32(0.1)).all()
    night = ours.atmos_data.pet[..., :4]  # 01:00 to 04:00, where the hourly PET share is 0
    assert (night == 0).all() and np.signbit(night).all()


@pytest.mark.parity
def test_missing_files_match_smash(france_setup):
    last_file = pd.Timestamp(smash.factory.load_dataset("France")[0]["end_time"])  # 2012-01-02 08:00
    setup = dict(france_setup)
    setup["start_time"] = str(last_file - pd.Timedelta(hours=2))
    setup["end_time"] = str(last_file + pd.Timedelta(hours=3))
    mesh = minimal_mesh(BBOX, 1000, 1000)
    ref, ref_warnings = build(smash, setup, mesh)
    ours, our_warnings = build(hg, setup, mesh)
    assert our_warnings == ref_warnings
    expected = "Missing warning: missing 3 file(s): ['2012-01-02 09:00', '2012-01-02 10:00', '2012-01-02 11:00']"
    assert our_warnings[0] == f"Warning(s) linked to precipitation reading.\n{expected}"
    assert_bitwise(ours.atmos_data.prcp, ref.atmos_data.prcp)
    assert (ours.atmos_data.prcp[..., 2:] == -99).all() and (ours.atmos_data.prcp[..., :2] >= 0).any()


def test_the_mesh_has_no_active_cell(france_setup):
    model, _ = build(hg, france_setup, minimal_mesh(BBOX, 1000, 1000))
    mesh = model.mesh
    assert (mesh.nrow, mesh.ncol, mesh.nac, mesh.ng) == (100, 100, 0, 0)
    assert type(mesh.nrow) is int and type(mesh.ncol) is int
    assert mesh.active_cell.dtype == np.int32 and (mesh.active_cell == 0).all()
    assert (mesh.flwdir == -99).all() and (mesh.dx == -99).all() and (mesh.flwacc == -99).all()
    assert mesh.code.shape == (0,) and mesh.gauge_pos.shape == (0, 2)
    assert model.response.q.shape == model.response_data.q.shape == (0, 4)


@pytest.mark.parametrize(
    "run",
    [
        lambda m: m.forward_run(),
        lambda m: m.optimize(),
        lambda m: hg.forward_run(m),
        lambda m: hg.optimize(m, mapping="distributed"),
    ],
    ids=["forward_run", "optimize", "api forward_run", "api optimize"],
)
def test_simulating_on_it_is_refused_before_any_work(france_setup, capsys, run):
    model, _ = build(hg, france_setup, minimal_mesh(BBOX, 1000, 1000))
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"no active cell.*'nac', 'active_cell', 'flwdir', 'flwacc', 'dx' and 'dy'"):
        run(model)
    assert capsys.readouterr().out == ""


def test_sparse_storage_on_it_stores_nothing(france_setup):
    model, _ = build(hg, {**france_setup, "sparse_storage": True}, minimal_mesh(BBOX, 1000, 1000))
    for matrix in model.atmos_data.sparse_prcp:
        assert (matrix.n, matrix.coo_fmt, matrix.zvalue) == (0, 1, 0.0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"nrow": 100.5}, ValueError, "'nrow' must be a whole number, got 100.5"),
        ({"ncol": float("nan")}, ValueError, "'ncol' must be a whole number"),
        ({"nrow": "100"}, TypeError, "'nrow' must be an integer"),
        (
            {"ng": 1},
            ValueError,
            re.escape("missing the required key 'nac'. (a mesh without flow grids must have ng = 0"),
        ),
        ({"nac": 5}, ValueError, "missing the required key 'dx'"),
        ({"flwdir": np.ones((100, 100))}, ValueError, "missing the required key 'nac'"),
        ({"xres": -1000}, ValueError, "'xres' must be > 0"),
        ({"flwdr": 0}, ValueError, "unknown key 'flwdr'. Did you mean 'flwdir'"),
    ],
)
def test_broken_minimal_meshes_are_refused(france_setup, change, error, message):
    mesh = {**minimal_mesh(BBOX, 1000, 1000), **change}
    with pytest.raises(error, match=message):
        hg.Model(france_setup, mesh, verbose=False)


def test_missing_geometry_key_is_named(france_setup):
    mesh = minimal_mesh(BBOX, 1000, 1000)
    del mesh["xres"]
    with pytest.raises(ValueError, match="missing the required key 'xres'"):
        hg.Model(france_setup, mesh, verbose=False)
