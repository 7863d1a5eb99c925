"""Host arrays onto the JAX device without compiling anything.

``jnp.asarray`` of a numpy array compiles and runs a small conversion program, once per shape and
dtype (a few milliseconds of compilation each on a CPU); ``jax.device_put`` copies the buffer as
it is. Building a model or a calibration converts dozens of arrays, so they go through
:func:`to_device`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

XLA_CPU_ALIGNMENT = 64
"""Byte boundary from which XLA's CPU client takes a host array's memory as it is."""


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised host array whose data start on an :data:`XLA_CPU_ALIGNMENT` boundary.

    ``jax.device_put`` of such an array on the CPU shares its memory instead of copying it (numpy's
    own large arrays start 16 bytes past a page, and are copied), so the array must not be written
    once it has been put.
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + XLA_CPU_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % XLA_CPU_ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def to_device(values: Any, dtype: Any = None) -> jax.Array:
    """``values`` (a host array, list or scalar) as a JAX array, cast by numpy to ``dtype`` first.

    Dtypes follow ``jnp.asarray``: 64-bit values become 32-bit unless ``jax.enable_x64`` is on.
    """
    return jax.device_put(np.asarray(values, dtype=dtype))


def to_device_tree(tree: Any) -> Any:
    """Every host array of a PyTree onto the device in one batched transfer (dtypes as
    :func:`to_device` gives them)."""
    return jax.device_put(jax.tree_util.tree_map(np.asarray, tree))


def host_ravel(tree: Any) -> tuple[np.ndarray, Any]:
    """``jax.flatten_util.ravel_pytree`` on the host: the leaves of ``tree`` flattened into one numpy
    vector in the same order (so that a program's ``ravel_pytree`` of a tree of the same structure
    agrees with it), and the function that gives a vector back as a tree of numpy arrays of the
    leaves' shapes and dtypes. Nothing is compiled."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    arrays = [np.asarray(leaf) for leaf in leaves]
    flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, np.float32)
    ends = np.cumsum([a.size for a in arrays])[:-1]

    def unravel(vector: Any) -> Any:
        pieces = np.split(np.asarray(vector), ends)
        return treedef.unflatten([p.reshape(a.shape).astype(a.dtype) for p, a in zip(pieces, arrays, strict=True)])

    return flat, unravel
