"""What a smash program relies on besides the numbers of a run, side by side with hydro-smash 1.3.0:
value semantics of the model's attributes, "never run" values, defaults, option values of None,
derived setup counts, bounds, the network's placeholders, the internal fluxes' units."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import smash

import hydrograd

pytestmark = pytest.mark.parity
QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def lez():
    """Setup and mesh of Lez (daily) in both tools, and a pair of fresh models."""
    setup, mesh = smash.factory.load_dataset("Lez")
    ours_setup, ours_mesh = hydrograd.factory.load_dataset("Lez")
    return (setup, mesh), (ours_setup, ours_mesh)


def _pair(lez, **keys):
    (setup, mesh), (ours_setup, ours_mesh) = lez
    return smash.Model({**setup, **keys}, mesh), hydrograd.Model({**ours_setup, **keys}, ours_mesh, verbose=False)


def _restart(tool, model):
    """A warm-up run, then a second model started from the first one's final states, whose
    buffers are then overwritten in place: with smash's copies the restart is unaffected."""
    warm = model.copy()
    warm.forward_run(common_options=QUIET)
    restart = model.copy()
    restart.rr_initial_states = warm.rr_final_states
    warm.rr_final_states.values[...] = 0.9
    restart.rr_parameters = warm.rr_parameters
    warm.rr_parameters.values[..., list(warm.rr_parameters.keys).index("cp")] = 5.0
    restart.atmos_data.prcp = warm.atmos_data.prcp * 2.0
    restart.forward_run(common_options=QUIET)
    return restart


def test_assignment_copies_as_in_smash(lez):
    reference, ours = _pair(lez)
    expected = _restart(smash, reference)
    got = _restart(hydrograd, ours)
    np.testing.assert_allclose(got.response.q, expected.response.q, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.get_rr_initial_states("hp"), expected.get_rr_initial_states("hp"), rtol=1e-5)
    assert got.rr_initial_states is not got.rr_final_states


def test_assignments_that_do_not_fit_are_refused(lez):
    _, ours = _pair(lez)
    (_, _), (ours_setup, ours_mesh) = lez
    other = hydrograd.Model({**ours_setup, "hydrological_module": "gr6"}, ours_mesh, verbose=False)
    with pytest.raises(ValueError, match="rr_parameters"):
        ours.rr_parameters = other.rr_parameters
    with pytest.raises(TypeError, match="rr_parameters"):
        ours.rr_parameters = np.zeros(3)
    with pytest.raises(ValueError, match="'prcp' holds an array of shape"):
        ours.atmos_data.prcp = np.zeros((3, 3))
    ours.atmos_data.pet = 1
    assert np.all(ours.atmos_data.pet == 1.0) and ours.atmos_data.pet.dtype == np.float32


def test_never_run_values_are_smash_s(lez):
    reference, ours = _pair(lez)
    np.testing.assert_array_equal(ours.response.q, reference.response.q)
    np.testing.assert_array_equal(ours.rr_final_states.values, reference.rr_final_states.values)
    assert np.all(ours.response.q == -99.0)
    np.testing.assert_array_equal(ours.mesh.rowcol_to_ind_ac, reference.mesh.rowcol_to_ind_ac)


@pytest.mark.parametrize("module", ["gr4", "grd", "gr6", "vic3l"])
def test_bounds_and_setup_counts_are_smash_s(lez, module):
    reference, ours = _pair(lez, hydrological_module=module, routing_module="kw")
    assert ours.get_rr_parameters_bounds() == reference.get_rr_parameters_bounds()
    assert list(ours.get_rr_parameters_bounds()) == list(reference.get_rr_parameters_bounds())
    assert ours.get_rr_initial_states_bounds() == reference.get_rr_initial_states_bounds()
    for key in ("nd", "nrrp", "nrrs", "nqz", "n_layers", "nsep_mu", "nsep_sigma", "ntime_step"):
        assert getattr(ours.setup, key) == getattr(reference.setup, key), key
    for key in ("n_snow_fluxes", "n_hydro_fluxes", "n_routing_fluxes", "n_internal_fluxes"):
        assert getattr(ours.setup, key) == getattr(reference.setup, key), key


@pytest.mark.parametrize(("module", "hidden"), [("gr4", 16), ("gr4_mlp", 16), ("gr5_ri_mlp_exc", 8)])
def test_network_arrays_are_smash_s(lez, module, hidden):
    reference, ours = _pair(lez, hydrological_module=module, hidden_neuron=hidden)
    for i in (1, 2, 3):
        for kind in ("weight", "bias"):
            key = f"{kind}_{i}"
            np.testing.assert_array_equal(getattr(ours.nn_parameters, key), getattr(reference.nn_parameters, key))
    assert len(ours.get_nn_parameters_weight()) == len(reference.get_nn_parameters_weight())


@pytest.mark.parametrize("optimizer", ["sbs", "lbfgsb", "nelder-mead", "powell", "adam", "sgd", "adagrad", "rmsprop"])
def test_default_options_are_smash_s(lez, optimizer):
    reference, ours = _pair(lez)
    expected = smash.default_optimize_options(reference, optimizer=optimizer)
    got = hydrograd.default_optimize_options(ours, optimizer=optimizer)
    assert got.keys() == expected.keys()
    for key in ("parameters", "control_tfm", "termination_crit", "learning_rate"):
        if key in expected:
            assert got[key] == expected[key], key
    assert got["bounds"] == expected["bounds"]


def test_none_takes_the_default(lez):
    _, ours = _pair(lez)
    options = {"termination_crit": {"maxiter": 1}, "parameters": None, "bounds": None, "control_tfm": None}
    quiet = {"verbose": False}
    got = hydrograd.optimize(ours, optimize_options=options, common_options=quiet, return_options={"cost": True})
    default = hydrograd.optimize(
        ours, optimize_options={"termination_crit": {"maxiter": 1}}, common_options=quiet, return_options={"cost": True}
    )
    assert got[1].cost == default[1].cost
    none_crit = hydrograd.default_optimize_options(ours)
    _, ret = hydrograd.optimize(
        ours, optimize_options={"termination_crit": None}, common_options=quiet, return_options={"n_iter": True}
    )
    assert ret.n_iter <= none_crit["termination_crit"]["maxiter"]


@pytest.mark.parametrize(("routing", "module"), [("lr", "gr4"), ("lag0", "grd"), ("kw", "gr6")])
def test_internal_fluxes_in_smash_s_units(lez, routing, module):
    reference, ours = _pair(lez, hydrological_module=module, routing_module=routing)
    options = {"internal_fluxes": True}
    expected = reference.forward_run(common_options=QUIET, return_options=options).internal_fluxes
    got = ours.forward_run(common_options=QUIET, return_options=options).internal_fluxes
    assert list(got) == list(expected)
    active = ours.mesh.active_cell == 1
    # smash leaves the routing flux of a cell that receives nothing unwritten (uninitialised memory)
    routed = active & (ours.mesh.flwacc > ours.mesh.dx * ours.mesh.dy * 1.5)
    for key, values in got.items():
        where = routed if key in ("qup", "qim1j") else active
        scale = max(float(np.abs(expected[key][where]).max()), 1e-6)
        np.testing.assert_allclose(values[where], expected[key][where], rtol=0, atol=2e-4 * scale, err_msg=key)


def test_setup_rules_and_dates_as_smash(lez, tmp_path):
    (setup, _), (ours_setup, ours_mesh) = lez
    with pytest.raises(ValueError, match="read_snow"):
        hydrograd.Model({**ours_setup, "read_snow": True, "snow_directory": str(tmp_path)}, ours_mesh)
    with pytest.raises(ValueError, match="read_snow"):
        smash.Model({**setup, "read_snow": True, "snow_directory": str(tmp_path)}, ours_mesh)
    dates = {**ours_setup, "end_time": datetime.datetime(2013, 7, 31, 0, 0)}
    hydrograd.io.save_setup(dates, tmp_path / "ours.yaml")
    smash.io.save_setup(dates, str(tmp_path / "theirs.yaml"))
    ours, theirs = hydrograd.io.read_setup(tmp_path / "ours.yaml"), smash.io.read_setup(str(tmp_path / "theirs.yaml"))
    for key in ("start_time", "end_time"):
        assert ours[key] == theirs[key] and type(ours[key]) is type(theirs[key]), key


def test_net_compile_draws_smash_s_weights():
    def build(package):
        net = package.factory.Net()
        net.add_dense(8, input_shape=4, activation="relu", kernel_initializer="he_uniform")
        net.add_dropout(0.1)
        net.add_dense(2, activation="sigmoid", kernel_initializer="glorot_normal")
        net._compile(optimizer="adam", learning_param={"learning_rate": 0.002}, random_state=11)
        return net

    ours, theirs = build(hydrograd), build(smash)
    for a, b in zip(ours.get_weight(), theirs.get_weight(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in zip(ours.get_bias(), theirs.get_bias(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="optimizer"):
        ours._compile(optimizer="lbfgsb")
