"""Host arrays onto the JAX device without compiling anything.

``jnp.asarray`` of a numpy array compiles and runs a small conversion program, once per shape and
dtype (a few milliseconds of compilation each on a CPU); ``jax.device_put`` copies the buffer as
it is. Building a model or a calibration converts dozens of arrays, so they go through
:func:`to_device`.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_device(values: Any, dtype: Any = None) -> jax.Array:
    """``values`` (a host array, list or scalar) as a JAX array, cast by numpy to ``dtype`` first.

    Dtypes follow ``jnp.asarray``: 64-bit values become 32-bit unless ``jax.enable_x64`` is on.
    """
    return jax.device_put(np.asarray(values, dtype=dtype))


def to_device_tree(tree: Any) -> Any:
    """Every host array of a PyTree onto the device in one batched transfer (dtypes as
    :func:`to_device` gives them)."""
    return jax.device_put(jax.tree_util.tree_map(np.asarray, tree))
