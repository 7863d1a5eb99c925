"""``Net``: smash's neural-network builder, as a stateful façade over :mod:`hydrograd.core.net`.

The façade keeps smash's public surface and numbers: the same layer list and summary table, the
same weight layouts (numpy ``float64``, dense ``(neurons, n_in)``, conv2d ``(filters, depth * fh *
fw)``, biases ``(1, n)``), and initializers that draw the same values as smash for the same
``random_state``. It does no arithmetic of its own: ``forward_pass`` runs ``core.net.forward``
(in float64), and training code works on ``spec()`` and ``params()`` directly.

Random initialization
---------------------
smash draws from numpy's legacy ``RandomState`` stream: ``random_state`` seeds it, each weight
matrix is drawn whole in its ``(n_out, n_in)`` shape with ``uniform(-limit, limit, shape)`` or
``normal(0, std, shape)``, and a bias is drawn as an ``(n_out, 1)`` matrix (fan-in 1) then
transposed; "zeros" draws nothing. The order of the draws is:

- ``set_weight(random_state=s)``: every weight, layer after layer (``set_bias``: every bias);
- ``initialize(random_state=s)`` (what smash does before training): layer after layer, the
  weight then the bias, skipping values already set.

Here a given ``random_state`` seeds a private ``numpy.random.RandomState``, so the user's global
numpy stream is left untouched (smash reseeds it from the OS afterwards); with
``random_state=None`` values come from numpy's global stream, as in smash.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device
from hydrograd._validate import choice
from hydrograd.core import net as core
from hydrograd.nn.initializers import INITIALIZERS, check_random_state, initial_values, random_generator
from hydrograd.optimizers import OPTIMIZERS

__all__ = ["Net", "default_net"]

ACTIVATION_NAMES = {
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "tanh": "TanH",
    "relu": "ReLU",
    "leakyrelu": "LeakyReLU",
    "elu": "ELU",
    "selu": "SELU",
    "softplus": "SoftPlus",
    "silu": "SiLU",
}
"""Accepted activation names and the class names smash prints for them."""


# ----------------------------------------------------------------------------------- checks


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _positive_int(value: Any, what: str) -> int:
    if not _is_real(value):
        raise TypeError(f"{what} must be a positive integer, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


TRAINING_COPIES = 4
"""Float64 arrays a training holds per weight: the weight, its gradient and Adam's two moments."""


def _memory_bytes() -> int:
    """Physical memory of this machine (2**34 bytes where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 1 << 34


def _check_weight_size(weight_shape: tuple[int, int], what: str) -> None:
    """Refuse a layer whose training would not fit in memory, before anything is allocated."""
    count = weight_shape[0] * weight_shape[1]
    needed, available = count * 8 * TRAINING_COPIES, _memory_bytes()
    if needed > available:
        raise ValueError(
            f"{what}: its weight matrix {weight_shape[0]} x {weight_shape[1]} ({count:.3g} values) needs "
            f"{needed / 2**30:.3g} GiB to train (float64 weights, gradient and optimizer moments), more than "
            f"this machine's {available / 2**30:.3g} GiB: use fewer neurons/filters or a smaller input"
        )


def _shape(value: Any, what: str, ndim: int | None = None) -> tuple[int, ...]:
    if _is_real(value) and ndim in (None, 1):
        return (_positive_int(value, what),)
    if not isinstance(value, tuple | list):
        expected = "a tuple or list" if ndim else "an integer, a tuple or a list"
        raise TypeError(f"{what} must be {expected} of positive integers, got {type(value).__name__} {value!r}")
    if ndim is not None and len(value) != ndim:
        raise ValueError(f"{what} must have {ndim} entries, got {len(value)}: {tuple(value)!r}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return tuple(_positive_int(v, f"{what} entry") for v in value)


def _activation(name: str | None) -> str | None:
    return None if name is None else choice(name, ACTIVATION_NAMES, "activation")


def _initializer(name: str, what: str) -> str:
    return choice(name, INITIALIZERS, what)


def _render_table(rows: list[list[str]]) -> str:
    """An ASCII table with outer borders, a rule under the heading row and no column rules."""
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    rule = "+" + "-" * sum(w + 2 for w in widths) + "+"
    lines = ["|" + "".join(f" {cell.ljust(w)} " for cell, w in zip(row, widths, strict=True)) + "|" for row in rows]
    body = [rule, lines[0]] + ([rule, *lines[1:]] if len(lines) > 1 else [])
    return "\n".join([*body, rule])


# ----------------------------------------------------------------------------------- layers


class Layer:
    """A layer of a :class:`Net`: its input shape, trainable flag and static description."""

    input_shape: tuple[int, ...]
    trainable: bool = False

    def spec(self) -> core.LayerSpec:
        """The layer's hashable description for :func:`hydrograd.core.net.forward`."""
        raise NotImplementedError

    def layer_name(self) -> str:
        """The name shown in the network summary."""
        return type(self).__name__

    def n_params(self) -> int:
        """Number of learnable values."""
        return 0

    def output_shape(self) -> tuple[int, ...]:
        """Shape of the layer's output."""
        return core.layer_output_shape(self.spec(), self.input_shape)


class _WeightedLayer(Layer):
    """Common part of the dense and convolutional layers: weight, bias and their initializers."""

    weight_shape: tuple[int, int]
    bias_shape: tuple[int, int]

    def __init__(self, input_shape: tuple[int, ...], kernel_initializer: str, bias_initializer: str):
        self.input_shape = input_shape
        self.trainable = True
        self.weight: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def n_params(self) -> int:
        n_out, n_in = self.weight_shape
        return n_out * (n_in + 1)

    def _draw(self, kind: str, rng: Any) -> None:
        n_out, n_in = self.weight_shape
        if kind == "weight":
            self.weight = initial_values(self.kernel_initializer, n_in, n_out, rng)
        else:
            self.bias = initial_values(self.bias_initializer, 1, n_out, rng).T


class Dense(_WeightedLayer):
    """Fully connected layer on the last axis."""

    def __init__(self, neurons: int, input_shape: tuple[int, ...], kernel_initializer: str, bias_initializer: str):
        super().__init__(input_shape, kernel_initializer, bias_initializer)
        self.neurons = neurons
        self.weight_shape = (neurons, input_shape[-1])
        self.bias_shape = (1, neurons)

    def spec(self) -> core.Dense:
        return core.Dense(self.neurons)


class Conv2D(_WeightedLayer):
    """2-D convolution with stride one and "same" padding."""

    def __init__(
        self,
        filters: int,
        filter_shape: tuple[int, int],
        input_shape: tuple[int, ...],
        kernel_initializer: str,
        bias_initializer: str,
    ):
        super().__init__(input_shape, kernel_initializer, bias_initializer)
        self.filters = filters
        self.filter_shape = filter_shape
        self.weight_shape = (filters, input_shape[-1] * filter_shape[0] * filter_shape[1])
        self.bias_shape = (1, filters)

    def spec(self) -> core.Conv2D:
        return core.Conv2D(self.filters, self.filter_shape)


class Activation(Layer):
    """Elementwise activation."""

    def __init__(self, name: str, input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.trainable = False
        self.name = name
        self.activation_name = ACTIVATION_NAMES[name]

    def layer_name(self) -> str:
        return f"Activation ({self.activation_name})"

    def spec(self) -> core.Activation:
        return core.Activation(self.name)


class Scale(Layer):
    """Min-max scaling of a bounded activation's output to per-output ``(lower, upper)`` bounds."""

    def __init__(self, bounds: np.ndarray, bound_in: tuple[float, float], input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.trainable = False
        self.bounds = bounds
        self.bound_in = bound_in
        self.scale_name = "MinMaxScale"

    @property
    def lower(self) -> np.ndarray:
        return self.bounds[:, 0]

    @property
    def upper(self) -> np.ndarray:
        return self.bounds[:, 1]

    def layer_name(self) -> str:
        return f"Scale ({self.scale_name})"

    def spec(self) -> core.Scale:
        return core.Scale(tuple(map(float, self.lower)), tuple(map(float, self.upper)), self.bound_in)


class Flatten(Layer):
    """``(H, W, C) -> (H * W, C)``."""

    def __init__(self, input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.trainable = False

    def spec(self) -> core.Flatten:
        return core.Flatten()


class Dropout(Layer):
    """Training-time dropout."""

    def __init__(self, drop_rate: float, input_shape: tuple[int, ...]):
        self.input_shape = input_shape
        self.trainable = False
        self.drop_rate = drop_rate

    def spec(self) -> core.Dropout:
        return core.Dropout(self.drop_rate)


# -------------------------------------------------------------------------------------- Net


class Net:
    """A neural network built layer by layer, smash-style.

    >>> net = Net()
    >>> net.add_dense(16, input_shape=6, activation="relu")
    >>> net.add_dense(2, activation="sigmoid")
    >>> net.add_scale([(0, 10), (-1, 1)])
    >>> net.set_weight(random_state=0)
    >>> net.set_bias(random_state=0)
    >>> net.forward_pass(np.zeros(6)).shape
    (1, 2)
    """

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.history: dict[str, list[float]] = {"loss_train": [], "proj_grad": []}

    def __repr__(self) -> str:
        rows = [["Layer Type", "Input/Output Shape", "Num Parameters"]]
        total = trainable = 0
        for layer in self.layers:
            n = layer.n_params()
            rows.append([layer.layer_name(), f"{layer.input_shape}/{layer.output_shape()}", str(n)])
            total += n
            trainable += n if layer.trainable else 0
        return "\n".join([_render_table(rows), f"Total parameters: {total}", f"Trainable parameters: {trainable}"])

    # ------------------------------------------------------------------------- building

    def _next_input_shape(self, input_shape: Any, what: str, ndim: int | None = None) -> tuple[int, ...]:
        if self.layers:
            if input_shape is not None:
                raise TypeError(f"input_shape is only for the first layer; this {what} follows other layers")
            return self.layers[-1].output_shape()
        if input_shape is None:
            raise TypeError(f"the first layer needs input_shape: this {what} is the first layer of the network")
        return _shape(input_shape, "input_shape", ndim)

    def _previous_output(self, what: str) -> tuple[int, ...]:
        if not self.layers:
            raise ValueError(f"{what} cannot be the first layer of the network: add a dense or conv2d layer first")
        return self.layers[-1].output_shape()

    def _append(self, layer: Layer, activation: str | None) -> None:
        self.layers.append(layer)
        if activation is not None:
            self.layers.append(Activation(activation, layer.output_shape()))

    def add_dense(
        self,
        neurons: int,
        input_shape: int | tuple | list | None = None,
        activation: str | None = None,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
    ) -> None:
        """Add a fully connected layer acting on the last axis, ``(..., n_in) -> (..., neurons)``,
        optionally followed by an activation layer. ``input_shape`` is required for the first layer
        only. Weights are not drawn here (see ``set_weight``, ``set_bias``, ``initialize``)."""
        neurons = _positive_int(neurons, "neurons")
        activation = _activation(activation)
        kernel_initializer = _initializer(kernel_initializer, "kernel_initializer")
        bias_initializer = _initializer(bias_initializer, "bias_initializer")
        shape = self._next_input_shape(input_shape, "dense layer")
        _check_weight_size((neurons, shape[-1]), f"dense layer of {neurons} neurons")
        self._append(Dense(neurons, shape, kernel_initializer, bias_initializer), activation)

    def add_conv2d(
        self,
        filters: int,
        filter_shape: int | tuple | list,
        input_shape: tuple | list | None = None,
        activation: str | None = None,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
    ) -> None:
        """Add a 2-D convolution (stride one, "same" zero padding), ``(H, W, depth) -> (H, W,
        filters)``, optionally followed by an activation layer. ``filter_shape`` is ``k`` or
        ``(kh, kw)``; ``input_shape`` (3 entries) is required for the first layer only."""
        filters = _positive_int(filters, "filters")
        if _is_real(filter_shape):
            filter_shape = (filter_shape, filter_shape)
        filter_shape = _shape(filter_shape, "filter_shape", 2)
        activation = _activation(activation)
        kernel_initializer = _initializer(kernel_initializer, "kernel_initializer")
        bias_initializer = _initializer(bias_initializer, "bias_initializer")
        shape = self._next_input_shape(input_shape, "conv2d layer", 3)
        if len(shape) != 3:
            raise ValueError(
                f"a conv2d layer needs a 3-D input (height, width, channels); the previous layer outputs {shape}"
            )
        depth = shape[-1] * filter_shape[0] * filter_shape[1]
        _check_weight_size((filters, depth), f"conv2d layer of {filters} filters")
        self._append(Conv2D(filters, filter_shape, shape, kernel_initializer, bias_initializer), activation)

    def add_flatten(self) -> None:
        """Add a layer reshaping ``(H, W, C)`` into ``(H * W, C)`` (the channel axis is kept)."""
        shape = self._previous_output("a flatten layer")
        if len(shape) != 3:
            raise ValueError(f"a flatten layer needs a 3-D input (height, width, channels); got {shape}")
        self.layers.append(Flatten(shape))

    def add_activation(self, name: str) -> None:
        """Add an activation layer (one of ``ACTIVATION_NAMES``)."""
        name = choice(name, ACTIVATION_NAMES, "activation")
        self.layers.append(Activation(name, self._previous_output("an activation layer")))

    def add_scale(self, bounds: Sequence[tuple[float, float]] | np.ndarray) -> None:
        """Add a min-max scaling layer mapping the previous bounded activation's range (sigmoid,
        softmax: ``(0, 1)``; tanh: ``(-1, 1)``) onto ``bounds``, one ``(low, high)`` per output."""
        shape = self._previous_output("a scaling layer")
        previous = self.layers[-1]
        if not (isinstance(previous, Activation) and previous.name in core.BOUNDED_ACTIVATIONS):
            raise ValueError(
                f"a scaling layer must follow a bounded activation {sorted(core.BOUNDED_ACTIVATIONS)}; "
                f"the previous layer is {previous.layer_name()}"
            )
        if isinstance(bounds, dict):
            raise TypeError("bounds must be a list of (low, high) pairs, not a dict: pass list(bounds.values())")
        if isinstance(bounds, str) or not isinstance(bounds, Sequence | np.ndarray):
            raise TypeError(f"bounds must be a list of (low, high) pairs, got {type(bounds).__name__}")
        pairs = []
        for i, pair in enumerate(bounds):
            if isinstance(pair, str) or not isinstance(pair, Sequence | np.ndarray) or len(pair) != 2:
                raise TypeError(f"bounds[{i}] must be a (low, high) pair, got {pair!r}")
            if not all(_is_real(v) for v in pair):
                raise TypeError(f"bounds[{i}] must hold two numbers, got {pair!r}")
            if not all(math.isfinite(v) for v in pair):
                raise ValueError(f"bounds[{i}] must hold two finite numbers, got {pair!r}")
            if not pair[0] < pair[1]:
                raise ValueError(f"bounds[{i}] must satisfy low < high, got {tuple(pair)!r}")
            pairs.append((pair[0], pair[1]))
        if len(pairs) != shape[-1]:
            raise ValueError(
                f"bounds must hold one (low, high) pair per output of the previous layer: "
                f"{len(pairs)} pairs for {shape[-1]} outputs"
            )
        self.layers.append(Scale(np.array(pairs, dtype=np.float64), core.BOUNDED_ACTIVATIONS[previous.name], shape))

    def add_dropout(self, drop_rate: float) -> None:
        """Add a dropout layer zeroing each output with probability ``drop_rate`` in ``[0, 1)``
        during training only (``forward_pass`` is deterministic)."""
        if not _is_real(drop_rate):
            raise TypeError(f"drop_rate must be a number in [0, 1), got {type(drop_rate).__name__} {drop_rate!r}")
        if not 0 <= drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate!r}")
        self.layers.append(Dropout(float(drop_rate), self._previous_output("a dropout layer")))

    # ------------------------------------------------------------------- weights, biases

    def _weighted(self) -> list[_WeightedLayer]:
        return [layer for layer in self.layers if isinstance(layer, _WeightedLayer)]

    def _values(self, value: Any, kind: str) -> list[np.ndarray]:
        layers = self._weighted()
        if not isinstance(value, list | tuple):
            raise TypeError(f"value must be a list with one {kind} per dense/conv2d layer, got {type(value).__name__}")
        if len(value) != len(layers):
            raise ValueError(
                f"value must hold one {kind} per dense/conv2d layer: {len(value)} given for {len(layers)} layers"
            )
        out = []
        for i, (v, layer) in enumerate(zip(value, layers, strict=True)):
            expected = getattr(layer, f"{kind}_shape")
            if _is_real(v):
                v = np.full(expected, v)
            if not isinstance(v, np.ndarray | jax.Array):
                raise TypeError(f"value[{i}] must be a number or an array of shape {expected}, got {type(v).__name__}")
            if np.asarray(v).dtype.kind not in "iuf":
                raise TypeError(f"value[{i}] must hold numbers, got an array of dtype {np.asarray(v).dtype}")
            if tuple(v.shape) != expected:
                raise ValueError(f"value[{i}] must have shape {expected} ({kind} of layer {i + 1}), got {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ValueError(f"value[{i}] ({kind} of layer {i + 1}) holds NaN or inf")
            out.append(np.array(v))
        return out

    def _set(self, kind: str, value: Any, random_state: Any) -> None:
        if not self.layers:
            raise ValueError("the network has no layers yet")
        random_state = check_random_state(random_state)
        layers = self._weighted()
        if value is None:
            rng = random_generator(random_state)
            for layer in layers:
                layer._draw(kind, rng)
        else:
            for layer, v in zip(layers, self._values(value, kind), strict=True):
                setattr(layer, kind, v)

    def set_weight(self, value: list[Any] | None = None, random_state: int | None = None) -> None:
        """Set the weights of the dense/conv2d layers: from ``value`` (one number or array of the
        layer's ``weight_shape`` per layer), or drawn by each layer's kernel initializer, seeded by
        ``random_state``."""
        self._set("weight", value, random_state)

    def set_bias(self, value: list[Any] | None = None, random_state: int | None = None) -> None:
        """Set the biases (shape ``(1, n)``) of the dense/conv2d layers, like ``set_weight``."""
        self._set("bias", value, random_state)

    def get_weight(self) -> list[np.ndarray | None]:
        """The weights of the dense/conv2d layers (``None`` where not set yet)."""
        return [layer.weight for layer in self._weighted()]

    def get_bias(self) -> list[np.ndarray | None]:
        """The biases of the dense/conv2d layers, each ``(1, n)`` (``None`` where not set yet)."""
        return [layer.bias for layer in self._weighted()]

    def initialize(self, random_state: int | None = None) -> None:
        """Draw every weight and bias not set yet, as smash does before training: layer after
        layer, the weight then the bias, from one stream seeded by ``random_state``."""
        rng = random_generator(check_random_state(random_state))
        for layer in self._weighted():
            if layer.weight is None:
                layer._draw("weight", rng)
            if layer.bias is None:
                layer._draw("bias", rng)

    def _compile(
        self, optimizer: str = "adam", learning_param: dict[str, Any] | None = None, random_state: int | None = None
    ) -> None:
        """smash's step before training, for programs that call it: checks the adaptive
        ``optimizer``'s name and ``learning_param`` (``{"learning_rate": ...}``), then draws every
        weight and bias not set yet, as :meth:`initialize` (the same numbers as smash)."""
        name = choice(optimizer, [n for n, row in OPTIMIZERS.items() if row.is_adaptive], "optimizer")
        params = {} if learning_param is None else learning_param
        if not isinstance(params, dict):
            raise TypeError(f"learning_param must be a dict, got {type(params).__name__}")
        for key, value in params.items():
            if key != "learning_rate":
                raise ValueError(
                    f"Unknown learning_param key '{key}' for optimizer '{name}'. Choices: ['learning_rate']"
                )
            if not _is_real(value) or not (math.isfinite(value) and value > 0):
                raise ValueError(f"learning_param 'learning_rate' must be a positive, finite number, got {value!r}")
        self.initialize(random_state)

    def set_trainable(self, trainable: list[bool]) -> None:
        """Set each layer's trainable flag (one bool per layer, as listed in the summary); the
        weights of a frozen layer are left out of ``params()`` and so of training."""
        if not isinstance(trainable, list | tuple):
            raise TypeError(f"trainable must be a list of bools, one per layer, got {type(trainable).__name__}")
        if len(trainable) != len(self.layers):
            raise ValueError(
                f"trainable must hold one bool per layer: {len(trainable)} given for {len(self.layers)} layers"
            )
        flags = []
        for i, t in enumerate(trainable):
            if not (isinstance(t, bool | np.bool_) or (isinstance(t, numbers.Integral) and t in (0, 1))):
                raise TypeError(f"trainable[{i}] must be a bool (or 0/1), got {t!r}")
            flags.append(bool(t))
        for layer, flag in zip(self.layers, flags, strict=True):
            layer.trainable = flag

    def copy(self) -> Net:
        """An independent deep copy."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ functional view

    def spec(self) -> core.Spec:
        """The hashable description of the network for :func:`hydrograd.core.net.forward`."""
        return tuple(layer.spec() for layer in self.layers)

    def params(self, which: str = "trainable", dtype: Any = None) -> core.Params:
        """The params tuple for :func:`hydrograd.core.net.forward`, aligned with ``layers``.

        Entry ``i`` is ``{"weight": (n_out, n_in), "bias": (n_out,)}`` (JAX arrays, ``dtype`` or
        JAX's default float) for a dense/conv2d layer selected by ``which`` -- ``"trainable"``,
        ``"frozen"`` or ``"all"`` -- and ``None`` otherwise. Merge two selections with
        :func:`hydrograd.core.net.combine`.
        """
        which = choice(which, ("trainable", "frozen", "all"), "which")
        dtype = dtype if dtype is not None else jnp.zeros(()).dtype
        out: list[dict[str, jax.Array] | None] = []
        for i, layer in enumerate(self.layers):
            keep = isinstance(layer, _WeightedLayer) and (which == "all" or layer.trainable == (which == "trainable"))
            if not keep:
                out.append(None)
                continue
            if layer.weight is None or layer.bias is None:
                raise ValueError(
                    f"layer {i + 1} ({layer.layer_name()}) has no weight or bias yet: "
                    "call set_weight/set_bias or initialize(random_state) first"
                )
            out.append(
                {
                    "weight": to_device(layer.weight, dtype),
                    "bias": to_device(np.reshape(layer.bias, -1), dtype),
                }
            )
        return tuple(out)

    def set_params(self, params: core.Params) -> None:
        """Store values from a params tuple (as returned by ``params``) back into the layers, as
        float64 numpy arrays; ``None`` entries are left unchanged."""
        if not isinstance(params, list | tuple):
            raise TypeError(f"params must be a tuple with one entry per layer, got {type(params).__name__}")
        if len(params) != len(self.layers):
            raise ValueError(f"params must have one entry per layer: {len(params)} given for {len(self.layers)}")
        updates = []
        for i, (layer, p) in enumerate(zip(self.layers, params, strict=True)):
            if p is None:
                continue
            if not isinstance(layer, _WeightedLayer):
                raise ValueError(f"params[{i}] must be None: layer {i + 1} ({layer.layer_name()}) has no weights")
            if not (isinstance(p, dict) and {"weight", "bias"} <= set(p)):
                raise TypeError(f"params[{i}] must be None or a dict with 'weight' and 'bias', got {p!r:.80}")
            weight = np.asarray(p["weight"], dtype=np.float64)
            bias = np.asarray(p["bias"], dtype=np.float64)
            if weight.shape != layer.weight_shape or bias.size != layer.bias_shape[1]:
                raise ValueError(
                    f"params[{i}] must hold weight {layer.weight_shape} and bias ({layer.bias_shape[1]},), "
                    f"got {weight.shape} and {bias.shape}"
                )
            updates.append((layer, weight, bias.reshape(layer.bias_shape)))
        for layer, weight, bias in updates:
            layer.weight, layer.bias = weight, bias

    def forward_pass(self, x: np.ndarray) -> np.ndarray:
        """The network's output for ``x`` (float64, dropout inactive: the same output for the same
        input; smash 1.3.0 also drops outputs at random here, which makes its inference random).

        ``x`` has the first layer's ``input_shape``; a network starting with a dense layer also
        takes leading batch axes. As in smash, a 1-D input to a dense network gives a ``(1, n)``
        output.
        """
        if not self.layers:
            raise ValueError("the network has no layers yet")
        if any(layer.weight is None for layer in self._weighted()):
            raise ValueError("the network's weights are not set yet: call set_weight or initialize first")
        if any(layer.bias is None for layer in self._weighted()):
            raise ValueError("the network's biases are not set yet: call set_bias or initialize first")
        if not isinstance(x, np.ndarray | jax.Array):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if np.asarray(x).dtype.kind not in "iuf":
            raise TypeError(f"x must hold numbers, got an array of dtype {np.asarray(x).dtype}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x holds NaN or inf")
        first = self.layers[0]
        expected = first.input_shape
        batched = isinstance(first, Dense) and x.shape[-len(expected) :] == expected
        if tuple(x.shape) != expected and not batched:
            raise ValueError(f"x must have shape {expected} (the first layer's input_shape), got {x.shape}")
        if isinstance(first, Dense) and x.ndim == 1:
            x = x[None]
        with jax.enable_x64(True):
            y = core.forward_jit(self.spec(), self.params("all", jnp.float64), to_device(x, np.float64))
            return np.asarray(y)


# ----------------------------------------------------------------- helpers for training


def default_net(nd: int, n_out: int, bounds: Sequence[tuple[float, float]], grid_shape: tuple[int, int]) -> Net:
    """smash's default regionalization network for ``nd`` descriptors, ``n_out`` outputs scaled to
    ``bounds`` on a mesh of ``grid_shape = (nrow, ncol)`` cells: three ReLU dense layers of
    ``3 nd``, ``round(sqrt(nd n_out) ln(nrow ncol))`` and ``3 n_out`` neurons, a tanh output layer
    and a min-max scaling layer."""
    nd = _positive_int(nd, "nd")
    n_out = _positive_int(n_out, "n_out")
    nrow, ncol = _shape(grid_shape, "grid_shape", 2)
    if len(bounds) != n_out:
        raise ValueError(f"bounds must hold n_out = {n_out} (low, high) pairs, got {len(bounds)}")
    net = Net()
    net.add_dense(3 * nd, input_shape=nd, activation="relu")
    net.add_dense(round(math.sqrt(nd * n_out) * math.log(nrow * ncol)), activation="relu")
    net.add_dense(3 * n_out, activation="relu")
    net.add_dense(n_out, activation="tanh")
    net.add_scale(list(bounds))
    return net


def net_to_vector(net: Net) -> np.ndarray:
    """The trainable weights and biases as one float64 vector, in smash's control-vector order:
    layer after layer, the weight in column-major order, then the bias."""
    parts = [
        np.concatenate([np.asarray(layer.weight).ravel(order="F"), np.asarray(layer.bias).ravel()])
        for layer in net._weighted()
        if layer.trainable
    ]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def net_from_vector(net: Net, vector: np.ndarray) -> None:
    """Inverse of :func:`net_to_vector`: set the trainable weights and biases from ``vector``."""
    layers = [layer for layer in net._weighted() if layer.trainable]
    sizes = [math.prod(layer.weight_shape) + layer.bias_shape[1] for layer in layers]
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (sum(sizes),):
        raise ValueError(f"vector must have shape ({sum(sizes)},) (trainable weights and biases), got {vector.shape}")
    start = 0
    for layer, size in zip(layers, sizes, strict=True):
        n_w = math.prod(layer.weight_shape)
        layer.weight = vector[start : start + n_w].reshape(layer.weight_shape, order="F")
        layer.bias = vector[start + n_w : start + size].reshape(layer.bias_shape)
        start += size


def net_control_names(net: Net) -> list[str]:
    """smash's names of the :func:`net_to_vector` entries: ``reg_weight_{layer}-{row}-{col}`` and
    ``reg_bias_{layer}-{col}``, 1-based, the layer counted in ``net.layers``."""
    names: list[str] = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, _WeightedLayer) and layer.trainable:
            n_out, n_in = layer.weight_shape
            names += [f"reg_weight_{i + 1}-{r + 1}-{c + 1}" for c in range(n_in) for r in range(n_out)]
            names += [f"reg_bias_{i + 1}-{c + 1}" for c in range(n_out)]
    return names
