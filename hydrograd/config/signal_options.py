"""Arguments of signal analysis, checked once: gauge selections, flood-event segmentation options
(``event_seg``), signature names and the discharge domain. Cost options share the first two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hydrograd._validate import closest, reject_unknown_keys
from hydrograd.core.signatures import CONTINUOUS_SIGNATURES, EVENT_SIGNATURES, SIGNATURES

DOMAINS = {"obs": "obs", "observed": "obs", "observation": "obs", "sim": "sim", "simulated": "sim", "simulation": "sim"}
GAUGE_ALIASES = ("all", "dws")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{what} must be a number (int or float), got {type(value).__name__} {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def check_peak_quant(value: Any, what: str = "peak_quant") -> float:
    """A quantile in [0, 1]."""
    out = _number(value, what)
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{what} must lie between 0 and 1, got {value!r}")
    return out


def check_peak_value(value: Any, what: str = "peak_value") -> float:
    """A discharge threshold (m3/s), at least 0."""
    out = _number(value, what)
    if out < 0.0:
        raise ValueError(f"{what} must be non-negative, got {value!r}")
    return out


def check_max_duration(value: Any, what: str = "max_duration") -> float:
    """An expected event duration (hours), greater than 0."""
    out = _number(value, what)
    if out <= 0.0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return out


def check_domain(value: Any, what: str = "by") -> str:
    """``"obs"`` or ``"sim"`` (also accepts observed/observation/simulated/simulation)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str among {list(DOMAINS)}, got {type(value).__name__} {value!r}")
    key = value.lower()
    if key not in DOMAINS:
        raise ValueError(f"Unknown {what} '{value}'.{closest(key, DOMAINS)} Choices: {list(DOMAINS)}")
    return DOMAINS[key]


@dataclass(frozen=True)
class EventSeg:
    """Flood-event segmentation settings: a peak must reach the ``peak_quant`` quantile of the
    discharge and ``peak_value`` (m3/s); ``max_duration`` (hours) is the longest expected event;
    ``by`` segments the observed (``"obs"``) or simulated (``"sim"``) discharge."""

    peak_quant: float = 0.995
    peak_value: float = 0.0
    max_duration: float = 240.0
    by: str = "obs"


_EVENT_SEG_CHECKS = {
    "peak_quant": check_peak_quant,
    "peak_value": check_peak_value,
    "max_duration": check_max_duration,
    "by": check_domain,
}


def event_seg(value: Any, what: str = "event_seg", *, with_by: bool = True) -> EventSeg:
    """Check an ``event_seg`` dict (None: the defaults); ``with_by``: whether ``by`` is a key."""
    if value is None:
        return EventSeg()
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict or None, got {type(value).__name__}")
    keys = [k for k in _EVENT_SEG_CHECKS if with_by or k != "by"]
    reject_unknown_keys(value, keys, what)
    return EventSeg(**{key: _EVENT_SEG_CHECKS[key](item, f"{what} key '{key}'") for key, item in value.items()})


def select_gauges(value: Any, codes: Any, outlets: Any, what: str = "gauge") -> tuple[int, ...]:
    """Indices of the gauges named by ``value``, in the order given: ``"dws"`` (the gauges at an
    outlet, flagged by ``outlets``), ``"all"``, a gauge code or a non-empty list of codes."""
    codes = [str(c) for c in codes]
    if isinstance(value, str):
        if value == "dws":
            return tuple(int(i) for i in np.flatnonzero(outlets))
        if value == "all":
            return tuple(range(len(codes)))
        value = [value]
    if not isinstance(value, list | tuple | np.ndarray):
        raise TypeError(f"{what} must be 'dws', 'all', a gauge code or a list of codes, got {value!r}")
    if len(value) == 0:
        raise ValueError(f"{what} must not be an empty list")
    out = []
    for code in value:
        if str(code) not in codes:
            raise ValueError(
                f"{what}: unknown gauge code '{code}'.{closest(str(code), [*GAUGE_ALIASES, *codes])} "
                f"Gauges of this mesh: {codes}"
            )
        out.append(codes.index(str(code)))
    return tuple(out)


def check_signatures(sign: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(continuous, event)`` signature names from ``sign`` (a name, a list of names or None for
    all), spelled as smash spells them (``Crc``, ``Epf``)."""
    if sign is None:
        names = list(SIGNATURES)
    elif isinstance(sign, str):
        names = [sign]
    elif isinstance(sign, list | tuple):
        names = list(sign)
    else:
        raise TypeError(f"sign must be a signature name, a list of names or None, got {sign!r}")
    canonical = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"sign must hold signature names (str), got {name!r}")
        spelled = name.lower().capitalize()
        if spelled not in SIGNATURES:
            raise ValueError(f"Unknown signature '{name}'.{closest(spelled, SIGNATURES)} Choices: {list(SIGNATURES)}")
        canonical.append(spelled)
    return (
        tuple(n for n in canonical if n in CONTINUOUS_SIGNATURES),
        tuple(n for n in canonical if n in EVENT_SIGNATURES),
    )
