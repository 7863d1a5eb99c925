"""Reading and writing smash-format files: the public face (``hydrograd.io.read_mesh``, ...).

The readers and writers themselves live in ``hydrograd.formats`` and take plain values;
``save_model``/``read_model`` and ``save_model_ddt`` convert a ``Model`` through its public
``to_saved``/``from_saved``; ``save_grid_parameters``/``read_grid_parameters`` go through its
parameter and state getters and setters.
"""

from hydrograd.formats.mesh import read_mesh, save_mesh
from hydrograd.formats.model_ddt import read_model_ddt
from hydrograd.formats.net import read_net, save_net
from hydrograd.formats.netcdf import save_netcdf
from hydrograd.formats.setup import read_setup, save_setup
from hydrograd.io._grid_parameters import read_grid_parameters, save_grid_parameters
from hydrograd.io._model import read_model, save_model, save_model_ddt

__all__ = [
    "read_grid_parameters",
    "read_mesh",
    "read_model",
    "read_model_ddt",
    "read_net",
    "read_setup",
    "save_grid_parameters",
    "save_mesh",
    "save_model",
    "save_model_ddt",
    "save_net",
    "save_netcdf",
    "save_setup",
]
