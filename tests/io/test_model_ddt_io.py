"""save_model_ddt / read_model_ddt: smash's layout, keys and types; files written by either tool
read by the other; bad files named."""

from __future__ import annotations

import contextlib
import io

import h5py
import numpy as np
import pytest

import hydrograd as hg
from hydrograd.io import read_model_ddt, save_model, save_model_ddt

QUIET = {"verbose": False}
SERR_MAPPINGS = {"serr_mu_mapping": "Constant", "serr_sigma_mapping": "Linear"}
SG0 = np.array([0.5, 1.5, 2.5])
GROUPS = [
    "mesh",
    "nn_parameters",
    "physio_data",
    "response",
    "response_data",
    "rr_final_states",
    "rr_initial_states",
    "rr_parameters",
    "serr_mu_parameters",
    "serr_sigma_parameters",
    "setup",
]


@pytest.fixture(scope="module")
def model():
    """A Lez hybrid model (so the network is more than placeholders) with per-gauge
    structural-error parameters, after a forward run."""
    setup, mesh = hg.factory.load_dataset("Lez")
    model = hg.Model({**setup, "hydrological_module": "gr4_mlp", **SERR_MAPPINGS}, mesh, verbose=False)
    model.set_serr_mu_parameters("mg0", SG0 - 1.0)
    model.set_serr_sigma_parameters("sg0", SG0)
    model.set_nn_parameters_weight(initializer="glorot_normal", random_state=1)
    model.set_rr_parameters("cp", np.random.default_rng(0).uniform(50.0, 900.0, (27, 14)).astype(np.float32))
    model.forward_run(common_options=QUIET)
    return model


def assert_identical(got: dict, expected: dict) -> None:
    """Same groups, keys, types, dtypes, shapes and values."""
    assert sorted(got) == sorted(expected)
    for name, group in expected.items():
        assert sorted(got[name]) == sorted(group), name
        for key, value in group.items():
            where = f"{name}/{key}"
            assert type(got[name][key]) is type(value), where
            if isinstance(value, np.ndarray):
                assert (got[name][key].dtype, got[name][key].shape) == (value.dtype, value.shape), where
                np.testing.assert_array_equal(got[name][key], value, err_msg=where)
            else:
                assert got[name][key] == value, where


def test_layout_and_values(model, tmp_path):
    save_model_ddt(model, tmp_path / "ddt")
    ddt = read_model_ddt(tmp_path / "ddt.hdf5")
    assert sorted(ddt) == GROUPS  # no atmos_data without snow inputs, as in smash
    setup = dict(ddt["setup"])
    descriptor_name = setup.pop("descriptor_name")
    assert setup == {k: getattr(model.setup, k) for k in setup} and len(setup) == 9
    assert setup["serr_mu_mapping"] == "Constant"
    assert descriptor_name.dtype == np.dtype("<U128") and descriptor_name.tolist() == list(model.setup.descriptor_name)
    assert ddt["mesh"]["code"].dtype == np.dtype("<U128") and ddt["mesh"]["code"].tolist() == list(model.mesh.code)
    assert type(ddt["mesh"]["xres"]) is np.float64 and type(ddt["setup"]["start_time"]) is str
    np.testing.assert_array_equal(ddt["rr_parameters"]["values"], model.rr_parameters.values)
    np.testing.assert_array_equal(ddt["rr_final_states"]["values"], model.rr_final_states.values)
    np.testing.assert_array_equal(ddt["response"]["q"], model.response.q)
    np.testing.assert_array_equal(ddt["nn_parameters"]["weight_1"], model.nn_parameters.weight_1)
    assert ddt["serr_sigma_parameters"]["keys"].tolist() == ["sg0", "sg1"]
    assert ddt["serr_sigma_parameters"]["values"].dtype == np.float32
    np.testing.assert_array_equal(
        ddt["serr_sigma_parameters"]["values"], np.float32([[0.5, 0.2], [1.5, 0.2], [2.5, 0.2]])
    )
    assert ddt["serr_mu_parameters"]["keys"].tolist() == ["mg0"]
    np.testing.assert_array_equal(ddt["serr_mu_parameters"]["values"], np.float32([[-0.5], [0.5], [1.5]]))
    with h5py.File(tmp_path / "ddt.hdf5") as h5:
        assert h5.attrs["_save_func"] == "save_model_ddt" and h5.attrs["format_version"] == 1
        assert h5["model_ddt/rr_parameters/keys"].dtype == np.dtype("S128")


def test_bad_files_are_named(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        read_model_ddt(tmp_path / "absent.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_model_ddt(tmp_path / "text.hdf5")
    save_model(model, tmp_path / "model.hdf5")
    with pytest.raises(ValueError, match="not a model_ddt file written by save_model_ddt"):
        read_model_ddt(tmp_path / "model.hdf5")
    path = tmp_path / "ddt.hdf5"
    save_model_ddt(model, path)
    with h5py.File(path, "r+") as h5:
        del h5["model_ddt/rr_parameters/keys"]
        h5["model_ddt/rr_parameters/keys"] = np.array([b"ci", b"cp"], dtype="S128")
    with pytest.raises(ValueError, match=r"'rr_parameters/values' has shape \(27, 14, 5\)"):
        read_model_ddt(path)
    save_model_ddt(model, path)
    with h5py.File(path, "r+") as h5:
        del h5["model_ddt/mesh/dx"]
        h5["model_ddt/mesh/dx"] = np.zeros((14, 27), dtype=np.float32)
    with pytest.raises(ValueError, match=r"the grids disagree in shape: .*'mesh/dx' \(14, 27\)"):
        read_model_ddt(path)
    with h5py.File(path, "r+") as h5:
        del h5["model_ddt/mesh"]
        h5["model_ddt/mesh"] = np.zeros(3)
    with pytest.raises(ValueError, match="'model_ddt/mesh' is not a group"):
        read_model_ddt(path)
    with pytest.raises(TypeError, match=r"hydrograd\.Model"):
        save_model_ddt(model.setup, path)


@pytest.mark.parity
def test_files_written_by_either_tool_read_alike(model, tmp_path):
    """smash's model built from the same dataset and given the same maps and network: its file and
    ours hold the same groups, keys, types and values, whichever tool reads them."""
    smash = pytest.importorskip("smash")
    setup, mesh = smash.factory.load_dataset("Lez")
    with contextlib.redirect_stdout(io.StringIO()):
        reference = smash.Model({**setup, "hydrological_module": "gr4_mlp", **SERR_MAPPINGS}, mesh)
        reference.rr_parameters.values = model.rr_parameters.values
        reference.set_serr_mu_parameters("mg0", SG0 - 1.0)
        reference.set_serr_sigma_parameters("sg0", SG0)
        reference.set_nn_parameters_weight(model.get_nn_parameters_weight())
        reference.forward_run()
    theirs, ours = str(tmp_path / "theirs.hdf5"), tmp_path / "ours.hdf5"
    smash.io.save_model_ddt(reference, theirs)
    save_model_ddt(model, ours)
    smash_reads_theirs = smash.io.read_model_ddt(theirs)
    assert_identical(read_model_ddt(theirs), smash_reads_theirs)
    smash_reads_ours = smash.io.read_model_ddt(str(ours))
    assert_identical(smash_reads_ours, read_model_ddt(ours))
    # the two models agree, but for the last digits of the simulated discharge and final states
    for name, key, atol in (("response", "q", 1e-4), ("rr_final_states", "values", 1e-5)):
        np.testing.assert_allclose(smash_reads_ours[name][key], smash_reads_theirs[name][key], rtol=1e-5, atol=atol)
        smash_reads_ours[name][key] = smash_reads_theirs[name][key]
    assert_identical(smash_reads_ours, smash_reads_theirs)
