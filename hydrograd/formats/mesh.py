"""Read and write mesh dictionaries in smash's HDF5 layout.

Layout (as ``smash.io.save_mesh`` writes it): a group ``mesh`` whose scalars (int, float, str)
are attributes and whose arrays are gzip-compressed chunked datasets, text arrays stored as
bytes; the file attribute ``_save_func`` is ``"save_mesh"``, and hydrograd adds the file attribute
``format_version`` (see ``hydrograd.io._hdf5``). Files written here are read by
``smash.io.read_mesh`` and the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py

from hydrograd.formats._atomic import as_path, atomic_path
from hydrograd.formats._hdf5 import (
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    open_saved,
    read_dict,
    write_dict,
)

_MARK = "save_mesh"


def save_mesh(mesh: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``mesh`` to the HDF5 file ``path`` (``.hdf5`` is appended if missing, as smash does).

    The file is written under a temporary name in the same folder and then moved onto ``path``,
    so an interrupted save leaves any previous file untouched. Keys holding ``None`` are skipped.
    Masked arrays (``generate_mesh``'s ``flwdir``, ``flwacc``, ``flwdst``, ``flwpar``) are saved as
    their underlying data, the mask dropped, as smash saves them: read back, they are plain arrays.
    """
    if not isinstance(mesh, Mapping):
        raise TypeError(f"mesh must be a dict, got {type(mesh).__name__}")
    path = as_path(path)
    if not path.endswith(".hdf5"):
        path += ".hdf5"
    with atomic_path(path) as tmp, h5py.File(tmp, "x") as h5:
        write_dict(h5.create_group("mesh"), mesh, "mesh key")
        h5.attrs["_save_func"] = _MARK
        h5.attrs[FORMAT_VERSION_KEY] = FORMAT_VERSION


def read_mesh(path: str | os.PathLike) -> dict[str, Any]:
    """Read a mesh dictionary written by ``save_mesh`` (this module's or smash's).

    Arrays come back with the dtypes they were saved with (text as str), scalars as numpy
    scalars. Raises FileNotFoundError if ``path`` is not a file and ValueError if it is not a
    readable mesh file or comes from a newer hydrograd (``format_version``).
    """
    path = as_path(path)
    with open_saved(path, "mesh", _MARK, "mesh") as group:
        return read_dict(group)
