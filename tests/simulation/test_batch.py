"""Catchments padded to one shape and run as one vmapped program give each catchment's own run."""

from __future__ import annotations

import numpy as np
import pytest

from hydrograd.core.simulate import Record, simulate_jit
from hydrograd.model import Model
from hydrograd.simulation.batch import (
    CELL_QUANTUM,
    LEVEL_QUANTUM,
    batch_shape,
    forward_batch,
    gauge_rows,
    pad_cells,
    pad_core_inputs,
    stack,
)


@pytest.fixture(scope="module")
def inputs(synthetic_region):
    return [Model(setup, mesh, verbose=False).core_inputs() for setup, mesh in synthetic_region.values()]


def test_the_shape_fits_every_catchment_rounded(inputs):
    shape = batch_shape(inputs)
    assert shape.nac % CELL_QUANTUM == 0 and shape.nac >= max(i.graph.nac for i in inputs)
    assert shape.n_levels % LEVEL_QUANTUM == 0 and shape.n_levels >= max(i.graph.n_levels for i in inputs)
    widest = max(int(np.max(np.asarray(b.counts))) for i in inputs for b in i.graph.buckets)
    assert shape.width >= widest and shape.width & (shape.width - 1) == 0
    assert shape.ng == max(int(np.size(i.gauge_index)) for i in inputs)


@pytest.mark.parametrize("schedule", ["sweep", "wavefront"])
def test_a_padded_catchment_runs_as_itself(inputs, schedule):
    """Under both schedules, the padded graph (one bucket, empty levels, shifted wavefront delays)
    and the padded cells leave the real cells' discharge and states as they were."""
    one = inputs[0]
    shape = batch_shape(inputs)
    order = np.arange(np.size(one.gauge_index))[::-1]
    padded = pad_core_inputs(one, shape, order)
    record = Record(states=True)
    alone = simulate_jit(one, record, schedule)
    run = simulate_jit(padded, record, schedule)
    ng, nac = order.size, one.graph.nac
    np.testing.assert_allclose(np.asarray(run.q)[:ng], np.asarray(alone.q)[order], rtol=1e-6, atol=1e-6)
    for name, value in alone.final_states.items():
        np.testing.assert_allclose(np.asarray(run.final_states[name])[:nac], value, rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(run.states["hp"])))


def test_forward_batch_equals_each_catchment_alone(inputs):
    record = Record(states=True, q_domain=True)
    outputs = forward_batch(inputs, record, batch_size=2)
    for one, out in zip(inputs, outputs, strict=True):
        alone = simulate_jit(one, record)
        np.testing.assert_allclose(out.q, alone.q, rtol=1e-5, atol=1e-5)
        assert out.q_domain.shape == alone.q_domain.shape
        np.testing.assert_allclose(out.q_domain, alone.q_domain, rtol=1e-5, atol=1e-5)
        for name, value in alone.states.items():
            np.testing.assert_allclose(out.states[name], value, rtol=1e-5, atol=1e-5)


def test_gauge_rows_put_the_order_first_then_copies():
    np.testing.assert_array_equal(gauge_rows(np.array([2, 0, 1]), 5), [2, 0, 1, 2, 2])


def test_pad_cells_copies_the_last_cell():
    np.testing.assert_array_equal(pad_cells(np.array([[1, 2], [3, 4]]), 4), [[1, 2, 2, 2], [3, 4, 4, 4]])


def test_catchments_of_different_periods_do_not_batch(synthetic_region):
    (setup_a, mesh_a), (setup_b, mesh_b) = list(synthetic_region.values())[:2]
    shorter = {**setup_b, "end_time": "2021-01-01"}
    a = Model(setup_a, mesh_a, verbose=False).core_inputs()
    b = Model(shorter, mesh_b, verbose=False).core_inputs()
    with pytest.raises(ValueError, match="catchment 1 of the batch differs from catchment 0 in its ntime_step"):
        forward_batch([a, b], Record())


def test_stack_names_a_shape_mismatch():
    with pytest.raises(ValueError, match="differ in the shape"):
        stack([{"a": np.zeros(2)}, {"a": np.zeros(3)}])
