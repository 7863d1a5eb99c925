"""Optimizers as pure searches over a vector (Optax style), chosen by name from one registry.

``OPTIMIZERS[name].minimize(functions, x0, lower, upper, settings, report, callback)`` runs one;
``MAPPINGS`` says which optimizers serve which mapping.
"""

from hydrograd.optimizers._base import (
    CALLBACK_STOP_MESSAGE,
    INDENT,
    MAXITER_MESSAGE,
    Functions,
    IterationCallback,
    Minimize,
    OptimizerResult,
    Report,
    Settings,
)
from hydrograd.optimizers._registry import DEFAULT_LEARNING_RATE, MAPPINGS, OPTIMIZERS, MappingKind, Optimizer

__all__ = [
    "CALLBACK_STOP_MESSAGE",
    "DEFAULT_LEARNING_RATE",
    "INDENT",
    "MAPPINGS",
    "MAXITER_MESSAGE",
    "OPTIMIZERS",
    "Functions",
    "IterationCallback",
    "MappingKind",
    "Minimize",
    "Optimizer",
    "OptimizerResult",
    "Report",
    "Settings",
]
