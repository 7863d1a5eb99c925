"""``Model``: the one stateful object, smash's façade over the services below it.

It owns numpy maps on the grid (what users read and write), turns them at its edge into the plain
values the services take (:meth:`Model.facts`, :meth:`Model.core_inputs`, calibration data), calls
them, and writes their results into itself. Nothing below this floor knows it.
"""

from __future__ import annotations

import copy as _copy
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from hydrograd._arrays import HostArrays
from hydrograd._containers import Fields, KeyedMaps, Namespace
from hydrograd._process import size_cpu_pool
from hydrograd._progress import progress_bar
from hydrograd._validate import as_bool, choice, closest, is_real
from hydrograd.calibration.backward import backward
from hydrograd.calibration.control_info import control_info, control_values
from hydrograd.calibration.data import CalibrationData, CalibrationResult, normalized_descriptors
from hydrograd.calibration.run import calibrate
from hydrograd.config.calibration import CalibrationRequest, check_backward, check_bayesian, check_calibration
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.config.facts import ModelFacts, model_facts
from hydrograd.config.run_options import CommonSpec, ReturnSpec
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.config.run_options import return_options as check_return_options
from hydrograd.config.samples import multiset_alpha
from hydrograd.config.setup import Setup
from hydrograd.config.values import checked_gauge_value, checked_value
from hydrograd.core.cost import ObservationCost
from hydrograd.core.parameters import (
    RR_PARAMETERS,
    RR_STATES,
    SERR_MU_MAPPINGS,
    SERR_PARAMETERS,
    SERR_SIGMA_MAPPINGS,
    Spec,
    default_serr_values,
)
from hydrograd.core.registry import Structure, get_structure
from hydrograd.core.simulate import CoreInputs, SimulationOutput
from hydrograd.formats.inputs import MISSING, atmos_namespace, read_inputs
from hydrograd.formats.model_file import SavedModel
from hydrograd.formats.netcdf import results_dataset
from hydrograd.mesh.layout import CellLayout, IndexedMesh, index_mesh
from hydrograd.mesh.validate import validate_mesh
from hydrograd.nn.initializers import INITIALIZERS, check_random_state, initial_values, random_generator
from hydrograd.preprocess.interception import refit_interception_capacity
from hydrograd.simulation.cost import cost_data, response_cost
from hydrograd.simulation.estimate import estimate, estimate_lcurve, kernel_density
from hydrograd.simulation.forward import forward
from hydrograd.simulation.inputs import (
    core_inputs,
    default_parameters,
    default_states,
    network_arrays,
    require_active_cells,
)
from hydrograd.simulation.outputs import (
    BackwardRun,
    BayesianOptimize,
    ForwardRun,
    MultipleForwardRun,
    MultisetEstimate,
    Optimize,
    grid_outputs,
)
from hydrograd.simulation.structural_error import serr_mu, serr_sigma

if TYPE_CHECKING:
    import xarray as xr

_DATA = ("atmos_data", "physio_data", "response_data", "u_response_data", "response")
_MAPS = ("rr_parameters", "rr_initial_states", "rr_final_states", "serr_mu_parameters", "serr_sigma_parameters")


class ForwardRequest(NamedTuple):
    """``forward_run``'s checked arguments: ``common`` and ``returns`` options, the model's
    ``facts`` and the ``cost`` of the returned ``cost``/``jobs``."""

    common: CommonSpec
    facts: ModelFacts
    returns: ReturnSpec
    cost: ObservationCost


class _Copied:
    """A model attribute that, like smash's, takes a copy of what is assigned to it (after checking
    that it fits the model), so that ``a.rr_initial_states = b.rr_final_states`` never makes two
    models share arrays."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        return self if model is None else model.__dict__[self.name]

    def __set__(self, model: Any, value: Any) -> None:
        current = model.__dict__.get(self.name)
        if current is not None:
            if not isinstance(value, Fields):
                raise TypeError(f"model.{self.name} takes a {type(current).__name__}, got {type(value).__name__}")
            problem = current.matches(value)
            if problem is not None:
                raise ValueError(f"model.{self.name} cannot take this value: {problem}")
            value = _copy.deepcopy(value)
        model.__dict__[self.name] = value


class Model:
    """A distributed hydrological model on a mesh, built from smash-style ``setup`` and ``mesh`` dicts.

    Reading the inputs named in ``setup`` (forcings, observed discharge, descriptors) happens
    here, with progress bars. Parameters and states are maps of shape ``(nrow, ncol)``. As in
    smash, ``setup`` and ``mesh`` are plain attributes, while assigning to the others copies the
    value (``a.rr_initial_states = b.rr_final_states``), and so does assigning to one of their
    arrays (``model.atmos_data.prcp = ...``).
    """

    atmos_data = _Copied()
    physio_data = _Copied()
    response_data = _Copied()
    u_response_data = _Copied()
    response = _Copied()
    rr_parameters = _Copied()
    rr_initial_states = _Copied()
    rr_final_states = _Copied()
    serr_mu_parameters = _Copied()
    serr_sigma_parameters = _Copied()
    nn_parameters = _Copied()

    def __init__(self, setup: dict[str, Any], mesh: dict[str, Any], *, verbose: bool = True):
        checked_setup = Setup(setup)
        checked_mesh = validate_mesh(mesh)
        # The one process-wide setting that depends on a model (hydrograd._process): XLA's CPU pool
        # is sized by the first model's number of cells, before its first JAX computation.
        size_cpu_pool(checked_mesh["nac"])
        indexed = index_mesh(checked_mesh)
        data = read_inputs(checked_setup, Namespace(**checked_mesh), indexed.catchments, verbose=verbose)
        self._assemble(checked_setup, checked_mesh, indexed)
        self.atmos_data = data.atmos_data
        self.physio_data = data.physio_data
        self.response_data = data.response_data
        # the observations' standard deviation (m3/s): none known until the user sets it, as in smash
        self.u_response_data = Fields(q_stdev=np.zeros((self.mesh.ng, self.setup.ntime_step), dtype=np.float32))
        # smash's "never run" values: -99 until the first run
        self.response = Fields(q=np.full((self.mesh.ng, self.setup.ntime_step), MISSING, dtype=np.float32))
        structure = self._structure
        grid = (self.mesh.nrow, self.mesh.ncol)
        parameters = default_parameters(structure, self.setup.dt, grid, data.interception_capacity)
        states = np.stack(list(default_states(structure, grid).values()), axis=-1)
        self.rr_parameters = KeyedMaps(structure.parameters, np.stack(list(parameters.values()), axis=-1))
        self.rr_initial_states = KeyedMaps(structure.states, states)
        self.rr_final_states = KeyedMaps(structure.states, np.full_like(states, MISSING))
        # the structural-error model of a Bayesian calibration: one set of parameters per gauge
        mu, sigma = SERR_MU_MAPPINGS[self.setup.serr_mu_mapping], SERR_SIGMA_MAPPINGS[self.setup.serr_sigma_mapping]
        self.serr_mu_parameters = KeyedMaps(mu, default_serr_values(mu, self.mesh.ng))
        self.serr_sigma_parameters = KeyedMaps(sigma, default_serr_values(sigma, self.mesh.ng))
        self.nn_parameters = Fields(**network_arrays(self.setup.neurons, self.setup.n_layers))

    @classmethod
    def from_saved(cls, saved: SavedModel) -> Model:
        """A model from saved contents (``hydrograd.io.read_model``); no input file is read."""
        size_cpu_pool(saved.mesh["nac"])
        model = cls.__new__(cls)
        model._assemble(saved.setup, dict(saved.mesh), index_mesh(saved.mesh))
        model.atmos_data = atmos_namespace(saved.atmos_data, saved.setup.sparse_storage)
        for name in _DATA[1:]:  # after atmos_data
            setattr(model, name, Fields(**getattr(saved, name)))
        for name in _MAPS:
            maps = getattr(saved, name)
            setattr(model, name, KeyedMaps(maps.keys, maps.values.copy()))
        network = network_arrays(saved.setup.neurons, saved.setup.n_layers)
        network.update({k: np.array(v) for k, v in saved.nn_parameters.items()})
        model.nn_parameters = Fields(**network)
        return model

    def _assemble(self, setup: Setup, mesh: dict[str, Any], indexed: IndexedMesh) -> None:
        self.setup = setup
        self.mesh = Fields(**mesh)
        self.mesh.rowcol_to_ind_ac = indexed.rowcol_to_ind_ac
        self.mesh.local_active_cell = np.asarray(mesh["active_cell"]).copy()
        self._indexed = indexed
        self._host_arrays = HostArrays()  # where core_inputs gathers the forcing, reused across runs

    def to_saved(self) -> SavedModel:
        """The model's contents for ``hydrograd.io.save_model`` (shared arrays, not copies)."""
        return SavedModel(
            setup=self.setup,
            mesh={k: v for k, v in vars(self.mesh).items() if not k.startswith("_")},
            **{name: vars(getattr(self, name)) for name in _DATA},
            **{name: getattr(self, name) for name in _MAPS},
            nn_parameters=vars(self.nn_parameters),
        )

    @property
    def layout(self) -> CellLayout:
        """Where the active cells are: the orders of :meth:`core_inputs`' arrays and the grid."""
        return self._indexed.layout

    @property
    def _structure(self) -> Structure:
        s = self.setup
        return get_structure(s.snow_module, s.hydrological_module, s.routing_module)

    # ---- plain values for the services ----------------------------------------------------------

    def _nn_parameter_names(self) -> list[str]:
        """The weights and biases of a hybrid structure's network (none for a conceptual one)."""
        if not self._structure.hydrological.is_hybrid:
            return []
        return [f"{kind}_{i}" for i in range(1, self.setup.n_layers + 1) for kind in ("weight", "bias")]

    def facts(self, values: bool = False) -> ModelFacts:
        """What option checks need to know about this model, as a frozen value; ``values`` adds the
        range of every parameter and initial state on the active cells, and of every
        structural-error parameter over the gauges."""
        return model_facts(
            self.setup,
            self.mesh.code,
            self._indexed.outlet_gauges,
            self.mesh.active_cell,
            self._maps(self.rr_parameters),
            self._maps(self.rr_initial_states),
            self._network(),
            values,
            serr={**self._maps(self.serr_mu_parameters), **self._maps(self.serr_sigma_parameters)},
        )

    @staticmethod
    def _maps(maps: KeyedMaps) -> dict[str, np.ndarray]:
        return {str(k): maps.get(str(k)) for k in maps.keys}

    def _network(self) -> dict[str, np.ndarray]:
        return {k: getattr(self.nn_parameters, k) for k in self._nn_parameter_names()}

    def _forcing(self, kind: str) -> Any:
        """Forcing ``kind`` as stored: the ``(nrow, ncol, ntime_step)`` grid, or its sparse matrices
        (``setup.sparse_storage``)."""
        if self.setup.sparse_storage:
            return getattr(self.atmos_data, f"sparse_{kind}")
        return getattr(self.atmos_data, kind)

    def core_inputs(self) -> CoreInputs:
        """The model as ``hydrograd.core.simulate`` runs it: active cells in the flow graph's order,
        on the device (with a snow module, its snowfall and temperature too)."""
        snow = {k: self._forcing(k) for k in ("snow", "temp")} if self.setup.snow_module_present else {}
        return core_inputs(
            self._structure,
            self.setup.dt,
            self._indexed,
            self._maps(self.rr_parameters),
            self._maps(self.rr_initial_states),
            self._forcing("prcp"),
            self._forcing("pet"),
            self.physio_data.imperviousness,
            self._network(),
            **snow,
            host_arrays=self._host_arrays,
        )

    def calibration_data(self, descriptor_statistics: dict[str, np.ndarray] | None = None) -> CalibrationData:
        """The model as a calibration reads it (``hydrograd.calibration.calibrate``); its descriptors
        normalized with its own statistics, or with ``descriptor_statistics`` (``l_descriptor``,
        ``u_descriptor``, ``mean_descriptor``, ``std_descriptor``, ``(nd,)`` each)."""
        physio = self.physio_data
        statistics = descriptor_statistics or {
            k: getattr(physio, k) for k in ("l_descriptor", "u_descriptor", "mean_descriptor", "std_descriptor")
        }
        return CalibrationData(
            inputs=self.core_inputs(),
            q_obs=self.response_data.q,
            mean_prcp=self.atmos_data.mean_prcp,
            area_dln=self.mesh.area_dln,
            gauge_codes=tuple(str(c) for c in self.mesh.code),
            layout=self.layout,
            descriptors=normalized_descriptors(physio.descriptor, self.setup.descriptor_tfm, statistics),
            descriptor_names=tuple(str(d) for d in self.setup.descriptor_name),
            network=self._network(),
            serr_mu=self._maps(self.serr_mu_parameters),
            serr_sigma=self._maps(self.serr_sigma_parameters),
            q_stdev=self.u_response_data.q_stdev,
        )

    def _write_run(self, out: SimulationOutput) -> None:
        """Keep a run's discharge and final states."""
        self.response.q = np.asarray(out.q, dtype=np.float32)
        layout = self.layout
        for i, key in enumerate(self.rr_final_states.keys):
            self.rr_final_states.values[..., i] = layout.to_grid(out.final_states[str(key)])

    def _response_cost(self, spec: ObservationCost) -> float:
        codes = tuple(str(c) for c in self.mesh.code)
        q_obs = self.response_data.q
        data = cost_data(spec, q_obs, self.atmos_data.mean_prcp, self.mesh.area_dln, self.setup.dt, codes)
        return response_cost(self.response.q, q_obs, spec, data, codes)

    # ---- parameters and states -------------------------------------------------------------

    def _check_key(self, key: str, maps: KeyedMaps, what: str, owner: str | None = None) -> str:
        """``key`` lower-cased, once known to be one of ``maps``' keys (those of the structure, or of
        ``owner`` when given)."""
        if not isinstance(key, str):
            raise TypeError(f"{what} name must be a str, got {key!r}")
        name = key.lower()
        valid = [str(k) for k in maps.keys]
        if name not in valid:
            owner = owner or f"structure '{self.setup.structure}'"
            raise ValueError(f"Unknown {what} '{key}' for {owner}.{closest(name, valid)} Choices: {valid}")
        return name

    def _check_value(self, name: str, value: Any, spec: Spec, what: str) -> np.ndarray:
        """``value`` (a number or a ``(nrow, ncol)`` map) as a float32 map, checked against the
        feasible domain (``hydrograd.config.values.checked_value``)."""
        return checked_value(name, value, spec, what, self.mesh.active_cell)

    def get_rr_parameters(self, key: str) -> np.ndarray:
        """Map of rainfall-runoff parameter ``key``, shape ``(nrow, ncol)``."""
        return self.rr_parameters.get(self._check_key(key, self.rr_parameters, "rr_parameter")).copy()

    def set_rr_parameters(self, key: str, value: float | np.ndarray) -> None:
        """Set parameter ``key`` to a scalar or a ``(nrow, ncol)`` map within its feasible domain."""
        name = self._check_key(key, self.rr_parameters, "rr_parameter")
        self.rr_parameters.get(name)[...] = self._check_value(name, value, RR_PARAMETERS[name], "rr_parameter")

    def get_rr_initial_states(self, key: str) -> np.ndarray:
        """Map of initial state ``key``, shape ``(nrow, ncol)``."""
        return self.rr_initial_states.get(self._check_key(key, self.rr_initial_states, "rr_initial_state")).copy()

    def set_rr_initial_states(self, key: str, value: float | np.ndarray) -> None:
        """Set initial state ``key`` to a scalar or a ``(nrow, ncol)`` map within its feasible domain."""
        name = self._check_key(key, self.rr_initial_states, "rr_initial_state")
        self.rr_initial_states.get(name)[...] = self._check_value(name, value, RR_STATES[name], "rr_initial_state")

    def get_rr_final_states(self, key: str) -> np.ndarray:
        """Map of state ``key`` after the last forward run, shape ``(nrow, ncol)``."""
        return self.rr_final_states.get(self._check_key(key, self.rr_final_states, "rr_final_state")).copy()

    def adjust_interception(self, active_cell_only: bool = True) -> None:
        """Refit the interception capacity ``ci`` (mm) to the forcing, as the model's build does
        (``setup['adjust_interception']``): on the active cells, or on every cell of the grid with
        ``active_cell_only=False`` (dense storage only); the other cells keep their value. As in
        smash, nothing happens for a structure without ``ci`` or at a time step of a day or more."""
        only = as_bool(active_cell_only, "active_cell_only")
        setup = self.setup
        if "ci" not in self.rr_parameters.keys or setup.dt >= 86400:
            return
        ci = self.rr_parameters.get("ci")
        ci[...] = refit_interception_capacity(
            self._forcing("prcp"),
            self._forcing("pet"),
            ci,
            self.mesh.active_cell,
            setup.start,
            setup.end,
            setup.dt,
            active_cell_only=only,
        )

    def get_rr_parameters_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the structure's parameters, in smash's order (``ci``
        included, though a calibration does not move it)."""
        return {k: spec.bounds for k, spec in RR_PARAMETERS.items() if k in self.rr_parameters.keys}

    def get_rr_initial_states_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the structure's initial states, in smash's order."""
        return {k: spec.bounds for k, spec in RR_STATES.items() if k in self.rr_initial_states.keys}

    # ---- structural-error model (Bayesian calibration) ----------------------------------------

    def _serr_key(self, key: str, kind: str) -> str:
        """``key`` checked against the parameters of the ``kind`` (``"mu"``/``"sigma"``) mapping."""
        mapping = getattr(self.setup, f"serr_{kind}_mapping")
        maps = getattr(self, f"serr_{kind}_parameters")
        return self._check_key(key, maps, f"serr_{kind}_parameter", f"serr_{kind}_mapping '{mapping}'")

    def _set_serr(self, kind: str, key: str, value: float | np.ndarray) -> None:
        name = self._serr_key(key, kind)
        what = f"serr_{kind}_parameter"
        checked = checked_gauge_value(name, value, SERR_PARAMETERS[name], what, self.mesh.ng)
        getattr(self, f"serr_{kind}_parameters").get(name)[...] = checked

    def get_serr_mu_parameters(self, key: str) -> np.ndarray:
        """Structural-error mean parameter ``key`` of every gauge, shape ``(ng,)`` (a copy)."""
        return self.serr_mu_parameters.get(self._serr_key(key, "mu")).copy()

    def set_serr_mu_parameters(self, key: str, value: float | np.ndarray) -> None:
        """Set structural-error mean parameter ``key`` to a number or one value per gauge ``(ng,)``,
        within its feasible domain."""
        self._set_serr("mu", key, value)

    def get_serr_sigma_parameters(self, key: str) -> np.ndarray:
        """Structural-error deviation parameter ``key`` of every gauge, shape ``(ng,)`` (a copy)."""
        return self.serr_sigma_parameters.get(self._serr_key(key, "sigma")).copy()

    def set_serr_sigma_parameters(self, key: str, value: float | np.ndarray) -> None:
        """Set structural-error deviation parameter ``key`` to a number or one value per gauge
        ``(ng,)``, within its feasible domain."""
        self._set_serr("sigma", key, value)

    def get_serr_mu_parameters_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the mean mapping's parameters (none for ``"Zero"``)."""
        names = SERR_MU_MAPPINGS[self.setup.serr_mu_mapping]
        return {k: spec.bounds for k, spec in SERR_PARAMETERS.items() if k in names}

    def get_serr_sigma_parameters_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the deviation mapping's parameters."""
        names = SERR_SIGMA_MAPPINGS[self.setup.serr_sigma_mapping]
        return {k: spec.bounds for k, spec in SERR_PARAMETERS.items() if k in names}

    def get_serr_mu(self) -> np.ndarray:
        """Mean of the structural error ``(ng, ntime_step)`` float32 (m3/s): the mean mapping
        applied to ``response.q`` as it stands (-99 before any run, as in smash)."""
        return serr_mu(self.setup.serr_mu_mapping, self.serr_mu_parameters.values, self.response.q)

    def get_serr_sigma(self) -> np.ndarray:
        """Standard deviation of the structural error ``(ng, ntime_step)`` float32 (m3/s): the
        deviation mapping applied to ``response.q`` as it stands."""
        return serr_sigma(self.setup.serr_sigma_mapping, self.serr_sigma_parameters.values, self.response.q)

    # ---- flux-correction network of hybrid structures ---------------------------------------

    def get_nn_parameters_weight(self) -> list[np.ndarray]:
        """Weights of the flux-correction network, one ``(n_out, n_in)`` float32 array per layer."""
        return [getattr(self.nn_parameters, f"weight_{i}").copy() for i in range(1, self.setup.n_layers + 1)]

    def get_nn_parameters_bias(self) -> list[np.ndarray]:
        """Biases of the flux-correction network, one ``(n_out,)`` float32 array per layer."""
        return [getattr(self.nn_parameters, f"bias_{i}").copy() for i in range(1, self.setup.n_layers + 1)]

    def set_nn_parameters_weight(
        self, value: list | None = None, initializer: str = "glorot_uniform", random_state: int | None = None
    ) -> None:
        """Set the network's weights: ``value`` (one number or array per layer), or draws from
        ``initializer`` seeded by ``random_state`` (same numbers as smash)."""
        self._set_network("weight", value, initializer, random_state)

    def set_nn_parameters_bias(
        self, value: list | None = None, initializer: str = "zeros", random_state: int | None = None
    ) -> None:
        """Set the network's biases: ``value`` (one number or array per layer), or draws from
        ``initializer`` seeded by ``random_state`` (same numbers as smash)."""
        self._set_network("bias", value, initializer, random_state)

    def _set_network(self, kind: str, value: list | None, initializer: str, random_state: int | None) -> None:
        if not self.setup.n_layers:
            raise ValueError(
                f"structure '{self.setup.structure}' has no flux-correction network; choose a hybrid "
                "hydrological_module such as 'gr4_mlp'"
            )
        current = [getattr(self.nn_parameters, f"{kind}_{i}") for i in range(1, self.setup.n_layers + 1)]
        if value is None:
            initializer = choice(initializer, INITIALIZERS, "initializer")
            rng = random_generator(check_random_state(random_state))
            new = []
            for array in current:
                n_out = array.shape[0]
                n_in = array.shape[1] if kind == "weight" else 1
                new.append(initial_values(initializer, n_in, n_out, rng).reshape(array.shape))
        else:
            if not isinstance(value, list | tuple) or len(value) != len(current):
                raise ValueError(
                    f"value must be a list of {len(current)} {kind} arrays (one per layer), got {value!r:.80}"
                )
            new = []
            for i, (given, array) in enumerate(zip(value, current, strict=True), start=1):
                if not (is_real(given) or isinstance(given, np.ndarray | jax.Array)):
                    raise TypeError(f"{kind}_{i} must be a number or an array, got {type(given).__name__}")
                given = np.asarray(given)
                if given.dtype.kind not in "iuf":
                    raise TypeError(f"{kind}_{i} must hold numbers, got an array of dtype {given.dtype}")
                if given.size != 1 and given.shape != array.shape:
                    raise ValueError(f"{kind}_{i} must have shape {array.shape}, got {given.shape}")
                with np.errstate(over="ignore"):
                    given = given.astype(np.float32)
                if not np.all(np.isfinite(given)):
                    raise ValueError(f"{kind}_{i} holds NaN or inf (or values beyond the single-precision range)")
                new.append(np.broadcast_to(given, array.shape))
        for i, array in enumerate(new, start=1):
            setattr(self.nn_parameters, f"{kind}_{i}", np.array(array, dtype=np.float32))

    # ---- simulation ------------------------------------------------------------------------

    def _run_in_place(self, returns: ReturnSpec, facts: ModelFacts) -> dict[str, Any]:
        """Run the model forward, write its discharge and final states into it, and return the grid
        outputs ``returns`` asks for."""
        return self._write_forward(forward(self.core_inputs(), returns.record), returns, facts)

    def _write_forward(self, out: SimulationOutput, returns: ReturnSpec, facts: ModelFacts) -> dict[str, Any]:
        """Write a forward run's discharge and final states into the model; the grid outputs
        ``returns`` asks for."""
        self._write_run(out)
        return grid_outputs(out, self.layout, facts.rr_states, self._structure.fluxes, returns, facts.time_index)

    def forward_run(
        self,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> ForwardRun | None:
        """Run the model over the whole period in place; return a ``ForwardRun`` when
        ``return_options`` asks for anything (see ``hydrograd.forward_run``)."""
        request = self._forward_request(cost_options, common_options, return_options)
        if request.common.verbose:
            print("</> Forward Run")
        return self._forward_result(forward(self.core_inputs(), request.returns.record), request)

    def _forward_request(
        self,
        cost_options: dict[str, Any] | None,
        common_options: dict[str, Any] | None,
        return_options: dict[str, Any] | None,
    ) -> ForwardRequest:
        """``forward_run``'s arguments, checked against the model."""
        require_active_cells(self.layout)
        common = check_common_options(common_options)
        facts = self.facts()
        returns = check_return_options(return_options, "forward_run", facts.time_index)
        return ForwardRequest(common, facts, returns, observation_cost_spec(cost_options, facts))

    def _forward_result(self, out: SimulationOutput, request: ForwardRequest) -> ForwardRun | None:
        """Write the forward run ``out`` into the model; ``forward_run``'s return value."""
        returns, spec = request.returns, request.cost
        result = self._write_forward(out, returns, request.facts)
        if returns["cost"] or returns["jobs"]:
            if not spec.gauges:
                raise ValueError(
                    "return_options 'cost' and 'jobs' need a gauge in cost_options 'gauge'; the mesh has none"
                )
            jobs = self._response_cost(spec)
            result.update({k: jobs for k in ("cost", "jobs") if returns[k]})
        return ForwardRun(**result) if result else None

    def backward_run(
        self,
        diff_target: str = "j",
        cotangent: float | np.ndarray | None = None,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> BackwardRun | None:
        """Differentiate the cost (``diff_target="j"``) or the discharge of every active cell
        (``"q"``) with respect to the control vector ``optimize`` would move, then run the model
        forward in place; see ``hydrograd.backward_run``."""
        require_active_cells(self.layout)
        facts = self.facts(values=True)
        request = check_backward(
            facts,
            diff_target,
            cotangent,
            mapping,
            optimizer,
            optimize_options,
            cost_options,
            common_options,
            return_options,
        )
        calibration = request.calibration
        if calibration.common.verbose:
            print("</> Backward Run")
        grad = backward(self.calibration_data(), request)
        returns = calibration.returns
        result = self._run_in_place(returns, facts)
        if returns["cost"] or returns["jobs"]:
            jobs = self._response_cost(calibration.cost)
            result.update({k: jobs for k in ("cost", "jobs") if returns[k]})
        if returns["grad"]:
            result["grad"] = grad
        return BackwardRun(**result) if result else None

    def _control_request(
        self,
        facts: ModelFacts,
        bayesian: bool,
        mapping: str,
        optimizer: str | None,
        optimize_options: dict[str, Any] | None,
        cost_options: dict[str, Any] | None = None,
    ) -> CalibrationRequest:
        """The checked request of ``optimize`` (or ``bayesian_optimize``) whose control vector is
        described or set."""
        require_active_cells(self.layout)
        if not bayesian:
            return check_calibration(facts, mapping, optimizer, optimize_options)
        return check_bayesian(facts, mapping, optimizer, optimize_options, cost_options)

    def _optimize_control_info(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The control vector ``optimize`` would move, described as smash does; see
        ``hydrograd.optimize_control_info``."""
        request = self._control_request(self.facts(values=True), False, mapping, optimizer, optimize_options)
        return control_info(self.calibration_data(), request)

    def _bayesian_optimize_control_info(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The control vector ``bayesian_optimize`` would move, described as smash does; see
        ``hydrograd.bayesian_optimize_control_info``."""
        facts = self.facts(values=True)
        request = self._control_request(facts, True, mapping, optimizer, optimize_options, cost_options)
        return control_info(self.calibration_data(), request)

    def set_control_optimize(
        self,
        control_vector: np.ndarray,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
    ) -> None:
        """Set the parameters, initial states and hybrid network entries that ``control_vector`` (a
        control of ``optimize`` for ``mapping``, ``optimizer`` and ``optimize_options``, in the
        optimizer's transformed space) controls, in place. With ``mapping="ann"`` the
        regionalization network's weights at the end of the vector set nothing (as in smash)."""
        facts = self.facts(values=True)
        self._set_control(
            facts, self._control_request(facts, False, mapping, optimizer, optimize_options), control_vector
        )

    def set_control_bayesian_optimize(
        self,
        control_vector: np.ndarray,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
    ) -> None:
        """Set what a control vector of ``bayesian_optimize`` controls (parameters, initial states,
        structural-error parameters of the cost's gauges, hybrid network entries), in place."""
        facts = self.facts(values=True)
        request = self._control_request(facts, True, mapping, optimizer, optimize_options, cost_options)
        self._set_control(facts, request, control_vector)

    def _set_control(self, facts: ModelFacts, request: CalibrationRequest, control_vector: Any) -> None:
        if not isinstance(control_vector, np.ndarray | jax.Array | list | tuple):
            raise TypeError(f"control_vector must be a numpy array, got {type(control_vector).__name__}")
        values = control_values(self.calibration_data(), request, np.asarray(control_vector))
        self._write_found(facts, values.grid, values.active, values.network, values.serr)

    def optimize(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
        callback=None,
    ) -> Optimize | None:
        """Calibrate the model in place (see ``hydrograd.optimize``). The model is only written once
        the optimizer has finished: an error or a Ctrl-C on the way leaves it exactly as it was."""
        require_active_cells(self.layout)
        facts = self.facts(values=True)
        request = check_calibration(
            facts, mapping, optimizer, optimize_options, cost_options, common_options, return_options, callback
        )
        ret = self._calibrate_in_place(request, facts)
        return Optimize(**ret) if ret else None

    def bayesian_optimize(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
        callback=None,
    ) -> BayesianOptimize | None:
        """Calibrate the model and its structural-error parameters in place by maximising the
        posterior density (see ``hydrograd.bayesian_optimize``); written only once the optimizer
        has finished, as ``optimize``."""
        require_active_cells(self.layout)
        facts = self.facts(values=True)
        request = check_bayesian(
            facts,
            mapping,
            optimizer,
            optimize_options,
            cost_options,
            common_options,
            return_options,
            callback,
        )
        ret = self._calibrate_in_place(request, facts)
        returns = request.returns
        if returns["serr_mu"]:
            ret["serr_mu"] = self.get_serr_mu()
        if returns["serr_sigma"]:
            ret["serr_sigma"] = self.get_serr_sigma()
        return BayesianOptimize(**ret) if ret else None

    def _calibrate_in_place(self, request: CalibrationRequest, facts: ModelFacts) -> dict[str, Any]:
        """Run the calibration ``request`` asks for, write what it found and its closing run into the
        model, and return the grid outputs and the calibration's own return values."""
        return self._write_calibration(calibrate(self.calibration_data(), request), request, facts)

    def _write_calibration(
        self, result: CalibrationResult, request: CalibrationRequest, facts: ModelFacts
    ) -> dict[str, Any]:
        """Write what the calibration ``result`` found and its closing run into the model; the grid
        outputs ``request`` asks for and the calibration's own return values."""
        grid, active = (result.values, {}) if result.on_grid else ({}, result.values)
        self._write_found(facts, grid, active, result.network, result.serr)
        self._write_run(result.output)
        ret = grid_outputs(
            result.output, self.layout, facts.rr_states, self._structure.fluxes, request.returns, facts.time_index
        )
        ret.update(result.returned)
        return ret

    def _write_found(
        self,
        facts: ModelFacts,
        grid: dict[str, np.ndarray],
        active: dict[str, np.ndarray],
        network: dict[str, np.ndarray],
        serr: dict[str, np.ndarray],
    ) -> None:
        """Write what a calibration or a control vector set: parameter and initial-state maps on the
        whole ``grid`` (``(nrow, ncol)``) or on the ``active`` cells (``(nac,)``, the flow graph's
        order), hybrid ``network`` entries and structural-error parameters (``(ng,)`` per name)."""
        layout = self.layout
        for values, cells in ((grid, ...), (active, (layout.rows, layout.cols))):
            for name, value in values.items():
                target = self.rr_parameters if name in facts.rr_parameters else self.rr_initial_states
                target.get(name)[cells] = value
        for key, value in network.items():
            setattr(self.nn_parameters, key, value)
        for name in ("serr_mu_parameters", "serr_sigma_parameters"):
            maps = getattr(self, name)
            for i, key in enumerate(maps.keys):
                if str(key) in serr:
                    maps.values[:, i] = serr[str(key)]

    def multiset_estimate(
        self,
        multiset: MultipleForwardRun,
        alpha: float | list[float] | np.ndarray | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> MultisetEstimate | None:
        """Set the parameters and initial states ``multiset`` sampled to their estimate from its
        runs, in place, and run the model forward; see ``hydrograd.multiset_estimate``."""
        require_active_cells(self.layout)
        if not isinstance(multiset, MultipleForwardRun):
            raise TypeError(
                f"multiset must be a MultipleForwardRun (hydrograd.multiple_forward_run), got {type(multiset).__name__}"
            )
        alpha = multiset_alpha(alpha)
        common = check_common_options(common_options)
        facts = self.facts()
        returns = check_return_options(return_options, "multiset_estimate", facts.time_index)
        sets = self._multiset_sets(multiset, facts)
        spec = observation_cost_spec(multiset._cost_options, facts)
        cost = np.asarray(multiset.cost)
        if not np.all(np.isfinite(cost)) or cost.min() <= 0:
            raise ValueError(
                "multiset_estimate weighs each run by its cost relative to the smallest one: the costs of "
                f"multiset must be finite and positive, got {cost.min()} to {cost.max()} (NaN: {np.isnan(cost).sum()})"
            )
        if common.verbose:
            print("</> Multiple Set Estimate")
        samples = multiset._samples
        if samples is not None:
            density = {k: np.broadcast_to(getattr(samples, f"_dst_{k}"), v.shape) for k, v in sets.items()}
        else:
            density = {k: kernel_density(v) for k, v in sets.items()}
        lcurve: dict[str, Any]
        if isinstance(alpha, float):
            values, distance = estimate(sets, density, cost, alpha)
            lcurve = {"mahal_dist": np.float64(distance)}
        else:
            with progress_bar(len(alpha), "    L-curve Computing", common.verbose) as bar:
                q_obs = self.response_data.q
                codes = facts.gauge_codes
                data = cost_data(spec, q_obs, self.atmos_data.mean_prcp, self.mesh.area_dln, self.setup.dt, codes)
                curve = estimate_lcurve(self.core_inputs(), self.layout, sets, density, cost, alpha, q_obs, spec, data)
                bar.update(len(alpha))
            values, _ = estimate(sets, density, cost, float(alpha[curve.best]))
            lcurve = {"mahal_dist": curve.distance, "cost": curve.cost, "alpha": alpha, "alpha_opt": alpha[curve.best]}
        for name, grid in values.items():
            if name in facts.rr_parameters:
                self.set_rr_parameters(name, grid)
            else:
                self.set_rr_initial_states(name, grid)
        result = self._run_in_place(returns, facts)
        jobs = self._response_cost(spec)
        if isinstance(alpha, float):
            lcurve["cost"] = jobs
        result.update({k: jobs for k in ("cost", "jobs") if returns[k]})
        if returns["lcurve_multiset"]:
            result["lcurve_multiset"] = lcurve
        return MultisetEstimate(**result) if result else None

    def _multiset_sets(self, multiset: MultipleForwardRun, facts: ModelFacts) -> dict[str, np.ndarray]:
        """The sets ``multiset`` ran, name -> ``(nrow, ncol, n)``, checked to fit this model."""
        sets = dict(multiset._spatialized_samples)
        n = len(multiset.cost)
        known = [*facts.rr_parameters, *facts.rr_states]
        for name, grid in sets.items():
            if name not in known:
                raise ValueError(
                    f"multiset sampled '{name}', which is neither an rr_parameter nor an rr_initial_state of "
                    f"structure '{facts.structure}'. Choices: {known}"
                )
            if np.shape(grid) != (*facts.grid_shape, n):
                raise ValueError(
                    f"multiset's sets of '{name}' have shape {np.shape(grid)}, not {(*facts.grid_shape, n)} "
                    "(this model's grid and the number of runs): was it run on another model?"
                )
        return sets

    def to_xarray(self, run: Any = None) -> xr.Dataset:
        """Discharge ``(gauge, time)``, observations, parameter and state maps ``(y, x)`` with the mesh's
        coordinates as an ``xarray.Dataset``; ``run`` (a ``ForwardRun`` or ``Optimize`` with
        ``rr_states``/``q_domain``) adds its time-stepped maps. Save it with
        ``hydrograd.io.save_netcdf``; see ``hydrograd.formats.netcdf`` for the layout."""
        setup = self.setup
        attrs = {
            "title": "hydrograd results",
            "structure": str(setup.structure),
            "dt": float(setup.dt),
            "start_time": str(setup.start),
            "end_time": str(setup.end),
            "xres": float(self.mesh.xres),
            "yres": float(self.mesh.yres),
        }
        if getattr(self.mesh, "epsg", None) is not None:
            attrs["epsg"] = int(self.mesh.epsg)
        states = [str(k) for k in self.rr_initial_states.keys]
        return results_dataset(
            vars(self.mesh),
            setup.time_index(),
            attrs,
            self.response.q,
            self.response_data.q,
            {str(k): self.get_rr_parameters(str(k)) for k in self.rr_parameters.keys},
            {k: self.get_rr_initial_states(k) for k in states},
            {k: self.get_rr_final_states(k) for k in states},
            run,
        )

    def copy(self) -> Model:
        """A deep copy (the immutable indexed mesh is shared)."""
        return _copy.deepcopy(self)

    def __deepcopy__(self, memo):
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key == "_indexed" else _copy.deepcopy(value, memo)
        return new

    def __repr__(self) -> str:
        m = self.mesh
        return (
            f"Model(structure='{self.setup.structure}', dt={self.setup.dt:g} s, ntime_step={self.setup.ntime_step}, "
            f"grid=({m.nrow}, {m.ncol}), nac={m.nac}, ng={m.ng})"
        )
