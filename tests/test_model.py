"""The Model façade: the attribute surface the seeds use, getters/setters, copies, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash


@pytest.fixture(scope="module")
def lez():
    return smash.factory.load_dataset("Lez")


@pytest.fixture(scope="module")
def model(lez):
    setup, mesh = lez
    return smash.Model(setup, mesh, verbose=False)


def test_attribute_surface(model):
    s, m = model.setup, model.mesh
    assert (s.dt, s.ntime_step, s.nd, s.structure) == (86400.0, 364, 6, "zero-gr4-lr")
    assert (m.nrow, m.ncol, m.nac, m.ng) == (27, 14, 172, 3)
    assert model.atmos_data.prcp.shape == (27, 14, 364) and model.atmos_data.prcp.dtype == np.float32
    assert model.physio_data.descriptor.shape == (27, 14, 6)
    assert model.response_data.q.shape == model.response.q.shape == (3, 364)
    assert list(model.rr_parameters.keys) == ["ci", "cp", "ct", "kexc", "llr"]
    assert list(model.rr_initial_states.keys) == ["hi", "hp", "ht", "hlr"]
    assert model.rr_parameters.values.shape == (27, 14, 5)
    assert np.all(model.get_rr_parameters("llr") == 5.0 * 24)  # default scales with dt


def test_forward_run_fills_response_and_final_states(model):
    m = model.copy()
    m.forward_run(common_options={"verbose": False})
    assert np.all(m.response.q >= 0) and m.response.q.max() > 1.0
    hp = m.get_rr_final_states("hp")
    assert np.all((hp[m.mesh.active_cell == 1] > 0) & (hp[m.mesh.active_cell == 1] < 1))
    assert np.all(hp[m.mesh.active_cell == 0] == -99.0)
    nse = smash.evaluation(m, metric="nse")
    assert nse.shape == (3, 1) and np.all(nse < 1)


def test_functional_forward_run_leaves_model_untouched(model):
    before = model.response.q.copy()
    _new, ret = smash.forward_run(model, return_options={"cost": True, "jobs": True}, common_options={"verbose": False})
    np.testing.assert_array_equal(model.response.q, before)
    assert ret.cost == pytest.approx(ret.jobs) and 0 < ret.cost < 2
    assert smash.forward_run(model, common_options={"verbose": False}).response.q.max() > 0


def test_copy_is_deep(model):
    m2 = model.copy()
    m2.set_rr_parameters("cp", 250.0)
    m2.atmos_data.prcp[0, 0, 0] = 123.0
    assert model.get_rr_parameters("cp")[5, 5] == 200.0
    assert model.atmos_data.prcp[0, 0, 0] != 123.0


def test_set_and_get_maps(model):
    m = model.copy()
    cp = np.full((27, 14), 321.0, dtype=np.float32)
    m.set_rr_parameters("cp", cp)
    np.testing.assert_array_equal(m.get_rr_parameters("cp"), cp)
    m.set_rr_initial_states("hp", 0.5)
    assert np.all(m.get_rr_initial_states("hp") == 0.5)
    out = m.get_rr_parameters("cp")
    out[:] = 0
    assert m.get_rr_parameters("cp")[0, 0] == 321.0


def test_bounds(model):
    assert model.get_rr_parameters_bounds() == {
        "ci": (1e-6, 100.0),
        "cp": (1e-6, 1000.0),
        "ct": (1e-6, 1000.0),
        "kexc": (-50.0, 50.0),
        "llr": (1e-6, 1000.0),
    }
    assert model.get_rr_initial_states_bounds()["hlr"] == (1e-6, 1000.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.set_rr_parameters("cpp", 1.0), ValueError, "Did you mean 'cp'"),
        (lambda m: m.set_rr_parameters("cp", -5.0), ValueError, "feasible domain"),
        (lambda m: m.set_rr_parameters("cp", np.ones((3, 3))), ValueError, r"shape \(27, 14\)"),
        (lambda m: m.set_rr_parameters("cp", "big"), TypeError, "number or an array"),
        (lambda m: m.set_rr_initial_states("hp", 1.5), ValueError, "feasible domain"),
        (lambda m: m.get_rr_parameters(3), TypeError, "must be a str"),
        (lambda m: m.forward_run(return_options={"q_domian": True}), ValueError, "Did you mean 'q_domain'"),
        (lambda m: m.forward_run(return_options={"time_step": "1999-01-01"}), ValueError, "not a time step"),
        (lambda m: m.forward_run(common_options={"verbose": "yes"}), TypeError, "verbose"),
        (lambda m: m.forward_run(cost_options={"gauge": ["XXX"]}), ValueError, "unknown gauge code 'XXX'"),
        (lambda m: smash.evaluation(m, metric="nsee"), ValueError, "Did you mean 'nse'"),
        (lambda m: smash.evaluation(m, start_eval="2020-01-01"), ValueError, "between start_time"),
    ],
)
def test_bad_input_is_named(model, call, error, match):
    with pytest.raises(error, match=match):
        call(model.copy())


def test_bad_setup_and_mesh_are_named(lez, tmp_path):
    setup, mesh = lez
    cases = [
        ({**setup, "hydrological_modul": "gr4"}, mesh, ValueError, "Did you mean 'hydrological_module'"),
        ({**setup, "routing_module": "lrr"}, mesh, ValueError, "Did you mean 'lr'"),
        ({**setup, "dt": "daily"}, mesh, TypeError, "dt"),
        ({**setup, "start_time": "2013-08-01"}, mesh, ValueError, "later than 'start_time'"),
        ({**setup, "prcp_directory": str(tmp_path / "nowhere")}, mesh, FileNotFoundError, "prcp_directory"),
        (setup, {k: v for k, v in mesh.items() if k != "flwdir"}, ValueError, "flwdir"),
        ("setup.yaml", mesh, TypeError, "setup must be a dict"),
    ]
    for bad_setup, bad_mesh, error, match in cases:
        with pytest.raises(error, match=match):
            smash.Model(bad_setup, bad_mesh, verbose=False)


def test_gauge_outside_grid_is_named(lez):
    setup, mesh = lez
    bad = {**mesh, "gauge_pos": np.array([[26, 12], [22, 11], [40, 8]], dtype=np.int32)}
    with pytest.raises(ValueError, match="gauge_pos"):
        smash.Model(setup, bad, verbose=False)
