"""Mesh HDF5 files: bit-exact round trips, smash compatibility both ways, atomic saves."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import hydrograd.formats._hdf5 as hdf5_io
from hydrograd.formats.mesh import read_mesh, save_mesh
from hydrograd.mesh.generate import generate_mesh
from hydrograd.mesh.validate import validate_mesh
from tests.mesh._reference import CANCE, smash_generate_mesh
from tests.mesh.test_generate import gauges


@pytest.fixture(scope="module")
def lez_mesh(lez_dir) -> dict:
    return read_mesh(lez_dir / "mesh_Lez.hdf5")


def assert_identical(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        assert type(got[key]) is type(value), key
        assert np.asarray(got[key]).dtype == np.asarray(value).dtype, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_read_smash_file_layout(lez_mesh):
    assert lez_mesh["nrow"] == 27 and lez_mesh["ncol"] == 14 and lez_mesh["nac"] == 172
    assert lez_mesh["code"].tolist() == ["Y3204040", "Y3204030", "Y3204010"]
    assert lez_mesh["npar"].dtype == np.int32 and lez_mesh["xmin"].dtype == np.float64


def test_round_trip_is_bit_exact(tmp_path, lez_mesh):
    path = tmp_path / "mesh.hdf5"
    save_mesh(lez_mesh, path)
    assert_identical(read_mesh(path), lez_mesh)
    with h5py.File(path) as h5:
        assert h5.attrs["_save_func"] == "save_mesh"
        assert h5["mesh/flwacc"].compression == "gzip"
        assert h5["mesh/code"].dtype.kind == "S"
        assert "nrow" in h5["mesh"].attrs


def test_round_trip_of_validated_mesh_without_gauges(tmp_path, lez_mesh):
    mesh = {k: v for k, v in lez_mesh.items() if k not in ("gauge_pos", "code", "area", "area_dln")}
    mesh = validate_mesh({**mesh, "ng": 0})
    save_mesh(mesh, tmp_path / "empty.hdf5")
    back = read_mesh(tmp_path / "empty.hdf5")
    assert back["gauge_pos"].shape == (0, 2) and back["code"].shape == (0,)
    np.testing.assert_array_equal(back["flwdir"], mesh["flwdir"])


def test_extension_is_added(tmp_path, lez_mesh):
    save_mesh(lez_mesh, str(tmp_path / "lez"))
    assert (tmp_path / "lez.hdf5").is_file()


@pytest.mark.parity
def test_smash_reads_our_file(tmp_path, lez_mesh):
    smash = pytest.importorskip("smash")
    path = tmp_path / "ours.hdf5"
    save_mesh(lez_mesh, path)
    assert_identical(smash.io.read_mesh(str(path)), lez_mesh)


@pytest.mark.parity
def test_we_read_smash_file(tmp_path, lez_mesh):
    smash = pytest.importorskip("smash")
    path = str(tmp_path / "theirs.hdf5")
    smash.io.save_mesh(dict(lez_mesh), path)
    assert_identical(read_mesh(path), smash.io.read_mesh(path))


def test_interrupted_save_keeps_previous_file(tmp_path, lez_mesh, monkeypatch):
    path = tmp_path / "mesh.hdf5"
    save_mesh(lez_mesh, path)
    before = path.read_bytes()
    original = hdf5_io.write_array
    written = []

    def failing(group, key, value, what):
        if len(written) == 5:
            raise OSError("disk full")
        written.append(key)
        original(group, key, value, what)

    monkeypatch.setattr(hdf5_io, "write_array", failing)
    changed = {**lez_mesh, "flwacc": lez_mesh["flwacc"] * 2}
    with pytest.raises(OSError, match="disk full"):
        save_mesh(changed, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.hdf5"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.hdf5"):
        read_mesh(tmp_path / "absent.hdf5")


def test_hdf5_file_that_is_not_a_mesh(tmp_path):
    path = tmp_path / "other.hdf5"
    with h5py.File(path, "w") as h5:
        h5["values"] = np.arange(3)
    with pytest.raises(ValueError, match="not a mesh file"):
        read_mesh(path)


def test_file_that_is_not_hdf5(tmp_path):
    path = tmp_path / "notes.hdf5"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_mesh(path)


def test_save_errors(tmp_path, lez_mesh):
    with pytest.raises(TypeError, match="mesh must be a dict"):
        save_mesh([1, 2], tmp_path / "x.hdf5")
    with pytest.raises(TypeError, match="mesh key 'bad' holds a set"):
        save_mesh({"bad": {1, 2}}, tmp_path / "x.hdf5")
    with pytest.raises(FileNotFoundError, match="no_folder"):
        save_mesh(lez_mesh, tmp_path / "no_folder" / "x.hdf5")
    for bad in ({"": 1}, {"nested": {"": False}}, {"a/b": 1.0}, {".": 2}):
        with pytest.raises(ValueError, match="non-empty text without '/'"):
            save_mesh({**lez_mesh, **bad}, tmp_path / "x.hdf5")
    with pytest.raises(TypeError, match="only text keys"):
        save_mesh({**lez_mesh, "nested": {3: 1.0}}, tmp_path / "x.hdf5")
    assert list(tmp_path.iterdir()) == []


def test_generated_masked_mesh_saves_as_smash_file(tmp_path, france_flwdir, lez_dir, lez_mesh):
    """generate_mesh's masked arrays are saved as their underlying data: read back, the mesh is
    smash's file of the same catchments, type for type and bit for bit."""
    generated = generate_mesh(france_flwdir, **gauges(lez_dir))
    assert isinstance(generated["flwdst"], np.ma.MaskedArray)
    save_mesh(generated, tmp_path / "generated.hdf5")
    back = read_mesh(tmp_path / "generated.hdf5")
    assert_identical(back, lez_mesh)
    assert type(back["flwdir"]) is np.ndarray


@pytest.mark.parity
def test_masked_meshes_save_and_read_as_smash(tmp_path, france_flwdir):
    smash = pytest.importorskip("smash")
    theirs = smash_generate_mesh(str(france_flwdir), **CANCE)
    smash.io.save_mesh(theirs, str(tmp_path / "smash.hdf5"))
    reference = smash.io.read_mesh(str(tmp_path / "smash.hdf5"))
    save_mesh(generate_mesh(france_flwdir, **CANCE), tmp_path / "ours.hdf5")
    save_mesh(theirs, tmp_path / "smash_mesh_by_us.hdf5")
    for name in ("ours", "smash_mesh_by_us"):
        assert_identical(read_mesh(tmp_path / f"{name}.hdf5"), reference)
        assert_identical(smash.io.read_mesh(str(tmp_path / f"{name}.hdf5")), reference)
    assert_identical(read_mesh(tmp_path / "smash.hdf5"), reference)
