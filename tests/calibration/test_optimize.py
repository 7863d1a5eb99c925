"""Calibration behaviour: results, return options, callbacks, interruption, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration.precision import choose_precision
from hydrograd.optimizers import OPTIMIZERS


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("Lez")
    return smash.Model(setup, mesh, verbose=False)


QUIET = {"verbose": False}


def test_functional_optimize_returns_a_calibrated_copy(model):
    before = model.get_rr_parameters("cp").copy()
    new, ret = smash.optimize(
        model,
        optimizer="adam",
        optimize_options={"termination_crit": {"maxiter": 5}, "learning_rate": 0.05},
        common_options=QUIET,
        return_options={"control_vector": True, "cost": True, "iter_cost": True, "n_iter": True, "projg": True},
    )
    np.testing.assert_array_equal(model.get_rr_parameters("cp"), before)
    assert ret.n_iter == 5 and ret.iter_cost.shape == (6,)
    assert ret.cost < ret.iter_cost[0]
    assert ret.control_vector.shape == (4,) and np.all((ret.control_vector >= 0) & (ret.control_vector <= 1))
    assert not np.allclose(new.get_rr_parameters("cp"), before)
    assert new.get_rr_parameters("cp")[0, 0] == before[0, 0]  # inactive cells untouched


@pytest.mark.parametrize("optimizer", ["lbfgsb", "nelder-mead", "powell", "sgd", "adagrad", "rmsprop"])
def test_every_optimizer_lowers_the_cost(model, optimizer):
    m = model.copy()
    ret = m.optimize(
        optimizer=optimizer,
        optimize_options={"termination_crit": {"maxiter": 3}},
        common_options=QUIET,
        return_options={"cost": True, "iter_cost": True},
    )
    assert ret.cost < ret.iter_cost[0]
    bounds = m.get_rr_parameters_bounds()
    for key, (low, high) in bounds.items():
        values = m.get_rr_parameters(key)[m.mesh.active_cell == 1]
        assert np.all((values >= low - 1e-4) & (values <= high + 1e-4)), key


def test_distributed_multilinear_and_states(model):
    m = model.copy()
    ret = m.optimize(
        mapping="multi-linear",
        optimize_options={
            "parameters": ["cp", "ct", "hp"],
            "descriptor": {"cp": ["slope", "karst"]},
            "termination_crit": {"maxiter": 3},
        },
        cost_options={
            "jobs_cmpt": ["nse", "kge"],
            "wjobs_cmpt": [0.5, 0.5],
            "gauge": "all",
            "end_warmup": "2012-10-01",
        },
        common_options=QUIET,
        return_options={"control_vector": True, "jobs": True, "cost": True},
    )
    assert ret.control_vector.size == (1 + 2) + (1 + 6) + (1 + 6)
    assert ret.cost == pytest.approx(ret.jobs)
    assert np.ptp(m.get_rr_parameters("cp")[m.mesh.active_cell == 1]) > 0
    assert np.ptp(m.get_rr_initial_states("hp")[m.mesh.active_cell == 1]) > 0


def test_regularization_pulls_towards_the_prior(model):
    costs = {}
    for wjreg in (0.0, 10.0):
        m = model.copy()
        m.optimize(
            mapping="distributed",
            optimize_options={"termination_crit": {"maxiter": 5}},
            cost_options={"wjreg": wjreg, "jreg_cmpt": "prior"},
            common_options=QUIET,
        )
        costs[wjreg] = np.abs(m.get_rr_parameters("cp") - model.get_rr_parameters("cp")).mean()
    assert costs[10.0] < costs[0.0]


def test_callback_sees_every_iteration(model):
    seen = []
    model.copy().optimize(
        optimizer="lbfgsb",
        optimize_options={"termination_crit": {"maxiter": 4}},
        common_options=QUIET,
        callback=lambda iopt: seen.append((iopt.n_iter, iopt.cost)),
    )
    assert [n for n, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1] <= seen[0][1]


def test_interruption_leaves_the_model_unchanged(model, capsys):
    m = model.copy()
    before = m.rr_parameters.values.copy()

    def interrupt(iopt):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.optimize(optimize_options={"termination_crit": {"maxiter": 3}}, callback=interrupt)
    np.testing.assert_array_equal(m.rr_parameters.values, before)
    assert "INTERRUPTED" in capsys.readouterr().out


def test_verbose_lines_follow_smash_layout(model, capsys):
    model.copy().optimize(optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": 2}})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "</> Optimize"
    assert lines[1].startswith("    At iterate     0    nfg =     1    J = ")
    assert "|proj g| = " in lines[1]
    assert lines[-1].startswith("    STOP") or lines[-1].startswith("    CONVERGENCE")


def test_default_optimize_options(model):
    oo = smash.default_optimize_options(model)
    assert oo["parameters"] == ["cp", "ct", "kexc", "llr"]
    assert oo["control_tfm"] == "sbs" and oo["termination_crit"] == {"maxiter": 50}
    oo = smash.default_optimize_options(model, mapping="distributed")
    assert oo["control_tfm"] == "normalize"
    assert oo["termination_crit"] == {"maxiter": 100, "factr": 1e6, "pgtol": 1e-12}
    oo = smash.default_optimize_options(model, mapping="multi-linear", optimizer="adam")
    assert list(oo["descriptor"]["cp"]) == list(model.setup.descriptor_name) and oo["learning_rate"] == 0.003


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mapping": "distributd"}, ValueError, "Did you mean 'distributed'"),
        ({"optimizer": "bfgs"}, ValueError, "optimizer"),
        ({"mapping": "distributed", "optimizer": "sbs"}, ValueError, "cannot serve mapping 'distributed'"),
        ({"optimize_options": {"parameters": ["cpp"]}}, ValueError, "Did you mean 'cp'"),
        ({"optimize_options": {"parameters": ["ci"]}}, ValueError, "not calibrated"),
        ({"optimize_options": {"bounds": {"cp": (500, 100)}}}, ValueError, "must be below"),
        ({"optimize_options": {"bounds": {"cp": (-5, 100)}}}, ValueError, "feasible domain"),
        ({"optimize_options": {"bounds": {"cp": (300, 900)}}}, ValueError, "does not contain the current values"),
        ({"optimize_options": {"termination_crit": {"maxiterr": 3}}}, ValueError, "Did you mean 'maxiter'"),
        ({"optimize_options": {"learning_rate": 0.1}}, ValueError, "Unknown optimize_options"),
        ({"optimize_options": {"control_tfm": "log"}}, ValueError, "control_tfm"),
        ({"cost_options": {"gauge": []}}, ValueError, "empty"),
        ({"cost_options": {"end_warmup": "2014-01-01"}}, ValueError, "end_warmup"),
        ({"cost_options": {"wjreg": -1}}, ValueError, "wjreg"),
        ({"cost_options": {"jreg_cmpt": "ridge"}}, ValueError, "jreg_cmpt"),
        ({"return_options": {"iter_costs": True}}, ValueError, "Did you mean 'iter_cost'"),
        ({"callback": 3}, TypeError, "callback"),
    ],
)
def test_bad_input_is_named_before_any_work(model, kwargs, error, match):
    with pytest.raises(error, match=match):
        model.copy().optimize(common_options=QUIET, **kwargs)


def test_gauges_without_observations_are_refused(model):
    m = model.copy()
    m.response_data.q[0, :] = -99.0
    with pytest.raises(ValueError, match="Y3204040"):
        m.optimize(cost_options={"gauge": "all"}, common_options=QUIET)


def test_default_model_precision(model):
    size = (model.mesh.nac, model.setup.ntime_step, model.setup.nrrs)

    def model_precision(mapping, optimizer, requested):
        return choose_precision(OPTIMIZERS[optimizer].uses_gradient, mapping, requested, *size).model

    assert model_precision("distributed", "lbfgsb", None) == "float64"
    assert model_precision("uniform", "adam", None) == "float64"
    assert model_precision("uniform", "sbs", None) == "float32"
    assert model_precision("ann", "adam", None) == "float32"
    assert model_precision("ann", "adam", "float64") == "float64"
