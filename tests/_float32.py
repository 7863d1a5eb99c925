"""smash's float32 arithmetic in tests: the setting for a block of code, and this machine's C math
library (the reference for the arithmetic), through ctypes."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import jax
import numpy as np
import pytest

from hydrograd import _process


def libm_function(name: str, n_args: int) -> Callable[..., float]:
    """The single-precision C function ``name`` of ``n_args`` floats; the test is skipped where no C
    math library can be found."""
    path = ctypes.util.find_library("m")
    if path is None:
        pytest.skip("no C math library to compare with")
    function = getattr(ctypes.CDLL(path), name)
    function.restype = ctypes.c_float
    function.argtypes = [ctypes.c_float] * n_args
    return function


def vectorized(name: str, n_args: int) -> Callable[..., np.ndarray]:
    """:func:`libm_function` over numpy arrays (float32 values, given to C as they are), float32 out."""
    function = np.vectorize(libm_function(name, n_args), otypes=[np.float32])

    def over_arrays(*args: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # the library's infinities, at 0 and beyond float32's range
            return function(*(np.asarray(a, np.float64) for a in args))

    return over_arrays


@contextmanager
def float32_arithmetic(name: str) -> Iterator[None]:
    """Run the block with the float32 arithmetic ``name`` (``HYDROGRAD_FLOAT32``), JAX's caches cleared
    on both sides so that no program traced under the other arithmetic is reused."""
    before = _process.float32_arithmetic()
    jax.clear_caches()
    _process.set_float32_arithmetic(name)
    try:
        yield
    finally:
        _process.set_float32_arithmetic(before)
        jax.clear_caches()
