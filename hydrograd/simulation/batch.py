"""Catchments of different sizes run as one compiled program: every per-cell array padded to a
common :class:`BatchShape`, stacked along a leading batch axis, and the core run under
``jax.vmap``.

Padding keeps each catchment's numbers: the padded cells drain into the sink, receive nothing,
are never observed, and hold copies of a real cell's values (so that everything stays finite,
gradients included); the graph's levels are regrouped in one bucket of the common width, levels
past a catchment's own last one are empty, and its wavefront delays shift by the difference in
depth (every cell still runs one scheduled step after the cells that drain into it). The forcing
already in wavefront order gains as many copies of its first row.

Everything here works on host (numpy) copies: padding hundreds of catchments op by op on the
device would compile a small program per catchment shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from hydrograd.core.graph import Bucket, FlowGraph
from hydrograd.core.simulate import (
    CoreInputs,
    Forcing,
    Record,
    SimulationOutput,
    WavefrontForcing,
    forcing_fields,
    simulate,
)

CELL_QUANTUM = 64
"""Padded cell counts are multiples of this, so that batches of similar catchments share programs."""
LEVEL_QUANTUM = 8
"""Padded level counts are multiples of this, for the same reason."""


class BatchShape(NamedTuple):
    """The common shape of a batch: ``nac`` active cells, ``n_levels`` flow-graph levels, all in
    one bucket ``width`` cells wide, and ``ng`` gauges."""

    nac: int
    n_levels: int
    width: int
    ng: int


def _round_up(n: int, quantum: int) -> int:
    return -(-max(n, 1) // quantum) * quantum


def batch_shape(inputs: Sequence[CoreInputs]) -> BatchShape:
    """The smallest rounded shape the catchments of ``inputs`` all fit in."""
    graphs = [one.graph for one in inputs]
    widest = max(int(np.max(np.concatenate([np.asarray(b.counts) for b in g.buckets]))) for g in graphs)
    return BatchShape(
        nac=_round_up(max(g.nac for g in graphs), CELL_QUANTUM),
        n_levels=_round_up(max(g.n_levels for g in graphs), LEVEL_QUANTUM),
        width=1 << int(np.ceil(np.log2(max(widest, 1)))),
        ng=max(1, *(int(np.size(one.gauge_index)) for one in inputs)),
    )


def pad_cells(values: Any, nac: int, axis: int = -1) -> np.ndarray:
    """``values`` with its cell axis ``axis`` padded to ``nac`` cells by copies of the last one."""
    values = np.asarray(values)
    widths = [(0, 0)] * values.ndim
    widths[axis] = (0, nac - values.shape[axis])
    return np.pad(values, widths, mode="edge")


def pad_graph(graph: FlowGraph, shape: BatchShape) -> FlowGraph:
    """``graph`` in the batch's shape (host arrays): ``shape.nac`` cells in one bucket of
    ``shape.width`` lanes over ``shape.n_levels`` levels, the sink at index ``shape.nac``."""
    nac, size = graph.nac, shape.nac + shape.width
    starts = np.concatenate([np.asarray(b.starts) for b in graph.buckets])
    counts = np.concatenate([np.asarray(b.counts) for b in graph.buckets])
    extra = shape.n_levels - starts.size
    downstream = np.asarray(graph.downstream)[:nac]

    def tail(values: Any, fill: Any) -> np.ndarray:
        values = np.asarray(values)[:nac]
        return np.concatenate([values, np.full(size - nac, fill, values.dtype)])

    return FlowGraph(
        cell_area=pad_cells(graph.cell_area, shape.nac),
        downstream=tail(np.where(downstream >= nac, shape.nac, downstream), shape.nac),
        has_upstream=tail(graph.has_upstream, False),
        upstream_area=tail(graph.upstream_area, 0.0),
        dx=tail(graph.dx, 1.0),
        wave_offset=np.concatenate(
            [np.asarray(graph.wave_offset) + (shape.n_levels - graph.n_levels), np.zeros(shape.nac - nac, np.int32)]
        ).astype(np.int32),
        buckets=(
            Bucket(
                np.concatenate([starts, np.zeros(extra, starts.dtype)]),
                np.concatenate([counts, np.zeros(extra, counts.dtype)]),
                np.arange(shape.width, dtype=np.int32),
            ),
        ),
    )


def pad_forcing(forcing: Forcing | WavefrontForcing, graph: FlowGraph, shape: BatchShape) -> Forcing | WavefrontForcing:
    """``forcing`` of a catchment run on ``graph``, in the batch's shape (host arrays)."""
    fields = forcing_fields(forcing)
    if isinstance(forcing, WavefrontForcing):
        extra = shape.n_levels - graph.n_levels
        fields = {k: np.concatenate([np.repeat(np.asarray(v)[:1], extra, 0), np.asarray(v)]) for k, v in fields.items()}
        padded = {k: pad_cells(v, shape.nac) for k, v in fields.items()}
        return WavefrontForcing(ntime_step=forcing.ntime_step, complete=forcing.complete, **padded)
    padded = {k: pad_cells(v, shape.nac) for k, v in fields.items()}
    index = None if forcing.index is None else np.asarray(forcing.index)
    return Forcing(**padded, index=index, complete=forcing.complete)


def gauge_rows(order: np.ndarray, ng: int) -> np.ndarray:
    """Which of a catchment's gauges each of the batch's ``ng`` gauge rows holds: ``order`` (its
    gauges in the order the batch wants them), then copies of the first."""
    order = np.asarray(order, dtype=np.int64)
    return np.concatenate([order, np.full(ng - order.size, order[0])])


def pad_core_inputs(inputs: CoreInputs, shape: BatchShape, gauge_order: np.ndarray | None = None) -> CoreInputs:
    """A catchment's core inputs in the batch's shape (host arrays); ``gauge_order``: its gauges in
    the order the batch's gauge rows take them (by default their own)."""
    cells = functools.partial(pad_cells, nac=shape.nac)
    gauge_index = np.asarray(inputs.gauge_index)
    order = np.arange(gauge_index.size) if gauge_order is None else gauge_order
    return inputs.replace(
        params={k: cells(v) for k, v in inputs.params.items()},
        initial_states={k: cells(v) for k, v in inputs.initial_states.items()},
        forcing=pad_forcing(inputs.forcing, inputs.graph, shape),
        graph=pad_graph(inputs.graph, shape),
        gauge_index=gauge_index[gauge_rows(order, shape.ng)] if gauge_index.size else np.zeros(shape.ng, np.int32),
        imperviousness=cells(inputs.imperviousness),
        flux_correction=jax.tree_util.tree_map(np.asarray, inputs.flux_correction),
    )


def stack(trees: Sequence[Any]) -> Any:
    """PyTrees of one structure stacked leaf by leaf along a new leading axis (host arrays);
    ValueError naming the first leaf whose shapes differ."""
    structure = jax.tree_util.tree_structure(trees[0])
    leaves = [jax.tree_util.tree_leaves(t) for t in trees]
    for t, tree in enumerate(trees[1:], start=1):
        if jax.tree_util.tree_structure(tree) != structure:
            raise ValueError(
                f"catchment {t} of the batch does not hold the inputs catchment 0 holds (other fields, e.g. a snow "
                "module's forcing or a hybrid network): a batch runs catchments built alike"
            )
    out = []
    for i in range(len(leaves[0])):
        shapes = {np.shape(leaf[i]) for leaf in leaves}
        if len(shapes) > 1:
            raise ValueError(f"the batch's catchments differ in the shape of an input (shapes {sorted(shapes)})")
        out.append(np.stack([np.asarray(leaf[i]) for leaf in leaves]))
    return jax.tree_util.tree_unflatten(structure, out)


def member(tree: Any, k: int) -> Any:
    """Member ``k`` of a stacked PyTree (host arrays)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[k], tree)


def batch_sharding(n_devices: int | None = None) -> jax.sharding.NamedSharding:
    """The batch axis split over the first ``n_devices`` devices (all of the default backend's
    local devices by default); the other axes stay whole on each device."""
    devices = jax.local_devices()
    devices = devices[: n_devices or len(devices)]
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def to_batch_device(tree: Any, sharding: jax.sharding.NamedSharding, dtype: Any = None) -> Any:
    """A stacked host PyTree on the batch's devices, floating leaves cast to ``dtype`` if given;
    the batch size must be a multiple of the number of devices."""

    def put(a):
        a = np.asarray(a)
        if dtype is not None and np.issubdtype(a.dtype, np.floating):
            a = a.astype(dtype)
        return jax.device_put(a, sharding)

    return jax.tree_util.tree_map(put, tree)


def filled_batch(items: Sequence[Any], size: int) -> list[Any]:
    """``items`` followed by copies of the last one up to ``size`` (a batch of fixed size reuses
    its compiled program; the copies' results are dropped)."""
    return list(items) + [items[-1]] * (size - len(items))


@functools.partial(jax.jit, static_argnames=("record",))
def simulate_batch(inputs: CoreInputs, record: Record) -> SimulationOutput:
    """:func:`~hydrograd.core.simulate.simulate` over stacked, padded catchments (leading batch
    axis on every array), as one compiled program."""
    return jax.vmap(lambda one: simulate(one, record))(inputs)


def unpad_output(output: SimulationOutput, k: int, nac: int, gauge_order: np.ndarray) -> SimulationOutput:
    """Catchment ``k``'s run, on its ``nac`` cells and its gauges (``gauge_order`` as given to
    :func:`pad_core_inputs`), from a batch's output (host arrays)."""
    host = member(output, k)
    return SimulationOutput(
        q=host.q[: len(gauge_order)][np.argsort(gauge_order)],
        final_states={name: v[:nac] for name, v in host.final_states.items()},
        states=None if host.states is None else {name: v[:, :nac] for name, v in host.states.items()},
        q_domain=None if host.q_domain is None else host.q_domain[:, :nac],
        fluxes=None if host.fluxes is None else {name: v[:, :nac] for name, v in host.fluxes.items()},
    )


def forward_batch(
    inputs: Sequence[CoreInputs],
    record: Record,
    batch_size: int | None = None,
    n_devices: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SimulationOutput]:
    """Forward runs of many catchments (same structure, time step and period), in batches of
    ``batch_size`` catchments (all at once by default), each batch one program split over
    ``n_devices`` devices; each catchment's output as a run alone gives it. ``progress(n)`` is
    called after each batch with its number of catchments."""
    check_batchable(inputs)
    sharding = batch_sharding(n_devices)
    n_dev = sharding.mesh.size
    size = _round_up(min(batch_size or len(inputs), len(inputs)), n_dev)
    order = sorted(range(len(inputs)), key=lambda k: inputs[k].graph.nac)
    outputs: list[SimulationOutput | None] = [None] * len(inputs)
    for first in range(0, len(order), size):
        chunk = order[first : first + size]
        members = [inputs[k] for k in chunk]
        shape = batch_shape(members)
        padded = stack(filled_batch([pad_core_inputs(m, shape) for m in members], size))
        dtype = members[0].forcing.prcp.dtype
        result = simulate_batch(to_batch_device(padded, sharding, dtype), record)
        result = jax.tree_util.tree_map(np.asarray, result)
        for j, k in enumerate(chunk):
            gauges = np.arange(np.size(inputs[k].gauge_index))
            outputs[k] = unpad_output(result, j, inputs[k].graph.nac, gauges)
        if progress is not None:
            progress(len(chunk))
    return outputs


def check_batchable(inputs: Sequence[CoreInputs]) -> None:
    """ValueError unless the catchments can run in one program: at least one, all with the same
    structure, time step, number of steps and forcing fields."""
    if not inputs:
        raise ValueError("a batch needs at least one catchment")
    first = inputs[0]

    def signature(one: CoreInputs) -> dict[str, Any]:
        return {
            "structure": one.structure.name,
            "dt": one.dt,
            "ntime_step": one.forcing.ntime_step,
            "forcing fields": tuple(forcing_fields(one.forcing)),
            "hybrid network": one.flux_correction is not None,
        }

    reference = signature(first)
    for k, one in enumerate(inputs[1:], start=1):
        for key, value in signature(one).items():
            if value != reference[key]:
                raise ValueError(
                    f"catchment {k} of the batch differs from catchment 0 in its {key} ({value!r} against "
                    f"{reference[key]!r}): a batch runs catchments of one structure, time step and period; "
                    "split it into batches that share them"
                )
