"""Routing operators over the flow graph, and the sweep that applies them within a time step.

Within one step a cell's discharge ``Q[x] = g(qup[x], theta[x])`` depends on its inflow
``qup[x]``, the sum of the discharges of the cells draining into it at the same step. The sweep
visits cells level by level (sources first), so every inflow is complete when its cell is
reached; a level is a contiguous slice of cells (see ``hydrograd.core.graph``). Its adjoint is
the reverse sweep (outlets first) on the cotangents,
``G[x] = gQ[x] + Gup[down[x]]`` and ``Gup[x] = gqup[x] + dg/dqup[x] * G[x]``, written by hand
with ``jax.custom_vjp``: differentiating the forward scatters instead is far slower on large
graphs and stores every level's intermediate values.

The linear operators (``lag0``, ``lr``: ``Q = a * qup + b`` within a step) can also be routed by
*doubling* (:func:`doubling`): about ``log2(levels)`` rounds over every cell instead of one loop
iteration a level. It does more arithmetic than the sweep, and on a CPU it is slower; on a GPU,
where a level's loop iteration costs its kernel launches whatever its width, France's 810 levels a
step take 22 times longer than 10 rounds (``benchmarks/RESULTS.md``, "Fifteenth session").
:func:`doubles_linear_routing` chooses (``HYDROGRAD_ROUTING``, ``hydrograd._process``).

Every ``route_*`` operator takes an optional ``inflow``: under the wavefront schedule
(``hydrograd.core.simulate``) each cell's inflow at its step is already known, and the operator
then applies to the cells alone, without a sweep.

Discharges are in m3/s; the reservoir level ``hlr`` is in mm over the upstream area.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.ad_checkpoint import checkpoint_name

from hydrograd._process import routing_method, traced_for_accelerator
from hydrograd.core.graph import Bucket, FlowGraph

Array = jnp.ndarray
LocalFn = Callable[[Array, dict[str, Array]], Array]

SWEEP_RESULTS = "routing_sweep"
"""Checkpoint name of a sweep's ``(q, qup)``, which a rematerializing time loop can keep."""


def _slice(a: Array, start: Array, width: int) -> Array:
    return lax.dynamic_slice(a, (start,), (width,))


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _sweep(local_fn: LocalFn, sink: int, theta: dict[str, Array], downstream: Array, buckets: tuple[Bucket, ...]):
    return _sweep_forward(local_fn, sink, theta, downstream, buckets)


def _level(bucket: Bucket, i: Array, n: int) -> tuple[Array, Array]:
    """Where the sweep reads level ``i`` of ``bucket`` in arrays of ``n`` cells: the cell of its
    first lane (the level's start, moved back so that the bucket's width fits within the ``n``
    cells) and which lanes hold the level's cells."""
    start = bucket.starts[i]
    first = jnp.minimum(start, n - bucket.lanes.shape[0])
    cells = first + bucket.lanes
    return first, (cells >= start) & (cells < start + bucket.counts[i])


def _inflow(local_fn, sink, theta, downstream, buckets):
    """The inflow of every cell, ``(downstream.shape[0],)``: each level's discharge is computed
    from its (complete) inflow and scattered into the downstream cells' inflow. Only the inflow is
    carried through the loop: writing each level's discharge into a carried array would copy the
    whole array at every level, as XLA does not update a loop-carried slice in place."""
    leaves = jax.tree_util.tree_leaves(theta)
    n = leaves[0].shape[0]
    qup = jnp.zeros(downstream.shape[0], leaves[0].dtype)
    for bucket in buckets:
        width = bucket.lanes.shape[0]

        def visit_level(i, qup, bucket=bucket, width=width):
            first, valid = _level(bucket, i, n)
            level_theta = jax.tree_util.tree_map(lambda a, first=first: _slice(a, first, width), theta)
            q_level = local_fn(_slice(qup, first, width), level_theta)
            target = jnp.where(valid, _slice(downstream, first, width), sink)
            return qup.at[target].add(jnp.where(valid, q_level, 0.0))

        qup = lax.fori_loop(0, bucket.starts.shape[0], visit_level, qup)
    return qup


def _sweep_forward(local_fn, sink, theta, downstream, buckets):
    n = jax.tree_util.tree_leaves(theta)[0].shape[0]
    qup = _inflow(local_fn, sink, theta, downstream, buckets)[:n]
    return local_fn(qup, theta), qup


def _sweep_fwd(local_fn, sink, theta, downstream, buckets):
    q, qup = _sweep_forward(local_fn, sink, theta, downstream, buckets)
    q, qup = checkpoint_name((q, qup), SWEEP_RESULTS)
    return (q, qup), (theta, qup, downstream, buckets)


def _sweep_bwd(local_fn, sink, residuals, cotangents):
    theta, qup, downstream, buckets = residuals
    g_q, g_qup = cotangents
    dq_dqup = jax.jvp(lambda u: local_fn(u, theta), (qup,), (jnp.ones_like(qup),))[1]
    n = qup.shape[0]
    size = downstream.shape[0]
    adj_qup = jnp.zeros(size, qup.dtype)
    for bucket in reversed(buckets):
        width = bucket.lanes.shape[0]
        n_levels = bucket.starts.shape[0]

        def visit_level(j, adj_qup, bucket=bucket, width=width, n_levels=n_levels):
            first, valid = _level(bucket, n_levels - 1 - j, n)
            adj = _slice(g_q, first, width) + adj_qup[_slice(downstream, first, width)]
            inflow_adj = _slice(g_qup, first, width) + _slice(dq_dqup, first, width) * adj
            cells = jnp.where(valid, first + bucket.lanes, size)
            return adj_qup.at[cells].set(inflow_adj, mode="drop")

        adj_qup = lax.fori_loop(0, n_levels, visit_level, adj_qup)
    adj_q = g_q + adj_qup[downstream[:n]]
    _, pullback = jax.vjp(lambda th: local_fn(qup, th), theta)
    return (pullback(adj_q)[0], None, None)


_sweep.defvjp(_sweep_fwd, _sweep_bwd)


def sweep(local_fn: LocalFn, theta: dict[str, Array], graph: FlowGraph) -> tuple[Array, Array]:
    """Route one time step: returns ``(q, qup)``, each of shape ``(nac,)``.

    ``local_fn(qup, theta)`` must act element by element; ``theta`` holds ``(nac,)`` arrays.
    Levels are read in slices of their bucket's width, moved back from the end of the cells
    where they would run past it: ``theta`` is only padded (with its last value) on a graph
    smaller than its widest bucket. Padding it always would cost more than the routing on a
    large graph: XLA fuses the pad into the computation of ``theta`` (a time step of the
    hydrological operators), unvectorized (France: 30 ms a step).
    """
    nac = graph.nac
    n = max(nac, *(bucket.lanes.shape[0] for bucket in graph.buckets))
    padded = {k: jnp.pad(v, (0, n - nac), mode="edge") for k, v in theta.items()}
    q, qup = _sweep(local_fn, nac, padded, graph.downstream, graph.buckets)
    return q[:nac], qup[:nac]


def _jumps(downstream: Array, rounds: int) -> list[Array]:
    """Row ``k`` (``k < rounds``): the cell ``2**k`` cells downstream of each of the ``nac`` cells
    (``nac``, the sink, past an outlet); ``downstream`` ``(nac,)``, valued in ``[0, nac]``."""
    sink = jnp.full((1,), downstream.shape[0], downstream.dtype)
    jumps = [downstream][:rounds]
    for _ in range(rounds - 1):
        jumps.append(jnp.concatenate([jumps[-1], sink])[jumps[-1]])
    return jumps


def _downstream_of(values: Array, cells: Array) -> Array:
    """``values`` read at ``cells`` (``(nac,)`` indices into ``[0, nac]``), zero at the sink."""
    return jnp.concatenate([values, jnp.zeros((1,), values.dtype)])[cells]


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _doubling(a: Array, b: Array, downstream: Array, rounds: int) -> tuple[Array, Array]:
    return _doubling_forward(a, b, downstream, rounds)


def _doubling_forward(a, b, downstream, rounds):
    """Before round ``k``, ``q[x]`` holds what reaches ``x`` from the cells fewer than ``2**k`` cells
    above it (its own ``b`` included) and ``m[x]`` the product of ``a`` over the ``2**k`` cells below
    it; round ``k`` adds ``m * q`` to the cell ``2**k`` cells below, which doubles the reach."""
    q = b
    m = _downstream_of(a, downstream)
    jumps = _jumps(downstream, rounds)
    for k, jump in enumerate(jumps):
        q = q + jnp.zeros_like(q).at[jump].add(m * q, mode="drop")
        if k + 1 < rounds:
            m = m * _downstream_of(m, jump)
    return q, jnp.zeros_like(q).at[downstream].add(q, mode="drop")


def _doubling_fwd(a, b, downstream, rounds):
    q, qup = _doubling_forward(a, b, downstream, rounds)
    q, qup = checkpoint_name((q, qup), SWEEP_RESULTS)
    return (q, qup), (a, qup, downstream)


def _doubling_bwd(rounds, residuals, cotangents):
    """The adjoint by pointer jumping towards the outlets: ``G[x] = c[x] + a[down[x]] G[down[x]]``
    with ``c = gQ + gqup[down]``; then ``gb = G`` and ``ga = G * qup``."""
    a, qup, downstream = residuals
    g_q, g_qup = cotangents
    adj = g_q + _downstream_of(g_qup, downstream)
    p = _downstream_of(a, downstream)
    for k, jump in enumerate(_jumps(downstream, rounds)):
        adj = adj + p * _downstream_of(adj, jump)
        if k + 1 < rounds:
            p = p * _downstream_of(p, jump)
    return adj * qup, adj, None


_doubling.defvjp(_doubling_fwd, _doubling_bwd)


def doubling(a: Array, b: Array, graph: FlowGraph) -> tuple[Array, Array]:
    """``(q, qup)`` of one linear routing step, ``Q = a * qup + b`` (``a``, ``b``: ``(nac,)``), by
    doubling over the whole graph; the same as :func:`sweep` with ``_linear_local`` up to the order
    of the sums. ``(n_levels - 1).bit_length()`` rounds cover the longest path."""
    nac = graph.nac
    return _doubling(a, b, graph.downstream[:nac], (graph.n_levels - 1).bit_length())


def doubles_linear_routing() -> bool:
    """Whether a linear routing step is routed by :func:`doubling` rather than the level sweep:
    ``HYDROGRAD_ROUTING`` (``hydrograd._process.routing_method``) ``"doubling"``, or ``"auto"`` when
    the program is traced for an accelerator (JAX's default backend is not the CPU)."""
    method = routing_method()
    return method == "doubling" or (method == "auto" and traced_for_accelerator())


def _route(local_fn: LocalFn, theta: dict[str, Array], graph: FlowGraph, inflow: Array | None) -> tuple[Array, Array]:
    """``(q, qup)`` of one step: by the level sweep, or, when the wavefront schedule already
    knows every cell's ``inflow`` (``(nac,)``), by ``local_fn`` alone."""
    if inflow is None:
        return sweep(local_fn, theta, graph)
    return local_fn(inflow, theta), inflow


def _route_linear(a: Array, b: Array, graph: FlowGraph, inflow: Array | None) -> tuple[Array, Array]:
    """``(q, qup)`` of one linear step ``Q = a * qup + b``: as :func:`_route`, or by :func:`doubling`
    where :func:`doubles_linear_routing`."""
    if inflow is None and doubles_linear_routing():
        return doubling(a, b, graph)
    return _route(_linear_local, {"a": a, "b": b}, graph, inflow)


class RoutingStep(NamedTuple):
    """Result of one routing step: new states, memory carried to the next step, discharge, fluxes."""

    states: dict[str, Array]
    memory: dict[str, Array]
    q: Array
    fluxes: dict[str, Array]


def route_zero(params, states, memory, qt, graph: FlowGraph, dt: float, inflow: Array | None = None) -> RoutingStep:
    """No routing: each cell's discharge is its own runoff."""
    return RoutingStep(states, memory, qt, {})


def _linear_local(qup, theta):
    """The form both lag0 and lr take within a step: ``Q = a * qup + b``."""
    return theta["a"] * qup + theta["b"]


def route_lag0(params, states, memory, qt, graph: FlowGraph, dt: float, inflow: Array | None = None) -> RoutingStep:
    """Instantaneous routing: a cell passes on its inflow plus its own runoff (flux ``qup``: the
    inflow, m3/s)."""
    q, qup = _route_linear(jnp.ones_like(qt), qt, graph, inflow)
    return RoutingStep(states, memory, q, {"qup": qup})


def route_lr(params, states, memory, qt, graph: FlowGraph, dt: float, inflow: Array | None = None) -> RoutingStep:
    """Linear reservoir: the inflow fills a reservoir of lag time ``llr`` (minutes) that empties
    exponentially over the step; the released volume joins the cell's own runoff.

    With ``r = 1 - exp(-dt / (60 llr))`` the released fraction, a cell with upstream cells gives
    ``Q = qt + r * (hlr * A / dt + qup)`` (``A`` its upstream area in m3 per mm, ``hlr`` in mm)
    and keeps ``(1 - r) * (hlr + qup * dt / A)``; a cell without passes its runoff and keeps ``hlr``.
    Flux ``qup``: the inflow as a depth over the upstream area, ``qup * dt / A`` (mm), as smash.
    """
    nac = graph.nac
    routed = graph.has_upstream[:nac]
    area = jnp.where(routed, 1e-3 * graph.upstream_area[:nac], 1.0)
    ratio = dt / (params["llr"] * 60.0)
    release = -jnp.expm1(-ratio)
    a = jnp.where(routed, release, 0.0)
    b = jnp.where(routed, qt + release * states["hlr"] * area / dt, qt)
    q, qup = _route_linear(a, b, graph, inflow)
    inflow_depth = qup * dt / area
    hlr = jnp.where(routed, (states["hlr"] + inflow_depth) * jnp.exp(-ratio), states["hlr"])
    # As smash reports it: the inflow in mm over the upstream area (0 where nothing flows in).
    return RoutingStep({**states, "hlr": hlr}, memory, q, {"qup": jnp.where(routed, inflow_depth, 0.0)})


def _kw_local(qup, theta):
    qup_w = jnp.maximum(1e-6, qup)
    q_prev = jnp.maximum(1e-6, theta["q_prev"])
    lateral = 0.5 * (jnp.maximum(1e-6, theta["qt_prev"]) + jnp.maximum(1e-6, theta["qt"]))
    d1 = theta["dt_dx"]
    d2 = theta["akw"] * theta["bkw"] * (0.5 * (q_prev + qup_w)) ** (theta["bkw"] - 1.0)
    routed = (d1 * qup_w + q_prev * d2 + d1 * lateral) / (d1 + d2)
    return jnp.where(theta["has_upstream"], routed, theta["qt"])


def route_kw(params, states, memory, qt, graph: FlowGraph, dt: float, inflow: Array | None = None) -> RoutingStep:
    """Kinematic wave, linearised implicit scheme (Chow, Applied Hydrology, §9.6), with the
    conceptual law ``A = akw * Q^bkw``; it needs the previous step's runoff and discharge."""
    nac = graph.nac
    theta = {
        "qt": qt,
        "qt_prev": memory["qt"],
        "q_prev": memory["q"],
        "akw": params["akw"],
        "bkw": params["bkw"],
        "dt_dx": dt / graph.dx[:nac],
        "has_upstream": graph.has_upstream[:nac],
    }
    q, qup = _route(_kw_local, theta, graph, inflow)
    return RoutingStep(states, {"qt": qt, "q": q}, q, {"qim1j": qup})


def kw_memory(nac: int, dtype) -> dict[str, Array]:
    """Kinematic-wave memory before the first step: no runoff, no discharge."""
    return {"qt": jnp.zeros(nac, dtype), "q": jnp.zeros(nac, dtype)}
