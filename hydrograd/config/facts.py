"""What option checks need to know about a model, as one frozen value.

A ``Model`` builds its :class:`ModelFacts` (``Model.facts()``); the checks of this package take it
instead of the model, so they read nothing live and import nothing above them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hydrograd.config.setup import Setup
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, SERR_MU_MAPPINGS, SERR_PARAMETERS, SERR_SIGMA_MAPPINGS


@dataclass(frozen=True, eq=False)
class ModelFacts:
    """Names, current values, grid and period of a model.

    - ``structure``: smash's ``"snow-hydrological-routing"`` name, of which ``hydrological_module``;
    - ``rr_parameters``, ``rr_states``: the structure's names, in smash's order;
    - ``nn_parameters``: the flux-correction network's ``weight_1, bias_1, ...`` (none when not
      hybrid), with their ``nn_shapes``;
    - ``current``: name -> ``(min, max)`` of the parameter's or initial state's values on the
      active cells, and of each structural-error parameter's values over the gauges (none when
      the mesh has no gauge);
    - ``descriptor_names``, ``grid_shape`` ``(nrow, ncol)``, ``nac`` (the number of active cells);
    - ``gauge_codes`` and ``outlet_gauges`` (whether each gauge sits at an outlet of the mesh);
    - ``start``, ``end``, ``dt`` (s) and ``time_index`` (the dates closing each time step);
    - ``serr_mu_mapping``, ``serr_sigma_mapping``: the structural-error mappings of a Bayesian
      calibration (smash's defaults unless given), whose parameter names are
      ``serr_mu_parameters`` and ``serr_sigma_parameters``.
    """

    structure: str
    hydrological_module: str
    rr_parameters: tuple[str, ...]
    rr_states: tuple[str, ...]
    nn_parameters: tuple[str, ...]
    nn_shapes: Mapping[str, tuple[int, ...]]
    current: Mapping[str, tuple[float, float]]
    descriptor_names: tuple[str, ...]
    grid_shape: tuple[int, int]
    nac: int
    gauge_codes: tuple[str, ...]
    outlet_gauges: np.ndarray
    start: pd.Timestamp
    end: pd.Timestamp
    dt: float
    time_index: pd.DatetimeIndex
    serr_mu_mapping: str = "Zero"
    serr_sigma_mapping: str = "Linear"

    @property
    def nd(self) -> int:
        return len(self.descriptor_names)

    @property
    def ntime_step(self) -> int:
        return len(self.time_index)

    @property
    def serr_mu_parameters(self) -> tuple[str, ...]:
        """The structural-error mean mapping's parameters, in smash's order (none for ``"Zero"``)."""
        return SERR_MU_MAPPINGS[self.serr_mu_mapping]

    @property
    def serr_sigma_parameters(self) -> tuple[str, ...]:
        """The structural-error deviation mapping's parameters, in smash's order."""
        return SERR_SIGMA_MAPPINGS[self.serr_sigma_mapping]

    def default_bounds(self, name: str) -> tuple[float, float]:
        """Default calibration bounds of a parameter, state or structural-error parameter (the
        core's tables)."""
        if name in self.rr_parameters:
            return RR_PARAMETERS[name].bounds
        if name in SERR_PARAMETERS:
            return SERR_PARAMETERS[name].bounds
        return RR_STATES[name].bounds


def model_facts(
    setup: Setup,
    gauge_codes: np.ndarray,
    outlet_gauges: np.ndarray,
    active_cell: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    states: Mapping[str, np.ndarray],
    network: Mapping[str, np.ndarray],
    values: bool = False,
    serr: Mapping[str, np.ndarray] | None = None,
) -> ModelFacts:
    """The facts of a model with this ``setup``, gauges and ``active_cell`` grid, parameter and
    initial-state maps (name -> ``(nrow, ncol)``, in the structure's order) and hybrid ``network``;
    ``values`` adds the range of every map on the active cells, and of every structural-error
    parameter of ``serr`` (name -> ``(ng,)``) over the gauges (what bounds checks need)."""
    current = {}
    if values:
        active = np.asarray(active_cell) == 1
        for name, grid in {**parameters, **states}.items():
            on_cells = np.asarray(grid)[active]
            current[name] = (float(on_cells.min()), float(on_cells.max()))
        for name, per_gauge in (serr or {}).items():
            if np.size(per_gauge):
                current[name] = (float(np.min(per_gauge)), float(np.max(per_gauge)))
    return ModelFacts(
        structure=setup.structure,
        hydrological_module=setup.hydrological_module,
        rr_parameters=tuple(parameters),
        rr_states=tuple(states),
        nn_parameters=tuple(network),
        nn_shapes={k: np.shape(v) for k, v in network.items()},
        current=current,
        descriptor_names=tuple(str(d) for d in setup.descriptor_name),
        grid_shape=np.shape(active_cell),
        nac=int(np.count_nonzero(np.asarray(active_cell) == 1)),
        gauge_codes=tuple(str(c) for c in gauge_codes),
        outlet_gauges=np.asarray(outlet_gauges),
        start=setup.start,
        end=setup.end,
        dt=setup.dt,
        time_index=setup.time_index(),
        serr_mu_mapping=setup.serr_mu_mapping,
        serr_sigma_mapping=setup.serr_sigma_mapping,
    )
