"""``Net`` files: ``save_net`` and ``read_net`` (HDF5; smash 1.3.0 has no such file).

Layout: group ``net`` with the attribute ``n_layers``, a group ``history`` (datasets
``loss_train`` and ``proj_grad``, float64) and one group per layer, ``layer_0``, ``layer_1``, ...
in order, each with the attributes ``kind`` (``dense``, ``conv2d``, ``activation``, ``scale``,
``flatten``, ``dropout``) and ``trainable`` (0/1), the dataset ``input_shape``, and its own
settings:

- ``dense``: ``neurons``, ``kernel_initializer``, ``bias_initializer``;
- ``conv2d``: ``filters``, ``filter_shape`` (dataset), ``kernel_initializer``, ``bias_initializer``;
- ``activation``: ``name``; ``scale``: ``bounds`` ``(n, 2)`` (dataset); ``dropout``: ``drop_rate``;
- ``weight`` ``(n_out, n_in)`` and ``bias`` ``(1, n_out)`` datasets for a dense or conv2d layer
  whose values are set (absent otherwise), float64 as the ``Net`` holds them.

File attributes: ``_save_func = "save_net"`` and ``format_version``. ``read_net`` rebuilds the
network through the ``Net`` builder (so a damaged file fails with the builder's messages), then
restores weights, biases, trainable flags and history bit for bit.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from hydrograd.formats._atomic import as_path, atomic_path
from hydrograd.formats._hdf5 import (
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    open_saved,
    read_dict,
    write_dict,
)
from hydrograd.nn.net import Activation, Conv2D, Dense, Dropout, Flatten, Net, Scale

__all__ = ["read_net", "save_net"]

_MARK = "save_net"
_KINDS = {Dense: "dense", Conv2D: "conv2d", Activation: "activation", Scale: "scale", Flatten: "flatten"}


def _layer_record(layer: Any) -> dict[str, Any]:
    kind = "dropout" if isinstance(layer, Dropout) else _KINDS[type(layer)]
    record: dict[str, Any] = {
        "kind": kind,
        "trainable": int(layer.trainable),
        "input_shape": np.asarray(layer.input_shape, dtype=np.int64),
    }
    if kind in ("dense", "conv2d"):
        record["kernel_initializer"] = layer.kernel_initializer
        record["bias_initializer"] = layer.bias_initializer
        if kind == "dense":
            record["neurons"] = int(layer.neurons)
        else:
            record["filters"] = int(layer.filters)
            record["filter_shape"] = np.asarray(layer.filter_shape, dtype=np.int64)
        for key in ("weight", "bias"):
            if getattr(layer, key) is not None:
                record[key] = np.asarray(getattr(layer, key))
    elif kind == "activation":
        record["name"] = layer.name
    elif kind == "scale":
        record["bounds"] = np.asarray(layer.bounds, dtype=np.float64)
    elif kind == "dropout":
        record["drop_rate"] = float(layer.drop_rate)
    return record


def save_net(net: Net, path: str | os.PathLike) -> None:
    """Write ``net`` (layers, weights, biases, trainable flags, training history) to the HDF5 file
    ``path`` (``.hdf5`` is appended if missing); see the module docstring. The write is atomic:
    an interrupted save leaves any previous file untouched."""
    if not isinstance(net, Net):
        raise TypeError(f"net must be a hydrograd.factory.Net, got {type(net).__name__}")
    path = as_path(path)
    if not path.endswith(".hdf5"):
        path += ".hdf5"
    history = {k: np.asarray(v, dtype=np.float64) for k, v in net.history.items()}
    with atomic_path(path) as tmp, h5py.File(tmp, "x") as h5:
        group = h5.create_group("net")
        group.attrs["n_layers"] = len(net.layers)
        write_dict(group.create_group("history"), history, "net history")
        for i, layer in enumerate(net.layers):
            write_dict(group.create_group(f"layer_{i}"), _layer_record(layer), f"layer {i}")
        h5.attrs["_save_func"] = _MARK
        h5.attrs[FORMAT_VERSION_KEY] = FORMAT_VERSION


def _text(record: dict[str, Any], key: str, where: str) -> str:
    if key not in record:
        raise ValueError(f"{where} lacks '{key}'")
    return str(record[key])


def _number(record: dict[str, Any], key: str, where: str) -> Any:
    if key not in record:
        raise ValueError(f"{where} lacks '{key}'")
    return np.asarray(record[key]).item()


def _add_layer(net: Net, record: dict[str, Any], where: str) -> None:
    """Append the layer ``record`` describes, through the builder."""
    kind = _text(record, "kind", where)
    shape = tuple(int(n) for n in np.ravel(record.get("input_shape", ())))
    first = None if net.layers else shape
    if kind == "dense":
        net.add_dense(
            _number(record, "neurons", where),
            input_shape=first,
            kernel_initializer=_text(record, "kernel_initializer", where),
            bias_initializer=_text(record, "bias_initializer", where),
        )
    elif kind == "conv2d":
        net.add_conv2d(
            _number(record, "filters", where),
            [int(n) for n in np.ravel(record.get("filter_shape", ()))],
            input_shape=first,
            kernel_initializer=_text(record, "kernel_initializer", where),
            bias_initializer=_text(record, "bias_initializer", where),
        )
    elif kind == "activation":
        net.add_activation(_text(record, "name", where))
    elif kind == "scale":
        net.add_scale(np.asarray(record.get("bounds", np.zeros((0, 2))), dtype=np.float64))
    elif kind == "flatten":
        net.add_flatten()
    elif kind == "dropout":
        net.add_dropout(_number(record, "drop_rate", where))
    else:
        raise ValueError(f"{where} has an unknown kind '{kind}'")
    layer = net.layers[-1]
    if tuple(layer.input_shape) != shape:
        raise ValueError(f"{where} takes input_shape {shape}, but the layers before it give {tuple(layer.input_shape)}")
    layer.trainable = bool(_number(record, "trainable", where))
    for key in ("weight", "bias"):
        if key in record:
            value = np.asarray(record[key])
            expected = getattr(layer, f"{key}_shape")
            if value.shape != expected or value.dtype.kind != "f":
                raise ValueError(f"{where} holds a {key} of shape {value.shape} ({value.dtype}), expected {expected}")
            setattr(layer, key, value)


def read_net(path: str | os.PathLike) -> Net:
    """Read a network written by ``save_net``.

    FileNotFoundError if there is no such file; ValueError if it is not a network file, is
    damaged or inconsistent (the message names the layer), or was written with a newer
    ``format_version``.
    """
    path = as_path(path)
    with open_saved(path, "network", _MARK, "net") as group:
        content = read_dict(group)
    n_layers = int(np.asarray(content.get("n_layers", -1)))
    records = [content.get(f"layer_{i}") for i in range(max(n_layers, 0))]
    if n_layers < 0 or any(not isinstance(r, dict) for r in records):
        raise ValueError(f"'{path}': the network file is incomplete (layers missing)")
    net = Net()
    for i, record in enumerate(records):
        try:
            _add_layer(net, record, f"'{path}': layer {i}")
        except TypeError as error:
            raise ValueError(f"'{path}': layer {i} cannot be rebuilt: {error}") from None
    history = {k: [float(v) for v in np.ravel(values)] for k, values in content.get("history", {}).items()}
    net.history = {"loss_train": [], "proj_grad": [], **history}
    return net
