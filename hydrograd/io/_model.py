"""Whole models in smash's HDF5 layout (see ``hydrograd.formats.model_file`` for the layout), and
the light extract of ``save_model_ddt`` (``hydrograd.formats.model_ddt``)."""

from __future__ import annotations

import os

from hydrograd.api import check_model
from hydrograd.formats.model_ddt import write_model_ddt
from hydrograd.formats.model_file import read_model_file, write_model_file
from hydrograd.model import Model


def save_model(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` (setup, mesh, input data, parameters, states, network, responses) to the HDF5
    file ``path`` (``.hdf5`` is appended if missing, as smash does). The file is written under a
    temporary name beside ``path`` and then renamed onto it, so an interrupted save leaves any
    previous file untouched."""
    check_model(model)
    write_model_file(model.to_saved(), path)


def read_model(path: str | os.PathLike) -> Model:
    """Read a model written by ``save_model`` (hydrograd's or smash's); no input file is read again.

    FileNotFoundError if there is no such file; ValueError if it is not a model file, is
    incomplete or inconsistent (the message names the group), or was written with a newer
    ``format_version``.
    """
    return Model.from_saved(read_model_file(path))


def save_model_ddt(model: Model, path: str | os.PathLike) -> None:
    """Write a light extract of ``model`` (part of its setup and mesh, observed and simulated
    discharge, descriptors, parameter and state maps, network) to the HDF5 file ``path``
    (``.hdf5`` is appended if missing), in smash's layout; ``read_model_ddt`` reads it back as a
    dict of dicts. It cannot rebuild a model: use ``save_model`` for that."""
    check_model(model)
    write_model_ddt(model.to_saved(), path)
