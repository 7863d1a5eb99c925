"""Dataset loading and mesh generation."""

from hydrograd.factory.dataset import load_dataset
from hydrograd.factory.net import Net
from hydrograd.mesh.generate import generate_mesh

__all__ = ["Net", "generate_mesh", "load_dataset"]
