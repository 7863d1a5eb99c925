"""Every argument of a calibration, checked once into one frozen :class:`CalibrationRequest`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from hydrograd._validate import as_bool, as_finite_float, check_callback, choice, is_real, reject_unknown_keys
from hydrograd.config.cost_options import SIMULATION_COST_KEYS, observation_cost_spec
from hydrograd.config.facts import ModelFacts
from hydrograd.config.optimize_options import OptimizeSpec, check_mapping_optimizer, check_optimize_options
from hydrograd.config.regularization import RegularizationSpec, regularization_spec, split_cost_options
from hydrograd.config.run_options import CommonSpec, ReturnSpec, common_options, return_options
from hydrograd.core.cost import ObservationCost
from hydrograd.core.structural_error import PRIORS


@dataclass(frozen=True)
class BayesianOptions:
    """What makes a calibration Bayesian: the structural-error mappings (``setup``'s
    ``serr_mu_mapping`` and ``serr_sigma_mapping``), the ``control_prior`` of ``cost_options``,
    control name -> ``(distribution, parameters)`` in the order given (the names are checked
    against the control vector once it is built), and ``by_name``: whether each prior applies
    to the entry it names (``cost_options["control_prior_by_name"]``) or, as smash 1.3.0 applies
    them, by position (``hydrograd.calibration.problems.prior_order``)."""

    mu_mapping: str
    sigma_mapping: str
    control_prior: Mapping[str, tuple[str, tuple[float, ...]]]
    by_name: bool = False


@dataclass(frozen=True, eq=False)
class CalibrationRequest:
    """What a calibration is asked to do: the optimizer and what it moves (``options``), the
    misfit (``cost``) and its ``regularization``, ``common`` and ``returns`` options, and the
    user's ``callback(iopt)`` (or None)."""

    options: OptimizeSpec
    cost: ObservationCost
    regularization: RegularizationSpec
    common: CommonSpec
    returns: ReturnSpec
    callback: Callable | None
    bayesian: BayesianOptions | None = None


def check_calibration(
    facts: ModelFacts,
    mapping: Any = "uniform",
    optimizer: Any = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common: dict[str, Any] | None = None,
    returns: dict[str, Any] | None = None,
    callback: Any = None,
    *,
    func: str = "optimize",
) -> CalibrationRequest:
    """Check the arguments of ``optimize`` (or of ``func`` taking the same) against a model's
    ``facts``, before any work."""
    common_spec = common_options(common)
    mapping, optimizer = check_mapping_optimizer(mapping, optimizer)
    options = check_optimize_options(facts, mapping, optimizer, optimize_options)
    returns_spec = return_options(returns, func, facts.time_index)
    callback = check_callback(callback)
    if optimizer == "sbs" and options.nn_parameters:
        warnings.warn(
            f"sbs optimizer may not be suitable for the {facts.hydrological_module} module; "
            "prefer a gradient-based optimizer such as lbfgsb",
            stacklevel=4,
        )
    observation, regularization = split_cost_options(cost_options)
    if mapping == "ann" and regularization:
        raise ValueError("mapping 'ann' takes no regularization (wjreg, jreg_cmpt) in cost_options")
    return CalibrationRequest(
        options=options,
        cost=observation_cost_spec(observation, facts),
        regularization=regularization_spec(regularization),
        common=common_spec,
        returns=returns_spec,
        callback=callback,
    )


BAYESIAN_COST_KEYS = ("end_warmup", "gauge", "control_prior", "control_prior_by_name")
"""The ``cost_options`` of ``bayesian_optimize``: the cost is the negative log-posterior
(``hydrograd.core.structural_error``), with no choice of metric or weights.
``control_prior_by_name`` is hydrograd's (default False: smash 1.3.0's assignment of the priors)."""


def _control_prior(value: Any) -> dict[str, tuple[str, tuple[float, ...]]]:
    """Checked ``cost_options["control_prior"]``: control name -> ``[distribution, parameters]``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(
            f"cost_options key 'control_prior' must be a dict name -> [distribution, parameters], got {value!r}"
        )
    out = {}
    for name, entry in value.items():
        if not isinstance(name, str):
            raise TypeError(f"cost_options 'control_prior' keys must be control names (str), got {name!r}")
        if not isinstance(entry, list | tuple | np.ndarray) or len(entry) != 2:
            raise TypeError(
                f"cost_options 'control_prior' for '{name}' must be a pair [distribution, parameters], got {entry!r}"
            )
        dist = choice(entry[0], PRIORS, f"cost_options 'control_prior' distribution for '{name}'")
        expected = PRIORS[dist].parameters
        par = np.ravel(np.asarray(entry[1], dtype=object)) if not is_real(entry[1]) else np.array([entry[1]])
        if par.size != len(expected):
            raise ValueError(
                f"cost_options 'control_prior' for '{name}': distribution '{dist}' takes {len(expected)} "
                f"parameter(s) {list(expected)}, got {par.size}"
            )
        what = f"cost_options 'control_prior' for '{name}'"
        # as smash stores them: single precision
        values = tuple(
            float(np.float32(as_finite_float(v, f"{what}: parameter '{k}'")))
            for v, k in zip(par, expected, strict=True)
        )
        if not PRIORS[dist].valid(values):
            raise ValueError(
                f"{what}: {dict(zip(expected, values, strict=True))} is not a valid '{dist}' distribution (a positive "
                "deviation or scale, ordered bounds, a peak between its bounds)"
            )
        out[name] = (dist, values)
    return out


def check_bayesian_mapping(mapping: Any, optimizer: Any) -> tuple[str, str]:
    """The mapping/optimizer pair of a Bayesian calibration: any of ``optimize``'s but ``ann``."""
    if isinstance(mapping, str) and mapping.lower() == "ann":
        raise ValueError(
            "mapping 'ann' cannot serve bayesian_optimize; choose uniform, distributed, multi-linear or multi-power"
        )
    return check_mapping_optimizer(mapping, optimizer)


def check_bayesian(
    facts: ModelFacts,
    mapping: Any = "uniform",
    optimizer: Any = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common: dict[str, Any] | None = None,
    returns: dict[str, Any] | None = None,
    callback: Any = None,
) -> CalibrationRequest:
    """Check the arguments of ``bayesian_optimize`` against a model's ``facts`` (its
    structural-error mappings included), before any work. Every mapping but
    ``"ann"`` is accepted, with the optimizers ``optimize`` pairs with it; the structural-error
    parameters of the mappings are calibrated too unless ``optimize_options["parameters"]`` says
    otherwise."""
    common_spec = common_options(common)
    mapping, optimizer = check_bayesian_mapping(mapping, optimizer)
    mu, sigma = facts.serr_mu_mapping, facts.serr_sigma_mapping
    serr = (facts.serr_mu_parameters, facts.serr_sigma_parameters)
    options = check_optimize_options(facts, mapping, optimizer, optimize_options, serr)
    returns_spec = return_options(returns, "bayesian_optimize", facts.time_index)
    given = {} if cost_options is None else cost_options
    if not isinstance(given, dict):
        raise TypeError(f"cost_options must be a dict, got {type(given).__name__}")
    reject_unknown_keys(given, BAYESIAN_COST_KEYS, "cost_options (bayesian_optimize)")
    given = {k: v for k, v in given.items() if v is not None}
    observation = {k: v for k, v in given.items() if k not in ("control_prior", "control_prior_by_name")}
    cost = observation_cost_spec(observation, facts)
    # the gauges in the mesh's order, as the control's structural-error entries follow them
    cost = cost._replace(gauges=tuple(sorted(cost.gauges)), gauge_weights=(1.0,) * len(cost.gauges))
    return CalibrationRequest(
        options=options,
        cost=cost,
        regularization=regularization_spec({}),
        common=common_spec,
        returns=returns_spec,
        callback=check_callback(callback),
        bayesian=BayesianOptions(
            mu,
            sigma,
            MappingProxyType(_control_prior(given.get("control_prior"))),
            as_bool(given.get("control_prior_by_name", False), "cost_options key 'control_prior_by_name'"),
        ),
    )


DIFF_TARGETS = ("j", "q")
"""What ``backward_run`` differentiates: the cost ``j`` or every active cell's discharge ``q``."""


@dataclass(frozen=True, eq=False)
class BackwardRequest:
    """What ``backward_run`` is asked: the calibration whose control vector it differentiates at,
    the ``diff_target`` and its ``cotangent`` (a ``(1,)`` array for ``"j"``, ``(nac, ntime_step)``
    for ``"q"``, active cells in smash's column-major order)."""

    calibration: CalibrationRequest
    diff_target: str
    cotangent: np.ndarray


def check_backward(
    facts: ModelFacts,
    diff_target: Any = "j",
    cotangent: Any = None,
    mapping: Any = "uniform",
    optimizer: Any = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common: dict[str, Any] | None = None,
    returns: dict[str, Any] | None = None,
) -> BackwardRequest:
    """Check the arguments of ``backward_run`` against a model's ``facts``, before any work. The
    cost options are a forward run's (no regularization)."""
    target = choice(diff_target, DIFF_TARGETS, "diff_target")
    shape = (1,) if target == "j" else (facts.nac, facts.ntime_step)
    if cotangent is None:
        values = np.ones(shape)
    elif is_real(cotangent) or isinstance(cotangent, np.ndarray | list | tuple):
        values = np.asarray(cotangent, dtype=np.float64)
        if values.size == 1:
            values = np.full(shape, float(values.ravel()[0]))
        elif values.shape != shape:
            raise ValueError(
                f"cotangent must be a number or an array of shape {shape} for diff_target '{target}', "
                f"got {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError("cotangent holds NaN or inf")
    else:
        raise TypeError(f"cotangent must be a number, an array or None, got {type(cotangent).__name__}")
    options = {} if cost_options is None else cost_options
    if isinstance(options, dict):
        extra = [k for k in options if k not in SIMULATION_COST_KEYS]
        if extra:
            raise ValueError(
                f"Unknown backward_run cost_options key '{extra[0]}'. Valid keys: {list(SIMULATION_COST_KEYS)}"
            )
    calibration = check_calibration(
        facts, mapping, optimizer, optimize_options, cost_options, common, returns, None, func="backward_run"
    )
    return BackwardRequest(calibration, target, values)
