"""Side-by-side models for parity tests: the same dataset built by hydro-smash 1.3.0 and by hydrograd."""

from __future__ import annotations

import warnings
from typing import Any

import hydrograd


def model_pair(dataset: str = "Cance", **setup_changes: Any) -> tuple[Any, hydrograd.Model]:
    """``(smash model, hydrograd model)`` of ``dataset`` with ``setup_changes`` applied to its
    setup, default parameters; smash's reading warnings silenced."""
    import smash

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setup, mesh = smash.factory.load_dataset(dataset)
        reference = smash.Model({**setup, **setup_changes}, mesh)
        setup, mesh = hydrograd.factory.load_dataset(dataset)
        ours = hydrograd.Model({**setup, **setup_changes}, mesh, verbose=False)
    return reference, ours
