"""``backward_run`` against hydro-smash 1.3.0's ``smash.backward_run`` and against finite
differences of hydrograd's own forward run, on Cance (hourly, 72 steps with the October 2014 flood).

smash's adjoint is single precision: entries a thousand times smaller than the largest one (the
exchange coefficient's, ``kexc`` at its default 0) carry its rounding, so gradients are compared
relative to their largest entry.
"""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from tests._parity import model_pair

smash = pytest.importorskip("smash")

pytestmark = pytest.mark.parity

PERIOD = {"start_time": "2014-10-09 00:00", "end_time": "2014-10-12 00:00"}
QUIET = {"verbose": False}


def _models(structure: dict | None = None):
    """smash's and hydrograd's Cance models over ``PERIOD``, default parameters."""
    return model_pair("Cance", **{**PERIOD, **(structure or {})})


@pytest.fixture(scope="module")
def cance():
    return _models()


def _relative_to_largest(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.abs(b).max())


def _both(cance, **kwargs):
    reference, ours = cance
    returns = {"grad": True, "cost": True} if kwargs.get("diff_target", "j") == "j" else {"grad": True}
    ref = reference.copy().backward_run(common_options=QUIET, return_options=returns, **kwargs)
    got = ours.copy().backward_run(common_options=QUIET, return_options=returns, **kwargs)
    return ref, got


@pytest.mark.parametrize(
    ("mapping", "optimizer"),
    [("uniform", None), ("uniform", "lbfgsb"), ("distributed", None), ("multi-linear", None)],
)
def test_cost_gradient_matches_reference(cance, mapping, optimizer):
    ref, got = _both(cance, mapping=mapping, optimizer=optimizer)
    assert got.grad.dtype == np.float32
    assert got.grad.shape == ref.grad.shape
    assert got.cost == pytest.approx(ref.cost, rel=1e-5)
    assert _relative_to_largest(got.grad, ref.grad) < 1e-4


def test_discharge_gradient_matches_reference_for_any_cotangent(cance):
    """A random cotangent over every active cell and step: the cells must be read in smash's
    column-major order for the distributed gradient (one entry per cell and parameter) to match."""
    reference, _ = cance
    cotangent = np.random.default_rng(0).random((reference.mesh.nac, reference.setup.ntime_step))
    ref, got = _both(cance, diff_target="q", cotangent=cotangent, mapping="distributed")
    assert _relative_to_largest(got.grad, ref.grad) < 1e-4
    ref, got = _both(cance, diff_target="q")
    assert _relative_to_largest(got.grad, ref.grad) < 1e-4


def test_nearly_cancelling_discharge_derivatives_keep_their_digits(cance):
    """The default ``q`` cotangent sums ``dq/dtheta`` over every cell and step; for ``llr`` (a delay
    that moves water in time without changing its volume) the terms nearly cancel. A
    single-precision reverse pass gets even the sign wrong; smash's adjoint, and hydrograd's default
    double-precision one, agree to smash's own test tolerance."""
    ref, got = _both(cance, diff_target="q")
    assert np.allclose(got.grad, ref.grad, rtol=1e-5, atol=1e-2)


def test_cotangent_scales_the_gradient(cance):
    _, ours = cance
    one = ours.copy().backward_run(common_options=QUIET, return_options={"grad": True}).grad
    half = ours.copy().backward_run(cotangent=0.5, common_options=QUIET, return_options={"grad": True}).grad
    np.testing.assert_allclose(half, 0.5 * one, rtol=1e-6)


def test_discharge_gradient_equals_finite_differences_of_the_forward_run(cance):
    """Independent of smash: with ``control_tfm="keep"`` the control is the raw uniform parameters,
    so each entry is the derivative of ``sum(cotangent * q)`` along one parameter, ``q`` every active
    cell's discharge taken from ``q_domain`` in column-major order."""
    _, ours = cance
    model = ours.copy()
    for name, value in {"cp": 250.0, "ct": 120.0, "kexc": -0.2, "llr": 90.0}.items():
        model.set_rr_parameters(name, value)
    cotangent = np.random.default_rng(1).random((model.mesh.nac, model.setup.ntime_step))
    options = {"control_tfm": "keep"}
    ret = model.backward_run(
        "q",
        cotangent,
        optimizer="lbfgsb",
        optimize_options=options,
        common_options=QUIET,
        return_options={"grad": True},
    )
    active = model.mesh.active_cell.T == 1

    def weighted_discharge(name: str, value: float) -> float:
        work = model.copy()
        work.set_rr_parameters(name, value)
        q = work.forward_run(common_options=QUIET, return_options={"q_domain": True}).q_domain
        return float(np.sum(cotangent * q.transpose(1, 0, 2)[active].astype(np.float64)))

    for i, name in enumerate(("cp", "ct", "kexc", "llr")):
        value = float(model.get_rr_parameters(name)[0, 0])
        step = 1e-2 * max(abs(value), 1.0)
        difference = (weighted_discharge(name, value + step) - weighted_discharge(name, value - step)) / (2 * step)
        assert ret.grad[i] == pytest.approx(difference, rel=2e-2), name


def test_ann_mapping_differentiates_the_hybrid_network_only():
    """smash's ann control vector holds the hybrid network's weights alone: empty for a model
    without one, the weights otherwise."""
    ref, got = _both(_models(), mapping="ann")
    assert got.grad.shape == ref.grad.shape == (0,)
    reference, ours = _models({"hydrological_module": "gr4_mlp"})
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.1, w.shape).astype(np.float32) for w in ours.get_nn_parameters_weight()]
    for model in (reference, ours):
        model.set_nn_parameters_weight(value=weights)
    ref, got = _both((reference, ours), mapping="ann")
    assert got.grad.size == ref.grad.size > 0
    assert _relative_to_largest(got.grad, ref.grad) < 1e-3


def test_backward_run_runs_the_model_forward_in_place(cance):
    _, ours = cance
    model = ours.copy()
    assert model.backward_run(common_options=QUIET) is None
    expected = hydrograd.forward_run(ours, common_options=QUIET)
    np.testing.assert_array_equal(model.response.q, expected.response.q)
    np.testing.assert_array_equal(model.rr_final_states.values, expected.rr_final_states.values)
    copy, ret = hydrograd.backward_run(ours, common_options=QUIET, return_options={"grad": True, "q_domain": True})
    assert isinstance(ret, hydrograd.BackwardRun)
    assert ret.q_domain.shape[:2] == ours.mesh.flwdir.shape
    assert np.all(ours.response.q == -99)
    np.testing.assert_array_equal(copy.response.q, expected.response.q)
