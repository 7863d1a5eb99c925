"""The model setup: a user's dict checked once and turned into a typed, read-only-by-convention
object with smash's attribute names (``model.setup.dt``, ``model.setup.ntime_step``, ...)."""

from __future__ import annotations

import copy
import datetime
import os
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._validate import as_bool, as_positive_float, choice, is_real, reject_unknown_keys
from hydrograd.core.parameters import SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS
from hydrograd.core.registry import HYDROLOGICAL_MODULES, ROUTING_MODULES, SNOW_MODULES, get_structure

INPUT_FORMATS = ("tif", "nc")
DESCRIPTOR_TRANSFORMS = ("standardize", "normalize", "keep")
DERIVED_COUNTS = (
    "ntime_step",
    "nd",
    "nrrp",
    "nrrs",
    "nsep_mu",
    "nsep_sigma",
    "nqz",
    "n_layers",
    "n_snow_fluxes",
    "n_hydro_fluxes",
    "n_routing_fluxes",
    "n_internal_fluxes",
)
"""The counts smash derives from a setup (integer attributes of ``Setup``)."""

DEFAULT_SETUP: dict[str, Any] = {
    "snow_module": "zero",
    "hydrological_module": "gr4",
    "routing_module": "lr",
    "hidden_neuron": 16,
    "serr_mu_mapping": "Zero",
    "serr_sigma_mapping": "Linear",
    "dt": 3600,
    "start_time": None,
    "end_time": None,
    "adjust_interception": True,
    "compute_mean_atmos": True,
    "read_qobs": False,
    "qobs_directory": None,
    "read_prcp": False,
    "prcp_format": "tif",
    "prcp_conversion_factor": 1,
    "prcp_directory": None,
    "prcp_access": "",
    "read_pet": False,
    "pet_format": "tif",
    "pet_conversion_factor": 1,
    "pet_directory": None,
    "pet_access": "",
    "daily_interannual_pet": False,
    "read_snow": False,
    "snow_format": "tif",
    "snow_conversion_factor": 1,
    "snow_directory": None,
    "snow_access": "",
    "read_temp": False,
    "temp_format": "tif",
    "temp_directory": None,
    "temp_access": "",
    "prcp_partitioning": False,
    "sparse_storage": False,
    "read_descriptor": False,
    "descriptor_format": "tif",
    "descriptor_directory": None,
    "descriptor_name": None,
    "descriptor_tfm": "standardize",
    "read_imperviousness": False,
    "imperviousness_format": "tif",
    "imperviousness_file": None,
}


def _timestamp(value: Any, key: str) -> pd.Timestamp:
    if value is None:
        raise ValueError(f"setup key '{key}' must be given (a date such as '2012-08-01')")
    if isinstance(value, pd.Timestamp):
        return value
    if isinstance(value, datetime.date | np.datetime64):
        return pd.Timestamp(value)
    if isinstance(value, str):
        try:
            return pd.Timestamp(value)
        except ValueError:
            raise ValueError(f"setup key '{key}' is not a valid date: {value!r}") from None
    raise TypeError(f"setup key '{key}' must be a str, datetime.date or pandas.Timestamp, got {value!r}")


def _path(read: bool, value: Any, key: str, kind: str, check: bool) -> str:
    """The path of setup key ``key`` (``kind``: "directory" or "file"), or "..." when not read.
    ``check``: whether it must exist now (not when the data come from a saved model)."""
    if not read:
        return "..."
    if value is None:
        flag = "read_" + key.split("_", 1)[0]
        raise ValueError(f"setup key '{key}' must be given when '{flag}' is True")
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"setup key '{key}' must be a path (str), got {value!r}")
    exists = os.path.isdir(value) if kind == "directory" else os.path.isfile(value)
    if check and not exists:
        raise FileNotFoundError(f"setup key '{key}': no such {kind} '{value}'")
    return os.fspath(value)


def _directory(read: bool, value: Any, key: str, check: bool = True) -> str:
    return _path(read, value, key, "directory", check)


def _file(read: bool, value: Any, key: str, check: bool = True) -> str:
    return _path(read, value, key, "file", check)


MAX_NEURONS = 2**20


def _hidden_neuron(value: Any) -> np.ndarray:
    """Hidden layer sizes. smash allows one or two layers; any depth is accepted here."""
    if is_real(value):
        given = [value]
    elif isinstance(value, list | tuple | np.ndarray):
        given = list(np.ravel(np.asarray(value, dtype=object)))
        if not given:
            raise ValueError("setup key 'hidden_neuron' must not be empty")
    else:
        raise TypeError(f"setup key 'hidden_neuron' must be an int or a sequence of ints, got {value!r}")
    for size in given:
        if not is_real(size):
            raise TypeError(f"setup key 'hidden_neuron' must hold integers, got {type(size).__name__} {size!r}")
        if not (np.isfinite(size) and size == int(size) and 0 < size <= MAX_NEURONS):
            raise ValueError(
                f"setup key 'hidden_neuron' must hold positive layer sizes (whole numbers up to {MAX_NEURONS}), "
                f"got {size!r}"
            )
    sizes = [int(s) for s in given]
    padded = np.zeros(max(2, len(sizes)), dtype=np.int32)
    padded[: len(sizes)] = sizes
    return padded


def _input_format(value: Any, key: str, read: bool) -> str:
    """``tif`` or ``nc``; reading ``nc`` files is refused here, before any work (smash 1.3.0 cannot either)."""
    fmt = choice(value, INPUT_FORMATS, key)
    if read and fmt == "nc":
        raise ValueError(
            f"setup key '{key}' = 'nc': reading NetCDF input is not available (nor in smash 1.3.0); use 'tif'"
        )
    return fmt


def _period(start_time: Any, end_time: Any, dt: float) -> tuple[str, str, int]:
    """``(start_time, end_time, ntime_step)`` as smash shows them, from the setup's dates."""
    start = _timestamp(start_time, "start_time")
    end = _timestamp(end_time, "end_time")
    if end <= start:
        raise ValueError(f"setup key 'end_time' ({end}) must be later than 'start_time' ({start})")
    span = (end - start).total_seconds()
    if span < dt:
        raise ValueError(f"setup keys 'start_time'..'end_time' span {span:g} s, less than one time step dt={dt:g} s")
    return start.strftime("%Y-%m-%d %H:%M"), end.strftime("%Y-%m-%d %H:%M"), int(span / dt)


def _access(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"setup key '{key}' must be a str, got {value!r}")
    return value


def _descriptor_names(read: bool, names: Any) -> np.ndarray:
    if not read or names is None:
        out = np.empty(0, dtype="<U128")
    elif isinstance(names, list | tuple | np.ndarray):
        out = np.array([str(n) for n in np.ravel(names)], dtype="<U128")
    else:
        raise TypeError(f"setup key 'descriptor_name' must be a list of names, got {names!r}")
    if read and out.size == 0:
        raise ValueError("setup key 'descriptor_name' must list at least one descriptor when 'read_descriptor' is True")
    repeated = sorted({str(n) for n in out if np.count_nonzero(out == n) > 1})
    if repeated:
        raise ValueError(f"setup key 'descriptor_name' lists {repeated} more than once")
    return out


def _neurons(network_io: tuple[int, int] | None, hidden_neuron: np.ndarray) -> np.ndarray:
    """Layer sizes of a hybrid structure's network, input first, zero-padded to
    ``len(hidden_neuron) + 2`` as smash shows them (all zeros for a conceptual structure)."""
    n_in, n_out = network_io or (0, 0)
    sizes = [n_in, *(int(h) for h in hidden_neuron if h > 0), n_out]
    neurons = np.zeros(len(hidden_neuron) + 2, dtype=np.int32)
    neurons[: len(sizes)] = sizes
    return neurons


class Setup:
    """Validated model setup. Attributes carry smash's names and types.

    Derived attributes: ``structure`` (``"snow-hydrological-routing"``), ``ntime_step``, ``nd``
    (number of descriptors), ``nrrp``/``nrrs`` (numbers of parameters and states),
    ``nsep_mu``/``nsep_sigma`` (of structural-error parameters), ``nqz``, ``n_snow_fluxes``,
    ``n_hydro_fluxes``, ``n_routing_fluxes`` and ``n_internal_fluxes`` (internal fluxes of each
    module and in all), and ``neurons`` (layer sizes of the flux-correction network, input first,
    zero-padded as smash shows them) and ``n_layers`` (its number of weight matrices; 0 otherwise).

    ``check_paths=False`` accepts input folders and files that do not exist (yet or any more):
    ``hydrograd.io.read_model`` uses it, since a saved model carries its data.
    """

    snow_module: str
    hydrological_module: str
    routing_module: str
    serr_mu_mapping: str
    serr_sigma_mapping: str
    hidden_neuron: np.ndarray
    dt: float
    start_time: str
    end_time: str
    ntime_step: int
    adjust_interception: bool
    compute_mean_atmos: bool
    read_qobs: bool
    qobs_directory: str
    read_prcp: bool
    prcp_format: str
    prcp_conversion_factor: float
    prcp_directory: str
    prcp_access: str
    read_pet: bool
    pet_format: str
    pet_conversion_factor: float
    pet_directory: str
    pet_access: str
    daily_interannual_pet: bool
    read_snow: bool
    snow_format: str
    snow_conversion_factor: float
    snow_directory: str
    snow_access: str
    read_temp: bool
    temp_format: str
    temp_directory: str
    temp_access: str
    prcp_partitioning: bool
    sparse_storage: bool
    read_descriptor: bool
    descriptor_format: str
    descriptor_directory: str
    descriptor_name: np.ndarray
    descriptor_tfm: str
    read_imperviousness: bool
    imperviousness_format: str
    imperviousness_file: str
    structure: str
    snow_module_present: bool
    nd: int
    nrrp: int
    nrrs: int
    nsep_mu: int
    nsep_sigma: int
    nqz: int
    n_snow_fluxes: int
    n_hydro_fluxes: int
    n_routing_fluxes: int
    n_internal_fluxes: int
    neurons: np.ndarray
    n_layers: int

    def __init__(self, user_setup: dict[str, Any], *, check_paths: bool = True):
        if not isinstance(user_setup, dict):
            raise TypeError(f"setup must be a dict, got {type(user_setup).__name__}")
        reject_unknown_keys(user_setup, DEFAULT_SETUP, "setup")
        raw = {**DEFAULT_SETUP, **user_setup}

        def flag(key: str) -> bool:
            return as_bool(raw[key], f"setup key '{key}'")

        def factor(key: str) -> float:
            return as_positive_float(raw[key], f"setup key '{key}'")

        self.snow_module = choice(raw["snow_module"], SNOW_MODULES, "snow_module")
        self.hydrological_module = choice(raw["hydrological_module"], HYDROLOGICAL_MODULES, "hydrological_module")
        self.routing_module = choice(raw["routing_module"], ROUTING_MODULES, "routing_module")
        self.serr_mu_mapping = choice(raw["serr_mu_mapping"], SERR_MU_MAPPINGS, "serr_mu_mapping")
        self.serr_sigma_mapping = choice(raw["serr_sigma_mapping"], SERR_SIGMA_MAPPINGS, "serr_sigma_mapping")
        self.hidden_neuron = _hidden_neuron(raw["hidden_neuron"])
        self.dt = as_positive_float(raw["dt"], "setup key 'dt'")
        self.start_time, self.end_time, self.ntime_step = _period(raw["start_time"], raw["end_time"], self.dt)

        self.adjust_interception = flag("adjust_interception")
        self.compute_mean_atmos = flag("compute_mean_atmos")
        self.read_qobs = flag("read_qobs")
        self.qobs_directory = _directory(self.read_qobs, raw["qobs_directory"], "qobs_directory", check_paths)

        self.read_prcp = flag("read_prcp")
        self.prcp_format = _input_format(raw["prcp_format"], "prcp_format", self.read_prcp)
        self.prcp_conversion_factor = factor("prcp_conversion_factor")
        self.prcp_directory = _directory(self.read_prcp, raw["prcp_directory"], "prcp_directory", check_paths)
        self.prcp_access = _access(raw["prcp_access"], "prcp_access")
        self.read_pet = flag("read_pet")
        self.pet_format = _input_format(raw["pet_format"], "pet_format", self.read_pet)
        self.pet_conversion_factor = factor("pet_conversion_factor")
        self.pet_directory = _directory(self.read_pet, raw["pet_directory"], "pet_directory", check_paths)
        self.pet_access = _access(raw["pet_access"], "pet_access")
        self.daily_interannual_pet = flag("daily_interannual_pet")
        self.read_snow = flag("read_snow")
        self.snow_format = _input_format(raw["snow_format"], "snow_format", self.read_snow)
        self.snow_conversion_factor = factor("snow_conversion_factor")
        self.snow_directory = _directory(self.read_snow, raw["snow_directory"], "snow_directory", check_paths)
        self.snow_access = _access(raw["snow_access"], "snow_access")
        self.read_temp = flag("read_temp")
        self.temp_format = _input_format(raw["temp_format"], "temp_format", self.read_temp)
        self.temp_directory = _directory(self.read_temp, raw["temp_directory"], "temp_directory", check_paths)
        self.temp_access = _access(raw["temp_access"], "temp_access")
        self.prcp_partitioning = flag("prcp_partitioning")
        self.sparse_storage = flag("sparse_storage")

        self.read_descriptor = flag("read_descriptor")
        self.descriptor_format = _input_format(raw["descriptor_format"], "descriptor_format", self.read_descriptor)
        self.descriptor_directory = _directory(
            self.read_descriptor, raw["descriptor_directory"], "descriptor_directory", check_paths
        )
        self.descriptor_name = _descriptor_names(self.read_descriptor, raw["descriptor_name"])
        self.descriptor_tfm = choice(raw["descriptor_tfm"], DESCRIPTOR_TRANSFORMS, "descriptor_tfm")
        self.read_imperviousness = flag("read_imperviousness")
        self.imperviousness_format = _input_format(
            raw["imperviousness_format"], "imperviousness_format", self.read_imperviousness
        )
        self.imperviousness_file = _file(
            self.read_imperviousness, raw["imperviousness_file"], "imperviousness_file", check_paths
        )

        _check_snow_inputs(self)

        structure = get_structure(self.snow_module, self.hydrological_module, self.routing_module)
        self.structure = structure.name
        self.snow_module_present = self.snow_module != "zero"
        self.nd = int(self.descriptor_name.size)
        self.nrrp = len(structure.parameters)
        self.nrrs = len(structure.states)
        self.nsep_mu = len(SERR_MU_MAPPINGS[self.serr_mu_mapping])
        self.nsep_sigma = len(SERR_SIGMA_MAPPINGS[self.serr_sigma_mapping])
        self.nqz = 2 if self.routing_module == "kw" else 1
        self.n_snow_fluxes = len(structure.snow.fluxes)
        self.n_hydro_fluxes = len(structure.hydrological.fluxes)
        self.n_routing_fluxes = len(structure.routing.fluxes)
        self.n_internal_fluxes = len(structure.fluxes)
        self.neurons = _neurons(structure.hydrological.network_io, self.hidden_neuron)
        self.n_layers = max(0, int(np.count_nonzero(self.neurons)) - 1)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.start_time)

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.end_time)

    def time_index(self) -> pd.DatetimeIndex:
        """The dates closing each time step: ``start + dt, ..., end``."""
        return pd.date_range(self.start, periods=self.ntime_step + 1, freq=pd.Timedelta(seconds=self.dt))[1:]

    def to_dict(self) -> dict[str, Any]:
        """The user-level setup keys, with plain Python values (for saving as YAML)."""
        out = {}
        for key in DEFAULT_SETUP:
            value = getattr(self, key)
            if isinstance(value, np.ndarray):
                value = [v.item() for v in value if key != "hidden_neuron" or v > 0]
            out[key] = value
        for key in list(out):
            if out[key] == "...":
                out[key] = None
        return out

    def copy(self) -> Setup:
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        body = "\n".join(f"    {k}: {getattr(self, k)!r}" for k in sorted(vars(self)))
        return f"Setup\n{body}"


def _check_snow_inputs(setup: Setup) -> None:
    """smash's rules for snow and temperature inputs: they need a snow module, and so does the
    precipitation partitioning, which also needs the temperature."""
    if setup.snow_module == "zero":
        for key in ("read_snow", "read_temp"):
            if getattr(setup, key):
                raise ValueError(
                    f"setup key '{key}' can not be True if no snow module has been selected (snow_module 'zero')"
                )
        if setup.prcp_partitioning:
            raise ValueError(
                "setup key 'prcp_partitioning' can not be True if no snow module has been selected (snow_module 'zero')"
            )
    elif setup.prcp_partitioning and not setup.read_temp:
        raise ValueError(
            "setup key 'prcp_partitioning' can not be True if no temperature data is read ('read_temp' False)"
        )
    if setup.read_snow or setup.read_temp or setup.prcp_partitioning:
        raise ValueError(
            "reading snow and temperature data (setup keys 'read_snow', 'read_temp', 'prcp_partitioning') is not "
            "available in this version of hydrograd: a snow module runs without them as smash runs it, melting nothing"
        )
