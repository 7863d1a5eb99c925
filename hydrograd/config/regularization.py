"""The regularization part of ``cost_options`` (calibration only): ``wjreg``, ``jreg_cmpt``,
``wjreg_cmpt``."""

from __future__ import annotations

from typing import Any, NamedTuple

from hydrograd._validate import as_finite_float, as_weights, choice, is_real, reject_unknown_keys
from hydrograd.config.cost_options import SIMULATION_COST_KEYS
from hydrograd.core.regularization import REGULARIZATIONS

REGULARIZATION_KEYS = ("wjreg", "jreg_cmpt", "wjreg_cmpt")


def split_cost_options(cost_options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(observation part, regularization part)`` of a calibration's ``cost_options``."""
    options = {} if cost_options is None else cost_options
    if not isinstance(options, dict):
        raise TypeError(f"cost_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, (*SIMULATION_COST_KEYS, *REGULARIZATION_KEYS), "cost_options")
    observation = {k: v for k, v in options.items() if k not in REGULARIZATION_KEYS}
    regularization = {k: v for k, v in options.items() if k in REGULARIZATION_KEYS}
    return observation, regularization


AUTO_WJREG = ("fast", "lcurve")
"""Automatic choices of ``wjreg`` (see ``hydrograd.calibration.regularization_weight``)."""


class RegularizationSpec(NamedTuple):
    """``wjreg``: weight of ``jreg`` in the cost (the starting one when ``auto`` chooses it);
    ``auto``: ``"fast"``, ``"lcurve"`` or None; ``components``: ``(component, weight)`` pairs
    (computed and reported even when ``wjreg`` is 0, as smash does)."""

    wjreg: float
    auto: str | None
    components: tuple[tuple[str, float], ...]

    @property
    def weighted(self) -> bool:
        """Whether ``jreg`` enters the cost."""
        return self.wjreg > 0 or self.auto is not None


def regularization_spec(options: dict[str, Any]) -> RegularizationSpec:
    """The checked regularization part of ``cost_options``; ``wjreg = 0`` (the default) turns it off."""
    wjreg = options.get("wjreg", 0.0)
    auto = None
    if isinstance(wjreg, str):
        auto = wjreg.lower()
        if auto not in AUTO_WJREG:
            raise ValueError(
                f"cost_options key 'wjreg' = '{wjreg}' is not a weight: expected a non-negative number "
                f"or one of the automatic weightings {list(AUTO_WJREG)}"
            )
        wjreg = 0.0
    wjreg = as_finite_float(wjreg, "cost_options key 'wjreg'")
    if wjreg < 0:
        raise ValueError(f"cost_options key 'wjreg' must be a non-negative number, got {wjreg!r}")
    components = options.get("jreg_cmpt", "prior")
    components = [components] if isinstance(components, str) else components
    if not isinstance(components, list | tuple):
        raise TypeError(
            f"cost_options key 'jreg_cmpt' must be a component name or a list of names {list(REGULARIZATIONS)}, "
            f"got {components!r}"
        )
    if not components:
        raise ValueError("cost_options key 'jreg_cmpt' must name at least one component")
    components = [choice(c, REGULARIZATIONS, "cost_options 'jreg_cmpt' component") for c in components]
    weights = options.get("wjreg_cmpt", "mean")
    if isinstance(weights, str):
        if weights != "mean":
            raise ValueError(f"cost_options key 'wjreg_cmpt' alias must be 'mean', got '{weights}'")
        weights = [1.0 / len(components)] * len(components)
    elif not is_real(weights) and not isinstance(weights, list | tuple):
        raise TypeError(f"cost_options key 'wjreg_cmpt' must be 'mean', a number or a list of numbers, got {weights!r}")
    weights = as_weights(
        weights, len(components), f"cost_options key 'wjreg_cmpt' (one per 'jreg_cmpt', {len(components)})"
    )
    return RegularizationSpec(wjreg, auto, tuple(zip(components, weights, strict=True)))
