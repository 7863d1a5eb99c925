"""The parameter sets of ``multiple_forward_run``, checked against a model's structure, and the
``alpha`` of ``multiset_estimate``.

Each name must be a parameter or an initial state of the structure, and every value inside its
feasible domain (strictly, for a parameter, as ``set_rr_parameters`` asks). A set gives each name
either one number (a uniform value over the grid) or a ``(nrow, ncol)`` map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hydrograd._validate import closest, is_real
from hydrograd.config.facts import ModelFacts
from hydrograd.config.values import checked_value
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, Spec


def _spec(name: str, facts: ModelFacts, what: str) -> tuple[Spec, str]:
    """The table entry of ``name`` and the kind of value it is (for messages)."""
    if name in facts.rr_parameters:
        return RR_PARAMETERS[name], "rr_parameter"
    if name in facts.rr_states:
        return RR_STATES[name], "rr_initial_state"
    valid = [*facts.rr_parameters, *facts.rr_states]
    raise ValueError(
        f"Unknown model rr_parameter or rr_initial_state '{name}' in {what} for structure "
        f"'{facts.structure}'.{closest(str(name), valid)} Choices: {valid}"
    )


def uniform_sample_values(values: Mapping[str, np.ndarray], facts: ModelFacts) -> dict[str, np.ndarray]:
    """Check the arrays of a ``Samples`` object (name -> ``(n,)`` values, one uniform value per
    set): known names, finite values, inside the feasible domain. Returns them as float32."""
    out = {}
    for name, array in values.items():
        spec, what = _spec(name, facts, "samples attributes")
        array = np.asarray(array)
        if array.ndim != 1 or array.dtype.kind not in "iuf":
            raise TypeError(f"samples attribute '{name}' must be a 1-D array of numbers, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"samples attribute '{name}' holds NaN or inf")
        low, high = float(array.min()), float(array.max())
        strict = what == "rr_parameter"
        if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
            raise ValueError(
                f"Invalid sample values for {what} '{name}': the sample domain [{low}, {high}] is not included "
                f"in the feasible domain ]{spec.feasible[0]}, {spec.feasible[1]}["
            )
        out[name] = array.astype(np.float32)
    return out


def sample_sets(samples: Mapping[str, Any], facts: ModelFacts, active_cell: np.ndarray) -> dict[str, np.ndarray]:
    """Check a dict of sets (name -> a sequence of ``n`` values, each a number or a
    ``(nrow, ncol)`` map, as ``set_rr_parameters`` takes them) and return, for each name, the
    ``(n,)`` values when every one is a number, else the ``(nrow, ncol, n)`` maps, float32."""
    if not samples:
        raise ValueError("samples argument cannot be empty")
    lengths = {}
    for name, values in samples.items():
        if isinstance(values, str) or not hasattr(values, "__len__"):
            raise ValueError(f"samples argument cannot contain non-iterable elements: '{name}' holds {values!r}")
        lengths[name] = len(values)
    if len(set(lengths.values())) != 1:
        raise ValueError(f"All elements in the samples dictionary must have the same length, got {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError("samples argument cannot hold empty sequences")
    out = {}
    for name, values in samples.items():
        spec, what = _spec(name, facts, "samples")
        maps = [checked_value(name, value, spec, what, active_cell) for value in values]
        if all(np.size(value) == 1 for value in values):
            out[name] = np.array([m.flat[0] for m in maps], dtype=np.float32)
        else:
            out[name] = np.stack(maps, axis=-1)
    return out


DEFAULT_ALPHA = np.linspace(-2.0, 10.0, 50)
"""The values of ``multiset_estimate``'s ``alpha`` tried along the L-curve when none is given
(smash's)."""


def multiset_alpha(alpha: Any) -> float | np.ndarray:
    """Check ``multiset_estimate``'s ``alpha``: a number (one estimate) or a one-dimensional list,
    tuple or array of numbers (an L-curve over them; None: :data:`DEFAULT_ALPHA`). Returns a float,
    or the numbers as a 1-D array in their own dtype (ints stay ints, as smash reports them back);
    a one-element sequence is its number."""
    if alpha is None:
        return DEFAULT_ALPHA.copy()
    if is_real(alpha):
        values = np.asarray(alpha)
    elif isinstance(alpha, list | tuple | np.ndarray):
        values = np.asarray(alpha)
        if values.dtype == object or values.dtype.kind not in "iuf":
            raise TypeError(f"All values in alpha must be numbers (int or float), got {alpha!r:.80}")
        if values.ndim > 1:
            raise ValueError(f"alpha must be a number or a one-dimensional list of numbers, got shape {values.shape}")
        if values.size == 0:
            raise ValueError("alpha must hold at least one number, got an empty sequence")
    else:
        raise TypeError(f"alpha must be a number, a list of numbers or None, got {type(alpha).__name__} {alpha!r:.80}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"alpha must hold finite numbers, got {alpha!r:.80}")
    if values.size == 1:
        return float(values.reshape(()))
    return values.copy()
