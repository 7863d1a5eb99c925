"""What a calibration reads and what it returns, as plain values: no model on either side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hydrograd.core.simulate import CoreInputs, SimulationOutput
from hydrograd.mesh.layout import CellLayout
from hydrograd.optimizers import OptimizerResult


@dataclass(frozen=True, eq=False)
class CalibrationData:
    """The data of a calibration.

    - ``inputs``: the core's inputs with the current parameters, initial states and network, in
      single precision (the closing forward run reuses them);
    - ``q_obs``: observed discharge ``(ng, ntime_step)`` m3/s (negative or NaN = missing);
    - ``mean_prcp`` ``(ng, ntime_step)`` mm/dt and ``area_dln`` ``(ng,)`` m2: each gauge's
      catchment rainfall and area, for signature costs; ``gauge_codes`` name the gauges;
    - ``layout``: where the active cells are; ``descriptors``: ``(nrow, ncol, nd)`` descriptor maps,
      already normalized as the setup's ``descriptor_tfm`` says (:func:`normalized_descriptors`),
      named ``descriptor_names``;
    - ``network``: a hybrid structure's ``weight_1, bias_1, ...`` in smash's layout (empty otherwise);
    - ``serr_mu``, ``serr_sigma``: the structural-error parameters of the model's mappings, name ->
      ``(ng,)`` float32 in the mapping's order, and ``q_stdev``: the observations' standard
      deviation ``(ng, ntime_step)`` m3/s (what a Bayesian calibration reads).
    """

    inputs: CoreInputs
    q_obs: np.ndarray
    mean_prcp: np.ndarray
    area_dln: np.ndarray
    gauge_codes: tuple[str, ...]
    layout: CellLayout
    descriptors: np.ndarray
    descriptor_names: tuple[str, ...]
    network: Mapping[str, np.ndarray]
    serr_mu: Mapping[str, np.ndarray] = field(default_factory=dict)
    serr_sigma: Mapping[str, np.ndarray] = field(default_factory=dict)
    q_stdev: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """What a calibration found.

    - ``values``: calibrated parameter and initial-state name -> float32 values, ``(nac,)`` in the
      flow graph's order, or ``(nrow, ncol)`` maps over the whole grid when ``on_grid`` (a
      regionalization network gives every cell a value);
    - ``network``: the calibrated entries of a hybrid structure's network (float32, smash's layout);
    - ``output``: the closing forward run with the calibrated values;
    - ``optimizer``: the optimizer's result;
    - ``returned``: the calibration's own ``return_options`` values (``control_vector``, ``cost``,
      ``jobs``, ``jreg``, ``n_iter``, ``projg``, ``iter_cost``, ``iter_projg``, ``lcurve_wjreg``,
      ``net``, and for a Bayesian calibration ``log_lkh``, ``log_prior``, ``log_h``), as asked for;
    - ``serr``: structural-error parameter name -> ``(ng,)`` float32 values after a Bayesian
      calibration (every gauge; those outside its cost keep their value), else empty.
    """

    values: dict[str, np.ndarray]
    on_grid: bool
    network: dict[str, np.ndarray]
    output: SimulationOutput
    optimizer: OptimizerResult
    returned: dict[str, Any]
    serr: dict[str, np.ndarray] = field(default_factory=dict)


def normalized_descriptors(descriptor: np.ndarray, tfm: str, statistics: Mapping[str, np.ndarray]) -> np.ndarray:
    """Descriptor maps ``(nrow, ncol, nd)`` transformed as ``descriptor_tfm`` says: ``standardize``
    (``(d - mean) / std``), ``normalize`` (``(d - l) / (u - l)``) or ``keep``; ``statistics``
    holds smash's ``l_descriptor``, ``u_descriptor``, ``mean_descriptor``, ``std_descriptor``."""
    desc = np.asarray(descriptor, dtype=np.float32)
    if tfm == "standardize":
        return (desc - statistics["mean_descriptor"]) / statistics["std_descriptor"]
    if tfm == "normalize":
        low = statistics["l_descriptor"]
        return (desc - low) / (statistics["u_descriptor"] - low)
    return desc
