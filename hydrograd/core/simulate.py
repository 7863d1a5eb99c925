"""The time loop: one ``lax.scan`` that chains snow -> hydrological -> routing at every step.

Everything here is a pure function of arrays over the active cells, so it can be ``jit``-ed,
differentiated and run on any JAX device unchanged.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from hydrograd.core.graph import FlowGraph
from hydrograd.core.registry import Structure
from hydrograd.core.routing import SWEEP_RESULTS
from hydrograd.core.structures._common import HydroInputs
from hydrograd.core.structures.gr import percolation_beta

Array = jnp.ndarray


class Forcing(NamedTuple):
    """Atmospheric forcing over active cells, ``(n_fields, nac)`` in mm/dt each; negative values
    mark missing data, as in smash.

    Step ``t`` uses row ``index[t]``; without ``index`` (the usual case) row ``t``, so
    ``n_fields`` is the number of steps. An index lets a long synthetic run reuse a few fields
    (e.g. a daily cycle) without materialising ``ntime_step * nac`` values.
    """

    prcp: Array
    pet: Array
    index: Array | None = None

    @property
    def ntime_step(self) -> int:
        return self.prcp.shape[0] if self.index is None else self.index.shape[0]


# Above this many bytes of per-step states kept for the reverse pass, the time loop is split in
# chunks: the reverse pass then keeps the states at chunk boundaries and recomputes one chunk
# at a time (about sqrt(T) stored steps instead of T, at the price of one more forward pass).
CHECKPOINT_BUDGET = 1 << 30

# The reverse pass recomputes a step's hydrological operators but keeps the routing sweep's
# discharge and inflow (two ``(nac,)`` arrays per step): re-running the level-by-level sweep
# would cost as much as the sweep's own reverse pass, and its loops would be compiled twice.
_KEEP_SWEEP = jax.checkpoint_policies.save_only_these_names(SWEEP_RESULTS)


class SimulationOutput(NamedTuple):
    """What a run returns.

    - ``q``: discharge at the gauges, ``(ng, ntime_step)`` m3/s;
    - ``final_states``: states after the last step, each ``(nac,)``;
    - ``states``: states after every step, each ``(ntime_step, nac)``, or None;
    - ``q_domain``: discharge of every active cell, ``(ntime_step, nac)`` m3/s, or None;
    - ``fluxes``: internal fluxes of every cell at every step, each ``(ntime_step, nac)``, or None.
    """

    q: Array
    final_states: dict[str, Array]
    states: dict[str, Array] | None
    q_domain: Array | None
    fluxes: dict[str, Array] | None


def simulate(
    structure: Structure,
    params: dict[str, Array],
    initial_states: dict[str, Array],
    forcing: Forcing,
    graph: FlowGraph,
    gauge_index: Array,
    imperviousness: Array,
    dt: float,
    *,
    flux_correction=None,
    record_states: bool = False,
    record_q_domain: bool = False,
    record_fluxes: bool = False,
) -> SimulationOutput:
    """Run ``structure`` over the whole forcing period.

    ``params`` and ``initial_states`` map each of the structure's names to a ``(nac,)`` array;
    ``gauge_index`` (``(ng,)`` int) gives the active-cell index of each gauge. ``structure``,
    ``flux_correction`` (hybrid structures) is the network hook, a PyTree (see
    ``hydrograd.core.structures.hybrid.make_flux_correction``) traced like the arrays.
    ``structure``, ``dt`` and the ``record_*`` flags are static under ``jit``.
    """
    nac = graph.nac
    dtype = forcing.prcp.dtype
    beta = percolation_beta(dt)
    to_discharge = 1e-3 * graph.cell_area[:nac] / dt
    hydro_states = structure.hydrological.states
    routing_states = structure.routing.states
    hydro_step = structure.hydrological.step
    if flux_correction is not None:

        def hydro_step(p, s, x):
            return structure.hydrological.step(p, s, x, flux_correction)

    memory = structure.routing.memory(nac, dtype) if structure.routing.memory else {}

    def step(carry, forcing_t):
        states, memory = carry
        prcp_t, pet_t = forcing_t
        inputs = HydroInputs(prcp_t, pet_t, imperviousness, beta, dt)
        new_hydro, fluxes = hydro_step(params, {k: states[k] for k in hydro_states}, inputs)
        qt = fluxes["qt"] * to_discharge
        routed = structure.routing.step(params, {k: states[k] for k in routing_states}, memory, qt, graph, dt)
        new_states = {**new_hydro, **routed.states}
        record = {"q": routed.q[gauge_index]}
        if record_states:
            record["states"] = new_states
        if record_q_domain:
            record["q_domain"] = routed.q
        if record_fluxes:
            record["fluxes"] = {**fluxes, **routed.fluxes}
        return (new_states, routed.memory), record

    carry0 = ({k: initial_states[k] for k in structure.states}, memory)
    # Recomputing a step's intermediates in the reverse pass is cheaper than storing and
    # reloading every one of them for every step, and keeps gradient memory to the states.
    n_steps = forcing.ntime_step
    rows = jnp.arange(n_steps) if forcing.index is None else forcing.index

    def one_step(carry, row):
        return step(carry, (forcing.prcp[row], forcing.pet[row]))

    state_bytes = n_steps * nac * dtype.itemsize * (len(structure.states) + 2)
    if state_bytes <= CHECKPOINT_BUDGET or n_steps < 4:
        (final_states, _), records = lax.scan(jax.checkpoint(one_step, policy=_KEEP_SWEEP), carry0, rows)
    else:
        (final_states, _), records = _chunked_scan(jax.checkpoint(one_step, policy=_KEEP_SWEEP), carry0, rows)
    return SimulationOutput(
        q=records["q"].T,
        final_states=final_states,
        states=records.get("states"),
        q_domain=records.get("q_domain"),
        fluxes=records.get("fluxes"),
    )


def _chunked_scan(step, carry0, rows):
    """``lax.scan(step, carry0, rows)`` as a scan of checkpointed chunks of about sqrt(T) steps;
    the padding steps at the end leave the carry unchanged and their records are dropped."""
    n = rows.shape[0]
    chunk = math.ceil(math.sqrt(n))
    n_chunks = -(-n // chunk)
    padded = jnp.concatenate([rows, jnp.full(n_chunks * chunk - n, rows[-1], rows.dtype)])
    live = jnp.arange(n_chunks * chunk) < n

    def masked_step(carry, xs):
        row, keep = xs
        new, record = step(carry, row)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, carry), record

    @jax.checkpoint
    def run_chunk(carry, xs):
        return lax.scan(masked_step, carry, xs)

    shaped = (padded.reshape(n_chunks, chunk), live.reshape(n_chunks, chunk))
    final, records = lax.scan(run_chunk, carry0, shaped)
    records = jax.tree_util.tree_map(lambda a: a.reshape(n_chunks * chunk, *a.shape[2:])[:n], records)
    return final, records


simulate_jit = jax.jit(
    simulate,
    static_argnames=(
        "structure",
        "dt",
        "record_states",
        "record_q_domain",
        "record_fluxes",
    ),
)
