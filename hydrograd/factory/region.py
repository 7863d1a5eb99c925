"""A synthetic region: many catchments of the synthetic factory (:mod:`hydrograd.factory.synthetic`),
one per seed, on files (:func:`load_region`) or with their forcing in memory
(:func:`region_in_memory`).

A catchment on files writes its forcing as two GeoTIFFs per day (about 25 s per catchment, 1,462
files); in memory, only what does not vary in time (flow directions, descriptors, mesh) and the
observed discharge are cached, and the forcing is drawn again from the seed on each load (a few
tenths of a second), so that a region of thousands of catchments is cheap. Both give the same
numbers for the same seed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._process import cache_root
from hydrograd._progress import progress_bar
from hydrograd.batch import ModelBatch
from hydrograd.factory.synthetic import (
    CELL_SIZE,
    DIRECTORY_KEYS,
    END_TIME,
    NAME,
    QOBS_FORMAT,
    SETUP,
    START_TIME,
    VERSION,
    XMIN,
    YMAX,
    UnsuitableTerrainError,
    generate_fields,
    is_complete,
    load_synthetic,
    observation_noise,
    set_truth,
    truth_setup,
    write_manifest,
    write_static,
)
from hydrograd.formats.mesh import read_mesh
from hydrograd.model import Model

REGION_FIRST_SEED = 1
"""Seed of a synthetic region's first catchment; the next seeds follow, skipping those whose terrain
cannot host the gauges (:class:`UnsuitableTerrainError`, remembered by a marker file in the cache)."""

TRUTH_BATCH = 256
"""Catchments whose truth one compiled program simulates when a region is generated in memory."""


def _rejected_marker(seed: int) -> Path:
    return cache_root() / f"synthetic-v{VERSION}-seed{seed}.unsuitable"


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"a synthetic region needs a positive int number of catchments n, got {n!r}")
    return int(n)


def _suitable_seeds() -> Iterator[int]:
    """Seeds from :data:`REGION_FIRST_SEED` on, less those already found unsuitable."""
    seed = REGION_FIRST_SEED
    while True:
        if not _rejected_marker(seed).exists():
            yield seed
        seed += 1


def _reject(seed: int, error: UnsuitableTerrainError) -> None:
    marker = _rejected_marker(seed)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{error}\n")


def load_region(n: int, *, verbose: bool = True) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """A region of ``n`` synthetic catchments, each its own terrain, gauges, weather and truth (the
    catchments of the seeds from :data:`REGION_FIRST_SEED` on whose terrain suits), generated into
    the cache on first use: name (``SYN-<seed>``) -> ``(setup, mesh)``, each ready for
    ``Model(setup, mesh)``."""
    n = _check_n(n)
    region = {}
    with progress_bar(n, "</> Loading the synthetic region", verbose) as progress:
        for seed in _suitable_seeds():
            if len(region) == n:
                break
            try:
                region[f"SYN-{seed}"] = load_synthetic(seed, verbose=False)
            except UnsuitableTerrainError as error:
                _reject(seed, error)
                continue
            progress.update()
    return region


@dataclass(frozen=True, eq=False)
class InMemoryCatchment:
    """One catchment of :func:`region_in_memory`: setup and mesh dicts (the setup reads only the
    descriptors, from files), the forcing and the observed discharge as arrays.

    ``prcp``, ``pet``: ``(nrow, ncol, ntime_step)`` float32, mm per time step, on the mesh's grid;
    ``qobs``: ``(ng, ntime_step)`` float32, m3/s, -99 where missing.
    """

    setup: dict[str, Any]
    mesh: dict[str, Any]
    prcp: np.ndarray
    pet: np.ndarray
    qobs: np.ndarray

    def model(self, model_class: type = Model) -> Any:
        """``model_class(setup, mesh)`` with the forcing and observations assigned: hydrograd's
        ``Model`` (default, built quietly) or any class with smash's ``Model`` interface, e.g.
        ``smash.Model``."""
        if model_class is Model:
            model = Model(self.setup, self.mesh, verbose=False)
        else:
            model = model_class(self.setup, self.mesh)
        model.atmos_data.prcp = self.prcp
        model.atmos_data.pet = self.pet
        model.response_data.q = self.qobs
        return model


def _period_steps(end_time: str | None) -> int:
    """Time steps from the region's start to ``end_time`` (default: the region's whole period)."""
    dates = pd.date_range(START_TIME, END_TIME, freq=f"{SETUP['dt']}s")[1:]
    if end_time is None:
        return len(dates)
    try:
        end = pd.Timestamp(end_time)
    except (TypeError, ValueError):
        raise ValueError(f"end_time must be a date, got {end_time!r}") from None
    if not dates[0] <= end <= dates[-1]:
        raise ValueError(
            f"end_time {end_time!r} lies outside the region's period: give a date from {dates[0]:%Y-%m-%d} to "
            f"{dates[-1]:%Y-%m-%d}"
        )
    return int((dates <= end).sum())


def _on_mesh(fields: np.ndarray, mesh: dict[str, Any]) -> np.ndarray:
    """Forcing ``(T, rows, cols)`` on the terrain grid, cropped to the mesh's grid as
    ``(nrow, ncol, T)``, as a reader of the files would store it."""
    row = round((YMAX - float(mesh["ymax"])) / CELL_SIZE)
    col = round((float(mesh["xmin"]) - XMIN) / CELL_SIZE)
    crop = fields[:, row : row + int(mesh["nrow"]), col : col + int(mesh["ncol"])]
    return np.ascontiguousarray(np.moveaxis(crop, 0, -1), dtype=np.float32)


def _setup(folder: Path, end_time: str | None) -> dict[str, Any]:
    setup = {key: value for key, value in SETUP.items() if key not in DIRECTORY_KEYS}
    setup.update(read_qobs=False, read_prcp=False, read_pet=False)
    setup["descriptor_directory"] = str(folder / SETUP["descriptor_directory"])
    if end_time is not None:
        setup["end_time"] = end_time
    return setup


def _as_written(qobs: np.ndarray) -> np.ndarray:
    """Observations rounded as the file-based catchment writes them."""
    return np.char.mod(QOBS_FORMAT, qobs).astype(np.float64).astype(np.float32)


def _region_root() -> Path:
    """Cache folder of the in-memory region: a folder per seed, and scratch folders beside them."""
    return cache_root() / f"synthetic-v{VERSION}-region"


def _region_folder(seed: int) -> Path:
    return _region_root() / f"seed{seed}"


@dataclass(frozen=True, eq=False)
class _NewCatchment:
    """A catchment being generated: its scratch folder and what its truth run needs."""

    seed: int
    folder: Path
    catchment: InMemoryCatchment
    noise_rng: np.random.Generator


def _simulate_truth(new: list[_NewCatchment]) -> None:
    """Simulate the truth of new catchments in one batch, write their noisy observations and move
    each finished folder into place."""
    models = []
    for one in new:
        model = replace(one.catchment, setup=truth_setup(one.catchment.setup)).model()
        set_truth(model)
        models.append(model)
    ModelBatch(models).forward_run(common_options={"verbose": False})
    for one, model in zip(new, models, strict=True):
        np.save(one.folder / "qobs.npy", _as_written(observation_noise(one.noise_rng, model.response.q)))
        write_manifest(one.folder, one.seed)
        folder = _region_folder(one.seed)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(one.folder, folder)


def _generate(seed: int, scratch: Path) -> _NewCatchment:
    """Write a new catchment's static files into a scratch folder; its forcing in memory."""
    fields = generate_fields(seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".seed{seed}-", dir=scratch))
    try:
        mesh = write_static(tmp, fields, seed)
    except UnsuitableTerrainError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    no_observations = np.full((int(mesh["ng"]), len(fields.dates)), -99.0, dtype=np.float32)
    catchment = InMemoryCatchment(
        _setup(tmp, None), mesh, _on_mesh(fields.prcp, mesh), _on_mesh(fields.pet, mesh), no_observations
    )
    return _NewCatchment(seed, tmp, catchment, fields.noise_rng)


def _catchment(
    folder: Path, mesh: dict[str, Any], prcp: np.ndarray, pet: np.ndarray, end_time: str | None, steps: int
) -> InMemoryCatchment:
    """A catchment cached in ``folder``, forcing ``(nrow, ncol, T)`` given, over its first ``steps``."""
    return InMemoryCatchment(
        _setup(folder, end_time),
        mesh,
        np.ascontiguousarray(prcp[..., :steps]),
        np.ascontiguousarray(pet[..., :steps]),
        np.load(folder / "qobs.npy")[:, :steps],
    )


def region_in_memory(n: int, *, end_time: str | None = None, verbose: bool = True) -> dict[str, InMemoryCatchment]:
    """The ``n`` catchments of :func:`load_region` (same seeds, names, meshes, descriptors, forcing
    and observations) with their forcing in memory: name (``SYN-<seed>``) -> :class:`InMemoryCatchment`;
    ``catchment.model()`` builds its ``Model``.

    First use generates each catchment's flow directions, descriptors, mesh and observations into
    the cache (the truth of new catchments simulated together, one program per
    :data:`TRUTH_BATCH`); the forcing is drawn again from the seed on every call. ``end_time``
    shortens the period (``"2021-01-01"``: one year of daily steps): the same weather and
    observations, cut.
    """
    n = _check_n(n)
    steps = _period_steps(end_time)
    scratch = _region_root()
    scratch.mkdir(parents=True, exist_ok=True)
    region: dict[str, InMemoryCatchment] = {}
    new: list[_NewCatchment] = []

    def flush() -> None:
        try:
            _simulate_truth(new)
        finally:
            for one in new:
                shutil.rmtree(one.folder, ignore_errors=True)
        for one in new:
            c = one.catchment
            region[f"SYN-{one.seed}"] = _catchment(_region_folder(one.seed), c.mesh, c.prcp, c.pet, end_time, steps)
        new.clear()

    with progress_bar(n, "</> Loading the synthetic region", verbose) as progress:
        for seed in _suitable_seeds():
            if len(region) + len(new) == n:
                break
            folder = _region_folder(seed)
            try:
                if is_complete(folder, seed):
                    fields = generate_fields(seed)
                    mesh = read_mesh(str(folder / f"mesh_{NAME}.hdf5"))
                    prcp, pet = (_on_mesh(f[:steps], mesh) for f in (fields.prcp, fields.pet))
                    region[f"SYN-{seed}"] = _catchment(folder, mesh, prcp, pet, end_time, steps)
                else:
                    new.append(_generate(seed, scratch))
            except UnsuitableTerrainError as error:
                _reject(seed, error)
                continue
            if len(new) == TRUTH_BATCH:
                flush()
            progress.update()
        if new:
            flush()
    return dict(sorted(region.items(), key=lambda item: int(item[0].split("-")[1])))
