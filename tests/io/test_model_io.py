"""Model HDF5 files: bit-exact round trips, smash compatibility both ways, version stamp, atomic
saves (a save killed midway or failing midway leaves the previous file intact)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import hydrograd as hg
import hydrograd.formats._hdf5 as hdf5_io
from hydrograd.io import read_model, save_mesh, save_model
from tests._tiny import tiny_mesh, tiny_setup

REPO = Path(__file__).resolve().parents[2]
QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def lez():
    return hg.factory.load_dataset("Lez")


@pytest.fixture(scope="module")
def calibrated(lez):
    """A Lez model with distributed parameters and initial states, per-gauge structural-error
    parameters, after a forward run."""
    setup, mesh = lez
    model = hg.Model(setup, mesh, verbose=False)
    rng = np.random.default_rng(0)
    model.set_rr_parameters("cp", rng.uniform(50.0, 900.0, (27, 14)).astype(np.float32))
    model.set_rr_initial_states("hp", rng.uniform(0.0, 1.0, (27, 14)).astype(np.float32))
    model.u_response_data.q_stdev = rng.uniform(0.0, 2.0, (3, 364))
    model.set_serr_sigma_parameters("sg0", rng.uniform(0.5, 3.0, 3))
    model.set_serr_sigma_parameters("sg1", rng.uniform(0.05, 1.0, 3))
    model.forward_run(common_options=QUIET)
    return model


def _namespace(ns) -> dict:
    return {k: v for k, v in vars(ns).items() if not k.startswith("_")}


def assert_same_model(got: hg.Model, expected: hg.Model) -> None:
    """Every public attribute equal, arrays bit for bit and with the same dtype."""
    assert got.setup.to_dict() == expected.setup.to_dict()
    for key, value in vars(expected.setup).items():
        np.testing.assert_array_equal(getattr(got.setup, key), value, err_msg=f"setup.{key}")
    for name in ("mesh", "atmos_data", "physio_data", "response_data", "u_response_data", "response", "nn_parameters"):
        left, right = _namespace(getattr(got, name)), _namespace(getattr(expected, name))
        assert sorted(left) == sorted(right), name
        for key, value in right.items():
            if isinstance(value, np.ndarray):
                assert left[key].dtype == value.dtype, f"{name}.{key}"
                np.testing.assert_array_equal(left[key], value, err_msg=f"{name}.{key}")
            else:
                assert left[key] == value, f"{name}.{key}"
    for name in (
        "rr_parameters",
        "rr_initial_states",
        "rr_final_states",
        "serr_mu_parameters",
        "serr_sigma_parameters",
    ):
        np.testing.assert_array_equal(getattr(got, name).keys, getattr(expected, name).keys)
        assert getattr(got, name).values.shape == getattr(expected, name).values.shape, name
        assert getattr(got, name).values.dtype == np.float32
        np.testing.assert_array_equal(getattr(got, name).values, getattr(expected, name).values, err_msg=name)


def test_round_trip_is_exact_and_runs_alike(calibrated, tmp_path):
    save_model(calibrated, tmp_path / "model")
    again = read_model(tmp_path / "model.hdf5")
    assert_same_model(again, calibrated)
    again.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(again.response.q, calibrated.response.q)


@pytest.mark.parametrize(("module", "hidden"), [("gr4_mlp", [16]), ("gr6_mlp", [8, 4]), ("grc_mlp", [6, 5, 4])])
def test_hybrid_round_trip_keeps_the_network(lez, tmp_path, module, hidden):
    setup, mesh = lez
    model = hg.Model({**setup, "hydrological_module": module, "hidden_neuron": hidden}, mesh, verbose=False)
    model.set_nn_parameters_weight(initializer="glorot_normal", random_state=1)
    model.set_nn_parameters_bias(initializer="normal", random_state=2)
    model.forward_run(common_options=QUIET)
    path = tmp_path / "hybrid.hdf5"
    save_model(model, path)
    assert_same_model(read_model(path), model)


def test_read_model_needs_no_input_folder(calibrated, tmp_path):
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    with h5py.File(path, "r+") as h5:
        h5["model/setup"].attrs["prcp_directory"] = str(tmp_path / "gone")
    again = read_model(path)
    assert again.setup.prcp_directory == str(tmp_path / "gone")
    np.testing.assert_array_equal(again.atmos_data.prcp, calibrated.atmos_data.prcp)


@pytest.mark.parity
def test_smash_reads_our_file_and_we_read_smash_files(calibrated, tmp_path):
    smash = pytest.importorskip("smash")
    ours = tmp_path / "ours.hdf5"
    save_model(calibrated, ours)
    reference = smash.io.read_model(str(ours))
    np.testing.assert_array_equal(reference.get_rr_parameters("cp"), calibrated.get_rr_parameters("cp"))
    np.testing.assert_array_equal(reference.serr_sigma_parameters.values, calibrated.serr_sigma_parameters.values)
    assert reference.serr_mu_parameters.values.shape == (3, 0)
    reference.forward_run(common_options=QUIET)
    np.testing.assert_allclose(
        reference.response.q, calibrated.response.q, rtol=0, atol=1e-5 * calibrated.response.q.max()
    )

    theirs = tmp_path / "theirs.hdf5"
    smash.io.save_model(reference, str(theirs))
    back = read_model(theirs)
    np.testing.assert_array_equal(back.rr_parameters.values, calibrated.rr_parameters.values)
    np.testing.assert_array_equal(back.serr_sigma_parameters.values, calibrated.serr_sigma_parameters.values)
    np.testing.assert_array_equal(back.response.q, reference.response.q)
    back.forward_run(common_options=QUIET)
    np.testing.assert_allclose(back.response.q, calibrated.response.q, rtol=0, atol=1e-6)


@pytest.mark.parity
def test_observation_deviations_travel_both_ways(calibrated, tmp_path):
    smash = pytest.importorskip("smash")
    ours = tmp_path / "ours.hdf5"
    save_model(calibrated, ours)
    reference = smash.io.read_model(str(ours))
    np.testing.assert_array_equal(reference.u_response_data.q_stdev, calibrated.u_response_data.q_stdev)
    reference.u_response_data.q_stdev = reference.response_data.q * 0.25
    theirs = tmp_path / "theirs.hdf5"
    smash.io.save_model(reference, str(theirs))
    back = read_model(theirs)
    assert back.u_response_data.q_stdev.dtype == np.float32
    np.testing.assert_array_equal(back.u_response_data.q_stdev, reference.u_response_data.q_stdev)


@pytest.mark.parity
@pytest.mark.parametrize(("mu", "sigma"), [("Linear", "Gaussian"), ("Constant", "Power")])
def test_structural_error_parameters_travel_both_ways(lez, tmp_path, mu, sigma):
    """Every mapping's parameters, as the model holds them: through our files, into smash, changed
    there and back into hydrograd, with the same structural error."""
    smash = pytest.importorskip("smash")
    setup, mesh = lez
    model = hg.Model({**setup, "serr_mu_mapping": mu, "serr_sigma_mapping": sigma}, mesh, verbose=False)
    rng = np.random.default_rng(5)
    for key in model.serr_mu_parameters.keys:
        model.set_serr_mu_parameters(str(key), rng.uniform(-1.0, 1.0, 3))
    for key in model.serr_sigma_parameters.keys:
        model.set_serr_sigma_parameters(str(key), rng.uniform(0.1, 2.0, 3))
    model.forward_run(common_options=QUIET)
    ours = tmp_path / "ours.hdf5"
    save_model(model, ours)
    again = read_model(ours)
    assert_same_model(again, model)
    np.testing.assert_array_equal(again.get_serr_sigma(), model.get_serr_sigma())
    reference = smash.io.read_model(str(ours))
    for name in ("serr_mu_parameters", "serr_sigma_parameters"):
        assert getattr(reference, name).keys.tolist() == getattr(model, name).keys.tolist()
        np.testing.assert_array_equal(getattr(reference, name).values, getattr(model, name).values, err_msg=name)
    np.testing.assert_array_equal(reference.get_serr_mu(), model.get_serr_mu())
    np.testing.assert_array_equal(reference.get_serr_sigma(), model.get_serr_sigma())
    first_sigma = str(reference.serr_sigma_parameters.keys[0])
    reference.set_serr_sigma_parameters(first_sigma, np.array([7.0, 8.0, 9.0]))
    reference.set_serr_mu_parameters("mg0", -3.0)
    theirs = tmp_path / "theirs.hdf5"
    smash.io.save_model(reference, str(theirs))
    back = read_model(theirs)
    np.testing.assert_array_equal(back.get_serr_sigma_parameters(first_sigma), np.float32([7.0, 8.0, 9.0]))
    np.testing.assert_array_equal(back.get_serr_mu_parameters("mg0"), np.float32([-3.0] * 3))
    np.testing.assert_array_equal(back.serr_sigma_parameters.values, reference.serr_sigma_parameters.values)
    np.testing.assert_array_equal(back.get_serr_sigma(), reference.get_serr_sigma())


def test_structural_error_parameters_missing_or_inconsistent(calibrated, tmp_path):
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    with h5py.File(path, "r+") as h5:
        del h5["model/serr_sigma_parameters"]
    again = read_model(path)  # smash's defaults, as a model built from the same setup has
    np.testing.assert_array_equal(again.serr_sigma_parameters.values, np.float32([[1.0, 0.2]] * 3))
    np.testing.assert_array_equal(again.serr_mu_parameters.values, calibrated.serr_mu_parameters.values)
    with h5py.File(path, "r+") as h5:
        group = h5["model"].create_group("serr_sigma_parameters")
        group["keys"] = np.array([b"sg0", b"sg2"], dtype="S128")
        group["values"] = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(
        ValueError,
        match=r"'serr_sigma_parameters/keys' lists \['sg0', 'sg2'\]; the parameters of serr_sigma_mapping "
        r"'Linear' are \['sg0', 'sg1'\]",
    ):
        read_model(path)
    with h5py.File(path, "r+") as h5:
        del h5["model/serr_sigma_parameters/keys"]
        h5["model/serr_sigma_parameters/keys"] = np.array([b"sg1", b"sg0"], dtype="S128")  # another order
        h5["model/serr_sigma_parameters/values"][...] = np.float32([[0.3, 4.0]] * 3)
    again = read_model(path)
    np.testing.assert_array_equal(again.serr_sigma_parameters.values, np.float32([[4.0, 0.3]] * 3))
    with h5py.File(path, "r+") as h5:
        del h5["model/serr_sigma_parameters/values"]
        h5["model/serr_sigma_parameters/values"] = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'serr_sigma_parameters/values' has shape \(2, 2\), expected \(3, 2\)"):
        read_model(path)


def test_observation_deviations_missing_or_misshapen(calibrated, tmp_path):
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    with h5py.File(path, "r+") as h5:
        del h5["model/u_response_data"]
    assert not read_model(path).u_response_data.q_stdev.any()  # as smash leaves it: zeros
    with h5py.File(path, "r+") as h5:
        h5["model/u_response_data/q_stdev"] = np.zeros((3, 10), dtype=np.float32)
    with pytest.raises(ValueError, match=r"'u_response_data/q_stdev' has shape \(3, 10\), expected \(3, 364\)"):
        read_model(path)


def test_a_newer_format_version_is_refused(calibrated, tmp_path):
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    with h5py.File(path, "r") as h5:
        assert h5.attrs["format_version"] == hdf5_io.FORMAT_VERSION and h5.attrs["_save_func"] == "save_model"
    with h5py.File(path, "r+") as h5:
        h5.attrs["format_version"] = hdf5_io.FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="newer than this hydrograd reads"):
        read_model(path)


def test_bad_files_are_named(calibrated, tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        read_model(tmp_path / "absent.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_model(tmp_path / "text.hdf5")
    save_mesh(tiny_mesh(), tmp_path / "mesh.hdf5")
    with pytest.raises(ValueError, match="not a model file"):
        read_model(tmp_path / "mesh.hdf5")
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    with h5py.File(path, "r+") as h5:
        del h5["model/rr_parameters"]
    with pytest.raises(ValueError, match=r"lacks the group\(s\) \['rr_parameters'\]"):
        read_model(path)
    save_model(calibrated, path)
    with h5py.File(path, "r+") as h5:
        values = h5["model/atmos_data/prcp"][()]
        del h5["model/atmos_data/prcp"]
        h5["model/atmos_data/prcp"] = values[..., :10]
    with pytest.raises(ValueError, match="atmos_data/prcp' has shape"):
        read_model(path)
    with pytest.raises(TypeError, match=r"hydrograd\.Model"):
        save_model(calibrated.setup, tmp_path / "setup.hdf5")


def test_a_save_failing_midway_keeps_the_previous_file(calibrated, tmp_path, monkeypatch):
    path = tmp_path / "model.hdf5"
    save_model(calibrated, path)
    before = path.read_bytes()
    original, written = hdf5_io.write_array, []

    def failing(group, key, value, what):
        if len(written) == 12:
            raise OSError("disk full")
        written.append(key)
        original(group, key, value, what)

    monkeypatch.setattr(hdf5_io, "write_array", failing)
    changed = calibrated.copy()
    changed.set_rr_parameters("cp", 10.0)
    with pytest.raises(OSError, match="disk full"):
        save_model(changed, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.hdf5"]


_KILLED_WRITER = """
import numpy as np, hydrograd
from tests._tiny import tiny_mesh, tiny_setup
model = hydrograd.Model(tiny_setup(ntime_step=2_000_000), tiny_mesh(), verbose=False)
model.atmos_data.prcp[...] = np.random.default_rng(0).random(model.atmos_data.prcp.shape, dtype=np.float32)
model.atmos_data.pet[...] = np.random.default_rng(1).random(model.atmos_data.pet.shape, dtype=np.float32)
print("saving", flush=True)
hydrograd.io.save_model(model, {path!r})
"""


def test_a_save_killed_midway_keeps_the_previous_file(tmp_path):
    previous = hg.Model(tiny_setup(), tiny_mesh(), verbose=False)
    previous.set_rr_parameters("cp", 321.0)
    path = tmp_path / "model.hdf5"
    save_model(previous, path)
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDROGRAD_JAX_CACHE": "0"}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER.format(path=str(path))], cwd=REPO, env=env, stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        partial = []
        while time.monotonic() < deadline and child.poll() is None:
            partial = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 1_000_000]
            if partial:
                break
            time.sleep(0.01)
        assert partial, "the writer never got midway through its file"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    assert path.read_bytes() == before
    assert_same_model(read_model(path), previous)
