"""Model.to_xarray and netCDF files: labels, coordinates from the mesh, missing values, engines."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import xarray as xr

import hydrograd as smash
from hydrograd.formats import netcdf
from hydrograd.io import save_netcdf


@pytest.fixture(scope="module")
def run(synthetic_inputs):
    setup, mesh = synthetic_inputs
    model = smash.Model({**setup, "end_time": "2020-03-01"}, mesh, verbose=False)
    ret = model.forward_run(
        common_options={"verbose": False},
        return_options={"rr_states": True, "q_domain": True, "time_step": ["2020-01-10", "2020-02-01"]},
    )
    return model, ret


def test_discharge_and_maps_are_labelled_with_the_mesh_coordinates(run):
    model, _ = run
    ds = model.to_xarray()
    mesh = model.mesh
    assert ds["q"].dims == ("gauge", "time") and ds["cp"].dims == ("y", "x")
    assert list(ds["gauge"].values) == [str(c) for c in mesh.code]
    assert ds["time"].values[0] == np.datetime64("2020-01-02") and ds.sizes["time"] == model.setup.ntime_step
    np.testing.assert_allclose(ds["x"].values, mesh.xmin + (np.arange(mesh.ncol) + 0.5) * mesh.xres)
    np.testing.assert_allclose(ds["y"].values, mesh.ymax - (np.arange(mesh.nrow) + 0.5) * mesh.yres)
    row, col = mesh.gauge_pos[0]
    assert ds["gauge_x"].values[0] == ds["x"].values[col] and ds["gauge_y"].values[0] == ds["y"].values[row]
    np.testing.assert_array_equal(ds["q"].values, model.response.q)
    active = mesh.active_cell == 1
    np.testing.assert_array_equal(ds["cp"].values[active], model.get_rr_parameters("cp")[active])
    assert np.isnan(ds["cp"].values[~active]).all()
    np.testing.assert_array_equal(ds["hp_final"].values[active], model.get_rr_final_states("hp")[active])
    assert ds["cp"].attrs["units"] == "mm" and ds.attrs["structure"] == "zero-gr4-lr"


def test_missing_observations_become_nan(run):
    model, _ = run
    gapped = model.copy()
    gapped.response_data.q[1, :5] = -99.0
    q_obs = gapped.to_xarray()["q_obs"].values
    assert np.isnan(q_obs[1, :5]).all() and not np.isnan(q_obs[1, 5:]).any()


def test_time_stepped_outputs_of_a_run(run):
    model, ret = run
    ds = model.to_xarray(ret)
    assert list(ds["time_step"].values) == list(np.array(["2020-01-10", "2020-02-01"], dtype="datetime64[ns]"))
    assert ds["q_domain"].dims == ("time_step", "y", "x") and ds["hp"].dims == ("time_step", "y", "x")
    active = model.mesh.active_cell == 1
    np.testing.assert_array_equal(ds["q_domain"].values[1][active], ret.q_domain[..., 1][active])
    np.testing.assert_array_equal(ds["ht"].values[0][active], ret.rr_states[0].values[..., 2][active])


@pytest.mark.parametrize("engine", netcdf.ENGINES)
def test_netcdf_round_trip_with_each_installed_engine(run, tmp_path, engine):
    if importlib.util.find_spec(netcdf._ENGINE_MODULES[engine].split(".")[0]) is None:
        pytest.skip(f"{engine} is not installed")
    model, ret = run
    path = tmp_path / "sub" / f"{engine}.nc"
    assert save_netcdf(model.to_xarray(ret), path, engine=engine) == engine
    with xr.open_dataset(path, engine=engine) as back:
        assert [str(c) for c in back["gauge"].values] == [str(c) for c in model.mesh.code]
        np.testing.assert_allclose(back["q"].values, model.response.q)
        np.testing.assert_allclose(back["cp"].values, model.to_xarray()["cp"].values)
        assert back["time"].values[-1] == np.datetime64("2020-03-01")
        assert back["q_domain"].dims == ("time_step", "y", "x")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_engine_choice_and_clear_errors(monkeypatch):
    assert netcdf.netcdf_engine() in netcdf.ENGINES
    with pytest.raises(ValueError, match="Did you mean 'netcdf4'"):
        netcdf.netcdf_engine("netcdf")
    monkeypatch.setattr(netcdf.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install netCDF4"):
        netcdf.netcdf_engine()
