"""The flow graph over active cells, as the routing sweep consumes it.

Cells are numbered in *level order*: level by level, sources first, so that every cell drains
into a cell of a higher number and each level is a contiguous range of numbers. The sweep then
reads and writes a level as a slice (fast contiguous memory access); only the hand-over of
discharge to the downstream cells is a scatter. Index ``nac`` is a sink that receives the
outlets' outflow; arrays are padded past it so that a slice of any bucket's width that starts
inside the domain stays inside the array.

Levels are grouped in *buckets* of one power-of-two width: one loop per bucket, so the number
of loops (hence the compile time) grows with the log of the widest level, not with the number
of levels, and the padded work stays close to ``nac``.

The same graph also serves a *wavefront* schedule of a whole run (``hydrograd.core.simulate``):
a cell is scheduled ``wave_offset`` steps late, one step before the cell it drains into, so at
every scheduled step each cell's inflow is what its upstream cells released the step before.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class Bucket(NamedTuple):
    """Consecutive levels visited by one loop: their first cells ``starts`` and sizes ``counts``
    (``(n_levels,)`` int32), and ``lanes = arange(width)``, whose length is the slice width."""

    starts: jnp.ndarray
    counts: jnp.ndarray
    lanes: jnp.ndarray


class FlowGraph(NamedTuple):
    """Routing topology and cell geometry, cells in level order.

    - ``cell_area``: ``dx * dy`` of each active cell (m2), ``(nac,)`` — its length is ``nac``;
    - ``downstream``: the cell each cell drains into (``nac``, the sink, for outlets and padding);
    - ``has_upstream``: whether a cell receives water from another active cell (smash does not
      route cells without upstream cells);
    - ``upstream_area``: drained area above the cell, itself excluded (m2); ``dx``: cell side (m);
    - ``wave_offset``: ``n_levels - 1`` minus the number of cells between a cell and its outlet
      (``(nac,)`` int32): its delay in the wavefront schedule, where every cell runs exactly one
      step after the cells that drain into it;
    - ``buckets``: the levels, sources first.

    Every array but ``cell_area`` and ``wave_offset`` has the padded length ``nac + max bucket
    width``.
    """

    cell_area: jnp.ndarray
    downstream: jnp.ndarray
    has_upstream: jnp.ndarray
    upstream_area: jnp.ndarray
    dx: jnp.ndarray
    wave_offset: jnp.ndarray
    buckets: tuple[Bucket, ...]

    @property
    def nac(self) -> int:
        return self.cell_area.shape[0]

    @property
    def n_levels(self) -> int:
        """Number of topological levels: the longest flow path counts ``n_levels`` cells."""
        return sum(bucket.starts.shape[0] for bucket in self.buckets)

    @property
    def size(self) -> int:
        """Padded length of the per-cell arrays."""
        return self.downstream.shape[0]
