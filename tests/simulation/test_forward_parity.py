"""Forward parity with the reference hydro-smash 1.3.0 on its Lez (daily) and Cance (hourly) data."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from tests.simulation._random_maps import randomize

smash = pytest.importorskip("smash")

ROUTINGS = ("zero", "lag0", "lr", "kw")


def _models(name: str, routing: str):
    setup, mesh = smash.factory.load_dataset(name)
    setup["routing_module"] = routing
    reference = smash.Model(setup, mesh)
    setup, mesh = hydrograd.factory.load_dataset(name)
    setup["routing_module"] = routing
    ours = hydrograd.Model(setup, mesh, verbose=False)
    return reference, ours


def _assert_parity(reference, ours):
    reference.forward_run(common_options={"verbose": False})
    ours.forward_run(common_options={"verbose": False})
    peak = np.abs(reference.response.q).max()
    assert peak > 0
    np.testing.assert_allclose(ours.response.q, reference.response.q, rtol=0, atol=1e-4 * peak)
    active = ours.mesh.active_cell == 1
    for key in ours.rr_final_states.keys:
        expected = reference.get_rr_final_states(key)
        scale = max(np.abs(expected[active]).max(), 1e-6)
        np.testing.assert_allclose(ours.get_rr_final_states(key), expected, rtol=0, atol=1e-4 * scale, err_msg=key)


@pytest.mark.parity
@pytest.mark.parametrize("routing", ROUTINGS)
@pytest.mark.parametrize("draw", ["default", "random"])
def test_lez_gr4_forward_matches_reference(routing, draw):
    reference, ours = _models("Lez", routing)
    if draw == "random":
        randomize(reference, ours, seed=ROUTINGS.index(routing))
    _assert_parity(reference, ours)


@pytest.mark.parity
@pytest.mark.parametrize("routing", ["lr", "kw"])
def test_cance_hourly_forward_matches_reference(routing):
    reference, ours = _models("Cance", routing)
    np.testing.assert_array_equal(ours.get_rr_parameters("ci"), reference.get_rr_parameters("ci"))
    randomize(reference, ours, seed=7)
    _assert_parity(reference, ours)


@pytest.mark.parity
@pytest.mark.parametrize("module", ["gr4", "gr6"])
def test_forward_with_missing_forcing_matches_reference(module):
    """Missing rainfall (-99) on some cells and steps, missing evapotranspiration on others: the
    run takes the missing-data branches (the forcing is not complete) and matches the reference."""
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(hydrological_module=module, routing_module="lr")
    reference = smash.Model(setup, mesh)
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    setup.update(hydrological_module=module, routing_module="lr")
    ours = hydrograd.Model(setup, mesh, verbose=False)
    rows, cols = np.nonzero(ours.mesh.active_cell == 1)
    for model in (reference, ours):
        model.atmos_data.prcp[rows[::3], cols[::3], 40:60] = -99.0
        model.atmos_data.pet[rows[1::4], cols[1::4], 100:130] = -99.0
    assert not ours.core_inputs().forcing.complete
    _assert_parity(reference, ours)


@pytest.mark.parity
def test_returned_states_and_domain_discharge_match_reference():
    reference, ours = _models("Lez", "lr")
    options = {"rr_states": True, "q_domain": True, "time_step": ["2012-09-01", "2013-03-01"]}
    ref = reference.forward_run(return_options=options, common_options={"verbose": False})
    got = ours.forward_run(return_options=options, common_options={"verbose": False})
    assert list(got.time_step) == list(ref.time_step)
    assert [list(s.keys) for s in got.rr_states] == [list(s.keys) for s in ref.rr_states]
    for a, b in zip(got.rr_states, ref.rr_states, strict=True):
        np.testing.assert_allclose(a.values, b.values, atol=1e-4 * np.abs(b.values).max())
    np.testing.assert_allclose(got.q_domain, ref.q_domain, atol=1e-4 * np.abs(ref.q_domain).max())
    np.testing.assert_allclose(
        hydrograd.evaluation(ours, ["nse", "kge"]), smash.evaluation(reference, ["nse", "kge"]), rtol=1e-4
    )


@pytest.mark.slow
def test_france_domain_discharge_matches_the_reference(data_root):
    """smash's France dataset (906,044 active cells, 32 hourly steps, gr4/lr): the discharge of
    every cell at every step agrees within 1e-4 of its maximum."""
    setup, mesh = smash.factory.load_dataset("France")
    reference = smash.Model(setup, mesh)
    expected = reference.forward_run(return_options={"q_domain": True}, common_options={"verbose": False}).q_domain
    del reference
    setup, mesh = hydrograd.factory.load_dataset("France")
    ours = hydrograd.Model(setup, mesh, verbose=False)
    got = ours.forward_run(return_options={"q_domain": True}, common_options={"verbose": False}).q_domain
    active = ours.mesh.active_cell == 1
    assert active.sum() == 906_044
    expected, got = expected[active], got[active]
    assert np.isfinite(got).all() and expected.max() > 0
    assert np.abs(got - expected).max() <= 1e-4 * expected.max()
