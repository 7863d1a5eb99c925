"""What the layers below ``Model`` make of a setup and a mesh, built without a ``Model``: the tests of
the core and of calibrations start from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._containers import Namespace
from hydrograd.calibration.data import CalibrationData, normalized_descriptors
from hydrograd.calibration.problems import MappedProblem, NetworkProblem
from hydrograd.calibration.run import build_problem, problem_precision
from hydrograd.config.calibration import CalibrationRequest, check_calibration
from hydrograd.config.facts import ModelFacts, model_facts
from hydrograd.config.setup import Setup
from hydrograd.core.registry import Structure, get_structure
from hydrograd.core.simulate import CoreInputs
from hydrograd.formats.inputs import InputData, read_inputs
from hydrograd.mesh.layout import IndexedMesh, index_mesh
from hydrograd.mesh.validate import validate_mesh
from hydrograd.simulation.inputs import core_inputs, default_parameters, default_states, network_arrays

STATISTICS = ("l_descriptor", "u_descriptor", "mean_descriptor", "std_descriptor")


@dataclass
class Catchment:
    """A setup and mesh read by the formats and mesh layers, with parameter, state and network
    values to edit (grid maps, smash's defaults to start with)."""

    setup: Setup
    mesh: dict[str, Any]
    indexed: IndexedMesh
    data: InputData
    parameters: dict[str, np.ndarray] = field(default_factory=dict)
    states: dict[str, np.ndarray] = field(default_factory=dict)
    network: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def structure(self) -> Structure:
        s = self.setup
        return get_structure(s.snow_module, s.hydrological_module, s.routing_module)

    def core_inputs(self) -> CoreInputs:
        atmos = self.data.atmos_data
        return core_inputs(
            self.structure,
            self.setup.dt,
            self.indexed,
            self.parameters,
            self.states,
            atmos.prcp,
            atmos.pet,
            self.data.physio_data.imperviousness,
            self.network,
        )

    def facts(self) -> ModelFacts:
        return model_facts(
            self.setup,
            self.mesh["code"],
            self.indexed.outlet_gauges,
            self.mesh["active_cell"],
            self.parameters,
            self.states,
            self.network,
            values=True,
        )

    def request(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict | None = None,
        cost_options: dict | None = None,
        return_options: dict | None = None,
    ) -> CalibrationRequest:
        """A checked calibration request (arguments as ``Model.optimize`` takes them)."""
        return check_calibration(
            self.facts(), mapping, optimizer, optimize_options, cost_options, {"verbose": False}, return_options
        )

    def problem(self, *args: Any, **kwargs: Any) -> MappedProblem | NetworkProblem:
        """The calibration problem of :meth:`request`'s arguments, built in its precision."""
        data, request = self.calibration_data(), self.request(*args, **kwargs)
        precision = problem_precision(data, request)
        with jax.enable_x64(precision.double):
            return build_problem(data, request, precision)

    def calibration_data(self) -> CalibrationData:
        physio = self.data.physio_data
        return CalibrationData(
            inputs=self.core_inputs(),
            q_obs=self.data.response_data.q,
            mean_prcp=self.data.atmos_data.mean_prcp,
            area_dln=self.mesh["area_dln"],
            gauge_codes=tuple(str(c) for c in self.mesh["code"]),
            layout=self.indexed.layout,
            descriptors=normalized_descriptors(
                physio.descriptor, self.setup.descriptor_tfm, {k: getattr(physio, k) for k in STATISTICS}
            ),
            descriptor_names=tuple(str(d) for d in self.setup.descriptor_name),
            network=self.network,
        )


def read_catchment(setup: dict[str, Any], mesh: dict[str, Any]) -> Catchment:
    """Read ``setup``'s inputs on ``mesh`` through the formats and mesh layers."""
    checked_setup = Setup(setup)
    checked_mesh = validate_mesh(mesh)
    indexed = index_mesh(checked_mesh)
    data = read_inputs(checked_setup, Namespace(**checked_mesh), indexed.catchments, verbose=False)
    structure = get_structure(
        checked_setup.snow_module, checked_setup.hydrological_module, checked_setup.routing_module
    )
    grid = (checked_mesh["nrow"], checked_mesh["ncol"])
    return Catchment(
        checked_setup,
        checked_mesh,
        indexed,
        data,
        default_parameters(structure, checked_setup.dt, grid, data.interception_capacity),
        default_states(structure, grid),
        _hybrid_network(checked_setup, structure),
    )


def _hybrid_network(setup: Setup, structure: Structure) -> dict[str, np.ndarray]:
    """The weights and biases a hybrid structure's network uses (none for a conceptual one)."""
    if not structure.hydrological.is_hybrid:
        return {}
    layers = {f"{kind}_{i}" for i in range(1, setup.n_layers + 1) for kind in ("weight", "bias")}
    return {k: v for k, v in network_arrays(setup.neurons, setup.n_layers).items() if k in layers}


def as_float64(tree: Any) -> Any:
    """``tree`` with its floating leaves in float64 (call under ``jax.enable_x64``)."""
    floating = lambda a: hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)  # noqa: E731
    return jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if floating(a) else a, tree)


def model_problem(
    model: Any, mapping: str = "uniform", optimizer: str = "lbfgsb", precision: str | None = None
) -> MappedProblem | NetworkProblem:
    """The calibration problem ``Model.optimize`` would solve with default options and cost
    (``precision``: ``common_options["precision"]``). Its functions run under
    ``jax.enable_x64(problem.double)``."""
    facts = model.facts(values=True)
    request = check_calibration(facts, mapping, optimizer, None, None, {"verbose": False, "precision": precision})
    data = model.calibration_data()
    chosen = problem_precision(data, request)
    with jax.enable_x64(chosen.double):
        return build_problem(data, request, chosen)
