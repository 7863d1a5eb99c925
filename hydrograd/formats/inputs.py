"""Read everything a setup names (forcings, observations, descriptors) for a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hydrograd._containers import Fields, Namespace
from hydrograd.config.setup import Setup
from hydrograd.formats.atmos import atmos_steps
from hydrograd.formats.descriptor import read_descriptor, read_imperviousness
from hydrograd.formats.qobs import read_qobs
from hydrograd.mesh.graph import active_cell_index
from hydrograd.preprocess.atmos_stats import mean_atmos_per_gauge, mean_sparse_atmos_per_gauge
from hydrograd.preprocess.interception import adjust_active_interception_capacity, adjust_interception_capacity
from hydrograd.preprocess.sparse import SparseSeries, decode, encode, zvalues

MISSING = np.float32(-99.0)
_ATMOS = ("prcp", "pet")


class _DenseOnly:
    """An ``atmos_data`` attribute that sparse storage does not keep: reading or writing it raises
    ``ValueError`` (smash raises ``ValueError: array is NULL`` there), saying what to use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _error(self) -> ValueError:
        return ValueError(
            f"atmos_data.{self.name} is not available: the model uses sparse storage (setup "
            f"'sparse_storage': True), which keeps atmos_data.sparse_{self.name}, one sparse matrix per "
            f"time step; build the model with 'sparse_storage': False to have the (nrow, ncol, ntime_step) array"
        )

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raise self._error()

    def __set__(self, obj: Any, value: Any) -> None:
        raise self._error()


class SparseAtmosData(Fields):
    """``atmos_data`` of a model with sparse storage: ``sparse_prcp`` and ``sparse_pet``
    (:class:`~hydrograd.preprocess.sparse.SparseSeries`, mm per time step), ``mean_prcp`` and
    ``mean_pet`` ``(ng, ntime_step)``; ``prcp`` and ``pet`` raise ``ValueError``."""

    prcp = _DenseOnly()
    pet = _DenseOnly()


def atmos_namespace(values: Mapping[str, Any], sparse: bool) -> Fields:
    """``atmos_data`` holding ``values`` (``prcp``/``pet`` or ``sparse_prcp``/``sparse_pet``, and
    the means); with dense storage, empty ``sparse_prcp``/``sparse_pet`` as smash has them."""
    if sparse:
        return SparseAtmosData(**values)
    return Fields(**{f"sparse_{k}": SparseSeries() for k in _ATMOS}, **values)


def _steps(setup: Setup, mesh: Namespace, kind: str, verbose: bool):
    """``atmos_steps`` of ``kind`` as the setup names it; (ntime_step, no step at all) when not read."""
    if not getattr(setup, f"read_{kind}"):
        return setup.ntime_step, iter([None] * setup.ntime_step)
    return atmos_steps(
        kind,
        getattr(setup, f"{kind}_directory"),
        start_time=setup.start,
        end_time=setup.end,
        dt=setup.dt,
        grid=mesh,
        fmt=getattr(setup, f"{kind}_format"),
        access=getattr(setup, f"{kind}_access"),
        conversion_factor=getattr(setup, f"{kind}_conversion_factor", 1.0),
        daily_interannual=kind == "pet" and setup.daily_interannual_pet,
        verbose=verbose,
    )


def _atmos(setup: Setup, mesh: Namespace, kind: str, verbose: bool) -> np.ndarray:
    """Dense storage: ``(nrow, ncol, ntime_step)`` float32, -99 where no file (or not read)."""
    ntime_step, steps = _steps(setup, mesh, kind, verbose)
    out = np.full((mesh.nrow, mesh.ncol, ntime_step), MISSING, dtype=np.float32, order="F")
    for k, values in enumerate(steps):
        if values is not None:
            out[..., k] = values
    return out


def _sparse_atmos(setup: Setup, mesh: Namespace, kind: str, verbose: bool) -> SparseSeries:
    """Sparse storage: one matrix per step, with ``zvalue`` 0 for a step read, -99 for a step
    without a file (or not read); the full grid is never held."""
    rows, cols = active_cell_index(mesh.active_cell)
    missing = np.full(rows.size, MISSING, dtype=np.float32)
    _, steps = _steps(setup, mesh, kind, verbose)
    return SparseSeries(
        encode(missing, MISSING) if values is None else encode(values[rows, cols], 0.0) for values in steps
    )


def _descriptor_statistics(descriptor: np.ndarray) -> dict[str, np.ndarray]:
    """Minimum, maximum, mean and standard deviation of each descriptor over the cells of the
    grid where it is known (not -99): the reference values of descriptor transforms."""
    nd = descriptor.shape[-1]
    stats = {
        k: np.zeros(nd, dtype=np.float32) for k in ("l_descriptor", "u_descriptor", "mean_descriptor", "std_descriptor")
    }
    for i in range(nd):
        known = descriptor[..., i][descriptor[..., i] != MISSING]
        if known.size:
            stats["l_descriptor"][i] = known.min()
            stats["u_descriptor"][i] = known.max()
            stats["mean_descriptor"][i] = known.mean()
            stats["std_descriptor"][i] = known.std()
    return stats


@dataclass(frozen=True)
class InputData:
    """A model's data as smash shows them (``atmos_data``, ``physio_data``, ``response_data``:
    attribute bags of arrays), plus the sub-daily interception capacity map
    (``interception_capacity``, ``(nrow, ncol)`` mm; None when the time step does not call for it)."""

    atmos_data: Fields
    physio_data: Fields
    response_data: Fields
    interception_capacity: np.ndarray | None


def read_inputs(setup: Setup, mesh: Namespace, catchments: np.ndarray, *, verbose: bool = True) -> InputData:
    """Read the inputs ``setup`` names on ``mesh``'s grid; ``catchments`` (``(ng, nrow, ncol)``
    bool) are the gauges' catchments for the mean atmospheric series. With
    ``setup.sparse_storage`` the forcing is kept as smash's sparse matrices
    (:class:`SparseAtmosData`), and its means and the interception capacity are computed from
    them, as smash does."""
    adjust = setup.adjust_interception and setup.dt < 86400 and setup.read_prcp and setup.read_pet
    interception = None
    if setup.sparse_storage:
        atmos, interception = _sparse_atmos_data(setup, mesh, catchments, adjust, verbose)
    else:
        prcp = _atmos(setup, mesh, "prcp", verbose)
        pet = _atmos(setup, mesh, "pet", verbose)
        means = {}
        if setup.compute_mean_atmos:
            means = {
                f"mean_{k}": mean_atmos_per_gauge(v, catchments, kind=k) for k, v in (("prcp", prcp), ("pet", pet))
            }
        atmos = atmos_namespace({"prcp": prcp, "pet": pet, **_means(setup, mesh, means)}, sparse=False)
        if adjust:
            interception = adjust_interception_capacity(prcp, pet, mesh.active_cell, setup.start, setup.end, setup.dt)

    grid = (mesh.nrow, mesh.ncol)
    if setup.read_descriptor:
        descriptor = read_descriptor(
            setup.descriptor_directory,
            list(setup.descriptor_name),
            grid=mesh,
            fmt=setup.descriptor_format,
            require_variation=setup.descriptor_tfm != "keep",
        )
    else:
        descriptor = np.zeros((*grid, 0), dtype=np.float32)
    if setup.read_imperviousness:
        imperviousness = read_imperviousness(setup.imperviousness_file, grid=mesh, fmt=setup.imperviousness_format)
    else:
        imperviousness = np.zeros(grid, dtype=np.float32)
    physio = Fields(descriptor=descriptor, imperviousness=imperviousness, **_descriptor_statistics(descriptor))

    if setup.read_qobs:
        q = read_qobs(setup.qobs_directory, list(mesh.code), start_time=setup.start, end_time=setup.end, dt=setup.dt)
    else:
        q = np.full((mesh.ng, setup.ntime_step), MISSING, dtype=np.float32)
    response_data = Fields(q=q)
    return InputData(atmos, physio, response_data, interception)


def _means(setup: Setup, mesh: Namespace, means: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-gauge means computed, else -99 (``compute_mean_atmos`` off)."""
    missing = np.full((mesh.ng, setup.ntime_step), MISSING, dtype=np.float32)
    return {f"mean_{k}": means.get(f"mean_{k}", missing.copy()) for k in _ATMOS}


def _sparse_atmos_data(
    setup: Setup, mesh: Namespace, catchments: np.ndarray, adjust: bool, verbose: bool
) -> tuple[SparseAtmosData, np.ndarray | None]:
    """Sparse ``atmos_data`` and, when ``adjust``, the interception capacity map, computed from the
    decoded active cells as smash does (the ``(nrow, ncol, ntime_step)`` grid is never built)."""
    series = {k: _sparse_atmos(setup, mesh, k, verbose) for k in _ATMOS}
    active = {k: decode(v, int(mesh.nac)) for k, v in series.items()} if setup.compute_mean_atmos or adjust else {}
    means = {}
    if setup.compute_mean_atmos:
        rows, cols = active_cell_index(mesh.active_cell)
        cell_index = np.full((mesh.nrow, mesh.ncol), -1, dtype=np.int64)
        cell_index[rows, cols] = np.arange(rows.size)
        means = {
            f"mean_{k}": mean_sparse_atmos_per_gauge(active[k], zvalues(series[k]), cell_index, catchments, kind=k)
            for k in _ATMOS
        }
    interception = None
    if adjust:
        interception = adjust_active_interception_capacity(
            active["prcp"], active["pet"], mesh.active_cell, setup.start, setup.end, setup.dt
        )
    values = {f"sparse_{k}": v for k, v in series.items()}
    return SparseAtmosData(**values, **_means(setup, mesh, means)), interception
