"""Forward runs: ``Model.forward_run`` and the functional ``forward_run``."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from hydrograd._arrays import to_device
from hydrograd._containers import KeyedMaps, Namespace
from hydrograd.config._checks import check_model
from hydrograd.config.cost_options import cost_data, observation_cost_spec, warn_unobserved_gauges
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.config.run_options import return_options as check_return_options
from hydrograd.core.cost import ObservationCost, observation_cost

if TYPE_CHECKING:
    from hydrograd.model import Model


class ForwardRun(Namespace):
    """Optional results of a forward run; which attributes exist depends on ``return_options``:
    ``time_step`` (DatetimeIndex), ``rr_states`` (list of keys/values maps, one per returned
    step), ``q_domain`` (``(nrow, ncol, n)`` m3/s), ``internal_fluxes`` (name -> ``(nrow, ncol, n)``),
    ``cost`` and ``jobs`` (floats)."""


def observation_cost_of(model: Model, cost_options: dict[str, Any] | None):
    """The core's ``ObservationCost`` for ``cost_options`` on this model."""
    return observation_cost_spec(
        cost_options,
        codes=model.mesh.code,
        outlet_gauges=model._outlet_gauges,
        start=model.setup.start,
        end=model.setup.end,
        dt=model.setup.dt,
    )


def run_forward(
    model: Model,
    cost_options: dict[str, Any] | None,
    common_options: dict[str, Any] | None,
    return_options: dict[str, Any] | None,
) -> ForwardRun | None:
    """Run ``model`` in place; return a ``ForwardRun`` when ``return_options`` asks for anything."""
    common = check_common_options(common_options)
    time_index = model.setup.time_index()
    wanted = check_return_options(return_options, "forward_run", time_index)
    spec = observation_cost_of(model, cost_options)
    if common["verbose"]:
        print("</> Forward Run")
    out = model._run(**recorded(wanted))
    result = collect_run_outputs(model, out, wanted, time_index)
    if wanted["cost"] or wanted["jobs"]:
        if not spec.gauges:
            raise ValueError("return_options 'cost' and 'jobs' need a gauge in cost_options 'gauge'; the mesh has none")
        jobs = response_cost(model, spec)
        if wanted["cost"]:
            result["cost"] = jobs
        if wanted["jobs"]:
            result["jobs"] = jobs
    return ForwardRun(**result) if result else None


def response_cost(model: Model, spec: ObservationCost) -> float:
    """The cost ``spec`` (an ``ObservationCost``) of the model's last simulated discharge against its
    observations, with a warning where it is undefined: gauges without observations in the cost
    window (NaN, as in smash), or any other non-finite cost (e.g. NSE on a window where the
    observed discharge does not vary)."""
    window = slice(spec.start, None)
    unobserved = warn_unobserved_gauges(
        model.response_data.q, model.mesh.code, spec.gauges, window, "in the cost window"
    )
    q_sim, q_obs = to_device(model.response.q), to_device(model.response_data.q)
    jobs = float(observation_cost(q_sim, q_obs, spec, cost_data(model, spec)))
    if not (np.isfinite(jobs) or unobserved):
        warnings.warn(
            f"The cost is {jobs} over the cost window ({model.setup.ntime_step - spec.start} time step(s) "
            "from cost_options 'end_warmup'): a component of 'jobs_cmpt' is undefined there, e.g. NSE or KGE "
            "where the observed discharge does not vary",
            stacklevel=3,
        )
    return jobs


def recorded(wanted: dict[str, Any]) -> dict[str, bool]:
    """The ``record_*`` flags of ``simulate`` that the checked return options ``wanted`` need."""
    return {
        "record_states": wanted["rr_states"],
        "record_q_domain": wanted["q_domain"],
        "record_fluxes": wanted["internal_fluxes"],
    }


def collect_run_outputs(model: Model, out, wanted: dict[str, Any], time_index) -> dict[str, Any]:
    """The time-stepped outputs a run recorded (states, domain discharge, fluxes), on the grid."""
    steps = wanted["time_step"]
    result: dict[str, Any] = {}
    if wanted["rr_states"]:
        keys = list(model.rr_initial_states.keys)
        stacked = np.stack([np.asarray(out.states[k])[steps] for k in keys], axis=-1)
        result["rr_states"] = [KeyedMaps(keys, model._to_grid(stacked[i].T)) for i in range(len(steps))]
    if wanted["q_domain"]:
        result["q_domain"] = model._to_grid(np.asarray(out.q_domain)[steps])
    if wanted["internal_fluxes"]:
        result["internal_fluxes"] = {k: model._to_grid(np.asarray(v)[steps]) for k, v in out.fluxes.items()}
    if result:
        result["time_step"] = time_index[steps]
    return result


def forward_run(
    model: Model,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
):
    """Run a copy of ``model``; return it, or ``(model, ForwardRun)`` when results are asked for."""
    check_model(model)
    new = model.copy()
    ret = new.forward_run(cost_options, common_options, return_options)
    return new if ret is None else (new, ret)
