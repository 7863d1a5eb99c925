"""``bayesian_optimize`` and its control vector against hydro-smash 1.3.0, and the gradient of the
Bayesian cost against finite differences, on Cance (hourly, the October 2014 flood)."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from scipy import stats

import hydrograd
from hydrograd.calibration.run import build_problem, problem_precision
from hydrograd.config.calibration import check_bayesian
from tests._parity import model_pair

smash = pytest.importorskip("smash")

pytestmark = pytest.mark.parity

PERIOD = {"start_time": "2014-10-09 00:00", "end_time": "2014-10-14 00:00"}
QUIET = {"verbose": False}
RETURNS = {"cost": True, "log_lkh": True, "log_prior": True, "log_h": True, "control_vector": True}


def _models(extra: dict | None = None):
    return model_pair("Cance", **{**PERIOD, **(extra or {})})


@pytest.fixture(scope="module")
def cance():
    return _models()


@pytest.fixture(scope="module")
def cance_power():
    """Structural error of mean ``Linear`` and deviation ``Power``."""
    return _models({"serr_mu_mapping": "Linear", "serr_sigma_mapping": "Power", "descriptor_name": ["slope", "dd"]})


def _both(pair, **kwargs):
    reference, ours = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smash.bayesian_optimize(reference, common_options=QUIET, return_options=RETURNS, **kwargs)
        got = hydrograd.bayesian_optimize(ours, common_options=QUIET, return_options=RETURNS, **kwargs)
    return ref, got


def _assert_same_result(ref, got, rtol):
    (ref_model, ref_ret), (model, ret) = ref, got
    assert ret.cost == pytest.approx(ref_ret.cost, rel=rtol)
    assert ret.log_lkh == pytest.approx(ref_ret.log_lkh, rel=rtol)
    assert ret.log_prior == pytest.approx(ref_ret.log_prior, rel=rtol, abs=1e-3)
    assert ret.log_h == ref_ret.log_h == 0.0
    np.testing.assert_allclose(ret.control_vector, ref_ret.control_vector, rtol=rtol, atol=rtol)
    for name in ("serr_mu_parameters", "serr_sigma_parameters"):
        assert list(getattr(model, name).keys) == list(getattr(ref_model, name).keys)
        np.testing.assert_allclose(getattr(model, name).values, getattr(ref_model, name).values, rtol=rtol)
    q, q_ref = model.response.q, ref_model.response.q
    np.testing.assert_allclose(q, q_ref, atol=rtol * q_ref.max())


def test_lbfgsb_steps_as_smash(cance):
    ref, got = _both(
        cance, optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 2}}, cost_options={"gauge": "all"}
    )
    _assert_same_result(ref, got, 2e-3)


def test_sbs_with_priors_given_out_of_order_applies_them_as_smash(cance):
    """smash 1.3.0 applies the priors by position: ``kexc-0``'s, given second, lands on ``ct-0``
    (the control's second entry); hydrograd does the same by default, and says so."""
    prior = {"cp-0": ["Gaussian", [200, 100]], "kexc-0": ["Gaussian", [0, 5]]}
    options = {"optimizer": "sbs", "optimize_options": {"termination_crit": {"maxiter": 1}}}
    ref, got = _both(cance, cost_options={"gauge": "all", "control_prior": prior}, **options)
    _assert_same_result(ref, got, 1e-5)
    with pytest.warns(UserWarning, match="by position"):
        hydrograd.bayesian_optimize(cance[1], cost_options={"control_prior": prior}, common_options=QUIET, **options)


def test_priors_by_name_on_request(cance):
    prior = {"kexc-0": ["Gaussian", [0.5, 2.0]]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, ret = hydrograd.bayesian_optimize(
            cance[1],
            optimizer="sbs",
            optimize_options={"termination_crit": {"maxiter": 1}},
            cost_options={"control_prior": prior, "control_prior_by_name": True},
            common_options=QUIET,
            return_options={"log_prior": True},
        )
    kexc = float(model.get_rr_parameters("kexc")[0, 0])
    assert ret.log_prior == pytest.approx(stats.norm.logpdf(kexc, 0.5, 2.0), rel=1e-5)


def test_distributed_serr_power_matches_smash(cance_power):
    options = {
        "parameters": ["cp", "ct", "kexc", "llr", "mg0", "sg0", "sg2"],
        "bounds": {"cp": (10, 500), "llr": (1, 500), "sg0": (1e-6, 1e2)},
        "termination_crit": {"maxiter": 1},
    }
    ref, got = _both(cance_power, mapping="distributed", optimizer="lbfgsb", optimize_options=options)
    _assert_same_result(ref, got, 5e-3)


@pytest.mark.parametrize(
    ("mapping", "optimizer", "cost_options"),
    [
        ("uniform", "sbs", {"gauge": "all"}),
        ("distributed", "lbfgsb", None),
        ("multi-linear", "lbfgsb", {"gauge": ["V3524010", "V3517010"]}),
        ("multi-power", "adam", None),
    ],
)
def test_control_info_matches_smash(cance_power, mapping, optimizer, cost_options):
    reference, ours = cance_power
    options = {"parameters": ["cp", "hp", "mg1", "sg0", "sg1", "sg2"]}
    ref = smash.bayesian_optimize_control_info(reference, mapping, optimizer, options, cost_options)
    got = hydrograd.bayesian_optimize_control_info(ours, mapping, optimizer, options, cost_options)
    assert list(got["name"]) == list(ref["name"])
    np.testing.assert_array_equal(got["nbk"], ref["nbk"])
    np.testing.assert_array_equal(got["nbd"], ref["nbd"])
    for key in ("x", "l", "u", "x_raw", "l_raw", "u_raw"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_set_control_writes_the_structural_error_parameters(cance_power):
    reference, ours = cance_power
    reference, ours = reference.copy(), ours.copy()
    kwargs = {"optimizer": "lbfgsb", "cost_options": {"gauge": "all"}}
    info = hydrograd.bayesian_optimize_control_info(ours, **kwargs)
    x = np.asarray(info["x"]) * np.float32(0.9)
    reference.set_control_bayesian_optimize(x, **kwargs)
    ours.set_control_bayesian_optimize(x, **kwargs)
    for name in ("serr_mu_parameters", "serr_sigma_parameters"):
        np.testing.assert_allclose(getattr(ours, name).values, getattr(reference, name).values, rtol=1e-6)
    np.testing.assert_allclose(ours.get_rr_parameters("cp"), reference.get_rr_parameters("cp"), rtol=1e-6)


@pytest.mark.parametrize(("mapping", "optimizer"), [("uniform", None), ("multi-linear", "lbfgsb")])
def test_default_options_match_smash(cance_power, mapping, optimizer):
    reference, ours = cance_power
    ref = smash.default_bayesian_optimize_options(reference, mapping, optimizer)
    got = hydrograd.default_bayesian_optimize_options(ours, mapping, optimizer)
    assert list(got["parameters"]) == list(ref["parameters"])
    assert list(got["bounds"]) == list(ref["bounds"])
    for key, pair in ref["bounds"].items():
        assert got["bounds"][key] == pytest.approx(pair), key
    assert got["control_tfm"] == ref["control_tfm"]
    assert got["termination_crit"] == ref["termination_crit"]


def test_cost_gradient_matches_finite_differences(cance_power):
    ours = cance_power[1]
    ours = ours.copy()
    ours.set_serr_mu_parameters("mg1", 0.05)
    request = check_bayesian(
        ours.facts(values=True),
        optimizer="lbfgsb",
        optimize_options={"parameters": ["cp", "ct", "kexc", "mg0", "mg1", "sg0", "sg1", "sg2"]},
        cost_options={"control_prior": {"cp-0": ["LogNormal", [5.0, 1.0]], "ct-0": ["Gaussian", [300, 100]]}},
        common={"precision": "float64"},
    )
    data = ours.calibration_data()
    precision = problem_precision(data, request)
    with jax.enable_x64(True):
        problem = build_problem(data, request, precision)
        x = np.asarray(problem.x0, np.float64) * 0.95 + 0.02
        _, grad = problem.value_and_grad(x)
        h = 1e-6
        fd = np.array([(problem.cost(x + h * e) - problem.cost(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mapping": "ann"}, ValueError, "cannot serve bayesian_optimize"),
        (
            {"cost_options": {"control_prior": {"zz-0": ["Gaussian", [0, 1]]}}},
            ValueError,
            "Unknown control name 'zz-0'",
        ),
        ({"cost_options": {"control_prior": {"cp-0": ["Cauchy", [0, 1]]}}}, ValueError, "Cauchy"),
        ({"cost_options": {"control_prior": {"cp-0": ["Gaussian", [0]]}}}, ValueError, "takes 2 parameter"),
        ({"cost_options": {"control_prior": {"cp-0": ["Gaussian", [0, -1]]}}}, ValueError, "not a valid 'Gaussian'"),
        ({"cost_options": {"control_prior": {"cp-0": "Gaussian"}}}, TypeError, "pair"),
        ({"cost_options": {"wgauge": "mean"}}, ValueError, "wgauge"),
        ({"optimize_options": {"parameters": ["cp", "sg7"]}}, ValueError, "sg7"),
        ({"optimize_options": {"bounds": {"sg0": (-1, 10)}}}, ValueError, "sg0"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(cance, kwargs, error, match):
    with pytest.raises(error, match=match):
        hydrograd.bayesian_optimize(cance[1], common_options=QUIET, **kwargs)


def test_hybrid_structure_control_and_steps_match_smash():
    """gr4_mlp: the network's weights follow the structural-error blocks, as in smash."""
    pair = _models({"hydrological_module": "gr4_mlp", "end_time": "2014-10-12 00:00"})
    for model in pair:
        model.set_nn_parameters_weight(initializer="glorot_uniform", random_state=0)
    reference, ours = pair
    ref_info = smash.bayesian_optimize_control_info(reference, optimizer="lbfgsb", cost_options={"gauge": "all"})
    info = hydrograd.bayesian_optimize_control_info(ours, optimizer="lbfgsb", cost_options={"gauge": "all"})
    assert list(info["name"]) == list(ref_info["name"])
    np.testing.assert_array_equal(info["nbk"], ref_info["nbk"])
    np.testing.assert_allclose(info["x"], ref_info["x"], rtol=1e-6)
    ref, got = _both(pair, optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 2}})
    assert got[1].cost == pytest.approx(ref[1].cost, rel=1e-5)
    np.testing.assert_allclose(got[1].control_vector, ref[1].control_vector, atol=1e-4)
