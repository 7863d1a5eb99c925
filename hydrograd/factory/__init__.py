"""Datasets, mesh generation and the network builder, under smash's names."""

from hydrograd.factory.dataset import load_dataset
from hydrograd.mesh.generate import generate_mesh
from hydrograd.mesh.sink import detect_sink
from hydrograd.nn import Net

__all__ = ["Net", "detect_sink", "generate_mesh", "load_dataset"]
