"""Keeping a calibration's compilations short or off its critical path.

A calibration's first evaluation traces and compiles its whole objective (0.5 s of Python tracing
and 1-2 s of XLA compilation on a catchment); the programs that only serve its end (the closing
forward run, the calibrated maps) are compiled on a background thread meanwhile, since XLA
compiles outside the interpreter's lock.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hydrograd-compile")
"""The background thread that compiles the programs a calibration needs after its iterations."""


def without_gc_on_first_call(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with Python's cyclic garbage collector paused during its first call.

    Tracing a calibration's objective allocates hundreds of thousands of short-lived objects; the
    full collections they trigger walk the whole heap (jax, scipy, pandas, ...) and took about a
    quarter of the tracing time. Later calls, which run the compiled program, are left alone.
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
