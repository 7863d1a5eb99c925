"""The core's inputs from grid maps: forcing gathered onto the active cells."""

from __future__ import annotations

import threading

import jax
import numpy as np
import pytest

import hydrograd
from hydrograd._arrays import XLA_CPU_ALIGNMENT, HostArrays
from hydrograd._process import SHARED_POOL_MIN_CELLS
from hydrograd.mesh.layout import CellLayout
from hydrograd.simulation import inputs

FIELDS = ("prcp", "pet", "snow", "temp")


def _layout(nrow: int, ncol: int) -> CellLayout:
    """Every cell of an ``nrow x ncol`` grid active, in a shuffled order."""
    rng = np.random.default_rng(1)
    rows, cols = np.divmod(rng.permutation(nrow * ncol), ncol)
    return CellLayout((nrow, ncol), rows, cols, np.arange(nrow * ncol))


@pytest.mark.parametrize("grid", [(10, 12), (60, 50)])
def test_active_forcings_gather_each_field_as_alone_and_a_large_domain_s_in_threads(grid, monkeypatch):
    layout = _layout(*grid)
    rng = np.random.default_rng(2)
    grids = {name: np.asfortranarray(rng.random((*grid, 5), dtype=np.float32)) for name in FIELDS}
    threads = []
    alone = inputs.active_forcing

    def recorded(layout, forcing, out=None):
        threads.append(threading.current_thread())
        return alone(layout, forcing, out)

    monkeypatch.setattr(inputs, "active_forcing", recorded)
    got = inputs.active_forcings(layout, grids)
    assert list(got) == list(grids)
    for name, values in grids.items():
        expected = values[layout.rows, layout.cols, :].T
        np.testing.assert_array_equal(got[name], expected)
        assert got[name].ctypes.data % XLA_CPU_ALIGNMENT == 0
    assert len(threads) == len(grids)
    if layout.nac >= SHARED_POOL_MIN_CELLS:
        assert threading.main_thread() not in threads
    else:
        assert set(threads) == {threading.main_thread()}


def test_gathered_forcing_reaches_the_cpu_device_without_a_copy():
    if jax.default_backend() != "cpu":
        pytest.skip("sharing host memory is the CPU device's behaviour")
    layout = _layout(4, 5)
    series = np.asfortranarray(np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3))
    host = layout.series_to_active(series)
    assert jax.device_put(host).unsafe_buffer_pointer() == host.ctypes.data


@pytest.mark.parametrize("grid", [(10, 12), (60, 50)])
def test_a_model_s_forcing_is_gathered_into_its_last_arrays_only_once_they_are_free(grid):
    layout, arrays = _layout(*grid), HostArrays()
    rng = np.random.default_rng(3)
    first = {name: np.asfortranarray(rng.random((*grid, 4), dtype=np.float32)) for name in FIELDS[:2]}
    second = {name: values + 1.0 for name, values in first.items()}
    kept = jax.device_put(inputs.active_forcings(layout, first, arrays))
    expected = {name: np.array(values) for name, values in kept.items()}
    again = inputs.active_forcings(layout, second, arrays)  # the first arrays are still held
    for name in FIELDS[:2]:
        np.testing.assert_array_equal(np.asarray(kept[name]), expected[name])  # untouched
        np.testing.assert_array_equal(again[name], second[name][layout.rows, layout.cols, :].T)
    addresses = {name: values.ctypes.data for name, values in again.items()}
    del again
    reused = inputs.active_forcings(layout, first, arrays)
    assert {name: values.ctypes.data for name, values in reused.items()} == addresses
    for name in FIELDS[:2]:
        np.testing.assert_array_equal(reused[name], expected[name])


def test_forward_runs_reuse_the_model_s_forcing_arrays_and_see_every_change(synthetic_inputs):
    setup, mesh = synthetic_inputs
    model = hydrograd.Model(setup, mesh, verbose=False)
    quiet = {"verbose": False}
    model.forward_run(common_options=quiet)
    address = model._host_arrays._owners["prcp"].ctypes.data
    model.atmos_data.prcp[...] *= 2.0  # in place, as a user may
    model.forward_run(common_options=quiet)
    assert model._host_arrays._owners["prcp"].ctypes.data == address
    fresh = hydrograd.Model(setup, mesh, verbose=False)
    fresh.atmos_data.prcp[...] *= 2.0
    fresh.forward_run(common_options=quiet)
    np.testing.assert_array_equal(model.response.q, fresh.response.q)
    np.testing.assert_array_equal(model.get_rr_final_states("hp"), fresh.get_rr_final_states("hp"))
