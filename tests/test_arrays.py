"""Host arrays onto the device (same dtypes as ``jnp.asarray``) and raveled trees, without compiling a program."""

from __future__ import annotations

import copy
import gc
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from hydrograd._arrays import XLA_CPU_ALIGNMENT, HostArrays, aligned_empty, host_ravel, to_device

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


@pytest.mark.parametrize(("shape", "dtype"), [((3, 1001), np.float32), ((7,), np.int32), ((2, 3, 5), np.float32)])
def test_aligned_empty_starts_on_xla_s_boundary_and_is_shared_by_device_put(shape, dtype):
    host = aligned_empty(shape, dtype)
    assert host.shape == shape and host.dtype == dtype and host.flags.c_contiguous and host.flags.writeable
    assert host.ctypes.data % XLA_CPU_ALIGNMENT == 0
    assert aligned_empty((0, 4), dtype).shape == (0, 4)
    if jax.default_backend() == "cpu":
        host[...] = 1
        device = jax.device_put(host)
        assert device.unsafe_buffer_pointer() == host.ctypes.data  # no copy
        np.testing.assert_array_equal(np.asarray(device), host)


def test_host_arrays_give_memory_back_only_once_nothing_holds_it():
    pool, shape = HostArrays(), (3, 100)

    def held_by(keep) -> bool:
        """Whether memory handed out, then held only through ``keep(array)``, is handed out again."""
        array = pool.take("prcp", shape, np.float32)
        array[...] = 1.0
        address, kept = array.ctypes.data, keep(array)
        del array
        gc.collect()
        again = pool.take("prcp", shape, np.float32).ctypes.data != address
        del kept
        return again

    assert held_by(jax.device_put)  # the device copy shares the memory on the CPU
    assert held_by(lambda a: a[1:])  # a view
    assert held_by(lambda a: a)  # the array itself
    assert not held_by(lambda a: None)  # nothing: reused
    free = pool.take("prcp", shape, np.float32)
    address = free.ctypes.data
    assert free.ctypes.data % XLA_CPU_ALIGNMENT == 0
    assert pool.take("pet", shape, np.float32).ctypes.data != address  # names are apart
    del free
    assert pool.take("prcp", (4, 100), np.float32).shape == (4, 100)  # another size: new memory
    for other in (copy.deepcopy(pool), pickle.loads(pickle.dumps(pool))):
        assert isinstance(other, HostArrays) and not other._owners


def test_host_arrays_never_give_two_threads_the_same_memory(monkeypatch):
    pool, shape = HostArrays(), (3, 100)
    pool.take("prcp", shape, np.float32)  # memory free at once, handed out again on the next request
    checked = pool._references

    def slow_check(name):  # both threads find the memory free before either holds it, unless serialized
        count = checked(name)
        time.sleep(0.05)
        return count

    monkeypatch.setattr(pool, "_references", slow_check)
    with ThreadPoolExecutor(max_workers=2) as threads:
        taken = list(threads.map(lambda _: pool.take("prcp", shape, np.float32), range(2)))
    assert taken[0].ctypes.data != taken[1].ctypes.data


def test_host_ravel_orders_as_ravel_pytree_and_gives_the_tree_back():
    rng = np.random.default_rng(0)
    tree = (
        [{"weight": rng.normal(size=(4, 3)), "bias": rng.normal(size=4)}, None, {"weight": rng.normal(size=(2, 4))}],
        {"b": np.float64(2.5), "a": rng.normal(size=(2, 2, 2))},
    )
    COMPILES.clear()
    flat, unravel = host_ravel(tree)
    back = unravel(flat + 1.0)
    assert not COMPILES
    with jax.enable_x64(True):
        expected, expected_unravel = ravel_pytree(tree)
        np.testing.assert_array_equal(flat, np.asarray(expected))
        expected_back = expected_unravel(expected + 1.0)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(tree)
    for got, want in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(expected_back), strict=True):
        assert isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, np.asarray(want))
