"""save_grid_parameters / read_grid_parameters on a Model: round trips, parameter names, bad
input named, and files and resampling identical to smash's both ways."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

import hydrograd as hg
from hydrograd.io import read_grid_parameters, save_grid_parameters

QUIET = {"verbose": False}
SHAPE = (27, 14)


@pytest.fixture(scope="module")
def lez():
    return hg.factory.load_dataset("Lez")


@pytest.fixture(scope="module")
def model(lez):
    """A Lez model with distributed maps (parameters and initial states)."""
    setup, mesh = lez
    model = hg.Model(setup, mesh, verbose=False)
    rng = np.random.default_rng(3)
    model.set_rr_parameters("cp", rng.uniform(50.0, 900.0, SHAPE).astype(np.float32))
    model.set_rr_parameters("kexc", rng.uniform(-5.0, 5.0, SHAPE).astype(np.float32))
    model.set_rr_initial_states("hp", rng.uniform(0.01, 0.99, SHAPE).astype(np.float32))
    return model


def all_names(model) -> list[str]:
    return [str(k) for k in model.rr_parameters.keys] + [str(k) for k in model.rr_initial_states.keys]


def test_round_trip_is_exact(model, tmp_path):
    save_grid_parameters(model, tmp_path / "maps", all_names(model), save_active_cell=True)
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == sorted(
        f"{n}.tif" for n in [*all_names(model), "active_cell"]
    )
    other = hg.Model(*hg.factory.load_dataset("Lez"), verbose=False)
    read_grid_parameters(other, tmp_path / "maps", all_names(model))
    np.testing.assert_array_equal(other.rr_parameters.values, model.rr_parameters.values)
    np.testing.assert_array_equal(other.rr_initial_states.values, model.rr_initial_states.values)
    with rasterio.open(tmp_path / "maps" / "active_cell.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), model.mesh.active_cell)


def test_default_names_are_the_parameters_and_names_are_checked(model, tmp_path):
    save_grid_parameters(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.tif" for k in model.rr_parameters.keys)
    save_grid_parameters(model, tmp_path, "HP")
    save_grid_parameters(model, tmp_path, np.array(["ht", "hlr"]))
    assert (tmp_path / "hp.tif").is_file() and (tmp_path / "hlr.tif").is_file()
    with pytest.raises(ValueError, match=r"Unknown parameter 'cpp' at index 1 .*Did you mean 'cp'"):
        save_grid_parameters(model, tmp_path, ["ct", "cpp"])
    with pytest.raises(ValueError, match="Unknown parameter 'hs'"):
        read_grid_parameters(model, tmp_path, ("hs",))
    with pytest.raises(TypeError, match=r"parameters\[0\] must be a str"):
        save_grid_parameters(model, tmp_path, [1])
    with pytest.raises(TypeError, match="parameters must be a str or a list"):
        read_grid_parameters(model, tmp_path, {"cp": 1})
    with pytest.raises(TypeError, match="save_active_cell must be a bool"):
        save_grid_parameters(model, tmp_path, save_active_cell="yes")
    with pytest.raises(TypeError, match=r"hydrograd\.Model"):
        save_grid_parameters(model.setup, tmp_path)


def test_missing_or_damaged_files_leave_the_model_untouched(model, tmp_path):
    m = model.copy()
    with pytest.raises(FileNotFoundError, match="No grid parameters directory"):
        read_grid_parameters(m, tmp_path / "absent")
    save_grid_parameters(m, tmp_path, ["cp", "ct"])
    with pytest.raises(FileNotFoundError, match=r"kexc\.tif"):
        read_grid_parameters(m, tmp_path, ["cp", "kexc"])
    (tmp_path / "ct.tif").write_bytes((tmp_path / "ct.tif").read_bytes()[:300])
    changed = m.copy()
    changed.set_rr_parameters("cp", 1.0)
    save_grid_parameters(changed, tmp_path, ["cp"])
    with pytest.raises(ValueError, match=r"ct\.tif"):
        read_grid_parameters(m, tmp_path, ["cp", "ct"])
    np.testing.assert_array_equal(m.rr_parameters.values, model.rr_parameters.values)


def test_a_run_after_reading_is_the_run_of_the_saved_model(model, tmp_path):
    save_grid_parameters(model, tmp_path, all_names(model))
    other = hg.Model(*hg.factory.load_dataset("Lez"), verbose=False)
    read_grid_parameters(other, tmp_path, all_names(model))
    a, b = model.copy(), other
    a.forward_run(common_options=QUIET)
    b.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(a.response.q, b.response.q)


# ------------------------------------------------------------------------------ parity with smash


@pytest.fixture(scope="module")
def reference():
    smash = pytest.importorskip("smash")
    setup, mesh = smash.factory.load_dataset("Lez")
    with contextlib.redirect_stdout(io.StringIO()):
        return smash, smash.Model(setup, mesh)


def profile_and_tags(path) -> tuple[dict, dict, np.ndarray]:
    with rasterio.open(path) as ds:
        return dict(ds.profile), ds.tags(), ds.read(1)


@pytest.mark.parity
def test_files_are_smash_s_both_ways(model, reference, tmp_path):
    smash, ref = reference
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    save_grid_parameters(model, ours, all_names(model), save_active_cell=True)
    ref_model = ref.copy()
    for name in ("cp", "kexc"):
        ref_model.set_rr_parameters(name, model.get_rr_parameters(name))
    ref_model.set_rr_initial_states("hp", model.get_rr_initial_states("hp"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # rasterio's, in smash's code
        smash.io.save_grid_parameters(ref_model, str(theirs), all_names(model), save_active_cell=True)
    for name in [*all_names(model), "active_cell"]:
        got, expected = profile_and_tags(ours / f"{name}.tif"), profile_and_tags(theirs / f"{name}.tif")
        assert got[0] == expected[0] and got[1] == expected[1], name
        np.testing.assert_array_equal(got[2], expected[2], err_msg=name)

    smash_reads_ours = ref.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        smash.io.read_grid_parameters(smash_reads_ours, str(ours), all_names(model))
    np.testing.assert_array_equal(smash_reads_ours.rr_parameters.values, model.rr_parameters.values)
    np.testing.assert_array_equal(smash_reads_ours.rr_initial_states.values, model.rr_initial_states.values)
    we_read_theirs = hg.Model(*hg.factory.load_dataset("Lez"), verbose=False)
    read_grid_parameters(we_read_theirs, theirs, all_names(model))
    np.testing.assert_array_equal(we_read_theirs.rr_parameters.values, model.rr_parameters.values)
    np.testing.assert_array_equal(we_read_theirs.rr_initial_states.values, model.rr_initial_states.values)


@pytest.mark.parity
def test_resampling_and_defaults_are_smash_s(model, reference, tmp_path):
    """Rasters of other cell sizes, shifted, misaligned, partly outside the mesh, with infeasible
    values: hydrograd reads what smash reads, cell for cell."""
    smash, ref = reference
    m = model.mesh
    rng = np.random.default_rng(7)
    nrow, ncol, x0, y0 = m.nrow, m.ncol, m.xmin, m.ymax
    rasters = {
        "cp": (rng.uniform(10, 900, (2 * nrow, 2 * ncol)), Affine(500, 0, x0, 0, -500, y0)),  # finer
        "ct": (rng.uniform(10, 900, (nrow, ncol)), Affine(1000, 0, x0 + 3000, 0, -1000, y0 - 2000)),  # shifted
        "llr": (rng.uniform(1, 90, (nrow // 2, ncol // 2)), Affine(2000, 0, x0, 0, -2000, y0)),  # coarser
        "ci": (rng.uniform(0.1, 3, (12, 8)), Affine(3000, 0, x0 - 300, 0, -3000, y0 + 700)),  # misaligned
        "kexc": (rng.uniform(-5, 5, (nrow, ncol)), Affine(1000, 0, x0, 0, -1000, y0)),
        "hp": (rng.uniform(-0.5, 1.5, (nrow, ncol)), Affine(1000, 0, x0, 0, -1000, y0)),  # infeasible cells
    }
    rasters["hp"][0][0, :2] = [0.0, 1.0]
    for name, (values, transform) in rasters.items():
        profile = {"driver": "GTiff", "height": values.shape[0], "width": values.shape[1], "count": 1}
        with rasterio.open(
            tmp_path / f"{name}.tif", "w", dtype="float64", crs="EPSG:2154", transform=transform, **profile
        ) as ds:
            ds.write(values, 1)
    theirs, ours = ref.copy(), model.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smash.io.read_grid_parameters(theirs, str(tmp_path), list(rasters))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_grid_parameters(ours, tmp_path, list(rasters))
    assert all("covers only part of the mesh" in str(w.message) for w in caught)
    assert sorted(n for n in rasters if any(f"{n}.tif" in str(w.message) for w in caught)) == ["ct", "llr"]
    for name in rasters:
        get = "get_rr_parameters" if name in ours.rr_parameters.keys else "get_rr_initial_states"
        np.testing.assert_array_equal(getattr(ours, get)(name), getattr(theirs, get)(name), err_msg=name)
