"""Where the active cells are: the grid, the flow graph's order and smash's column-major order."""

from __future__ import annotations

import numpy as np
import pytest

from hydrograd.factory import load_dataset
from hydrograd.mesh.layout import index_mesh
from hydrograd.mesh.validate import validate_mesh


@pytest.fixture(scope="module")
def lez_mesh(data_root):
    return validate_mesh(load_dataset("Lez")[1])


def test_conversions_round_trip_between_grid_and_active_cells(lez_mesh):
    layout = index_mesh(lez_mesh).layout
    active = np.asarray(lez_mesh["active_cell"]) == 1
    assert (~active).any()
    grid = np.arange(active.size, dtype=np.float32).reshape(active.shape)
    values = layout.to_active(grid)
    assert values.shape == (layout.nac,) and layout.nac == int(active.sum())
    back = layout.to_grid(values)
    np.testing.assert_array_equal(back[active], grid[active])
    assert np.all(back[~active] == -99.0)
    series = np.stack([grid, 2 * grid, 3 * grid], axis=-1)
    np.testing.assert_array_equal(layout.series_to_active(series), np.stack([values, 2 * values, 3 * values]))


def test_orders_agree_with_smash_column_major_numbering_and_the_graph(lez_mesh):
    mesh = lez_mesh
    indexed = index_mesh(mesh)
    layout = indexed.layout
    # column-major numbering of each active cell, read in the graph's order, is ``order``
    np.testing.assert_array_equal(indexed.rowcol_to_ind_ac[layout.rows, layout.cols], layout.order)
    np.testing.assert_array_equal(layout.order[layout.column_major], np.arange(layout.nac))
    # every cell drains into a cell later in the graph's order, or into the sink
    downstream = np.asarray(indexed.graph.downstream)[: layout.nac]
    assert np.all(downstream > np.arange(layout.nac))
    gauges = np.asarray(mesh["gauge_pos"]).reshape(-1, 2)
    np.testing.assert_array_equal(layout.rows[indexed.gauge_cells], gauges[:, 0])
    np.testing.assert_array_equal(layout.cols[indexed.gauge_cells], gauges[:, 1])
    np.testing.assert_array_equal(indexed.outlet_gauges, downstream[indexed.gauge_cells] == layout.nac)
