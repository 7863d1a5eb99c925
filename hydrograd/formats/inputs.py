"""Read everything a setup names (forcings, observations, descriptors) for a model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hydrograd._containers import Fields, Namespace
from hydrograd.config.setup import Setup
from hydrograd.formats.atmos import read_atmos
from hydrograd.formats.descriptor import read_descriptor, read_imperviousness
from hydrograd.formats.qobs import read_qobs
from hydrograd.preprocess.atmos_stats import mean_atmos_per_gauge
from hydrograd.preprocess.interception import adjust_interception_capacity

MISSING = np.float32(-99.0)


def _atmos(setup: Setup, mesh: Namespace, kind: str, verbose: bool) -> np.ndarray:
    shape = (mesh.nrow, mesh.ncol, setup.ntime_step)
    if not getattr(setup, f"read_{kind}"):
        return np.full(shape, MISSING, dtype=np.float32)
    return read_atmos(
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
    bool) are the gauges' catchments for the mean atmospheric series."""
    prcp = _atmos(setup, mesh, "prcp", verbose)
    pet = _atmos(setup, mesh, "pet", verbose)
    atmos = Fields(prcp=prcp, pet=pet)
    if setup.compute_mean_atmos:
        atmos.mean_prcp = mean_atmos_per_gauge(prcp, catchments)
        atmos.mean_pet = mean_atmos_per_gauge(pet, catchments)
    else:
        atmos.mean_prcp = np.full((mesh.ng, setup.ntime_step), MISSING, dtype=np.float32)
        atmos.mean_pet = atmos.mean_prcp.copy()

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

    interception = None
    if setup.adjust_interception and setup.dt < 86400 and setup.read_prcp and setup.read_pet:
        interception = adjust_interception_capacity(prcp, pet, mesh.active_cell, setup.start, setup.end, setup.dt)
    return InputData(atmos, physio, response_data, interception)
