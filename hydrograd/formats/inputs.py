"""Read everything a setup names (forcings, observations, descriptors) for a model."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hydrograd._containers import Fields, Namespace
from hydrograd.config.setup import Setup
from hydrograd.core.structures.snow import partition_precipitation
from hydrograd.formats.atmos import atmos_steps
from hydrograd.formats.descriptor import read_descriptor, read_imperviousness
from hydrograd.formats.qobs import read_qobs
from hydrograd.mesh.graph import active_cell_index
from hydrograd.preprocess.atmos_stats import mean_atmos_per_gauge, mean_sparse_atmos_per_gauge
from hydrograd.preprocess.interception import adjust_active_interception_capacity, adjust_interception_capacity
from hydrograd.preprocess.sparse import SparseSeries, decode, encode, zvalues

MISSING = np.float32(-99.0)
ATMOS_KINDS = ("prcp", "pet", "snow", "temp")
"""Every forcing a model may hold, in smash's reading order (``snow`` and ``temp`` with a snow module)."""
_SNOW_KINDS = ("snow", "temp")


def atmos_kinds(snow_module_present: bool) -> tuple[str, ...]:
    """The forcing kinds a model holds: ``prcp`` and ``pet``, and ``snow`` and ``temp`` with a snow
    module (smash allocates them then, -99 where not read)."""
    return ATMOS_KINDS if snow_module_present else ATMOS_KINDS[:2]


class _Allocated:
    """An ``atmos_data`` array that smash allocates only for some models: the forcing grids of dense
    storage, and the snowfall and temperature arrays of a model with a snow module. Where the model
    does not hold it, reading or writing it raises ``ValueError`` (smash raises ``ValueError: array
    is NULL`` there), saying why and what to use."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _error(self, data: Fields) -> ValueError:
        kind = self.name.removeprefix("mean_")
        if kind in _SNOW_KINDS and "mean_snow" not in data.__dict__:
            return ValueError(
                f"atmos_data.{self.name} is not available: the model has no snow module (setup 'snow_module' "
                f"'zero'); snowfall and temperature are kept for a snow module such as 'ssn'"
            )
        return ValueError(
            f"atmos_data.{self.name} is not available: the model uses sparse storage (setup "
            f"'sparse_storage': True), which keeps atmos_data.sparse_{self.name}, one sparse matrix per "
            f"time step; build the model with 'sparse_storage': False to have the (nrow, ncol, ntime_step) array"
        )

    def __get__(self, data: Any, owner: type | None = None) -> Any:
        if data is None:
            return self
        try:
            return data.__dict__[self.name]
        except KeyError:
            raise self._error(data) from None

    def __set__(self, data: Any, value: Any) -> None:
        # Reached only when the model does not hold the array (Fields copies into one it holds).
        raise self._error(data)


class AtmosData(Fields):
    """``atmos_data`` of a model with dense storage: ``prcp``, ``pet`` and, with a snow module,
    ``snow`` (mm per time step) and ``temp`` (°C), each ``(nrow, ncol, ntime_step)`` float32; their
    per-gauge means ``mean_prcp``, ``mean_pet``, ``mean_snow``, ``mean_temp`` ``(ng, ntime_step)``;
    and the empty ``sparse_*`` series smash has then. Without a snow module, ``snow``, ``temp``,
    ``mean_snow`` and ``mean_temp`` raise ``ValueError``."""

    prcp = _Allocated()
    pet = _Allocated()
    snow = _Allocated()
    temp = _Allocated()
    mean_snow = _Allocated()
    mean_temp = _Allocated()


class SparseAtmosData(AtmosData):
    """``atmos_data`` of a model with sparse storage: ``sparse_prcp``, ``sparse_pet`` and, with a
    snow module, ``sparse_snow`` and ``sparse_temp`` (:class:`~hydrograd.preprocess.sparse.SparseSeries`,
    one matrix per time step; empty without a snow module), and the means as in :class:`AtmosData`;
    ``prcp``, ``pet``, ``snow`` and ``temp`` raise ``ValueError``."""


def atmos_namespace(values: Mapping[str, Any], sparse: bool) -> AtmosData:
    """``atmos_data`` holding ``values`` (the forcing grids, or their ``sparse_*`` matrices, and the
    means); the ``sparse_*`` series it lacks are empty, as smash has them (every one with dense
    storage, ``sparse_snow`` and ``sparse_temp`` without a snow module)."""
    empty = {f"sparse_{k}": SparseSeries() for k in ATMOS_KINDS}
    return (SparseAtmosData if sparse else AtmosData)(**{**empty, **values})


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
    """A model's data as smash shows them (``atmos_data``: see :class:`AtmosData`; ``physio_data``,
    ``response_data``: attribute bags of arrays), plus the sub-daily interception capacity map
    (``interception_capacity``, ``(nrow, ncol)`` mm; None when the time step does not call for it)."""

    atmos_data: Fields
    physio_data: Fields
    response_data: Fields
    interception_capacity: np.ndarray | None


def read_inputs(setup: Setup, mesh: Namespace, catchments: np.ndarray, *, verbose: bool = True) -> InputData:
    """Read the inputs ``setup`` names on ``mesh``'s grid; ``catchments`` (``(ng, nrow, ncol)``
    bool) are the gauges' catchments for the mean atmospheric series.

    The forcing is read as smash builds it: precipitation, PET and, with a snow module, snowfall
    and temperature (-99 where not read); then, with ``setup.prcp_partitioning``, the
    precipitation (plus any snowfall read) is split into rain and snow by the temperature
    (:func:`~hydrograd.core.structures.snow.partition_precipitation`, with a ``UserWarning`` when
    snowfall is also read); then the per-gauge means and the interception capacity are computed
    from the result. With ``setup.sparse_storage`` the forcing is kept as smash's sparse matrices
    (:class:`SparseAtmosData`), and the means and the interception capacity are computed from
    them, as smash does.
    """
    if setup.prcp_partitioning and setup.read_snow:
        warnings.warn(
            "setup keys 'prcp_partitioning' and 'read_snow' are both True: the snowfall read is added to the "
            "precipitation, and the total is split into rain and snow again by the temperature",
            UserWarning,
            stacklevel=3,
        )
    kinds = atmos_kinds(setup.snow_module_present)
    adjust = setup.adjust_interception and setup.dt < 86400 and setup.read_prcp and setup.read_pet
    interception = None
    if setup.sparse_storage:
        atmos, interception = _sparse_atmos_data(setup, mesh, catchments, kinds, adjust, verbose)
    else:
        fields = {k: _atmos(setup, mesh, k, verbose) for k in kinds}
        if setup.prcp_partitioning:
            fields["prcp"][...], fields["snow"][...] = partition_precipitation(
                fields["prcp"], fields["snow"], fields["temp"], xp=np
            )
        means = {}
        if setup.compute_mean_atmos:
            means = {f"mean_{k}": mean_atmos_per_gauge(v, catchments, kind=k) for k, v in fields.items()}
        atmos = atmos_namespace({**fields, **_means(setup, mesh, kinds, means)}, sparse=False)
        if adjust:
            interception = adjust_interception_capacity(
                fields["prcp"], fields["pet"], mesh.active_cell, setup.start, setup.end, setup.dt
            )

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


def _means(
    setup: Setup, mesh: Namespace, kinds: tuple[str, ...], means: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The per-gauge means of ``kinds`` computed, else -99 (``compute_mean_atmos`` off)."""
    missing = np.full((mesh.ng, setup.ntime_step), MISSING, dtype=np.float32)
    return {f"mean_{k}": means.get(f"mean_{k}", missing.copy()) for k in kinds}


def _partition_sparse(series: dict[str, SparseSeries], nac: int) -> tuple[SparseSeries, SparseSeries]:
    """smash's ``prcp_partitioning`` in sparse storage: the new precipitation and snowfall, each
    step decoded, partitioned on the active cells and encoded again with ``zvalue`` 0 (as smash
    stores them then, a step without any file included)."""
    active = {k: decode(series[k], nac) for k in ("prcp", "snow", "temp")}
    rain, solid = partition_precipitation(active["prcp"], active["snow"], active["temp"], xp=np)
    return SparseSeries(encode(step, 0.0) for step in rain), SparseSeries(encode(step, 0.0) for step in solid)


def _sparse_atmos_data(
    setup: Setup, mesh: Namespace, catchments: np.ndarray, kinds: tuple[str, ...], adjust: bool, verbose: bool
) -> tuple[SparseAtmosData, np.ndarray | None]:
    """Sparse ``atmos_data`` of the forcing ``kinds`` and, when ``adjust``, the interception capacity
    map, computed from the decoded active cells as smash does (the ``(nrow, ncol, ntime_step)``
    grid is never built)."""
    nac = int(mesh.nac)
    series = {k: _sparse_atmos(setup, mesh, k, verbose) for k in kinds}
    if setup.prcp_partitioning:
        series["prcp"], series["snow"] = _partition_sparse(series, nac)
    means = {}
    if setup.compute_mean_atmos:
        rows, cols = active_cell_index(mesh.active_cell)
        cell_index = np.full((mesh.nrow, mesh.ncol), -1, dtype=np.int64)
        cell_index[rows, cols] = np.arange(rows.size)
        means = {
            f"mean_{k}": mean_sparse_atmos_per_gauge(decode(v, nac), zvalues(v), cell_index, catchments, kind=k)
            for k, v in series.items()
        }
    interception = None
    if adjust:
        interception = adjust_active_interception_capacity(
            decode(series["prcp"], nac), decode(series["pet"], nac), mesh.active_cell, setup.start, setup.end, setup.dt
        )
    values = {f"sparse_{k}": v for k, v in series.items()}
    return atmos_namespace({**values, **_means(setup, mesh, kinds, means)}, sparse=True), interception
