"""Datasets, mesh generation, the network builder and parameter samples, under smash's names."""

from hydrograd.factory.dataset import load_dataset
from hydrograd.factory.samples import generate_samples
from hydrograd.mesh.generate import generate_mesh
from hydrograd.mesh.sink import detect_sink
from hydrograd.nn import Net

__all__ = ["Net", "detect_sink", "generate_mesh", "generate_samples", "load_dataset"]
