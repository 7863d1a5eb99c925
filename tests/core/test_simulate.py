"""The time loop: memory-bounded checkpointing and step-indexed forcing change nothing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd as smash
from hydrograd.core import simulate as core


@pytest.fixture(scope="module")
def inputs64():
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(start_time="2012-09-01", end_time="2012-11-30")
    model = smash.Model(setup, mesh, verbose=False)
    jax.config.update("jax_enable_x64", True)
    floating = lambda a: hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)  # noqa: E731
    yield jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if floating(a) else a, model._core_inputs())
    jax.config.update("jax_enable_x64", False)


def _value_and_grad(inputs):
    def cost(params):
        out = core.simulate(**{**inputs, "params": params})
        return jnp.sum(out.q**2) + jnp.sum(out.final_states["hp"])

    return jax.value_and_grad(cost)(inputs["params"])


def test_chunked_checkpointing_gives_the_same_value_and_gradient(inputs64, monkeypatch):
    plain = _value_and_grad(inputs64)
    monkeypatch.setattr(core, "CHECKPOINT_BUDGET", 0)
    chunked = _value_and_grad(inputs64)
    assert float(chunked[0]) == pytest.approx(float(plain[0]), rel=1e-12)
    for key, grad in plain[1].items():
        np.testing.assert_allclose(chunked[1][key], grad, rtol=1e-10, atol=1e-14, err_msg=key)


def test_indexed_forcing_equals_materialised_forcing(inputs64):
    forcing = inputs64["forcing"]
    n = forcing.prcp.shape[0]
    cycle = np.arange(n) % 7
    shared = core.Forcing(forcing.prcp[:7], forcing.pet[:7], jnp.asarray(cycle))
    materialised = core.Forcing(forcing.prcp[cycle], forcing.pet[cycle])
    a = core.simulate(**{**inputs64, "forcing": shared})
    b = core.simulate(**{**inputs64, "forcing": materialised})
    np.testing.assert_array_equal(a.q, b.q)
    assert shared.ntime_step == n
