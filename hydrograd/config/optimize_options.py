"""``mapping``, ``optimizer`` and ``optimize_options`` of a calibration, checked once into a
frozen :class:`OptimizeSpec`. The names, defaults and pairings come from
``hydrograd.optimizers``' registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from hydrograd._validate import as_finite_float, choice, closest, is_real, reject_unknown_keys
from hydrograd.config.facts import ModelFacts
from hydrograd.core.parameters import FEASIBLE_TOLERANCE, NOT_OPTIMIZABLE, RR_PARAMETERS, RR_STATES, SERR_PARAMETERS
from hydrograd.optimizers import MAPPINGS, OPTIMIZERS

CONTROL_TRANSFORMS = ("sbs", "normalize", "keep")


def check_mapping_optimizer(mapping: Any, optimizer: Any) -> tuple[str, str]:
    """Validate the pair; ``optimizer=None`` picks the mapping's default."""
    mapping = choice(mapping, MAPPINGS, "mapping")
    row = MAPPINGS[mapping]
    if optimizer is None:
        return mapping, row.default_optimizer
    optimizer = choice(optimizer, OPTIMIZERS, "optimizer")
    if optimizer not in row.optimizers:
        raise ValueError(
            f"optimizer '{optimizer}' cannot serve mapping '{mapping}'. Choices for '{mapping}': {list(row.optimizers)}"
        )
    return mapping, optimizer


def allowed_keys(mapping: str, optimizer: str) -> tuple[str, ...]:
    """The ``optimize_options`` keys that make sense for this mapping and optimizer."""
    keys = ["parameters", "bounds"]
    if mapping == "ann":
        keys += ["net", "learning_rate", "random_state"]
    else:
        keys.append("control_tfm")
        if MAPPINGS[mapping].uses_descriptors:
            keys.append("descriptor")
        if OPTIMIZERS[optimizer].is_adaptive:
            keys.append("learning_rate")
    return (*keys, "termination_crit")


def default_parameters(facts: ModelFacts) -> list[str]:
    """What a calibration calibrates when ``parameters`` is not given: every parameter but those
    only the model sets, and a hybrid structure's network."""
    return [k for k in facts.rr_parameters if k not in NOT_OPTIMIZABLE] + list(facts.nn_parameters)


def default_options(
    facts: ModelFacts, mapping: str, optimizer: str, serr: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
) -> dict[str, Any]:
    """The options of a checked mapping/optimizer pair when none are given, as a dict to edit and
    pass back (``net`` excepted: the caller builds the default network of ``mapping="ann"``);
    ``serr``: the structural-error parameters a Bayesian calibration adds."""
    parameters = [*default_parameters(facts), *serr[0], *serr[1]]
    bounds = {k: facts.default_bounds(k) for k in (*facts.rr_parameters, *serr[0], *serr[1]) if k in parameters}
    options: dict[str, Any] = {"parameters": parameters, "bounds": bounds}
    row = OPTIMIZERS[optimizer]
    if mapping == "ann":
        options["learning_rate"] = row.learning_rate
        options["random_state"] = None
    else:
        options["control_tfm"] = "sbs" if optimizer == "sbs" else "normalize"
        if MAPPINGS[mapping].uses_descriptors:
            options["descriptor"] = {k: np.array(facts.descriptor_names) for k in bounds if k in facts.rr_parameters}
        if row.is_adaptive:
            options["learning_rate"] = row.learning_rate
    options["termination_crit"] = dict(row.termination)
    return options


@dataclass(frozen=True)
class OptimizeSpec:
    """Checked options. ``rr_parameters``/``rr_states`` keep the model's order; ``nn_parameters``
    lists the hybrid network's weight and bias names that are calibrated; ``bounds`` and
    ``descriptor`` (indices of the descriptors each name depends on) cover ``rr_parameters`` and
    ``rr_states`` (``bounds`` also the structural-error parameters); ``serr_mu``/``serr_sigma``:
    the calibrated structural-error parameters (Bayesian calibration only); ``net`` is the
    user's ``factory.Net`` (None: the default network), which the calibration copies before
    training."""

    mapping: str
    optimizer: str
    rr_parameters: tuple[str, ...]
    rr_states: tuple[str, ...]
    nn_parameters: tuple[str, ...]
    bounds: Mapping[str, tuple[float, float]]
    control_tfm: str
    descriptor: Mapping[str, tuple[int, ...]]
    termination_crit: Mapping[str, Any]
    learning_rate: float | None
    net: Any = None
    random_state: int | None = None
    serr_mu: tuple[str, ...] = ()
    serr_sigma: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The mapped names: parameters, then initial states."""
        return self.rr_parameters + self.rr_states


def _check_parameters(
    facts: ModelFacts, value: Any, serr: tuple[tuple[str, ...], tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    """``(rr parameters, rr states, network entries, serr mu, serr sigma)`` asked for, each in
    the model's order; ``serr``: the structural-error parameters a Bayesian calibration may move."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        raise ValueError(f"optimize_options key 'parameters' must be a non-empty list of names, got {value!r}")
    params = list(facts.rr_parameters)
    states = list(facts.rr_states)
    nn = list(facts.nn_parameters)
    valid = [p for p in params if p not in NOT_OPTIMIZABLE] + states + nn + list(serr[0]) + list(serr[1])
    asked = []
    for name in value:
        if not isinstance(name, str):
            raise TypeError(f"optimize_options 'parameters' must hold names (str), got {type(name).__name__} {name!r}")
        name = name.lower()
        if name in NOT_OPTIMIZABLE:
            raise ValueError(f"optimize_options 'parameters': '{name}' is not calibrated (set by the model itself)")
        if name not in valid:
            raise ValueError(
                f"optimize_options 'parameters': unknown name '{name}' for structure "
                f"'{facts.structure}'.{closest(name, valid)} Choices: {valid}"
            )
        asked.append(name)
    if len(set(asked)) != len(asked):
        raise ValueError(f"optimize_options 'parameters' lists a name twice: {asked}")
    return (
        tuple(p for p in params if p in asked),
        tuple(s for s in states if s in asked),
        tuple(w for w in nn if w in asked),
        tuple(k for k in serr[0] if k in asked),
        tuple(k for k in serr[1] if k in asked),
    )


def _check_bounds(facts: ModelFacts, names: tuple[str, ...], value: Any) -> dict[str, tuple[float, float]]:
    given = {} if value is None else value
    if not isinstance(given, dict):
        raise TypeError(f"optimize_options key 'bounds' must be a dict name -> (low, high), got {type(given).__name__}")
    bounds = {}
    for key, pair in given.items():
        if not isinstance(key, str):
            raise TypeError(f"optimize_options 'bounds' keys must be names (str), got {type(key).__name__} {key!r}")
        name = key.lower()
        if name not in names:
            raise ValueError(
                f"optimize_options 'bounds': '{key}' is not a calibrated, bounded parameter.{closest(name, names)} "
                f"Choices: {list(names)}"
            )
        if not isinstance(pair, list | tuple | np.ndarray) or len(pair) != 2:
            raise TypeError(f"optimize_options 'bounds' for '{key}' must be a pair (low, high), got {pair!r}")
        what = f"optimize_options 'bounds' for '{key}'"
        bounds[name] = (
            as_finite_float(pair[0], f"{what}: lower bound"),
            as_finite_float(pair[1], f"{what}: upper bound"),
        )
    for name in names:
        low, high = bounds.setdefault(name, facts.default_bounds(name))
        if not low < high:
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': lower bound {low} must be below upper bound {high}"
            )
        spec = RR_PARAMETERS.get(name) or RR_STATES.get(name) or SERR_PARAMETERS[name]
        strict = name in RR_PARAMETERS
        if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': ({low}, {high}) leaves the feasible domain "
                f"]{spec.feasible[0]}, {spec.feasible[1]}["
            )
        smallest, largest = facts.current[name]
        if smallest + FEASIBLE_TOLERANCE < low or largest - FEASIBLE_TOLERANCE > high:
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': ({low}, {high}) does not contain the current values "
                f"[{smallest}, {largest}]; widen the bounds or set '{name}' inside them first"
            )
    return {name: bounds[name] for name in names}


def _check_descriptor(facts: ModelFacts, names: tuple[str, ...], value: Any) -> dict[str, tuple[int, ...]]:
    available = list(facts.descriptor_names)
    if not available:
        raise ValueError(
            "descriptor mappings need descriptors: set 'read_descriptor' and 'descriptor_name' in the setup"
        )
    given = {} if value is None else value
    if not isinstance(given, dict):
        raise TypeError(f"optimize_options key 'descriptor' must be a dict name -> list of descriptors, got {given!r}")
    out = {}
    for key, descs in given.items():
        if key not in names:
            raise ValueError(
                f"optimize_options 'descriptor': '{key}' is not calibrated.{closest(key, names)} Choices: {list(names)}"
            )
        descs = [descs] if isinstance(descs, str) else descs
        if not isinstance(descs, list | tuple | np.ndarray) or len(descs) == 0:
            raise TypeError(
                f"optimize_options 'descriptor' for '{key}' must be a descriptor name or a non-empty list of names "
                f"among {available}, got {descs!r}"
            )
        descs = list(descs)
        if len(set(map(str, descs))) != len(descs):
            raise ValueError(f"optimize_options 'descriptor' for '{key}' lists a descriptor twice: {descs}")
        for d in descs:
            if not isinstance(d, str):
                raise TypeError(f"optimize_options 'descriptor' for '{key}' must hold names (str), got {d!r}")
            if d not in available:
                raise ValueError(
                    f"optimize_options 'descriptor' for '{key}': unknown descriptor '{d}'.{closest(d, available)} "
                    f"Choices: {available}"
                )
        out[key] = tuple(available.index(d) for d in descs)
    return {name: out.get(name, tuple(range(len(available)))) for name in names}


def _check_termination(optimizer: str, value: Any) -> dict[str, Any]:
    defaults = OPTIMIZERS[optimizer].termination
    given = {} if value is None else value
    if not isinstance(given, dict):
        raise TypeError(f"optimize_options key 'termination_crit' must be a dict, got {given!r}")
    reject_unknown_keys(given, defaults, f"termination_crit ({optimizer})")
    out = {**defaults, **given}
    for key, v in out.items():
        if not is_real(v):
            raise TypeError(f"termination_crit '{key}' must be a number, got {v!r}")
        if not np.isfinite(v):
            raise ValueError(f"termination_crit '{key}' must be a finite number, got {v!r}")
        if key in ("maxiter", "early_stopping") and (int(v) != v or v < 0):
            raise ValueError(f"termination_crit '{key}' must be a non-negative integer, got {v!r}")
        if key in ("factr", "pgtol", "xatol", "fatol") and not v > 0:
            raise ValueError(f"termination_crit '{key}' must be positive, got {v!r}")
    out["maxiter"] = int(out["maxiter"])
    if "early_stopping" in out:
        out["early_stopping"] = int(out["early_stopping"])
    return out


def check_optimize_options(
    facts: ModelFacts,
    mapping: str,
    optimizer: str,
    options: dict[str, Any] | None,
    serr: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
) -> OptimizeSpec:
    """Validate ``optimize_options`` (None: defaults) for an already checked mapping/optimizer pair;
    ``serr``: the structural-error mean and deviation parameters of the model's mappings, which a
    Bayesian calibration moves too (by default all of them)."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"optimize_options must be a dict, got {type(options).__name__}")
    reject_unknown_keys(options, allowed_keys(mapping, optimizer), f"optimize_options ({mapping}, {optimizer})")
    # As in smash, a key given as None takes its default.
    options = {k: v for k, v in options.items() if v is not None}
    defaults = default_options(facts, mapping, optimizer, serr)
    parameters = options.get("parameters", defaults["parameters"])
    rr_p, rr_s, nn, serr_mu, serr_sigma = _check_parameters(facts, parameters, serr)
    bounded = rr_p + rr_s
    if mapping != "ann" and not bounded and not nn and not serr_mu and not serr_sigma:
        raise ValueError("optimize_options 'parameters' selects nothing to calibrate")
    bounds = _check_bounds(facts, bounded + serr_mu + serr_sigma, options.get("bounds"))
    tfm = options.get("control_tfm", defaults.get("control_tfm", "keep"))
    if mapping != "ann":
        tfm = choice(tfm, CONTROL_TRANSFORMS, "optimize_options 'control_tfm'")
        if tfm == "sbs" and optimizer != "sbs":
            raise ValueError(f"control_tfm 'sbs' only serves the sbs optimizer, not '{optimizer}'")
    descriptor = {}
    if MAPPINGS[mapping].uses_descriptors and mapping != "ann":
        descriptor = _check_descriptor(facts, bounded, options.get("descriptor"))
    learning_rate = None
    if "learning_rate" in defaults:
        learning_rate = options.get("learning_rate", defaults["learning_rate"])
        if not is_real(learning_rate) or not (np.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(
                f"optimize_options 'learning_rate' must be a positive, finite number, got {learning_rate!r}"
            )
        learning_rate = float(learning_rate)
    random_state = options.get("random_state")
    if random_state is not None and (
        isinstance(random_state, bool | np.bool_)
        or not isinstance(random_state, int | np.integer)
        or not 0 <= random_state <= 2**32 - 1
    ):
        raise ValueError(
            f"optimize_options 'random_state' must be an int in [0, 2**32 - 1] or None, got {random_state!r}"
        )
    return OptimizeSpec(
        mapping=mapping,
        optimizer=optimizer,
        rr_parameters=rr_p,
        rr_states=rr_s,
        nn_parameters=nn,
        bounds=MappingProxyType(bounds),
        control_tfm=tfm,
        descriptor=MappingProxyType(descriptor),
        termination_crit=MappingProxyType(_check_termination(optimizer, options.get("termination_crit"))),
        learning_rate=learning_rate,
        net=options.get("net"),
        random_state=None if random_state is None else int(random_state),
        serr_mu=serr_mu,
        serr_sigma=serr_sigma,
    )
