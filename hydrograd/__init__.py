"""hydrograd: differentiable, spatially distributed hydrological modelling on JAX.

Drop-in for smash's user API: ``import hydrograd as smash``.
"""

from hydrograd import factory, io
from hydrograd.model import Model
from hydrograd.simulation.evaluation import evaluation
from hydrograd.simulation.run import ForwardRun, forward_run

__version__ = "0.1.0"

__all__ = ["ForwardRun", "Model", "evaluation", "factory", "forward_run", "io"]
