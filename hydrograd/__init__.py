"""hydrograd: differentiable, spatially distributed hydrological modelling on JAX.

Drop-in for smash's user API: ``import hydrograd as smash``.
"""

from hydrograd._process import apply_import_settings

# Every change importing hydrograd makes to the process (XLA flags, compilation cache) is made
# here, before anything starts JAX's backend; see hydrograd._process.
apply_import_settings()

from hydrograd import factory, io, plot  # noqa: E402
from hydrograd.api import (  # noqa: E402
    backward_run,
    bayesian_optimize,
    bayesian_optimize_control_info,
    default_bayesian_optimize_options,
    default_optimize_options,
    evaluation,
    forward_run,
    hydrograph_segmentation,
    multiple_forward_run,
    multiset_estimate,
    optimize,
    optimize_control_info,
    precipitation_indices,
    signatures,
)
from hydrograd.batch import ModelBatch  # noqa: E402
from hydrograd.factory.samples import Samples  # noqa: E402
from hydrograd.model import Model  # noqa: E402
from hydrograd.signal import PrecipitationIndices, Signatures  # noqa: E402
from hydrograd.simulation.outputs import (  # noqa: E402
    BackwardRun,
    BayesianOptimize,
    ForwardRun,
    MultipleForwardRun,
    MultisetEstimate,
    Optimize,
)

__version__ = "0.1.0"

__all__ = [
    "BackwardRun",
    "BayesianOptimize",
    "ForwardRun",
    "Model",
    "ModelBatch",
    "MultipleForwardRun",
    "MultisetEstimate",
    "Optimize",
    "PrecipitationIndices",
    "Samples",
    "Signatures",
    "backward_run",
    "bayesian_optimize",
    "bayesian_optimize_control_info",
    "default_bayesian_optimize_options",
    "default_optimize_options",
    "evaluation",
    "factory",
    "forward_run",
    "hydrograph_segmentation",
    "io",
    "multiple_forward_run",
    "multiset_estimate",
    "optimize",
    "optimize_control_info",
    "plot",
    "precipitation_indices",
    "signatures",
]
