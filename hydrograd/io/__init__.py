"""Reading and writing smash-format files."""

from hydrograd.io.mesh import read_mesh, save_mesh
from hydrograd.io.model import read_model, save_model
from hydrograd.io.net import read_net, save_net
from hydrograd.io.netcdf import save_netcdf
from hydrograd.io.setup import read_setup, save_setup

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
