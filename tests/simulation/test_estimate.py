"""``multiset_estimate``: the weighting, the kernel density and the L-curve on plain arrays; smash's
result layout; clear errors; and parity with hydro-smash 1.3.0 on a few days of Cance (L-curve
values and discharge after the estimate, for one alpha, several and the default range, with sets
from ``Samples`` and from maps)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gaussian_kde

import hydrograd
from hydrograd.simulation.estimate import estimate, kernel_density, lcurve_choice, likelihood, weighted_estimate

QUIET = {"verbose": False}
PROBLEM = {"num_vars": 3, "names": ["cp", "kexc", "hp"], "bounds": [(20, 1000), (-20, 5), (0.2, 0.8)]}
PERIOD = {"start_time": "2014-10-08 00:00", "end_time": "2014-10-14 00:00"}


# ---- the computation on plain arrays ---------------------------------------------------------


def test_kernel_density_is_scipys_gaussian_kde():
    rng = np.random.default_rng(4)
    sets = rng.uniform(0, 10, (3, 4, 9))
    sets[1, 2] = 5.0  # a cell whose values never change: density 1
    sets[2, :] = sets[0, 0]  # cells holding the same values share one estimate
    density = kernel_density(sets)
    assert density.shape == sets.shape and density.dtype == np.float64
    for i, j in np.ndindex(3, 4):
        expected = np.ones(9) if (i, j) == (1, 2) else gaussian_kde(sets[i, j])(sets[i, j])
        np.testing.assert_allclose(density[i, j], expected, rtol=1e-12)


def test_equal_costs_give_the_density_weighted_mean():
    rng = np.random.default_rng(0)
    sets = rng.uniform(1, 2, (2, 3, 5))
    density = rng.uniform(0.5, 1.0, (2, 3, 5))
    values, distance = weighted_estimate(sets, density, likelihood(np.full(5, 0.7, np.float32), 3.0))
    np.testing.assert_allclose(values, (sets * density).sum(-1) / density.sum(-1), rtol=1e-12)
    flat, zero = weighted_estimate(sets, np.ones_like(sets), np.ones(5))
    np.testing.assert_allclose(flat, sets.mean(-1), rtol=1e-12)
    assert zero == pytest.approx(0.0, abs=1e-20)
    assert distance > 0


def test_a_large_alpha_keeps_the_best_run():
    sets = {"cp": np.arange(12.0).reshape(1, 1, 12) + 100, "hp": np.linspace(0.1, 0.9, 12).reshape(1, 1, 12)}
    density = {k: np.ones_like(v) for k, v in sets.items()}
    cost = np.linspace(2.0, 1.0, 12).astype(np.float32)  # the last run is the best
    weight = likelihood(cost, 2.0)
    assert weight[-1] == 1.0 and np.all(np.diff(weight) > 0)
    values, _ = estimate(sets, density, cost, 20.0)
    assert values["cp"][0, 0] == pytest.approx(111.0) and values["hp"][0, 0] == pytest.approx(0.9)
    low, d_low = estimate(sets, density, cost, -5.0)
    _, d_high = estimate(sets, density, cost, 3.0)
    assert abs(low["cp"][0, 0] - 105.5) < 0.5 and d_low < d_high


def test_lcurve_chooses_the_point_nearest_the_origin():
    distance = np.array([0.0, 0.1, 0.5, 2.0])
    cost = np.array([1.0, 0.5, 0.45, 0.4])
    assert lcurve_choice(cost, distance) == 1
    assert lcurve_choice(cost[::-1], distance[::-1]) == 2


# ---- Model and API ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cance():
    setup, mesh = hydrograd.factory.load_dataset("Cance")
    setup.update(PERIOD)
    return hydrograd.Model(setup, mesh, verbose=False)


@pytest.fixture(scope="module")
def multiset(cance):
    samples = hydrograd.factory.generate_samples(PROBLEM, n=8, random_state=2)
    return hydrograd.multiple_forward_run(cance, samples, common_options=QUIET)


def test_results_follow_return_options(cance, multiset):
    model, ret = hydrograd.multiset_estimate(
        cance,
        multiset,
        alpha=1.5,
        common_options=QUIET,
        return_options={
            "time_step": ["2014-10-10 00:00", "2014-10-11 00:00"],
            "q_domain": True,
            "rr_states": True,
            "internal_fluxes": True,
            "cost": True,
            "jobs": True,
            "lcurve_multiset": True,
        },
    )
    assert isinstance(ret, hydrograd.MultisetEstimate)
    grid = cance.mesh.active_cell.shape
    assert ret.q_domain.shape == (*grid, 2) and len(ret.rr_states) == 2 and len(ret.time_step) == 2
    assert set(ret.internal_fluxes) == set(model._structure.fluxes)
    assert ret.cost == ret.jobs == ret.lcurve_multiset["cost"]
    assert list(ret.lcurve_multiset) == ["mahal_dist", "cost"] and ret.lcurve_multiset["mahal_dist"] > 0
    assert np.all(cance.response.q == -99.0), "the free function works on a copy"
    assert np.any(model.get_rr_parameters("cp") != cance.get_rr_parameters("cp"))
    again = cance.copy()
    assert again.multiset_estimate(multiset, alpha=1.5, common_options=QUIET) is None
    np.testing.assert_array_equal(again.response.q, model.response.q)
    np.testing.assert_array_equal(again.get_rr_initial_states("hp"), model.get_rr_initial_states("hp"))


def test_lcurve_layout_and_verbose(cance, multiset, capsys):
    _, ret = hydrograd.multiset_estimate(cance, multiset, alpha=[0, 1, 2, 3], return_options={"lcurve_multiset": True})
    assert capsys.readouterr().out.startswith("</> Multiple Set Estimate")
    curve = ret.lcurve_multiset
    assert list(curve) == ["mahal_dist", "cost", "alpha", "alpha_opt"]
    assert curve["mahal_dist"].shape == curve["cost"].shape == (4,) and curve["cost"].dtype == np.float64
    assert curve["alpha"].dtype.kind == "i" and curve["alpha_opt"] in curve["alpha"]  # as given, as smash's


@pytest.mark.parametrize(
    ("alpha", "error", "match"),
    [
        ("2", TypeError, "alpha must be a number"),
        ({"a": 1}, TypeError, "alpha must be a number"),
        (True, TypeError, "alpha must be a number"),
        ([1, "x"], TypeError, "numbers"),
        ([[1, 2], [3, 4]], ValueError, "one-dimensional"),
        ([], ValueError, "at least one"),
        (np.nan, ValueError, "finite"),
        ([1.0, np.inf], ValueError, "finite"),
    ],
)
def test_bad_alpha_is_refused(cance, multiset, alpha, error, match):
    with pytest.raises(error, match=match):
        hydrograd.multiset_estimate(cance, multiset, alpha=alpha, common_options=QUIET)


def test_bad_arguments_are_refused(cance, multiset):
    with pytest.raises(TypeError, match="multiset must be a MultipleForwardRun"):
        hydrograd.multiset_estimate(cance, {"cost": multiset.cost}, common_options=QUIET)
    with pytest.raises(ValueError, match="return_options"):
        hydrograd.multiset_estimate(cance, multiset, 1.0, QUIET, {"lcurve_wjreg": True})
    broken = multiset.copy()
    broken.cost = np.where(np.arange(len(broken.cost)) == 0, np.nan, broken.cost).astype(np.float32)
    with pytest.raises(ValueError, match="finite and positive"):
        hydrograd.multiset_estimate(cance, broken, 1.0, QUIET)
    lez_setup, lez_mesh = hydrograd.factory.load_dataset("Lez")
    lez = hydrograd.Model(lez_setup, lez_mesh, verbose=False)
    with pytest.raises(ValueError, match="another model"):
        hydrograd.multiset_estimate(lez, multiset, 1.0, QUIET)


# ---- parity with smash -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair():
    smash = pytest.importorskip("smash")
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(PERIOD)
    reference = smash.Model(setup, mesh)
    ours = hydrograd.Model(setup, mesh, verbose=False)
    rng = np.random.default_rng(0)
    grid = mesh["flwdir"].shape
    maps = {
        "cp": [rng.uniform(50, 500, grid).astype(np.float32) for _ in range(6)],
        "hp": [0.2, 0.3, 0.5, 0.6, 0.7, 0.75],
        "kexc": list(rng.uniform(-5, 2, 6)),
    }
    sets = {
        "samples": (
            smash.factory.generate_samples(PROBLEM, n=12, random_state=1),
            hydrograd.factory.generate_samples(PROBLEM, n=12, random_state=1),
        ),
        "maps": (maps, maps),
    }
    multisets = {
        k: (
            smash.multiple_forward_run(reference, s, common_options=QUIET),
            hydrograd.multiple_forward_run(ours, h, common_options=QUIET),
        )
        for k, (s, h) in sets.items()
    }
    return smash, reference, ours, multisets


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["samples", "maps"])
@pytest.mark.parametrize("alpha", [2, np.linspace(-1, 4, 8), None], ids=["scalar", "array", "default"])
def test_estimate_matches_smash(pair, kind, alpha):
    smash, reference, ours, multisets = pair
    expected_set, got_set = multisets[kind]
    options = {"lcurve_multiset": True, "cost": True}
    expected_model, expected = smash.multiset_estimate(reference, expected_set, alpha, QUIET, options)
    got_model, got = hydrograd.multiset_estimate(ours, got_set, alpha, QUIET, options)
    assert list(got.lcurve_multiset) == list(expected.lcurve_multiset)
    # At the default alphas (up to 10) a run's weight exp(-2^alpha (J / J_min - 1)^2) turns float32
    # rounding of its cost (1e-7 relative) into differences of a few 1e-4 between the curves.
    rtol = 1e-3 if alpha is None else 1e-4
    for key, value in expected.lcurve_multiset.items():
        np.testing.assert_allclose(got.lcurve_multiset[key], value, rtol=rtol, err_msg=key)
    assert got.cost == pytest.approx(expected.cost, rel=1e-5)
    active = reference.mesh.active_cell == 1
    for name in ("cp", "kexc"):
        np.testing.assert_allclose(
            got_model.get_rr_parameters(name)[active], expected_model.get_rr_parameters(name)[active], rtol=1e-5
        )
    np.testing.assert_allclose(
        got_model.get_rr_initial_states("hp")[active], expected_model.get_rr_initial_states("hp")[active], rtol=1e-5
    )
    q = expected_model.response.q
    np.testing.assert_allclose(got_model.response.q, q, rtol=0, atol=1e-5 * np.abs(q).max())
