"""The observation cost ``jobs``: metrics per gauge, combined over components and gauges.

``jobs = sum_g w_g sum_c w_c j_{g,c}`` with ``j = 1 - metric`` for efficiencies (nse, kge, ...)
and ``j = metric`` for errors, computed on the steps after the warm-up. Gauges may instead be
combined by a quantile of their per-gauge costs (smash's ``median``, ``lquartile``, ...).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from hydrograd.core.metrics import EFFICIENCIES, METRICS

Array = jnp.ndarray


class ObservationCost(NamedTuple):
    """Static description of ``jobs`` (hashable, so it can be a ``jit`` static argument).

    - ``components``, ``component_weights``, ``transforms``: one entry per cost component;
      a transform is ``"keep"``, ``"sqrt"`` or ``"inv"`` of both discharges;
    - ``start``: first time-step index of the cost window (end of warm-up);
    - ``gauges``: indices of the gauges taking part;
    - ``gauge_weights``: one weight per entry of ``gauges``, or None when ``gauge_quantile``
      (in [0, 1]) combines the per-gauge costs instead.
    """

    components: tuple[str, ...]
    component_weights: tuple[float, ...]
    transforms: tuple[str, ...]
    start: int
    gauges: tuple[int, ...]
    gauge_weights: tuple[float, ...] | None
    gauge_quantile: float | None = None


def transform_discharge(tfm: str, obs: Array, sim: Array) -> tuple[Array, Array]:
    """Apply ``tfm`` to both series; ``e`` = 1% of the mean valid observation keeps ``inv`` and
    ``sqrt`` finite at zero flow. Missing observations stay negative."""
    if tfm == "keep":
        return obs, sim
    valid = obs >= 0.0
    mean_obs = jnp.where(valid, obs, 0.0).sum(-1, keepdims=True) / valid.sum(-1, keepdims=True)
    e = 1e-2 * mean_obs
    obs_shift = jnp.where(valid, obs, 0.0) + e
    sim_shift = jnp.maximum(sim, 0.0) + e
    if tfm == "sqrt":
        return jnp.where(valid, jnp.sqrt(obs_shift), obs), jnp.sqrt(sim_shift)
    if tfm == "inv":
        return jnp.where(valid, 1.0 / obs_shift, obs), 1.0 / sim_shift
    raise ValueError(f"Unknown discharge transform '{tfm}'")


class CostData(NamedTuple):
    """Array inputs some cost components need besides discharge, all over every gauge:
    ``mean_prcp`` (``(ng, ntime)``, catchment-mean rainfall in m3/s-equivalent for signatures),
    ``event_mask`` (``(ng, ntime)`` int, 0 outside flood events, k inside event k) and
    ``n_event`` (``(ng,)`` int)."""

    mean_prcp: Array
    event_mask: Array
    n_event: Array


def component_values(q_sim: Array, q_obs: Array, spec: ObservationCost, data: CostData | None = None) -> Array:
    """Cost of each component at each selected gauge, shape ``(len(gauges), n_components)``."""
    idx = jnp.asarray(spec.gauges, dtype=jnp.int32)
    obs = q_obs[idx, spec.start :]
    sim = q_sim[idx, spec.start :]
    columns = []
    for name, tfm in zip(spec.components, spec.transforms, strict=True):
        o, s = transform_discharge(tfm, obs, sim)
        value = METRICS[name](o, s)
        columns.append(1.0 - value if name in EFFICIENCIES else value)
    return jnp.stack(columns, axis=-1)


def observation_cost(q_sim: Array, q_obs: Array, spec: ObservationCost, data: CostData | None = None) -> Array:
    """The scalar ``jobs``."""
    values = component_values(q_sim, q_obs, spec, data)
    per_gauge = values @ jnp.asarray(spec.component_weights, dtype=values.dtype)
    if spec.gauge_weights is None:
        return jnp.quantile(per_gauge, spec.gauge_quantile)
    return jnp.dot(jnp.asarray(spec.gauge_weights, dtype=values.dtype), per_gauge)
