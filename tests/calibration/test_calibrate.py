"""A calibration on plain data: core inputs, observations and a checked request in, values and a
closing run out, with no ``Model`` on either side; the façade gives the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration.run import calibrate
from tests._inputs import read_catchment


@pytest.fixture(scope="module")
def lez_short():
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(start_time="2012-09-01", end_time="2012-12-31")
    return setup, mesh


def test_a_calibration_runs_on_plain_data_and_matches_the_facade(lez_short):
    catchment = read_catchment(*lez_short)
    data = catchment.calibration_data()
    before = {k: np.asarray(v).copy() for k, v in data.inputs.params.items()}
    options = {"parameters": ["cp", "ct", "hp"], "termination_crit": {"maxiter": 2}}
    request = catchment.request("uniform", "sbs", options, return_options={"cost": True, "n_iter": True})
    result = calibrate(data, request)

    assert not result.on_grid and set(result.values) == {"cp", "ct", "hp"}
    assert all(v.shape == (data.layout.nac,) and v.dtype == np.float32 for v in result.values.values())
    assert result.returned["n_iter"] == 2 and result.returned["cost"] == pytest.approx(result.optimizer.cost)
    assert result.output.q.shape == data.q_obs.shape
    for key, value in before.items():
        np.testing.assert_array_equal(np.asarray(data.inputs.params[key]), value)

    model = smash.Model(*lez_short, verbose=False)
    ret = model.optimize("uniform", "sbs", options, common_options={"verbose": False}, return_options={"cost": True})
    assert ret.cost == result.returned["cost"]
    np.testing.assert_array_equal(model.response.q, np.asarray(result.output.q))
    for key, value in result.values.items():
        np.testing.assert_array_equal(
            model.layout.to_active(model.get_rr_parameters(key) if key != "hp" else model.get_rr_initial_states(key)),
            value,
        )


def test_a_regionalization_network_gives_maps_on_the_whole_grid(lez_short):
    catchment = read_catchment({**lez_short[0], "descriptor_tfm": "normalize"}, lez_short[1])
    net = smash.factory.Net()
    net.add_dense(4, input_shape=catchment.setup.nd, activation="relu")
    net.add_dense(2, activation="sigmoid")
    net.add_scale([(1e-6, 1000.0), (1e-6, 1000.0)])
    options = {"net": net, "parameters": ["cp", "ct"], "termination_crit": {"maxiter": 2}, "random_state": 0}
    request = catchment.request("ann", None, options, return_options={"net": True, "cost": True})
    result = calibrate(catchment.calibration_data(), request)
    assert result.on_grid and set(result.values) == {"cp", "ct"}
    assert result.values["cp"].shape == catchment.indexed.layout.shape
    assert result.returned["net"] is not net and len(result.returned["net"].history["loss_train"]) == 2
    assert np.isfinite(result.returned["cost"])
