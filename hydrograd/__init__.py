"""hydrograd: differentiable, spatially distributed hydrological modelling on JAX.

Drop-in for smash's user API: ``import hydrograd as smash``.
"""

import gc

# Python's cyclic garbage collector rests while hydrograd and its dependencies import, and the objects
# they created are then frozen out of its later passes (hydrograd._process, "Python's collector").
_collecting = gc.isenabled()
gc.disable()
try:
    from hydrograd._process import apply_import_settings, freeze_imported_objects

    # Every change importing hydrograd makes to the process (XLA flags, compilation cache) is made
    # here, before anything starts JAX's backend; see hydrograd._process.
    apply_import_settings()

    from hydrograd import factory, io, plot
    from hydrograd.api import (
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
    from hydrograd.batch import ModelBatch
    from hydrograd.factory.samples import Samples
    from hydrograd.model import Model
    from hydrograd.signal import PrecipitationIndices, Signatures
    from hydrograd.simulation.outputs import (
        BackwardRun,
        BayesianOptimize,
        ForwardRun,
        MultipleForwardRun,
        MultisetEstimate,
        Optimize,
    )

    freeze_imported_objects()
finally:
    if _collecting:
        gc.enable()

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
