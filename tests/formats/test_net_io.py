"""Net files: exact round trips of layers, weights, trainable flags and history; version stamp;
damaged files named."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import hydrograd.formats._hdf5 as hdf5_io
from hydrograd.factory import Net
from hydrograd.io import read_net, save_mesh, save_net
from tests._tiny import tiny_mesh


def _cnn() -> Net:
    net = Net()
    net.add_conv2d(4, 3, input_shape=(5, 6, 2), activation="relu", kernel_initializer="he_normal")
    net.add_flatten()
    net.add_dense(3, activation="tanh", bias_initializer="uniform")
    net.add_dropout(0.25)
    net.add_dense(2, activation="sigmoid")
    net.add_scale([(0.0, 10.0), (-1.0, 1.0)])
    net.set_weight(random_state=3)
    net.set_bias(random_state=4)
    net.set_trainable([True, False, True, True, True, True, False, True, True])
    net.history = {"loss_train": [1.5, 0.75, 0.3], "proj_grad": [0.1, 0.05, 0.01]}
    return net


def assert_same_net(got: Net, expected: Net) -> None:
    assert repr(got) == repr(expected)
    assert got.history == expected.history
    for left, right in zip(got.layers, expected.layers, strict=True):
        assert type(left) is type(right)
        assert (left.input_shape, left.trainable) == (right.input_shape, right.trainable)
        for key in ("weight", "bias", "bounds"):
            if getattr(right, key, None) is not None:
                assert getattr(left, key).dtype == getattr(right, key).dtype
                np.testing.assert_array_equal(getattr(left, key), getattr(right, key))
            elif hasattr(right, key):
                assert getattr(left, key) is None


def test_round_trip_is_exact(tmp_path):
    net = _cnn()
    save_net(net, tmp_path / "cnn")
    again = read_net(tmp_path / "cnn.hdf5")
    assert_same_net(again, net)
    x = np.random.default_rng(0).normal(size=(5, 6, 2))
    np.testing.assert_array_equal(again.forward_pass(x), net.forward_pass(x))


def test_unset_weights_stay_unset(tmp_path):
    net = Net()
    net.add_dense(8, input_shape=4, activation="relu", kernel_initializer="glorot_normal")
    net.add_dense(1)
    net.set_weight(random_state=0)
    save_net(net, tmp_path / "mlp.hdf5")
    again = read_net(tmp_path / "mlp.hdf5")
    assert_same_net(again, net)
    assert again.get_bias() == [None, None] and again.layers[0].kernel_initializer == "glorot_normal"


def test_a_trained_net_round_trips(tmp_path):
    from hydrograd.nn.net import net_from_vector, net_to_vector

    net = _cnn()
    net_from_vector(net, net_to_vector(net) * 1.0001)
    save_net(net, tmp_path / "trained.hdf5")
    np.testing.assert_array_equal(net_to_vector(read_net(tmp_path / "trained.hdf5")), net_to_vector(net))


def test_version_and_damage_are_named(tmp_path):
    path = tmp_path / "net.hdf5"
    save_net(_cnn(), path)
    with h5py.File(path, "r+") as h5:
        assert h5.attrs["_save_func"] == "save_net"
        h5.attrs["format_version"] = hdf5_io.FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="newer than this hydrograd reads"):
        read_net(path)
    save_net(_cnn(), path)
    with h5py.File(path, "r+") as h5:
        h5["net/layer_2"].attrs["kind"] = "lstm"
    with pytest.raises(ValueError, match="layer 2 has an unknown kind 'lstm'"):
        read_net(path)
    save_net(_cnn(), path)
    with h5py.File(path, "r+") as h5:
        del h5["net/layer_3/weight"]
        h5["net/layer_3/weight"] = np.zeros((3, 5))
    with pytest.raises(ValueError, match="layer 3 holds a weight of shape"):
        read_net(path)
    save_net(_cnn(), path)
    with h5py.File(path, "r+") as h5:
        del h5["net/layer_1"]
    with pytest.raises(ValueError, match="incomplete"):
        read_net(path)
    save_mesh(tiny_mesh(), tmp_path / "mesh.hdf5")
    with pytest.raises(ValueError, match="not a network file"):
        read_net(tmp_path / "mesh.hdf5")
    with pytest.raises(FileNotFoundError, match="absent"):
        read_net(tmp_path / "absent.hdf5")
    with pytest.raises(TypeError, match="Net"):
        save_net({"layers": []}, tmp_path / "dict.hdf5")


def test_a_failing_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "net.hdf5"
    save_net(_cnn(), path)
    before = path.read_bytes()

    def failing(*args):
        raise OSError("disk full")

    monkeypatch.setattr(hdf5_io, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        save_net(Net(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.hdf5"]
