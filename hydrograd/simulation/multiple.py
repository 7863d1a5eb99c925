"""Many forward runs of one model in one compiled program: smash's ``multiple_forward_run``.

The core is ``vmap``-ed over a batch of parameter and initial-state values: every run shares the
forcing, the flow graph and the other parameters, and the batch axis leads every array the time
loop carries. Batches bounded by :data:`BATCH_BYTES` follow one another inside the same program
(``lax.map``): on an accelerator a France-size domain runs a few sets at a time and a small
catchment hundreds; on a CPU a batch fits a core's cache. When verbose, each finished batch
calls back to the host to move smash's progress line on (a separate compilation: the quiet
program has no callback).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hydrograd.core.cost import CostData, ObservationCost, observation_cost
from hydrograd.core.simulate import (
    CoreInputs,
    Forcing,
    forcing_copy_fits,
    simulate,
    uses_wavefront,
    wavefront_forcing,
)
from hydrograd.mesh.layout import CellLayout
from hydrograd.simulation.cost import warn_unobserved_gauges

BATCH_BYTES = {"cpu": 1 << 18, "accelerator": 1 << 30}
"""Bytes the runs of one batch may hold at a time (their parameters, states, fluxes and step
temporaries, and their discharge records), from which :func:`batch_size` derives the number of
runs. On a CPU a batch that stays in a core's cache runs fastest: on Lez (172 cells) 1,000 runs
took 0.9 s in batches of 4, 1.5 s in batches of 16 to 64 and 3 to 4 s in one batch; on Cance
(383 cells, 1,440 steps) 200 runs took 2.4 s in batches of 2 to 4 and 6.8 s in one. An accelerator
wants the widest batches that fit its memory."""

# Arrays of one cell a run holds during a step, besides its parameters, states and fluxes
# (the step's temporaries), counted for the batch size.
_STEP_TEMPORARIES = 16


def batch_size(inputs: CoreInputs, n: int, budget: int | None = None) -> int:
    """How many of ``n`` runs of ``inputs`` go into one batch: as many as ``budget`` bytes hold
    (default: :data:`BATCH_BYTES` of JAX's default backend), at least one."""
    if budget is None:
        budget = BATCH_BYTES["cpu" if jax.default_backend() == "cpu" else "accelerator"]
    structure, graph = inputs.structure, inputs.graph
    per_cell = len(structure.parameters) + 2 * len(structure.states) + len(structure.fluxes) + _STEP_TEMPORARIES
    n_rows = inputs.forcing.ntime_step + graph.n_levels
    itemsize = inputs.forcing.prcp.dtype.itemsize
    per_run = (per_cell * graph.nac + 2 * len(inputs.gauge_index) * n_rows) * itemsize
    return int(max(1, min(n, budget // per_run)))


def _scheduled(inputs: CoreInputs) -> CoreInputs:
    """``inputs`` with the forcing put once, on the host, in the order the wavefront schedule reads
    it, when ``simulate`` runs them under that schedule and the copy fits its budget; otherwise as
    they are (each run would otherwise reorder it again)."""
    forcing, graph = inputs.forcing, inputs.graph
    if not isinstance(forcing, Forcing):
        return inputs
    if not (uses_wavefront(inputs.structure, graph, forcing.ntime_step) and forcing_copy_fits(forcing, graph)):
        return inputs
    return inputs.replace(forcing=jax.device_put(wavefront_forcing(forcing, graph, xp=np)))


def progress_line(done: int, n: int) -> str:
    """smash's progress of ``done`` runs out of ``n`` (a whole percentage, rounded down), which a
    carriage return puts over the previous one."""
    return f"\r    Forward Run {done}/{n} ({100 * done // n}%)"


def _report_batch(index: np.ndarray, n: np.ndarray, _: np.ndarray, *, size: int) -> None:
    """Host side of the progress: batch ``index`` of ``size`` runs is done (the last argument, its
    costs, only orders the call after the batch)."""
    n = int(n)
    print(progress_line(min((int(index) + 1) * size, n), n), end="", flush=True)


@functools.partial(jax.jit, static_argnames=("spec", "report"))
def _batched_runs(
    inputs: CoreInputs,
    batches: dict[str, jax.Array],
    q_obs: jax.Array,
    data: CostData | None,
    n: jax.Array,
    spec: ObservationCost,
    report: bool,
) -> tuple[jax.Array, jax.Array]:
    """Cost ``(n_batch, size)`` and discharge ``(n_batch, size, ng, ntime_step)`` of the runs whose
    values ``batches`` holds (name -> ``(n_batch, size)`` or ``(n_batch, size, nac)``); ``n`` runs
    in all (the rest pads the last batch). With ``report``, each finished batch prints smash's
    progress line (:func:`progress_line`)."""
    nac = inputs.graph.nac
    n_batch, size = next(iter(batches.values())).shape[:2]

    def one_run(values: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        def replaced(current: dict[str, jax.Array]) -> dict[str, jax.Array]:
            given = {k: jnp.broadcast_to(v, (nac,)).astype(current[k].dtype) for k, v in values.items() if k in current}
            return {**current, **given}

        run = inputs.replace(params=replaced(inputs.params), initial_states=replaced(inputs.initial_states))
        q = simulate(run).q
        return observation_cost(q, q_obs, spec, data), q

    def one_batch(batch: tuple[jax.Array, dict[str, jax.Array]]) -> tuple[jax.Array, jax.Array]:
        index, values = batch
        cost, q = jax.vmap(one_run)(values)
        if report:
            jax.debug.callback(functools.partial(_report_batch, size=size), index, n, cost, ordered=True)
        return cost, q

    return lax.map(one_batch, (jnp.arange(n_batch), batches))


def multiple_forward(
    inputs: CoreInputs,
    values: Mapping[str, np.ndarray],
    q_obs: np.ndarray,
    spec: ObservationCost,
    data: CostData | None = None,
    size: int | None = None,
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``inputs`` once per set of ``values`` and measure each run's cost ``spec``.

    ``values``: parameter or initial-state name -> ``(n,)`` (one uniform value per run) or
    ``(n, nac)`` (one value per active cell, in the flow graph's order), in the units of the
    parameter; the names not given keep the values of ``inputs``. ``q_obs``: ``(ng, ntime_step)``
    observed discharge (m3/s); ``data``: what the signature components of ``spec`` need.
    ``size``: runs per batch (default :func:`batch_size`). ``verbose``: print smash's progress
    lines (``    Forward Run k/n (p%)`` on one line, moved on at each finished batch).

    Returns the cost of each run, float32 ``(n,)``, and the discharge at the gauges, float32
    ``(ng, ntime_step, n)`` m3/s, as smash lays them out.
    """
    n = len(next(iter(values.values())))
    size = batch_size(inputs, n) if size is None else size
    n_batch = -(-n // size)

    def batched(array: np.ndarray) -> np.ndarray:
        padded = np.concatenate([array, np.repeat(array[-1:], n_batch * size - n, axis=0)])
        return padded.reshape(n_batch, size, *array.shape[1:])

    batches = jax.device_put({k: batched(np.asarray(v)) for k, v in values.items()})
    if verbose:
        print(progress_line(0, n), end="", flush=True)
    cost, q = _batched_runs(
        _scheduled(inputs), batches, jax.device_put(np.asarray(q_obs)), data, np.int32(n), spec, verbose
    )
    if verbose:
        jax.effects_barrier()
        print(flush=True)
    cost = np.asarray(cost, dtype=np.float32).reshape(-1)[:n]
    q = np.asarray(q, dtype=np.float32).reshape(n_batch * size, *q.shape[2:])[:n]
    return cost, np.ascontiguousarray(np.moveaxis(q, 0, -1))


def sample_runs(
    inputs: CoreInputs,
    layout: CellLayout,
    values: Mapping[str, np.ndarray],
    q_obs: np.ndarray,
    spec: ObservationCost,
    data: CostData | None,
    codes: Sequence[str],
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`multiple_forward` of sets given on the grid: ``values`` maps a name to ``(n,)``
    uniform values or to ``(nrow, ncol, n)`` maps (``hydrograd.config.samples``). Warns about the
    gauges of ``spec`` without any observation in the cost window (their costs are NaN, as in
    smash); ``codes`` are the gauges' codes; ``verbose`` prints smash's progress."""
    warn_unobserved_gauges(q_obs, codes, spec.gauges, slice(spec.start, None), "in the cost window")
    active = {k: v if v.ndim == 1 else layout.to_active(v).T for k, v in values.items()}
    return multiple_forward(inputs, active, q_obs, spec, data, verbose=verbose)
