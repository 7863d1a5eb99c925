"""Learnable regionalization (``mapping="ann"``): a network maps descriptors to parameter maps
and is trained through the hydrological model.

The objective is one pure function of the network's trainable weights: descriptors -> network
-> parameter and initial-state values on the active cells -> simulation -> cost. The network
and its training run in double precision (as smash trains it, in numpy float64); the model runs
in the dtype of its inputs.

With a hybrid structure (``gr4_mlp``, ...) the flux-correction network runs inside the
simulation; the weights and biases that ``optimize_options["parameters"]`` names (all of them by
default, as in smash) are trained jointly with the regionalization network by the same
optimizer, the others are held fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hydrograd._exported import ExportedJit
from hydrograd.calibration.objective import as_float64, gauge_discharge
from hydrograd.core import net as core_net
from hydrograd.core.cost import CostData, ObservationCost, observation_cost
from hydrograd.core.graph import FlowGraph
from hydrograd.core.registry import Structure
from hydrograd.core.simulate import Forcing, WavefrontForcing
from hydrograd.core.structures.hybrid import flux_correction_from_layers
from hydrograd.nn import Conv2D, Dense, Net, Scale


class NetObjective(NamedTuple):
    """Static part: model structure, network description, what the outputs are, the cost."""

    structure: Structure
    dt: float
    spec: core_net.Spec
    names: tuple[str, ...]
    n_params: int
    cost: ObservationCost
    train: bool


class NetData(NamedTuple):
    """Arrays: network input (descriptors), frozen weights, active cells (flat grid indices),
    base parameters and states, what the simulation and cost need, and a hybrid structure's
    flux-correction network (name -> weight or bias in the simulation's dtype; ``None`` for a
    conceptual structure), whose trained entries the trainable ones replace."""

    x: jax.Array
    frozen: core_net.Params
    active: jax.Array
    params: dict[str, jax.Array]
    states: dict[str, jax.Array]
    forcing: Forcing | WavefrontForcing
    graph: FlowGraph
    gauge_index: jax.Array
    imperviousness: jax.Array
    q_obs: jax.Array
    cost_data: CostData | None
    key: jax.Array
    network: dict[str, jax.Array] | None = None


Trainable = tuple[core_net.Params, dict[str, jax.Array]]
"""The regionalization network's trainable weights and the trained flux-correction entries."""


def _flux_correction(trained: dict[str, jax.Array], data: NetData):
    if data.network is None:
        return None
    return flux_correction_from_layers(
        {k: trained[k].astype(v.dtype) if k in trained else v for k, v in data.network.items()}
    )


def network_maps(trainable: core_net.Params, x: jax.Array, objective: NetObjective, data: NetData) -> jax.Array:
    """Network output for the input ``x`` over the whole grid, ``(nrow * ncol, n_outputs)``."""
    weights = core_net.combine(trainable, data.frozen)
    y = core_net.forward(objective.spec, weights, x, train=objective.train, key=data.key)
    return y.reshape(-1, len(objective.names))


def net_cost(trainable: Trainable, x: jax.Array, objective: NetObjective, data: NetData) -> jax.Array:
    """``J`` for the trainable weights (regionalization network, flux-correction entries) and
    input descriptors ``x``."""
    weights, trained = trainable
    y = network_maps(weights, x, objective, data)[data.active]
    names = objective.names
    params = {**data.params}
    states = {**data.states}
    for i, name in enumerate(names):
        target = params if i < objective.n_params else states
        target[name] = y[:, i].astype(target[name].dtype)
    q = gauge_discharge(objective.structure, objective.dt, data, params, states, _flux_correction(trained, data))
    q, q_obs, extra = as_float64((q, data.q_obs, data.cost_data))
    return observation_cost(q, q_obs, objective.cost, extra)


network_maps_jit = ExportedJit(network_maps, ("objective",), "ann.network_maps")


def _flat_value_and_grad(
    flat: jax.Array, step: jax.Array, template: Trainable, x: jax.Array, objective: NetObjective, data: NetData
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One training evaluation as one program: ``(J, dJ/dflat, |proj g|)``.

    ``flat`` is the trainable weights raveled as ``ravel_pytree(template)`` ravels them (only the
    template's shapes are used); ``step`` (int) draws this step's dropout key from ``data.key``.
    ``|proj g|`` is what smash reports during training: the infinity norm of the gradient with
    respect to the input descriptors and to the flux-correction weights.
    """
    _, unravel = ravel_pytree(template)
    data = data._replace(key=jax.random.fold_in(data.key, step))
    value, (grad, grad_x) = jax.value_and_grad(net_cost, argnums=(0, 1))(unravel(flat), x, objective, data)
    norm = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in (grad_x, *grad[1].values())]))
    return value, ravel_pytree(grad)[0], norm


flat_value_and_grad = ExportedJit(_flat_value_and_grad, ("objective",), "ann.flat_value_and_grad")


def check_net(
    net: Net, nd: int, grid_shape: tuple[int, int], names: tuple[str, ...], bounds: Mapping[str, tuple[float, float]]
) -> None:
    """Refuse, before any training, a network that cannot map ``nd`` descriptor maps of
    ``grid_shape`` to the parameters ``names`` within ``bounds``."""
    if not isinstance(net, Net):
        raise TypeError(f"optimize_options 'net' must be a hydrograd.factory.Net, got {type(net).__name__}")
    if not net.layers:
        raise ValueError("optimize_options 'net' has no layers")
    if nd == 0:
        raise ValueError("mapping 'ann' needs descriptors: set 'read_descriptor' and 'descriptor_name' in the setup")
    first = net.layers[0]
    grid = (*grid_shape, nd)
    if isinstance(first, Dense) and first.input_shape != (nd,):
        raise ValueError(f"the net's first dense layer takes input_shape {first.input_shape}; the model has nd={nd}")
    if isinstance(first, Conv2D) and first.input_shape != grid:
        raise ValueError(
            f"the net's first conv2d layer takes input_shape {first.input_shape}; the descriptor maps are {grid}"
        )
    if not isinstance(first, Dense | Conv2D):
        raise ValueError(f"the net must start with a dense or conv2d layer, not {first.layer_name()}")
    if net.layers[-1].output_shape()[-1] != len(names):
        raise ValueError(
            f"the net outputs {net.layers[-1].output_shape()[-1]} values per cell; optimize_options "
            f"'parameters' lists {len(names)}: {list(names)}"
        )
    if isinstance(first, Conv2D) and int(np.prod(net.layers[-1].output_shape()[:-1])) != grid[0] * grid[1]:
        raise ValueError(
            f"the convolutional net outputs {net.layers[-1].output_shape()}; it must give one row per grid cell "
            f"({grid[0] * grid[1]}); add_flatten() keeps that layout"
        )
    if not any(getattr(layer, "trainable", False) for layer in net.layers if isinstance(layer, Dense | Conv2D)):
        raise ValueError("the net has no trainable layer: set_trainable(...) freezes them all")
    for layer in net.layers:
        if isinstance(layer, Scale):
            expected = np.array([bounds[k] for k in names], dtype=np.float64)
            given = np.stack([layer.lower, layer.upper], axis=-1)
            if given.shape != expected.shape or not np.allclose(given, expected, rtol=1e-6):
                raise ValueError(
                    f"the net's scale layer bounds {given.tolist()} disagree with optimize_options 'bounds' "
                    f"{expected.tolist()} for parameters {list(names)}"
                )
