"""Independent calibrations of many catchments on a Dask cluster.

:func:`calibrate_catchments` submits one task per catchment to a ``dask.distributed`` client (a
``LocalCluster`` of worker processes by default; any cluster a ``Client`` connects to, such as
``dask_jobqueue.SLURMCluster`` on a supercomputer). Each task builds the catchment's ``Model``,
calibrates it with ``Model.optimize``'s arguments and writes, as soon as it finishes,
``<output>/<name>.hdf5`` (the calibrated model, ``hydrograd.io.save_model``) then
``<output>/<name>.json`` (its summary, written last by an atomic rename: the mark of a finished
catchment). A run started again on the same folder skips the finished catchments, so an
interrupted campaign resumes where it stopped. Dask schedules; nothing here does.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import pandas as pd

from hydrograd._progress import progress_bar
from hydrograd.io import save_model
from hydrograd.model import Model

SUMMARY_FIELDS = ("status", "cost", "n_iter", "seconds", "worker")
"""Columns of the summary table: ``status`` (``done``, ``skipped``: finished by an earlier run, or
``failed: <error>``), the final ``cost``, the iteration count, the task's wall time (s) and the
worker that ran it."""


def _write_atomically(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path``: readers never see a partial file."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _calibrate_one(name: str, setup: dict, mesh: dict, options: dict, output: str) -> dict[str, Any]:
    """The task a worker runs: build, calibrate, write the model then its summary."""
    start = time.perf_counter()
    model = Model(setup, mesh, verbose=False)
    ret = model.optimize(**options, common_options={"verbose": False}, return_options={"cost": True, "n_iter": True})
    folder = Path(output)
    _write_atomically(folder / f"{name}.hdf5", lambda tmp: save_model(model, str(tmp)))
    summary = {
        "status": "done",
        "cost": float(ret.cost),
        "n_iter": int(getattr(ret, "n_iter", 0)),
        "seconds": time.perf_counter() - start,
        "worker": socket.gethostname(),
    }
    _write_atomically(folder / f"{name}.json", lambda tmp: tmp.write_text(json.dumps(summary)))
    # Another catchment has other shapes, hence other programs: drop this one's. A worker keeping
    # every compiled program of hundreds of catchments reaches Linux's limit of memory mappings per
    # process (vm.max_map_count) and XLA aborts.
    jax.clear_caches()
    return summary


def finished(output: str | os.PathLike, name: str) -> dict[str, Any] | None:
    """The summary of catchment ``name`` if a run finished it in ``output``, else None."""
    folder = Path(output)
    try:
        summary = json.loads((folder / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if (folder / f"{name}.hdf5").is_file() and summary.get("status") == "done" else None


def calibrate_catchments(
    catchments: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
    output: str | os.PathLike,
    *,
    client: Any = None,
    n_workers: int = 2,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Calibrate each catchment of ``catchments`` (name -> ``(setup, mesh)``, e.g.
    ``factory.load_dataset("SyntheticRegion", n=100)``) on its own, as ``Model.optimize`` with
    ``mapping``, ``optimizer``, ``optimize_options`` and ``cost_options`` would alone, on the Dask
    ``client`` (None: a ``LocalCluster`` of ``n_workers`` single-threaded worker processes, closed
    at the end). Results go to the folder ``output`` as they finish (see the module docstring);
    catchments already finished there are skipped. Returns one row per catchment
    (:data:`SUMMARY_FIELDS`); a catchment that fails is reported, not raised, so that the others
    go on."""
    if not isinstance(catchments, Mapping) or not catchments:
        raise TypeError("catchments must be a non-empty dict name -> (setup, mesh)")
    for name, pair in catchments.items():
        if not isinstance(name, str) or not name or os.sep in name:
            raise ValueError(f"catchment names must be non-empty file names (str), got {name!r}")
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and all(isinstance(d, dict) for d in pair)):
            raise TypeError(f"catchment '{name}' must be a (setup, mesh) pair of dicts, got {type(pair).__name__}")
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    options = {"mapping": mapping, "optimizer": optimizer, "optimize_options": optimize_options}
    options["cost_options"] = cost_options
    rows: dict[str, dict[str, Any]] = {}
    todo = {}
    for name, pair in catchments.items():
        summary = finished(folder, name)
        if summary is None:
            todo[name] = pair
        else:
            rows[name] = {**summary, "status": "skipped"}
    if todo:
        _run(todo, options, folder, client, n_workers, verbose, rows)
    table = pd.DataFrame.from_dict({name: rows[name] for name in catchments}, orient="index")
    return table.reindex(columns=list(SUMMARY_FIELDS))


def _run(todo, options, folder, client, n_workers, verbose, rows) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError(
            "calibrate_catchments runs on dask.distributed: pip install 'hydrograd[distributed]'"
        ) from None

    own = client is None
    if own:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {
            client.submit(_calibrate_one, name, setup, mesh, options, str(folder), key=f"calibrate-{name}"): name
            for name, (setup, mesh) in todo.items()
        }
        progress = progress_bar(len(futures), "</> Calibrating catchments", verbose)
        for future in as_completed(futures):
            name = futures[future]
            try:
                rows[name] = future.result()
            except Exception as error:  # a failing catchment is reported; the others go on
                rows[name] = {"status": f"failed: {type(error).__name__}: {error}"}
            progress.update()
        progress.close()
    finally:
        if own:
            client.close()
            cluster.close()
