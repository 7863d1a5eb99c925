"""The ``vic3l`` structure: each operator's water balance, the whole step's, states kept in [0, 1]
across the bounds, missing inputs, jit and dtypes, and gradients against finite differences."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.core.registry import HYDROLOGICAL_MODULES
from hydrograd.core.structures._common import HydroInputs
from hydrograd.core.structures.vic import (
    baseflow,
    canopy_interception,
    drainage,
    infiltration,
    upper_layer_evaporation,
    vic3l_step,
)

SPEC = HYDROLOGICAL_MODULES["vic3l"]
CAPACITIES = {"husl": "cusl", "hmsl": "cmsl", "hbsl": "cbsl"}
# Ranges a catchment would plausibly take (drainage that does not oscillate from step to step).
RANGES = {"ks": (1.0, 10.0), "pbc": (2.0, 12.0), "dsm": (1e-3, 1.0), "ws": (0.3, 0.9)}


def draw(n: int, seed: int, dtype=jnp.float64, across_bounds: bool = False):
    """Parameters and states of ``vic3l`` over ``n`` cells: within ``RANGES`` and the default
    bounds, or uniform across the whole bounds, themselves included, with ratios of exactly 0 and 1."""
    rng = np.random.default_rng(seed)
    params, states = {}, {}
    for k in SPEC.parameters:
        low, high = RR_PARAMETERS[k].bounds if across_bounds else RANGES.get(k, RR_PARAMETERS[k].bounds)
        values = rng.uniform(low, high, n)
        if across_bounds:
            values = np.where(rng.uniform(size=n) < 0.3, rng.choice([low, high], n), values)
        params[k] = jnp.asarray(values, dtype)
    for k in SPEC.states:
        values = rng.uniform(0.05, 0.95, n)
        if across_bounds:
            values = np.where(rng.uniform(size=n) < 0.3, rng.choice([0.0, 1.0, *RR_STATES[k].bounds], n), values)
        states[k] = jnp.asarray(values, dtype)
    return params, states


def forcing(n_steps: int, n_cells: int, seed: int = 0, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    prcp = rng.exponential(6.0, (n_steps, n_cells)) * (rng.uniform(size=(n_steps, n_cells)) < 0.4)
    pet = rng.uniform(0.0, 4.0, (n_steps, n_cells))
    return jnp.asarray(prcp, dtype), jnp.asarray(pet, dtype)


def _inputs(prcp, pet, complete: bool = False):
    return HydroInputs(prcp, pet, jnp.zeros_like(prcp), 2.25, 3600.0, complete)


@partial(jax.jit, static_argnames=("complete",))
def run(params, states, prcp, pet, complete: bool = False):
    """``vic3l_step`` over the forcing: the final states and every step's states and fluxes."""

    def body(s, x):
        new, fluxes = vic3l_step(params, s, _inputs(x[0], x[1], complete))
        return new, (new, fluxes)

    final, (history, fluxes) = jax.lax.scan(body, states, (prcp, pet))
    return final, history, fluxes


def _storage(params, states):
    """Water held in the cell (mm): the 1 mm canopy and the three layers."""
    return states["hcl"] + sum(states[h] * params[c] for h, c in CAPACITIES.items())


def test_each_operator_balances_its_water(float64):
    params, states = draw(300, seed=1)
    prcp, pet = forcing(1, 300, seed=1)
    prcp, pet = prcp[0], pet[0]
    p = params

    pn, en, hcl = canopy_interception(prcp, pet, states["hcl"])
    ec = pet - en
    inside = (hcl > 1e-6) & (hcl < 1 - 1e-6)  # the clamp did not fire
    np.testing.assert_allclose((hcl - states["hcl"])[inside], (prcp - ec - pn)[inside], atol=1e-12)
    assert (ec >= 0).all() and (pn >= 0).all() and inside.sum() > 50

    es, husl = upper_layer_evaporation(en, p["b"], p["cusl"], states["husl"])
    np.testing.assert_allclose((states["husl"] - husl) * p["cusl"], es, atol=1e-12)
    assert (es >= 0).all() and (es <= en + 1e-12).all() and (es < en).any()

    qr, husl2, hmsl2 = infiltration(pn, p["b"], p["cusl"], p["cmsl"], husl, states["hmsl"])
    gained = (husl2 - husl) * p["cusl"] + (hmsl2 - states["hmsl"]) * p["cmsl"]
    inside = (husl2 < 1 - 1e-6) & (hmsl2 < 1 - 1e-6)
    np.testing.assert_allclose(gained[inside], (pn - qr)[inside], atol=1e-9)
    assert (qr >= 0).all() and (qr <= pn + 1e-12).all() and ((qr > 0) & (qr < pn)).any()

    husl3, hmsl3 = drainage(p["cusl"], p["cmsl"], p["ks"], p["pbc"], husl2, hmsl2)
    np.testing.assert_allclose(husl3 * p["cusl"] + hmsl3 * p["cmsl"], husl2 * p["cusl"] + hmsl2 * p["cmsl"])
    assert (husl3 <= husl2).all() and (hmsl3 <= 1.0).all() and (husl3 < husl2).any()

    qb, hbsl = baseflow(p["cbsl"], p["ds"], p["dsm"], p["ws"], states["hbsl"])
    np.testing.assert_allclose((states["hbsl"] - hbsl) * p["cbsl"], qb, atol=1e-12)
    assert (qb >= 0).all() and (hbsl >= 0).all()


def test_infiltration_matches_smash_s_form_where_it_is_well_conditioned(float64):
    """``c - w - c (1 - (i0 + pn) / im)^(1 + b)``, smash's expression, in float64."""
    params, states = draw(200, seed=2)
    pn = jnp.asarray(np.random.default_rng(2).exponential(20.0, 200)).at[:10].set(3000.0)
    b, cusl, cmsl = params["b"], params["cusl"], params["cmsl"]
    c = cusl + cmsl
    w = states["husl"] * cusl + states["hmsl"] * cmsl
    im = (1 + b) * c
    i0 = im * (1 - (1 - w / c) ** (1 / (1 + b)))
    smash_form = jnp.where(i0 + pn > im, c - w, c - w - c * jnp.clip(1 - (i0 + pn) / im, 0, None) ** (1 + b))
    qr, _, _ = infiltration(pn, b, cusl, cmsl, states["husl"], states["hmsl"])
    np.testing.assert_allclose(pn - qr, jnp.minimum(pn, smash_form), rtol=1e-9, atol=1e-9)
    assert (pn - qr < pn).any() and np.isclose(pn - qr, c - w, rtol=1e-12).sum() >= 10


def test_baseflow_is_continuous_and_linear_below_the_threshold(float64):
    rng = np.random.default_rng(3)
    ds, dsm, ws = (jnp.asarray(rng.uniform(*r, 50)) for r in ((1e-3, 1.0), (1e-3, 1.0), (0.2, 0.9)))
    cbsl = jnp.full(50, 1e4)
    below, _ = baseflow(cbsl, ds, dsm, ws, ws * (1 - 1e-12))
    above, _ = baseflow(cbsl, ds, dsm, ws, ws * (1 + 1e-12))
    np.testing.assert_allclose(above, below, rtol=1e-9)
    np.testing.assert_allclose(below, ds * dsm / ws * ws, rtol=1e-9)
    full, _ = baseflow(cbsl, ds, dsm, ws, jnp.ones(50))
    np.testing.assert_allclose(full, ds, rtol=1e-9)  # smash's roles: ``ds`` is the flow of a full layer


def test_step_water_balance_closes(float64):
    """Storage change = rainfall - evaporation - runoff, with evaporation between 0 and pet, up to
    the clamps of interception and infiltration (at most 1e-6 of a layer's capacity each)."""
    n = 40
    params, states0 = draw(n, seed=4)
    prcp, pet = forcing(150, n, seed=4)
    _, history, fluxes = run(params, states0, prcp, pet)
    before = jnp.concatenate([_storage(params, states0)[None], _storage(params, history)[:-1]])
    evaporation = prcp - fluxes["qt"] - (_storage(params, history) - before)
    tolerance = 2e-6 * (1.0 + params["cusl"] + params["cmsl"])
    assert (evaporation >= -tolerance).all() and (evaporation <= pet + tolerance).all()
    np.testing.assert_allclose(fluxes["qt"], fluxes["qr"] + fluxes["qb"])
    assert float(fluxes["qr"].max()) > 0 and float(fluxes["qb"].max()) > 0


def test_states_stay_within_their_domain_across_the_bounds():
    """Parameters and states across their whole bounds in float32, 500 mm storms and dry spells
    (a layer may end a step a rounding error below 0, as in smash)."""
    n = 4000
    params, states = draw(n, seed=5, dtype=jnp.float32, across_bounds=True)
    prcp, pet = forcing(60, n, seed=5, dtype=jnp.float32)
    prcp = prcp.at[5:8].set(500.0).at[20].set(-99.0)
    _, history, fluxes = run(params, states, prcp, pet)
    for key, value in {**history, **fluxes}.items():
        assert np.isfinite(np.asarray(value)).all(), key
    for key in SPEC.states:
        assert float(history[key].min()) >= -1e-6 and float(history[key].max()) <= 1.0, key
    assert float(fluxes["qb"].min()) >= -1e-6 * 2000.0 and float(fluxes["qr"].min()) >= -1e-4


@pytest.mark.parametrize("complete", [False, True])
def test_missing_inputs_run_only_the_baseflow(complete):
    n = 5
    params, states = draw(n, seed=6, dtype=jnp.float32)
    if complete:  # the same step as with valid inputs, its missing-data branches left out
        inputs = _inputs(jnp.full(n, 3.0), jnp.full(n, 1.0), complete=True)
        np.testing.assert_array_equal(
            vic3l_step(params, states, inputs)[1]["qt"],
            vic3l_step(params, states, _inputs(jnp.full(n, 3.0), jnp.full(n, 1.0)))[1]["qt"],
        )
        return
    new, fluxes = vic3l_step(params, states, _inputs(jnp.full(n, -99.0), jnp.full(n, 1.0)))
    for key in ("hcl", "husl", "hmsl"):
        np.testing.assert_array_equal(new[key], states[key], err_msg=key)
    qb, hbsl = baseflow(params["cbsl"], params["ds"], params["dsm"], params["ws"], states["hbsl"])
    np.testing.assert_array_equal(new["hbsl"], hbsl)
    for key in ("pn", "en", "qr"):
        np.testing.assert_array_equal(fluxes[key], 0.0, err_msg=key)
    np.testing.assert_array_equal(fluxes["qt"], qb)


def test_jit_agrees_and_float32_stays_float32():
    params, states = draw(6, seed=7, dtype=jnp.float32)
    prcp, pet = forcing(1, 6, seed=7, dtype=jnp.float32)
    eager = vic3l_step(params, states, _inputs(prcp[0], pet[0]))
    jitted = jax.jit(vic3l_step)(params, states, _inputs(prcp[0], pet[0]))
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted), strict=True):
        assert a.dtype == b.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
    assert set(eager[0]) == set(SPEC.states) and set(eager[1]) == set(SPEC.fluxes)


def test_a_flux_correction_network_is_refused():
    params, states = draw(2, seed=8, dtype=jnp.float32)
    with pytest.raises(ValueError, match="no flux-correction network"):
        vic3l_step(params, states, _inputs(jnp.ones(2), jnp.ones(2)), lambda f: f)


def test_gradient_matches_finite_differences(float64):
    """Gradient of a 40-step run w.r.t. parameters and initial states, against central differences
    along random directions."""
    n, n_steps = 5, 40
    params, states = draw(n, seed=9)
    prcp, pet = forcing(n_steps, n, seed=9)
    weights = jnp.asarray(np.random.default_rng(9).uniform(size=(n_steps, n)))

    @jax.jit
    def loss(x):
        final, _, fluxes = run(x[0], x[1], prcp, pet)
        return jnp.sum(weights * fluxes["qt"]) + sum(jnp.sum(v) for v in final.values())

    x = (params, states)
    grad = jax.grad(loss)(x)
    rng = np.random.default_rng(10)
    eps = 1e-6
    for _ in range(4):
        v = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)) * 1e-2 * jnp.abs(a), x)
        up = loss(jax.tree_util.tree_map(lambda a, d: a + eps * d, x, v))
        down = loss(jax.tree_util.tree_map(lambda a, d: a - eps * d, x, v))
        fd = float(up - down) / (2 * eps)
        leaves = zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v), strict=True)
        an = sum(float(jnp.vdot(g, d)) for g, d in leaves)
        assert an == pytest.approx(fd, rel=1e-5, abs=1e-9), (an, fd)
