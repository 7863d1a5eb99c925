"""Host arrays onto the device: same dtypes as ``jnp.asarray``, without compiling a program."""

from __future__ import annotations

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd._arrays import to_device

COMPILES: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda name, duration, **kwargs: COMPILES.append(name) if "backend_compile" in name else None
)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (np.linspace(0.0, 1.0, 7), None),
        (np.arange(5), np.int32),
        (np.ones((3, 2), bool), None),
        ([1.5, 2.5], np.float32),
    ],
)
def test_to_device_matches_jnp_asarray_and_compiles_nothing(values, dtype, x64):
    with jax.enable_x64(x64):
        COMPILES.clear()
        got = to_device(values, dtype)
        assert not COMPILES
        expected = jnp.asarray(np.asarray(values, dtype=dtype))
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_to_device_copies_the_host_buffer():
    host = np.zeros(4)
    device = to_device(host)
    host[0] = 1.0
    assert float(device[0]) == 0.0
