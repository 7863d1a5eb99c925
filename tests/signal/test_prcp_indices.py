"""``precipitation_indices``: the definitions on hand-made rainfall fields, smash's digits on Lez and
Cance (dense and sparse storage), smash's result layout."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from hydrograd.preprocess.sparse import SparseSeries, encode
from hydrograd.signal import PRECIPITATION_INDICES, PrecipitationIndices, precipitation_indices

# A row of five cells draining east to the outlet (last cell), 1 km apart; the gauge at the outlet.
ACTIVE = np.ones((1, 5), dtype=np.int32)
FLWDST = np.array([[4000.0, 3000.0, 2000.0, 1000.0, 0.0]], dtype=np.float32)
CATCHMENT = np.ones((1, 1, 5), dtype=bool)
GAUGE = np.array([[0, 4]])


def _indices(rain: np.ndarray) -> PrecipitationIndices:
    """Indices of the row for rainfall ``(5, T)`` given cell by cell (west to east)."""
    return precipitation_indices(np.asarray(rain, np.float32)[None], ACTIVE, FLWDST, CATCHMENT, GAUGE)


def test_uniform_rainfall_is_centred_and_without_gaps():
    got = _indices(np.full((5, 1), 2.0))
    assert got.std[0, 0] == 0.0
    np.testing.assert_allclose(got.d1[0, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(got.d2[0, 0], 1.0, rtol=1e-5)  # the rain spreads as the distances do
    assert got.vg[0, 0] == 0.0 and got.hg[0, 0] == 0.0


def test_rainfall_on_the_farthest_cell():
    got = _indices(np.array([[5.0], [0], [0], [0], [0]]))
    np.testing.assert_allclose(got.std[0, 0], 5.0 * np.sqrt(1 / 5 - 1 / 25), rtol=1e-6)
    np.testing.assert_allclose(got.d1[0, 0], 4000.0 / 2000.0, rtol=1e-6)
    assert got.d2[0, 0] == 0.0 or np.isnan(got.d2[0, 0])  # no spread of the rain along the flow distance
    # width function 0.2 at distance 0, then 0.4, 0.6, 0.8, 1 at 1, 2, 3, 4 km; the rain's 0 up to 4 km
    np.testing.assert_allclose(got.vg[0, 0], 0.8, rtol=1e-6)
    np.testing.assert_allclose(got.hg[0, 0], 3200.0 / 4000.0, rtol=1e-6)  # its edge (3.2 km) to the 0 one


def test_rainfall_spread_along_the_flow_distance():
    got = _indices(np.array([[4.0], [0], [0], [0], [4.0]]))
    np.testing.assert_allclose(got.d1[0, 0], 2000.0 / 2000.0, rtol=1e-6)
    # rainfall-weighted variance of the distances (4e6) over their variance (2e6)
    np.testing.assert_allclose(got.d2[0, 0], 2.0, rtol=1e-5)


def test_dry_steps_and_missing_values():
    rain = np.array([[0.0, -99.0, 3.0], [0.0, 2.0, 3.0], [0.0, 2.0, -99.0], [0.0, 2.0, 3.0], [0.0, 2.0, 3.0]])
    got = _indices(rain)
    for name in PRECIPITATION_INDICES:
        values = getattr(got, name)
        assert values.shape == (1, 3) and values.dtype == np.float32
        assert np.isnan(values[0, 0]), f"{name}: no rainfall gives NaN"
    assert got.std[0, 1] == 0.0 and got.std[0, 2] == 0.0  # missing cells leave the mean and the spread
    np.testing.assert_allclose(got.d1[0, 1], 1.0, rtol=1e-6)  # over the four cells with data


def test_sparse_storage_gives_the_same_indices():
    rng = np.random.default_rng(0)
    rain = np.where(rng.uniform(size=(5, 6)) < 0.5, 0.0, rng.gamma(2.0, 3.0, (5, 6))).astype(np.float32)
    dense = _indices(rain)
    sparse = SparseSeries(encode(rain[:, t], 0.0) for t in range(6))
    got = precipitation_indices(sparse, ACTIVE, FLWDST, CATCHMENT, GAUGE)
    np.testing.assert_array_equal(got.to_numpy(), dense.to_numpy())


def test_layout_without_gauges():
    got = precipitation_indices(np.zeros((1, 5, 4), np.float32), ACTIVE, FLWDST, np.zeros((0, 1, 5), bool), GAUGE[:0])
    assert got.to_numpy().shape == (5, 0, 4)


def test_to_numpy_stacks_in_alphabetical_order():
    got = _indices(np.arange(10, dtype=np.float32).reshape(5, 2))
    stacked = got.to_numpy(axis=-1)
    assert stacked.shape == (1, 2, 5)
    for i, name in enumerate(["d1", "d2", "hg", "std", "vg"]):
        np.testing.assert_array_equal(stacked[..., i], getattr(got, name))
    assert repr(got).splitlines()[0] == "  d1: <class 'numpy.ndarray'>"
    assert hydrograd.PrecipitationIndices is PrecipitationIndices


def test_a_mesh_without_flow_distances_is_refused(lez_dir):
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    mesh = {k: v for k, v in mesh.items() if k != "flwdst"}
    setup.update(read_prcp=False, read_pet=False, read_qobs=False, read_descriptor=False)
    model = hydrograd.Model(setup, mesh, verbose=False)
    with pytest.raises(ValueError, match="flwdst"):
        hydrograd.precipitation_indices(model)
    with pytest.raises(TypeError, match=r"must be a hydrograd\.Model"):
        hydrograd.precipitation_indices(setup)


@pytest.mark.parity
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", ["Lez", "Cance"])
def test_indices_match_smash_digit_for_digit(name, sparse):
    smash = pytest.importorskip("smash")
    setup, mesh = smash.factory.load_dataset(name)
    expected = smash.precipitation_indices(smash.Model(setup, mesh))
    setup, mesh = hydrograd.factory.load_dataset(name)
    setup["sparse_storage"] = sparse
    got = hydrograd.precipitation_indices(hydrograd.Model(setup, mesh, verbose=False))
    assert repr(got) == repr(expected)
    for key in PRECIPITATION_INDICES:
        value = getattr(got, key)
        assert value.dtype == np.float32 and value.shape == getattr(expected, key).shape
        np.testing.assert_array_equal(value, getattr(expected, key), err_msg=key)
    np.testing.assert_array_equal(got.to_numpy(axis=-1), expected.to_numpy(axis=-1))
