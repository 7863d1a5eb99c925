"""The model setup: a user's dict checked once and turned into a typed, read-only-by-convention
object with smash's attribute names (``model.setup.dt``, ``model.setup.ntime_step``, ...)."""

from __future__ import annotations

import copy
import datetime
import os
from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config._checks import as_bool, as_positive_float, choice, is_real, reject_unknown_keys
from hydrograd.core.registry import HYDROLOGICAL_MODULES, ROUTING_MODULES, SNOW_MODULES, get_structure

INPUT_FORMATS = ("tif", "nc")
DESCRIPTOR_TRANSFORMS = ("standardize", "normalize", "keep")
SERR_MU_MAPPINGS = ("Zero", "Constant", "Linear")
SERR_SIGMA_MAPPINGS = ("Constant", "Linear", "Power", "Exponential", "Gaussian")

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

_BOOL_KEYS = (
    "adjust_interception",
    "compute_mean_atmos",
    "read_qobs",
    "read_prcp",
    "read_pet",
    "daily_interannual_pet",
    "read_snow",
    "read_temp",
    "prcp_partitioning",
    "sparse_storage",
    "read_descriptor",
    "read_imperviousness",
)
_ATMOS_KINDS = ("prcp", "pet", "snow", "temp")


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


class Setup:
    """Validated model setup. Attributes carry smash's names and types.

    Derived attributes: ``structure`` (``"snow-hydrological-routing"``), ``ntime_step``, ``nd``
    (number of descriptors), ``nrrp``/``nrrs`` (numbers of parameters and states), ``nqz``, and
    for hybrid structures ``neurons`` (layer sizes of the flux-correction network, input first,
    zero-padded as smash shows them) and ``n_layers`` (its number of weight matrices; 0 otherwise).

    ``check_paths=False`` accepts input folders and files that do not exist (yet or any more):
    ``hydrograd.io.read_model`` uses it, since a saved model carries its data.
    """

    def __init__(self, user_setup: dict[str, Any], *, check_paths: bool = True):
        if not isinstance(user_setup, dict):
            raise TypeError(f"setup must be a dict, got {type(user_setup).__name__}")
        reject_unknown_keys(user_setup, DEFAULT_SETUP, "setup")
        raw = {**DEFAULT_SETUP, **user_setup}

        self.snow_module = choice(raw["snow_module"], SNOW_MODULES, "snow_module")
        self.hydrological_module = choice(raw["hydrological_module"], HYDROLOGICAL_MODULES, "hydrological_module")
        self.routing_module = choice(raw["routing_module"], ROUTING_MODULES, "routing_module")
        self.serr_mu_mapping = choice(raw["serr_mu_mapping"], SERR_MU_MAPPINGS, "serr_mu_mapping")
        self.serr_sigma_mapping = choice(raw["serr_sigma_mapping"], SERR_SIGMA_MAPPINGS, "serr_sigma_mapping")
        self.hidden_neuron = _hidden_neuron(raw["hidden_neuron"])
        self.dt = as_positive_float(raw["dt"], "setup key 'dt'")

        start = _timestamp(raw["start_time"], "start_time")
        end = _timestamp(raw["end_time"], "end_time")
        if end <= start:
            raise ValueError(f"setup key 'end_time' ({end}) must be later than 'start_time' ({start})")
        span = (end - start).total_seconds()
        if span < self.dt:
            raise ValueError(
                f"setup keys 'start_time'..'end_time' span {span:g} s, less than one time step dt={self.dt:g} s"
            )
        self.start_time = start.strftime("%Y-%m-%d %H:%M")
        self.end_time = end.strftime("%Y-%m-%d %H:%M")
        self.ntime_step = int(span / self.dt)

        for key in _BOOL_KEYS:
            setattr(self, key, as_bool(raw[key], f"setup key '{key}'"))

        self.qobs_directory = _directory(self.read_qobs, raw["qobs_directory"], "qobs_directory", check_paths)
        for kind in _ATMOS_KINDS:
            read = getattr(self, f"read_{kind}")
            setattr(self, f"{kind}_format", _input_format(raw[f"{kind}_format"], f"{kind}_format", read))
            directory = _directory(read, raw[f"{kind}_directory"], f"{kind}_directory", check_paths)
            setattr(self, f"{kind}_directory", directory)
            access = raw[f"{kind}_access"]
            if not isinstance(access, str):
                raise TypeError(f"setup key '{kind}_access' must be a str, got {access!r}")
            setattr(self, f"{kind}_access", access)
        for kind in ("prcp", "pet", "snow"):
            key = f"{kind}_conversion_factor"
            setattr(self, key, as_positive_float(raw[key], f"setup key '{key}'"))

        self.descriptor_format = _input_format(raw["descriptor_format"], "descriptor_format", self.read_descriptor)
        self.descriptor_directory = _directory(
            self.read_descriptor, raw["descriptor_directory"], "descriptor_directory", check_paths
        )
        names = raw["descriptor_name"]
        if not self.read_descriptor or names is None:
            self.descriptor_name = np.empty(0, dtype="<U128")
        elif isinstance(names, list | tuple | np.ndarray):
            self.descriptor_name = np.array([str(n) for n in np.ravel(names)], dtype="<U128")
        else:
            raise TypeError(f"setup key 'descriptor_name' must be a list of names, got {names!r}")
        if self.read_descriptor and self.descriptor_name.size == 0:
            raise ValueError(
                "setup key 'descriptor_name' must list at least one descriptor when 'read_descriptor' is True"
            )
        repeated = sorted({str(n) for n in self.descriptor_name if np.count_nonzero(self.descriptor_name == n) > 1})
        if repeated:
            raise ValueError(f"setup key 'descriptor_name' lists {repeated} more than once")
        self.descriptor_tfm = choice(raw["descriptor_tfm"], DESCRIPTOR_TRANSFORMS, "descriptor_tfm")
        self.imperviousness_format = _input_format(
            raw["imperviousness_format"], "imperviousness_format", self.read_imperviousness
        )
        self.imperviousness_file = _file(
            self.read_imperviousness, raw["imperviousness_file"], "imperviousness_file", check_paths
        )

        if self.snow_module != "zero" and not (self.read_snow and self.read_temp):
            raise ValueError(
                f"snow_module '{self.snow_module}' needs snow and temperature: set 'read_snow' and 'read_temp' to True"
            )

        structure = get_structure(self.snow_module, self.hydrological_module, self.routing_module)
        self.structure = structure.name
        self.snow_module_present = self.snow_module != "zero"
        self.nd = int(self.descriptor_name.size)
        self.nrrp = len(structure.parameters)
        self.nrrs = len(structure.states)
        self.nqz = 2 if self.routing_module == "kw" else 1
        n_in, n_out = structure.hydrological.network_io or (0, 0)
        sizes = [n_in, *(int(h) for h in self.hidden_neuron if h > 0), n_out]
        self.neurons = np.zeros(len(self.hidden_neuron) + 2, dtype=np.int32)
        self.neurons[: len(sizes)] = sizes
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
