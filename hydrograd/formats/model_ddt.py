"""A light extract of a model in smash's ``save_model_ddt`` HDF5 layout, read back as a dict of
dicts (``hydrograd.io.save_model_ddt`` / ``read_model_ddt``). Unlike a model file it cannot
rebuild a model: it has no forcing and only part of the setup and mesh.

Layout: group ``model_ddt``, one sub-group per model attribute, scalars as attributes, arrays as
gzip-compressed datasets, text arrays as bytes at least 128 wide (smash's width):

- ``setup``: ``snow_module``, ``hydrological_module``, ``routing_module``, ``serr_mu_mapping``,
  ``serr_sigma_mapping``, ``start_time``, ``end_time``, ``descriptor_tfm`` (text), ``dt`` (s,
  float64), ``descriptor_name`` ``(nd,)``;
- ``mesh``: ``xres``, ``yres``, ``xmin``, ``ymax`` (float64), ``dx``, ``dy`` ``(nrow, ncol)`` m
  (float32), ``active_cell`` ``(nrow, ncol)`` int32, ``gauge_pos`` ``(ng, 2)`` int32 (0-based
  row, column), ``code`` ``(ng,)``, ``area`` ``(ng,)`` m2 float32;
- ``response_data``, ``response``: observed, simulated ``q`` ``(ng, ntime_step)`` m3/s;
- ``physio_data``: ``descriptor`` ``(nrow, ncol, nd)``;
- ``atmos_data``: ``mean_prcp``, ``mean_pet``, ``mean_snow``, ``mean_temp`` ``(ng, ntime_step)``;
- ``rr_parameters``, ``rr_initial_states``, ``rr_final_states``: ``keys`` ``(n,)`` and ``values``
  ``(nrow, ncol, n)`` float32;
- ``serr_mu_parameters``, ``serr_sigma_parameters``: ``keys`` ``(n,)`` (the setup's mappings'
  parameters; ``n`` may be 0) and ``values`` ``(ng, n)`` float32, the model's structural-error
  parameters;
- ``nn_parameters``: ``weight_i`` ``(n_out, n_in)`` and ``bias_i`` ``(n_out,)`` float32 of every
  layer the model allocates (smash's placeholders included).

As smash does, a group is left out when the model lacks one of its keys: ``atmos_data`` is only
written for a model with snow inputs (``mean_snow``, ``mean_temp``). File attributes:
``_save_func = "save_model_ddt"`` (smash's mark) and ``format_version``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from hydrograd.formats._atomic import as_path, atomic_path
from hydrograd.formats._hdf5 import FORMAT_VERSION, FORMAT_VERSION_KEY, open_saved, read_dict, write_dict
from hydrograd.formats.model_file import SavedModel

_MARK = "save_model_ddt"
_GROUP = "model_ddt"
_TEXT_WIDTH = 128

DDT_KEYS: dict[str, tuple[str, ...]] = {
    "setup": (
        "snow_module",
        "hydrological_module",
        "routing_module",
        "serr_mu_mapping",
        "serr_sigma_mapping",
        "start_time",
        "end_time",
        "dt",
        "descriptor_name",
        "descriptor_tfm",
    ),
    "mesh": ("xres", "yres", "xmin", "ymax", "dx", "dy", "active_cell", "gauge_pos", "code", "area"),
    "response_data": ("q",),
    "physio_data": ("descriptor",),
    "atmos_data": ("mean_prcp", "mean_pet", "mean_snow", "mean_temp"),
    "response": ("q",),
}
"""The keys each plain group holds (the keyed maps, the structural-error parameters and the network
are listed in the module's docstring)."""

_KEYED = ("rr_parameters", "rr_initial_states", "rr_final_states", "serr_mu_parameters", "serr_sigma_parameters")


def _text(value: Any) -> Any:
    """Text arrays as bytes of at least smash's width; anything else as it is."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        encoded = np.char.encode(value.astype(str), "utf-8")
        return encoded.astype(f"S{max(_TEXT_WIDTH, encoded.dtype.itemsize)}")
    return value


def ddt_groups(saved: SavedModel) -> dict[str, dict[str, Any]]:
    """The groups ``save_model_ddt`` writes, from a model's saved contents."""
    sources: dict[str, Mapping[str, Any]] = {
        "setup": {key: getattr(saved.setup, key) for key in DDT_KEYS["setup"]},
        "mesh": saved.mesh,
        "response_data": saved.response_data,
        "physio_data": saved.physio_data,
        "atmos_data": saved.atmos_data,
        "response": saved.response,
    }
    groups = {
        name: {key: sources[name][key] for key in keys}
        for name, keys in DDT_KEYS.items()
        if all(key in sources[name] for key in keys)
    }
    for name in _KEYED:
        maps = getattr(saved, name)
        groups[name] = {"keys": maps.keys, "values": maps.values}
    groups["nn_parameters"] = dict(saved.nn_parameters)
    return groups


def write_model_ddt(saved: SavedModel, path: str | os.PathLike) -> str:
    """Write the extract of ``saved`` (see the module's docstring) to the HDF5 file ``path``
    (``.hdf5`` is appended if missing, as smash does); returns the path written. The file is
    written under a temporary name beside ``path`` and then renamed onto it."""
    path = as_path(path)
    if not path.endswith(".hdf5"):
        path += ".hdf5"
    groups = {name: {key: _text(value) for key, value in group.items()} for name, group in ddt_groups(saved).items()}
    with atomic_path(path) as tmp, h5py.File(tmp, "x") as h5:
        write_dict(h5.create_group(_GROUP), groups, "model_ddt")
        h5.attrs["_save_func"] = _MARK
        h5.attrs[FORMAT_VERSION_KEY] = FORMAT_VERSION
    return path


def read_model_ddt(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a file written by ``save_model_ddt`` (hydrograd's or smash's): a dict with one dict per
    group (see the module's docstring), arrays as numpy arrays (text as ``<U128``), scalars as
    ``str`` or numpy scalars, as smash returns them.

    FileNotFoundError if there is no such file; ValueError (naming the file) if it is not an HDF5
    file written by ``save_model_ddt``, is damaged, or holds arrays whose shapes disagree (maps and
    their keys, grids of different shapes).
    """
    path = as_path(path)
    with open_saved(path, "model_ddt", _MARK, _GROUP) as group:
        try:
            groups = read_dict(group, keep_width=True)
        except (OSError, KeyError, RuntimeError) as error:
            raise ValueError(f"'{path}' cannot be read as HDF5 ({error}); the file may be damaged") from None
    _check(groups, path)
    return groups


def _check(groups: dict[str, Any], path: str) -> None:
    """ValueError when a group is not a group, a map's values do not match its keys, or grids
    disagree in shape."""
    for name, group in groups.items():
        if not isinstance(group, dict):
            raise ValueError(f"'{path}': 'model_ddt/{name}' is not a group; the file is not a model_ddt file")
    grids = []
    for name in _KEYED:
        group = groups.get(name, {})
        keys, values = group.get("keys"), group.get("values")
        if keys is None and values is None:
            continue
        if not isinstance(keys, np.ndarray) or keys.ndim != 1 or keys.dtype.kind != "U":
            raise ValueError(f"'{path}': '{name}/keys' is {keys!r:.60}, expected a 1-D array of names")
        if not isinstance(values, np.ndarray) or values.ndim < 2 or values.shape[-1] != keys.size:
            raise ValueError(
                f"'{path}': '{name}/values' has shape {np.shape(values)}; expected one last-axis entry per key "
                f"({keys.size})"
            )
        if name.startswith("rr_"):
            grids.append((f"{name}/values", values.shape[:2]))
    mesh, physio = groups.get("mesh", {}), groups.get("physio_data", {})
    grids += [(f"mesh/{k}", np.shape(mesh[k])) for k in ("active_cell", "dx", "dy") if k in mesh]
    if "descriptor" in physio:
        grids.append(("physio_data/descriptor", np.shape(physio["descriptor"])[:2]))
    if grids and any(shape != grids[0][1] for _, shape in grids):
        shapes = ", ".join(f"'{where}' {shape}" for where, shape in grids)
        raise ValueError(f"'{path}': the grids disagree in shape: {shapes}")
