"""``hydrograd run CONFIG.yaml``: build a model from a run file, calibrate it if asked, run it and
write the results to netCDF (see :mod:`hydrograd.app.run_file` for the file's layout and
:mod:`hydrograd.formats.netcdf` for the netCDF file's)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._progress import progress_bar
from hydrograd.app.run_file import MeshSource, RunConfig, read_run_config
from hydrograd.batch import ModelBatch
from hydrograd.factory.dataset import load_dataset
from hydrograd.factory.region import InMemoryCatchment, region_in_memory
from hydrograd.formats.mesh import read_mesh
from hydrograd.formats.netcdf import netcdf_engine, save_netcdf
from hydrograd.mesh.generate import generate_mesh
from hydrograd.model import Model


def gauge_table(path: Path) -> dict[str, np.ndarray]:
    """``code``, ``x``, ``y`` and ``area`` (km2) columns of a gauge CSV table (smash's
    ``gauge_attributes.csv`` layout)."""
    if not path.is_file():
        raise FileNotFoundError(f"No gauge table at '{path}'")
    table = pd.read_csv(path)
    missing = [c for c in ("code", "x", "y", "area") if c not in table.columns]
    if missing:
        raise ValueError(f"gauge table '{path}' lacks column(s) {missing}; it needs code,x,y,area (area in km2)")
    return {
        "code": table["code"].astype(str).to_numpy(),
        "x": table["x"].to_numpy(dtype=np.float64),
        "y": table["y"].to_numpy(dtype=np.float64),
        "area": table["area"].to_numpy(dtype=np.float64),
    }


def build_inputs(config: RunConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The setup and mesh dicts a run file describes."""
    source: MeshSource = config.mesh
    setup = dict(config.setup)
    if source.kind == "dataset":
        base, mesh = load_dataset(source.dataset)
        return {**base, **setup}, mesh
    if source.kind == "file":
        return setup, read_mesh(str(source.file))
    gauges = gauge_table(source.gauges)
    mesh = generate_mesh(
        str(source.flwdir),
        x=gauges["x"],
        y=gauges["y"],
        area=gauges["area"] * 1e6,
        code=gauges["code"],
        max_depth=source.max_depth,
        epsg=source.epsg,
    )
    return setup, mesh


def run_config(path: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Run the run file at ``path`` (``output`` replaces its output file, or folder); returns the
    netCDF path (the output folder for a run of many catchments)."""
    config = read_run_config(path, output)
    if config.catchments is not None:
        return run_catchments(config)
    out = config.output
    engine = netcdf_engine(out.engine)
    setup, mesh = build_inputs(config)
    model = Model(setup, mesh, verbose=out.verbose)
    wanted = {"rr_states": out.states, "q_domain": out.q_domain}
    return_options = wanted if any(wanted.values()) else None
    common = {"verbose": out.verbose}
    if config.calibration is None:
        ret = model.forward_run(common_options=common, return_options=return_options)
    else:
        ret = model.optimize(**config.calibration, common_options=common, return_options=return_options)
    dataset = model.to_xarray(ret)
    dataset.attrs["run_file"] = str(Path(path).resolve())
    if config.calibration is not None:
        dataset.attrs["mapping"] = config.calibration["mapping"]
        dataset.attrs["optimizer"] = config.calibration["optimizer"]
    if model.mesh.ng:
        nse = _nse(model)
        dataset["nse"] = ("gauge", nse, {"long_name": "Nash-Sutcliffe efficiency of q against q_obs"})
        if out.verbose:
            print("    gauge          NSE")
            for code, value in zip(dataset["gauge"].values, nse, strict=True):
                print(f"    {code:<12}{value:>7.3f}")
    save_netcdf(dataset, out.file, engine)
    return out.file


def catchment_models(config: RunConfig) -> dict[str, Model]:
    """Name -> model of each catchment a run file's ``catchments`` section describes, the run's
    setup keys under each catchment's own (over the dataset's: a synthetic region is built in
    memory, cut at the run's ``end_time``)."""
    source, verbose = config.catchments, config.output.verbose
    if source.dataset is not None:
        region = region_in_memory(source.n, end_time=config.setup.get("end_time"), verbose=verbose)
        entries = {name: replace(c, setup={**c.setup, **config.setup}) for name, c in region.items()}
    else:
        entries = dict(source.files)
    models = {}
    with progress_bar(len(entries), "</> Building the models", verbose, unit="catchment") as bar:
        for name, entry in entries.items():
            if isinstance(entry, InMemoryCatchment):
                models[name] = entry.model()
            else:
                mesh_file, setup = entry
                models[name] = Model({**config.setup, **setup}, read_mesh(str(mesh_file)), verbose=False)
            bar.update()
    return models


def run_catchments(config: RunConfig) -> Path:
    """A run file's batch of catchments: build the models, run or calibrate them together
    (``hydrograd.ModelBatch``), write ``<name>.nc`` per catchment and ``summary.csv`` (status and
    NSE of each gauge) into the output folder; returns the folder."""
    out, source = config.output, config.catchments
    engine = netcdf_engine(out.engine)
    models = catchment_models(config)
    batch = ModelBatch(models, batch_size=source.batch_size)
    wanted = {"rr_states": out.states, "q_domain": out.q_domain}
    return_options = wanted if any(wanted.values()) else None
    common = {"verbose": out.verbose}
    calibration = config.calibration
    roles = dict.fromkeys(models, "")
    if calibration is None:
        rets = batch.forward_run(common_options=common, return_options=return_options)
    elif calibration["mapping"] == "ann":
        options = {k: v for k, v in calibration.items() if k != "mapping"}
        reg = batch.regionalize(validation=list(source.validation), **options, common_options=common)
        roles = dict(zip(reg.nse["catchment"], reg.nse["role"], strict=True))
        rets = batch.forward_run(common_options={"verbose": False}, return_options=return_options)
    else:
        rets = batch.optimize(**calibration, common_options=common, return_options=return_options)
    out.folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for (name, model), ret in zip(models.items(), rets, strict=True):
        if isinstance(ret, Exception):
            rows.append({"catchment": name, "role": roles[name], "status": f"failed: {ret}"})
            continue
        dataset = model.to_xarray(ret)
        dataset.attrs["run_file"] = str(config.path.resolve())
        nse = _nse(model) if model.mesh.ng else np.array([])
        if nse.size:
            dataset["nse"] = ("gauge", nse, {"long_name": "Nash-Sutcliffe efficiency of q against q_obs"})
        save_netcdf(dataset, out.folder / f"{name}.nc", engine)
        codes = [str(c) for c in model.mesh.code]
        rows.extend(
            {"catchment": name, "role": roles[name], "status": "done", "gauge": code, "nse": value}
            for code, value in zip(codes, nse, strict=True)
        )
    summary = pd.DataFrame(rows)
    summary.to_csv(out.folder / "summary.csv", index=False)
    if out.verbose:
        print(summary.to_string(index=False))
    return out.folder


def _nse(model) -> np.ndarray:
    """NSE per gauge over the whole period, NaN where a gauge has fewer than two observations."""
    obs = np.asarray(model.response_data.q, dtype=np.float64)
    sim = np.asarray(model.response.q, dtype=np.float64)
    out = np.full(len(obs), np.nan)
    for g, (o, s) in enumerate(zip(obs, sim, strict=True)):
        seen = o >= 0
        if seen.sum() >= 2 and np.var(o[seen]) > 0:
            out[g] = 1.0 - np.sum((s[seen] - o[seen]) ** 2) / np.sum((o[seen] - o[seen].mean()) ** 2)
    return out
