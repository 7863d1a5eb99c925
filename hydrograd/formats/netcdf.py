"""Labelled results: a model's results as an ``xarray.Dataset``, and netCDF files.

Layout of :func:`results_dataset`'s dataset (the names netCDF files written by ``hydrograd run``
hold too):

- coordinates ``gauge`` (codes), ``time`` (the date closing each time step), ``y`` and ``x`` (cell
  centres in the mesh's projected coordinates, from ``xmin``, ``ymax``, ``xres``, ``yres``), with
  ``gauge_x``, ``gauge_y``, ``gauge_area`` (m2) along ``gauge``;
- ``q`` and ``q_obs`` ``(gauge, time)`` m3/s: simulated and observed discharge (missing
  observations as NaN);
- one ``(y, x)`` map per parameter (``cp``, ...), per initial state (``hp_initial``, ...) and per
  final state (``hp_final``, ...), NaN outside the active cells, and ``active_cell`` (0/1);
- from a ``ForwardRun``/``Optimize`` holding them: ``q_domain`` ``(time_step, y, x)`` m3/s and one
  ``(time_step, y, x)`` map per state (``hp``, ...), on the returned ``time_step`` dates.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hydrograd._validate import closest
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.formats._atomic import atomic_path

if TYPE_CHECKING:
    import xarray as xr

ENGINES = ("netcdf4", "h5netcdf", "scipy")
"""netCDF writers xarray can use, in order of preference (scipy writes netCDF3 only)."""

_ENGINE_MODULES = {"netcdf4": "netCDF4", "h5netcdf": "h5netcdf", "scipy": "scipy.io"}


def _on_grid(active: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Float map with NaN outside the active cells (``values`` has the grid's two leading axes)."""
    out = np.asarray(values, dtype=np.float32).copy()
    out[~active] = np.nan
    return out


def results_dataset(
    mesh: Mapping[str, Any],
    time_index: pd.DatetimeIndex,
    attrs: Mapping[str, Any],
    q: np.ndarray,
    q_obs: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    initial_states: Mapping[str, np.ndarray],
    final_states: Mapping[str, np.ndarray],
    run: Any = None,
) -> xr.Dataset:
    """A model's discharge ``q`` and observations ``q_obs`` ``(ng, ntime_step)``, its maps
    (name -> ``(nrow, ncol)``) and, from ``run`` (a ``ForwardRun`` or ``Optimize``), its
    time-stepped outputs, as a labelled dataset; see the module docstring for the layout.
    ``mesh`` holds the mesh's values, ``attrs`` the dataset's attributes (structure, dt, ...)."""
    import xarray as xr

    nrow, ncol = int(mesh["nrow"]), int(mesh["ncol"])
    rows, cols = np.arange(nrow), np.arange(ncol)
    xres, yres = float(mesh["xres"]), float(mesh["yres"])
    x = float(mesh["xmin"]) + (cols + 0.5) * xres
    y = float(mesh["ymax"]) - (rows + 0.5) * yres
    codes = np.array([str(c) for c in mesh["code"]]) if len(mesh["code"]) else np.array([], dtype=str)
    gauge_rows, gauge_cols = np.asarray(mesh["gauge_pos"], dtype=np.int64).reshape(-1, 2).T
    active = np.asarray(mesh["active_cell"]) == 1
    coords: dict[str, Any] = {
        "gauge": ("gauge", codes),
        "time": ("time", time_index),
        "y": ("y", y, {"units": "m", "long_name": "y of the cell centre"}),
        "x": ("x", x, {"units": "m", "long_name": "x of the cell centre"}),
        "gauge_x": ("gauge", float(mesh["xmin"]) + (gauge_cols + 0.5) * xres, {"units": "m"}),
        "gauge_y": ("gauge", float(mesh["ymax"]) - (gauge_rows + 0.5) * yres, {"units": "m"}),
        "gauge_area": ("gauge", np.asarray(mesh["area"], dtype=np.float64).reshape(-1), {"units": "m2"}),
    }
    q_obs = np.asarray(q_obs, dtype=np.float32)
    data: dict[str, Any] = {
        "q": (("gauge", "time"), np.asarray(q, dtype=np.float32), {"units": "m3/s", "long_name": "discharge"}),
        "q_obs": (
            ("gauge", "time"),
            np.where(q_obs >= 0, q_obs, np.nan).astype(np.float32),
            {"units": "m3/s", "long_name": "observed discharge"},
        ),
        "active_cell": (("y", "x"), active.astype(np.int8), {"long_name": "active cell"}),
    }
    for key, values in parameters.items():
        data[key] = (("y", "x"), _on_grid(active, values), _attrs(key, "parameter"))
    for key, values in initial_states.items():
        data[f"{key}_initial"] = (("y", "x"), _on_grid(active, values), _attrs(key, "initial state"))
        data[f"{key}_final"] = (("y", "x"), _on_grid(active, final_states[key]), _attrs(key, "final state"))
    if run is not None and getattr(run, "time_step", None) is not None:
        coords["time_step"] = ("time_step", run.time_step)
        if getattr(run, "q_domain", None) is not None:
            values = np.moveaxis(_on_grid(active, run.q_domain), -1, 0)
            data["q_domain"] = (("time_step", "y", "x"), values, {"units": "m3/s", "long_name": "discharge"})
        if getattr(run, "rr_states", None) is not None:
            stacked = np.stack([_on_grid(active, s.values) for s in run.rr_states])
            for i, key in enumerate(initial_states):
                data[key] = (("time_step", "y", "x"), stacked[..., i], _attrs(key, "state"))
    return xr.Dataset(data, coords=coords, attrs=dict(attrs))


def _attrs(key: str, kind: str) -> dict[str, str]:
    """``long_name`` and the ``units`` of the core's parameter and state tables."""
    spec = RR_PARAMETERS.get(key) if kind == "parameter" else RR_STATES.get(key)
    return {"long_name": f"{kind} {key}", "units": spec.unit} if spec else {"long_name": f"{kind} {key}"}


def netcdf_engine(engine: str | None = None) -> str:
    """The netCDF writer to use: ``engine`` if installed, else the first of :data:`ENGINES` that is."""
    if engine is not None:
        if engine not in ENGINES:
            raise ValueError(f"Unknown netCDF engine '{engine}'.{closest(engine, ENGINES)} Choices: {list(ENGINES)}")
        candidates = (engine,)
    else:
        candidates = ENGINES
    for name in candidates:
        if importlib.util.find_spec(_ENGINE_MODULES[name].split(".")[0]) is not None:
            return name
    raise ImportError(
        f"no netCDF writer for engine(s) {list(candidates)}: install one, e.g. pip install netCDF4 "
        "(or h5netcdf, or scipy for netCDF3)"
    )


def save_netcdf(dataset: xr.Dataset, path: str | os.PathLike, engine: str | None = None) -> str:
    """Write ``dataset`` to ``path`` with :func:`netcdf_engine`'s choice; returns the engine used.

    The folder is created if needed; the file is written atomically (an interrupted save never
    leaves a truncated file at ``path``).
    """
    chosen = netcdf_engine(engine)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        dataset.to_netcdf(tmp, engine=chosen)
    return chosen
