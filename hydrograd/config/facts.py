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
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, SERR_PARAMETERS


@dataclass(frozen=True, eq=False)
class ModelFacts:
    """Names, current values, grid and period of a model.

    - ``structure``: smash's ``"snow-hydrological-routing"`` name, of which ``hydrological_module``;
    - ``rr_parameters``, ``rr_states``: the structure's names, in smash's order;
    - ``nn_parameters``: the flux-correction network's ``weight_1, bias_1, ...`` (none when not
      hybrid), with their ``nn_shapes``;
    - ``current``: name -> ``(min, max)`` of the parameter's or initial state's values on the
      active cells;
    - ``descriptor_names``, ``grid_shape`` ``(nrow, ncol)``, ``nac`` (the number of active cells);
    - ``gauge_codes`` and ``outlet_gauges`` (whether each gauge sits at an outlet of the mesh);
    - ``start``, ``end``, ``dt`` (s) and ``time_index`` (the dates closing each time step).
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

    @property
    def nd(self) -> int:
        return len(self.descriptor_names)

    @property
    def ntime_step(self) -> int:
        return len(self.time_index)

    def default_bounds(self, name: str) -> tuple[float, float]:
        """Default calibration bounds of a parameter, state or structural-error parameter (the
        core's tables)."""
        return (RR_PARAMETERS.get(name) or RR_STATES.get(name) or SERR_PARAMETERS[name]).bounds


def model_facts(
    setup: Setup,
    gauge_codes: np.ndarray,
    outlet_gauges: np.ndarray,
    active_cell: np.ndarray,
    parameters: Mapping[str, np.ndarray],
    states: Mapping[str, np.ndarray],
    network: Mapping[str, np.ndarray],
    values: bool = False,
) -> ModelFacts:
    """The facts of a model with this ``setup``, gauges and ``active_cell`` grid, parameter and
    initial-state maps (name -> ``(nrow, ncol)``, in the structure's order) and hybrid ``network``;
    ``values`` adds the range of every map on the active cells (what bounds checks need)."""
    current = {}
    if values:
        active = np.asarray(active_cell) == 1
        for name, grid in {**parameters, **states}.items():
            on_cells = np.asarray(grid)[active]
            current[name] = (float(on_cells.min()), float(on_cells.max()))
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
    )
