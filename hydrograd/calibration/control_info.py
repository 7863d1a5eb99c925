"""The control vector of a calibration, without running it (smash's ``optimize_control_info``
and ``Model.set_control_optimize``).

:func:`mapped_control` builds the control a mapped calibration moves (the one
:class:`~hydrograd.calibration.problems.MappedProblem` searches); :func:`control_info` describes it
as smash does, and :func:`control_values` reads a transformed control vector back into parameter
and initial-state values and hybrid network entries.

smash's description has six blocks (``nbk``): rainfall-runoff parameters, initial states, the two
structural-error blocks (Bayesian calibration: each calibrated parameter at each gauge of the
cost, ``sg0-<code>``), the hybrid network's entries, then the regionalization
network's weights (``mapping="ann"`` only, which has no mapped parameter block: the hybrid entries
it trains, then ``reg_weight_<layer>-<row>-<col>`` and ``reg_bias_<layer>-<k>``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd.calibration.control import Control, add_network, add_serr, build_control, untransform
from hydrograd.calibration.data import CalibrationData
from hydrograd.config.calibration import CalibrationRequest
from hydrograd.config.optimize_options import OptimizeSpec
from hydrograd.core.mapping import Mapping, apply_mapping
from hydrograd.nn import Net, default_net
from hydrograd.nn.net import net_to_vector


def serr_gauges(request: CalibrationRequest) -> tuple[int, ...]:
    """The gauges whose structural-error parameters the calibration moves: those of a Bayesian
    cost, in the mesh's order (none otherwise)."""
    return request.cost.gauges if request.bayesian is not None else ()


def serr_layout(options: OptimizeSpec, gauges: tuple[int, ...]) -> list[tuple[int, str, int]]:
    """The structural-error entries of a control, in smash's order: ``(block, parameter, gauge)``
    with ``block`` 0 for the mean's parameters, 1 for the deviation's."""
    return [
        (block, key, g)
        for block, keys in enumerate((options.serr_mu, options.serr_sigma))
        for key in keys
        for g in gauges
    ]


def mapped_control(data: CalibrationData, options: OptimizeSpec, gauges: tuple[int, ...] = ()) -> Control:
    """The control vector of a mapped calibration (not ``"ann"``) at the model's current values:
    the mapped coefficients, the selected structural-error parameters at ``gauges``, then the
    selected hybrid network entries."""
    names = options.names
    layout, core = data.layout, data.inputs
    mapping = Mapping(
        kind=options.mapping,
        names=names,
        bounds=tuple(options.bounds[k] for k in names),
        descriptors=tuple(options.descriptor.get(k, ()) for k in names),
        nac=layout.nac,
    )
    current = {**core.params, **core.initial_states}
    column_major = layout.column_major
    control = build_control(
        mapping,
        {k: np.asarray(current[k])[column_major] for k in names},
        layout.rows[column_major],
        layout.cols[column_major],
        list(data.descriptor_names),
        options.control_tfm,
    )
    current = (data.serr_mu, data.serr_sigma)
    serr = [
        (f"{key}-{data.gauge_codes[g]}", float(current[block][key][g]), options.bounds[key])
        for block, key, g in serr_layout(options, gauges)
    ]
    if serr:
        control = add_serr(control, serr, options.control_tfm)
    if options.nn_parameters:
        control = add_network(control, [(k, data.network[k]) for k in options.nn_parameters])
    return control


def _hybrid_options(options: OptimizeSpec) -> OptimizeSpec:
    """``mapping="ann"``'s part of the control outside the regionalization network: a uniform
    mapping of nothing but the selected hybrid network entries, untransformed."""
    return dataclasses.replace(options, mapping="uniform", rr_parameters=(), rr_states=(), control_tfm="keep")


def _regionalization_net(data: CalibrationData, options: OptimizeSpec) -> Net:
    """The network ``mapping="ann"`` would train, its unset weights drawn from ``random_state``."""
    names = options.names
    net = options.net
    if net is None:
        net = default_net(len(data.descriptor_names), len(names), [options.bounds[k] for k in names], data.layout.shape)
    net = net.copy()
    net.initialize(options.random_state)
    return net


def _net_names(net: Net) -> list[str]:
    names = []
    for i, layer in enumerate(net.layers, start=1):
        if not getattr(layer, "trainable", False) or not hasattr(layer, "weight_shape"):
            continue
        rows, cols = layer.weight_shape
        names += [f"reg_weight_{i}-{r + 1}-{c + 1}" for c in range(cols) for r in range(rows)]
        names += [f"reg_bias_{i}-{k + 1}" for k in range(rows)]
    return names


def control_info(data: CalibrationData, request: CalibrationRequest) -> dict[str, Any]:
    """smash's description of the control vector ``optimize`` would move for ``request``."""
    options = request.options
    ann = options.mapping == "ann"
    gauges = serr_gauges(request)
    control = mapped_control(data, _hybrid_options(options) if ann else options, gauges)
    n_rr = control.mapping.size
    rr_sizes = [control.mapping.block_size(i) for i in range(len(control.mapping.names))]
    n_params = sum(rr_sizes[: len(options.rr_parameters)])
    n_mu, n_sigma = len(options.serr_mu) * len(gauges), len(options.serr_sigma) * len(gauges)
    lower = np.where(control.nbd == 2, control.lower, -np.inf).astype(np.float32)
    upper = np.where(control.nbd == 2, control.upper, np.inf).astype(np.float32)
    info: dict[str, Any] = {
        "n": int(control.size),
        "nbk": np.array(
            [n_params, n_rr - n_params, n_mu, n_sigma, control.size - n_rr - n_mu - n_sigma], dtype=np.int64
        ),
        "x": control.transform(control.x0),
        "l": np.where(control.nbd == 2, control.lower_t, -np.inf).astype(np.float32),
        "u": np.where(control.nbd == 2, control.upper_t, np.inf).astype(np.float32),
        "x_raw": np.asarray(control.x0, dtype=np.float32),
        "l_raw": lower,
        "u_raw": upper,
        "nbd": np.asarray(control.nbd, dtype=np.int32),
        "name": np.asarray(control.names, dtype="<U128"),
    }
    if not ann:
        info["nbk"] = np.append(info["nbk"], 0)
        return info
    net = _regionalization_net(data, options)
    x_net = net_to_vector(net)
    size = x_net.size
    info["n"] = info["n"] + np.int64(size)
    info["nbk"] = np.append(info["nbk"], size)
    info["name"] = np.append(info["name"], _net_names(net))
    info["nbd"] = np.append(info["nbd"], np.zeros(size))
    for key, fill in (("l", -np.inf), ("u", np.inf), ("l_raw", -np.inf), ("u_raw", np.inf)):
        info[key] = np.append(info[key], np.full(size, fill))
    info["x"] = np.append(info["x"], x_net)
    info["x_raw"] = np.append(info["x_raw"], x_net)
    return info


@dataclass(frozen=True)
class ControlValues:
    """What a control vector sets: ``active`` values (name -> float32 ``(nac,)`` in the flow
    graph's order), ``grid`` maps (name -> float32 ``(nrow, ncol)``, every cell: descriptor
    mappings), hybrid ``network`` entries (float32, smash's layout) and structural-error
    parameters ``serr`` (name -> float32 ``(ng,)``, every gauge: those outside the control keep
    their value)."""

    active: dict[str, np.ndarray]
    grid: dict[str, np.ndarray]
    network: dict[str, np.ndarray]
    serr: dict[str, np.ndarray]


def control_size(data: CalibrationData, request: CalibrationRequest) -> int:
    """Length of the control vector of ``request`` (the regionalization network's weights included)."""
    options = request.options
    if options.mapping != "ann":
        return mapped_control(data, options, serr_gauges(request)).size
    net = _regionalization_net(data, options)
    return mapped_control(data, _hybrid_options(options)).size + net_to_vector(net).size


def control_values(data: CalibrationData, request: CalibrationRequest, x_t: np.ndarray) -> ControlValues:
    """The values the transformed control ``x_t`` (checked to be of the control's length) gives.
    With ``mapping="ann"`` only the hybrid network entries are set: the regionalization network's
    weights set nothing of the model (smash sets them on a copy of the given network)."""
    options = request.options
    ann = options.mapping == "ann"
    gauges = serr_gauges(request)
    control = mapped_control(data, _hybrid_options(options) if ann else options, gauges)
    expected = control_size(data, request) if ann else control.size
    x_t = np.asarray(x_t)
    if x_t.ndim != 1 or x_t.size != expected:
        raise ValueError(
            f"control_vector must be a 1D array of size {expected} (the control vector of this mapping, "
            f"optimizer and optimize_options), got shape {x_t.shape}"
        )
    x_t = np.asarray(x_t[: control.size], dtype=np.float32)
    with jax.default_device(jax.devices("cpu")[0]):
        raw = np.asarray(
            untransform(
                jnp.asarray(x_t), jnp.asarray(control.kinds), jnp.asarray(control.lower), jnp.asarray(control.upper)
            ),
            dtype=np.float32,
        )
        mapping = control.mapping
        layout = data.layout
        active: dict[str, np.ndarray] = {}
        grid: dict[str, np.ndarray] = {}
        if mapping.kind in ("multi-linear", "multi-power") and mapping.names:
            nrow, ncol, nd = data.descriptors.shape
            descriptors = jnp.asarray(np.asarray(data.descriptors, np.float32).reshape(nrow * ncol, nd))
            mapped = apply_mapping(jnp.asarray(raw[: mapping.size]), mapping._replace(nac=nrow * ncol), descriptors)
            grid = {k: np.asarray(v, dtype=np.float32).reshape(nrow, ncol) for k, v in mapped.items()}
        elif mapping.names:
            mapped = apply_mapping(jnp.asarray(raw[: mapping.size]), mapping, None)
            for name, values in mapped.items():
                values = np.asarray(values, dtype=np.float32)
                if mapping.kind == "distributed":  # column-major in the control
                    values = values[layout.order]
                active[name] = values
    current = (data.serr_mu, data.serr_sigma)
    serr: dict[str, np.ndarray] = {}
    start = mapping.size
    for block, key, g in serr_layout(options, gauges):
        serr.setdefault(key, np.array(current[block][key], dtype=np.float32))[g] = raw[start]
        start += 1
    network = {}
    for key in options.nn_parameters:
        shape = data.network[key].shape
        size = int(np.prod(shape))
        network[key] = x_t[start : start + size].astype(np.float32).reshape(shape, order="F")
        start += size
    return ControlValues(active, grid, network, serr)
