"""Tables of the rainfall-runoff parameters and states: defaults, default bounds, feasible domains.

Values follow smash 1.3.0 so that a model built here starts from the same point. A parameter
keeps one meaning across every structure that uses it (``cp`` is always the production store
capacity in mm), so each name is described once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hydrograd.core.structural_error import MU_MAPPINGS, SIGMA_MAPPINGS

INF = math.inf
FEASIBLE_TOLERANCE = 1e-5
SMALLEST_POSITIVE = float(np.finfo(np.float32).tiny)
"""Smallest value of a parameter whose domain starts at 0: the smallest normal float32 (about
1.2e-38); below it XLA flushes the number to 0 on CPUs and GPUs."""


@dataclass(frozen=True)
class Spec:
    """Default value, default calibration bounds and feasible domain of one parameter or state.

    The feasible domain ``]low, high[`` is checked with smash's tolerance of 1e-5, so a state
    may sit on its edge (``hp = 0`` is accepted, ``hp = -0.1`` is not).
    """

    default: float
    bounds: tuple[float, float]
    feasible: tuple[float, float]
    unit: str
    description: str

    def is_feasible(self, value: float, *, strict: bool = False) -> bool:
        """Whether ``value`` lies in the feasible domain, give or take the tolerance; ``strict``
        drops the tolerance on the lower side and, for a domain starting at 0, asks for a normal
        single-precision number (for parameters: the equations divide by capacities and scales,
        so ``cp = 0`` or ``cp = 1e-45`` is refused, where smash accepts them and may return NaN)."""
        low, high = self.feasible
        if strict:
            above = value >= SMALLEST_POSITIVE if low == 0 else value > low
        else:
            above = value + FEASIBLE_TOLERANCE > low
        return above and value - FEASIBLE_TOLERANCE < high


RR_PARAMETERS: dict[str, Spec] = {
    "kmlt": Spec(1.0, (1e-6, 10.0), (0, INF), "mm/°C/dt", "snow melt coefficient"),
    "ci": Spec(1e-6, (1e-6, 100.0), (0, INF), "mm", "interception store capacity"),
    "cp": Spec(200.0, (1e-6, 1000.0), (0, INF), "mm", "production store capacity"),
    "ct": Spec(500.0, (1e-6, 1000.0), (0, INF), "mm", "transfer store capacity"),
    "alpha1": Spec(3e-4, (1e-6, 5e-4), (0, INF), "dt/mm", "rain-intensity production coefficient"),
    "alpha2": Spec(1e-3, (1e-5, 1e-3), (0, INF), "dt/mm", "rain-intensity split coefficient"),
    "cl": Spec(500.0, (1e-6, 1000.0), (0, INF), "mm", "slow transfer store capacity"),
    "be": Spec(10.0, (1e-3, 20.0), (0, INF), "mm", "exponential store recession scale"),
    "kexc": Spec(0.0, (-50.0, 50.0), (-INF, INF), "mm/dt", "groundwater exchange coefficient"),
    "aexc": Spec(0.1, (1e-6, 0.999999), (0, 1), "-", "exchange threshold"),
    "ca": Spec(200.0, (1e-6, 1000.0), (0, INF), "mm", "soil store capacity"),
    "cc": Spec(500.0, (1e-6, 1000.0), (0, INF), "mm", "routing store capacity"),
    "kb": Spec(1.0, (1e-6, 4.0), (0, INF), "-", "runoff split coefficient"),
    "b": Spec(0.1, (1e-3, 0.8), (0, INF), "-", "variable infiltration curve shape"),
    "cusl": Spec(100.0, (10.0, 500.0), (0, INF), "mm", "upper soil layer capacity"),
    "cmsl": Spec(500.0, (100.0, 2000.0), (0, INF), "mm", "medium soil layer capacity"),
    "cbsl": Spec(2000.0, (100.0, 2000.0), (0, INF), "mm", "bottom soil layer capacity"),
    "ks": Spec(20.0, (1.0, 1e5), (0, INF), "mm/dt", "saturated hydraulic conductivity"),
    "pbc": Spec(10.0, (1.0, 30.0), (0, INF), "-", "Brooks and Corey drainage exponent"),
    # smash 1.3.0's equations swap the roles of ds and dsm (see hydrograd.core.structures.vic.baseflow).
    "ds": Spec(1e-2, (1e-6, 0.999999), (0, INF), "mm/dt", "largest baseflow of the bottom layer"),
    "dsm": Spec(10.0, (1e-3, 1e5), (0, INF), "-", "share of the largest baseflow reached linearly"),
    "ws": Spec(0.8, (1e-6, 0.999999), (0, INF), "-", "bottom layer filling ratio where baseflow turns nonlinear"),
    "llr": Spec(5.0, (1e-6, 1000.0), (0, INF), "min", "linear routing reservoir lag time"),
    "akw": Spec(5.0, (1e-3, 50.0), (0, INF), "-", "kinematic wave alpha"),
    "bkw": Spec(0.6, (1e-3, 1.0), (0, INF), "-", "kinematic wave beta"),
}

RR_STATES: dict[str, Spec] = {
    "hs": Spec(1e-6, (1e-6, 1000.0), (0, INF), "mm", "snow store level"),
    "hi": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "interception store filling ratio"),
    "hp": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "production store filling ratio"),
    "ht": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "transfer store filling ratio"),
    "hl": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "slow transfer store filling ratio"),
    "he": Spec(-100.0, (-1000.0, 0.0), (-INF, INF), "mm", "exponential store level"),
    "ha": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "soil store filling ratio"),
    "hc": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "routing store filling ratio"),
    "hcl": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "canopy layer filling ratio"),
    "husl": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "upper soil layer filling ratio"),
    "hmsl": Spec(1e-2, (1e-6, 0.999999), (0, 1), "-", "medium soil layer filling ratio"),
    "hbsl": Spec(1e-6, (1e-6, 0.999999), (0, 1), "-", "bottom soil layer filling ratio"),
    "hlr": Spec(1e-6, (1e-6, 1000.0), (0, INF), "mm", "linear routing reservoir level"),
}

SERR_PARAMETERS: dict[str, Spec] = {
    "mg0": Spec(0.0, (-1e6, 1e6), (-INF, INF), "m3/s", "structural error mean, constant term"),
    "mg1": Spec(0.0, (-1e6, 1e6), (-INF, INF), "-", "structural error mean, slope in discharge"),
    "sg0": Spec(1.0, (1e-6, 1000.0), (0, INF), "m3/s", "structural error deviation, constant term"),
    "sg1": Spec(0.2, (1e-6, 10.0), (0, INF), "-", "structural error deviation, discharge coefficient"),
    "sg2": Spec(2.0, (1e-6, 1000.0), (0, INF), "-", "structural error deviation, shape coefficient"),
}
"""Parameters of smash's structural-error model (one value per gauge)."""

SERR_MU_MAPPINGS: dict[str, tuple[str, ...]] = {k: m.parameters for k, m in MU_MAPPINGS.items()}
"""Structural-error mean mappings and the parameters each takes (``hydrograd.core.structural_error``)."""

SERR_SIGMA_MAPPINGS: dict[str, tuple[str, ...]] = {k: m.parameters for k, m in SIGMA_MAPPINGS.items()}
"""Structural-error deviation mappings and the parameters each takes."""

# Parameters that only a dedicated routine sets, never a calibration (smash excludes ``ci``).
NOT_OPTIMIZABLE = frozenset({"ci"})


def default_parameter_value(name: str, dt: float) -> float:
    """Default value of parameter ``name`` at time step ``dt`` seconds (``llr`` scales with dt)."""
    value = RR_PARAMETERS[name].default
    if name == "llr":
        value *= dt / 3600.0
    return value


def default_serr_values(names: tuple[str, ...], ng: int) -> np.ndarray:
    """smash's starting structural-error parameters: ``(ng, len(names))`` float32, each column the
    default of that parameter (``SERR_PARAMETERS``) at every gauge."""
    defaults = np.array([SERR_PARAMETERS[k].default for k in names], dtype=np.float32)
    return np.tile(defaults, (ng, 1)).reshape(ng, len(names))
