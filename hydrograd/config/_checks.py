"""Small validation helpers shared by every config object: clear messages, closest-key hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def closest(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest valid choice, or ''."""
    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def reject_unknown_keys(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """Raise ValueError for the first key of ``given`` that is not in ``known``."""
    known = list(known)
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


def as_positive_float(value: Any, what: str) -> float:
    """A strictly positive real number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number (int or float), got {type(value).__name__} {value!r}")
    if not value > 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return float(value)
