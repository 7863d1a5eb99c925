"""The YAML file of ``hydrograd run``: checked once into a :class:`RunConfig`.

Layout (unknown keys are errors naming the closest valid key)::

    setup:          # smash setup keys (checked by the Model, as in smash)
      hydrological_module: gr4
      prcp_directory: prcp          # paths relative to this file's folder; ${VAR} is expanded
      ...
    mesh:           # exactly one source
      file: mesh.hdf5               # a smash mesh HDF5 file, or
      flwdir: flwdir.tif            # a D8 flow-direction raster
      gauges: gauges.csv            #   with a gauge table code,x,y,area (area in km2)
      max_depth: 1                  #   (optional, mesh generation)
      epsg: 2154                    #   (optional, when the raster has no CRS)
      dataset: Lez                  # or a named dataset, whose setup the setup section overrides
    catchments:     # instead of mesh: many catchments run together (hydrograd.ModelBatch)
      dataset: SyntheticRegion      # n synthetic catchments (forcing in memory), or
      n: 8
      files:                        # name -> that catchment's mesh file and setup keys
        A1: {mesh: a1/mesh.hdf5, setup: {prcp_directory: a1/prcp}}
      batch_size: 256               # (optional) catchments per compiled program
      validation: [SYN-9]           # (optional) held out of a calibration with mapping: ann
    calibration:    # optional: Model.optimize's arguments
      mapping: multi-linear
      optimizer: lbfgsb
      optimize_options: {parameters: [cp, ct], termination_crit: {maxiter: 50}}
      cost_options: {gauge: all}
    output:
      file: results.nc              # required with mesh; with catchments:
      folder: results               #   one <name>.nc per catchment and summary.csv
      states: false                 # state maps at every time step
      q_domain: false               # discharge of every cell at every time step
      engine: null                  # netCDF writer: netcdf4, h5netcdf or scipy (default: first installed)
      verbose: true                 # progress bars, iteration lines, NSE table
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hydrograd._validate import as_bool, choice, closest, reject_unknown_keys
from hydrograd.config.optimize_options import check_mapping_optimizer
from hydrograd.factory.dataset import DATASET_NAMES
from hydrograd.formats.netcdf import ENGINES

SECTIONS = ("setup", "mesh", "catchments", "calibration", "output")
MESH_KEYS = ("file", "flwdir", "gauges", "dataset", "max_depth", "epsg")
CATCHMENTS_KEYS = ("dataset", "n", "files", "batch_size", "validation")
CATCHMENT_FILE_KEYS = ("mesh", "setup")
CALIBRATION_KEYS = ("mapping", "optimizer", "optimize_options", "cost_options")
OUTPUT_KEYS = ("file", "folder", "states", "q_domain", "engine", "verbose")
PATH_SETUP_KEYS = (
    "qobs_directory",
    "prcp_directory",
    "pet_directory",
    "snow_directory",
    "temp_directory",
    "descriptor_directory",
    "imperviousness_file",
)
"""Setup keys that hold paths, resolved against the config file's folder."""


@dataclass(frozen=True)
class MeshSource:
    """Where the mesh comes from: ``kind`` is ``"file"``, ``"flwdir"`` or ``"dataset"``."""

    kind: str
    file: Path | None = None
    flwdir: Path | None = None
    gauges: Path | None = None
    dataset: str | None = None
    max_depth: int = 1
    epsg: int | None = None


@dataclass(frozen=True)
class Catchments:
    """Many catchments run as one batch: either ``n`` catchments of the dataset
    ``"SyntheticRegion"``, or ``files``: name -> (mesh file, setup keys over the run's setup);
    ``batch_size`` catchments per program; ``validation``: names held out of a joint
    regionalization (``mapping: ann``)."""

    dataset: str | None = None
    n: int | None = None
    files: dict[str, tuple[Path, dict[str, Any]]] = field(default_factory=dict)
    batch_size: int = 256
    validation: tuple[str, ...] = ()


@dataclass(frozen=True)
class Output:
    """What to write, and where: ``file`` (one model) or ``folder`` (a batch of catchments)."""

    file: Path | None
    states: bool = False
    q_domain: bool = False
    engine: str | None = None
    verbose: bool = True
    folder: Path | None = None


@dataclass(frozen=True)
class RunConfig:
    """A checked run file: ``setup`` (paths resolved), mesh source, ``calibration`` (the keyword
    arguments of ``Model.optimize``, or None) and output."""

    path: Path
    setup: dict[str, Any]
    mesh: MeshSource | None
    output: Output
    calibration: dict[str, Any] | None = field(default=None)
    catchments: Catchments | None = None


def _section(raw: dict[str, Any], key: str, keys: tuple[str, ...] | None, required: bool) -> dict[str, Any] | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ValueError(f"run file: section '{key}' is missing")
        return None
    if not isinstance(value, dict):
        raise TypeError(f"run file: section '{key}' must be a mapping of keys, got {type(value).__name__} {value!r}")
    if keys is not None:
        reject_unknown_keys(value, keys, f"run file '{key}'")
    return value


def _path(folder: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise TypeError(f"run file: {what} must be a path, got {value!r}")
    path = Path(os.path.expandvars(os.path.expanduser(str(value))))
    return path if path.is_absolute() else folder / path


def _mesh(folder: Path, raw: dict[str, Any]) -> MeshSource:
    given = [k for k in ("file", "flwdir", "dataset") if raw.get(k) is not None]
    if len(given) != 1:
        raise ValueError(
            "run file 'mesh': give exactly one source: 'file' (smash mesh HDF5), 'flwdir' with 'gauges' "
            f"(flow-direction raster and gauge table) or 'dataset' (a dataset name); got {given or 'none'}"
        )
    kind = given[0]
    extra = [k for k in ("gauges", "max_depth", "epsg") if raw.get(k) is not None]
    if kind != "flwdir" and extra:
        raise ValueError(f"run file 'mesh': {extra} only serve a mesh generated from 'flwdir'")
    if kind == "file":
        return MeshSource("file", file=_path(folder, raw["file"], "mesh 'file'"))
    if kind == "dataset":
        name = choice(raw["dataset"], [n for n in DATASET_NAMES if n != "flwdir"], "run file mesh 'dataset'")
        return MeshSource("dataset", dataset=name)
    if raw.get("gauges") is None:
        raise ValueError("run file 'mesh': 'flwdir' needs 'gauges', a CSV table code,x,y,area (area in km2)")
    max_depth = raw.get("max_depth", 1)
    epsg = raw.get("epsg")
    for name, value in (("max_depth", max_depth), ("epsg", epsg)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"run file 'mesh': '{name}' must be an integer, got {value!r}")
    return MeshSource(
        "flwdir",
        flwdir=_path(folder, raw["flwdir"], "mesh 'flwdir'"),
        gauges=_path(folder, raw["gauges"], "mesh 'gauges'"),
        max_depth=max_depth,
        epsg=epsg,
    )


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"run file 'catchments': '{what}' must be a positive integer, got {value!r}")
    return value


def _setup_paths(folder: Path, setup: dict[str, Any], where: str) -> dict[str, Any]:
    """``setup`` with its path keys resolved against ``folder``."""
    setup = dict(setup)
    for key in PATH_SETUP_KEYS:
        if setup.get(key) is not None:
            setup[key] = str(_path(folder, setup[key], f"{where} '{key}'"))
    return setup


def _catchments(folder: Path, raw: dict[str, Any]) -> Catchments:
    given = [k for k in ("dataset", "files") if raw.get(k) is not None]
    if len(given) != 1:
        raise ValueError(
            "run file 'catchments': give exactly one source: 'dataset' (SyntheticRegion, with 'n') or 'files' "
            f"(name -> mesh file and setup keys); got {given or 'none'}"
        )
    batch_size = _positive_int(raw.get("batch_size", 256), "batch_size")
    validation = raw.get("validation") or []
    if not isinstance(validation, list) or not all(isinstance(v, str) for v in validation):
        raise TypeError(f"run file 'catchments': 'validation' must be a list of catchment names, got {validation!r}")
    if given[0] == "dataset":
        choice(raw["dataset"], ["SyntheticRegion"], "run file catchments 'dataset'")
        n = _positive_int(raw.get("n"), "n")
        return Catchments(dataset="SyntheticRegion", n=n, batch_size=batch_size, validation=tuple(validation))
    if raw.get("n") is not None:
        raise ValueError("run file 'catchments': 'n' only serves 'dataset'")
    files = raw["files"]
    if not isinstance(files, dict) or not files:
        raise TypeError(
            f"run file 'catchments': 'files' must map names to {{mesh: FILE, setup: {{...}}}}, got {files!r}"
        )
    out = {}
    for name, entry in files.items():
        where = f"catchments files '{name}'"
        if not isinstance(entry, dict):
            raise TypeError(f"run file {where} must be a mapping with 'mesh' and 'setup', got {entry!r}")
        reject_unknown_keys(entry, CATCHMENT_FILE_KEYS, f"run file {where}")
        if entry.get("mesh") is None:
            raise ValueError(f"run file {where}: 'mesh' (the catchment's smash mesh HDF5 file) is missing")
        setup = entry.get("setup") or {}
        if not isinstance(setup, dict):
            raise TypeError(f"run file {where}: 'setup' must be a mapping, got {setup!r}")
        out[str(name)] = (_path(folder, entry["mesh"], f"{where} 'mesh'"), _setup_paths(folder, setup, where))
    return Catchments(files=out, batch_size=batch_size, validation=tuple(validation))


def _calibration(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    mapping, optimizer = check_mapping_optimizer(raw.get("mapping", "uniform"), raw.get("optimizer"))
    out: dict[str, Any] = {"mapping": mapping, "optimizer": optimizer}
    for key in ("optimize_options", "cost_options"):
        value = raw.get(key)
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"run file 'calibration': '{key}' must be a mapping, got {value!r}")
        out[key] = value
    return out


def _output(folder: Path, raw: dict[str, Any], override: str | os.PathLike | None, batch: bool) -> Output:
    key = "folder" if batch else "file"
    other = "file" if batch else "folder"
    if raw.get(other) is not None:
        raise ValueError(
            f"run file 'output': '{other}' does not serve a run with '{'catchments' if batch else 'mesh'}'; "
            f"give '{key}'"
        )
    if override is None and raw.get(key) is None:
        what = "the folder of the catchments' netCDF files" if batch else "the netCDF file to write"
        raise ValueError(f"run file 'output': '{key}' ({what}) is missing")
    target = Path(override) if override is not None else _path(folder, raw[key], f"output '{key}'")
    engine = raw.get("engine")
    if engine is not None:
        engine = choice(engine, ENGINES, "run file output 'engine'")
    return Output(
        file=None if batch else target,
        folder=target if batch else None,
        states=as_bool(raw.get("states", False), "run file output 'states'"),
        q_domain=as_bool(raw.get("q_domain", False), "run file output 'q_domain'"),
        engine=engine,
        verbose=as_bool(raw.get("verbose", True), "run file output 'verbose'"),
    )


def read_run_config(path: str | os.PathLike, output: str | os.PathLike | None = None) -> RunConfig:
    """Read and check a run file; ``output`` replaces its output file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No run file at '{path}'")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"run file '{path}' is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"run file '{path}' must hold a mapping with sections {list(SECTIONS)}")
    for key in raw:
        if key not in SECTIONS:
            raise ValueError(
                f"Unknown run file section '{key}'.{closest(key, SECTIONS)} Valid sections: {list(SECTIONS)}"
            )
    folder = path.resolve().parent
    setup = _setup_paths(folder, _section(raw, "setup", None, required=False) or {}, "setup")
    if (raw.get("mesh") is None) == (raw.get("catchments") is None):
        raise ValueError("run file: give exactly one of the sections 'mesh' (one model) and 'catchments' (many)")
    batch = raw.get("catchments") is not None
    mesh = None if batch else _mesh(folder, _section(raw, "mesh", MESH_KEYS, required=True))
    catchments = _catchments(folder, _section(raw, "catchments", CATCHMENTS_KEYS, required=True)) if batch else None
    calibration = _calibration(_section(raw, "calibration", CALIBRATION_KEYS, required=False))
    if catchments is not None and catchments.validation and (calibration or {}).get("mapping") != "ann":
        raise ValueError("run file 'catchments': 'validation' holds catchments out of a calibration with mapping: ann")
    return RunConfig(
        path=path,
        setup=setup,
        mesh=mesh,
        output=_output(folder, _section(raw, "output", OUTPUT_KEYS, required=output is None) or {}, output, batch),
        calibration=calibration,
        catchments=catchments,
    )
