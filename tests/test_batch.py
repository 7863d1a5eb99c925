"""``ModelBatch``: many catchments' models run and calibrated together, each left as its own
method would leave it; the batch axis split over several devices gives the same numbers."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hydrograd
from hydrograd import ModelBatch


@pytest.fixture(scope="module")
def models(synthetic_region):
    return {name: hydrograd.Model(setup, mesh, verbose=False) for name, (setup, mesh) in synthetic_region.items()}


def test_forward_run_writes_each_model_as_its_own_forward_run(models):
    batch = ModelBatch({k: copy.deepcopy(m) for k, m in models.items()}, batch_size=2)
    returns = {"q_domain": True, "rr_states": True}
    rets = batch.forward_run(return_options=returns, common_options={"verbose": False})
    for (name, model), ret in zip(models.items(), rets, strict=True):
        alone = copy.deepcopy(model)
        expected = alone.forward_run(return_options=returns, common_options={"verbose": False})
        np.testing.assert_allclose(batch[name].response.q, alone.response.q, rtol=1e-5, atol=1e-5)
        final, expected_final = batch[name].rr_final_states.values, alone.rr_final_states.values
        np.testing.assert_allclose(final, expected_final, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ret.q_domain, expected.q_domain, rtol=1e-5, atol=1e-5)
        assert ret.time_step.equals(expected.time_step)


def test_optimize_writes_each_model_as_its_own_optimize(models):
    options = {
        "optimizer": "lbfgsb",
        "optimize_options": {"termination_crit": {"maxiter": 2}},
        "return_options": {"cost": True, "n_iter": True},
    }
    batch = ModelBatch([copy.deepcopy(m) for m in models.values()])
    rets = batch.optimize(**options)
    for model, calibrated, ret in zip(models.values(), batch, rets, strict=True):
        alone = copy.deepcopy(model)
        expected = alone.optimize(**options, common_options={"verbose": False})
        assert ret.n_iter == expected.n_iter
        assert ret.cost == pytest.approx(expected.cost, rel=1e-5)
        np.testing.assert_allclose(calibrated.rr_parameters.values, alone.rr_parameters.values, rtol=1e-5)
        np.testing.assert_allclose(calibrated.response.q, alone.response.q, rtol=1e-4, atol=1e-4)


def test_a_batch_names_what_is_wrong(models):
    with pytest.raises(TypeError, match="'1' is a dict"):
        ModelBatch([next(iter(models.values())), {}])
    with pytest.raises(ValueError, match="at least one model"):
        ModelBatch([])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        ModelBatch(models, batch_size=0)
    batch = ModelBatch(models)
    with pytest.raises(KeyError, match="no catchment 'SYN-99'"):
        batch["SYN-99"]
    assert len(batch) == 3 and batch["SYN-1"] is models["SYN-1"]


SHARDED = textwrap.dedent(
    """
    import copy, json, sys
    import numpy as np
    import jax
    import hydrograd
    region = hydrograd.factory.load_dataset("SyntheticRegion", n=3)
    models = [hydrograd.Model(s, m, verbose=False) for s, m in region.values()]
    options = {"optimizer": "lbfgsb", "optimize_options": {"termination_crit": {"maxiter": 1}},
               "return_options": {"cost": True}}
    out = {"devices": len(jax.devices())}
    for n in (1, 2):
        batch = hydrograd.ModelBatch([copy.deepcopy(m) for m in models], n_devices=n)
        out[f"cost{n}"] = [r.cost for r in batch.optimize(**options)]
        out[f"q{n}"] = [float(np.sum(m.response.q)) for m in batch]
    json.dump(out, sys.stdout)
    """
)


def test_two_devices_give_the_numbers_of_one():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    run = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    np.testing.assert_allclose(out["cost2"], out["cost1"], rtol=1e-6)
    np.testing.assert_allclose(out["q2"], out["q1"], rtol=1e-5)


REGIONAL = {"optimizer": "adam", "optimize_options": {"termination_crit": {"maxiter": 3}, "random_state": 1}}


def test_a_held_out_catchment_takes_no_part_in_the_training(models):
    """The held-out catchment's observations do not move the training (doubling them changes no
    iterate); the reported NSE is the one of each model's own run with the written values."""
    names = list(models)
    batch = ModelBatch({k: copy.deepcopy(m) for k, m in models.items()})
    held_out = batch.regionalize(validation=[names[2]], **REGIONAL)
    changed = {k: copy.deepcopy(m) for k, m in models.items()}
    changed[names[2]].response_data.q = 2 * changed[names[2]].response_data.q
    again = ModelBatch(changed).regionalize(validation=[names[2]], **REGIONAL)
    np.testing.assert_allclose(held_out.iter_cost, again.iter_cost, rtol=1e-9)
    assert list(held_out.nse["role"]) == ["training", "training", "validation"]
    assert held_out.iter_cost[-1] < held_out.iter_cost[0]
    for name, nse in zip(held_out.nse["catchment"], held_out.nse["nse"], strict=True):
        model = batch[name]
        outlet = int(np.argmax(model.mesh.area))  # the cost's gauge: the most downstream one
        obs, sim = model.response_data.q[outlet], model.response.q[outlet]
        valid = obs >= 0
        expected = 1 - np.sum((obs[valid] - sim[valid]) ** 2) / np.sum((obs[valid] - obs[valid].mean()) ** 2)
        assert nse == pytest.approx(expected, abs=1e-4)


def test_regionalize_refuses_unknown_validation_names(models):
    with pytest.raises(KeyError, match="SYN-99"):
        ModelBatch(models).regionalize(validation=["SYN-99"])
