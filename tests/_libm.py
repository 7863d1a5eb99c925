"""This machine's C math library (the reference for smash's float32 arithmetic), through ctypes."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import numpy as np
import pytest


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
    """:func:`libm_function` over numpy arrays, float32 out."""
    function = libm_function(name, n_args)
    return np.vectorize(lambda *args: function(*map(float, args)), otypes=[np.float32])
