"""hydrograd: differentiable, spatially distributed hydrological modelling on JAX.

Drop-in for smash's user API: ``import hydrograd as smash``.
"""

from hydrograd._jax_setup import configure_compilation_cache, configure_cpu_compiler

configure_cpu_compiler()
configure_compilation_cache()

from hydrograd import factory, io, plot  # noqa: E402
from hydrograd.config.optimize_options import default_optimize_options  # noqa: E402
from hydrograd.model import Model  # noqa: E402
from hydrograd.optimize.run import Optimize, optimize  # noqa: E402
from hydrograd.signal import hydrograph_segmentation, signatures  # noqa: E402
from hydrograd.simulation.evaluation import evaluation  # noqa: E402
from hydrograd.simulation.run import ForwardRun, forward_run  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ForwardRun",
    "Model",
    "Optimize",
    "default_optimize_options",
    "evaluation",
    "factory",
    "forward_run",
    "hydrograph_segmentation",
    "io",
    "optimize",
    "plot",
    "signatures",
]
