"""The embedded synthetic twin-experiment catchment, hydrograd's default dataset.

Nothing is stored in the repository: :func:`generate_synthetic` builds the catchment from a seed
and writes it in smash's input format, and :func:`load_synthetic` serves a cached copy, like
``load_dataset("Lez")`` serves the reference data. The chain is

1. terrain: a basin of smooth random relief on a 32 x 32 grid of 1 km cells (EPSG:2154), pits
   filled by priority-flood, D8 flow directions of steepest descent in smash's convention;
2. gauges: the outlet, two nested gauges on the main stem and the outlets of disjoint headwater
   sub-catchments that tile much of the basin (independent hydrographs are what make a spatial
   parameter pattern identifiable from discharge); they are split into calibration and validation
   gauges (:data:`CALIBRATION_GAUGES`, :data:`VALIDATION_GAUGES`);
3. descriptors: seven maps derived from the terrain and smooth random fields;
4. truth: parameter (``cp``, ``ct``, ``kexc``, ``llr``) and initial-state (``hp``, ``ht``) maps of
   the ``zero-gr4-lr`` structure, a fixed nonlinear function of the descriptors
   (:func:`true_parameters`, :func:`true_initial_states`), and a known flux correction: a fixed
   ``gr4_mlp`` network (:func:`true_network`) that turns part of intense rainfall into quick runoff
   and sends more water to the direct branch when the transfer store is full, which plain
   ``gr4`` cannot represent and a hybrid structure can learn. The truth is hidden from
   calibration, which sees only the descriptors, and serves tests and demos that check its recovery;
5. weather: daily storm-event rainfall with dry spells, seasonal PET;
6. observations: the discharge that a ``Model`` built from the files just written simulates
   with the truth (:func:`truth_setup` gives its hybrid structure), times autocorrelated
   multiplicative noise, with a few missing values.

The served setup is plain ``zero-gr4-lr``: a user starts from the conceptual model and can switch
to ``gr4_mlp`` to learn the correction.

Layout of a dataset folder (the Lez dataset's): ``flwdir.tif``, ``mesh_Synthetic.hdf5``,
``setup_Synthetic.yaml``, ``gauge_attributes.csv`` (``code,x,y,area`` in km2),
``prcp/YYYY/MM/YYYYMMDDhhmm_prcp.tif`` and ``pet/..._pet.tif`` (mm per day, float32),
``descriptor/<name>.tif``, ``qobs/<code>.csv`` and ``manifest.json`` (written last).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine

from hydrograd._process import cache_root
from hydrograd._progress import progress_bar
from hydrograd.factory._terrain import Terrain, choose_gauges, choose_headwaters, descriptor_fields, make_terrain
from hydrograd.factory._weather import seasonal_pet, storm_rainfall
from hydrograd.formats.mesh import read_mesh, save_mesh
from hydrograd.formats.setup import read_setup, save_setup
from hydrograd.mesh.generate import generate_mesh
from hydrograd.model import Model

NAME = "Synthetic"
VERSION = 3
"""Bumped whenever generation changes, so that caches of an older catchment are regenerated."""
DEFAULT_SEED = 2024

SHAPE = (32, 32)
CELL_SIZE = 1000.0
"""Cell side (m)."""
XMIN, YMAX = 720_000.0, 6_360_000.0
"""Upper-left corner of the grid in Lambert-93 (EPSG:2154), m."""
EPSG = 2154
START_TIME, END_TIME = "2020-01-01", "2022-01-01"
DT = 86_400
"""Time step (s): 731 daily steps, dated 2020-01-02 to 2022-01-01."""

DESCRIPTORS = ("elevation", "slope", "drainage_density", "soil_depth", "forest", "urban", "clay")
GAUGE_TARGETS = ((0.45, False), (0.2, False))
"""Drained area of each main-stem gauge after the outlet, as a share of the outlet's, and whether
it must lie on a tributary (neither upstream nor downstream of the gauges chosen before it)."""
HEADWATER_CELLS = (6, 60)
"""Drained area (cells) of the headwater gauges, chosen disjoint, largest first."""
GAUGES = tuple(f"SYN{i:04d}" for i in range(1, 24))
"""Codes of the 23 gauges, numbered by decreasing drained area: the outlet, the two main-stem
gauges, then the twenty headwater gauges."""
VALIDATION_GAUGES = ("SYN0004", "SYN0007", "SYN0010", "SYN0013")
"""Every third of the ten largest headwater gauges, held out of calibration: spatial validation
on sub-catchments (147 of the 514 cells) that calibration never sees."""
CALIBRATION_GAUGES = tuple(code for code in GAUGES if code not in VALIDATION_GAUGES)
"""The gauges a calibration of the demo uses: the outlet, the main stem and the other headwaters."""
NOISE_SIGMA = 0.07
"""Standard deviation of the log of the multiplicative discharge noise (truncated at 3 sigma)."""
MISSING = -99.0
QOBS_FORMAT = "%.6g"
"""How observed discharge is written (m3/s, six significant digits)."""

SETUP: dict[str, Any] = {
    "snow_module": "zero",
    "hydrological_module": "gr4",
    "routing_module": "lr",
    "dt": DT,
    "start_time": START_TIME,
    "end_time": END_TIME,
    "read_qobs": True,
    "qobs_directory": "qobs",
    "read_prcp": True,
    "prcp_format": "tif",
    "prcp_directory": "prcp",
    "read_pet": True,
    "pet_format": "tif",
    "pet_directory": "pet",
    "read_descriptor": True,
    "descriptor_format": "tif",
    "descriptor_directory": "descriptor",
    "descriptor_name": list(DESCRIPTORS),
}
"""Setup of the dataset; directories are relative to its folder."""

DIRECTORY_KEYS = ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory")

# Hidden truth: each descriptor is centred and scaled by fixed constants, then combined.
_REFERENCE = {
    "elevation": (350.0, 150.0),
    "slope": (2.0, 1.0),
    "drainage_density": (0.4, 0.2),
    "soil_depth": (1.0, 0.4),
    "forest": (0.5, 0.25),
    "urban": (0.1, 0.15),
    "clay": (0.3, 0.08),
}

TRUTH_RANGES = {
    "cp": (80.0, 950.0),
    "ct": (20.0, 450.0),
    "kexc": (-1.5, 0.5),
    "llr": (60.0, 600.0),
    "hp": (0.1, 0.9),
    "ht": (0.1, 0.8),
}
"""Open interval each true map lies in (units: mm, mm, mm/day, min, -, -)."""

TRUE_HIDDEN_NEURONS = 2
"""Hidden layer size of the true flux-correction network (``hidden_neuron`` of :func:`truth_setup`)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _features(descriptors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    missing = [name for name in DESCRIPTORS if name not in descriptors]
    if missing:
        raise KeyError(f"descriptor maps {missing} are needed; got {sorted(descriptors)}")
    out = {}
    for name, (centre, scale) in _REFERENCE.items():
        out[name] = (np.asarray(descriptors[name], dtype=np.float64) - centre) / scale
    return out


def _scaled(name: str, latent: np.ndarray) -> np.ndarray:
    low, high = TRUTH_RANGES[name]
    return (low + (high - low) * _sigmoid(latent)).astype(np.float32)


def true_parameters(descriptors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """True ``cp``, ``ct`` (mm), ``kexc`` (mm/dt) and ``llr`` (min) maps, float32, from descriptor
    maps of any common shape keyed by name (the names of :data:`DESCRIPTORS`).

    Each parameter is led by one descriptor with a strong signal (``cp`` by soil depth, ``ct`` by
    clay, ``kexc`` by elevation, ``llr`` by slope), so that calibration on gauged discharge can tell
    them apart, with weaker secondary and nonlinear terms (no map is a linear function of the
    descriptors)."""
    f = _features(descriptors)
    e, s, dd, sd, fo, u, c = (f[name] for name in DESCRIPTORS)
    return {
        "cp": _scaled("cp", 1.6 * sd + 0.4 * fo - 0.3 * u + 0.4 * sd * fo),
        "ct": _scaled("ct", 1.5 * c - 0.5 * dd + 0.2),
        "kexc": _scaled("kexc", 0.8 * e + 0.3 + 0.3 * e * s),
        "llr": _scaled("llr", -1.0 * s + 0.3 * fo - 0.3 * s**2),
    }


def true_initial_states(descriptors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """True initial filling ratios ``hp`` and ``ht`` (-), float32, from descriptor maps keyed by name.

    Wetter soils along the drainage network and up the slopes, a fuller transfer store up high,
    drained near the channels. They are driven by other descriptors than ``cp`` and ``ct``, so
    that an initial level (``hp * cp`` mm) is not a function of its capacity alone."""
    f = _features(descriptors)
    return {
        "hp": _scaled("hp", 0.7 * f["drainage_density"] + 0.6 * f["elevation"]),
        "ht": _scaled("ht", 0.7 * f["elevation"] - 0.3 * f["drainage_density"]),
    }


def true_network() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases (smash's layout, float32) of the true ``gr4_mlp`` flux correction.

    The network sees ``(hp, ht, pn, en)`` and its outputs rescale GR4's fluxes (see
    ``hydrograd.core.structures.gr.gr4_step``). Its two hidden units encode two processes:

    - infiltration excess: ``ps`` is scaled by ``1 + tanh(-0.35 silu((pn - 25) / 8))``: 0.86 for a
      30 mm day, 0.5 for 40 mm, 0.2 for 50 mm, so intense rainfall makes more quick runoff than
      GR4's production store says;
    - saturation: the direct branch's share of runoff, ``0.1 + 0.9 fq^2`` with
      ``fq = tanh(0.5 silu(4 (ht - 0.6)))``, grows to about 0.4 when the transfer store is full.
    """
    weights = [
        np.array([[0.0, 0.0, 1 / 8, 0.0], [0.0, 4.0, 0.0, 0.0]], dtype=np.float32),
        np.array([[-0.35, 0.0], [0.0, 0.0], [0.0, 0.5], [0.0, 0.0]], dtype=np.float32),
    ]
    biases = [np.array([-25 / 8, -2.4], dtype=np.float32), np.zeros(4, dtype=np.float32)]
    return weights, biases


def truth_setup(setup: Mapping[str, Any]) -> dict[str, Any]:
    """``setup`` with the structure that generated the observations: ``gr4_mlp`` with the true
    network's hidden layer size."""
    return {**setup, "hydrological_module": "gr4_mlp", "hidden_neuron": TRUE_HIDDEN_NEURONS}


def descriptor_maps(model: Model) -> dict[str, np.ndarray]:
    """The descriptor maps a model has read, keyed by name, each ``(nrow, ncol)``."""
    names = [str(n) for n in model.setup.descriptor_name]
    return {name: model.physio_data.descriptor[..., i] for i, name in enumerate(names)}


def set_truth(model: Model) -> None:
    """Set a model's parameters and initial states to the true maps of its descriptors and, for a
    model built from :func:`truth_setup`, its network to the true flux correction.

    A plain ``gr4`` model gets the true maps only: it then misses the correction that the
    observations contain.
    """
    maps = descriptor_maps(model)
    for name, value in true_parameters(maps).items():
        model.set_rr_parameters(name, value)
    for name, value in true_initial_states(maps).items():
        model.set_rr_initial_states(name, value)
    if model.setup.n_layers:
        weights, biases = true_network()
        shapes = [w.shape for w in model.get_nn_parameters_weight()]
        if shapes != [w.shape for w in weights]:
            raise ValueError(
                f"the true flux correction has weight shapes {[w.shape for w in weights]}, the model's network "
                f"{shapes}: build the model from truth_setup(setup)"
            )
        model.set_nn_parameters_weight(weights)
        model.set_nn_parameters_bias(biases)


# ---- writing -----------------------------------------------------------------------------


def _write_raster(path: Path, values: np.ndarray, transform, crs: CRS, nodata: float | None = None) -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=values.shape[0],
        width=values.shape[1],
        count=1,
        dtype=values.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        compress="deflate",
    ) as dst:
        dst.write(values, 1)


def _write_forcing(folder: Path, kind: str, dates: pd.DatetimeIndex, fields: np.ndarray, transform, crs) -> None:
    for date, field in zip(dates, fields, strict=True):
        sub = folder / kind / f"{date:%Y}" / f"{date:%m}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{date:%Y%m%d%H%M}_{kind}.tif"
        _write_raster(path, field, transform, crs)


def _write_qobs(path: Path, first_date: pd.Timestamp, values: np.ndarray) -> None:
    # smash never reads a file's last line: a trailing missing value (dated one step past the
    # period) keeps the last simulated step.
    lines = [f"{first_date:%Y%m%d%H%M}"]
    lines += ["-99.0" if v == MISSING else QOBS_FORMAT % v for v in values]
    lines.append("-99.0")
    path.write_text("\n".join(lines) + "\n")


def observation_noise(rng: np.random.Generator, q: np.ndarray) -> np.ndarray:
    """``q`` (ng, T) times AR(1) lognormal noise of log-std :data:`NOISE_SIGMA`, with -99 gaps."""
    ng, nt = q.shape
    phi = 0.6
    eps = np.empty((ng, nt))
    eps[:, 0] = rng.standard_normal(ng)
    for t in range(1, nt):
        eps[:, t] = phi * eps[:, t - 1] + np.sqrt(1 - phi**2) * rng.standard_normal(ng)
    eps = np.clip(eps, -3.0, 3.0)
    qobs = (q * np.exp(NOISE_SIGMA * eps - 0.5 * NOISE_SIGMA**2)).astype(np.float32)
    gapped = rng.choice(np.arange(1, ng), size=min(2, ng - 1), replace=False)
    for g in gapped:
        start = rng.integers(30, nt - 60)
        qobs[g, start : start + rng.integers(10, 30)] = MISSING
    scattered = rng.integers(1, ng)
    qobs[scattered, rng.choice(nt, size=max(1, nt // 150), replace=False)] = MISSING
    return qobs


class UnsuitableTerrainError(ValueError):
    """The terrain of a seed cannot host the synthetic catchment's gauges (no cell drains a main-stem
    gauge's share of the basin, or the mesh generator delineates other areas than the terrain's)."""


@dataclass(frozen=True)
class SyntheticTruth:
    """What generation knows beyond the files: true maps on the mesh grid (float32
    ``(nrow, ncol)``, keyed by name) and the noise-free discharge ``q`` (``(ng, ntime_step)`` m3/s)."""

    parameters: dict[str, np.ndarray]
    initial_states: dict[str, np.ndarray]
    q: np.ndarray


@dataclass(frozen=True)
class Fields:
    """The catchment in memory, on the whole terrain grid (before any file is written): ``prcp``
    and ``pet`` ``(ntime_step, rows, cols)`` float32 mm per day, one row of ``dates`` each;
    ``noise_rng`` draws the observation noise."""

    terrain: Terrain
    gauges: pd.DataFrame
    descriptors: dict[str, np.ndarray]
    dates: pd.DatetimeIndex
    prcp: np.ndarray
    pet: np.ndarray
    noise_rng: np.random.Generator


def _gauge_table(terrain: Terrain, gauges: list[tuple[int, int]]) -> pd.DataFrame:
    """Code, cell-centre coordinates (m) and drained area (km2) of the gauges, largest first."""
    gauges = sorted(gauges, key=lambda g: -terrain.flwacc[g])
    rows = np.array([g[0] for g in gauges])
    cols = np.array([g[1] for g in gauges])
    return pd.DataFrame(
        {
            "code": [f"SYN{i + 1:04d}" for i in range(len(gauges))],
            "x": XMIN + (cols + 0.5) * CELL_SIZE,
            "y": YMAX - (rows + 0.5) * CELL_SIZE,
            "area": terrain.flwacc[rows, cols] * CELL_SIZE**2 / 1e6,
        }
    )


def generate_fields(seed: int) -> Fields:
    """Terrain, gauges, descriptors and forcings of ``seed``; each from its own random stream."""
    terrain_rng, descriptor_rng, weather_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    terrain = make_terrain(terrain_rng, SHAPE)
    try:
        main = choose_gauges(terrain, GAUGE_TARGETS)
    except ValueError as error:
        raise UnsuitableTerrainError(f"seed {seed}: {error}") from None
    gauges = _gauge_table(terrain, main + choose_headwaters(terrain, main, HEADWATER_CELLS))
    descriptors = descriptor_fields(descriptor_rng, terrain, CELL_SIZE)
    dates = pd.date_range(START_TIME, END_TIME, freq=f"{DT}s")[1:]
    prcp = storm_rainfall(weather_rng, dates, terrain.elevation, CELL_SIZE)
    pet = seasonal_pet(weather_rng, dates, terrain.elevation, prcp)
    return Fields(terrain, gauges, descriptors, dates, prcp, pet, noise_rng)


def _georeference() -> tuple[Affine, CRS]:
    return Affine(CELL_SIZE, 0.0, XMIN, 0.0, -CELL_SIZE, YMAX), CRS.from_epsg(EPSG)


def write_static(folder: Path, fields: Fields, seed: int) -> dict[str, Any]:
    """Write what does not vary in time (flow directions, descriptors, gauge table, mesh) into
    ``folder``; the mesh dict. :class:`UnsuitableTerrainError` when the mesh generator delineates
    other areas than the terrain's."""
    transform, crs = _georeference()
    flwdir_path = folder / "flwdir.tif"
    _write_raster(flwdir_path, fields.terrain.flwdir.astype(np.float32), transform, crs, nodata=-9999.0)
    (folder / "descriptor").mkdir()
    for name, values in fields.descriptors.items():
        _write_raster(folder / "descriptor" / f"{name}.tif", values, transform, crs)
    table = fields.gauges
    table.to_csv(folder / "gauge_attributes.csv", index=False, float_format="%.1f")
    mesh = generate_mesh(
        str(flwdir_path),
        x=table["x"].to_numpy(),
        y=table["y"].to_numpy(),
        area=table["area"].to_numpy() * 1e6,
        code=table["code"].to_numpy(),
    )
    if not np.allclose(mesh["area_dln"], mesh["area"]):
        raise UnsuitableTerrainError(
            f"the mesh generator delineated areas {mesh['area_dln'].tolist()} m2 for gauges of drained "
            f"areas {mesh['area'].tolist()} m2 (seed {seed})"
        )
    save_mesh(mesh, str(folder / f"mesh_{NAME}.hdf5"))
    return mesh


def generate_synthetic(
    directory: str | os.PathLike, seed: int = DEFAULT_SEED, *, verbose: bool = False
) -> SyntheticTruth:
    """Generate the synthetic catchment into ``directory`` (created; must be empty if it exists).

    The same ``seed`` gives bit-identical files. Returns the truth on the mesh grid and the
    noise-free discharge.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"'{folder}' is not empty; generate the synthetic catchment into a new folder")
    progress = progress_bar(4, "</> Generating the synthetic catchment", verbose)
    fields = generate_fields(seed)
    progress.update()

    mesh = write_static(folder, fields, seed)
    transform, crs = _georeference()
    _write_forcing(folder, "prcp", fields.dates, fields.prcp, transform, crs)
    _write_forcing(folder, "pet", fields.dates, fields.pet, transform, crs)
    progress.update()

    setup = truth_setup(dict(SETUP, read_qobs=False))
    for key in DIRECTORY_KEYS:
        setup[key] = str(folder / SETUP[key])
    (folder / "qobs").mkdir()
    model = Model(setup, mesh, verbose=False)
    set_truth(model)
    model.forward_run(common_options={"verbose": False})
    q = model.response.q.copy()
    progress.update()

    qobs = observation_noise(fields.noise_rng, q)
    for code, values in zip(fields.gauges["code"], qobs, strict=True):
        _write_qobs(folder / "qobs" / f"{code}.csv", fields.dates[0], values)
    save_setup(SETUP, folder / f"setup_{NAME}.yaml")
    write_manifest(folder, seed)
    progress.update()
    progress.close()
    maps = descriptor_maps(model)
    return SyntheticTruth(
        {k: model.get_rr_parameters(k) for k in true_parameters(maps)},
        {k: model.get_rr_initial_states(k) for k in true_initial_states(maps)},
        q,
    )


# ---- cache -------------------------------------------------------------------------------


def cache_directory(seed: int = DEFAULT_SEED) -> Path:
    """Folder of the cached dataset of ``seed``: ``$HYDROGRAD_CACHE/synthetic-v<VERSION>`` for the
    default catchment, ``synthetic-v<VERSION>-seed<seed>`` for another one, by default under
    ``~/.cache/hydrograd``."""
    suffix = "" if seed == DEFAULT_SEED else f"-seed{seed}"
    return cache_root() / f"synthetic-v{VERSION}{suffix}"


def write_manifest(folder: Path, seed: int) -> None:
    """List the files of a generated ``folder`` in its ``manifest.json``, written last: a folder
    without one was interrupted."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    manifest = {"name": NAME, "version": VERSION, "seed": seed, "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def is_complete(folder: str | os.PathLike, seed: int = DEFAULT_SEED) -> bool:
    """Whether ``folder`` holds a whole dataset of this version generated from ``seed``."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("version") != VERSION or manifest.get("seed") != seed:
        return False
    return all((folder / name).is_file() for name in manifest.get("files", []))


def _ensure_cached(folder: Path, seed: int = DEFAULT_SEED, verbose: bool = True) -> None:
    """Generate into a temporary sibling and rename it into place, so that an interrupted or
    concurrent generation never leaves a partial dataset at ``folder``."""
    if is_complete(folder, seed):
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        generate_synthetic(tmp, seed, verbose=verbose)
        if folder.exists() and not is_complete(folder, seed):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not is_complete(folder, seed):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_synthetic(seed: int = DEFAULT_SEED, *, verbose: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Setup and mesh dicts of the synthetic catchment of ``seed``, generated into the cache on
    first use.

    The setup's directories are absolute; ``Model(*load_synthetic())`` reads everything.
    """
    folder = cache_directory(seed)
    _ensure_cached(folder, seed, verbose)
    setup = read_setup(folder / f"setup_{NAME}.yaml")
    for key in DIRECTORY_KEYS:
        setup[key] = str(folder / setup[key])
    mesh = read_mesh(str(folder / f"mesh_{NAME}.hdf5"))
    return setup, mesh
