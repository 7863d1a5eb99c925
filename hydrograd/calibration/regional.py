"""Joint regionalization over many catchments: one descriptors-to-parameters network (a
multilayer perceptron applied cell by cell) trained through every training catchment's model at
once, and judged on held-out catchments it never saw (ungauged-basin validation).

The objective is the mean of the training catchments' costs; each cost is the one a lone
``optimize(mapping="ann")`` of that catchment would compute. The catchments are padded to one
shape and run under ``jax.vmap`` (``hydrograd.simulation.batch``), so one evaluation is one
program whatever their number. The descriptors must share one normalization across catchments
(the caller's ``CalibrationData.descriptors``): the network then reads the same value as the same
landscape everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hydrograd._arrays import host_ravel, to_device
from hydrograd.calibration.ann import check_net
from hydrograd.calibration.batch import gauge_order
from hydrograd.calibration.data import CalibrationData
from hydrograd.calibration.objective import as_float64, gauge_discharge
from hydrograd.calibration.problems import _cost_data
from hydrograd.config.calibration import CalibrationRequest
from hydrograd.core import net as core_net
from hydrograd.core.cost import ObservationCost, observation_cost
from hydrograd.core.metrics import METRICS
from hydrograd.nn import Dense, Net
from hydrograd.nn.net import default_net
from hydrograd.optimizers import OPTIMIZERS, Functions, OptimizerResult, Report, Settings
from hydrograd.simulation.batch import (
    batch_shape,
    batch_sharding,
    gauge_rows,
    pad_cells,
    pad_core_inputs,
    stack,
    to_batch_device,
)


@dataclass(frozen=True)
class RegionalResult:
    """A joint training's outcome: the trained ``net``; each catchment's calibrated parameter
    ``values`` (name -> float32 ``(nac,)`` in the flow graph's order); the ``nse`` of each
    catchment's first cost gauge with those values (training and held-out alike); the optimizer's
    result."""

    net: Net
    values: list[dict[str, np.ndarray]]
    nse: np.ndarray
    optimizer: OptimizerResult


def _cost_spec(request: CalibrationRequest) -> ObservationCost:
    """The cost with its gauges in the first rows, as the batch orders them."""
    return request.cost._replace(gauges=tuple(range(len(request.cost.gauges))))


def _padded(data: Sequence[CalibrationData], requests: Sequence[CalibrationRequest]) -> dict[str, Any]:
    """Every catchment's inputs, observations and active-cell descriptors in one padded batch."""
    inputs = [d.inputs for d in data]
    shape = batch_shape(inputs)
    members = []
    for one, request in zip(data, requests, strict=True):
        order = gauge_order(request.cost.gauges, len(one.gauge_codes))
        rows = gauge_rows(order, shape.ng)
        cost = _cost_data(one, request)
        members.append(
            {
                "inputs": pad_core_inputs(one.inputs, shape, order),
                "x": pad_cells(one.layout.to_active(one.descriptors), shape.nac, axis=0),
                "q_obs": np.asarray(one.q_obs)[rows],
                "cost_data": None if cost is None else jax.tree_util.tree_map(lambda a, r=rows: np.asarray(a)[r], cost),
            }
        )
    return stack(members)


def _net_run(weights, spec, names, n_params, structure, dt, member) -> tuple[jax.Array, jax.Array]:
    """One catchment's network output ``(nac, n_names)`` and discharge at its gauges
    ``(ng, ntime_step)`` m3/s for the network's ``weights``."""
    inputs = member["inputs"]
    y = core_net.forward(spec, weights, member["x"])
    params, states = dict(inputs.params), dict(inputs.initial_states)
    for i, name in enumerate(names):
        target = params if i < n_params else states
        target[name] = y[:, i].astype(target[name].dtype)
    return y, gauge_discharge(structure, dt, inputs, params, states, None)


def _catchment_cost(weights, spec, names, n_params, structure, dt, cost, member) -> jax.Array:
    """One catchment's cost for the network's ``weights`` (float64)."""
    _, q = _net_run(weights, spec, names, n_params, structure, dt, member)
    q, q_obs, extra = as_float64((q, member["q_obs"], member["cost_data"]))
    return observation_cost(q, q_obs, cost, extra)


@partial(jax.jit, static_argnames=("spec", "names", "n_params", "structure", "dt", "cost"))
def _mean_cost_and_grad(flat, template, frozen, weight, batch, spec, names, n_params, structure, dt, cost):
    """The weighted mean cost over the batch (``weight`` 0 for catchments left out) and its
    gradient with respect to the flat trainable weights."""
    _, unravel = ravel_pytree(template)

    def mean_cost(flat):
        weights = core_net.combine(unravel(flat), frozen)
        one = partial(_catchment_cost, weights, spec, names, n_params, structure, dt, cost)
        costs = jax.vmap(one)(batch)
        return jnp.sum(weight * costs) / jnp.sum(weight)

    return jax.value_and_grad(mean_cost)(flat)


@partial(jax.jit, static_argnames=("spec", "names", "n_params", "structure", "dt", "cost"))
def _maps_and_nse(weights, batch, spec, names, n_params, structure, dt, cost):
    """Every catchment's parameter values and the NSE of its first cost gauge."""

    def one(member):
        y, q = _net_run(weights, spec, names, n_params, structure, dt, member)
        nse = METRICS["nse"](member["q_obs"][0, cost.start :], q[0, cost.start :])
        return y.astype(jnp.float32), nse

    return jax.vmap(one)(batch)


def check_regional(
    data: Sequence[CalibrationData], requests: Sequence[CalibrationRequest], train: Sequence[int]
) -> Net:
    """The network to train (the request's, or smash's default for the first catchment's grid),
    after checking what a joint training needs; ValueError or TypeError otherwise."""
    request = requests[0]
    options = request.options
    if options.mapping != "ann":
        raise ValueError(f"a joint regionalization trains mapping 'ann', got {options.mapping!r}")
    if request.bayesian is not None or options.nn_parameters:
        raise ValueError("a joint regionalization trains a conceptual structure's parameters only")
    if not train:
        raise ValueError("a joint regionalization needs at least one training catchment")
    names = {d.descriptor_names for d in data}
    if len(names) > 1:
        raise ValueError(f"the catchments' descriptors differ: {sorted(names)}; the network needs the same ones")
    first = data[0]
    net = options.net
    if net is None:
        bounds = [options.bounds[k] for k in options.names]
        net = default_net(len(first.descriptor_names), len(options.names), bounds, first.layout.shape)
    check_net(net, len(first.descriptor_names), first.layout.shape, options.names, options.bounds)
    if not isinstance(net.layers[0], Dense):
        raise ValueError("a joint regionalization trains a network of dense layers (one cell at a time), not a CNN")
    return net


def train_regional(
    data: Sequence[CalibrationData],
    requests: Sequence[CalibrationRequest],
    train: Sequence[int],
    report: Report,
    n_devices: int | None = None,
) -> RegionalResult:
    """Train one regionalization network on the catchments ``train`` (indices into ``data``) with
    the optimizer and options of ``requests[0]`` (each catchment's request gives its cost), then
    map every catchment's parameters with it and compute their NSE."""
    net = check_regional(data, requests, train).copy()
    request = requests[0]
    options = request.options
    net.initialize(options.random_state)
    spec = net.spec()
    static = {
        "spec": spec,
        "names": options.names,
        "n_params": len(options.rr_parameters),
        "structure": data[0].inputs.structure,
        "dt": data[0].inputs.dt,
        "cost": _cost_spec(request),
    }
    n = len(data)
    sharding = batch_sharding(n_devices)
    size = -(-n // sharding.mesh.size) * sharding.mesh.size
    members = list(range(n)) + [n - 1] * (size - n)
    host = _padded([data[k] for k in members], [requests[k] for k in members])
    weight = np.zeros(size)
    weight[list(train)] = 1.0
    with jax.enable_x64(True):
        batch = to_batch_device(host, sharding)
        batch["x"] = jax.device_put(np.asarray(host["x"], np.float64), sharding)
        template = net.params("trainable", jnp.float64)
        frozen = net.params("frozen", jnp.float64)
        x0, unravel = host_ravel(template)
        weight = jax.device_put(weight, sharding)

        def value_and_grad(flat: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = _mean_cost_and_grad(to_device(flat, np.float64), template, frozen, weight, batch, **static)
            return float(value), np.asarray(grad, np.float64)

        minimize = OPTIMIZERS[options.optimizer].minimize
        unbounded = np.full(x0.shape, np.inf)
        settings = Settings(options.termination_crit, options.learning_rate)
        result = minimize(Functions(value_and_grad=value_and_grad), x0, -unbounded, unbounded, settings, report, None)
        net.set_params(unravel(result.x))
        weights = core_net.combine(net.params("trainable", jnp.float64), frozen)
        maps, nse = _maps_and_nse(weights, batch, **static)
        maps, nse = np.asarray(maps), np.asarray(nse)
    net.history["loss_train"] = list(result.iter_cost[1:])
    values = [{name: maps[k, : data[k].inputs.graph.nac, i] for i, name in enumerate(options.names)} for k in range(n)]
    return RegionalResult(net, values, nse[:n], result)
