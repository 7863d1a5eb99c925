"""A forward run of the core on plain inputs, compiled once per structure, shapes and record."""

from __future__ import annotations

from collections.abc import Callable

from hydrograd.core.simulate import CoreInputs, Record, SimulationOutput, simulate_jit

Compiled = Callable[[CoreInputs], SimulationOutput]


def compile_forward(shapes: CoreInputs, record: Record) -> Compiled:
    """The forward run compiled ahead of time for inputs of these shapes (``CoreInputs.shapes()``)."""
    return simulate_jit.lower(shapes, record).compile()


def forward(inputs: CoreInputs, record: Record, compiled: Compiled | None = None) -> SimulationOutput:
    """Run the core over the whole period; ``compiled``: the same run from :func:`compile_forward`."""
    return simulate_jit(inputs, record) if compiled is None else compiled(inputs)
