"""Read and write mesh dictionaries in smash's HDF5 layout.

Layout (as ``smash.io.save_mesh`` writes it): a group ``mesh`` whose scalars (int, float, str)
are attributes and whose arrays are gzip-compressed chunked datasets, text arrays stored as
bytes; the file attribute ``_save_func`` is ``"save_mesh"``. Files written here are read by
``smash.io.read_mesh`` and the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from hydrograd.io._atomic import atomic_path

_MARK = "save_mesh"


def _write_array(group: h5py.Group, key: str, value: Any) -> None:
    array = np.asarray(value)
    if array.dtype.kind in "OU":
        array = np.char.encode(array.astype(str), "utf-8")
    if array.size == 0:
        group.create_dataset(key, data=array)
    else:
        group.create_dataset(key, data=array, compression="gzip", chunks=True)


def _write_group(group: h5py.Group, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            _write_group(group.create_group(key), value)
        elif isinstance(value, list | tuple | np.ndarray):
            _write_array(group, key, value)
        elif isinstance(value, str | int | float | np.number):
            group.attrs[key] = value
        else:
            raise TypeError(f"mesh key '{key}' holds a {type(value).__name__}, which cannot be saved")


def save_mesh(mesh: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``mesh`` to the HDF5 file ``path`` (``.hdf5`` is appended if missing, as smash does).

    The file is written under a temporary name in the same folder and then moved onto ``path``,
    so an interrupted save leaves any previous file untouched. Keys holding ``None`` are skipped.
    """
    if not isinstance(mesh, Mapping):
        raise TypeError(f"mesh must be a dict, got {type(mesh).__name__}")
    path = os.fspath(path)
    if not path.endswith(".hdf5"):
        path += ".hdf5"
    with atomic_path(path) as tmp, h5py.File(tmp, "x") as h5:
        _write_group(h5.create_group("mesh"), mesh)
        h5.attrs["_save_func"] = _MARK


def _read_group(group: h5py.Group) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            values[key] = _read_group(item)
        else:
            array = item[()]
            values[key] = np.char.decode(array, "utf-8") if array.dtype.kind == "S" else array
    values.update(group.attrs.items())
    return values


def read_mesh(path: str | os.PathLike) -> dict[str, Any]:
    """Read a mesh dictionary written by ``save_mesh`` (this module's or smash's).

    Arrays come back with the dtypes they were saved with (text as str), scalars as numpy
    scalars. Raises FileNotFoundError if ``path`` is not a file and ValueError if it is not a
    mesh file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No mesh file at '{path}'")
    if not h5py.is_hdf5(path):
        raise ValueError(f"'{path}' is not an HDF5 file, so not a mesh file written by save_mesh")
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("_save_func") != _MARK or not isinstance(h5.get("mesh"), h5py.Group):
            raise ValueError(f"'{path}' is an HDF5 file but not a mesh file written by save_mesh")
        return _read_group(h5["mesh"])
