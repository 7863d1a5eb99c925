"""What a run hands back to users: smash's ``ForwardRun``, ``Optimize``, ``MultipleForwardRun`` and
``MultisetEstimate`` result objects, and the time-stepped outputs of a run on the grid."""

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


class BackwardRun(Namespace):
    """Optional results of a backward run; attributes depend on ``return_options``: ``time_step``,
    ``rr_states``, ``q_domain``, ``internal_fluxes``, ``cost`` and ``jobs`` (as for a forward run)
    and ``grad`` (float32 ``(n,)``, the derivative with respect to the control vector)."""


class Optimize(Namespace):
    """Optional results of a calibration; attributes depend on ``return_options``: ``time_step``,
    ``rr_states``, ``q_domain``, ``internal_fluxes`` (as for a forward run), ``control_vector``
    (final transformed control), ``cost``, ``jobs``, ``jreg``, ``n_iter``, ``projg``, ``net``,
    ``iter_cost`` and ``iter_projg`` (cost and gradient norm at each iteration), ``lcurve_wjreg``
    (with ``cost_options={"wjreg": "lcurve"}``: the L-curve of the cycles, see
    ``hydrograd.calibration.regularization_weight``)."""


class BayesianOptimize(Namespace):
    """Optional results of a Bayesian calibration; attributes depend on ``return_options``:
    ``time_step``, ``rr_states``, ``q_domain``, ``internal_fluxes`` (as for a forward run),
    ``control_vector``, ``cost`` (the negative log-posterior per observation), ``n_iter``,
    ``projg``, ``iter_cost``, ``iter_projg`` (as for ``Optimize``), ``log_lkh``, ``log_prior`` and
    ``log_h`` (the log-posterior's terms, see ``hydrograd.core.structural_error``) and ``serr_mu``,
    ``serr_sigma`` (float32 ``(ng, ntime_step)``: the structural error's mean and deviation, m3/s,
    for the calibrated discharge)."""


class MultipleForwardRun(Namespace):
    """Result of ``multiple_forward_run`` over ``n`` parameter sets: ``cost`` (float32 ``(n,)``,
    the cost of each run) and ``q`` (float32 ``(ng, ntime_step, n)``, the discharge at the gauges
    of each run, m3/s). As smash's, it also keeps ``_samples`` (the ``Samples`` given, or None for
    a dict), ``_spatialized_samples`` (name -> ``(nrow, ncol, n)``: each set's values on the grid;
    a read-only broadcast view where a set gives one number) and ``_cost_options`` (the
    ``cost_options`` given)."""


class MultisetEstimate(Namespace):
    """Optional results of ``multiset_estimate``; attributes depend on ``return_options``:
    ``time_step``, ``rr_states``, ``q_domain``, ``internal_fluxes``, ``cost`` and ``jobs`` (of the
    forward run with the estimated values, as for a forward run) and ``lcurve_multiset``: for one
    ``alpha``, ``{"mahal_dist": float, "cost": float}`` (the estimate's Mahalanobis distance from
    the mean of the sets, and its cost); for several, ``{"mahal_dist", "cost"}`` as float64 arrays
    with one value per ``alpha``, ``"alpha"`` (the values tried) and ``"alpha_opt"`` (the one the
    L-curve chose, whose estimate the model keeps)."""


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
