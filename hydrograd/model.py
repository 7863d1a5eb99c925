"""``Model``: the one stateful object, smash's façade over the services below it.

It owns numpy maps on the grid (what users read and write), turns them at its edge into the plain
values the services take (:meth:`Model.facts`, :meth:`Model.core_inputs`, calibration data), calls
them, and writes their results into itself. Nothing below this floor knows it.
"""

from __future__ import annotations

import copy as _copy
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from hydrograd._containers import Fields, KeyedMaps, Namespace
from hydrograd._process import size_cpu_pool
from hydrograd._validate import choice, closest, is_real
from hydrograd.calibration.data import CalibrationData, normalized_descriptors
from hydrograd.calibration.run import calibrate
from hydrograd.config.calibration import check_calibration
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.config.facts import ModelFacts, model_facts
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.config.run_options import return_options as check_return_options
from hydrograd.config.setup import Setup
from hydrograd.core.cost import ObservationCost
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, Spec
from hydrograd.core.registry import Structure, get_structure
from hydrograd.core.simulate import CoreInputs, SimulationOutput
from hydrograd.formats.inputs import MISSING, atmos_namespace, read_inputs
from hydrograd.formats.model_file import SavedModel
from hydrograd.formats.netcdf import results_dataset
from hydrograd.mesh.layout import CellLayout, IndexedMesh, index_mesh
from hydrograd.mesh.validate import validate_mesh
from hydrograd.nn.initializers import INITIALIZERS, check_random_state, initial_values, random_generator
from hydrograd.simulation.cost import cost_data, response_cost
from hydrograd.simulation.forward import forward
from hydrograd.simulation.inputs import (
    core_inputs,
    default_parameters,
    default_states,
    network_arrays,
    require_active_cells,
)
from hydrograd.simulation.outputs import ForwardRun, Optimize, grid_outputs

if TYPE_CHECKING:
    import xarray as xr

_DATA = ("atmos_data", "physio_data", "response_data", "response")
_MAPS = ("rr_parameters", "rr_initial_states", "rr_final_states")


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
    response = _Copied()
    rr_parameters = _Copied()
    rr_initial_states = _Copied()
    rr_final_states = _Copied()
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
        # smash's "never run" values: -99 until the first run
        self.response = Fields(q=np.full((self.mesh.ng, self.setup.ntime_step), MISSING, dtype=np.float32))
        structure = self._structure
        grid = (self.mesh.nrow, self.mesh.ncol)
        parameters = default_parameters(structure, self.setup.dt, grid, data.interception_capacity)
        states = np.stack(list(default_states(structure, grid).values()), axis=-1)
        self.rr_parameters = KeyedMaps(structure.parameters, np.stack(list(parameters.values()), axis=-1))
        self.rr_initial_states = KeyedMaps(structure.states, states)
        self.rr_final_states = KeyedMaps(structure.states, np.full_like(states, MISSING))
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
        range of every parameter and initial state on the active cells."""
        return model_facts(
            self.setup,
            self.mesh.code,
            self._indexed.outlet_gauges,
            self.mesh.active_cell,
            self._maps(self.rr_parameters),
            self._maps(self.rr_initial_states),
            self._network(),
            values,
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
        on the device."""
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
        )

    def calibration_data(self) -> CalibrationData:
        """The model as a calibration reads it (``hydrograd.calibration.calibrate``)."""
        physio = self.physio_data
        statistics = {
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

    def _check_key(self, key: str, maps: KeyedMaps, what: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"{what} name must be a str, got {key!r}")
        name = key.lower()
        valid = [str(k) for k in maps.keys]
        if name not in valid:
            raise ValueError(
                f"Unknown {what} '{key}' for structure '{self.setup.structure}'.{closest(name, valid)} Choices: {valid}"
            )
        return name

    def _check_value(self, name: str, value: Any, spec: Spec, what: str) -> np.ndarray:
        """``value`` (a number or a ``(nrow, ncol)`` map) as a float32 map, after checking that it is
        finite on the active cells and inside the feasible domain (strictly above 0 for a capacity)."""
        if not (is_real(value) or isinstance(value, np.ndarray | jax.Array)):
            raise TypeError(f"value of {what} '{name}' must be a number or an array, got {type(value).__name__}")
        given = np.asarray(value)
        if given.dtype.kind not in "iuf":
            raise TypeError(f"value of {what} '{name}' must hold numbers, got an array of dtype {given.dtype}")
        grid = (self.mesh.nrow, self.mesh.ncol)
        if given.size == 1:
            checked = given.reshape(-1)
        elif given.shape == grid:
            checked = given[self.mesh.active_cell == 1]
        else:
            raise ValueError(
                f"value of {what} '{name}' must be a scalar or an array of shape {grid}, got {given.shape}"
            )
        if not np.all(np.isfinite(checked)):
            raise ValueError(f"value of {what} '{name}' holds NaN or inf on active cells")
        with np.errstate(over="ignore"):
            arr = given.astype(np.float32)
            overflow = not np.all(np.isfinite(checked.astype(np.float32)))
        if overflow:
            raise ValueError(f"value of {what} '{name}' exceeds the single-precision range (about 3.4e38)")
        low, high = float(checked.min()), float(checked.max())
        strict = what == "rr_parameter"
        if not (spec.is_feasible(low, strict=strict) and spec.is_feasible(high, strict=strict)):
            edge = " (a parameter must lie strictly inside it, at least 1.2e-38 above 0)" if strict else ""
            raise ValueError(
                f"value of {what} '{name}' spans [{low}, {high}], outside its feasible domain "
                f"]{spec.feasible[0]}, {spec.feasible[1]}[{edge}"
            )
        return np.broadcast_to(arr.reshape(grid) if arr.size > 1 else arr.reshape(()), grid)

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

    def get_rr_parameters_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the structure's parameters, in smash's order (``ci``
        included, though a calibration does not move it)."""
        return {k: spec.bounds for k, spec in RR_PARAMETERS.items() if k in self.rr_parameters.keys}

    def get_rr_initial_states_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the structure's initial states, in smash's order."""
        return {k: spec.bounds for k, spec in RR_STATES.items() if k in self.rr_initial_states.keys}

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

    def forward_run(
        self,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> ForwardRun | None:
        """Run the model over the whole period in place; return a ``ForwardRun`` when
        ``return_options`` asks for anything (see ``hydrograd.forward_run``)."""
        require_active_cells(self.layout)
        common = check_common_options(common_options)
        facts = self.facts()
        returns = check_return_options(return_options, "forward_run", facts.time_index)
        spec = observation_cost_spec(cost_options, facts)
        if common.verbose:
            print("</> Forward Run")
        out = forward(self.core_inputs(), returns.record)
        self._write_run(out)
        result = grid_outputs(out, self.layout, facts.rr_states, self._structure.fluxes, returns, facts.time_index)
        if returns["cost"] or returns["jobs"]:
            if not spec.gauges:
                raise ValueError(
                    "return_options 'cost' and 'jobs' need a gauge in cost_options 'gauge'; the mesh has none"
                )
            jobs = self._response_cost(spec)
            result.update({k: jobs for k in ("cost", "jobs") if returns[k]})
        return ForwardRun(**result) if result else None

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
        result = calibrate(self.calibration_data(), request)
        layout = self.layout
        for name, values in result.values.items():
            target = self.rr_parameters if name in facts.rr_parameters else self.rr_initial_states
            if result.on_grid:
                target.get(name)[...] = values
            else:
                target.get(name)[layout.rows, layout.cols] = values
        for key, values in result.network.items():
            setattr(self.nn_parameters, key, values)
        self._write_run(result.output)
        ret = {
            **grid_outputs(
                result.output, layout, facts.rr_states, self._structure.fluxes, request.returns, facts.time_index
            )
        }
        ret.update(result.returned)
        return Optimize(**ret) if ret else None

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
