"""Every argument of a calibration, checked once into one frozen :class:`CalibrationRequest`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hydrograd._validate import check_callback, choice, is_real
from hydrograd.config.cost_options import SIMULATION_COST_KEYS, observation_cost_spec
from hydrograd.config.facts import ModelFacts
from hydrograd.config.optimize_options import OptimizeSpec, check_mapping_optimizer, check_optimize_options
from hydrograd.config.regularization import RegularizationSpec, regularization_spec, split_cost_options
from hydrograd.config.run_options import CommonSpec, ReturnSpec, common_options, return_options
from hydrograd.core.cost import ObservationCost


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
