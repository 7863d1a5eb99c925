"""The time loop: one ``lax.scan`` that chains snow -> hydrological -> routing at every step.

Everything here is a pure function of arrays over the active cells, so it can be ``jit``-ed,
differentiated and run on any JAX device unchanged.

Two schedules give the same results. The *sweep* runs the time steps in turn and routes each
one by a level-by-level sweep of the flow graph (``n_levels`` small kernels a step), the routing
of a step beside the hydrology of the next. The
*wavefront* runs every cell one scheduled step behind the cells draining into it
(``FlowGraph.wave_offset``): at scheduled step ``s`` cell ``x`` is at time step
``s - wave_offset[x]``, its inflow is what its upstream cells released at scheduled step
``s - 1`` for that same time step, and a scheduled step is one pass over all cells. It takes
``n_levels - 1`` steps more, and wins whenever the period is long against the graph's depth.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hydrograd.core.graph import FlowGraph
from hydrograd.core.registry import Module, Structure
from hydrograd.core.routing import SWEEP_RESULTS
from hydrograd.core.structures._common import HydroInputs
from hydrograd.core.structures.gr import percolation_beta

Array = jnp.ndarray


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["prcp", "pet", "index", "snow", "temp"],
    meta_fields=["complete"],
)
@dataclasses.dataclass(frozen=True)
class Forcing:
    """Atmospheric forcing over active cells, ``(n_fields, nac)`` each: precipitation ``prcp``,
    evapotranspiration ``pet`` and, for a snow module, snowfall ``snow`` in mm/dt, and temperature
    ``temp`` in °C. Negative values mark missing data, as in smash (temperatures at or below -99).

    ``snow`` and ``temp`` are optional: a snow module run without either (smash's
    ``read_snow``/``read_temp`` left False) melts nothing and keeps its store as it is.

    Step ``t`` uses row ``index[t]``; without ``index`` (the usual case) row ``t``, so
    ``n_fields`` is the number of steps. An index lets a long synthetic run reuse a few fields
    (e.g. a daily cycle) without materialising ``ntime_step * nac`` values.

    ``complete`` (static) declares that no value of ``prcp`` and ``pet`` is missing (see
    :func:`is_complete`): the hydrological operators then leave out their missing-data branches,
    which gives the same results in a shorter step (``benchmarks/RESULTS.md``, "Eighth
    session"). False is always safe.
    """

    prcp: Array
    pet: Array
    index: Array | None = None
    complete: bool = False
    snow: Array | None = None
    temp: Array | None = None

    @property
    def ntime_step(self) -> int:
        return self.prcp.shape[0] if self.index is None else self.index.shape[0]


FORCING_FIELDS = ("prcp", "pet", "snow", "temp")
"""The forcing fields a run may read, in order."""


def forcing_fields(forcing: Forcing | WavefrontForcing) -> dict[str, Array]:
    """The fields ``forcing`` holds, by name (``snow`` and ``temp`` only when given)."""
    return {name: getattr(forcing, name) for name in FORCING_FIELDS if getattr(forcing, name) is not None}


def is_complete(*fields: Any) -> bool:
    """Whether no value of the concrete forcing ``fields`` is missing (negative or NaN), checked
    on the host: the ``complete`` flag of a :class:`Forcing` built from them."""
    return all(bool(np.all(np.asarray(field) >= 0.0)) for field in fields)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["prcp", "pet", "snow", "temp"],
    meta_fields=["ntime_step", "complete"],
)
@dataclasses.dataclass(frozen=True)
class WavefrontForcing:
    """Forcing already in wavefront order (see :func:`wavefront_forcing`): row ``s`` of each field,
    ``(ntime_step + n_levels - 1, nac)``, holds every cell's value at the time step it runs at
    scheduled step ``s``. Fields and units as in :class:`Forcing`; ``ntime_step`` and ``complete``
    are static."""

    prcp: Array
    pet: Array
    ntime_step: int
    complete: bool = False
    snow: Array | None = None
    temp: Array | None = None


def wavefront_forcing(forcing: Forcing, graph: FlowGraph, xp: Any = jnp) -> WavefrontForcing:
    """``forcing`` reordered for the wavefront schedule: row ``s`` holds every cell ``x``'s
    value at time step ``s - wave_offset[x]`` (clamped into the period).

    Worth doing once for many runs on the same forcing (a calibration): a gather from the whole
    field is slow inside a compiled CPU program. ``xp`` is the array module: ``numpy`` prepares
    the arrays outside any compiled program (nothing to compile).
    """
    scheduled = xp.arange(forcing.ntime_step + graph.n_levels - 1)
    rows = _wavefront_rows(forcing, xp.asarray(graph.wave_offset), scheduled, xp)
    cells = xp.arange(graph.nac)
    fields = {name: xp.asarray(a)[rows, cells] for name, a in forcing_fields(forcing).items()}
    return WavefrontForcing(ntime_step=forcing.ntime_step, complete=forcing.complete, **fields)


def _wavefront_rows(forcing: Forcing, offset: Array, scheduled: Array, xp: Any = jnp) -> Array:
    """Row of the forcing fields each cell reads at scheduled step(s) ``scheduled``:
    ``(*scheduled.shape, nac)`` indices of time steps ``scheduled - offset`` clamped into the
    period, through ``forcing.index`` when there is one."""
    steps = xp.clip(scheduled[..., None] - offset, 0, forcing.ntime_step - 1)
    return steps if forcing.index is None else xp.asarray(forcing.index)[steps]


# Above this many bytes, a run under the wavefront schedule on time-ordered forcing reads every
# scheduled step's forcing from the fields themselves (a slow gather, no copy) instead of a copy
# of the fields in wavefront order.
FORCING_COPY_BUDGET = 1 << 30


def forcing_copy_fits(forcing: Forcing, graph: FlowGraph) -> bool:
    """Whether ``forcing`` in wavefront order (each field in ``ntime_step + n_levels - 1`` rows)
    fits ``FORCING_COPY_BUDGET``."""
    n_rows = forcing.ntime_step + graph.n_levels - 1
    return len(forcing_fields(forcing)) * n_rows * graph.nac * forcing.prcp.dtype.itemsize <= FORCING_COPY_BUDGET


# Above this many bytes of per-step states kept for the reverse pass, the time loop is split in
# chunks: the reverse pass then keeps the states at chunk boundaries and recomputes one chunk
# at a time (about sqrt(T) stored steps instead of T, at the price of one more forward pass).
# 2 GiB keeps a gradient of the France domain over a day of hourly steps (1.4 GB of states) in
# one pass (benchmarks/RESULTS.md, "Eleventh session").
CHECKPOINT_BUDGET = 2 << 30

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


SCHEDULES = ("auto", "sweep", "wavefront")
"""How a run orders its work; see :func:`simulate`."""


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["params", "initial_states", "forcing", "graph", "gauge_index", "imperviousness", "flux_correction"],
    meta_fields=["structure", "dt"],
)
@dataclasses.dataclass(frozen=True)
class CoreInputs:
    """Everything a run needs, on the active cells in the flow graph's order.

    - ``structure`` and ``dt`` (s): static under ``jit``;
    - ``params`` and ``initial_states``: each of the structure's names -> ``(nac,)``;
    - ``forcing``: see :class:`Forcing`; ``graph``: the routing topology;
    - ``gauge_index``: ``(ng,)`` int, the active-cell index of each gauge;
    - ``imperviousness``: ``(nac,)`` impervious fraction (0 when not read);
    - ``flux_correction``: a hybrid structure's network hook, a PyTree traced like the arrays (see
      ``hydrograd.core.structures.hybrid.make_flux_correction``), or None.
    """

    structure: Structure
    dt: float
    params: dict[str, Array]
    initial_states: dict[str, Array]
    forcing: Forcing | WavefrontForcing
    graph: FlowGraph
    gauge_index: Array
    imperviousness: Array
    flux_correction: Any = None

    def replace(self, **changes: Any) -> CoreInputs:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def shapes(self) -> CoreInputs:
        """The same inputs with every array replaced by its shape and dtype: enough to compile
        :data:`simulate_jit` ahead of time without holding the data."""
        return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), self)


@dataclasses.dataclass(frozen=True)
class Record:
    """What a run keeps besides the gauges' discharge and the final states (hashable, static under
    ``jit``): ``states`` after every step, ``q_domain`` (every cell's discharge) and internal
    ``fluxes``."""

    states: bool = False
    q_domain: bool = False
    fluxes: bool = False


def simulate(inputs: CoreInputs, record: Record = Record(), schedule: str = "auto") -> SimulationOutput:
    """Run ``inputs.structure`` over the whole forcing period, keeping what ``record`` asks for.

    Each step applies the snow module (its melt joins the precipitation the hydrological module
    receives, as in smash), then the hydrological module, then the routing module.

    ``schedule`` is ``"sweep"``, ``"wavefront"`` (see the module's docstring; same results) or
    ``"auto"``: the wavefront when :func:`uses_wavefront` says so, or when the forcing is a
    ``WavefrontForcing``. ``record`` and ``schedule`` are static under ``jit``.
    """
    structure, dt, params, forcing, graph = inputs.structure, inputs.dt, inputs.params, inputs.forcing, inputs.graph
    gauge_index, imperviousness, flux_correction = inputs.gauge_index, inputs.imperviousness, inputs.flux_correction
    nac = graph.nac
    dtype = forcing.prcp.dtype
    complete = forcing.complete
    beta = percolation_beta(dt)
    to_discharge = 1e-3 * graph.cell_area[:nac] / dt
    snow_states = structure.snow.states
    hydro_states = structure.hydrological.states
    routing_states = structure.routing.states
    snow_step = _snow_step(structure.snow, forcing)
    hydro_step = structure.hydrological.step
    if flux_correction is not None:

        def hydro_step(p, s, x):
            return structure.hydrological.step(p, s, x, flux_correction)

    def produce(states, atmos):
        """The snow and hydrological operators of one step of every cell, from its forcing ``atmos``
        (a field name -> ``(nac,)`` dict): their new states and the fluxes (``qt`` in m3/s)."""
        new_snow, snow_fluxes = snow_step(params, {k: states[k] for k in snow_states}, atmos)
        prcp = atmos["prcp"] + snow_fluxes["mlt"] if snow_fluxes else atmos["prcp"]
        inputs = HydroInputs(prcp, atmos["pet"], imperviousness, beta, dt, complete)
        new_hydro, fluxes = hydro_step(params, {k: states[k] for k in hydro_states}, inputs)
        # Recorded fluxes as smash reports them: depths in mm/dt, but qt in m3/s.
        return {**new_snow, **new_hydro}, {**snow_fluxes, **fluxes, "qt": fluxes["qt"] * to_discharge}

    def route(states, memory, fluxes, inflow):
        """The routing step of every cell from the runoff in ``fluxes``."""
        routing_state = {k: states[k] for k in routing_states}
        return structure.routing.step(params, routing_state, memory, fluxes["qt"], graph, dt, inflow)

    def advance(states, memory, atmos, inflow):
        """One step of every cell: new states, the routing step's result and the fluxes."""
        produced, fluxes = produce(states, atmos)
        routed = route(states, memory, fluxes, inflow)
        return {**produced, **routed.states}, routed, fluxes

    def kept(new_states, routed, fluxes):
        out = {"q": routed.q[gauge_index]}
        if record.states:
            out["states"] = new_states
        if record.q_domain:
            out["q_domain"] = routed.q
        if record.fluxes:
            out["fluxes"] = {**fluxes, **routed.fluxes}
        return out

    memory = structure.routing.memory(nac, dtype) if structure.routing.memory else {}
    states0 = {k: inputs.initial_states[k] for k in structure.states}
    n_steps = forcing.ntime_step
    if n_steps == 0:
        raise ValueError("the forcing has no time step: a run needs at least one")
    if uses_wavefront(structure, graph, n_steps, schedule) or isinstance(forcing, WavefrontForcing):
        if schedule == "sweep":
            raise ValueError("forcing in wavefront order needs schedule='wavefront' or 'auto', not 'sweep'")
        if isinstance(forcing, Forcing) and forcing_copy_fits(forcing, graph):
            forcing = wavefront_forcing(forcing, graph)
        final_states, records = _wavefront_run(advance, kept, states0, memory, forcing, graph, gauge_index)
    else:
        # Software-pipelined: loop iteration t routes step t - 1 while the snow and hydrological
        # operators run step t. No such operator reads a routed discharge, so the two are
        # independent, and XLA's CPU runtime runs the routing sweep (serial, level after level) on
        # one worker beside the operators' kernels, which share out over the others. The operations,
        # and so the results, are those of one step after the other. A step's fluxes wait in the
        # carry for their routing and records: all of them when recorded, otherwise the runoff.
        fields = forcing_fields(forcing)

        def atmos_at(row):
            return {name: field[row] for name, field in fields.items()}

        def pending(fluxes):
            return fluxes if record.fluxes else {"qt": fluxes["qt"]}

        def one_step(carry, xs):
            states, memory, fluxes = carry
            row, last = xs
            produced, new_fluxes = produce(states, atmos_at(row))
            # The last iteration has no step left to produce: it runs the last forcing row again
            # and keeps the states it had (cheaper than a second copy of the routing after the loop).
            produced = {k: jnp.where(last, states[k], v) for k, v in produced.items()}
            routed = route(states, memory, fluxes, None)
            routed_states = {**states, **routed.states}
            new_states = {**produced, **routed.states}
            return (new_states, routed.memory, pending(new_fluxes)), kept(routed_states, routed, fluxes)

        rows = jnp.arange(n_steps) if forcing.index is None else forcing.index
        produced, fluxes = produce(states0, atmos_at(rows[0]))
        following = (jnp.concatenate([rows[1:], rows[-1:]]), jnp.arange(n_steps) == n_steps - 1)
        step = jax.checkpoint(one_step, policy=_KEEP_SWEEP)
        carry = ({**states0, **produced}, memory, pending(fluxes))
        (final_states, _, _), records = _scan(step, carry, following, 2 * nac * dtype.itemsize)
    return SimulationOutput(
        q=records["q"].T,
        final_states=final_states,
        states=records.get("states"),
        q_domain=records.get("q_domain"),
        fluxes=records.get("fluxes"),
    )


def _snow_step(module: Module, forcing: Forcing | WavefrontForcing):
    """The snow step of a run, ``(params, states, atmos) -> (new_states, fluxes)`` with ``atmos``
    a step's forcing by field name: the module's, or, for a module run without snowfall or
    temperature, a step that keeps the store and melts nothing (smash reads missing values then)."""
    if module.step is None:
        return lambda params, states, atmos: ({}, {})
    if forcing.snow is None or forcing.temp is None:
        return lambda params, states, atmos: (states, {k: jnp.zeros_like(atmos["prcp"]) for k in module.fluxes})
    return lambda params, states, atmos: module.step(params, states, atmos["snow"], atmos["temp"])


def uses_wavefront(structure: Structure, graph: FlowGraph, n_steps: int, schedule: str = "auto") -> bool:
    """Whether ``simulate`` runs ``structure`` on ``graph`` for ``n_steps`` steps under the
    wavefront schedule: ``"auto"`` takes it for routed structures when its ``n_levels - 1`` extra
    steps are at most a quarter of the run (long series on catchments of moderate extent)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "auto":
        return structure.routing.name != "zero" and 4 * (graph.n_levels - 1) <= n_steps
    return schedule == "wavefront"


def _wavefront_run(advance, kept, states0, memory0, forcing: Forcing | WavefrontForcing, graph: FlowGraph, gauge_index):
    """The run under the wavefront schedule (cells outside the period at a scheduled step keep
    their states). Returns the final states and the records, put back in time order."""
    nac = graph.nac
    n_steps = forcing.ntime_step
    offset = graph.wave_offset
    downstream = graph.downstream[:nac]
    scheduled = jnp.arange(n_steps + graph.n_levels - 1)
    fields = forcing_fields(forcing)
    if isinstance(forcing, WavefrontForcing):
        xs = (scheduled, fields)

        def forcing_at(xs):
            return xs[1]
    else:
        xs = (scheduled,)
        cells = jnp.arange(nac)

        def forcing_at(xs):
            rows = _wavefront_rows(forcing, offset, xs[0])
            return {name: field[rows, cells] for name, field in fields.items()}

    def wave_step(carry, xs):
        states, memory, upstream_q = carry
        # Every cell runs one scheduled step after the cells draining into it (at the same time
        # step), so their discharge the step before is its inflow now. Outlets drain into the sink
        # (index nac), which the scatter drops. The scatter (serial) runs beside the hydrological
        # operators' kernels, which do not need it.
        inflow = jnp.zeros(nac, upstream_q.dtype).at[downstream].add(upstream_q, mode="drop")
        s = xs[0]
        atmos = forcing_at(xs)
        t = s - offset
        active = (t >= 0) & (t < n_steps)
        new_states, routed, fluxes = advance(states, memory, atmos, inflow)
        keep = functools.partial(jnp.where, active)
        states = jax.tree_util.tree_map(keep, new_states, states)
        memory = jax.tree_util.tree_map(keep, routed.memory, memory)
        return (states, memory, routed.q), kept(new_states, routed, fluxes)

    q0 = jnp.zeros(nac, forcing.prcp.dtype)
    (final_states, _, _), records = _scan(jax.checkpoint(wave_step), (states0, memory0, q0), xs)
    times = jnp.arange(n_steps)[:, None]
    q = jnp.take_along_axis(records.pop("q"), times + offset[gauge_index][None, :], axis=0)
    records = jax.tree_util.tree_map(lambda a: jnp.take_along_axis(a, times + offset[None, :], axis=0), records)
    return final_states, {"q": q, **records}


def _scan(step, carry0, xs, extra_bytes: int = 0):
    """``lax.scan(step, carry0, xs)``, in checkpointed chunks when what the reverse pass keeps of
    every step (the carry, and ``extra_bytes``) would exceed ``CHECKPOINT_BUDGET`` in all."""
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    carry_bytes = sum(a.size * a.dtype.itemsize for a in jax.tree_util.tree_leaves(carry0))
    if n * (carry_bytes + extra_bytes) <= CHECKPOINT_BUDGET or n < 4:
        return lax.scan(step, carry0, xs)
    return _chunked_scan(step, carry0, xs)


def chunk_length(n: int) -> int:
    """Steps per checkpointed chunk of an ``n``-step loop: of the lengths that keep no more steps
    in memory (chunk boundaries plus one chunk) than chunks of ``ceil(sqrt(n))`` steps, the one
    that runs the fewest padding steps, then keeps the fewest."""

    def n_chunks(length: int) -> int:
        return -(-n // length)

    root = math.ceil(math.sqrt(n))
    kept = root + n_chunks(root)
    lengths = [c for c in range(1, kept + 1) if c + n_chunks(c) <= kept]
    return min(lengths, key=lambda c: (n_chunks(c) * c, c + n_chunks(c)))


def _chunked_scan(step, carry0, xs):
    """``lax.scan(step, carry0, xs)`` as a scan of checkpointed chunks of about sqrt(n) steps
    (:func:`chunk_length`); the padding steps at the end (repeats of the last ``xs``) leave the
    carry unchanged and their records are dropped."""
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    chunk = chunk_length(n)
    n_chunks = -(-n // chunk)
    padded = jax.tree_util.tree_map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], n_chunks * chunk - n, 0)]), xs)
    live = jnp.arange(n_chunks * chunk) < n

    def masked_step(carry, xs):
        x, keep = xs
        new, record = step(carry, x)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, carry), record

    @jax.checkpoint
    def run_chunk(carry, xs):
        return lax.scan(masked_step, carry, xs)

    shaped = jax.tree_util.tree_map(lambda a: a.reshape(n_chunks, chunk, *a.shape[1:]), (padded, live))
    final, records = lax.scan(run_chunk, carry0, shaped)
    records = jax.tree_util.tree_map(lambda a: a.reshape(n_chunks * chunk, *a.shape[2:])[:n], records)
    return final, records


simulate_jit = jax.jit(simulate, static_argnames=("record", "schedule"))
"""``simulate`` as one compiled program per structure, shapes, ``record`` and ``schedule``."""
