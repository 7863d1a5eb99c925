"""Reading and writing smash-format files."""

from hydrograd.io.mesh import read_mesh, save_mesh
from hydrograd.io.setup import read_setup, save_setup

__all__ = ["read_mesh", "read_setup", "save_mesh", "save_setup"]
