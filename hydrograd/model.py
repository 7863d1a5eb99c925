"""``Model``: the stateful, smash-compatible façade over the pure JAX core.

It owns numpy maps on the grid (what users read and write) and converts them at its edge to the
1-D active-cell arrays the core computes on, and back.
"""

from __future__ import annotations

import copy as _copy
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device
from hydrograd._containers import KeyedMaps, Namespace
from hydrograd._jax_setup import start_cpu_backend
from hydrograd.config._checks import choice, closest, is_real
from hydrograd.config.setup import Setup
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, default_parameter_value
from hydrograd.core.registry import Structure, get_structure
from hydrograd.core.simulate import Forcing, SimulationOutput, is_complete, simulate_jit
from hydrograd.mesh.graph import active_cell_index, build_flow_graph, catchment_masks

if TYPE_CHECKING:
    import xarray as xr


# Entries of ``Model._core_inputs()`` that ``simulate_jit`` takes as static arguments.
_STATIC_INPUTS = ("structure", "dt")


def core_input_shapes(inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` (from ``Model._core_inputs``) with every array replaced by its shape and dtype,
    enough to compile ``simulate_jit`` ahead of time without holding a copy of the model's data."""
    return {
        k: v if k in _STATIC_INPUTS else jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), v)
        for k, v in inputs.items()
    }


class Model:
    """A distributed hydrological model on a mesh, built from smash-style ``setup`` and ``mesh`` dicts.

    Reading the inputs named in ``setup`` (forcings, observed discharge, descriptors) happens
    here, with progress bars. Parameters and states are maps of shape ``(nrow, ncol)``.
    """

    def __init__(self, setup: dict[str, Any], mesh: dict[str, Any], *, verbose: bool = True):
        from hydrograd.mesh.validate import validate_mesh
        from hydrograd.model_inputs import read_inputs

        self.setup = Setup(setup)
        self.mesh = Namespace(**validate_mesh(mesh))
        self._index_mesh()
        inputs = read_inputs(self.setup, self.mesh, self._catchments, verbose=verbose)
        self.atmos_data = inputs.atmos_data
        self.physio_data = inputs.physio_data
        self.response_data = inputs.response_data
        shape = (self.setup.ntime_step,)
        self.response = Namespace(q=np.zeros((self.mesh.ng, *shape), dtype=np.float32))
        self._init_parameters(inputs.interception_capacity)
        self._init_network()

    def _index_mesh(self) -> None:
        mesh = self.mesh
        rows, cols = active_cell_index(mesh.active_cell)
        nac = rows.size
        start_cpu_backend(nac)
        column_major = np.full((mesh.nrow, mesh.ncol), -1, dtype=np.int64)
        column_major[rows, cols] = np.arange(nac)
        mesh.rowcol_to_ind_ac = column_major.astype(np.int32)
        mesh.local_active_cell = mesh.active_cell.copy()
        self._graph, self._order = build_flow_graph(mesh.flwdir, mesh.active_cell, mesh.dx, mesh.dy, mesh.flwacc)
        self._rows, self._cols = rows[self._order], cols[self._order]
        internal = np.full((mesh.nrow, mesh.ncol), -1, dtype=np.int64)
        internal[self._rows, self._cols] = np.arange(nac)
        gauge_rows, gauge_cols = np.asarray(mesh.gauge_pos, dtype=np.int64).reshape(-1, 2).T
        self._gauge_index = internal[gauge_rows, gauge_cols]
        downstream = np.asarray(self._graph.downstream)[:nac]
        self._outlet_gauges = downstream[self._gauge_index] == nac
        self._catchments = catchment_masks(mesh.flwdir, np.asarray(mesh.gauge_pos).reshape(-1, 2))

    def _init_parameters(self, interception_capacity: np.ndarray | None) -> None:
        structure = self._structure
        grid = (self.mesh.nrow, self.mesh.ncol)
        values = np.stack(
            [np.full(grid, default_parameter_value(k, self.setup.dt), np.float32) for k in structure.parameters],
            axis=-1,
        )
        self.rr_parameters = KeyedMaps(structure.parameters, values)
        if interception_capacity is not None and "ci" in structure.parameters:
            self.rr_parameters.get("ci")[...] = interception_capacity
        states = np.stack([np.full(grid, RR_STATES[k].default, np.float32) for k in structure.states], axis=-1)
        self.rr_initial_states = KeyedMaps(structure.states, states)
        self.rr_final_states = KeyedMaps(structure.states, states.copy())

    def _init_network(self) -> None:
        """Zero weights and biases for a hybrid structure's flux-correction network (smash's
        start: the hybrid then behaves exactly as its conceptual base)."""
        sizes = [int(n) for n in self.setup.neurons if n > 0] if self.setup.n_layers else []
        values = {}
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
            values[f"weight_{i}"] = np.zeros((n_out, n_in), dtype=np.float32)
            values[f"bias_{i}"] = np.zeros(n_out, dtype=np.float32)
        self.nn_parameters = Namespace(**values)

    @property
    def _structure(self) -> Structure:
        s = self.setup
        return get_structure(s.snow_module, s.hydrological_module, s.routing_module)

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

    def _check_value(self, name: str, value: Any, spec, what: str) -> np.ndarray:
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
        """Default calibration bounds of the structure's parameters (``ci`` excluded, as in smash)."""
        return {str(k): RR_PARAMETERS[k].bounds for k in self.rr_parameters.keys if k != "ci"}

    def get_rr_initial_states_bounds(self) -> dict[str, tuple[float, float]]:
        """Default calibration bounds of the structure's initial states."""
        return {str(k): RR_STATES[k].bounds for k in self.rr_initial_states.keys}

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
        from hydrograd.factory.initializers import (
            INITIALIZERS,
            check_random_state,
            initial_values,
            random_generator,
        )

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

    def _flux_correction(self):
        """The network hook the core takes, or None for a conceptual structure."""
        if not self.setup.n_layers:
            return None
        from hydrograd.core.structures.hybrid import make_flux_correction

        return make_flux_correction(
            [to_device(w) for w in self.get_nn_parameters_weight()],
            [to_device(b) for b in self.get_nn_parameters_bias()],
        )

    # ---- conversions at the edge -----------------------------------------------------------

    def _to_active(self, grid_values: np.ndarray) -> jnp.ndarray:
        """``(nrow, ncol, ...)`` -> ``(nac, ...)``, active cells in the flow graph's (level) order."""
        grid_values = np.asarray(grid_values)
        flat = grid_values.reshape(self.mesh.nrow * self.mesh.ncol, *grid_values.shape[2:])
        return to_device(np.take(flat, self._rows * self.mesh.ncol + self._cols, axis=0))

    def _series_to_active(self, grid_series: np.ndarray) -> np.ndarray:
        """``(nrow, ncol, T)`` -> ``(T, nac)``, on the host. Forcing is stored time-major (Fortran
        order, as smash keeps it), where this is one gather per time step and no copy of the grid."""
        grid_series = np.asarray(grid_series)
        by_time = grid_series.transpose(2, 1, 0).reshape(grid_series.shape[2], -1)
        return np.take(by_time, self._cols * self.mesh.nrow + self._rows, axis=1)

    def _to_grid(self, active_values: np.ndarray, fill: float = -99.0) -> np.ndarray:
        """``(..., nac)`` -> ``(nrow, ncol, ...)`` with ``fill`` outside the active cells."""
        active_values = np.asarray(active_values)
        lead = active_values.shape[:-1]
        out = np.full((self.mesh.nrow * self.mesh.ncol, *lead), fill, dtype=active_values.dtype)
        out[self._rows * self.mesh.ncol + self._cols] = np.moveaxis(active_values, -1, 0)
        return out.reshape(self.mesh.nrow, self.mesh.ncol, *lead)

    def _core_inputs(self) -> dict[str, Any]:
        """Everything ``simulate`` needs, on active cells."""
        params = {k: self._to_active(self.rr_parameters.get(k)) for k in self.rr_parameters.keys}
        states = {k: self._to_active(self.rr_initial_states.get(k)) for k in self.rr_initial_states.keys}
        prcp = self._series_to_active(self.atmos_data.prcp)
        pet = self._series_to_active(self.atmos_data.pet)
        # Checked on the host copy: on an accelerator the device copy would come back for it.
        forcing = Forcing(to_device(prcp), to_device(pet), complete=is_complete(prcp, pet))
        return {
            "structure": self._structure,
            "params": params,
            "initial_states": states,
            "forcing": forcing,
            "graph": self._graph,
            "gauge_index": to_device(self._gauge_index, np.int32),
            "imperviousness": self._to_active(self.physio_data.imperviousness),
            "dt": self.setup.dt,
            "flux_correction": self._flux_correction(),
        }

    def _run(self, compiled: Callable[..., SimulationOutput] | None = None, **record: bool) -> SimulationOutput:
        """Run the core, store discharge and final states on the model, return the raw output.

        ``compiled``: ``simulate_jit`` compiled ahead of time for the same shapes and ``record``
        flags (``simulate_jit.lower(**core_input_shapes(model._core_inputs()), **record).compile()``).
        """
        inputs = self._core_inputs()
        if compiled is None:
            out = simulate_jit(**inputs, **record)
        else:
            out = compiled(**{k: v for k, v in inputs.items() if k not in _STATIC_INPUTS})
        self.response.q = np.asarray(out.q, dtype=np.float32)
        for i, key in enumerate(self.rr_final_states.keys):
            self.rr_final_states.values[..., i] = self._to_grid(out.final_states[key])
        return out

    # ---- simulation ------------------------------------------------------------------------

    def forward_run(
        self,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ):
        """Run the model over the whole period; see ``hydrograd.forward_run``."""
        from hydrograd.simulation.run import run_forward

        return run_forward(self, cost_options, common_options, return_options)

    def optimize(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
        callback=None,
    ):
        """Calibrate the model in place; see ``hydrograd.optimize``."""
        from hydrograd.optimize.run import optimize_model

        return optimize_model(
            self, mapping, optimizer, optimize_options, cost_options, common_options, return_options, callback
        )

    def _nn_parameter_names(self) -> list[str]:
        """Weight and bias names of the flux-correction network, in smash's order (none when the
        structure is not hybrid)."""
        return [f"{kind}_{i}" for i in range(1, self.setup.n_layers + 1) for kind in ("weight", "bias")]

    def to_xarray(self, run: Any = None) -> xr.Dataset:
        """Discharge ``(gauge, time)``, observations, parameter and state maps ``(y, x)`` with the mesh's
        coordinates as an ``xarray.Dataset``; ``run`` (a ``ForwardRun`` or ``Optimize`` with
        ``rr_states``/``q_domain``) adds its time-stepped maps. Save it with
        ``hydrograd.io.save_netcdf``; see ``hydrograd.io.netcdf`` for the layout."""
        from hydrograd.io.netcdf import model_to_xarray

        return model_to_xarray(self, run)

    def copy(self) -> Model:
        """A deep copy (the immutable flow graph is shared)."""
        return _copy.deepcopy(self)

    def __deepcopy__(self, memo):
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key == "_graph" else _copy.deepcopy(value, memo)
        return new

    def __repr__(self) -> str:
        m = self.mesh
        return (
            f"Model(structure='{self.setup.structure}', dt={self.setup.dt:g} s, ntime_step={self.setup.ntime_step}, "
            f"grid=({m.nrow}, {m.ncol}), nac={m.nac}, ng={m.ng})"
        )
