"""Where a mesh's active cells are, in the orders the layers above need.

The core computes on 1-D arrays over the active cells in the flow graph's (level) order; users
read and write ``(nrow, ncol)`` maps; smash orders active cells column-major (its control
vectors and ``rowcol_to_ind_ac``). :class:`CellLayout` owns the conversions between the three,
and :func:`index_mesh` builds it once per mesh together with the flow graph and the gauges' cells.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hydrograd._arrays import aligned_empty
from hydrograd.core.graph import FlowGraph
from hydrograd.mesh.graph import active_cell_index, build_flow_graph, catchment_masks, grid_neighbours


@dataclass(frozen=True, eq=False)
class CellLayout:
    """Active cells of a ``shape = (nrow, ncol)`` grid in the flow graph's order: ``rows`` and
    ``cols`` ``(nac,)``, and ``order``: for each cell, its rank in smash's column-major order."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    order: np.ndarray

    @property
    def nac(self) -> int:
        return int(self.rows.size)

    @functools.cached_property
    def column_major(self) -> np.ndarray:
        """For each cell in column-major order, its index in the flow graph's order."""
        return np.argsort(self.order)

    @functools.cached_property
    def fortran_index(self) -> np.ndarray:
        """Flat index of each cell in a ``(nrow, ncol)`` map stored in Fortran (column-major) order,
        ``(nac,)``."""
        return self.cols * self.shape[0] + self.rows

    @functools.cached_property
    def flat_index(self) -> np.ndarray:
        """Row-major flat grid index of each cell, ``(nac,)``."""
        return self.rows * self.shape[1] + self.cols

    def to_active(self, grid_values: Any) -> np.ndarray:
        """``(nrow, ncol, ...)`` -> ``(nac, ...)``, on the host."""
        grid_values = np.asarray(grid_values)
        flat = grid_values.reshape(self.shape[0] * self.shape[1], *grid_values.shape[2:])
        return np.take(flat, self.flat_index, axis=0)

    def series_to_active(self, grid_series: Any, out: np.ndarray | None = None) -> np.ndarray:
        """``(nrow, ncol, T)`` -> ``(T, nac)``, on the host. Forcing is stored time-major (Fortran
        order, as smash keeps it), where this is one gather per time step and no copy of the grid.
        The result goes into ``out`` (``(T, nac)``, the series' dtype) or a new array aligned for
        JAX's CPU device (:func:`aligned_empty`), which ``jax.device_put`` then shares instead of
        copying."""
        grid_series = np.asarray(grid_series)
        by_time = grid_series.transpose(2, 1, 0).reshape(grid_series.shape[2], -1)
        if out is None:
            out = aligned_empty((by_time.shape[0], self.nac), by_time.dtype)
        elif out.shape != (by_time.shape[0], self.nac) or out.dtype != by_time.dtype:
            raise ValueError(
                f"out is {out.shape} {out.dtype}; the series needs {(by_time.shape[0], self.nac)} {by_time.dtype}"
            )
        # "clip" writes straight into ``out`` ("raise" fills a buffer first); every index is in range.
        return np.take(by_time, self.fortran_index, axis=1, out=out, mode="clip")

    def to_grid(self, active_values: Any, fill: float = -99.0) -> np.ndarray:
        """``(..., nac)`` -> ``(nrow, ncol, ...)`` with ``fill`` outside the active cells."""
        active_values = np.asarray(active_values)
        lead = active_values.shape[:-1]
        out = np.full((self.shape[0] * self.shape[1], *lead), fill, dtype=active_values.dtype)
        out[self.flat_index] = np.moveaxis(active_values, -1, 0)
        return out.reshape(*self.shape, *lead)

    def neighbours(self) -> np.ndarray:
        """``(nac, 4)`` indices of each cell's neighbours above, below, left and right (the cell
        itself where that neighbour is outside the grid or inactive)."""
        return grid_neighbours(self.rows, self.cols, self.shape)


@dataclass(frozen=True, eq=False)
class IndexedMesh:
    """A checked mesh, indexed: its ``layout``, routing ``graph``, the cell of each gauge in the
    graph's order (``gauge_cells``, ``(ng,)``), which gauges sit at an outlet (``outlet_gauges``),
    each gauge's catchment (``catchments``, ``(ng, nrow, ncol)`` bool) and smash's
    ``rowcol_to_ind_ac`` (column-major index of each active cell, -100 elsewhere, as smash shows it)."""

    layout: CellLayout
    graph: FlowGraph
    gauge_cells: np.ndarray
    outlet_gauges: np.ndarray
    catchments: np.ndarray
    rowcol_to_ind_ac: np.ndarray


def index_mesh(mesh: Mapping[str, Any]) -> IndexedMesh:
    """Index a mesh checked by :func:`hydrograd.mesh.validate.validate_mesh`. The flow graph's arrays
    go onto JAX's device, which starts JAX's backend if nothing did before."""
    shape = (mesh["nrow"], mesh["ncol"])
    rows, cols = active_cell_index(mesh["active_cell"])
    nac = rows.size
    column_major = np.full(shape, -100, dtype=np.int32)
    column_major[rows, cols] = np.arange(nac)
    graph, order = build_flow_graph(mesh["flwdir"], mesh["active_cell"], mesh["dx"], mesh["dy"], mesh["flwacc"])
    layout = CellLayout(shape, rows[order], cols[order], order)
    in_flow_order = np.full(shape, -1, dtype=np.int64)
    in_flow_order[layout.rows, layout.cols] = np.arange(nac)
    gauge_pos = np.asarray(mesh["gauge_pos"], dtype=np.int64).reshape(-1, 2)
    gauge_cells = in_flow_order[gauge_pos[:, 0], gauge_pos[:, 1]]
    downstream = np.asarray(graph.downstream)[:nac]
    return IndexedMesh(
        layout=layout,
        graph=graph,
        gauge_cells=gauge_cells,
        outlet_gauges=downstream[gauge_cells] == nac,
        catchments=catchment_masks(mesh["flwdir"], gauge_pos),
        rowcol_to_ind_ac=column_major,
    )
