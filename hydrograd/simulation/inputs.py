"""A model's starting maps, and the core's inputs from grid maps: the one conversion from
``(nrow, ncol)`` maps and ``(nrow, ncol, T)`` forcing (or forcing in smash's sparse storage) to
the 1-D active-cell arrays ``hydrograd.core.simulate`` runs on."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hydrograd._arrays import HostArrays, to_device_tree
from hydrograd._process import SHARED_POOL_MIN_CELLS
from hydrograd.core.parameters import RR_STATES, default_parameter_value
from hydrograd.core.registry import Structure
from hydrograd.core.simulate import CoreInputs, Forcing, is_complete
from hydrograd.core.structures.hybrid import flux_correction_from_layers
from hydrograd.core.structures.snow import MISSING_TEMPERATURE
from hydrograd.mesh.layout import CellLayout, IndexedMesh
from hydrograd.preprocess.sparse import SparseSeries, decode


def default_parameters(
    structure: Structure, dt: float, grid: tuple[int, int], interception: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """smash's default parameter maps (float32, ``grid``-shaped) of ``structure`` at time step
    ``dt`` s; ``interception``: the interception capacity map ``ci`` takes when given."""
    maps = {k: np.full(grid, default_parameter_value(k, dt), np.float32) for k in structure.parameters}
    if interception is not None and "ci" in maps:
        maps["ci"][...] = interception
    return maps


def default_states(structure: Structure, grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """smash's default initial state maps (float32, ``grid``-shaped) of ``structure``."""
    return {k: np.full(grid, RR_STATES[k].default, np.float32) for k in structure.states}


def network_arrays(neurons: np.ndarray, n_layers: int) -> dict[str, np.ndarray]:
    """A model's ``nn_parameters`` as smash allocates them: ``weight_i`` ``(neurons[i], neurons[i-1])``
    and ``bias_i`` ``(neurons[i],)`` (float32) for every consecutive pair of the setup's ``neurons``,
    zeros for the ``n_layers`` layers a hybrid structure uses (it then behaves exactly as its
    conceptual base, smash's start) and smash's -99 placeholders for the others."""
    out = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(int(n) for n in neurons), start=1):
        fill = 0.0 if i <= n_layers else -99.0
        out[f"weight_{i}"] = np.full((n_out, n_in), fill, dtype=np.float32)
        out[f"bias_{i}"] = np.full(n_out, fill, dtype=np.float32)
    return out


def require_active_cells(layout: CellLayout) -> None:
    """ValueError unless the mesh has an active cell to simulate."""
    if layout.nac == 0:
        raise ValueError(
            f"the mesh has no active cell (nac = 0, grid {layout.shape}): nothing can be simulated or "
            "calibrated on it; a mesh that only gives the grid geometry (xmin, ymax, xres, yres, nrow, ncol) "
            "serves to read forcing. Simulating needs 'nac', 'active_cell', 'flwdir', 'flwacc', 'dx' and 'dy' "
            "(as smash.factory.generate_mesh makes them)"
        )


def active_forcing(layout: CellLayout, forcing: np.ndarray | SparseSeries, out: np.ndarray | None = None) -> np.ndarray:
    """One forcing on the active cells, ``(ntime_step, nac)`` in the flow graph's order, on the host:
    from a ``(nrow, ncol, ntime_step)`` grid (into ``out`` when given, see
    :meth:`CellLayout.series_to_active`), or decoded from smash's sparse storage (one matrix per
    step; no grid is built). ValueError for sparse matrices that do not fit the mesh."""
    if isinstance(forcing, SparseSeries):
        return decode(forcing, layout.nac)[:, layout.order]
    return layout.series_to_active(forcing, out)


def active_forcings(
    layout: CellLayout, grids: Mapping[str, np.ndarray | SparseSeries], arrays: HostArrays | None = None
) -> dict[str, np.ndarray]:
    """:func:`active_forcing` of each named forcing; grids are gathered into ``arrays``' array of
    their name when given (the memory of the previous gather when it is free). A large domain's
    fields (from ``SHARED_POOL_MIN_CELLS`` active cells) are gathered at the same time, one thread
    each: numpy gathers outside the interpreter's lock, and the memory traffic of one field does not
    use a core's worth of bandwidth."""
    outs = {
        name: arrays.take(name, (grid.shape[2], layout.nac), grid.dtype)
        if arrays is not None and isinstance(grid, np.ndarray) and grid.ndim == 3
        else None
        for name, grid in grids.items()
    }
    if len(grids) < 2 or layout.nac < SHARED_POOL_MIN_CELLS:
        return {name: active_forcing(layout, grid, outs[name]) for name, grid in grids.items()}
    with ThreadPoolExecutor(max_workers=len(grids), thread_name_prefix="hydrograd-gather") as threads:
        gathered = threads.map(lambda name: active_forcing(layout, grids[name], outs[name]), grids)
        return dict(zip(grids, gathered, strict=True))


def core_inputs(
    structure: Structure,
    dt: float,
    mesh: IndexedMesh,
    parameters: Mapping[str, np.ndarray],
    initial_states: Mapping[str, np.ndarray],
    prcp: np.ndarray | SparseSeries,
    pet: np.ndarray | SparseSeries,
    imperviousness: np.ndarray,
    network: Mapping[str, np.ndarray] | None = None,
    snow: np.ndarray | SparseSeries | None = None,
    temp: np.ndarray | SparseSeries | None = None,
    host_arrays: HostArrays | None = None,
) -> CoreInputs:
    """:class:`CoreInputs` on the device from grid values.

    ``parameters`` and ``initial_states``: each of the structure's names -> ``(nrow, ncol)`` map;
    ``prcp``, ``pet`` and, for a snow module, ``snow`` (snowfall, mm/dt) and ``temp`` (°C):
    ``(nrow, ncol, ntime_step)`` (negative = missing, temperatures at or below -99), or the same in
    sparse storage (see :func:`active_forcing`); ``imperviousness``: ``(nrow, ncol)``;
    ``network``: a hybrid structure's ``weight_1, bias_1, ...`` (smash's layout), None otherwise;
    ``host_arrays``: the caller's arrays to gather the forcing into (see :func:`active_forcings`).

    The forcing carries ``snow`` and ``temp`` when both are given and some cell has both at some
    step; otherwise the snow module can melt nothing (as smash runs it on missing values) and they
    are left out, which runs the same numbers without them. The forcing is marked complete when no
    value of ``prcp`` and ``pet`` is missing. Both are decided on the host copy (on an accelerator
    the device copy would come back for it). ValueError for a mesh without active cells.
    """
    layout = mesh.layout
    require_active_cells(layout)
    grids = {"prcp": prcp, "pet": pet}
    if snow is not None and temp is not None:
        grids.update(snow=snow, temp=temp)
    forcing = active_forcings(layout, grids, host_arrays)
    if "snow" in forcing and not np.any((forcing["snow"] >= 0.0) & (forcing["temp"] > MISSING_TEMPERATURE)):
        del forcing["snow"], forcing["temp"]
    host = {
        "params": {k: layout.to_active(parameters[k]) for k in structure.parameters},
        "initial_states": {k: layout.to_active(initial_states[k]) for k in structure.states},
        "forcing": forcing,
        "gauge_index": np.asarray(mesh.gauge_cells, dtype=np.int32),
        "imperviousness": layout.to_active(imperviousness),
        "network": dict(network) if network else {},
    }
    device = to_device_tree(host)  # one transfer for every array
    return CoreInputs(
        structure=structure,
        dt=dt,
        params=device["params"],
        initial_states=device["initial_states"],
        forcing=Forcing(**device["forcing"], complete=is_complete(forcing["prcp"], forcing["pet"])),
        graph=mesh.graph,
        gauge_index=device["gauge_index"],
        imperviousness=device["imperviousness"],
        flux_correction=flux_correction_from_layers(device["network"]) if network else None,
    )
