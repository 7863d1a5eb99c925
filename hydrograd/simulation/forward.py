"""A forward run of the core on plain inputs, compiled once per structure, shapes and record."""

from __future__ import annotations

from collections.abc import Callable

from hydrograd._exported import ExportedJit
from hydrograd.core.simulate import CoreInputs, Record, SimulationOutput, simulate

simulate_program = ExportedJit(simulate, ("record", "schedule"), "simulate")
"""``simulate`` as one compiled program per structure, shapes, ``record`` and ``schedule``, kept
across processes (``hydrograd._exported``)."""

Compiled = Callable[[CoreInputs], SimulationOutput]


def compile_forward(shapes: CoreInputs, record: Record) -> Compiled:
    """The forward run compiled ahead of time for inputs of these shapes (``CoreInputs.shapes()``)."""
    return simulate_program.lower(shapes, record).compile()


def forward(inputs: CoreInputs, record: Record, compiled: Compiled | None = None) -> SimulationOutput:
    """Run the core over the whole period; ``compiled``: the same run from :func:`compile_forward`."""
    return simulate_program(inputs, record) if compiled is None else compiled(inputs)
