"""GR operators: water balance and the flux-correction hook."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core.structures._common import HydroInputs, safe_pow
from hydrograd.core.structures.gr import gr4_step, percolation_beta


def _forcing(n_steps: int, n_cells: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    prcp = rng.exponential(4.0, (n_steps, n_cells)) * (rng.uniform(size=(n_steps, n_cells)) < 0.4)
    pet = rng.uniform(0.0, 4.0, (n_steps, n_cells))
    return prcp, pet


def _run_gr4(params, states, prcp, pet, dt=86400.0):
    n = prcp.shape[1]
    imperv = np.zeros(n)
    totals = {"qt": 0.0, "es": 0.0, "ei": 0.0, "lexc": 0.0}
    for t in range(prcp.shape[0]):
        inputs = HydroInputs(jnp.asarray(prcp[t]), jnp.asarray(pet[t]), jnp.asarray(imperv), percolation_beta(dt), dt)
        states, fluxes = gr4_step(params, states, inputs)
        totals["qt"] += np.asarray(fluxes["qt"])
        totals["es"] += np.asarray(fluxes["es"])
        totals["ei"] += pet[t] - np.asarray(fluxes["en"])
        totals["lexc"] += np.asarray(fluxes["lexc"])
    return states, totals


def _storage(params, states):
    return sum(np.asarray(states[h]) * np.asarray(params[c]) for h, c in (("hi", "ci"), ("hp", "cp"), ("ht", "ct")))


@pytest.mark.parametrize("kexc", [0.0, 2.0])
def test_gr4_water_balance_closes(kexc):
    """Storage change = rainfall - evaporation - runoff + exchange (applied to both branches)."""
    jax.config.update("jax_enable_x64", True)
    try:
        n = 50
        rng = np.random.default_rng(1)
        params = {
            "ci": jnp.asarray(rng.uniform(0.5, 5.0, n)),
            "cp": jnp.asarray(rng.uniform(50.0, 800.0, n)),
            "ct": jnp.asarray(rng.uniform(20.0, 500.0, n)),
            "kexc": jnp.full(n, kexc),
        }
        states0 = {k: jnp.asarray(rng.uniform(0.1, 0.9, n)) for k in ("hi", "hp", "ht")}
        prcp, pet = _forcing(200, n)
        final, totals = _run_gr4(params, states0, prcp, pet)
        change = _storage(params, final) - _storage(params, states0)
        expected = prcp.sum(0) - totals["ei"] - totals["es"] - totals["qt"] + 2.0 * totals["lexc"]
        np.testing.assert_allclose(change, expected, rtol=1e-9, atol=1e-7)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_gr4_missing_rainfall_freezes_soil_stores():
    """Where rainfall is missing (negative) no store moves: the transfer store is refilled by
    exactly what it releases, so discharge keeps its recession value."""
    n = 4
    params = {k: jnp.full(n, v, jnp.float32) for k, v in dict(ci=2.0, cp=300.0, ct=100.0, kexc=1.0).items()}
    states = {k: jnp.full(n, 0.4, jnp.float32) for k in ("hi", "hp", "ht")}
    inputs = HydroInputs(jnp.full(n, -99.0), jnp.full(n, 2.0), jnp.zeros(n), percolation_beta(86400.0), 86400.0)
    new, fluxes = gr4_step(params, states, inputs)
    np.testing.assert_array_equal(new["hi"], states["hi"])
    np.testing.assert_array_equal(new["hp"], states["hp"])
    np.testing.assert_allclose(new["ht"], states["ht"], rtol=1e-5)
    assert np.all(np.asarray(fluxes["qr"]) > 0)
    np.testing.assert_array_equal(fluxes["pr"], 0.0)


def test_zero_flux_correction_is_the_conceptual_model():
    n = 8
    rng = np.random.default_rng(2)
    params = {k: jnp.asarray(rng.uniform(1, 500, n), jnp.float32) for k in ("ci", "cp", "ct")}
    params["kexc"] = jnp.asarray(rng.uniform(-5, 5, n), jnp.float32)
    states = {k: jnp.asarray(rng.uniform(0.1, 0.9, n), jnp.float32) for k in ("hi", "hp", "ht")}
    inputs = HydroInputs(
        jnp.asarray(rng.uniform(0, 20, n)), jnp.asarray(rng.uniform(0, 5, n)), jnp.zeros(n), 2.25, 86400.0
    )
    base = gr4_step(params, states, inputs)
    corrected = gr4_step(params, states, inputs, flux_correction=lambda f: jnp.zeros((f.shape[0], 4)))
    for a, b in zip(jax.tree_util.tree_leaves(base), jax.tree_util.tree_leaves(corrected), strict=True):
        np.testing.assert_array_equal(a, b)
    shifted = gr4_step(params, states, inputs, flux_correction=lambda f: jnp.full((f.shape[0], 4), 0.5))
    assert not np.allclose(shifted[1]["qt"], base[1]["qt"])


def test_safe_pow_has_finite_gradient_at_zero():
    grad = jax.grad(lambda x: safe_pow(x, 3.5))(0.0)
    assert np.isfinite(grad) and grad == 0.0
    np.testing.assert_allclose(safe_pow(jnp.asarray(4.0), 0.5), 2.0)
