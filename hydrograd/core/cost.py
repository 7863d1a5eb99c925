"""The observation cost ``jobs``: metrics per gauge, combined over components and gauges.

``jobs = sum_g w_g sum_c w_c j_{g,c}`` with ``j = 1 - metric`` for efficiencies (nse, kge, ...),
``j = metric`` for errors and ``j`` = smash's signature error for signatures (Crc, ..., Epf; see
``hydrograd.core.signatures``), computed on the steps after the warm-up. Gauges may instead be
combined by a quantile of their per-gauge costs (smash's ``median``, ``lquartile``, ...).

As in smash, discharge transforms accumulate: each component's transform applies to the series
as the previous components left them (``["nse", "kge"]`` with ``["sqrt", "keep"]`` scores both
on square roots).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from hydrograd.core.metrics import EFFICIENCIES, METRICS
from hydrograd.core.signatures import EVENT_SIGNATURES, SIGNATURES, signature_components

Array = jnp.ndarray


class ObservationCost(NamedTuple):
    """Static description of ``jobs`` (hashable, so it can be a ``jit`` static argument).

    - ``components``, ``component_weights``, ``transforms``: one entry per cost component;
      a transform is ``"keep"``, ``"sqrt"`` or ``"inv"`` of both discharges;
    - ``start``: first time-step index of the cost window (end of warm-up);
    - ``gauges``: indices of the gauges taking part;
    - ``gauge_weights``: one weight per entry of ``gauges``, or None when ``gauge_quantile``
      (in [0, 1]) combines the per-gauge costs instead;
    - ``event_seg``: ``(peak_quant, peak_value m3/s, max_duration h)`` of the flood-event
      segmentation that builds ``CostData.event_mask`` for event signatures.
    """

    components: tuple[str, ...]
    component_weights: tuple[float, ...]
    transforms: tuple[str, ...]
    start: int
    gauges: tuple[int, ...]
    gauge_weights: tuple[float, ...] | None
    gauge_quantile: float | None = None
    event_seg: tuple[float, float, float] = (0.995, 0.0, 240.0)

    @property
    def needs_data(self) -> bool:
        """Whether some component is a signature, hence needs ``CostData``."""
        return any(c in SIGNATURES for c in self.components)

    @property
    def needs_events(self) -> bool:
        """Whether some component is a flood-event signature, hence needs event masks."""
        return any(c in EVENT_SIGNATURES for c in self.components)


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
    """Array inputs the signature components need besides discharge, over every gauge and the
    whole period (``component_values`` selects gauges and cuts the warm-up):
    ``mean_prcp`` (``(ng, ntime)``): catchment-mean rainfall already converted to m3/s, smash's
    ``mprcp = mean_prcp[mm/dt] * area_dln[m2] * 1e-3 / dt[s]`` (``hydrograd.config.cost_options.
    cost_data`` converts it); ``event_mask`` (``(ng, ntime)`` int, 0 outside flood events, k inside
    event k) and ``n_event`` (``(ng,)`` int)."""

    mean_prcp: Array
    event_mask: Array
    n_event: Array


def component_values(q_sim: Array, q_obs: Array, spec: ObservationCost, data: CostData | None = None) -> Array:
    """Cost of each component at each selected gauge, shape ``(len(gauges), n_components)``.

    Signature components need ``data`` (ValueError without it).
    """
    idx = jnp.asarray(spec.gauges, dtype=jnp.int32)
    obs = q_obs[idx, spec.start :]
    sim = q_sim[idx, spec.start :]
    if spec.needs_data and data is None:
        names = [c for c in spec.components if c in SIGNATURES]
        raise ValueError(
            f"Signature cost components {names} need CostData (rainfall, flood events): build it with "
            "hydrograd.config.cost_options.cost_data(model, spec) and pass it as 'data'"
        )
    # Transforms accumulate: group the components by the transformed state they see.
    states: list[tuple[Array, Array]] = []
    state_of = []
    for tfm in spec.transforms:
        if tfm != "keep" or not states:
            states.append(transform_discharge(tfm, *(states[-1] if states else (obs, sim))))
        state_of.append(len(states) - 1)
    signature_values: dict[tuple[int, str], Array] = {}
    for k, (o, s) in enumerate(states):
        names = tuple(c for c, j in zip(spec.components, state_of, strict=True) if j == k and c in SIGNATURES)
        if names:
            mask = data.event_mask[idx, spec.start :] if spec.needs_events else None
            n_event = data.n_event[idx] if spec.needs_events else None
            prcp = data.mean_prcp[idx, spec.start :]
            values = signature_components(names, o, s, prcp, mask, n_event)
            signature_values.update({(k, n): values[:, i] for i, n in enumerate(names)})
    columns = []
    for name, k in zip(spec.components, state_of, strict=True):
        if name in SIGNATURES:
            columns.append(signature_values[(k, name)])
            continue
        value = METRICS[name](*states[k])
        columns.append(1.0 - value if name in EFFICIENCIES else value)
    return jnp.stack(columns, axis=-1)


def observation_cost(q_sim: Array, q_obs: Array, spec: ObservationCost, data: CostData | None = None) -> Array:
    """The scalar ``jobs``."""
    values = component_values(q_sim, q_obs, spec, data)
    per_gauge = values @ jnp.asarray(spec.component_weights, dtype=values.dtype)
    if spec.gauge_weights is None:
        return jnp.quantile(per_gauge, spec.gauge_quantile)
    return jnp.dot(jnp.asarray(spec.gauge_weights, dtype=values.dtype), per_gauge)
