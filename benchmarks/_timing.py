"""Alternating A/B timing: medians of interleaved repeats, so machine noise hits both sides."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    """Medians in seconds of ``repeats`` interleaved calls of each side."""

    hydrograd: float
    reference: float | None

    @property
    def ratio(self) -> float | None:
        """How many times faster hydrograd is (reference / hydrograd)."""
        return None if self.reference is None else self.reference / self.hydrograd


def alternate(
    ours: Callable[[], object],
    reference: Callable[[], object] | None,
    repeats: int,
    reference_repeats: int | None = None,
) -> Timing:
    """Time ``ours`` and ``reference`` alternately ``repeats`` times each (``reference`` only in the
    first ``reference_repeats`` rounds when given, for a reference that takes minutes); return the
    medians."""
    a, b = [], []
    for i in range(repeats):
        t = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t)
        if reference is not None and (reference_repeats is None or i < reference_repeats):
            t = time.perf_counter()
            reference()
            b.append(time.perf_counter() - t)
    return Timing(statistics.median(a), statistics.median(b) if b else None)


def once(fn: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
