"""What a run hands back to users: smash's ``ForwardRun`` and ``Optimize`` result objects, and the
time-stepped outputs of a run on the grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._containers import KeyedMaps, Namespace
from hydrograd.config.run_options import ReturnSpec
from hydrograd.core.simulate import SimulationOutput
from hydrograd.mesh.layout import CellLayout


class ForwardRun(Namespace):
    """Optional results of a forward run; which attributes exist depends on ``return_options``:
    ``time_step`` (DatetimeIndex), ``rr_states`` (list of keys/values maps, one per returned
    step), ``q_domain`` (``(nrow, ncol, n)`` m3/s), ``internal_fluxes`` (name -> ``(nrow, ncol, n)``),
    ``cost`` and ``jobs`` (floats)."""


class Optimize(Namespace):
    """Optional results of a calibration; attributes depend on ``return_options``: ``time_step``,
    ``rr_states``, ``q_domain``, ``internal_fluxes`` (as for a forward run), ``control_vector``
    (final transformed control), ``cost``, ``jobs``, ``jreg``, ``n_iter``, ``projg``, ``net``,
    ``iter_cost`` and ``iter_projg`` (cost and gradient norm at each iteration), ``lcurve_wjreg``
    (with ``cost_options={"wjreg": "lcurve"}``: the L-curve of the cycles, see
    ``hydrograd.calibration.regularization_weight``)."""


def grid_outputs(
    out: SimulationOutput,
    layout: CellLayout,
    state_keys: Sequence[str],
    flux_keys: Sequence[str],
    returns: ReturnSpec,
    time_index: pd.DatetimeIndex,
) -> dict[str, Any]:
    """The time-stepped outputs ``returns`` asks for (states, domain discharge, fluxes), on the
    grid at the returned steps, with their ``time_step`` dates; empty when none is asked for.
    States and fluxes come in the orders ``state_keys`` and ``flux_keys`` (the structure's)."""
    steps = returns.time_step
    result: dict[str, Any] = {}
    if returns["rr_states"]:
        keys = list(state_keys)
        stacked = np.stack([np.asarray(out.states[k])[steps] for k in keys], axis=-1)
        result["rr_states"] = [KeyedMaps(keys, layout.to_grid(stacked[i].T)) for i in range(len(steps))]
    if returns["q_domain"]:
        result["q_domain"] = layout.to_grid(np.asarray(out.q_domain)[steps])
    if returns["internal_fluxes"]:
        result["internal_fluxes"] = {k: layout.to_grid(np.asarray(out.fluxes[k])[steps]) for k in flux_keys}
    if result:
        result["time_step"] = time_index[steps]
    return result
