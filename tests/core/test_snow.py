"""The snow module ``ssn`` and the precipitation partitioning: the snow store's balance, missing
data, the melt feeding the hydrological module, both schedules, vmap, and gradients against
central finite differences in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core.registry import get_structure
from hydrograd.core.simulate import CoreInputs, Forcing, Record, simulate, wavefront_forcing
from hydrograd.core.structures.snow import liquid_ratio, partition_precipitation, ssn_step
from tests._inputs import read_catchment
from tests._tiny import tiny_mesh, tiny_setup

RECORD_ALL = Record(states=True, q_domain=True, fluxes=True)

NTIME = 72


def _draw_store(n: int, seed: int, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    hs = rng.uniform(0.0, 20.0, n)
    snow = rng.exponential(2.0, n) * (rng.uniform(size=n) < 0.7)
    temp = rng.uniform(-10.0, 10.0, n)
    kmlt = rng.uniform(1e-6, 10.0, n)
    return tuple(jnp.asarray(a, dtype) for a in (hs, snow, temp, kmlt))


def test_the_store_balances_and_melts_at_most_what_it_holds(float64):
    hs, snow, temp, kmlt = _draw_store(500, seed=0)
    new, fluxes = ssn_step({"kmlt": kmlt}, {"hs": hs}, snow, temp)
    mlt = np.asarray(fluxes["mlt"])
    np.testing.assert_allclose(new["hs"], hs + snow - mlt, rtol=0, atol=1e-12)
    assert (mlt >= 0).all() and (mlt <= np.asarray(hs + snow) + 1e-12).all()
    assert (mlt[np.asarray(temp) <= 0] == 0).all()
    degree_day = np.asarray(kmlt * temp)
    free = (degree_day > 0) & (degree_day < np.asarray(hs + snow))
    np.testing.assert_allclose(mlt[free], degree_day[free], rtol=1e-14)
    assert free.sum() > 50 and (mlt == np.asarray(hs + snow)).sum() > 50


def test_missing_snowfall_or_temperature_keeps_the_store():
    hs = jnp.full(5, 4.0)
    snow = jnp.asarray([-99.0, 2.0, -1.0, 3.0, 2.0])
    temp = jnp.asarray([5.0, -99.0, 5.0, -150.0, 5.0])
    new, fluxes = ssn_step({"kmlt": jnp.full(5, 1.0)}, {"hs": hs}, snow, temp)
    np.testing.assert_array_equal(new["hs"], [4.0, 4.0, 4.0, 4.0, 1.0])
    np.testing.assert_array_equal(fluxes["mlt"], [0.0, 0.0, 0.0, 0.0, 5.0])


def test_liquid_ratio_follows_smash_s_curve():
    temp = np.linspace(-60.0, 60.0, 2001, dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):  # no overflow at high temperatures
        ratio = liquid_ratio(temp, xp=np)
    assert ratio.dtype == np.float32
    assert (np.diff(ratio) >= 0).all() and ratio[0] == 0.0 and ratio[-1] == 1.0
    np.testing.assert_allclose(liquid_ratio(np.float32(0.4), xp=np), 0.5, rtol=1e-6)
    np.testing.assert_allclose(liquid_ratio(jnp.asarray(temp)), ratio, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(liquid_ratio(np.asarray([-99.0, -120.0], np.float32), xp=np), 1.0)


def test_partitioning_conserves_precipitation_and_marks_missing_values():
    rng = np.random.default_rng(1)
    shape = (6, 5, 40)
    prcp = rng.exponential(3.0, shape).astype(np.float32)
    snow = rng.exponential(1.0, shape).astype(np.float32)
    temp = rng.uniform(-8.0, 8.0, shape).astype(np.float32)
    prcp[0] = -99.0
    snow[1] = -99.0
    temp[2] = -99.0
    rain, solid = partition_precipitation(prcp, snow, temp, xp=np)
    assert rain.dtype == solid.dtype == np.float32
    total = np.where(snow >= 0, prcp + snow, prcp)
    available = total >= 0
    np.testing.assert_allclose((rain + solid)[available], total[available], rtol=1e-6)
    assert (rain[available] >= 0).all() and (solid[available] >= 0).all()
    np.testing.assert_array_equal(solid[~available], -99.0)
    np.testing.assert_array_equal(rain[~available], total[~available])
    np.testing.assert_array_equal(solid[2], 0.0)  # no temperature: all rain
    np.testing.assert_array_equal(rain[2], total[2])
    assert (solid[3:] > 0).mean() > 0.5
    jrain, jsolid = partition_precipitation(jnp.asarray(prcp), jnp.asarray(snow), jnp.asarray(temp))
    np.testing.assert_allclose(jrain, rain, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jsolid, solid, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- in the time loop


def _tiny(hydrological: str, routing: str, **setup_keys) -> CoreInputs:
    """Core inputs of the six-cell catchment (no snow module), float64 when enabled: default
    parameters but for an interception store of 2 mm and an exchange of -0.5 mm/dt, and a hybrid's
    network drawn at random."""
    setup = tiny_setup(NTIME, 3600.0, hydrological_module=hydrological, routing_module=routing, **setup_keys)
    inputs = read_catchment(setup, tiny_mesh()).core_inputs()
    changes = {"ci": 2.0, "kexc": -0.5}
    inputs = inputs.replace(
        params={k: jnp.full(6, changes[k]) if k in changes else v for k, v in inputs.params.items()}
    )
    if inputs.flux_correction is not None:
        rng = np.random.default_rng(0)
        inputs = inputs.replace(
            flux_correction=jax.tree_util.tree_map(
                lambda a: jnp.asarray(rng.normal(0.0, 0.3, a.shape), jnp.float32), inputs.flux_correction
            )
        )
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) else a, inputs
    )


def _snowy_forcing(dtype, seed: int = 0, snow: bool = True, temp: bool = True) -> Forcing:
    """Three days of hourly rain, snowfall and a temperature cycle around 0 °C over the six cells,
    with missing snowfall, temperature and rainfall."""
    rng = np.random.default_rng(seed)
    hours = np.arange(NTIME)[:, None]
    t = 1.5 + 5.0 * np.sin(2.0 * np.pi * hours / 24.0) + rng.normal(0.0, 1.0, (NTIME, 6))
    fields = {
        "prcp": rng.exponential(2.0, (NTIME, 6)) * (rng.uniform(size=(NTIME, 6)) < 0.5),
        "pet": np.full((NTIME, 6), 0.1),
        "snow": np.where(t < 1.0, rng.exponential(3.0, (NTIME, 6)), 0.0),
        "temp": t,
    }
    fields["prcp"][30, :2] = -99.0
    fields["snow"][10, 3:] = -99.0
    fields["temp"][20, ::2] = -99.0
    chosen = {k: jnp.asarray(v, dtype) for k, v in fields.items() if (k != "snow" or snow) and (k != "temp" or temp)}
    return Forcing(**chosen)


def _with_snow(inputs: CoreInputs, kmlt: float = 2.0, hs: float = 5.0) -> CoreInputs:
    dtype = inputs.forcing.prcp.dtype
    return inputs.replace(
        structure=get_structure("ssn", inputs.structure.hydrological.name, inputs.structure.routing.name),
        params={"kmlt": jnp.full(6, kmlt, dtype), **inputs.params},
        initial_states={"hs": jnp.full(6, hs, dtype), **inputs.initial_states},
    )


@pytest.mark.parametrize("given", [(), ("snow",), ("temp",)], ids=["neither", "snow-only", "temp-only"])
def test_without_snowfall_or_temperature_the_snow_module_changes_nothing(given):
    """smash runs ``ssn`` without ``read_snow``/``read_temp`` as ``zero`` (its fields hold -99)."""
    base = _tiny("gr4", "lr")
    forcing = _snowy_forcing(jnp.float32, snow="snow" in given, temp="temp" in given)
    base = base.replace(forcing=forcing)
    zero = simulate(base)
    snowy = simulate(_with_snow(base), Record(fluxes=True))
    np.testing.assert_array_equal(snowy.q, zero.q)
    np.testing.assert_array_equal(snowy.final_states["hs"], 5.0)
    np.testing.assert_array_equal(snowy.fluxes["mlt"], 0.0)


def test_the_melt_joins_the_precipitation_of_the_hydrological_module():
    inputs = _with_snow(_tiny("gr4", "lr")).replace(forcing=_snowy_forcing(jnp.float32))
    snowy = simulate(inputs, Record(fluxes=True))
    melt = snowy.fluxes["mlt"]
    assert float(melt.max()) > 1.0
    forcing = inputs.forcing
    plain = inputs.replace(
        structure=get_structure("zero", "gr4", "lr"), forcing=Forcing(forcing.prcp + melt, forcing.pet)
    )
    without = simulate(plain)
    np.testing.assert_array_equal(snowy.q, without.q)


def _run_and_gradient(inputs, schedule="auto"):
    recorded = simulate(inputs, RECORD_ALL, schedule)

    def cost(params, states):
        out = simulate(inputs.replace(params=params, initial_states=states), schedule=schedule)
        return jnp.sum(jnp.sin(out.q)) + sum(jnp.sum(v**2) for v in out.final_states.values())

    return recorded, jax.grad(cost, argnums=(0, 1))(inputs.params, inputs.initial_states)


STRUCTURES = [("gr4", "lr", {}), ("vic3l", "kw", {}), ("gr4_mlp", "lag0", {"hidden_neuron": 4})]


@pytest.mark.parametrize(("hydrological", "routing", "keys"), STRUCTURES, ids=[f"{h}-{r}" for h, r, _ in STRUCTURES])
def test_both_schedules_give_the_same_run_and_gradient(float64, hydrological, routing, keys):
    inputs = _with_snow(_tiny(hydrological, routing, **keys)).replace(forcing=_snowy_forcing(jnp.float64))
    sweep = _run_and_gradient(inputs, schedule="sweep")
    wave = _run_and_gradient(inputs, schedule="wavefront")
    reordered = inputs.replace(forcing=wavefront_forcing(inputs.forcing, inputs.graph))
    assert reordered.forcing.snow is not None and reordered.forcing.temp is not None
    copied = _run_and_gradient(reordered, schedule="wavefront")
    assert float(jnp.max(sweep[0].fluxes["mlt"])) > 1.0
    for other in (wave, copied):
        for a, b in zip(jax.tree_util.tree_leaves(sweep), jax.tree_util.tree_leaves(other), strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(a))))


@pytest.mark.parametrize(("hydrological", "routing", "keys"), STRUCTURES, ids=[f"{h}-{r}" for h, r, _ in STRUCTURES])
def test_gradient_matches_finite_differences(float64, hydrological, routing, keys):
    """Gradient of a cost of discharge and final states with respect to every parameter and initial
    state (``kmlt`` and ``hs`` included), against central differences along random directions."""
    inputs = _with_snow(_tiny(hydrological, routing, **keys)).replace(forcing=_snowy_forcing(jnp.float64))
    weights = jnp.asarray(np.random.default_rng(2).uniform(size=(1, NTIME)))

    @jax.jit
    def loss(x):
        out = simulate(inputs.replace(params=x[0], initial_states=x[1]))
        return jnp.sum(weights * out.q) + sum(jnp.sum(v) for v in out.final_states.values())

    x = (inputs.params, inputs.initial_states)
    grad = jax.grad(loss)(x)
    assert float(jnp.abs(grad[0]["kmlt"]).max()) > 0 and float(jnp.abs(grad[1]["hs"]).max()) > 0
    rng = np.random.default_rng(3)
    eps = 1e-6
    for _ in range(3):
        v = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)) * 1e-2 * jnp.abs(a), x)
        up = loss(jax.tree_util.tree_map(lambda a, d: a + eps * d, x, v))
        down = loss(jax.tree_util.tree_map(lambda a, d: a - eps * d, x, v))
        fd = float(up - down) / (2 * eps)
        an = sum(
            float(jnp.vdot(g, d))
            for g, d in zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v), strict=True)
        )
        assert an == pytest.approx(fd, rel=1e-5, abs=1e-9), (an, fd)


def test_vmap_over_melt_coefficients_matches_separate_runs():
    inputs = _with_snow(_tiny("vic3l", "lr")).replace(forcing=_snowy_forcing(jnp.float32))
    kmlts = jnp.asarray([0.5, 2.0, 8.0], jnp.float32)

    def run(kmlt):
        params = {**inputs.params, "kmlt": jnp.full(6, kmlt)}
        return simulate(inputs.replace(params=params)).q

    batched = jax.jit(jax.vmap(run))(kmlts)
    for i, kmlt in enumerate(kmlts):
        np.testing.assert_allclose(batched[i], run(kmlt), rtol=1e-4)
    assert not np.allclose(batched[0], batched[2])
