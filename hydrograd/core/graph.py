"""The flow graph over active cells, as the routing sweep consumes it.

Cells are numbered ``0 .. nac-1`` (smash's order: column-major over the grid); index ``nac`` is a
padding cell that receives the outlets' outflow and absorbs padded work. Cells are grouped in
topological levels (a level only receives water from lower levels). Levels are padded to a
power-of-two width and consecutive levels of the same width form a *bucket*, so the sweep runs
one loop per bucket: total padded work stays near ``nac`` and the number of loops (hence the
compile time) grows with the log of the widest level, not with the number of levels.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class FlowGraph(NamedTuple):
    """Routing topology and cell geometry, every array padded to length ``nac + 1``.

    - ``downstream``: index of the cell each cell drains into (``nac`` for outlets), int32;
    - ``buckets``: one int32 array per bucket, shape ``(n_levels, width)``, padded with ``nac``,
      in increasing level order;
    - ``has_upstream``: whether a cell receives water from another active cell (smash does not
      route cells of the first level);
    - ``cell_area``: ``dx * dy`` (m2); ``upstream_area``: drained area above the cell, itself
      excluded (m2); ``dx``: cell side along the flow (m).
    """

    downstream: jnp.ndarray
    buckets: tuple[jnp.ndarray, ...]
    has_upstream: jnp.ndarray
    cell_area: jnp.ndarray
    upstream_area: jnp.ndarray
    dx: jnp.ndarray

    @property
    def nac(self) -> int:
        return self.downstream.shape[0] - 1
