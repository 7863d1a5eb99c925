"""The check vocabulary shared by every layer: clear messages naming the key and the fix,
closest-key hints (``Unknown X 'y'. Did you mean 'z'? Choices: [...]``). A leaf: it imports
nothing of hydrograd."""

from __future__ import annotations

import datetime
import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest valid choice, or ''."""
    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def reject_unknown_keys(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """Raise ValueError for the first key of ``given`` that is not in ``known``."""
    known = [str(k) for k in known]
    for key in given:
        if key not in known:
            raise ValueError(f"Unknown {what} key '{key}'.{closest(key, known)} Valid keys: {sorted(known)}")


def choice(value: Any, choices: Iterable[str], what: str) -> str:
    """Check that ``value`` is one of ``choices`` (case-insensitive) and return its canonical spelling."""
    choices = list(choices)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str among {choices}, got {type(value).__name__} {value!r}")
    lowered = {c.lower(): c for c in choices}
    if value.lower() not in lowered:
        raise ValueError(f"Unknown {what} '{value}'.{closest(value, choices)} Choices: {choices}")
    return lowered[value.lower()]


def as_bool(value: Any, what: str) -> bool:
    """Accept True/False or the integers 0/1, as smash does."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{what} must be a bool (or 0/1), got {value!r}")


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or numpy), booleans excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def as_finite_float(value: Any, what: str) -> float:
    """A finite real number."""
    if not is_real(value):
        raise TypeError(f"{what} must be a number (int or float), got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def as_positive_float(value: Any, what: str) -> float:
    """A finite, strictly positive real number."""
    value = as_finite_float(value, what)
    if not value > 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return value


def as_weights(value: Any, n: int, what: str) -> tuple[float, ...]:
    """``n`` finite, non-negative weights from a number or a sequence of numbers."""
    if is_real(value):
        value = [value]
    if not isinstance(value, list | tuple | np.ndarray):
        raise TypeError(f"{what} must be a number or a list of numbers, got {type(value).__name__} {value!r}")
    weights = list(np.ravel(np.asarray(value, dtype=object)))
    if len(weights) != n:
        raise ValueError(f"{what} has {len(weights)} weights where {n} are expected")
    out = []
    for w in weights:
        if not is_real(w):
            raise TypeError(f"{what} must hold numbers, got {type(w).__name__} {w!r}")
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"{what} must hold finite, non-negative weights, got {w!r}")
        out.append(float(w))
    return tuple(out)


def as_date(value: Any, what: str) -> pd.Timestamp:
    """A date given as a str (``"2012-08-01"``, ``"2012-08-01 06:00"``), ``datetime`` or ``Timestamp``."""
    if isinstance(value, pd.Timestamp | datetime.date | np.datetime64):
        date = pd.Timestamp(value)
    elif isinstance(value, str):
        try:
            date = pd.Timestamp(value)
        except ValueError:
            raise ValueError(f"{what} is not a valid date: {value!r}") from None
    else:
        raise TypeError(
            f"{what} must be a date (str such as '2012-08-01', datetime or pandas.Timestamp), "
            f"got {type(value).__name__} {value!r}"
        )
    if pd.isna(date):
        raise ValueError(f"{what} is not a valid date: {value!r}")
    return date


def check_callback(callback: Any) -> Callable | None:
    """A callable taking the keyword argument ``iopt`` (smash's rule), or None."""
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    try:
        parameters = inspect.signature(callback).parameters
    except (TypeError, ValueError):
        return callback
    takes_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if "iopt" not in parameters and not takes_keywords:
        raise ValueError("callback must take an argument named 'iopt' (it is called as callback(iopt=...))")
    return callback
