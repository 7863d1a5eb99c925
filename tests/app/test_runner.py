"""``hydrograd run``: a run file in, a netCDF file that xarray opens out, from each mesh source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

import hydrograd as smash
from hydrograd.app.cli import main
from hydrograd.app.runner import gauge_table, run_config
from hydrograd.factory import synthetic
from hydrograd.formats.setup import read_setup

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "synthetic_run.yaml"


@pytest.fixture(scope="module")
def folder(synthetic_inputs) -> Path:
    return synthetic.cache_directory()


def _setup(folder: Path) -> dict:
    setup = read_setup(folder / f"setup_{synthetic.NAME}.yaml")
    for key in ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory"):
        setup[key] = str(folder / setup[key])
    return {**setup, "end_time": "2020-03-01"}


def _write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_the_example_calibrates_and_writes_a_labelled_netcdf(synthetic_inputs, tmp_path, capsys):
    default = smash.Model(*synthetic_inputs, verbose=False)
    default.forward_run(common_options={"verbose": False})
    out = tmp_path / "results.nc"
    main(["run", str(EXAMPLE), "--output", str(out)])
    assert f"results written to {out}" in capsys.readouterr().out
    with xr.open_dataset(out) as ds:
        assert list(ds["gauge"].values) == list(synthetic.GAUGES)
        assert ds.sizes["time"] == 731 and ds.sizes["time_step"] == 731
        for name in ("cp", "ct", "kexc", "llr", "hp_initial", "ht_initial", "hp_final", "active_cell"):
            assert ds[name].dims == ("y", "x"), name
        assert ds["q"].dims == ds["q_obs"].dims == ("gauge", "time") and ds["nse"].dims == ("gauge",)
        assert ds["q_domain"].dims == ("time_step", "y", "x")
        assert ds.attrs["mapping"] == "multi-linear" and ds.attrs["optimizer"] == "lbfgsb"
        active = ds["active_cell"].values == 1
        assert np.isnan(ds["cp"].values[~active]).all() and np.ptp(ds["cp"].values[active]) > 0
        assert float(ds["nse"].mean()) > smash.evaluation(default, metric="nse").mean() + 0.2


def test_mesh_generated_from_flow_directions_and_a_gauge_table(folder, synthetic_inputs, tmp_path):
    _, mesh = synthetic_inputs
    config = {
        "setup": _setup(folder),
        "mesh": {"flwdir": str(folder / "flwdir.tif"), "gauges": str(folder / "gauge_attributes.csv")},
        "output": {"file": "out/states.nc", "states": True, "verbose": False},
    }
    path = run_config(_write(tmp_path, config))
    assert path == tmp_path / "out" / "states.nc"
    with xr.open_dataset(path) as ds:
        np.testing.assert_array_equal(ds["active_cell"].values, mesh["active_cell"])
        assert ds["hp"].dims == ("time_step", "y", "x") and ds.sizes["time_step"] == 60
        assert "q_domain" not in ds and "mapping" not in ds.attrs


def test_mesh_file_and_the_scipy_engine(folder, tmp_path):
    config = {
        "setup": _setup(folder),
        "mesh": {"file": str(folder / f"mesh_{synthetic.NAME}.hdf5")},
        "output": {"file": "plain.nc", "engine": "scipy", "verbose": False},
    }
    path = run_config(_write(tmp_path, config))
    with xr.open_dataset(path, engine="scipy") as ds:
        assert [str(c) for c in ds["gauge"].values] == list(synthetic.GAUGES)
        assert ds.sizes["time"] == 60 and np.isfinite(ds["q"].values).all()


def test_gauge_table_needs_its_columns(tmp_path):
    table = tmp_path / "gauges.csv"
    table.write_text("code,x,y\nA,1,2\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['area'\]"):
        gauge_table(table)
    with pytest.raises(FileNotFoundError, match="No gauge table"):
        gauge_table(tmp_path / "none.csv")


def test_the_command_reports_mistakes_without_a_traceback(folder, tmp_path, capsys):
    config = {"setup": {**_setup(folder), "hydrological_modul": "gr4"}, "mesh": {"dataset": "Synthetic"}}
    with pytest.raises(SystemExit) as stop:
        main(["run", str(_write(tmp_path, config)), "--output", str(tmp_path / "x.nc")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "hydrograd run: error:" in err and "Did you mean 'hydrological_module'" in err
    assert not (tmp_path / "x.nc").exists()


@pytest.mark.usefixtures("data_root")
def test_the_lez_example_generates_its_mesh_from_the_raw_files(tmp_path):
    path = run_config(EXAMPLE.with_name("lez_run.yaml"), output=tmp_path / "lez.nc")
    reference = smash.factory.load_dataset("Lez")[1]
    with xr.open_dataset(path) as ds:
        assert list(ds["gauge"].values) == list(reference["code"])
        np.testing.assert_array_equal(ds["active_cell"].values, reference["active_cell"])
        assert ds.attrs["mapping"] == "uniform" and float(ds["nse"].min()) > 0.5


def test_a_batch_of_catchments_writes_one_file_each_and_a_summary(synthetic_region, tmp_path):
    """``catchments: {dataset: SyntheticRegion}``: each catchment's netCDF file holds what its own
    model gives, and summary.csv one row per gauge."""
    content = {
        "catchments": {"dataset": "SyntheticRegion", "n": 2},
        "setup": {"end_time": "2020-06-01"},
        "output": {"folder": "results", "verbose": False},
    }
    folder = run_config(_write(tmp_path, content))
    assert folder == tmp_path / "results"
    summary = pd.read_csv(folder / "summary.csv")
    assert set(summary["catchment"]) == {"SYN-1", "SYN-2"} and (summary["status"] == "done").all()
    setup, mesh = synthetic_region["SYN-2"]
    alone = smash.Model({**setup, "end_time": "2020-06-01"}, mesh, verbose=False)
    alone.forward_run()
    with xr.open_dataset(folder / "SYN-2.nc") as ds:
        np.testing.assert_allclose(ds["q"].values, alone.response.q, rtol=1e-5, atol=1e-5)
    assert len(summary[summary["catchment"] == "SYN-2"]) == mesh["ng"]
