"""Independent calibrations evaluated as one program: each catchment ends where its own
calibration ends, a failing search does not stop the others, and what a batch cannot calibrate
is refused before any work."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pytest

from hydrograd.calibration import batch as batch_module
from hydrograd.calibration.batch import _Batch, _Member, _unpad_control, calibrate_batch, gauge_order
from hydrograd.calibration.run import build_problem, calibrate, problem_precision
from hydrograd.config.calibration import check_calibration
from hydrograd.model import Model
from hydrograd.optimizers import _registry


@pytest.fixture(scope="module")
def models(synthetic_region):
    """Two catchments of different sizes and gauge counts (each one calibrated alone compiles its own
    programs: more would cost the suite minutes)."""
    return [Model(setup, mesh, verbose=False) for setup, mesh in list(synthetic_region.values())[:2]]


def _requests(models, **options):
    returns = {"cost": True, "n_iter": True, "iter_cost": True, "control_vector": True}
    return [
        check_calibration(m.facts(values=True), returns=returns, common={"verbose": False}, **options) for m in models
    ]


CASES = {
    "lbfgsb uniform": {
        "mapping": "uniform",
        "optimizer": "lbfgsb",
        "optimize_options": {"termination_crit": {"maxiter": 4}},
    },
    "sbs uniform, one gauge each": {
        "mapping": "uniform",
        "optimizer": "sbs",
        "optimize_options": {"parameters": ["cp", "ct"], "termination_crit": {"maxiter": 2}},
    },
    "lbfgsb distributed, smoothing": {
        "mapping": "distributed",
        "optimizer": "lbfgsb",
        "optimize_options": {"termination_crit": {"maxiter": 2}},
        "cost_options": {"jreg_cmpt": "smoothing", "wjreg": 1e-4, "gauge": "all"},
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_catchment_ends_where_it_would_alone(models, case):
    requests = _requests(models, **CASES[case])
    data = [m.calibration_data() for m in models]
    results = calibrate_batch(data, requests, batch_size=2)
    for one, request, result in zip(data, requests, results, strict=True):
        alone = calibrate(one, request)
        assert result.optimizer.n_iter == alone.optimizer.n_iter
        np.testing.assert_allclose(result.optimizer.iter_cost, alone.optimizer.iter_cost, rtol=1e-5)
        np.testing.assert_allclose(result.optimizer.x, alone.optimizer.x, rtol=1e-4, atol=1e-5)
        assert result.returned["cost"] == pytest.approx(alone.returned["cost"], rel=1e-5)
        np.testing.assert_array_equal(result.returned["control_vector"].shape, alone.returned["control_vector"].shape)
        for name, value in alone.values.items():
            np.testing.assert_allclose(result.values[name], value, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.output.q, alone.output.q, rtol=1e-4, atol=1e-4)


def test_the_rows_of_finished_searches_are_dropped(models, monkeypatch):
    """The first catchment stops after one iteration; the second goes on alone in a program of one
    row, and still ends where it would alone."""
    monkeypatch.setattr(batch_module, "MIN_EVALUATED_ROWS", 1)
    rows = []
    real = _Batch._controls
    monkeypatch.setattr(_Batch, "_controls", lambda self, xs: rows.append(len(self.rows)) or real(self, xs))
    requests = [
        _requests([m], optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": n}})[0]
        for m, n in zip(models, (1, 4), strict=True)
    ]
    data = [m.calibration_data() for m in models]
    results = calibrate_batch(data, requests, batch_size=2)
    assert rows[0] == 2 and 1 in rows and rows[-1] == 2  # full, shrunk, full again for the results
    for one, request, result in zip(data, requests, results, strict=True):
        alone = calibrate(one, request)
        assert result.optimizer.n_iter == alone.optimizer.n_iter
        np.testing.assert_allclose(result.optimizer.x, alone.optimizer.x, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.output.q, alone.output.q, rtol=1e-4, atol=1e-4)


def test_a_failing_search_leaves_the_others_going(models, monkeypatch):
    data = [m.calibration_data() for m in models[:2]]
    requests = _requests(models[:2], optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 2}})
    real = _registry.OPTIMIZERS["lbfgsb"].minimize
    calls = []

    def flaky(functions, x0, *args):
        calls.append(1)
        if len(calls) == 1:
            functions.value_and_grad(x0)  # one round with the other search, then fail
            raise FloatingPointError("search of the first catchment failed")
        return real(functions, x0, *args)

    monkeypatch.setitem(_registry.OPTIMIZERS, "lbfgsb", replace(_registry.OPTIMIZERS["lbfgsb"], minimize=flaky))
    results = calibrate_batch(data, requests)
    failed = [r for r in results if isinstance(r, BaseException)]
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(failed) == 1 and "failed" in str(failed[0])
    assert len(done) == 1 and done[0].optimizer.n_iter == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mapping": "multi-linear"}, "mapping 'multi-linear'"),
        ({"cost_options": {"jreg_cmpt": "prior", "wjreg": "fast"}}, "automatic regularization weight"),
    ],
)
def test_what_a_batch_does_not_calibrate_is_refused_by_name(models, options, match):
    requests = _requests(models[:1], optimizer="lbfgsb", **options)
    with pytest.raises(ValueError, match=f"catchment 'SYN-1'.*{match}"):
        calibrate_batch([models[0].calibration_data()], requests, names=["SYN-1"])


def test_the_batched_gradient_is_each_catchments_own(models):
    """One call of the batched objective gives every catchment the value and gradient its own
    problem gives (the distributed mapping's control padded per block and cut back)."""
    requests = _requests(models, mapping="distributed", optimizer="lbfgsb")
    members = []
    for model, request in zip(models, requests, strict=True):
        data = model.calibration_data()
        precision = problem_precision(data, request)
        with jax.enable_x64(precision.double):
            problem = build_problem(data, request, precision)
        members.append(_Member(data, request, problem, gauge_order(request.cost.gauges, len(data.gauge_codes))))
    batch = _Batch(members, len(members), None)
    rng = np.random.default_rng(0)
    xs = {}
    for k, member in enumerate(members):
        p = member.problem
        xs[k] = np.clip(p.x0 + 0.05 * rng.standard_normal(p.x0.size), p.lower, p.upper)
    values, grads = batch.value_and_grad(xs)
    for k, member in enumerate(members):
        with jax.enable_x64(member.problem.double):
            value, grad = member.problem.value_and_grad(xs[k])
        assert values[k] == pytest.approx(value, rel=1e-5)
        own = _unpad_control(grads[k], member.problem.objective, batch.shape.nac)
        np.testing.assert_allclose(own, grad, rtol=1e-3, atol=1e-6 * np.max(np.abs(grad)))
