"""Hybrid GR structures: the network, the hook's features, zero weights, gradients, jit, dtypes."""

from __future__ import annotations

from functools import partial
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

from hydrograd.core.registry import HYDROLOGICAL_MODULES
from hydrograd.core.structures._common import HydroInputs
from hydrograd.core.structures.gr import percolation_beta
from hydrograd.core.structures.hybrid import make_flux_correction, mlp, silu

HYBRIDS = (
    "gr4_mlp",
    "gr4_ri_mlp_exc",
    "gr4_ode_mlp",
    "gr5_mlp",
    "gr5_ri_mlp_exc",
    "gr6_mlp",
    "grc_mlp",
    "grd_mlp",
    "loieau_mlp",
)
# smash's HYDROLOGICAL_MODULE_INOUT_NEURONS and the states its networks see before (pn, en).
NETWORK_IO = {
    "gr4_mlp": (4, 4),
    "gr4_ri_mlp_exc": (4, 1),
    "gr4_ode_mlp": (4, 4),
    "gr4_ude": (4, 4),
    "gr5_mlp": (4, 4),
    "gr5_ri_mlp_exc": (4, 1),
    "gr6_mlp": (5, 5),
    "grc_mlp": (5, 5),
    "grd_mlp": (4, 2),
    "loieau_mlp": (4, 3),
}
FEATURE_STATES = {"gr6_mlp": ("hp", "ht", "he"), "grc_mlp": ("hp", "ht", "hl"), "loieau_mlp": ("ha", "hc")}
PARAMETER_RANGES = {
    "ci": (0.5, 5.0),
    "cp": (50.0, 800.0),
    "ct": (20.0, 500.0),
    "alpha1": (1e-6, 5e-5),
    "alpha2": (1e-5, 1e-3),
    "cl": (50.0, 800.0),
    "be": (1.0, 20.0),
    "kexc": (-1.5, 1.5),
    "aexc": (0.2, 0.6),
    "ca": (50.0, 800.0),
    "cc": (20.0, 500.0),
    "kb": (0.5, 2.0),
}
STATE_RANGES = {"he": (-50.0, 5.0)}


def _draw(module: str, n: int, seed: int, dtype):
    rng = np.random.default_rng(seed)
    spec = HYDROLOGICAL_MODULES[module]
    params = {k: jnp.asarray(rng.uniform(*PARAMETER_RANGES[k], n), dtype) for k in spec.parameters}
    states = {k: jnp.asarray(rng.uniform(*STATE_RANGES.get(k, (0.1, 0.9)), n), dtype) for k in spec.states}
    return params, states


def _network(module: str, hidden: tuple[int, ...], seed: int, dtype, scale: float = 0.3):
    n_in, n_out = HYDROLOGICAL_MODULES[module].network_io
    sizes = (n_in, *hidden, n_out)
    rng = np.random.default_rng(seed)
    weights = [jnp.asarray(rng.normal(0, scale, (b, a)), dtype) for a, b in pairwise(sizes)]
    biases = [jnp.asarray(rng.normal(0, 0.1, b), dtype) for b in sizes[1:]]
    return weights, biases


def _forcing(n_steps: int, n: int, seed: int, dtype):
    rng = np.random.default_rng(seed)
    prcp = rng.exponential(6.0, (n_steps, n)) * (rng.uniform(size=(n_steps, n)) < 0.5)
    prcp[n_steps // 2, 0] = -99.0
    return jnp.asarray(prcp, dtype), jnp.asarray(rng.uniform(0.0, 4.0, (n_steps, n)), dtype)


def _inputs(prcp, pet, dt: float = 86400.0) -> HydroInputs:
    return HydroInputs(prcp, pet, jnp.full_like(prcp, 0.05), percolation_beta(dt), dt)


def _simulate(step, params, states, weights, biases, prcp, pet):
    """Discharge of every step and the final states, the network built from its arguments."""
    correction = None if weights is None else make_flux_correction(weights, biases)

    def body(s, x):
        new, fluxes = step(params, s, _inputs(*x), correction)
        return new, fluxes["qt"]

    return jax.lax.scan(body, states, (prcp, pet))


def test_mlp_follows_smash_layout():
    """``weights[i]`` is ``(n_out, n_in)``; SiLU on hidden layers, TanH on the output."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 4))
    for hidden in [(6,), (5, 3)]:
        sizes = (4, *hidden, 2)
        weights = [rng.normal(size=(b, a)) for a, b in pairwise(sizes)]
        biases = [rng.normal(size=b) for b in sizes[1:]]
        expected = x
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = expected @ w.T + b
            expected = np.tanh(z) if i == len(weights) - 1 else z / (1.0 + np.exp(-z))
        layers = ([jnp.asarray(w, jnp.float32) for w in weights], [jnp.asarray(b, jnp.float32) for b in biases])
        np.testing.assert_allclose(mlp(*layers, x.T), expected.T, rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="as many weights as biases"):
        mlp(weights, biases[:-1], x.T)


def test_silu_is_z_times_the_logistic_with_its_derivative(float64):
    """Equal to rounding: relative 1e-14, or a few units of rounding of ``z`` (1e-15 ``|z|``) where
    the tanh form's ``1 + tanh(z / 2)`` cancels (large negative ``z``, where SiLU is below 1e-13)."""
    z = np.concatenate([np.linspace(-40.0, 40.0, 801), [-745.0, -1e-300, 0.0, 1e-300, 745.0]])
    logistic = expit(z)
    tolerance = 1e-15 * np.maximum(1.0, np.abs(z))
    for ours, exact in [
        (silu(jnp.asarray(z)), z * logistic),
        (jax.vmap(jax.grad(silu))(jnp.asarray(z)), logistic * (1.0 + z * (1.0 - logistic))),
    ]:
        error = np.abs(np.asarray(ours) - exact)
        assert np.all(error <= tolerance + 1e-14 * np.abs(exact)), z[np.argmax(error - tolerance)]


def test_flux_correction_is_a_pytree_of_the_weights():
    weights, biases = _network("gr4_mlp", (3,), seed=0, dtype=jnp.float32)
    correction = make_flux_correction(weights, biases)
    assert len(jax.tree_util.tree_leaves(correction)) == 4
    x = jnp.ones((4, 2), jnp.float32)
    np.testing.assert_allclose(jax.jit(lambda c, x: c(x))(correction, x), correction(x), rtol=1e-6)


@pytest.mark.parametrize("module", [*HYBRIDS, "gr4_ude"])
def test_registry_declares_the_hybrid_as_its_base_plus_a_network(module):
    hybrid = HYDROLOGICAL_MODULES[module]
    base = HYDROLOGICAL_MODULES[hybrid.base]
    assert hybrid.network_io == NETWORK_IO[module] and hybrid.is_hybrid and not base.is_hybrid
    assert (hybrid.parameters, hybrid.states, hybrid.fluxes, hybrid.step) == (
        base.parameters,
        base.states,
        base.fluxes,
        base.step,
    )


@pytest.mark.parametrize("module", HYBRIDS)
def test_hook_sees_smash_features(module):
    """The network sees the step's initial states, then ``pn`` and ``en`` after interception."""
    n = 4
    params, states = _draw(module, n, seed=1, dtype=jnp.float32)
    prcp, pet = _forcing(2, n, seed=1, dtype=jnp.float32)
    n_in, n_out = NETWORK_IO[module]
    seen = []

    def spy(features):
        # gr4_ode_mlp linearizes the network: a callback sees the primal values, not tracers.
        jax.debug.callback(lambda f: seen.append(np.asarray(f)), features)
        return jnp.zeros((n_out, features.shape[1]), features.dtype)

    _, fluxes = HYDROLOGICAL_MODULES[module].step(params, states, _inputs(prcp[0], pet[0]), spy)
    (features,) = seen
    names = FEATURE_STATES.get(module, ("hp", "ht"))
    assert features.shape == (n_in, n)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(features[i], states[name])
    np.testing.assert_allclose(features[-1], fluxes["en"], rtol=1e-6)
    # The network's pn is the rainfall before the impervious fraction (5 % here) is removed.
    np.testing.assert_allclose(0.95 * features[-2], fluxes["pn"], rtol=1e-6)


@pytest.mark.parametrize("module", HYBRIDS)
def test_zero_weights_give_the_base_structure(module):
    n = 6
    params, states = _draw(module, n, seed=2, dtype=jnp.float32)
    prcp, pet = _forcing(6, n, seed=2, dtype=jnp.float32)
    weights, biases = _network(module, (5,), seed=2, dtype=jnp.float32, scale=0.0)
    biases = [jnp.zeros_like(b) for b in biases]
    correction = make_flux_correction(weights, biases)
    step = HYDROLOGICAL_MODULES[module].step
    base, hybrid = states, states
    for t in range(prcp.shape[0]):
        base, base_fluxes = step(params, base, _inputs(prcp[t], pet[t]))
        hybrid, hybrid_fluxes = step(params, hybrid, _inputs(prcp[t], pet[t]), correction)
        for key in base_fluxes:
            np.testing.assert_array_equal(hybrid_fluxes[key], base_fluxes[key], err_msg=key)
    for key in base:
        np.testing.assert_array_equal(hybrid[key], base[key], err_msg=key)


@pytest.mark.parametrize("module", HYBRIDS)
def test_missing_inputs_switch_the_network_off(module):
    """Where rainfall is missing smash zeroes the corrections: the step is the base step there."""
    n = 3
    params, states = _draw(module, n, seed=3, dtype=jnp.float32)
    inputs = _inputs(jnp.full(n, -99.0, jnp.float32), jnp.full(n, 2.0, jnp.float32))
    _, n_out = NETWORK_IO[module]
    step = HYDROLOGICAL_MODULES[module].step
    base = step(params, states, inputs)
    shifted = step(params, states, inputs, lambda f: jnp.full((n_out, f.shape[1]), 0.7, f.dtype))
    for a, b in zip(jax.tree_util.tree_leaves(base), jax.tree_util.tree_leaves(shifted), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("module", HYBRIDS)
def test_jit_agrees_and_float32_stays_float32(module):
    n = 6
    params, states = _draw(module, n, seed=4, dtype=jnp.float32)
    weights, biases = _network(module, (5, 3), seed=4, dtype=jnp.float32)
    prcp, pet = _forcing(1, n, seed=4, dtype=jnp.float32)
    step = partial(HYDROLOGICAL_MODULES[module].step, flux_correction=make_flux_correction(weights, biases))
    inputs = _inputs(prcp[0], pet[0], dt=3600.0)
    eager = step(params, states, inputs)
    jitted = jax.jit(step)(params, states, inputs)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted), strict=True):
        assert a.dtype == b.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("module", [*HYBRIDS, "gr4_ode"])
def test_gradient_matches_finite_differences(float64, module):
    """Gradient of a 30-step run w.r.t. parameters, initial states and network weights and biases,
    against central differences along random directions, in float64."""
    n, n_steps = 5, 30
    params, states = _draw(module, n, seed=5, dtype=jnp.float64)
    prcp, pet = _forcing(n_steps, n, seed=5, dtype=jnp.float64)
    hybrid = HYDROLOGICAL_MODULES[module].is_hybrid
    weights, biases = _network(module, (5, 3), seed=5, dtype=jnp.float64) if hybrid else (None, None)
    step = HYDROLOGICAL_MODULES[module].step
    time_weights = jnp.asarray(np.random.default_rng(5).uniform(size=(n_steps, n)))

    @jax.jit
    def loss(x):
        final, q = _simulate(step, x["params"], x["states"], x["weights"], x["biases"], prcp, pet)
        return jnp.sum(time_weights * q) + sum(jnp.sum(v) for v in final.values())

    x = {"params": params, "states": states, "weights": weights, "biases": biases}
    value, grad = jax.value_and_grad(loss)(x)
    assert np.isfinite(float(value))
    rng = np.random.default_rng(6)
    eps = 1e-6
    scale = {
        "params": {k: 0.01 * (PARAMETER_RANGES[k][1] - PARAMETER_RANGES[k][0]) for k in params},
        "states": dict.fromkeys(states, 0.01),
    }
    for _ in range(3):
        v = {
            "params": {k: jnp.asarray(rng.normal(size=n) * scale["params"][k]) for k in params},
            "states": {k: jnp.asarray(rng.normal(size=n) * scale["states"][k]) for k in states},
            "weights": None if weights is None else [jnp.asarray(rng.normal(0, 0.1, w.shape)) for w in weights],
            "biases": None if biases is None else [jnp.asarray(rng.normal(0, 0.1, b.shape)) for b in biases],
        }
        up = loss(jax.tree_util.tree_map(lambda a, d: a + eps * d, x, v))
        down = loss(jax.tree_util.tree_map(lambda a, d: a - eps * d, x, v))
        fd = float(up - down) / (2 * eps)
        leaves = zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v), strict=True)
        an = sum(float(jnp.vdot(g, d)) for g, d in leaves)
        assert an == pytest.approx(fd, rel=1e-5, abs=1e-8), (an, fd)
