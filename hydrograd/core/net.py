"""Neural-network layers as pure JAX functions, for learnable regionalization.

A network is described by a *spec*, a tuple of small frozen dataclasses (:class:`Dense`,
:class:`Conv2D`, :class:`Flatten`, :class:`Activation`, :class:`Scale`, :class:`Dropout`). A spec
is hashable, so it can be a ``jit`` static argument. Its learnable values live apart, in a
*params* tuple aligned with the spec: entry ``i`` is ``{"weight": W, "bias": b}`` for a dense or
convolutional layer and ``None`` for every other layer (``None`` is an empty PyTree node, so the
tuple can be differentiated, mapped over and handed to optax as it is).

Layouts follow smash's ``Net`` so that weights move between the two unchanged:

- dense: ``W`` is ``(neurons, n_in)``, ``b`` is ``(neurons,)``; ``y = x @ W.T + b`` on the last axis;
- conv2d: ``W`` is ``(filters, depth * fh * fw)``, the flattening of a ``(filters, depth, fh, fw)``
  kernel, ``b`` is ``(filters,)``; stride one and "same" zero padding, the extra row/column of an
  even filter going to the bottom/right; cross-correlation, ``(H, W, depth) -> (H, W, filters)``;
- flatten keeps the channel axis: ``(H, W, C) -> (H * W, C)``, pixels in row-major order.

Layers act on one sample (dense on any leading axes, conv2d on ``(H, W, C)`` or a batch
``(N, H, W, C)``); use ``jax.vmap`` for batches of anything else.

Dropout is active only when ``forward`` is called with ``train=True``; it then needs a
``jax.random`` key, from which the ``i``-th layer of the spec draws with ``fold_in(key, i)``. A
unit is kept with probability ``1 - rate`` and kept units are divided by ``1 - rate`` ("inverted"
dropout), so that the deterministic pass used at inference is the expectation of the training
pass. (smash multiplies by the raw mask, without rescaling, and draws a mask at inference too.)

Activations use smash's constants (leaky ReLU slope 0.01, ELU ``alpha = 0.1``, SELU's standard
constants) in numerically stable forms with the same values (``tanh``, ``log1p``/``logaddexp``),
so that no gradient becomes NaN for large inputs. Matrix products and convolutions request the
highest precision, so a GPU does not silently fall back to TF32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

_HIGHEST = lax.Precision.HIGHEST

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_LEAKY_SLOPE = 0.01
_ELU_ALPHA = 0.1


def _elu(x: Array, alpha: float) -> Array:
    # expm1 of min(x, 0): the untaken branch cannot overflow, so its gradient stays finite
    return jnp.where(x >= 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    "tanh": jnp.tanh,
    "relu": lambda x: jnp.where(x >= 0, x, 0),
    "leakyrelu": lambda x: jnp.where(x >= 0, x, _LEAKY_SLOPE * x),
    "elu": lambda x: _elu(x, _ELU_ALPHA),
    "selu": lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
    "softplus": lambda x: jnp.logaddexp(x, 0),
    "silu": lambda x: x * jax.nn.sigmoid(x),
}
"""Activation functions by lowercase name; each maps an array elementwise (softmax: over the last axis)."""

BOUNDED_ACTIVATIONS: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
}
"""Output range of the activations a :class:`Scale` layer can follow."""


@dataclass(frozen=True)
class Dense:
    """Fully connected layer on the last axis: ``(..., n_in) -> (..., neurons)``."""

    neurons: int


@dataclass(frozen=True)
class Conv2D:
    """2-D convolution, stride one, "same" padding: ``(H, W, depth) -> (H, W, filters)``."""

    filters: int
    filter_shape: tuple[int, int]


@dataclass(frozen=True)
class Flatten:
    """``(H, W, C) -> (H * W, C)``."""


@dataclass(frozen=True)
class Activation:
    """Elementwise activation named by a key of :data:`ACTIVATIONS`."""

    name: str


@dataclass(frozen=True)
class Scale:
    """Min-max rescaling of the last axis from ``bound_in`` (the previous activation's range) to
    per-output ``(lower[k], upper[k])``."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    bound_in: tuple[float, float]


@dataclass(frozen=True)
class Dropout:
    """Training-time dropout with drop probability ``rate`` in ``[0, 1)``."""

    rate: float


LayerSpec = Dense | Conv2D | Flatten | Activation | Scale | Dropout
Spec = tuple[LayerSpec, ...]
Params = tuple[dict[str, Array] | None, ...]


def same_padding(filter_shape: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` zero padding that keeps the image size."""
    return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in filter_shape)  # type: ignore[return-value]


def dense(params: dict[str, Array], x: Array) -> Array:
    """``x @ W.T + b``: ``(..., n_in) -> (..., neurons)``."""
    return jnp.matmul(x, params["weight"].T, precision=_HIGHEST) + params["bias"]


def conv2d(params: dict[str, Array], x: Array, filter_shape: tuple[int, int]) -> Array:
    """Stride-one "same" convolution: ``(H, W, depth) -> (H, W, filters)``, or the same with a
    leading batch axis."""
    weight = params["weight"]
    filters, depth = weight.shape[0], x.shape[-1]
    kernel = weight.reshape(filters, depth, *filter_shape)
    batched = x if x.ndim == 4 else x[None]
    y = lax.conv_general_dilated(
        batched,
        kernel.astype(batched.dtype),
        window_strides=(1, 1),
        padding=same_padding(filter_shape),
        dimension_numbers=("NHWC", "OIHW", "NHWC"),
        precision=_HIGHEST,
    )
    y = y + params["bias"]
    return y if x.ndim == 4 else y[0]


def flatten(x: Array) -> Array:
    """``(..., H, W, C) -> (..., H * W, C)``."""
    return x.reshape(*x.shape[:-3], x.shape[-3] * x.shape[-2], x.shape[-1])


def activation(name: str, x: Array) -> Array:
    """Apply the activation ``name`` (a key of :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name](x)


def scale(x: Array, lower: Sequence[float], upper: Sequence[float], bound_in: tuple[float, float]) -> Array:
    """``lower + (x - a) / (b - a) * (upper - lower)`` on the last axis, ``(a, b) = bound_in``."""
    low = jnp.asarray(lower, dtype=x.dtype)
    high = jnp.asarray(upper, dtype=x.dtype)
    a, b = bound_in
    return low + (x - a) / (b - a) * (high - low)


def dropout(x: Array, rate: float, key: Array) -> Array:
    """Zero each entry with probability ``rate`` and divide the others by ``1 - rate``."""
    if rate == 0:
        return x
    keep = jax.random.uniform(key, x.shape) >= rate
    return jnp.where(keep, x / (1 - rate), 0)


def apply_layer(layer: LayerSpec, params: dict[str, Array] | None, x: Array, key: Array | None = None) -> Array:
    """One layer of a spec; ``key`` is only read by a :class:`Dropout` layer (``None``: inactive)."""
    if isinstance(layer, Dense):
        return dense(params, x)
    if isinstance(layer, Conv2D):
        return conv2d(params, x, layer.filter_shape)
    if isinstance(layer, Flatten):
        return flatten(x)
    if isinstance(layer, Activation):
        return activation(layer.name, x)
    if isinstance(layer, Scale):
        return scale(x, layer.lower, layer.upper, layer.bound_in)
    if isinstance(layer, Dropout):
        return x if key is None else dropout(x, layer.rate, key)
    raise TypeError(f"unknown layer spec {layer!r}")


def forward(spec: Spec, params: Params, x: Array, *, train: bool = False, key: Array | None = None) -> Array:
    """Apply the network ``spec`` with ``params`` (a tuple aligned with ``spec``) to ``x``.

    ``x`` has the first layer's input shape (dense: any leading axes). With ``train=True`` dropout
    layers are active and ``key`` (a ``jax.random`` key) is required; ``train`` must be static
    under ``jit``.
    """
    if len(params) != len(spec):
        raise ValueError(f"params must have one entry per layer of the spec: {len(params)} != {len(spec)}")
    if train and key is None and any(isinstance(layer, Dropout) for layer in spec):
        raise ValueError("forward(train=True) through dropout layers needs a jax.random key: pass key=...")
    for i, (layer, p) in enumerate(zip(spec, params, strict=True)):
        layer_key = jax.random.fold_in(key, i) if train and isinstance(layer, Dropout) else None
        x = apply_layer(layer, p, x, layer_key)
    return x


forward_jit = jax.jit(forward, static_argnums=0, static_argnames="train")
"""``forward`` compiled once per (spec, train, shapes, dtypes)."""


def combine(*trees: Params) -> Params:
    """Merge params tuples layer by layer, taking each layer's first non-``None`` entry (e.g. the
    trainable and the frozen layers' params)."""
    if len({len(t) for t in trees}) > 1:
        raise ValueError(f"params tuples of different lengths: {[len(t) for t in trees]}")
    return tuple(next((p for p in entries if p is not None), None) for entries in zip(*trees, strict=True))


def layer_output_shape(layer: LayerSpec, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of one layer's output for an input of ``input_shape``."""
    if isinstance(layer, Dense):
        return (*input_shape[:-1], layer.neurons)
    if isinstance(layer, Conv2D):
        return (*input_shape[:-1], layer.filters)
    if isinstance(layer, Flatten):
        return (*input_shape[:-3], input_shape[-3] * input_shape[-2], input_shape[-1])
    return tuple(input_shape)


def output_shape(spec: Spec, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the network's output for an input of ``input_shape``."""
    for layer in spec:
        input_shape = layer_output_shape(layer, input_shape)
    return input_shape


def param_shapes(spec: Spec, input_shape: tuple[int, ...]) -> tuple[dict[str, tuple[int, ...]] | None, ...]:
    """The params tuple's shapes for an input of ``input_shape`` (``None`` for layers without any)."""
    shapes: list[Any] = []
    for layer in spec:
        if isinstance(layer, Dense):
            shapes.append({"weight": (layer.neurons, input_shape[-1]), "bias": (layer.neurons,)})
        elif isinstance(layer, Conv2D):
            fh, fw = layer.filter_shape
            shapes.append({"weight": (layer.filters, input_shape[-1] * fh * fw), "bias": (layer.filters,)})
        else:
            shapes.append(None)
        input_shape = layer_output_shape(layer, input_shape)
    return tuple(shapes)
