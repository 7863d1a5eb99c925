"""Whole models in smash's HDF5 layout, as a plain :class:`SavedModel` (``hydrograd.io.save_model``
and ``read_model`` convert it from and to a ``Model``).

Layout (the one ``smash.io.save_model`` writes; group ``model``, arrays gzip-compressed, text as
bytes):

- ``setup``: every setup key as an attribute (booleans as 0/1, unused paths as ``"..."``), the
  derived counts smash keeps (``ntime_step``, ``nd``, ``nrrp``, ``nrrs``, ``nqz``, ``n_layers``,
  ``n_*_fluxes``, ``nsep_mu``, ``nsep_sigma``, ``structure``, ...), and the datasets
  ``descriptor_name``, ``hidden_neuron`` and ``neurons``;
- ``mesh``: the mesh (scalars as attributes, grids as datasets);
- ``atmos_data``: ``prcp``, ``pet`` ``(nrow, ncol, ntime_step)`` mm/dt and their per-gauge means
  ``mean_prcp``, ``mean_pet`` ``(ng, ntime_step)``; with a snow module (setup
  ``snow_module_present`` 1) also ``snow`` (mm/dt) and ``temp`` (°C), same shape, and
  ``mean_snow``, ``mean_temp``; with sparse storage (setup ``sparse_storage`` 1) the groups
  ``sparse_prcp``, ``sparse_pet`` (and ``sparse_snow``, ``sparse_temp``) instead of the grids:
  ``n``, ``coo_fmt`` (int32) and ``zvalue`` (float32) ``(ntime_step,)``, and ``indices`` (int32),
  ``values`` (float32) ``(nc, ntime_step)``, step ``t``'s matrix in the first ``n[t]`` entries of
  column ``t`` (``nc`` the largest ``n``; zeros elsewhere, and in ``indices`` for steps without
  them);
- ``physio_data``: ``descriptor`` ``(nrow, ncol, nd)``, ``imperviousness`` and the descriptor
  statistics ``l_descriptor``, ``u_descriptor``, ``mean_descriptor``, ``std_descriptor`` ``(nd,)``;
- ``response_data`` / ``response``: observed / simulated ``q`` ``(ng, ntime_step)`` m3/s;
  ``u_response_data``: ``q_stdev`` ``(ng, ntime_step)`` m3/s, the observations' standard
  deviation (zeros unless the user set it; a file without the group reads as zeros, as smash
  leaves it);
- ``rr_parameters``, ``rr_initial_states``, ``rr_final_states``: ``keys`` and ``values``
  ``(nrow, ncol, n)``;
- ``serr_mu_parameters``, ``serr_sigma_parameters``: the structural-error parameters, ``keys``
  (the setup's mapping's names, in its order) and ``values`` ``(ng, n)`` float32 (``n`` may be 0:
  ``serr_mu_mapping`` ``"Zero"``); a file without the group reads as smash's defaults;
- ``nn_parameters``: the hybrid network, ``weight_i`` ``(neurons[i], neurons[i-1])`` and
  ``bias_i`` ``(neurons[i],)`` for every layer smash allocates (empty arrays for the others).

File attributes: ``_save_func = "save_model"`` (smash's mark) and ``format_version``. Every array
keeps its dtype and bits, so a round trip is exact. ``smash.io.read_model`` reads these files
when the model is one smash 1.3.0 knows: a structure it has (``gr4_ude`` rather than hydrograd's
``gr4_ode_mlp`` alias), at most two hidden layers, and a mesh carrying smash's partition keys
(``npar``, ``ncpar``, ``cscpar``, ``cpar_to_rowcol``, ``flwpar``; meshes from smash,
``generate_mesh`` and ``load_dataset`` have them). ``read_model`` reads smash's files back. A
model file with a snow module but without its snowfall and
temperature arrays (hydrograd wrote them so before it read snow data, when they could only be
-99) reads them back as -99, as ``smash.io.read_model`` leaves an array absent from the file,
provided its setup reads neither (``read_snow``, ``read_temp``, ``prcp_partitioning`` False).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from hydrograd._containers import KeyedMaps
from hydrograd.config.setup import DEFAULT_SETUP, DERIVED_COUNTS, Setup
from hydrograd.core.parameters import SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS, default_serr_values
from hydrograd.core.registry import get_structure
from hydrograd.formats._atomic import as_path, atomic_path
from hydrograd.formats._hdf5 import (
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    open_saved,
    read_dict,
    write_array,
    write_dict,
)
from hydrograd.mesh.validate import validate_mesh
from hydrograd.preprocess.sparse import SparseMatrix, SparseSeries, check_matrix, encode

_MARK = "save_model"

_KEYED = ("rr_parameters", "rr_initial_states", "rr_final_states")
_SERR = ("serr_mu_parameters", "serr_sigma_parameters")
_DATA = ("atmos_data", "physio_data", "response_data", "response")
_SNOW_KINDS = ("snow", "temp")


@dataclass(frozen=True, eq=False)
class SavedModel:
    """A model's contents as the file holds them: its checked ``setup`` and ``mesh`` (a dict as
    ``validate_mesh`` returns it, with smash's ``rowcol_to_ind_ac`` and ``local_active_cell``), its
    data groups (name -> array; with sparse storage, ``atmos_data`` holds ``sparse_prcp``,
    ``sparse_pet`` and, with a snow module, ``sparse_snow`` and ``sparse_temp`` as
    :class:`~hydrograd.preprocess.sparse.SparseSeries` instead of the grids), its parameter and
    state maps, its structural-error parameters (``(ng, n)``), and its hybrid network
    (``weight_i``/``bias_i``, smash's layout; empty for a conceptual structure).
    ``u_response_data`` holds ``q_stdev``."""

    setup: Setup
    mesh: Mapping[str, Any]
    atmos_data: Mapping[str, np.ndarray | SparseSeries]
    physio_data: Mapping[str, np.ndarray]
    response_data: Mapping[str, np.ndarray]
    response: Mapping[str, np.ndarray]
    u_response_data: Mapping[str, np.ndarray]
    rr_parameters: KeyedMaps
    rr_initial_states: KeyedMaps
    rr_final_states: KeyedMaps
    serr_mu_parameters: KeyedMaps
    serr_sigma_parameters: KeyedMaps
    nn_parameters: Mapping[str, np.ndarray]


def _setup_attributes(setup: Setup) -> dict[str, Any]:
    """The ``setup`` group: user keys and smash's derived counts."""
    out: dict[str, Any] = {}
    for key in DEFAULT_SETUP:
        value = getattr(setup, key)
        out[key] = int(value) if isinstance(value, bool) else value
    out["descriptor_name"] = np.asarray(setup.descriptor_name).astype("S128")
    out["hidden_neuron"] = np.asarray(setup.hidden_neuron, dtype=np.int32)
    out["neurons"] = np.asarray(setup.neurons, dtype=np.int32)
    for key in DERIVED_COUNTS:
        out[key] = getattr(setup, key)
    out["structure"] = setup.structure
    out["snow_module_present"] = int(setup.snow_module_present)
    return out


def _network_shapes(setup: Setup) -> dict[str, tuple[int, ...]]:
    """``weight_i``/``bias_i`` shapes for every consecutive pair of ``neurons`` (smash's allocation)."""
    out = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(int(n) for n in setup.neurons), start=1):
        out[f"weight_{i}"] = (n_out, n_in)
        out[f"bias_{i}"] = (n_out,)
    return out


def _sparse_arrays(series: SparseSeries) -> dict[str, np.ndarray]:
    """smash's arrays for a forcing's sparse matrices (see the module's docstring)."""
    nt = len(series)
    nc = max((m.n for m in series), default=0)
    arrays = {
        "n": np.array([m.n for m in series], dtype=np.int32),
        "coo_fmt": np.array([m.coo_fmt for m in series], dtype=np.int32),
        "zvalue": np.array([m.zvalue for m in series], dtype=np.float32),
        "indices": np.zeros((nc, nt), dtype=np.int32),
        "values": np.zeros((nc, nt), dtype=np.float32),
    }
    for t, matrix in enumerate(series):
        arrays["values"][: matrix.n, t] = matrix.values
        if matrix.coo_fmt:
            arrays["indices"][: matrix.n, t] = matrix.indices
    return arrays


def _atmos_group(atmos: Mapping[str, Any]) -> dict[str, Any]:
    """The ``atmos_data`` group: arrays as they are, non-empty sparse forcing as smash's arrays
    (an empty one, as a model with dense storage has, is not written, as in smash)."""
    out = {}
    for key, value in atmos.items():
        if isinstance(value, SparseSeries):
            if len(value):
                out[key] = _sparse_arrays(value)
        else:
            out[key] = value
    return out


def write_model_file(saved: SavedModel, path: str | os.PathLike) -> str:
    """Write ``saved`` to the HDF5 file ``path`` (``.hdf5`` is appended if missing, as smash does);
    returns the path written. The file is written under a temporary name beside ``path`` and then
    renamed onto it, so an interrupted save leaves any previous file untouched."""
    path = as_path(path)
    if not path.endswith(".hdf5"):
        path += ".hdf5"
    setup = saved.setup
    with atomic_path(path) as tmp, h5py.File(tmp, "x") as h5:
        group = h5.create_group("model")
        write_dict(group.create_group("setup"), _setup_attributes(setup), "setup key")
        mesh = dict(saved.mesh)
        # smash maps this group straight onto its Fortran arrays: gauge codes are 128 bytes long,
        # and a cell outside the domain has the index -99 there (-100 once shifted to 0-based)
        mesh["code"] = np.char.encode(np.asarray(mesh["code"], dtype=str), "utf-8").astype("S128")
        if "rowcol_to_ind_ac" in mesh:
            active = np.asarray(mesh["active_cell"]) == 1
            mesh["rowcol_to_ind_ac"] = np.where(active, mesh["rowcol_to_ind_ac"], -100).astype(np.int32)
        write_dict(group.create_group("mesh"), mesh, "mesh key")
        write_dict(group.create_group("atmos_data"), _atmos_group(saved.atmos_data), "atmos_data")
        for name in _DATA[1:]:  # after atmos_data
            write_dict(group.create_group(name), dict(getattr(saved, name)), name)
        write_dict(group.create_group("u_response_data"), dict(saved.u_response_data), "u_response_data")
        for name in (*_KEYED, *_SERR):
            maps = getattr(saved, name)
            sub = group.create_group(name)
            write_array(sub, "keys", np.asarray(maps.keys).astype("S128"), name)
            write_array(sub, "values", maps.values, name)
        network = {
            key: saved.nn_parameters[key] if key in saved.nn_parameters else np.zeros(shape, dtype=np.float32)
            for key, shape in _network_shapes(setup).items()
        }
        write_dict(group.create_group("nn_parameters"), network, "nn_parameters")
        h5.attrs["_save_func"] = _MARK
        h5.attrs[FORMAT_VERSION_KEY] = FORMAT_VERSION
    return path


# ---------------------------------------------------------------------------------- reading


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def _user_setup(values: dict[str, Any], path: str) -> dict[str, Any]:
    """The user-level setup dict back from the ``setup`` group."""
    user = {}
    for key in DEFAULT_SETUP:
        if key in values:
            value = _plain(values[key])
            user[key] = None if value == "..." else value
    if "hidden_neuron" in user:
        user["hidden_neuron"] = [int(n) for n in user["hidden_neuron"] if n > 0] or DEFAULT_SETUP["hidden_neuron"]
    missing = [k for k in ("start_time", "end_time", "dt", "hydrological_module") if k not in user]
    if missing:
        raise ValueError(f"'{path}': the model's setup lacks {missing}; the file is not a complete model file")
    return user


def _array(group: dict[str, Any], key: str, shape: tuple[int, ...], where: str, path: str) -> np.ndarray:
    if key not in group:
        raise ValueError(f"'{path}': '{where}/{key}' is missing")
    value = np.asarray(group[key])
    if value.shape != shape:
        raise ValueError(f"'{path}': '{where}/{key}' has shape {value.shape}, expected {shape}")
    return value


def _keyed(
    names: tuple[str, ...],
    grid: tuple[int, ...],
    group: dict[str, Any],
    where: str,
    path: str,
    owner: str = "the structure's",
) -> KeyedMaps:
    """The ``keys``/``values`` group as maps of ``names``, in that order (``values`` shaped
    ``(*grid, len(names))``; ``owner`` says whose names they are, for the message)."""
    keys = [str(k) for k in np.asarray(group.get("keys", []))]
    if sorted(keys) != sorted(names):
        raise ValueError(f"'{path}': '{where}/keys' lists {keys}; {owner} are {list(names)}")
    values = _array(group, "values", (*grid, len(keys)), where, path)
    ordered = np.stack([values[..., keys.index(k)] for k in names], axis=-1) if names else values
    return KeyedMaps(names, ordered.astype(np.float32))


def _serr(setup: Setup, kind: str, ng: int, groups: dict[str, Any], path: str) -> KeyedMaps:
    """The structural-error parameters of the ``kind`` (``"mu"``/``"sigma"``) mapping: the file's
    values, or smash's defaults for a file without the group."""
    mapping = getattr(setup, f"serr_{kind}_mapping")
    names = (SERR_MU_MAPPINGS if kind == "mu" else SERR_SIGMA_MAPPINGS)[mapping]
    where = f"serr_{kind}_parameters"
    if where not in groups:
        return KeyedMaps(names, default_serr_values(names, ng))
    return _keyed(names, (ng,), groups[where], where, path, f"the parameters of serr_{kind}_mapping '{mapping}'")


def _sparse_series(group: Any, key: str, nt: int, nac: int, path: str) -> SparseSeries:
    """A forcing's sparse matrices back from smash's arrays, each checked against ``nac``."""
    where = f"atmos_data/{key}"
    if not isinstance(group, dict):
        raise ValueError(f"'{path}': '{where}' is missing; a model with sparse storage keeps its forcing there")
    head = {k: _array(group, k, (nt,), where, path) for k in ("n", "coo_fmt", "zvalue")}
    values = group.get("values")
    nc = np.shape(values)[0] if np.ndim(values) == 2 else 0  # a wrong shape is reported just below
    body = {k: _array(group, k, (nc, nt), where, path) for k in ("indices", "values")}
    matrices = []
    for t in range(nt):
        n, coo = int(head["n"][t]), int(head["coo_fmt"][t])
        if not 0 <= n <= nc:
            raise ValueError(f"'{path}': '{where}/n' holds {n} at step {t}, outside [0, {nc}]")
        indices = body["indices"][:n, t] if coo else None
        matrix = SparseMatrix(n, coo, head["zvalue"][t], body["values"][:n, t], indices)
        check_matrix(matrix, nac, f"'{path}': '{where}' at step {t}")
        matrices.append(matrix)
    return SparseSeries(matrices)


def _fill_unread_snow(atmos: dict[str, Any], setup: Setup, mesh: Mapping[str, Any]) -> None:
    """Put into a model file's ``atmos_data`` the snowfall and temperature it lacks, as -99 (a
    sparse matrix of -99 per step with sparse storage), when its setup reads neither: what they
    hold then (see the module's docstring)."""
    if setup.read_snow or setup.read_temp or setup.prcp_partitioning:
        return
    nt = setup.ntime_step
    missing = np.float32(-99.0)
    for kind in _SNOW_KINDS:
        atmos.setdefault(f"mean_{kind}", np.full((mesh["ng"], nt), missing, dtype=np.float32))
        if setup.sparse_storage and f"sparse_{kind}" not in atmos:
            unread = np.full(mesh["nac"], missing, dtype=np.float32)
            atmos[f"sparse_{kind}"] = _sparse_arrays(SparseSeries(encode(unread, missing) for _ in range(nt)))
        elif not setup.sparse_storage:
            atmos.setdefault(kind, np.full((mesh["nrow"], mesh["ncol"], nt), missing, dtype=np.float32, order="F"))


def read_model_file(path: str | os.PathLike) -> SavedModel:
    """Read a model file written by ``write_model_file`` (hydrograd's or smash's ``save_model``).

    FileNotFoundError if there is no such file; ValueError if it is not a model file, is
    incomplete or inconsistent (the message names the group), or was written with a newer
    ``format_version``.
    """
    path = as_path(path)
    with open_saved(path, "model", _MARK, "model") as model_group:
        groups = {name: read_dict(item) for name, item in model_group.items() if isinstance(item, h5py.Group)}
    missing = [g for g in ("setup", "mesh", *_DATA, *_KEYED) if g not in groups]
    if missing:
        raise ValueError(f"'{path}': the model file lacks the group(s) {missing}")

    setup = Setup(_user_setup(groups["setup"], path), check_paths=False)
    mesh = groups["mesh"]
    if "code" in mesh:
        mesh["code"] = np.array([str(c) for c in np.ravel(mesh["code"])])
    mesh = validate_mesh(mesh)
    nrow, ncol, ng, nt = mesh["nrow"], mesh["ncol"], mesh["ng"], setup.ntime_step
    atmos = groups["atmos_data"]
    kinds = ("prcp", "pet", *_SNOW_KINDS) if setup.snow_module_present else ("prcp", "pet")
    if setup.snow_module_present:
        _fill_unread_snow(atmos, setup, mesh)
    forcing = {} if setup.sparse_storage else {k: (nrow, ncol, nt) for k in kinds}
    shapes = {
        "atmos_data": {**forcing, **{f"mean_{k}": (ng, nt) for k in kinds}},
        "physio_data": {
            "descriptor": (nrow, ncol, setup.nd),
            "imperviousness": (nrow, ncol),
            **{f"{k}_descriptor": (setup.nd,) for k in ("l", "u", "mean", "std")},
        },
        "response_data": {"q": (ng, nt)},
        "response": {"q": (ng, nt)},
    }
    for name in _DATA:
        for key, shape in shapes[name].items():
            _array(groups[name], key, shape, name, path)
    for kind in ("prcp", "pet", *_SNOW_KINDS):
        group = atmos.pop(f"sparse_{kind}", None)
        if setup.sparse_storage and kind in kinds:
            atmos[f"sparse_{kind}"] = _sparse_series(group, f"sparse_{kind}", nt, mesh["nac"], path)
    structure = get_structure(setup.snow_module, setup.hydrological_module, setup.routing_module)
    grid = (nrow, ncol)
    network = groups.get("nn_parameters", {})
    n_used = 2 * setup.n_layers
    if "u_response_data" in groups:
        q_stdev = _array(groups["u_response_data"], "q_stdev", (ng, nt), "u_response_data", path)
        if q_stdev.dtype.kind not in "iuf":
            raise ValueError(f"'{path}': 'u_response_data/q_stdev' holds {q_stdev.dtype} values, not numbers")
    else:
        q_stdev = np.zeros((ng, nt))
    return SavedModel(
        setup=setup,
        mesh=mesh,
        **{name: groups[name] for name in _DATA},
        u_response_data={"q_stdev": q_stdev.astype(np.float32)},
        rr_parameters=_keyed(structure.parameters, grid, groups["rr_parameters"], "rr_parameters", path),
        rr_initial_states=_keyed(structure.states, grid, groups["rr_initial_states"], "rr_initial_states", path),
        rr_final_states=_keyed(structure.states, grid, groups["rr_final_states"], "rr_final_states", path),
        serr_mu_parameters=_serr(setup, "mu", ng, groups, path),
        serr_sigma_parameters=_serr(setup, "sigma", ng, groups, path),
        nn_parameters={
            key: _array(network, key, shape, "nn_parameters", path)
            for key, shape in list(_network_shapes(setup).items())[:n_used]
        },
    )
