"""The benchmark workloads: each builds the same job in hydrograd and in hydro-smash 1.3.0."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import hydrograd

HAVE_SMASH = importlib.util.find_spec("smash") is not None


@dataclass
class Workload:
    """``ours``/``reference`` run the job once; ``repeats`` interleaved timings are taken after a
    first (compiling) call of ``ours``."""

    name: str
    ours: Callable[[], object]
    reference: Callable[[], object] | None
    repeats: int


def lez_forward() -> Workload:
    """One forward run of gr4/lr over a year of daily steps on Lez (172 cells)."""
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    ours = hydrograd.Model(setup, mesh, verbose=False)
    quiet = {"verbose": False}
    reference = None
    if HAVE_SMASH:
        import smash

        setup, mesh = smash.factory.load_dataset("Lez")
        ref_model = smash.Model(setup, mesh)

        def reference():
            return ref_model.forward_run(common_options=quiet)

    return Workload(
        "Lez forward (gr4/lr, 364 daily steps)", lambda: ours.forward_run(common_options=quiet), reference, 30
    )


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "lez_forward": lez_forward,
}
