"""``mapping``, ``optimizer`` and ``optimize_options`` of a calibration, checked once."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hydrograd.config._checks import as_finite_float, check_model, choice, closest, is_real, reject_unknown_keys
from hydrograd.core.parameters import FEASIBLE_TOLERANCE, NOT_OPTIMIZABLE, RR_PARAMETERS, RR_STATES

if TYPE_CHECKING:
    from hydrograd.model import Model

MAPPINGS = ("uniform", "distributed", "multi-linear", "multi-power", "ann")
SCIPY_OPTIMIZERS = ("lbfgsb", "nelder-mead", "powell")
ADAPTIVE_OPTIMIZERS = ("adam", "sgd", "adagrad", "rmsprop")
OPTIMIZERS = ("sbs", *SCIPY_OPTIMIZERS, *ADAPTIVE_OPTIMIZERS)
GRADIENT_OPTIMIZERS = ("lbfgsb", *ADAPTIVE_OPTIMIZERS)

COMPATIBLE_OPTIMIZERS = {
    "uniform": OPTIMIZERS,
    "distributed": ("lbfgsb", *ADAPTIVE_OPTIMIZERS),
    "multi-linear": ("lbfgsb", *ADAPTIVE_OPTIMIZERS),
    "multi-power": ("lbfgsb", *ADAPTIVE_OPTIMIZERS),
    "ann": ADAPTIVE_OPTIMIZERS,
}

TERMINATION_CRIT = {
    "sbs": {"maxiter": 50},
    "nelder-mead": {"maxiter": 200, "xatol": 1e-4, "fatol": 1e-4},
    "powell": {"maxiter": 50},
    "lbfgsb": {"maxiter": 100, "factr": 1e6, "pgtol": 1e-12},
    **{name: {"maxiter": 200, "early_stopping": 0} for name in ADAPTIVE_OPTIMIZERS},
}

CONTROL_TRANSFORMS = ("sbs", "normalize", "keep")
DEFAULT_LEARNING_RATE = 0.003


def default_optimizer(mapping: str) -> str:
    """smash's default optimizer for each mapping."""
    return {"uniform": "sbs", "ann": "adam"}.get(mapping, "lbfgsb")


def check_mapping_optimizer(mapping: Any, optimizer: Any) -> tuple[str, str]:
    """Validate the pair; ``optimizer=None`` picks the mapping's default."""
    mapping = choice(mapping, MAPPINGS, "mapping")
    if optimizer is None:
        return mapping, default_optimizer(mapping)
    optimizer = choice(optimizer, OPTIMIZERS, "optimizer")
    if optimizer not in COMPATIBLE_OPTIMIZERS[mapping]:
        raise ValueError(
            f"optimizer '{optimizer}' cannot serve mapping '{mapping}'. "
            f"Choices for '{mapping}': {list(COMPATIBLE_OPTIMIZERS[mapping])}"
        )
    return mapping, optimizer


def allowed_keys(mapping: str, optimizer: str) -> tuple[str, ...]:
    """The ``optimize_options`` keys that make sense for this mapping and optimizer."""
    keys = ["parameters", "bounds"]
    if mapping == "ann":
        keys += ["net", "learning_rate", "random_state"]
    else:
        keys.append("control_tfm")
        if mapping in ("multi-linear", "multi-power"):
            keys.append("descriptor")
        if optimizer in ADAPTIVE_OPTIMIZERS:
            keys.append("learning_rate")
    return (*keys, "termination_crit")


def _default_parameters(model: Model) -> list[str]:
    names = [str(k) for k in model.rr_parameters.keys if k not in NOT_OPTIMIZABLE]
    return names + model._nn_parameter_names()


def default_optimize_options(model: Model, mapping: str = "uniform", optimizer: str | None = None) -> dict[str, Any]:
    """The options ``optimize`` uses when none are given, as a dict to edit and pass back."""
    check_model(model)
    mapping, optimizer = check_mapping_optimizer(mapping, optimizer)
    parameters = _default_parameters(model)
    bounds = {k: v for k, v in model.get_rr_parameters_bounds().items() if k in parameters}
    options: dict[str, Any] = {"parameters": parameters, "bounds": bounds}
    if mapping == "ann":
        from hydrograd.factory.net import default_net

        options["net"] = default_net(
            model.setup.nd, len(bounds), list(bounds.values()), (model.mesh.nrow, model.mesh.ncol)
        )
        options["learning_rate"] = DEFAULT_LEARNING_RATE
        options["random_state"] = None
    else:
        options["control_tfm"] = "sbs" if optimizer == "sbs" else "normalize"
        if mapping in ("multi-linear", "multi-power"):
            options["descriptor"] = {k: np.array(model.setup.descriptor_name) for k in bounds}
        if optimizer in ADAPTIVE_OPTIMIZERS:
            options["learning_rate"] = DEFAULT_LEARNING_RATE
    options["termination_crit"] = copy.deepcopy(TERMINATION_CRIT[optimizer])
    return options


@dataclass
class OptimizeOptions:
    """Checked options. ``rr_parameters``/``rr_states`` keep the model's order; ``nn_parameters``
    lists the hybrid network's weight and bias names that are calibrated."""

    mapping: str
    optimizer: str
    rr_parameters: tuple[str, ...]
    rr_states: tuple[str, ...]
    nn_parameters: tuple[str, ...]
    bounds: dict[str, tuple[float, float]]
    control_tfm: str
    descriptor: dict[str, tuple[int, ...]]
    termination_crit: dict[str, Any]
    learning_rate: float = DEFAULT_LEARNING_RATE
    net: Any = None
    random_state: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_parameters(model: Model, value: Any) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
        raise ValueError(f"optimize_options key 'parameters' must be a non-empty list of names, got {value!r}")
    params = [str(k) for k in model.rr_parameters.keys]
    states = [str(k) for k in model.rr_initial_states.keys]
    nn = model._nn_parameter_names()
    valid = [p for p in params if p not in NOT_OPTIMIZABLE] + states + nn
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
                f"'{model.setup.structure}'.{closest(name, valid)} Choices: {valid}"
            )
        asked.append(name)
    if len(set(asked)) != len(asked):
        raise ValueError(f"optimize_options 'parameters' lists a name twice: {asked}")
    return (
        tuple(p for p in params if p in asked),
        tuple(s for s in states if s in asked),
        tuple(w for w in nn if w in asked),
    )


def _check_bounds(model: Model, names: tuple[str, ...], value: Any) -> dict[str, tuple[float, float]]:
    given = {} if value is None else value
    if not isinstance(given, dict):
        raise TypeError(f"optimize_options key 'bounds' must be a dict name -> (low, high), got {type(given).__name__}")
    defaults = {**model.get_rr_parameters_bounds(), **model.get_rr_initial_states_bounds()}
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
        low, high = bounds.setdefault(name, defaults[name])
        if not low < high:
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': lower bound {low} must be below upper bound {high}"
            )
        spec = RR_PARAMETERS.get(name) or RR_STATES[name]
        strict = name in RR_PARAMETERS
        if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': ({low}, {high}) leaves the feasible domain "
                f"]{spec.feasible[0]}, {spec.feasible[1]}["
            )
        current = (model.get_rr_parameters if name in model.rr_parameters.keys else model.get_rr_initial_states)(name)
        active = current[model.mesh.active_cell == 1]
        if active.min() + FEASIBLE_TOLERANCE < low or active.max() - FEASIBLE_TOLERANCE > high:
            raise ValueError(
                f"optimize_options 'bounds' for '{name}': ({low}, {high}) does not contain the current values "
                f"[{active.min()}, {active.max()}]; widen the bounds or set '{name}' inside them first"
            )
    return {name: bounds[name] for name in names}


def _check_descriptor(model: Model, names: tuple[str, ...], value: Any) -> dict[str, tuple[int, ...]]:
    available = [str(d) for d in model.setup.descriptor_name]
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
    defaults = TERMINATION_CRIT[optimizer]
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
    model: Model, mapping: str, optimizer: str, options: dict[str, Any] | None
) -> OptimizeOptions:
    """Validate ``optimize_options`` (None: defaults) for an already checked mapping/optimizer pair."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise TypeError(f"optimize_options must be a dict, got {type(options).__name__}")
    options = dict(options)
    reject_unknown_keys(options, allowed_keys(mapping, optimizer), f"optimize_options ({mapping}, {optimizer})")
    defaults = default_optimize_options(model, mapping, optimizer)
    rr_p, rr_s, nn = _check_parameters(model, options.get("parameters", defaults["parameters"]))
    bounded = rr_p + rr_s
    if mapping != "ann" and not bounded and not nn:
        raise ValueError("optimize_options 'parameters' selects nothing to calibrate")
    bounds = _check_bounds(model, bounded, options.get("bounds"))
    tfm = options.get("control_tfm", defaults.get("control_tfm", "keep"))
    if mapping != "ann":
        tfm = choice(tfm, CONTROL_TRANSFORMS, "optimize_options 'control_tfm'")
        if tfm == "sbs" and optimizer != "sbs":
            raise ValueError(f"control_tfm 'sbs' only serves the sbs optimizer, not '{optimizer}'")
    descriptor = {}
    if mapping in ("multi-linear", "multi-power"):
        descriptor = _check_descriptor(model, bounded, options.get("descriptor"))
    learning_rate = options.get("learning_rate", defaults.get("learning_rate", DEFAULT_LEARNING_RATE))
    if not is_real(learning_rate) or not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"optimize_options 'learning_rate' must be a positive, finite number, got {learning_rate!r}")
    random_state = options.get("random_state")
    if random_state is not None and (
        isinstance(random_state, bool | np.bool_)
        or not isinstance(random_state, int | np.integer)
        or not 0 <= random_state <= 2**32 - 1
    ):
        raise ValueError(
            f"optimize_options 'random_state' must be an int in [0, 2**32 - 1] or None, got {random_state!r}"
        )
    return OptimizeOptions(
        mapping=mapping,
        optimizer=optimizer,
        rr_parameters=rr_p,
        rr_states=rr_s,
        nn_parameters=nn,
        bounds=bounds,
        control_tfm=tfm,
        descriptor=descriptor,
        termination_crit=_check_termination(optimizer, options.get("termination_crit")),
        learning_rate=float(learning_rate),
        net=options.get("net", defaults.get("net")),
        random_state=None if random_state is None else int(random_state),
    )
