"""Host arrays onto the JAX device without compiling anything.

``jnp.asarray`` of a numpy array compiles and runs a small conversion program, once per shape and
dtype (a few milliseconds of compilation each on a CPU); ``jax.device_put`` copies the buffer as
it is. Building a model or a calibration converts dozens of arrays, so they go through
:func:`to_device`.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
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
    return _aligned_view(np.empty(math.prod(shape) * dtype.itemsize + XLA_CPU_ALIGNMENT, np.uint8), shape, dtype)


def _aligned_view(owner: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The aligned ``shape``/``dtype`` array within the bytes of ``owner`` (a view: its base is ``owner``)."""
    start = -owner.ctypes.data % XLA_CPU_ALIGNMENT
    return owner[start : start + math.prod(shape) * dtype.itemsize].view(dtype).reshape(shape)


_RELEASE_WAITS = (0.0, 1e-4, 1e-3)
"""Seconds :class:`HostArrays` waits, in turn, for XLA to release an array's memory before giving
new memory instead (about 1 ms at most, against tens of ms of fresh pages on a large domain)."""


class HostArrays:
    """Aligned host arrays (:func:`aligned_empty`) handed out by name; the next request for a name,
    with the same shape and dtype, gets the same memory back once nothing holds it any more.

    Fresh memory costs a first touch of every page (on a virtual machine, several times the cost of
    rewriting resident pages), and a large model gathers its forcing at every forward run: it
    gathers into the arrays of its previous run when those are free again. An array is free when no
    view of its memory is left: not the array handed out, nor its device copy (which shares the
    memory on the CPU and keeps a reference to it while any computation may read it). Copies and
    pickles of the pool start empty. Safe to share between threads: two requests at once never
    get the same memory.
    """

    def __init__(self) -> None:
        self._owners: dict[str, np.ndarray] = {"": np.empty(0, np.uint8)}
        # the count of references to an owner that only the pool holds, as _references sees it
        self._free = self._references("")
        del self._owners[""]
        self._lock = threading.Lock()

    def take(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised aligned array for ``name``: the memory of the last one when it is free
        and fits, new memory otherwise."""
        with self._lock:
            return self._take(name, shape, np.dtype(dtype))

    def _take(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        size = math.prod(shape) * dtype.itemsize + XLA_CPU_ALIGNMENT
        if name in self._owners and self._owners[name].size == size and self._released(name):
            return _aligned_view(self._owners[name], shape, dtype)
        array = aligned_empty(shape, dtype)
        self._owners[name] = array.base
        return array

    def _released(self, name: str) -> bool:
        """Whether nothing but the pool holds ``name``'s memory, after a few short waits.

        A device buffer freed by one of XLA's threads hands its reference to the host memory back
        to Python later, when jaxlib next collects: a young-generation collection runs JAX's hook
        for it (a fraction of a millisecond). The thread may still be releasing the last
        computation's hold on its inputs, hence the waits (:data:`_RELEASE_WAITS`)."""
        for wait in _RELEASE_WAITS:
            if self._references(name) == self._free:
                return True
            time.sleep(wait)
            gc.collect(0)
        return self._references(name) == self._free

    def _references(self, name: str) -> int:
        owner = self._owners.get(name)
        return -1 if owner is None else sys.getrefcount(owner)

    def __deepcopy__(self, memo: dict) -> HostArrays:
        return HostArrays()

    def __reduce__(self) -> tuple:
        return HostArrays, ()


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
