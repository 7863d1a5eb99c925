"""Routing operators over the flow graph, and the sweep that applies them within a time step.

Within one step a cell's discharge ``Q[x] = g(qup[x], theta[x])`` depends on its inflow
``qup[x]``, the sum of the discharges of the cells draining into it at the same step. The sweep
visits cells level by level (sources first), so every inflow is complete when its cell is
reached. Its adjoint is the reverse sweep (outlets first) on the cotangents,
``G[x] = gQ[x] + Gup[down[x]]`` and ``Gup[x] = gqup[x] + dg/dqup[x] * G[x]``, written by hand
with ``jax.custom_vjp``: differentiating the forward scatters instead is far slower on large
graphs and stores every level's intermediate values.

Discharges are in m3/s; the reservoir level ``hlr`` is in mm over the upstream area.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from hydrograd.core.graph import FlowGraph

Array = jnp.ndarray
LocalFn = Callable[[Array, dict[str, Array]], Array]


def _pad(x: Array) -> Array:
    """Extend a ``(nac,)`` array with one padding entry (a copy of the first)."""
    return jnp.concatenate([x, x[:1]])


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _sweep(local_fn: LocalFn, theta: dict[str, Array], downstream: Array, buckets: tuple[Array, ...]):
    return _sweep_forward(local_fn, theta, downstream, buckets)


def _sweep_forward(local_fn, theta, downstream, buckets):
    n = downstream.shape[0]
    dtype = jax.tree_util.tree_leaves(theta)[0].dtype
    q = jnp.zeros(n, dtype)
    qup = jnp.zeros(n, dtype)
    for cells in buckets:

        def visit_level(i, carry, cells=cells):
            q, qup = carry
            idx = cells[i]
            q_level = local_fn(qup[idx], jax.tree_util.tree_map(lambda a, idx=idx: a[idx], theta))
            return q.at[idx].set(q_level), qup.at[downstream[idx]].add(q_level)

        q, qup = lax.fori_loop(0, cells.shape[0], visit_level, (q, qup))
    return q, qup


def _sweep_fwd(local_fn, theta, downstream, buckets):
    q, qup = _sweep_forward(local_fn, theta, downstream, buckets)
    return (q, qup), (theta, qup, downstream, buckets)


def _sweep_bwd(local_fn, residuals, cotangents):
    theta, qup, downstream, buckets = residuals
    g_q, g_qup = cotangents
    dq_dqup = jax.jvp(lambda u: local_fn(u, theta), (qup,), (jnp.ones_like(qup),))[1]
    adj_q = jnp.zeros_like(qup)
    adj_qup = jnp.zeros_like(qup)
    for cells in reversed(buckets):
        n_levels = cells.shape[0]

        def visit_level(j, carry, cells=cells, n_levels=n_levels):
            adj_q, adj_qup = carry
            idx = cells[n_levels - 1 - j]
            adj = g_q[idx] + adj_qup[downstream[idx]]
            return adj_q.at[idx].set(adj), adj_qup.at[idx].set(g_qup[idx] + dq_dqup[idx] * adj)

        adj_q, adj_qup = lax.fori_loop(0, n_levels, visit_level, (adj_q, adj_qup))
    _, pullback = jax.vjp(lambda th: local_fn(qup, th), theta)
    return (pullback(adj_q)[0], None, None)


_sweep.defvjp(_sweep_fwd, _sweep_bwd)


def sweep(local_fn: LocalFn, theta: dict[str, Array], graph: FlowGraph) -> tuple[Array, Array]:
    """Route one time step: returns ``(q, qup)``, each of shape ``(nac,)``.

    ``local_fn(qup, theta)`` must act element by element; ``theta`` holds ``(nac,)`` arrays.
    """
    padded = {k: _pad(v) for k, v in theta.items()}
    q, qup = _sweep(local_fn, padded, graph.downstream, graph.buckets)
    nac = graph.nac
    return q[:nac], qup[:nac]


class RoutingStep(NamedTuple):
    """Result of one routing step: new states, memory carried to the next step, discharge, fluxes."""

    states: dict[str, Array]
    memory: dict[str, Array]
    q: Array
    fluxes: dict[str, Array]


def route_zero(params, states, memory, qt, graph: FlowGraph, dt: float) -> RoutingStep:
    """No routing: each cell's discharge is its own runoff."""
    return RoutingStep(states, memory, qt, {})


def _lag0_local(qup, theta):
    return theta["qt"] + qup


def route_lag0(params, states, memory, qt, graph: FlowGraph, dt: float) -> RoutingStep:
    """Instantaneous routing: a cell passes on its inflow plus its own runoff."""
    q, qup = sweep(_lag0_local, {"qt": qt}, graph)
    return RoutingStep(states, memory, q, {"qup": qup})


def _upstream_depth_factor(graph: FlowGraph, dt: float) -> Array:
    """m3/s of inflow to mm/dt over the upstream area; 0 for cells with nothing upstream."""
    area = jnp.where(graph.has_upstream[:-1], graph.upstream_area[:-1], 1.0)
    return jnp.where(graph.has_upstream[:-1], dt / (1e-3 * area), 0.0)


def _lr_local(qup, theta):
    level = theta["hlr"] + qup * theta["to_depth"]
    released = level - level * theta["decay"]
    routed = theta["qt"] + released * theta["to_flow"]
    return jnp.where(theta["has_upstream"], routed, theta["qt"])


def route_lr(params, states, memory, qt, graph: FlowGraph, dt: float) -> RoutingStep:
    """Linear reservoir: the inflow fills a reservoir of lag time ``llr`` (minutes) that empties
    exponentially over the step; the released volume joins the cell's own runoff."""
    to_depth = _upstream_depth_factor(graph, dt)
    to_flow = jnp.where(graph.has_upstream[:-1], 1e-3 * graph.upstream_area[:-1] / dt, 0.0)
    decay = jnp.exp(-dt / (params["llr"] * 60.0))
    theta = {
        "qt": qt,
        "hlr": states["hlr"],
        "to_depth": to_depth,
        "to_flow": to_flow,
        "decay": decay,
        "has_upstream": graph.has_upstream[:-1],
    }
    q, qup = sweep(_lr_local, theta, graph)
    level = states["hlr"] + qup * to_depth
    hlr = jnp.where(graph.has_upstream[:-1], level * decay, states["hlr"])
    return RoutingStep({**states, "hlr": hlr}, memory, q, {"qup": qup})


def _kw_local(qup, theta):
    qup_w = jnp.maximum(1e-6, qup)
    q_prev = jnp.maximum(1e-6, theta["q_prev"])
    lateral = 0.5 * (jnp.maximum(1e-6, theta["qt_prev"]) + jnp.maximum(1e-6, theta["qt"]))
    d1 = theta["dt_dx"]
    d2 = theta["akw"] * theta["bkw"] * (0.5 * (q_prev + qup_w)) ** (theta["bkw"] - 1.0)
    routed = (d1 * qup_w + q_prev * d2 + d1 * lateral) / (d1 + d2)
    return jnp.where(theta["has_upstream"], routed, theta["qt"])


def route_kw(params, states, memory, qt, graph: FlowGraph, dt: float) -> RoutingStep:
    """Kinematic wave, linearised implicit scheme (Chow, Applied Hydrology, §9.6), with the
    conceptual law ``A = akw * Q^bkw``; it needs the previous step's runoff and discharge."""
    theta = {
        "qt": qt,
        "qt_prev": memory["qt"],
        "q_prev": memory["q"],
        "akw": params["akw"],
        "bkw": params["bkw"],
        "dt_dx": dt / graph.dx[:-1],
        "has_upstream": graph.has_upstream[:-1],
    }
    q, qup = sweep(_kw_local, theta, graph)
    return RoutingStep(states, {"qt": qt, "q": q}, q, {"qim1j": qup})


def kw_memory(nac: int, dtype) -> dict[str, Array]:
    """Kinematic-wave memory before the first step: no runoff, no discharge."""
    return {"qt": jnp.zeros(nac, dtype), "q": jnp.zeros(nac, dtype)}
