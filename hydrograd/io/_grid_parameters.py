"""A model's parameter and initial-state maps as GeoTIFF files, one per map (see
``hydrograd.formats.grid_parameters`` for the layout and the reading rules)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hydrograd._validate import as_bool, closest
from hydrograd.api import check_model
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.formats._atomic import as_path
from hydrograd.formats.grid_parameters import ACTIVE_CELL, grid_file, read_grid_map, write_grid_maps
from hydrograd.model import Model


def _names(model: Model, parameters: Any) -> list[str]:
    """The maps ``parameters`` names (any of the model's parameters and initial states; all its
    parameters when None), lower-cased; TypeError or ValueError naming a bad entry."""
    rr_parameters = [str(k) for k in model.rr_parameters.keys]
    if parameters is None:
        return rr_parameters
    available = rr_parameters + [str(k) for k in model.rr_initial_states.keys]
    if isinstance(parameters, str):
        given = [parameters]
    elif isinstance(parameters, list | tuple):
        given = list(parameters)
    elif isinstance(parameters, np.ndarray):
        given = parameters.ravel().tolist()
    else:
        raise TypeError(f"parameters must be a str or a list, tuple or array of str, got {type(parameters).__name__}")
    names = []
    for i, name in enumerate(given):
        if not isinstance(name, str):
            raise TypeError(f"parameters[{i}] must be a str, got {type(name).__name__} {name!r:.40}")
        if name.lower() not in available:
            raise ValueError(
                f"Unknown parameter '{name}' at index {i} in parameters for structure "
                f"'{model.setup.structure}'.{closest(name.lower(), available)} Choices: {available}"
            )
        names.append(name.lower())
    return names


def save_grid_parameters(
    model: Model, path: str | os.PathLike, parameters: Any = None, save_active_cell: bool = False
) -> None:
    """Write maps of ``model`` to the folder ``path`` (created if needed), one GeoTIFF per map:
    ``<name>.tif``, float64, on the mesh's grid and CRS (``epsg``), as smash writes them.

    ``parameters``: a name or a list of names among the model's ``rr_parameters`` and
    ``rr_initial_states`` keys (default: every parameter); ``save_active_cell`` adds the mask
    ``active_cell.tif``. Read them back with :func:`read_grid_parameters`.
    """
    check_model(model)
    names = _names(model, parameters)
    maps = {name: _current(model, name) for name in names}
    if as_bool(save_active_cell, "save_active_cell"):
        maps[ACTIVE_CELL] = model.mesh.active_cell
    setup = model.setup
    tags = {
        "start_time": setup.start_time,
        "end_time": setup.end_time,
        "dt": setup.dt,
        "structure": setup.structure,
        "snow_module": setup.snow_module,
        "hydrological_module": setup.hydrological_module,
        "routing_module": setup.routing_module,
        "epsg": getattr(model.mesh, "epsg", None),
    }
    write_grid_maps(path, maps, model.mesh, tags["epsg"], tags)


def _current(model: Model, name: str) -> np.ndarray:
    if name in model.rr_parameters.keys:
        return model.get_rr_parameters(name)
    return model.get_rr_initial_states(name)


def read_grid_parameters(model: Model, path: str | os.PathLike, parameters: Any = None) -> None:
    """Set maps of ``model`` from the GeoTIFF files ``<name>.tif`` in the folder ``path`` (as
    :func:`save_grid_parameters` writes them, or any raster): each is resampled (nearest
    neighbour) and reprojected onto the model's grid, and cells it does not cover, nodata cells
    and values outside the map's feasible domain take smash's default value.

    ``parameters``: a name or a list of names among the model's ``rr_parameters`` and
    ``rr_initial_states`` keys (default: every parameter). Every file is read before the model
    changes. FileNotFoundError for a missing folder or file; ValueError naming a file that cannot
    be read or does not overlap the mesh (a UserWarning when it covers part of it).
    """
    check_model(model)
    names = _names(model, parameters)
    directory = as_path(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"No grid parameters directory '{directory}'")
    mesh, parameter_keys = model.mesh, model.rr_parameters.keys
    maps = {}
    for name in names:
        parameter = name in parameter_keys
        spec = RR_PARAMETERS[name] if parameter else RR_STATES[name]
        maps[name] = read_grid_map(
            grid_file(directory, name), mesh, getattr(mesh, "epsg", None), spec, parameter=parameter
        )
    for name, values in maps.items():
        if name in parameter_keys:
            model.set_rr_parameters(name, values)
        else:
            model.set_rr_initial_states(name, values)
