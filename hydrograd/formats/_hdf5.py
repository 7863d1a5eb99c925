"""HDF5 helpers shared by the mesh, model and network files: opening with clear errors, the
``format_version`` stamp, and writing/reading nested dicts of arrays and scalars.

Every file hydrograd writes carries the root attribute ``format_version`` (an integer, currently
:data:`FORMAT_VERSION`). A reader refuses a file stamped with a version it does not know (written
by a newer hydrograd) and accepts a file without the stamp as written by smash.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np

FORMAT_VERSION = 1
FORMAT_VERSION_KEY = "format_version"


@contextlib.contextmanager
def open_hdf5(path: str, what: str) -> Iterator[h5py.File]:
    """Open ``path`` for reading; FileNotFoundError when there is no such file, ValueError when it
    is not a readable HDF5 file (``what`` names the kind of file expected, for the messages)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {what} file at '{path}'")
    if not h5py.is_hdf5(path):
        raise ValueError(f"'{path}' is not an HDF5 file, so not a {what} file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"'{path}' cannot be read as HDF5 ({error}); the file may be truncated or damaged") from None
    with h5:
        yield h5


@contextlib.contextmanager
def open_saved(path: str, what: str, saver: str, group: str) -> Iterator[h5py.Group]:
    """Open a file written by ``saver`` (``save_mesh``, ``save_model``, ``save_net``) and yield its
    top group ``group``, after checking the file's mark and ``format_version``; the errors of
    :func:`open_hdf5`, and ValueError for an HDF5 file of another kind or from a newer hydrograd."""
    with open_hdf5(path, what) as h5:
        if h5.attrs.get("_save_func") != saver or not isinstance(h5.get(group), h5py.Group):
            raise ValueError(f"'{path}' is an HDF5 file but not a {what} file written by {saver}")
        check_format_version(h5, path)
        yield h5[group]


def check_format_version(h5: h5py.File, path: str) -> int:
    """The file's ``format_version`` (0 for a file without one, as smash writes them); ValueError
    for a version this hydrograd does not know."""
    version = h5.attrs.get(FORMAT_VERSION_KEY)
    if version is None:
        return 0
    if not isinstance(version, int | np.integer) or isinstance(version, bool | np.bool_):
        raise ValueError(f"'{path}' has an unreadable format_version {version!r} (an integer is expected)")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"'{path}' was written with format_version {int(version)}, newer than this hydrograd reads "
            f"(up to {FORMAT_VERSION}): upgrade hydrograd to read it"
        )
    if version < 1:
        raise ValueError(f"'{path}' has an unknown format_version {int(version)}")
    return int(version)


def write_array(group: h5py.Group, key: str, value: Any, what: str) -> None:
    """Store ``value`` as a dataset (text as UTF-8 bytes; gzip for non-empty arrays). Dtypes and
    bits are kept, so a round trip is exact."""
    array = np.asarray(value)
    if array.dtype.kind == "O" and not all(isinstance(v, str) for v in array.ravel()):
        raise TypeError(f"{what} '{key}' holds an array of objects, which cannot be saved (numbers or text only)")
    if array.dtype.kind in "OU":
        array = np.char.encode(array.astype(str), "utf-8")
    if array.dtype.kind not in "biufS":
        raise TypeError(f"{what} '{key}' holds an array of dtype {array.dtype}, which cannot be saved")
    if array.size == 0 or array.ndim == 0:
        group.create_dataset(key, data=array)
    else:
        group.create_dataset(key, data=array, compression="gzip", chunks=True)


def write_dict(group: h5py.Group, values: Mapping[str, Any], what: str) -> None:
    """Scalars (str, int, float, bool) as attributes, arrays as datasets, dicts as sub-groups;
    ``None`` values are skipped."""
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(key, str):
            raise TypeError(f"{what} {key!r} is a {type(key).__name__}: only text keys can be saved")
        if key in ("", ".") or "/" in key:
            raise ValueError(f"{what} {key!r} cannot be saved: HDF5 names must be non-empty text without '/'")
        if isinstance(value, Mapping):
            write_dict(group.create_group(key), value, what)
        elif isinstance(value, list | tuple | np.ndarray):
            write_array(group, key, value, what)
        elif isinstance(value, str | int | float | np.number | np.bool_):
            group.attrs[key] = value
        else:
            raise TypeError(f"{what} '{key}' holds a {type(value).__name__}, which cannot be saved")


def read_dict(group: h5py.Group, *, keep_width: bool = False) -> dict[str, Any]:
    """Inverse of :func:`write_dict`: datasets as numpy arrays (text decoded to str), attributes as
    numpy scalars or str, sub-groups as dicts. ``keep_width``: decoded text keeps the stored width
    (``S128`` gives ``<U128``, as smash's readers return it) instead of the longest entry's."""
    values: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            values[key] = read_dict(item, keep_width=keep_width)
        else:
            array = item[()]
            if array.dtype.kind == "S":
                text = np.char.decode(array, "utf-8")
                array = text.astype(f"U{array.dtype.itemsize}") if keep_width else text
            values[key] = array
    values.update(group.attrs.items())
    return values
