"""Dataset loading and mesh generation."""

from hydrograd.factory.dataset import load_dataset
from hydrograd.mesh.generate import generate_mesh

__all__ = ["generate_mesh", "load_dataset"]
