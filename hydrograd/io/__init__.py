"""Reading and writing smash-format files: the public face (``hydrograd.io.read_mesh``, ...).

The readers and writers themselves live in ``hydrograd.formats`` and take plain values;
``save_model``/``read_model`` convert a ``Model`` through its public ``to_saved``/``from_saved``.
"""

from hydrograd.formats.mesh import read_mesh, save_mesh
from hydrograd.formats.net import read_net, save_net
from hydrograd.formats.netcdf import save_netcdf
from hydrograd.formats.setup import read_setup, save_setup
from hydrograd.io._model import read_model, save_model

__all__ = [
    "read_mesh",
    "read_model",
    "read_net",
    "read_setup",
    "save_mesh",
    "save_model",
    "save_net",
    "save_netcdf",
    "save_setup",
]
