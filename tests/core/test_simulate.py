"""The time loop: its two schedules, memory-bounded checkpointing and step-indexed forcing change nothing."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd as smash
from hydrograd.core import simulate as core
from tests._inputs import as_float64, read_catchment

RECORD_ALL = core.Record(states=True, q_domain=True, fluxes=True)


@pytest.fixture(scope="module")
def inputs64():
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(start_time="2012-09-01", end_time="2012-11-30")
    catchment = read_catchment(setup, mesh)
    with jax.enable_x64(True):
        yield as_float64(catchment.core_inputs())


def _value_and_grad(inputs, schedule="auto"):
    def cost(params):
        out = core.simulate(inputs.replace(params=params), schedule=schedule)
        return jnp.sum(out.q**2) + jnp.sum(out.final_states["hp"])

    return jax.value_and_grad(cost)(inputs.params)


@pytest.mark.parametrize("schedule", ["sweep", "wavefront"])
def test_chunked_checkpointing_gives_the_same_value_and_gradient(inputs64, monkeypatch, schedule):
    plain = _value_and_grad(inputs64, schedule)
    monkeypatch.setattr(core, "CHECKPOINT_BUDGET", 0)
    chunked = _value_and_grad(inputs64, schedule)
    assert float(chunked[0]) == pytest.approx(float(plain[0]), rel=1e-12)
    for key, grad in plain[1].items():
        np.testing.assert_allclose(chunked[1][key], grad, rtol=1e-10, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("n", [4, 5, 7, 32, 90, 720, 1440, 8760])
def test_chunks_run_the_fewest_padding_steps_within_the_square_root_memory(n):
    chunk = core.chunk_length(n)
    n_chunks = -(-n // chunk)
    root = int(np.ceil(np.sqrt(n)))
    kept_by_root = root + -(-n // root)
    assert chunk + n_chunks <= kept_by_root
    fewest = min(-(-n // c) * c for c in range(1, n + 1) if c + -(-n // c) <= kept_by_root)
    assert n_chunks * chunk == fewest
    assert n_chunks * chunk - n < n_chunks


def test_indexed_forcing_equals_materialised_forcing(inputs64):
    forcing = inputs64.forcing
    n = forcing.prcp.shape[0]
    cycle = np.arange(n) % 7
    shared = core.Forcing(forcing.prcp[:7], forcing.pet[:7], jnp.asarray(cycle))
    materialised = core.Forcing(forcing.prcp[cycle], forcing.pet[cycle])
    a = core.simulate(inputs64.replace(forcing=shared))
    b = core.simulate(inputs64.replace(forcing=materialised))
    np.testing.assert_array_equal(a.q, b.q)
    assert shared.ntime_step == n


def _core_inputs64(**setup_keys):
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(start_time="2012-09-01", end_time="2012-10-31", **setup_keys)
    return as_float64(read_catchment(setup, mesh).core_inputs())


def _run_and_gradient(inputs, schedule="auto"):
    """Every record of a run, and the gradient of a cost of discharge and final states with
    respect to parameters and initial states."""
    recorded = core.simulate(inputs, RECORD_ALL, schedule)

    def cost(params, states):
        out = core.simulate(inputs.replace(params=params, initial_states=states), schedule=schedule)
        return jnp.sum(jnp.sin(out.q)) + sum(jnp.sum(v**2) for v in out.final_states.values())

    return recorded, jax.grad(cost, argnums=(0, 1))(inputs.params, inputs.initial_states)


def _draw_network(inputs, seed: int):
    """``inputs`` with the hybrid network's weights and biases replaced by random N(0, 0.3) values."""
    rng = np.random.default_rng(seed)
    return inputs.replace(
        flux_correction=jax.tree_util.tree_map(
            lambda a: jnp.asarray(rng.normal(0.0, 0.3, a.shape)) if jnp.issubdtype(a.dtype, jnp.floating) else a,
            inputs.flux_correction,
        )
    )


def _assert_same_run_and_gradient(expected, got):
    """Two results of ``_run_and_gradient`` agree leaf by leaf to 1e-12 of each leaf's scale."""
    flat_expected, tree = jax.tree_util.tree_flatten(expected)
    flat_got, tree_got = jax.tree_util.tree_flatten(got)
    assert tree == tree_got
    assert float(jnp.max(expected[0].q)) > 0.0
    for a, b in zip(flat_expected, flat_got, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(a))))


@pytest.mark.parametrize(
    "setup_keys",
    [
        {"routing_module": "lr"},
        {"routing_module": "kw"},
        {"routing_module": "lag0"},
        {"hydrological_module": "gr4_mlp", "hidden_neuron": 6},
    ],
    ids=["lr", "kw", "lag0", "gr4_mlp-lr"],
)
def test_wavefront_and_sweep_schedules_give_the_same_run_and_gradient(setup_keys):
    with jax.enable_x64(True):
        inputs = _core_inputs64(**setup_keys)
        if "hidden_neuron" in setup_keys:
            inputs = _draw_network(inputs, seed=0)
        sweep = _run_and_gradient(inputs, schedule="sweep")
        wave = _run_and_gradient(inputs, schedule="wavefront")
    _assert_same_run_and_gradient(sweep, wave)


@pytest.mark.parametrize("routing_module", ["lr", "lag0"])
def test_routing_by_doubling_gives_the_level_sweeps_run_and_gradient(routing_module, monkeypatch, request):
    from hydrograd.core import routing

    with jax.enable_x64(True):
        inputs = _core_inputs64(routing_module=routing_module)
        levels = _run_and_gradient(inputs, schedule="sweep")
        request.getfixturevalue("routing_by_doubling")
        calls = []
        doubling = routing.doubling
        monkeypatch.setattr(routing, "doubling", lambda *args: calls.append(1) or doubling(*args))
        doubled = _run_and_gradient(inputs, schedule="sweep")
        assert calls
        _assert_same_run_and_gradient(levels, doubled)


@pytest.mark.parametrize("indexed", [False, True], ids=["materialised", "indexed"])
def test_wavefront_reading_time_ordered_forcing_without_a_copy_changes_nothing(inputs64, monkeypatch, indexed):
    inputs = inputs64
    if indexed:
        forcing = inputs.forcing
        cycle = jnp.asarray(np.arange(forcing.ntime_step) % 6)
        inputs = inputs.replace(forcing=core.Forcing(forcing.prcp[:6], forcing.pet[:6], cycle))
    copied = _value_and_grad(inputs, "wavefront")
    monkeypatch.setattr(core, "FORCING_COPY_BUDGET", 0)
    read_in_place = _value_and_grad(inputs, "wavefront")
    assert float(read_in_place[0]) == float(copied[0])
    for key, grad in copied[1].items():
        np.testing.assert_array_equal(read_in_place[1][key], grad, err_msg=key)


def test_wavefront_forcing_prepared_once_equals_forcing_reordered_in_the_run():
    with jax.enable_x64(True):
        inputs = _core_inputs64()
        forcing, graph = inputs.forcing, inputs.graph
        cycle = jnp.asarray(np.arange(forcing.ntime_step) % 5)
        indexed = core.Forcing(forcing.prcp[:5], forcing.pet[:5], cycle)
        in_run = core.simulate(inputs.replace(forcing=indexed), schedule="wavefront")
        prepared = core.wavefront_forcing(indexed, graph, xp=np)
        once = core.simulate(inputs.replace(forcing=prepared))
        materialised = core.simulate(inputs.replace(forcing=core.Forcing(forcing.prcp[cycle], forcing.pet[cycle])))
    offset = np.asarray(graph.wave_offset)
    first = np.flatnonzero(offset == offset.max())[0]
    np.testing.assert_array_equal(prepared.prcp[offset.max() : offset.max() + 5, first], forcing.prcp[:5, first])
    assert prepared.ntime_step == forcing.ntime_step
    np.testing.assert_array_equal(once.q, in_run.q)
    np.testing.assert_allclose(once.q, materialised.q, rtol=1e-12)


def test_schedule_choice_and_bad_schedules(inputs64):
    structure, graph = inputs64.structure, inputs64.graph
    depth = graph.n_levels - 1
    assert core.uses_wavefront(structure, graph, 4 * depth)
    assert not core.uses_wavefront(structure, graph, 4 * depth - 1)
    assert core.uses_wavefront(structure, graph, 1, "wavefront")
    assert not core.uses_wavefront(structure, graph, 10**6, "sweep")
    with pytest.raises(ValueError, match="schedule must be one of"):
        core.simulate(inputs64, schedule="diagonal")
    prepared = core.wavefront_forcing(inputs64.forcing, graph, xp=np)
    with pytest.raises(ValueError, match="wavefront order"):
        core.simulate(inputs64.replace(forcing=prepared), schedule="sweep")
    with pytest.raises(ValueError, match="schedule must be one of"):
        core.simulate(inputs64.replace(forcing=prepared), schedule="diagonal")


def _steps(inputs, start: int, stop: int):
    """``inputs`` over its time steps ``start`` to ``stop - 1``."""
    steps = slice(start, stop)
    forcing = inputs.forcing
    return inputs.replace(forcing=dataclasses.replace(forcing, prcp=forcing.prcp[steps], pet=forcing.pet[steps]))


@pytest.mark.parametrize("n", [1, 2, 5])
def test_the_pipelined_sweep_equals_its_steps_run_one_at_a_time(inputs64, n):
    """The sweep routes a step beside the hydrology of the next: a run of ``n`` steps gives what
    ``n`` runs of one step give, each started from the states the previous one ended with."""
    whole = core.simulate(_steps(inputs64, 0, n), RECORD_ALL, "sweep")
    states = inputs64.initial_states
    for t in range(n):
        one = core.simulate(_steps(inputs64, t, t + 1).replace(initial_states=states), RECORD_ALL, "sweep")
        np.testing.assert_allclose(whole.q[:, t], one.q[:, 0], rtol=1e-13)
        np.testing.assert_allclose(whole.q_domain[t], one.q_domain[0], rtol=1e-13)
        for key in whole.fluxes:
            np.testing.assert_allclose(whole.fluxes[key][t], one.fluxes[key][0], rtol=1e-13, atol=1e-300, err_msg=key)
        for key in whole.states:
            np.testing.assert_allclose(whole.states[key][t], one.final_states[key], rtol=1e-13, err_msg=key)
        states = one.final_states
    assert float(jnp.max(whole.q)) > 0.0
    for key, value in states.items():
        np.testing.assert_allclose(whole.final_states[key], value, rtol=1e-13, err_msg=key)


def test_a_run_without_time_steps_is_refused(inputs64):
    with pytest.raises(ValueError, match="no time step"):
        core.simulate(_steps(inputs64, 0, 0), schedule="sweep")


def test_is_complete_flags_negative_and_nan_values():
    prcp = np.ones((4, 3), np.float32)
    pet = np.zeros((4, 3), np.float32)
    assert core.is_complete(prcp, pet)
    assert not core.is_complete(prcp, np.where(np.arange(3) == 1, -99.0, pet))
    assert not core.is_complete(np.where(np.arange(3) == 2, np.nan, prcp), pet)


@pytest.mark.parametrize(
    "setup_keys",
    [
        {"hydrological_module": "gr4"},
        {"hydrological_module": "gr4_mlp", "hidden_neuron": 6},
        {"hydrological_module": "gr5_ri_mlp_exc", "hidden_neuron": 4},
        {"hydrological_module": "gr6_mlp", "hidden_neuron": 4},
        {"hydrological_module": "grc", "routing_module": "kw"},
        {"hydrological_module": "loieau_mlp", "hidden_neuron": 4},
        {"hydrological_module": "gr4_ode_mlp", "hidden_neuron": 4},
    ],
    ids=lambda keys: keys["hydrological_module"],
)
def test_complete_forcing_leaves_runs_and_gradients_unchanged(setup_keys):
    """On a forcing without missing values, declaring it complete (which drops every missing-data
    branch from the step) gives the same records and gradient as the general step."""
    with jax.enable_x64(True):
        inputs = _core_inputs64(**setup_keys)
        forcing = inputs.forcing
        assert forcing.complete
        if "hidden_neuron" in setup_keys:
            inputs = _draw_network(inputs, seed=1)
        general = _run_and_gradient(inputs.replace(forcing=dataclasses.replace(forcing, complete=False)))
        complete = _run_and_gradient(inputs)
    _assert_same_run_and_gradient(general, complete)
