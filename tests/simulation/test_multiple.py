"""``multiple_forward_run``: every run of the batched program is the forward run of its set, whatever
the batch size; sets given as numbers or maps; smash's result layout; clear errors; and parity
with hydro-smash 1.3.0 on Lez (daily) and Cance (hourly)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import hydrograd
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.factory import generate_samples
from hydrograd.simulation.multiple import batch_size, multiple_forward

QUIET = {"verbose": False}
PROBLEM = {
    "num_vars": 5,
    "names": ["cp", "ct", "kexc", "llr", "hp"],
    "bounds": [(1, 1000), (1, 1000), (-20, 5), (1, 200), (0.1, 0.9)],
}


@pytest.fixture(scope="module")
def model():
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    return hydrograd.Model(setup, mesh, verbose=False)


def _forward(model, values: dict, cost_options=None):
    """Discharge and cost of one forward run of a copy of ``model`` with ``values``."""
    run = model.copy()
    for name, value in values.items():
        if name in run.rr_parameters.keys:
            run.set_rr_parameters(name, value)
        else:
            run.set_rr_initial_states(name, value)
    ret = run.forward_run(cost_options=cost_options, common_options=QUIET, return_options={"cost": True})
    return run.response.q, ret.cost


def test_each_run_is_the_forward_run_of_its_set(model):
    samples = generate_samples(PROBLEM, n=4, random_state=99)
    ret = hydrograd.multiple_forward_run(model, samples, common_options=QUIET)
    assert ret.q.shape == (model.mesh.ng, model.setup.ntime_step, 4) and ret.q.dtype == np.float32
    assert ret.cost.shape == (4,) and ret.cost.dtype == np.float32
    for i in range(4):
        q, cost = _forward(model, {k: getattr(samples, k)[i] for k in PROBLEM["names"]})
        # Low flows: the float32 rounding of nearly empty stores (core/structures/gr.py) lands one
        # unit apart in a batched program now and then: 1e-6 m3/s, far below a peak's rounding.
        np.testing.assert_allclose(ret.q[..., i], q, rtol=1e-5, atol=1e-5 * np.abs(q).max())
        np.testing.assert_allclose(ret.cost[i], cost, rtol=1e-5)
    assert np.all(model.response.q == -99.0) and np.all(model.rr_final_states.values == -99.0), "the model is untouched"


def test_batches_of_any_size_give_the_same_runs(model):
    samples = generate_samples(PROBLEM, n=7, random_state=3)
    values = {k: getattr(samples, k).astype(np.float32) for k in PROBLEM["names"]}
    spec = observation_cost_spec({"gauge": "all"}, model.facts())
    inputs = model.core_inputs()
    whole = multiple_forward(inputs, values, model.response_data.q, spec, size=7)
    for size in (1, 3):
        cost, q = multiple_forward(inputs, values, model.response_data.q, spec, size=size)
        np.testing.assert_allclose(cost, whole[0], rtol=1e-6)  # reductions vectorised differently
        np.testing.assert_allclose(q, whole[1], rtol=1e-6, atol=1e-9)


def test_batch_size_follows_the_budget(model):
    inputs = model.core_inputs()
    assert batch_size(inputs, 1000, budget=1) == 1
    assert batch_size(inputs, 5, budget=1 << 40) == 5
    assert 1 <= batch_size(inputs, 1000) <= 1000
    assert batch_size(inputs, 1000, budget=1 << 20) > batch_size(inputs, 1000, budget=1 << 16)


def test_sets_given_as_numbers_and_maps(model):
    rng = np.random.default_rng(0)
    grid = model.mesh.flwdir.shape
    cp_maps = [rng.uniform(50, 500, grid).astype(np.float32) for _ in range(3)]
    samples = {"cp": cp_maps, "hp": [0.2, 0.5, np.full(grid, 0.8)], "llr": [10, 20.0, np.float32(30)]}
    ret = hydrograd.multiple_forward_run(model, samples, common_options=QUIET)
    for i in range(3):
        q, cost = _forward(model, {k: v[i] for k, v in samples.items()})
        # Low flows: the float32 rounding of nearly empty stores (core/structures/gr.py) lands one
        # unit apart in a batched program now and then: 1e-6 m3/s, far below a peak's rounding.
        np.testing.assert_allclose(ret.q[..., i], q, rtol=1e-5, atol=1e-5 * np.abs(q).max())
        np.testing.assert_allclose(ret.cost[i], cost, rtol=1e-5)
    spatialized = ret._spatialized_samples
    assert spatialized["cp"].shape == (*grid, 3) and spatialized["cp"].dtype == np.float32
    np.testing.assert_array_equal(spatialized["cp"][..., 1], cp_maps[1])
    np.testing.assert_array_equal(spatialized["llr"][..., 1], np.full(grid, 20.0, np.float32))
    assert ret._samples is None


def test_result_keeps_smashs_private_attributes(model):
    samples = generate_samples(PROBLEM, n=3, random_state=1)
    options = {"jobs_cmpt": "kge", "gauge": "all"}
    ret = hydrograd.multiple_forward_run(model, samples, cost_options=options, common_options=QUIET)
    assert ret._samples is samples
    assert ret._cost_options == options and ret._cost_options is not options
    cp = ret._spatialized_samples["cp"]
    assert cp.shape == (*model.mesh.flwdir.shape, 3) and cp.dtype == np.float64
    np.testing.assert_array_equal(cp[2, 5], samples.cp)
    assert "cost" in repr(ret) and "_samples" not in repr(ret)
    assert isinstance(ret, hydrograd.MultipleForwardRun)


def test_cost_options_are_those_of_forward_run(model):
    samples = generate_samples(PROBLEM, n=2, random_state=5)
    options = {
        "jobs_cmpt": ["nse", "Crc", "Epf"],
        "wjobs_cmpt": [0.5, 0.3, 0.2],
        "jobs_cmpt_tfm": ["sqrt", "keep", "keep"],
        "end_warmup": "2013-01-01",
        "gauge": "all",
        "wgauge": "median",
    }
    ret = hydrograd.multiple_forward_run(model, samples, cost_options=options, common_options=QUIET)
    for i in range(2):
        _, cost = _forward(model, {k: getattr(samples, k)[i] for k in PROBLEM["names"]}, options)
        np.testing.assert_allclose(ret.cost[i], cost, rtol=1e-5)


def test_gauge_without_observations_warns_and_costs_nan(model):
    blind = model.copy()
    blind.response_data.q[0] = -99.0
    samples = generate_samples(PROBLEM, n=2, random_state=0)
    with pytest.warns(UserWarning, match="No observed discharge"):
        ret = hydrograd.multiple_forward_run(blind, samples, common_options=QUIET)
    assert np.isnan(ret.cost).all() and np.isfinite(ret.q).all()


def test_verbose_prints_smashs_lines(model, capsys):
    hydrograd.multiple_forward_run(model, {"cp": [100.0]})
    lines = "</> Multiple Forward Run\n\r    Forward Run 0/1 (0%)\r    Forward Run 1/1 (100%)\n"
    assert capsys.readouterr().out == lines
    hydrograd.multiple_forward_run(model, {"cp": [100.0]}, common_options=QUIET)
    assert capsys.readouterr().out == ""


def test_progress_moves_on_with_each_batch(model, capsys):
    spec = observation_cost_spec(None, model.facts())
    values = {"cp": np.array([100.0, 200.0, 300.0], dtype=np.float32)}
    quiet = multiple_forward(model.core_inputs(), values, model.response_data.q, spec, size=2)
    assert capsys.readouterr().out == ""
    loud = multiple_forward(model.core_inputs(), values, model.response_data.q, spec, size=2, verbose=True)
    lines = capsys.readouterr().out
    assert lines == "\r    Forward Run 0/3 (0%)\r    Forward Run 2/3 (66%)\r    Forward Run 3/3 (100%)\n"
    np.testing.assert_array_equal(loud[0], quiet[0])
    np.testing.assert_array_equal(loud[1], quiet[1])


@pytest.mark.parametrize(
    ("samples", "error", "match"),
    [
        ({"hpp": [1.0]}, ValueError, "Unknown model rr_parameter or rr_initial_state 'hpp'.*Did you mean 'hp'"),
        ({"cp": [100.0, 0.0]}, ValueError, "outside its feasible domain"),
        ({"hp": [1.5]}, ValueError, "outside its feasible domain"),
        ({"cp": [np.nan]}, ValueError, "NaN or inf"),
        ({"cp": [1.0, 2.0], "ct": [1.0]}, ValueError, "same length"),
        ({}, ValueError, "cannot be empty"),
        ({"cp": []}, ValueError, "empty sequences"),
        ({"cp": 100.0}, ValueError, "non-iterable"),
        ({"cp": [np.ones((3, 3))]}, ValueError, "scalar or an array of shape"),
        ({"cp": ["big"]}, TypeError, "must be a number or an array"),
        ([("cp", [1.0])], TypeError, "Samples object or a dict"),
    ],
)
def test_bad_samples_are_refused_clearly(model, samples, error, match):
    with pytest.raises(error, match=match):
        hydrograd.multiple_forward_run(model, samples, common_options=QUIET)


def test_samples_outside_the_feasible_domain_are_refused(model):
    problem = {"num_vars": 2, "names": ["cp", "kexc"], "bounds": [(-5, 0.5), (-1, 1)]}
    with pytest.raises(ValueError, match="Invalid sample values for rr_parameter 'cp'"):
        hydrograd.multiple_forward_run(model, generate_samples(problem, n=10, random_state=0), common_options=QUIET)
    problem = {"num_vars": 1, "names": ["x"], "bounds": [(0, 1)]}
    with pytest.raises(ValueError, match="'x' in samples attributes"):
        hydrograd.multiple_forward_run(model, generate_samples(problem, n=2), common_options=QUIET)
    with pytest.raises(TypeError, match=r"must be a hydrograd\.Model"):
        hydrograd.multiple_forward_run(None, {"cp": [1.0]})


def _pair(name: str):
    smash = pytest.importorskip("smash")
    setup, mesh = smash.factory.load_dataset(name)
    reference = smash.Model(setup, mesh)
    setup, mesh = hydrograd.factory.load_dataset(name)
    return smash, reference, hydrograd.Model(setup, mesh, verbose=False)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("name", "cost_options"),
    [("Lez", None), ("Cance", None), ("Lez", {"jobs_cmpt": ["kge", "Crc"], "gauge": "all", "wgauge": "mean"})],
)
def test_runs_and_costs_match_smash(name, cost_options):
    smash, reference, ours = _pair(name)
    kwargs = {"n": 8, "random_state": 11}
    expected = smash.multiple_forward_run(
        reference,
        smash.factory.generate_samples(PROBLEM, **kwargs),
        cost_options=None if cost_options is None else dict(cost_options),
        common_options=QUIET,
    )
    got = hydrograd.multiple_forward_run(
        ours, generate_samples(PROBLEM, **kwargs), cost_options=cost_options, common_options=QUIET
    )
    assert got.q.shape == expected.q.shape and got.q.dtype == expected.q.dtype
    assert got.cost.shape == expected.cost.shape and got.cost.dtype == expected.cost.dtype
    peak = np.abs(expected.q).max()
    np.testing.assert_allclose(got.q, expected.q, rtol=0, atol=1e-5 * peak)
    np.testing.assert_allclose(got.cost, expected.cost, rtol=1e-4, atol=1e-5)


@pytest.mark.parity
def test_sets_of_maps_match_smash():
    smash, reference, ours = _pair("Lez")
    rng = np.random.default_rng(2)
    grid = ours.mesh.flwdir.shape
    samples = {"cp": [rng.uniform(50, 800, grid).astype(np.float32) for _ in range(3)], "ht": [0.1, 0.4, 0.9]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = smash.multiple_forward_run(reference, samples, common_options=QUIET)
    got = hydrograd.multiple_forward_run(ours, samples, common_options=QUIET)
    np.testing.assert_allclose(got.q, expected.q, rtol=0, atol=1e-5 * np.abs(expected.q).max())
    np.testing.assert_allclose(got.cost, expected.cost, rtol=1e-4)
    for key in samples:
        np.testing.assert_array_equal(got._spatialized_samples[key], expected._spatialized_samples[key])
