"""Check a mesh dictionary before a Model is built on it, and convert it to smash's dtypes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hydrograd._validate import closest
from hydrograd.mesh.graph import downstream_cell, peel_levels

_INT_SCALARS = ("nrow", "ncol", "nac", "ng")
_FLOAT_SCALARS = ("xmin", "ymax", "xres", "yres")
# grids of shape (nrow, ncol) and the dtype the model uses for them
_GRIDS = {
    "dx": np.float32,
    "dy": np.float32,
    "flwdir": np.int32,
    "flwacc": np.float32,
    "active_cell": np.int32,
}
_GAUGE_KEYS = ("gauge_pos", "code", "area")
_OPTIONAL_GRIDS = {
    "flwdst": np.float32,
    "flwpar": np.int32,
    # written by smash when it saves a Model's mesh
    "rowcol_to_ind_ac": np.int32,
    "local_active_cell": np.int32,
}
_OPTIONAL = ("epsg", "npar", "ncpar", "cscpar", "cpar_to_rowcol", "area_dln", *_OPTIONAL_GRIDS)
_REQUIRED = (*_INT_SCALARS, *_FLOAT_SCALARS, *_GRIDS, *_GAUGE_KEYS)
DRAINED_AREA_TOLERANCE = 1e-3
VALID_KEYS = (*_REQUIRED, *_OPTIONAL)
GEOMETRY_KEYS = ("xmin", "ymax", "xres", "yres", "nrow", "ncol")
"""What a mesh without flow grids holds: enough to read rasters on its grid, not to simulate."""
# Fill of the flow grids of such a mesh: smash's unset values, except ``active_cell``, where 0
# (smash: -99) keeps "no active cell" and ``nac`` = 0 consistent.
_UNSET_GRIDS = {"dx": -99.0, "dy": -99.0, "flwdir": -99, "flwacc": -99.0, "active_cell": 0}


def _int_scalar(mesh: Mapping[str, Any], key: str) -> int:
    """``mesh[key]`` as an int; a float holding a whole number (``100.0``, as a grid size computed
    from a bounding box) is accepted, a fractional one refused (smash would truncate it)."""
    value = mesh[key]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, float | np.floating) and not isinstance(value, bool | np.bool_):
        if not (np.isfinite(value) and value == np.trunc(value)):
            raise ValueError(f"mesh key '{key}' must be a whole number, got {value!r}")
        value = int(value)
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"mesh key '{key}' must be an integer, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"mesh key '{key}' must be >= 0, got {value}")
    return int(value)


def _float_scalar(mesh: Mapping[str, Any], key: str) -> float:
    value = mesh[key]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"mesh key '{key}' must be a real number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"mesh key '{key}' must be finite, got {value}")
    return float(value)


def _array(mesh: Mapping[str, Any], key: str, shape: tuple[int, ...], shape_text: str, dtype: type) -> np.ndarray:
    """``mesh[key]`` as an array of ``dtype`` after checking its shape and that it is numeric; of a
    masked array (as ``generate_mesh`` returns them) the values under the mask are kept, as
    smash's Model reads them."""
    try:
        value = np.ma.getdata(mesh[key], subok=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"mesh key '{key}' must be an array, got {type(mesh[key]).__name__}") from exc
    if value.shape != shape:
        raise ValueError(f"mesh key '{key}' must have shape {shape_text} = {shape}, got {value.shape}")
    if value.dtype.kind not in "biuf":
        raise TypeError(f"mesh key '{key}' must hold numbers, got dtype {value.dtype}")
    if np.issubdtype(dtype, np.integer) and value.dtype.kind == "f":
        finite = np.isfinite(value)
        if (value[finite] != np.trunc(value[finite])).any():
            raise ValueError(f"mesh key '{key}' must hold whole numbers, got fractional values")
        value = np.where(finite & (np.abs(value) < 2**31), value, -99)
    return value.astype(dtype)


def _check_keys(mesh: Mapping[str, Any], required: tuple[str, ...], hint: str = "") -> None:
    unknown = [k for k in mesh if k not in VALID_KEYS]
    for key in required:
        if key not in mesh:
            hint += "".join(f" Unknown key '{u}' given.{closest(u, VALID_KEYS)}" for u in unknown)
            raise ValueError(f"mesh is missing the required key '{key}'.{hint}")
    for key in unknown:
        raise ValueError(f"mesh has an unknown key '{key}'.{closest(key, VALID_KEYS)} Valid keys: {sorted(VALID_KEYS)}")


def _geometry_only(mesh: Mapping[str, Any]) -> bool:
    """Whether ``mesh`` describes a grid and nothing to simulate on: none of the flow grids
    (``dx``, ``dy``, ``flwdir``, ``flwacc``, ``active_cell``), ``ng`` 0 and ``nac`` absent or 0."""
    if any(k in mesh for k in _GRIDS) or "ng" not in mesh:
        return False
    return not any(_int_scalar(mesh, k) for k in ("ng", "nac") if k in mesh)


def validate_mesh(mesh: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``mesh`` (as from ``generate_mesh`` or ``read_mesh``) and return a new dict for the Model.

    Checked: the required keys (``nrow``, ``ncol``, ``nac``, ``ng``, ``xmin``, ``ymax``, ``xres``,
    ``yres``, ``dx``, ``dy``, ``flwdir``, ``flwacc``, ``active_cell``, and ``gauge_pos``, ``code``,
    ``area`` unless ``ng`` is 0), the shapes and dtypes of every array against ``nrow``, ``ncol``,
    ``ng`` and ``npar``, that ``nac`` counts the active cells, that active cells hold D8 codes 1..8
    and positive ``dx``/``dy``, and that gauges sit on active cells with positive areas. Integer
    keys may be given as floats holding whole numbers.

    A mesh holding only the grid geometry (:data:`GEOMETRY_KEYS` and ``ng`` = 0, as smash's tests
    build to read forcing; ``nrow`` or ``ncol`` may then be 0) is accepted as a mesh without active
    cells: ``nac`` 0, ``active_cell`` 0, and ``dx``, ``dy``, ``flwacc`` (-99.0) and ``flwdir`` (-99)
    at smash's unset values. Rasters can be read on it; nothing can be simulated.

    Masked arrays count for their underlying data, mask ignored (smash's Model does the same):
    ``flwdir`` keeps its directions and ``flwdst`` its ``-99`` off the active cells.

    Returned: scalars as Python ``int``/``float``; grids (``(nrow, ncol)``) as float32 (``dx``,
    ``dy`` in m, ``flwacc`` in m2, ``flwdst`` in m) or int32 (``flwdir``, ``active_cell``,
    ``flwpar``); ``gauge_pos`` ``(ng, 2)`` int32; ``code`` ``(ng,)`` str; ``area``/``area_dln``
    ``(ng,)`` float32 m2. Missing gauge keys of a mesh without gauges are filled with empty arrays,
    and a missing ``area_dln`` (the delineated area) with the drained area ``flwacc`` at each gauge.
    """
    if not isinstance(mesh, Mapping):
        raise TypeError(f"mesh must be a dict, got {type(mesh).__name__}")
    geometry_only = _geometry_only(mesh)
    if geometry_only:
        _check_keys(mesh, (*GEOMETRY_KEYS, "ng"))
    else:
        hint = ""
        if not any(k in mesh for k in _GRIDS):
            hint = (
                " (a mesh without flow grids must have ng = 0 and no 'nac': it then only serves to read "
                f"rasters on the grid {list(GEOMETRY_KEYS)})"
            )
        _check_keys(mesh, tuple(k for k in _REQUIRED if k not in _GAUGE_KEYS), hint)
    out: dict[str, Any] = {k: _int_scalar(mesh, k) if k in mesh else 0 for k in _INT_SCALARS}
    if out["ng"] > 0:
        _check_keys(mesh, _GAUGE_KEYS)
    out.update({k: _float_scalar(mesh, k) for k in _FLOAT_SCALARS})
    for key in ("xres", "yres"):
        if out[key] <= 0:
            raise ValueError(f"mesh key '{key}' must be > 0, got {out[key]}")
    if "epsg" in mesh and mesh["epsg"] is not None:
        out["epsg"] = _int_scalar(mesh, "epsg")
    nrow, ncol, ng = out["nrow"], out["ncol"], out["ng"]
    if (nrow == 0 or ncol == 0) and not geometry_only:
        raise ValueError(f"mesh keys 'nrow' and 'ncol' must be > 0, got ({nrow}, {ncol})")
    grid = (nrow, ncol)
    for key, dtype in {**_GRIDS, **_OPTIONAL_GRIDS}.items():
        if key in mesh:
            out[key] = _array(mesh, key, grid, "(nrow, ncol)", dtype)
        elif geometry_only and key in _UNSET_GRIDS:
            out[key] = np.full(grid, _UNSET_GRIDS[key], dtype=dtype)
    _check_cells(out)
    _check_gauges(mesh, out, ng)
    _check_partition(mesh, out, nrow * ncol)
    return out


def _check_cells(out: dict[str, Any]) -> None:
    active_cell = out["active_cell"]
    if not np.isin(active_cell, (0, 1)).all():
        raise ValueError("mesh key 'active_cell' must hold only 0 and 1")
    active = active_cell == 1
    if int(active.sum()) != out["nac"]:
        raise ValueError(f"mesh key 'nac' ({out['nac']}) must equal the number of active cells ({int(active.sum())})")
    flwdir = out["flwdir"][active]
    if ((flwdir < 1) | (flwdir > 8)).any():
        rows, cols = np.nonzero(active & ((out["flwdir"] < 1) | (out["flwdir"] > 8)))
        raise ValueError(
            f"mesh key 'flwdir' must hold D8 codes 1..8 on active cells; cell (row {rows[0]}, col {cols[0]}) "
            f"holds {out['flwdir'][rows[0], cols[0]]}"
        )
    for key in ("dx", "dy"):
        values = out[key][active]
        if not (np.isfinite(values) & (values > 0)).all():
            raise ValueError(f"mesh key '{key}' must be finite and > 0 (m) on active cells")
    if not np.isfinite(out["flwacc"][active]).all():
        raise ValueError("mesh key 'flwacc' must be finite on active cells")
    _check_drained_area(out, active)


def _check_drained_area(out: dict[str, Any], active: np.ndarray) -> None:
    """``flwacc`` (m2) is a drained area: on an active cell, at least the cell's own area plus the
    drained areas of the active cells flowing into it (routing divides by the difference)."""
    flwacc = out["flwacc"].astype(np.float64)
    own = out["dx"].astype(np.float64) * out["dy"].astype(np.float64)
    drow, dcol = downstream_cell(np.where(active, out["flwdir"], 0))
    rows, cols = np.nonzero(active & (drow >= 0))
    into_active = active[drow[rows, cols], dcol[rows, cols]]
    rows, cols = rows[into_active], cols[into_active]
    target = drow[rows, cols] * flwacc.shape[1] + dcol[rows, cols]
    inflow = np.bincount(target, weights=flwacc[rows, cols], minlength=flwacc.size).reshape(flwacc.shape)
    short = active & (flwacc < (1.0 - DRAINED_AREA_TOLERANCE) * (own + inflow))
    if short.any():
        _check_no_loop(drow, dcol, active)
        r, c = (int(i[0]) for i in np.nonzero(short))
        raise ValueError(
            f"mesh key 'flwacc' must hold drained areas (m2): at least dx * dy plus the 'flwacc' of the active cells "
            f"flowing in; cell (row {r}, col {c}) holds {flwacc[r, c]:g} for {own[r, c] + inflow[r, c]:g}"
        )


def _check_no_loop(drow: np.ndarray, dcol: np.ndarray, active: np.ndarray) -> None:
    """ValueError naming a cell on (or below) a loop, if the active cells' flow directions form one:
    peeling cells without upstream cells, level by level, leaves exactly those."""
    rows, cols = np.nonzero(active)
    n = rows.size
    index = np.full(active.shape, n, dtype=np.int64)
    index[rows, cols] = np.arange(n)
    dr, dc = drow[rows, cols], dcol[rows, cols]
    downstream = np.where(dr >= 0, index[np.maximum(dr, 0), np.maximum(dc, 0)], n)
    peeled = peel_levels(downstream) >= 0
    if not peeled.all():
        i = int(np.flatnonzero(~peeled)[0])
        raise ValueError(
            f"mesh key 'flwdir': the flow directions of the active cells form a loop; the cell at (row {rows[i]}, "
            f"col {cols[i]}) lies on it or below it"
        )


def _check_gauges(mesh: Mapping[str, Any], out: dict[str, Any], ng: int) -> None:
    if ng == 0 and "gauge_pos" not in mesh:
        out["gauge_pos"] = np.zeros((0, 2), dtype=np.int32)
    else:
        out["gauge_pos"] = _array(mesh, "gauge_pos", (ng, 2), "(ng, 2)", np.int32)
    if ng == 0 and "code" not in mesh:
        out["code"] = np.zeros(0, dtype="<U1")
    else:
        code = np.asarray(mesh["code"])
        if code.shape != (ng,):
            raise ValueError(f"mesh key 'code' must have shape (ng,) = ({ng},), got {code.shape}")
        out["code"] = np.char.decode(code, "utf-8") if code.dtype.kind == "S" else code.astype(str)
        codes, counts = np.unique(out["code"], return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"mesh key 'code' must name each gauge once; {codes[counts > 1].tolist()} repeat")
    if ng == 0 and "area" not in mesh:
        out["area"] = np.zeros(0, dtype=np.float32)
    else:
        out["area"] = _array(mesh, "area", (ng,), "(ng,)", np.float32)
    if "area_dln" in mesh:
        out["area_dln"] = _array(mesh, "area_dln", (ng,), "(ng,)", np.float32)
    for key in ("area", "area_dln"):
        if key in out and not (np.isfinite(out[key]) & (out[key] > 0)).all():
            raise ValueError(f"mesh key '{key}' must be finite and > 0 (m2)")
    pos = out["gauge_pos"]
    nrow, ncol = out["nrow"], out["ncol"]
    inside = (pos[:, 0] >= 0) & (pos[:, 0] < nrow) & (pos[:, 1] >= 0) & (pos[:, 1] < ncol)
    if not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise ValueError(
            f"mesh key 'gauge_pos': gauge {i} ('{out['code'][i]}') at (row {pos[i, 0]}, col {pos[i, 1]}) "
            f"lies outside the grid (nrow, ncol) = ({nrow}, {ncol})"
        )
    on_active = out["active_cell"][pos[:, 0], pos[:, 1]] == 1
    if not on_active.all():
        i = int(np.flatnonzero(~on_active)[0])
        raise ValueError(
            f"mesh key 'gauge_pos': gauge {i} ('{out['code'][i]}') at (row {pos[i, 0]}, col {pos[i, 1]}) "
            "is not on an active cell"
        )
    if "area_dln" not in out:
        out["area_dln"] = out["flwacc"][pos[:, 0], pos[:, 1]].astype(np.float32)


def _check_partition(mesh: Mapping[str, Any], out: dict[str, Any], ncell: int) -> None:
    if "npar" in mesh:
        out["npar"] = _int_scalar(mesh, "npar")
    for key in ("ncpar", "cscpar"):
        if key in mesh:
            if "npar" not in out:
                raise ValueError(f"mesh key '{key}' needs the key 'npar'")
            out[key] = _array(mesh, key, (out["npar"],), "(npar,)", np.int32)
    if "cpar_to_rowcol" in mesh:
        out["cpar_to_rowcol"] = _array(mesh, "cpar_to_rowcol", (ncell, 2), "(nrow * ncol, 2)", np.int32)
