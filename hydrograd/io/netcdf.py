"""Labelled results: a model as an ``xarray.Dataset``, and netCDF files.

Layout of :func:`model_to_xarray`'s dataset (the names netCDF files written by ``hydrograd run``
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
from typing import TYPE_CHECKING, Any

import numpy as np

from hydrograd.io._atomic import atomic_path

if TYPE_CHECKING:
    import xarray as xr

    from hydrograd.model import Model

ENGINES = ("netcdf4", "h5netcdf", "scipy")
"""netCDF writers xarray can use, in order of preference (scipy writes netCDF3 only)."""

_ENGINE_MODULES = {"netcdf4": "netCDF4", "h5netcdf": "h5netcdf", "scipy": "scipy.io"}

_UNITS = {
    "ci": "mm",
    "cp": "mm",
    "ct": "mm",
    "cl": "mm",
    "be": "mm",
    "ca": "mm",
    "cc": "mm",
    "kexc": "mm/dt",
    "llr": "min",
    "akw": "-",
    "bkw": "-",
    "he": "mm",
    "hlr": "mm",
}


def _grid(model: Model, values: np.ndarray) -> np.ndarray:
    """Float map with NaN outside the active cells (``values`` has the grid's two leading axes)."""
    active = np.asarray(model.mesh.active_cell) == 1
    out = np.asarray(values, dtype=np.float32).copy()
    out[~active] = np.nan
    return out


def model_to_xarray(model: Model, run: Any = None) -> xr.Dataset:
    """``model``'s discharge, maps and (from ``run``, a ``ForwardRun`` or ``Optimize``) time-stepped
    outputs as a labelled dataset; see the module docstring for the layout."""
    import xarray as xr

    mesh, setup = model.mesh, model.setup
    rows, cols = np.arange(mesh.nrow), np.arange(mesh.ncol)
    xres, yres = float(mesh.xres), float(mesh.yres)
    x = float(mesh.xmin) + (cols + 0.5) * xres
    y = float(mesh.ymax) - (rows + 0.5) * yres
    codes = np.array([str(c) for c in mesh.code]) if mesh.ng else np.array([], dtype=str)
    gauge_rows, gauge_cols = np.asarray(mesh.gauge_pos, dtype=np.int64).reshape(-1, 2).T
    coords: dict[str, Any] = {
        "gauge": ("gauge", codes),
        "time": ("time", setup.time_index()),
        "y": ("y", y, {"units": "m", "long_name": "y of the cell centre"}),
        "x": ("x", x, {"units": "m", "long_name": "x of the cell centre"}),
        "gauge_x": ("gauge", float(mesh.xmin) + (gauge_cols + 0.5) * xres, {"units": "m"}),
        "gauge_y": ("gauge", float(mesh.ymax) - (gauge_rows + 0.5) * yres, {"units": "m"}),
        "gauge_area": ("gauge", np.asarray(mesh.area, dtype=np.float64).reshape(-1), {"units": "m2"}),
    }
    q_obs = np.asarray(model.response_data.q, dtype=np.float32)
    data: dict[str, Any] = {
        "q": (("gauge", "time"), model.response.q.astype(np.float32), {"units": "m3/s", "long_name": "discharge"}),
        "q_obs": (
            ("gauge", "time"),
            np.where(q_obs >= 0, q_obs, np.nan).astype(np.float32),
            {"units": "m3/s", "long_name": "observed discharge"},
        ),
        "active_cell": (("y", "x"), np.asarray(mesh.active_cell, dtype=np.int8), {"long_name": "active cell"}),
    }
    for key in model.rr_parameters.keys:
        data[str(key)] = (("y", "x"), _grid(model, model.get_rr_parameters(key)), _attrs(key, "parameter"))
    for key in model.rr_initial_states.keys:
        attrs = _attrs(key, "initial state")
        data[f"{key}_initial"] = (("y", "x"), _grid(model, model.get_rr_initial_states(key)), attrs)
        data[f"{key}_final"] = (("y", "x"), _grid(model, model.get_rr_final_states(key)), _attrs(key, "final state"))
    if run is not None and getattr(run, "time_step", None) is not None:
        coords["time_step"] = ("time_step", run.time_step)
        if getattr(run, "q_domain", None) is not None:
            values = np.moveaxis(_grid(model, run.q_domain), -1, 0)
            data["q_domain"] = (("time_step", "y", "x"), values, {"units": "m3/s", "long_name": "discharge"})
        if getattr(run, "rr_states", None) is not None:
            keys = [str(k) for k in model.rr_initial_states.keys]
            stacked = np.stack([_grid(model, s.values) for s in run.rr_states])
            for i, key in enumerate(keys):
                data[key] = (("time_step", "y", "x"), stacked[..., i], _attrs(key, "state"))
    attrs = {
        "title": "hydrograd results",
        "structure": str(setup.structure),
        "dt": float(setup.dt),
        "start_time": str(setup.start),
        "end_time": str(setup.end),
        "xres": xres,
        "yres": yres,
    }
    if mesh.__dict__.get("epsg") is not None:
        attrs["epsg"] = int(mesh.epsg)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _attrs(key: str, kind: str) -> dict[str, str]:
    unit = _UNITS.get(str(key), "-" if kind != "parameter" else "")
    return {"long_name": f"{kind} {key}", "units": unit} if unit else {"long_name": f"{kind} {key}"}


def netcdf_engine(engine: str | None = None) -> str:
    """The netCDF writer to use: ``engine`` if installed, else the first of :data:`ENGINES` that is."""
    if engine is not None:
        if engine not in ENGINES:
            from hydrograd.config._checks import closest

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
