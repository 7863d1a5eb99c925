"""Independent calibrations of many catchments on a Dask ``LocalCluster``: each catchment ends
where ``Model.optimize`` alone takes it, results land as they finish, a restarted run skips the
finished catchments and a failing catchment does not stop the others."""

from __future__ import annotations

import os

import numpy as np
import pytest

import hydrograd
from hydrograd.distributed import SUMMARY_FIELDS, calibrate_catchments

distributed = pytest.importorskip("dask.distributed")

OPTIONS = {"optimizer": "sbs", "optimize_options": {"parameters": ["cp", "ct"], "termination_crit": {"maxiter": 1}}}


@pytest.fixture(scope="module")
def region():
    return hydrograd.factory.load_dataset("SyntheticRegion", n=2)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def test_the_region_holds_distinct_catchments(region):
    assert list(region) == ["SYN-1", "SYN-2"]
    (_, mesh_a), (_, mesh_b) = region.values()
    assert mesh_a["nac"] != mesh_b["nac"] or not np.array_equal(mesh_a["flwdir"], mesh_b["flwdir"])


@pytest.mark.parametrize(
    ("name", "n", "match"),
    [("SyntheticRegion", None, "only with it"), ("Lez", 3, "only with it"), ("SyntheticRegion", 0, "positive int")],
)
def test_region_arguments_are_checked(name, n, match):
    with pytest.raises(ValueError, match=match):
        hydrograd.factory.load_dataset(name, n=n)


def test_each_catchment_ends_where_it_would_alone_and_a_rerun_skips_it(region, client, tmp_path):
    table = calibrate_catchments(region, tmp_path, client=client, verbose=False, **OPTIONS)
    assert list(table.columns) == list(SUMMARY_FIELDS)
    assert list(table["status"]) == ["done", "done"]
    for name, (setup, mesh) in region.items():
        alone = hydrograd.Model(setup, mesh, verbose=False)
        ret = alone.optimize(**OPTIONS, common_options={"verbose": False}, return_options={"cost": True})
        saved = hydrograd.io.read_model(str(tmp_path / f"{name}.hdf5"))
        np.testing.assert_array_equal(saved.rr_parameters.values, alone.rr_parameters.values)
        np.testing.assert_array_equal(saved.response.q, alone.response.q)
        assert table.loc[name, "cost"] == pytest.approx(ret.cost, rel=1e-6)

    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / "SYN-2.json").unlink()  # as if the run had stopped before SYN-2's summary
    again = calibrate_catchments(region, tmp_path, client=client, verbose=False, **OPTIONS)
    assert list(again["status"]) == ["skipped", "done"]
    assert again.loc["SYN-1", "cost"] == table.loc["SYN-1", "cost"]
    assert again.loc["SYN-2", "cost"] == pytest.approx(table.loc["SYN-2", "cost"], rel=1e-6)
    assert (tmp_path / "SYN-1.hdf5").stat().st_mtime_ns == stamps["SYN-1.hdf5"]


def test_a_failing_catchment_is_reported_and_the_others_go_on(region, client, tmp_path):
    setup, mesh = region["SYN-1"]
    broken = ({**setup, "prcp_directory": os.fspath(tmp_path / "nowhere")}, mesh)
    table = calibrate_catchments(
        {"broken": broken, "SYN-1": region["SYN-1"]}, tmp_path / "out", client=client, verbose=False, **OPTIONS
    )
    assert table.loc["SYN-1", "status"] == "done"
    assert table.loc["broken", "status"].startswith("failed: ")
    assert "nowhere" in table.loc["broken", "status"]
    assert not (tmp_path / "out" / "broken.json").exists()


@pytest.mark.parametrize(
    ("catchments", "error"),
    [({}, TypeError), ({"a/b": ({}, {})}, ValueError), ({"a": ({},)}, TypeError)],
)
def test_bad_catchments_are_refused(catchments, error, tmp_path):
    with pytest.raises(error):
        calibrate_catchments(catchments, tmp_path, verbose=False)
