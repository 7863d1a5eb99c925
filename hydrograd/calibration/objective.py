"""The calibration objective ``J(x) = jobs + wjreg * jreg`` as one pure, jitted function of the
transformed control vector, and its gradient.

``Objective`` is the static part (structure, mapping, cost definition), hashable so that it keys
``jit``'s cache: repeated calibrations of the same problem compile once. ``ObjectiveData`` holds
every array (forcing, graph, observations, base parameter values) as a PyTree argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device
from hydrograd._exported import ExportedJit
from hydrograd.calibration.control import untransform
from hydrograd.core.cost import CostData, ObservationCost, observation_cost
from hydrograd.core.graph import FlowGraph
from hydrograd.core.mapping import Mapping, apply_mapping
from hydrograd.core.registry import Structure
from hydrograd.core.regularization import REGULARIZATIONS, RegularizationInputs
from hydrograd.core.simulate import (
    CoreInputs,
    Forcing,
    Record,
    WavefrontForcing,
    forcing_copy_fits,
    forcing_fields,
    simulate,
    uses_wavefront,
    wavefront_forcing,
)
from hydrograd.core.structural_error import BayesianCost, LogPosterior, log_posterior
from hydrograd.core.structures.hybrid import flux_correction_from_layers

Array = jnp.ndarray


class Objective(NamedTuple):
    """Static definition: which model, which mapping, which cost, which regularization.

    ``n_states``: how many of ``mapping.names`` (the last ones) are initial states;
    ``jreg``: (component, weight) pairs, combined as ``sum(weight * component)``; ``weighted``:
    whether the cost adds ``jreg``, weighted by ``ObjectiveData.wjreg`` (else ``jreg`` is only
    reported, as smash reports it); the weight is an array so that choosing it by repeated calibrations does not
    recompile);
    ``cost_precision``: ``"float32"`` reduces the discharge misfit exactly as smash does (same
    digits); ``"float64"`` (used by gradient-based optimizers, under ``jax.enable_x64``) reduces
    it in double precision, which removes the single-precision noise of long sums that otherwise
    derails line searches. The model itself always runs in the dtype of its inputs;
    ``network``: the calibrated weights and biases of a hybrid structure's network, as
    ``(name, shape)`` in control-vector order (after the mapped coefficients and the
    structural-error entries);
    ``bayesian``: for a Bayesian calibration, the negative log-posterior that replaces ``jobs``
    (over ``cost.gauges`` from ``cost.start``; ``cost``'s components are not used); ``serr``:
    its structural-error entries of the control (after the mapped coefficients), one
    ``(block, column, gauge)`` each, ``block`` 0 for the mean's parameters and 1 for the
    deviation's, ``column`` the parameter's position in its mapping.
    """

    structure: Structure
    dt: float
    mapping: Mapping
    n_states: int
    cost: ObservationCost
    jreg: tuple[tuple[str, float], ...] = ()
    cost_precision: str = "float32"
    network: tuple[tuple[str, tuple[int, ...]], ...] = ()
    weighted: bool = False
    bayesian: BayesianCost | None = None
    serr: tuple[tuple[int, int, int], ...] = ()

    @property
    def network_start(self) -> int:
        """Index of the hybrid network's first entry in the control vector."""
        return self.mapping.size + len(self.serr)


class SimulationInputs(Protocol):
    """What a simulation needs besides parameters and states; ``ObjectiveData`` and the ANN
    objective's ``NetData`` both provide it."""

    forcing: Forcing | WavefrontForcing
    graph: FlowGraph
    gauge_index: Array
    imperviousness: Array


def scheduled_forcing(
    structure: Structure, forcing: Forcing, graph: FlowGraph, dtype: Any = None
) -> Forcing | WavefrontForcing:
    """``forcing`` in the order ``simulate`` will run ``structure`` on ``graph`` (every field reordered
    once, in numpy, when that is the wavefront schedule and the copy fits ``FORCING_COPY_BUDGET``), for
    a problem that runs it many times. A reordered copy takes ``dtype`` (default: the forcing's);
    a forcing left in time order is returned as it is. Under ``jax.enable_x64`` for float64."""
    if not (uses_wavefront(structure, graph, forcing.ntime_step) and forcing_copy_fits(forcing, graph)):
        return forcing
    ordered = wavefront_forcing(forcing, graph, xp=np)
    fields = {name: to_device(field, dtype) for name, field in forcing_fields(ordered).items()}
    return WavefrontForcing(ntime_step=ordered.ntime_step, complete=ordered.complete, **fields)


class ObjectiveData(NamedTuple):
    """Arrays of the problem. ``kinds``/``lower``/``upper``: per-entry transform and raw bounds;
    ``background`` and ``start``: the starting control, transformed and raw (regularization
    references);
    ``neighbours``: ``(nac, 4)`` active-cell indices of the cells above, below, left and right
    (the cell itself where that neighbour is outside the domain); ``cell_order``: for each
    cell of the model (flow-graph order), its rank in smash's column-major order, which orders
    the distributed mapping's control values; ``wjreg``: the scalar weight of ``jreg`` in the
    cost; ``network``: every weight and bias of a hybrid structure's network (``weight_1``,
    ``bias_1``, ...), or None; ``serr_mu``, ``serr_sigma``: the structural-error parameters
    ``(ng, n)`` in their mappings' order and ``q_stdev``: the observations' deviation
    ``(ng, ntime_step)`` m3/s (Bayesian calibration only, else None)."""

    kinds: Array
    lower: Array
    upper: Array
    background: Array
    start: Array
    params: dict[str, Array]
    states: dict[str, Array]
    forcing: Forcing | WavefrontForcing
    graph: FlowGraph
    gauge_index: Array
    imperviousness: Array
    q_obs: Array
    descriptors: Array
    neighbours: Array
    cost_data: CostData | None
    cell_order: Array
    wjreg: Array
    network: dict[str, Array] | None = None
    serr_mu: Array | None = None
    serr_sigma: Array | None = None
    q_stdev: Array | None = None


def control_maps(x_t: Array, objective: Objective, data: ObjectiveData) -> tuple[dict[str, Array], dict[str, Array]]:
    """Parameters and initial states (name -> ``(nac,)``) for a transformed control vector."""
    x = untransform(x_t, data.kinds, data.lower, data.upper)
    mapped = apply_mapping(x[: objective.mapping.size], objective.mapping, data.descriptors)
    if objective.mapping.kind == "distributed":
        mapped = {k: v[data.cell_order] for k, v in mapped.items()}
    n_params = len(objective.mapping.names) - objective.n_states
    names = objective.mapping.names
    params = {**data.params, **{k: mapped[k].astype(data.params[k].dtype) for k in names[:n_params]}}
    states = {**data.states, **{k: mapped[k].astype(data.states[k].dtype) for k in names[n_params:]}}
    return params, states


def flux_correction(x_t: Array, objective: Objective, data: ObjectiveData):
    """The hybrid network hook for a transformed control vector (None for a conceptual model):
    the calibrated weights come from the control, the others from ``data.network``."""
    if data.network is None:
        return None
    values = dict(data.network)
    start = objective.network_start
    for key, shape in objective.network:
        size = int(np.prod(shape))
        block = x_t[start : start + size].astype(values[key].dtype)
        values[key] = block.reshape(shape[::-1]).T if len(shape) == 2 else block
        start += size
    return flux_correction_from_layers(values)


def regularization(x_t: Array, objective: Objective, data: ObjectiveData) -> Array:
    """``jreg``: the weighted sum of the components ``objective.jreg`` names (see
    ``hydrograd.core.regularization``)."""
    total = jnp.zeros((), x_t.dtype)
    if not objective.jreg:
        return total
    maps = background = None
    if any(REGULARIZATIONS[name].needs_maps for name, _ in objective.jreg):
        names = objective.mapping.names
        params, states = control_maps(x_t, objective, data)
        maps = {k: {**params, **states}[k] for k in names}
        params, states = control_maps(data.background, objective, data)
        background = {k: {**params, **states}[k] for k in names}
    x = untransform(x_t, data.kinds, data.lower, data.upper)
    inputs = RegularizationInputs(x_t, data.background, x, data.start, maps, background, data.neighbours)
    for name, weight in objective.jreg:
        total = total + weight * REGULARIZATIONS[name].term(inputs)
    return total


def error_parameters(x_t: Array, objective: Objective, data: ObjectiveData) -> tuple[Array, Array]:
    """The structural-error parameters ``(mu (ng, n), sigma (ng, n))`` for a transformed control
    vector: the control's entries at the calibrated gauges, ``data``'s values elsewhere."""
    return _error_parameters(untransform(x_t, data.kinds, data.lower, data.upper), objective, data)


def _error_parameters(x: Array, objective: Objective, data: ObjectiveData) -> tuple[Array, Array]:
    """:func:`error_parameters` of the raw control vector ``x``."""
    values = x[objective.mapping.size : objective.network_start]
    blocks = [data.serr_mu.astype(x.dtype), data.serr_sigma.astype(x.dtype)]
    for b in (0, 1):
        entries = [(k, c, g) for k, (block, c, g) in enumerate(objective.serr) if block == b]
        if entries:
            k, c, g = (np.array(v) for v in zip(*entries, strict=True))
            blocks[b] = blocks[b].at[g, c].set(values[k])
    return blocks[0], blocks[1]


def posterior(x_t: Array, objective: Objective, data: ObjectiveData, q_sim: Array) -> LogPosterior:
    """The Bayesian cost and its terms for a transformed control vector and its discharge at the
    gauges, computed in the control's precision (double under ``jax.enable_x64``); the cost
    rounded to single precision when ``objective.cost_precision`` is ``"float32"``, as smash
    reports it."""
    x = untransform(x_t, data.kinds, data.lower, data.upper)
    mu, sigma = _error_parameters(x, objective, data)
    terms = log_posterior(
        objective.bayesian,
        x[: objective.mapping.size],
        q_sim.astype(x.dtype),
        data.q_obs.astype(x.dtype),
        data.q_stdev.astype(x.dtype),
        mu,
        sigma,
    )
    if objective.cost_precision == "float32":
        terms = terms._replace(cost=terms.cost.astype(jnp.float32).astype(x.dtype))
    return terms


def cost_terms(x_t: Array, objective: Objective, data: ObjectiveData) -> tuple[Array, tuple[Array, Array, Array]]:
    """``(J, (jobs, jreg, q))`` with ``q`` the simulated discharge at the gauges (for a Bayesian
    calibration ``J = jobs`` is the negative log-posterior and ``jreg`` 0)."""
    q_sim = control_discharge(x_t, objective, data)
    if objective.bayesian is not None:
        cost = posterior(x_t, objective, data, q_sim).cost
        return cost, (cost, jnp.zeros((), cost.dtype), q_sim)
    q, q_obs, cost_data = q_sim, data.q_obs, data.cost_data
    if objective.cost_precision == "float64":
        q, q_obs, cost_data = as_float64((q, q_obs, cost_data))
    jobs = observation_cost(q, q_obs, objective.cost, cost_data)
    jreg = regularization(x_t, objective, data)
    cost = jobs + data.wjreg * jreg if objective.weighted else jobs
    return cost, (jobs, jreg, q_sim)


def control_discharge(x_t: Array, objective: Objective, data: ObjectiveData) -> Array:
    """Simulated discharge at the gauges ``(ng, ntime_step)`` m3/s for a transformed control vector."""
    params, states = control_maps(x_t, objective, data)
    correction = flux_correction(x_t, objective, data)
    return gauge_discharge(objective.structure, objective.dt, data, params, states, correction)


def gauge_discharge(
    structure: Structure,
    dt: float,
    data: SimulationInputs,
    params: dict[str, Array],
    states: dict[str, Array],
    correction: Callable[[Array], Array] | None,
) -> Array:
    """Simulated discharge at the gauges, ``(ng, ntime_step)`` m3/s, of ``structure`` run with
    ``params`` and initial ``states`` on ``data``'s forcing, graph and gauges; ``correction``:
    the hybrid hook."""
    inputs = CoreInputs(
        structure, dt, params, states, data.forcing, data.graph, data.gauge_index, data.imperviousness, correction
    )
    return simulate(inputs).q


def domain_discharge(x_t: Array, objective: Objective, data: ObjectiveData) -> Array:
    """Simulated discharge of every active cell, ``(ntime_step, nac)`` m3/s (cells in the flow
    graph's order), for a transformed control vector: the program a calibration runs, every cell
    kept."""
    params, states = control_maps(x_t, objective, data)
    correction = flux_correction(x_t, objective, data)
    inputs = CoreInputs(
        objective.structure,
        objective.dt,
        params,
        states,
        data.forcing,
        data.graph,
        data.gauge_index,
        data.imperviousness,
        correction,
    )
    return simulate(inputs, Record(q_domain=True)).q_domain


def as_float64(tree: Any) -> Any:
    """``tree`` with its floating-point leaves cast to float64 (under ``jax.enable_x64``)."""
    return jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _value(x_t, objective, data):
    return cost_terms(x_t, objective, data)[0]


cost_jit = ExportedJit(_value, ("objective",), "objective.cost")
"""J for one control vector."""

batched_cost_jit = jax.jit(jax.vmap(_value, in_axes=(0, None, None)), static_argnames=("objective",))
"""J for a batch of control vectors ``(n, size)`` at once (step-by-step search)."""

value_and_grad_jit = ExportedJit(jax.value_and_grad(_value), ("objective",), "objective.value_and_grad")
"""``(J, dJ/dx)`` for one control vector."""

cost_terms_jit = ExportedJit(cost_terms, ("objective",), "objective.cost_terms")
"""``cost_terms`` as one compiled program."""


@functools.partial(jax.jit, static_argnames=("objective",))
def posterior_terms_jit(x_t: Array, objective: Objective, data: ObjectiveData) -> LogPosterior:
    """The Bayesian cost's terms for a transformed control vector, as one compiled program."""
    return posterior(x_t, objective, data, control_discharge(x_t, objective, data))


def _discharge_vjp(x_t: Array, cotangent: Array, objective: Objective, data: ObjectiveData) -> Array:
    """``cotangent . d(domain discharge)/dx``, the gradient of ``sum(cotangent * q_domain)``
    (``cotangent`` shaped and typed as :func:`domain_discharge`'s output)."""
    _, pullback = jax.vjp(lambda x: domain_discharge(x, objective, data), x_t)
    return pullback(cotangent)[0]


discharge_vjp = ExportedJit(_discharge_vjp, ("objective",), "objective.discharge_vjp")
"""``_discharge_vjp`` as one compiled program."""


error_parameters_jit = jax.jit(error_parameters, static_argnames=("objective",))
"""``error_parameters`` as one compiled program."""

control_maps_jit = ExportedJit(control_maps, ("objective",), "objective.control_maps")
"""``control_maps`` as one compiled program (run op by op, each operation would compile alone)."""
