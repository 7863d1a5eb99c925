"""Keeping a calibration's first evaluation short: it traces and compiles the whole objective.
(The programs that only serve a calibration's end compile on ``hydrograd._process.COMPILER``.)"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def without_gc_on_first_call(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with Python's cyclic garbage collector paused during its first call.

    Tracing a calibration's objective allocates hundreds of thousands of short-lived objects; the
    full collections they trigger walk the whole heap (jax, scipy, pandas, ...) and cost a good part
    of the tracing time (``benchmarks/RESULTS.md``). Later calls, which run the compiled program,
    are left alone.
    """
    first = [True]

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if not first[0] or not gc.isenabled():
            return fn(*args, **kwargs)
        first[0] = False
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return call
