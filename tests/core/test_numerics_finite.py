"""NaN-safe numerics: finite outputs and gradients over the full default bounds.

Every registered hydrological module, every routing module and the snow module run on the six-cell
catchment of ``tests._tiny`` with 512 random parameter sets at once (one jitted, vmapped value-and-gradient
per structure; each set draws every cell separately, so 3072 draws per parameter): values
uniform or log-uniform inside the default bounds, 20 % of them on the lower bound and 20 % on
the upper bound, ratio states also exactly 0 or 1, and hybrid networks with weights large
enough to saturate their corrections at +-1. The forcing holds 500 mm storms, dry spells without
evapotranspiration, and missing (-99) rainfall and evapotranspiration; with the snow module, 500 mm
snowfalls, temperatures from -40 to 45 °C and missing snowfall and temperature too. Mappings and
control transforms get the same treatment on their own.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.calibration.control import ASINH, KEEP, LOG, LOGIT, NORMALIZE, _forward, untransform
from hydrograd.core import net as core_net
from hydrograd.core.mapping import Mapping, apply_mapping
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.core.registry import HYDROLOGICAL_MODULES, ROUTING_MODULES, get_structure
from hydrograd.core.simulate import Forcing, Record, simulate
from hydrograd.core.structures.hybrid import make_flux_correction
from hydrograd.nn.net import default_net
from tests._inputs import read_catchment
from tests._tiny import tiny_mesh, tiny_setup

N_SETS = 512
NTIME = 36


def _forcing(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(NTIME, 6)`` rainfall and evapotranspiration (mm/dt) with storms, gaps and dry spells."""
    prcp = np.zeros((NTIME, 6), dtype=np.float32)
    prcp[2:5] = 500.0
    prcp[5:12] = rng.uniform(0.0, 30.0, (7, 6))
    prcp[12:14] = -99.0
    prcp[14:16, :3] = 500.0
    pet = np.full((NTIME, 6), 5.0, dtype=np.float32)
    pet[16:18, 3:] = -99.0
    pet[28:] = 0.0
    return prcp, pet


def _snow_forcing(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(NTIME, 6)`` snowfall (mm/dt) and temperature (°C): snowstorms, a thaw, heat and gaps."""
    snow = np.zeros((NTIME, 6), dtype=np.float32)
    snow[1:4] = 500.0
    snow[4:10] = rng.uniform(0.0, 20.0, (6, 6))
    snow[12:14, ::2] = -99.0
    temp = np.full((NTIME, 6), -40.0, dtype=np.float32)
    temp[8:20] = rng.uniform(-5.0, 10.0, (12, 6))
    temp[20:26] = 45.0
    temp[15:17, 1::2] = -99.0
    return snow, temp


def _draw(table, names, rng: np.random.Generator) -> dict[str, jax.Array]:
    """``(N_SETS, 6)`` values per name across its default bounds, bounds themselves included."""
    out = {}
    for name in names:
        low, high = table[name].bounds
        if low > 0 and high / low > 100:
            values = np.exp(rng.uniform(np.log(low), np.log(high), (N_SETS, 6)))
        else:
            values = rng.uniform(low, high, (N_SETS, 6))
        u = rng.uniform(size=(N_SETS, 6))
        values = np.where(u < 0.2, low, np.where(u > 0.8, high, values))
        if table is RR_STATES and table[name].feasible == (0, 1):
            v = rng.uniform(size=(N_SETS, 6))
            values = np.where(v < 0.1, 0.0, np.where(v > 0.9, 1.0, values))
        out[name] = jnp.asarray(values, dtype=jnp.float32)
    return out


def _non_finite(tree) -> list[str]:
    """Paths of the leaves of ``tree`` holding NaN or inf, with the first offending set."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        leaf = np.asarray(leaf).reshape(N_SETS, -1)
        broken = ~np.isfinite(leaf).all(axis=1)
        if broken.any():
            bad.append(f"{jax.tree_util.keystr(path)} (set {int(np.flatnonzero(broken)[0])})")
    return bad


def _check_structure(hydrological: str, routing: str, dt: float, seed: int, snow: str = "zero") -> None:
    catchment = read_catchment(
        tiny_setup(NTIME, dt, hydrological_module=hydrological, routing_module=routing), tiny_mesh()
    )
    structure = get_structure(snow, hydrological, routing)
    core = catchment.core_inputs().replace(structure=structure)
    rng = np.random.default_rng(seed)
    prcp, pet = _forcing(rng)
    forcing = Forcing(jnp.asarray(prcp), jnp.asarray(pet))
    if snow != "zero":
        snowfall, temp = _snow_forcing(rng)
        forcing = Forcing(forcing.prcp, forcing.pet, snow=jnp.asarray(snowfall), temp=jnp.asarray(temp))
    q_obs = jnp.asarray(rng.uniform(0.0, 5.0, (1, NTIME)), dtype=jnp.float32)
    params = _draw(RR_PARAMETERS, structure.parameters, rng)
    states = _draw(RR_STATES, structure.states, rng)
    weights = [
        jnp.asarray(rng.normal(0.0, 3.0, (N_SETS, *w.shape)), jnp.float32)
        for k, w in catchment.network.items()
        if k.startswith("weight")
    ]
    biases = [
        jnp.asarray(rng.normal(0.0, 3.0, (N_SETS, *b.shape)), jnp.float32)
        for k, b in catchment.network.items()
        if k.startswith("bias")
    ]

    def loss(params, states, weights, biases):
        hook = make_flux_correction(weights, biases) if weights else None
        inputs = core.replace(params=params, initial_states=states, forcing=forcing, flux_correction=hook)
        out = simulate(inputs, Record(fluxes=True))
        cost = jnp.sum((out.q - q_obs) ** 2) + sum(jnp.sum(v) for v in out.final_states.values())
        return cost, (out.q, out.final_states, out.fluxes)

    value_and_grad = jax.jit(jax.vmap(jax.value_and_grad(loss, argnums=(0, 1, 2, 3), has_aux=True)))
    (cost, outputs), gradients = value_and_grad(params, states, weights, biases)
    bad = _non_finite({"cost": cost, "outputs": outputs, "gradients": gradients})
    assert not bad, f"{structure.name} (dt={dt:g} s): non-finite {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("hydrological", [m for m in HYDROLOGICAL_MODULES if m != "gr4_ude"])
def test_every_hydrological_module_is_finite_across_its_bounds(hydrological):
    _check_structure(hydrological, "zero", 3600.0, seed=sorted(HYDROLOGICAL_MODULES).index(hydrological))


def test_the_gr4_ude_alias_is_the_module_tested_as_gr4_ode_mlp():
    alias, module = HYDROLOGICAL_MODULES["gr4_ude"], HYDROLOGICAL_MODULES["gr4_ode_mlp"]
    assert (alias.step, alias.network_io, alias.parameters, alias.states) == (
        module.step,
        module.network_io,
        module.parameters,
        module.states,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("hydrological", "routing"), [("gr4_mlp", "lr"), ("gr4_ode", "lag0"), ("vic3l", "kw")])
def test_the_snow_module_is_finite_across_its_bounds(hydrological, routing):
    _check_structure(hydrological, routing, 3600.0, seed=21, snow="ssn")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hydrological", "routing", "dt"),
    [*(("gr4", r, 3600.0) for r in ROUTING_MODULES if r != "zero"), ("gr4", "lr", 86400.0), ("gr5_ri", "kw", 86400.0)],
)
def test_every_routing_module_and_daily_steps_are_finite(hydrological, routing, dt):
    _check_structure(hydrological, routing, dt, seed=11)


# ------------------------------------------------------------------------------- mappings

BOUNDS = ((1e-6, 1000.0), (-50.0, 50.0), (1e-6, 0.999999))


@pytest.mark.parametrize("kind", ["multi-linear", "multi-power"])
def test_descriptor_mappings_stay_finite_and_in_bounds(kind):
    rng = np.random.default_rng(3)
    nac, nd = 40, 3
    descriptors = rng.normal(0.0, 3.0, (nac, nd)).astype(np.float32)
    descriptors[:5] = 0.0
    descriptors[5:10] = [[-10.0, 10.0, 1e-7]] * 5
    mapping = Mapping(kind, ("cp", "kexc", "hp"), BOUNDS, ((0, 1, 2), (1,), (0, 2)), nac)
    per_descriptor = 1 if kind == "multi-linear" else 2
    controls = rng.normal(0.0, 20.0, (N_SETS, mapping.size)).astype(np.float32)
    controls[:8] = 1e4 * np.sign(controls[:8])
    if kind == "multi-power":
        exponents = np.zeros(mapping.size, dtype=bool)
        start = 0
        for i in range(len(mapping.names)):
            exponents[start + 2 : start + mapping.block_size(i) : per_descriptor] = True
            start += mapping.block_size(i)
        controls[:, exponents] = rng.choice([0.5, 2.0, 1.3], size=(N_SETS, int(exponents.sum())))

    def total(x):
        values = apply_mapping(x, mapping, jnp.asarray(descriptors))
        return sum(jnp.sum(v) for v in values.values()), values

    (_, values), grads = jax.vmap(jax.value_and_grad(total, has_aux=True))(jnp.asarray(controls))
    assert not _non_finite({"values": values, "grads": grads})
    for name, (low, high) in zip(mapping.names, BOUNDS, strict=True):
        assert values[name].min() >= np.float32(low) and values[name].max() <= np.float32(high), name


def test_control_transforms_are_finite_across_their_bounds():
    lower = np.array([-50.0, 1e-6, 1e-6, 1e-6, 1e-6, -5.0], dtype=np.float32)
    upper = np.array([50.0, 0.999999, 1000.0, 1000.0, 5e-4, 5.0], dtype=np.float32)
    kinds = np.array([ASINH, LOGIT, LOG, NORMALIZE, LOG, KEEP], dtype=np.int32)
    low_t, high_t = _forward(lower, kinds, lower, upper), _forward(upper, kinds, lower, upper)
    rng = np.random.default_rng(5)
    x_t = rng.uniform(low_t, high_t, (N_SETS, lower.size)).astype(np.float32)
    x_t[0], x_t[1] = low_t, high_t
    args = (jnp.asarray(kinds), jnp.asarray(lower), jnp.asarray(upper))

    values, grads = jax.vmap(lambda x: (untransform(x, *args), jax.grad(lambda y: untransform(y, *args).sum())(x)))(
        jnp.asarray(x_t)
    )
    assert np.isfinite(np.asarray(values)).all() and np.isfinite(np.asarray(grads)).all()
    tolerance = 1e-4 * np.maximum(1.0, np.abs(upper))
    assert (np.asarray(values) >= lower - tolerance).all() and (np.asarray(values) <= upper + tolerance).all()


def test_ann_mapping_network_is_finite_for_saturating_weights():
    bounds = [(1e-6, 1000.0), (-50.0, 50.0), (1e-6, 1000.0)]
    net = default_net(6, 3, bounds, (20, 20))
    net.initialize(random_state=0)
    spec = net.spec()
    shapes = [None if p is None else {k: v.shape for k, v in p.items()} for p in net.params("all")]
    rng = np.random.default_rng(7)

    def draw_params():
        return tuple(
            None if s is None else {k: jnp.asarray(rng.normal(0.0, 10.0, shape)) for k, shape in s.items()}
            for s in shapes
        )

    x = jnp.asarray(np.concatenate([rng.normal(0.0, 5.0, (390, 6)), np.zeros((5, 6)), np.full((5, 6), 1e3)]))
    for _ in range(8):
        params = draw_params()
        out = core_net.forward(spec, params, x)
        grads = jax.grad(lambda p: core_net.forward(spec, p, x).sum())(params)
        assert np.isfinite(np.asarray(out)).all()
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))
        for j, (low, high) in enumerate(bounds):
            assert out[:, j].min() >= np.float32(low) and out[:, j].max() <= np.float32(high)
