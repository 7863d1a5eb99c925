"""smash's free functions over a ``Model``: ``forward_run``, ``backward_run``,
``multiple_forward_run``, ``multiset_estimate``, ``optimize``, ``evaluation``, ``signatures``,
``hydrograph_segmentation``, ``precipitation_indices``, ``default_optimize_options``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config.calibration import check_bayesian_mapping
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.config.optimize_options import check_mapping_optimizer, default_options
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.config.run_options import evaluation_options
from hydrograd.config.samples import sample_sets, uniform_sample_values
from hydrograd.config.signal_options import (
    EventSeg,
    check_domain,
    check_max_duration,
    check_peak_quant,
    check_peak_value,
    check_signatures,
    select_gauges,
)
from hydrograd.config.signal_options import event_seg as check_event_seg
from hydrograd.factory.samples import Samples
from hydrograd.mesh.graph import catchment_masks
from hydrograd.model import Model
from hydrograd.nn import default_net
from hydrograd.signal import (
    PrecipitationIndices,
    Signatures,
    gauges_with_data,
    segmentation_table,
    signature_tables,
    step_dates,
)
from hydrograd.signal import precipitation_indices as compute_precipitation_indices
from hydrograd.simulation.cost import cost_data
from hydrograd.simulation.evaluation import evaluate
from hydrograd.simulation.inputs import require_active_cells
from hydrograd.simulation.multiple import sample_runs
from hydrograd.simulation.outputs import (
    BackwardRun,
    BayesianOptimize,
    ForwardRun,
    MultipleForwardRun,
    MultisetEstimate,
    Optimize,
)


def check_model(model: Any, what: str = "model") -> None:
    """TypeError unless ``model`` is a ``hydrograd.Model``."""
    if not isinstance(model, Model):
        raise TypeError(f"{what} must be a hydrograd.Model, got {type(model).__name__}")


def _on_copy(model: Any, run: Callable[[Model], Any]) -> Any:
    """smash's free-function convention: ``run`` on a copy of ``model``; the copy, or ``(copy,
    result)`` when ``run`` returns a result."""
    check_model(model)
    new = model.copy()
    ret = run(new)
    return new if ret is None else (new, ret)


def forward_run(
    model: Model,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
) -> Model | tuple[Model, ForwardRun]:
    """Run a copy of ``model``; return it, or ``(model, ForwardRun)`` when results are asked for."""
    return _on_copy(model, lambda new: new.forward_run(cost_options, common_options, return_options))


def backward_run(
    model: Model,
    diff_target: str = "j",
    cotangent: float | np.ndarray | None = None,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
) -> Model | tuple[Model, BackwardRun]:
    """Differentiate a copy of ``model``; return it, or ``(model, BackwardRun)`` when results are
    asked for (``return_options={"grad": True}`` for the gradient).

    ``diff_target="j"`` gives ``cotangent * dJ/dx`` (J the cost of ``cost_options``, as a forward
    run computes it); ``"q"`` gives ``sum(cotangent * q)``'s derivative, ``q`` the ``(nac,
    ntime_step)`` discharge of every active cell in column-major order (``mesh.active_cell`` read
    with ``order="F"``), ``cotangent`` of that shape or a number. ``x`` is the control vector
    ``optimize`` would move for ``mapping``, ``optimizer`` and ``optimize_options``, at the model's
    current values and in the optimizer's transformed space; with ``mapping="ann"`` it holds the
    hybrid network's selected weights only. The copy is then run forward like ``forward_run``."""
    return _on_copy(
        model,
        lambda new: new.backward_run(
            diff_target, cotangent, mapping, optimizer, optimize_options, cost_options, common_options, return_options
        ),
    )


def optimize_control_info(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The control vector ``optimize`` would move for ``mapping``, ``optimizer`` and
    ``optimize_options`` at the model's current values, as smash describes it: ``n`` its length,
    ``nbk`` the sizes of its six blocks (parameters, initial states, two structural-error blocks,
    hybrid network entries, regionalization network weights), ``x``/``l``/``u`` the values and
    bounds in the optimizer's transformed space, ``x_raw``/``l_raw``/``u_raw`` untransformed,
    ``nbd`` the bound kinds (0 unbounded, 2 bounded) and ``name`` each entry's name. With
    ``mapping="ann"`` the network's weights are drawn from ``optimize_options["random_state"]``
    and the arrays are float64, as smash's."""
    check_model(model)
    return model._optimize_control_info(mapping, optimizer, optimize_options)


def multiple_forward_run(
    model: Model,
    samples: Samples | dict[str, Any],
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
) -> MultipleForwardRun:
    """Run ``model`` once per parameter set of ``samples`` and return each run's cost and
    discharge at the gauges (``MultipleForwardRun``); the model itself is left as it is.

    ``samples``: a ``Samples`` (``factory.generate_samples``), or a dict mapping parameter and
    initial-state names to sequences of ``n`` values, each a number or a ``(nrow, ncol)`` map. The
    runs are one batched, compiled program (``hydrograd.simulation.multiple``). ``cost_options``
    and ``common_options`` as for ``forward_run``.
    """
    check_model(model)
    require_active_cells(model.layout)
    facts = model.facts()
    if isinstance(samples, Samples):
        given = {k: getattr(samples, k) for k in samples._problem["names"]}
        values = uniform_sample_values(given, facts)
    elif isinstance(samples, dict):
        values = given = sample_sets(samples, facts, model.mesh.active_cell)
    else:
        raise TypeError(f"samples argument must be a Samples object or a dict, got {type(samples).__name__}")
    spec = observation_cost_spec(cost_options, facts)
    if not spec.gauges:
        raise ValueError("multiple_forward_run measures a cost for each run: it needs a gauge in cost_options 'gauge'")
    verbose = check_common_options(common_options).verbose
    if verbose:
        print("</> Multiple Forward Run")
    codes = facts.gauge_codes
    q_obs = model.response_data.q
    data = cost_data(spec, q_obs, model.atmos_data.mean_prcp, model.mesh.area_dln, model.setup.dt, codes)
    cost, q = sample_runs(model.core_inputs(), model.layout, values, q_obs, spec, data, codes, verbose)
    on_grid = (*facts.grid_shape, len(cost))
    return MultipleForwardRun(
        cost=cost,
        q=q,
        _samples=samples if isinstance(samples, Samples) else None,
        _spatialized_samples={k: np.broadcast_to(v, on_grid) for k, v in given.items()},
        _cost_options=copy.deepcopy(cost_options),
    )


def multiset_estimate(
    model: Model,
    multiset: MultipleForwardRun,
    alpha: float | list[float] | np.ndarray | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
) -> Model | tuple[Model, MultisetEstimate]:
    """Estimate, on a copy of ``model``, the parameters and initial states ``multiset`` sampled
    from its runs, then run the copy forward; return it, or ``(model, MultisetEstimate)`` when
    results are asked for (``return_options={"lcurve_multiset": True}`` for the L-curve).

    Each run weighs ``exp(-2**alpha * (J / min J - 1)**2)`` times the prior density of its values
    (the sampling law of a ``Samples``, else a kernel density estimate on each cell), and each
    cell's estimate is the weighted mean of the runs' values (``hydrograd.simulation.estimate``).
    ``alpha``: a number, or a list or array of numbers among which the L-curve (cost of the
    estimate against its Mahalanobis distance from the mean of the sets) chooses; None: 50 values
    from -2 to 10. The cost is ``multiset``'s ``cost_options``. ``common_options`` and the other
    ``return_options`` as for ``forward_run``.
    """
    return _on_copy(model, lambda new: new.multiset_estimate(multiset, alpha, common_options, return_options))


def optimize(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
    callback=None,
) -> Model | tuple[Model, Optimize]:
    """Calibrate a copy of ``model``; return it, or ``(model, Optimize)`` when results are asked for.

    ``mapping``: uniform, distributed, multi-linear, multi-power, ann; ``optimizer``: sbs, lbfgsb,
    nelder-mead, powell, adam, sgd, adagrad, rmsprop (None: the mapping's default; see
    ``hydrograd.optimizers.MAPPINGS``).

    ``callback(iopt)`` runs after each iteration with an ``Optimize`` holding ``control_vector``,
    ``cost``, ``n_iter`` (and ``projg`` for gradient methods); it must take an argument named
    ``iopt``. Raising ``StopIteration`` in it ends the calibration cleanly on the best iterate found
    so far (the model then receives it, as after a normal end). Ctrl-C (``KeyboardInterrupt``)
    instead leaves the model exactly as it was and says so.
    """
    return _on_copy(
        model,
        lambda new: new.optimize(
            mapping, optimizer, optimize_options, cost_options, common_options, return_options, callback
        ),
    )


def default_optimize_options(model: Model, mapping: str = "uniform", optimizer: str | None = None) -> dict[str, Any]:
    """The options ``optimize`` uses when none are given, as a dict to edit and pass back."""
    check_model(model)
    mapping, optimizer = check_mapping_optimizer(mapping, optimizer)
    facts = model.facts()
    options = default_options(facts, mapping, optimizer)
    if mapping != "ann":
        return options
    bounds = options["bounds"]
    net = default_net(facts.nd, len(bounds), list(bounds.values()), facts.grid_shape)
    return {"parameters": options.pop("parameters"), "bounds": options.pop("bounds"), "net": net, **options}


def bayesian_optimize(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
    callback=None,
) -> Model | tuple[Model, BayesianOptimize]:
    """Calibrate a copy of ``model`` by maximum a posteriori estimation; return it, or ``(model,
    BayesianOptimize)`` when results are asked for.

    The cost is the negative log-posterior per observation (``hydrograd.core.structural_error``):
    a Gaussian structural error of mean ``serr_mu_mapping`` and deviation ``serr_sigma_mapping``
    (setup) at each gauge of ``cost_options["gauge"]``, widened by ``u_response_data.q_stdev``,
    and the priors of ``cost_options["control_prior"]`` (control name -> ``[distribution,
    parameters]``, see :func:`bayesian_optimize_control_info` for the names; ``FlatPrior``
    elsewhere). The structural-error parameters of those gauges are calibrated with the model's
    (``optimize_options["parameters"]``, by default all of them). ``mapping``: every mapping but
    ``ann``; ``optimizer``, ``common_options`` and ``callback`` as for :func:`optimize`.
    """
    return _on_copy(
        model,
        lambda new: new.bayesian_optimize(
            mapping, optimizer, optimize_options, cost_options, common_options, return_options, callback
        ),
    )


def default_bayesian_optimize_options(
    model: Model, mapping: str = "uniform", optimizer: str | None = None
) -> dict[str, Any]:
    """The options ``bayesian_optimize`` uses when none are given, as a dict to edit and pass back
    (those of ``optimize`` with the structural-error parameters added)."""
    check_model(model)
    mapping, optimizer = check_bayesian_mapping(mapping, optimizer)
    facts = model.facts()
    return default_options(facts, mapping, optimizer, (facts.serr_mu_parameters, facts.serr_sigma_parameters))


def bayesian_optimize_control_info(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The control vector ``bayesian_optimize`` would move, described as
    :func:`optimize_control_info` describes ``optimize``'s: its structural-error blocks hold each
    calibrated parameter at each gauge of ``cost_options["gauge"]`` (``sg0-<code>``)."""
    check_model(model)
    return model._bayesian_optimize_control_info(mapping, optimizer, optimize_options, cost_options)


def evaluation(
    model: Model,
    metric: str | list[str] = "nse",
    start_eval: str | pd.Timestamp | None = None,
    end_eval: str | pd.Timestamp | None = None,
) -> np.ndarray:
    """Each metric at each gauge over ``[start_eval, end_eval]``: array ``(ng, n_metrics)``.

    Metrics: nse, nnse, kge, mae, mape, mse, rmse, lgrm. Missing observations (-99 or NaN) are
    skipped; a gauge without any in the window gets NaN metrics (as in smash) and a warning.
    """
    check_model(model)
    setup = model.setup
    names, window = evaluation_options(metric, start_eval, end_eval, setup.start, setup.end, setup.dt)
    codes = [str(c) for c in model.mesh.code]
    return evaluate(model.response_data.q, model.response.q, names, window, codes)


def _discharge(model: Model, domain: str) -> np.ndarray:
    return np.asarray(model.response_data.q if domain == "obs" else model.response.q, dtype=np.float32)


def hydrograph_segmentation(
    model: Model,
    gauge: str | list[str] = "all",
    peak_quant: float = EventSeg.peak_quant,
    peak_value: float = EventSeg.peak_value,
    max_duration: float = EventSeg.max_duration,
    by: str = "obs",
) -> pd.DataFrame:
    """Flood events of each gauge, as ``smash.hydrograph_segmentation``.

    ``gauge``: ``"all"``, ``"dws"``, a code or a list of codes; ``peak_quant`` in [0, 1] and
    ``peak_value`` (m3/s): a peak must reach both thresholds; ``max_duration`` (hours): expected
    longest event; ``by``: segment the observed (``"obs"``) or simulated (``"sim"``) discharge.
    Returns one row per event with columns ``code``, ``start``, ``end``, ``multipeak``,
    ``maxrainfall`` (date of the rainfall peak), ``flood`` (date of the discharge peak), ``season``.
    """
    check_model(model)
    segmentation = (check_peak_quant(peak_quant), check_peak_value(peak_value), check_max_duration(max_duration))
    q = np.asarray(model.response_data.q if check_domain(by) == "obs" else model.response.q)
    codes = [str(c) for c in model.mesh.code]
    mean_prcp = model.atmos_data.mean_prcp
    wanted = select_gauges(gauge, codes, model.facts().outlet_gauges)
    gauges = gauges_with_data(wanted, q, mean_prcp, codes, "segmentation")
    dates = step_dates(model.setup.start_time, model.setup.dt, mean_prcp.shape[1])
    return segmentation_table(q, mean_prcp, codes, dates, model.setup.dt, gauges, segmentation)


def signatures(
    model: Model,
    sign: str | list[str] | None = None,
    gauge: str | list[str] = "all",
    event_seg: dict[str, Any] | None = None,
    domain: str = "obs",
) -> Signatures:
    """Hydrological signatures of the observed (``domain="obs"``) or simulated (``"sim"``)
    discharge at each gauge, as ``smash.signatures``.

    ``sign``: names among Crc, Crchf, Crclf, Crch2r, Cfp2, Cfp10, Cfp50, Cfp90 (continuous) and
    Eff, Ebf, Erc, Erchf, Erclf, Erch2r, Elt, Epf (per flood event); None for all. ``gauge``:
    ``"all"``, ``"dws"``, a code or a list of codes. ``event_seg``: segmentation options
    ``peak_quant``, ``peak_value``, ``max_duration`` and ``by`` (see ``hydrograph_segmentation``).
    Rainfall enters as ``mean_prcp * 1e-3 * area_dln / dt`` (m3/s); discharge and Eff, Ebf, Epf
    are in m3/s, Elt in time steps, the others are ratios.
    """
    check_model(model)
    names = check_signatures(sign)
    domain = check_domain(domain, "domain")
    segmentation = check_event_seg(event_seg)
    q = _discharge(model, domain)
    codes = [str(c) for c in model.mesh.code]
    mean_prcp = model.atmos_data.mean_prcp
    wanted = select_gauges(gauge, codes, model.facts().outlet_gauges)
    gauges = gauges_with_data(wanted, q, mean_prcp, codes, "segmentation")
    area = np.asarray(model.mesh.area_dln, dtype=np.float32)[:, None]
    dt = model.setup.dt
    mprcp = np.asarray(mean_prcp, dtype=np.float32) * np.float32(0.001) * area / np.float32(dt)
    dates = step_dates(model.setup.start_time, dt, mean_prcp.shape[1])
    q_seg = _discharge(model, segmentation.by)
    return signature_tables(q, q_seg, mprcp, codes, dates, dt, gauges, names, segmentation)


def precipitation_indices(model: Model) -> PrecipitationIndices:
    """smash's precipitation indices of each gauge's catchment at each time step: ``std``, ``d1``,
    ``d2``, ``vg`` and ``hg``, each a float32 ``(ng, ntime_step)`` array, NaN at a step without
    rainfall on the catchment (definitions: ``hydrograd.signal._prcp_indices``). Needs the mesh's
    ``flwdst`` when it has gauges."""
    check_model(model)
    mesh = model.mesh
    if mesh.ng and getattr(mesh, "flwdst", None) is None:
        raise ValueError("precipitation_indices needs the mesh's flow distances 'flwdst' (smash.factory.generate_mesh)")
    prcp = model.atmos_data.sparse_prcp if model.setup.sparse_storage else model.atmos_data.prcp
    flwdst = getattr(mesh, "flwdst", np.zeros_like(mesh.active_cell, dtype=np.float32))
    catchments = catchment_masks(mesh.flwdir, mesh.gauge_pos)
    return compute_precipitation_indices(prcp, mesh.active_cell, flwdst, catchments, mesh.gauge_pos)
