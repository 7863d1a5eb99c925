"""Every conceptual structure's gradient against central finite differences, in float64.

A 30-step run of a few cells; the loss weighs every step's discharge and adds the final states.
Each structure is checked with a losing and a gaining groundwater exchange (``kexc`` below and
above 0), along random directions in the parameters and the initial states together. The hybrids
and ``gr4_ode`` have the same check in ``test_structures_hybrid``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core.registry import HYDROLOGICAL_MODULES
from tests.core.test_structures_gr import PARAMETER_RANGES, draw, forcing, run

BASES = ("gr4", "gr4_ri", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau")
EXCHANGES = {"losing": (-1.5, -0.1), "gaining": (0.1, 1.5)}


@pytest.mark.parametrize("exchange", list(EXCHANGES))
@pytest.mark.parametrize("module", BASES)
def test_gradient_matches_finite_differences(float64, module, exchange):
    n, n_steps = 6, 30
    seed = BASES.index(module)
    ranges = {"kexc": EXCHANGES[exchange], "alpha1": (1e-6, 1e-5)}
    params, states = draw(module, n, seed=seed, parameter_ranges=ranges)
    prcp, pet = forcing(n_steps, n, seed=seed)
    step = HYDROLOGICAL_MODULES[module].step
    time_weights = jnp.asarray(np.random.default_rng(seed).uniform(size=(n_steps, n)))

    @jax.jit
    def loss(x):
        final, _, fluxes = run(step, x["params"], x["states"], prcp, pet)
        return jnp.sum(time_weights * fluxes["qt"]) + sum(jnp.sum(v) for v in final.values())

    x = {"params": params, "states": states}
    value, grad = jax.value_and_grad(loss)(x)
    assert np.isfinite(float(value))
    rng = np.random.default_rng(100 + seed)
    scale = {k: 0.01 * (PARAMETER_RANGES[k][1] - PARAMETER_RANGES[k][0]) for k in params}
    eps = 1e-4  # the *_ri structures magnify rounding by dt (s), so smaller steps measure noise
    for _ in range(3):
        v = {
            "params": {k: jnp.asarray(rng.normal(size=n) * scale[k]) for k in params},
            "states": {k: jnp.asarray(rng.normal(size=n) * 0.01) for k in states},
        }
        up = loss(jax.tree_util.tree_map(lambda a, d: a + eps * d, x, v))
        down = loss(jax.tree_util.tree_map(lambda a, d: a - eps * d, x, v))
        fd = float(up - down) / (2 * eps)
        leaves = zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(v), strict=True)
        an = sum(float(jnp.vdot(g, d)) for g, d in leaves)
        assert an == pytest.approx(fd, rel=1e-6, abs=1e-9), (an, fd)
