"""Every argument of a calibration, checked once into one frozen :class:`CalibrationRequest`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hydrograd._validate import check_callback
from hydrograd.config.cost_options import observation_cost_spec
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
) -> CalibrationRequest:
    """Check the arguments of ``optimize`` against a model's ``facts``, before any work."""
    common_spec = common_options(common)
    mapping, optimizer = check_mapping_optimizer(mapping, optimizer)
    options = check_optimize_options(facts, mapping, optimizer, optimize_options)
    returns_spec = return_options(returns, "optimize", facts.time_index)
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
