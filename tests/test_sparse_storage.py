"""``setup["sparse_storage"] = True``: smash 1.3.0's sparse matrices, the same discharge as dense
storage, and model files that smash and hydrograd read from each other."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import hydrograd as hg
from hydrograd.preprocess.sparse import SparseMatrix, SparseSeries, decode, encode

smash = pytest.importorskip("smash")

QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def cance_setup() -> tuple[dict, dict]:
    """Cance over 5 days (120 hourly steps, rain from the 18th): dense setup, and its mesh."""
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(end_time="2014-09-20 00:00")
    return setup, mesh


@pytest.fixture(scope="module")
def dense(cance_setup) -> hg.Model:
    setup, mesh = cance_setup
    return hg.Model(setup, mesh, verbose=False)


@pytest.fixture(scope="module")
def sparse(cance_setup) -> hg.Model:
    setup, mesh = cance_setup
    return hg.Model({**setup, "sparse_storage": True}, mesh, verbose=False)


@pytest.fixture(scope="module")
def smash_sparse(cance_setup):
    setup, mesh = cance_setup
    return smash.Model({**setup, "sparse_storage": True}, mesh)


def matrix_fields(matrix) -> tuple:
    """Every attribute of a sparse matrix (smash's or ours), ``indices`` when stored."""
    indices = matrix.indices.tolist() if matrix.coo_fmt else None
    return matrix.n, matrix.coo_fmt, matrix.zvalue, matrix.values.view(np.uint32).tolist(), indices


def assert_same_series(ours, ref) -> None:
    assert len(ours) == len(ref)
    for i in range(len(ref)):
        assert matrix_fields(ours[i]) == matrix_fields(ref[i]), f"time step {i}"


def bits(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32).view(np.uint32)


# ------------------------------------------------------------------------------------- parity


@pytest.mark.parity
def test_sparse_matrices_match_smash(sparse, smash_sparse):
    for kind in ("prcp", "pet"):
        assert_same_series(
            getattr(sparse.atmos_data, f"sparse_{kind}"), getattr(smash_sparse.atmos_data, f"sparse_{kind}")
        )
    formats = {(m.coo_fmt, m.n == 0) for m in sparse.atmos_data.sparse_prcp}
    assert formats == {(1, True), (1, False), (0, False)}  # empty, coordinate and dense steps all occur
    first = sparse.atmos_data.sparse_prcp[0]
    assert type(first.n) is int and type(first.coo_fmt) is int and type(first.zvalue) is float
    assert first.values.dtype == np.float32 and first.indices.dtype == np.int32


@pytest.mark.parity
def test_means_and_interception_match_smash_and_dense_storage(sparse, dense, smash_sparse):
    for key in ("mean_prcp", "mean_pet"):
        np.testing.assert_array_equal(
            bits(getattr(sparse.atmos_data, key)), bits(getattr(smash_sparse.atmos_data, key))
        )
        np.testing.assert_array_equal(bits(getattr(sparse.atmos_data, key)), bits(getattr(dense.atmos_data, key)))
    np.testing.assert_array_equal(sparse.get_rr_parameters("ci"), smash_sparse.get_rr_parameters("ci"))
    np.testing.assert_array_equal(sparse.get_rr_parameters("ci"), dense.get_rr_parameters("ci"))


@pytest.mark.parity
def test_means_over_an_inactive_catchment_cell_match_smash(cance_setup):
    """Where a gauge's catchment holds an inactive cell, sparse storage gives it the step's zero
    value (0 for a file read) while dense storage keeps the raster's value: the means then
    differ, as in smash."""
    setup, mesh = cance_setup
    mesh = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in mesh.items()}
    mesh["active_cell"][0, 12] = 0  # a headwater cell of the first gauge's catchment
    mesh["nac"] -= 1
    means = {}
    for storage in (False, True):
        s = {**setup, "sparse_storage": storage, "read_qobs": False, "read_descriptor": False}
        ours, ref = hg.Model(s, mesh, verbose=False), smash.Model(s, mesh)
        for key in ("mean_prcp", "mean_pet"):
            np.testing.assert_array_equal(bits(getattr(ours.atmos_data, key)), bits(getattr(ref.atmos_data, key)))
        means[storage] = ours.atmos_data.mean_prcp
    assert not np.array_equal(means[True], means[False])


@pytest.mark.parity
def test_dense_arrays_are_unavailable_as_in_smash(sparse, smash_sparse, dense):
    for name in ("prcp", "pet"):
        with pytest.raises(ValueError, match="array is NULL"):
            getattr(smash_sparse.atmos_data, name)
        message = rf"atmos_data.{name} is not available: the model uses sparse storage.*atmos_data.sparse_{name}"
        with pytest.raises(ValueError, match=message):
            getattr(sparse.atmos_data, name)
        with pytest.raises(ValueError, match=message):
            setattr(sparse.atmos_data, name, np.zeros(3))
        assert len(getattr(dense.atmos_data, f"sparse_{name}")) == 0  # smash: an empty array of matrices


@pytest.mark.parity
def test_the_run_is_bitwise_the_dense_one(sparse, dense):
    outputs = []
    for model in (dense, sparse):
        ret = model.copy().forward_run(common_options=QUIET, return_options={"q_domain": True, "rr_states": True})
        outputs.append(ret)
    np.testing.assert_array_equal(bits(outputs[1].q_domain), bits(outputs[0].q_domain))
    runs = [m.copy() for m in (dense, sparse)]
    for model in runs:
        model.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(bits(runs[1].response.q), bits(runs[0].response.q))
    np.testing.assert_array_equal(bits(runs[1].rr_final_states.values), bits(runs[0].rr_final_states.values))


def test_a_calibration_is_bitwise_the_dense_one(sparse, dense):
    options = {"parameters": ["cp", "ct"], "termination_crit": {"maxiter": 1}}
    results = [
        hg.optimize(m, optimize_options=options, common_options=QUIET, return_options={"cost": True})
        for m in (dense, sparse)
    ]
    (d_model, d_ret), (s_model, s_ret) = results
    assert s_ret.cost == d_ret.cost
    np.testing.assert_array_equal(bits(s_model.rr_parameters.values), bits(d_model.rr_parameters.values))
    np.testing.assert_array_equal(bits(s_model.response.q), bits(d_model.response.q))


# --------------------------------------------------------------------- smash's test pattern


@pytest.mark.parity
def test_copied_matrices_run_as_the_model_they_came_from(cance_setup, sparse, smash_sparse):
    """smash's tests build a sparse model that reads nothing and copy another's matrices into it
    one by one (element assignment deep-copies)."""
    setup, mesh = cance_setup
    target = hg.Model({**setup, "sparse_storage": True, "read_prcp": False, "read_pet": False}, mesh, verbose=False)
    reference = smash.Model({**setup, "sparse_storage": True, "read_prcp": False, "read_pet": False}, mesh)
    assert matrix_fields(target.atmos_data.sparse_prcp[0]) == matrix_fields(reference.atmos_data.sparse_prcp[0])
    for i in range(target.setup.ntime_step):
        target.atmos_data.sparse_prcp[i] = sparse.atmos_data.sparse_prcp[i]
        target.atmos_data.sparse_pet[i] = sparse.atmos_data.sparse_pet[i]
    target.set_rr_parameters("ci", sparse.get_rr_parameters("ci"))

    source = sparse.atmos_data.sparse_prcp[80]
    copied = target.atmos_data.sparse_prcp[80]
    assert copied is not source and copied == source
    kept = copied.values.copy()
    source.values[...] += 1  # the copy does not follow
    np.testing.assert_array_equal(copied.values, kept)
    source.values[...] -= 1

    runs = [m.copy() for m in (target, sparse)]
    for model in runs:
        model.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(bits(runs[0].response.q), bits(runs[1].response.q))


def test_edited_matrices_are_used_and_checked(sparse):
    model = sparse.copy()
    step = next(i for i, m in enumerate(model.atmos_data.sparse_prcp) if m.coo_fmt and m.n)
    model.atmos_data.sparse_prcp[step].values[...] *= 2
    edited = hg.forward_run(model, common_options=QUIET)
    original = hg.forward_run(sparse, common_options=QUIET)
    q, q0 = edited.response.q, original.response.q
    # more rain never lowers the discharge, up to the float32 rounding of nearly empty stores
    assert (q >= q0 - 1e-6 * q0.max()).all() and (q > q0 + 1e-3 * q0.max()).any()

    model.atmos_data.sparse_prcp[step].indices[0] = model.mesh.nac + 1
    with pytest.raises(ValueError, match=rf"time step {step}: indices must be strictly increasing .* 1\.\.383"):
        model.forward_run(common_options=QUIET)
    with pytest.raises(TypeError, match="must be a SparseMatrix"):
        model.atmos_data.sparse_prcp[0] = np.zeros(383)
    with pytest.raises(IndexError, match="time step 120 is out of range"):
        model.atmos_data.sparse_prcp[120]


# ---------------------------------------------------------------------------------- files


def test_save_and_read_round_trip(sparse, tmp_path):
    hg.io.save_model(sparse, tmp_path / "sparse.hdf5")
    back = hg.io.read_model(tmp_path / "sparse.hdf5")
    assert back.setup.sparse_storage
    for kind in ("prcp", "pet"):
        assert_same_series(getattr(back.atmos_data, f"sparse_{kind}"), getattr(sparse.atmos_data, f"sparse_{kind}"))
        np.testing.assert_array_equal(
            getattr(back.atmos_data, f"mean_{kind}"), getattr(sparse.atmos_data, f"mean_{kind}")
        )
    with pytest.raises(ValueError, match="sparse storage"):
        _ = back.atmos_data.prcp
    runs = [m.copy() for m in (back, sparse)]
    for model in runs:
        model.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(bits(runs[0].response.q), bits(runs[1].response.q))


@pytest.mark.parity
def test_smash_reads_our_file_and_we_read_smash_files(sparse, smash_sparse, tmp_path):
    hg.io.save_model(sparse, tmp_path / "ours.hdf5")
    smash.io.save_model(smash_sparse, str(tmp_path / "smash.hdf5"))
    theirs_of_ours = smash.io.read_model(str(tmp_path / "ours.hdf5"))
    ours_of_theirs = hg.io.read_model(tmp_path / "smash.hdf5")
    for kind in ("prcp", "pet"):
        name = f"sparse_{kind}"
        assert_same_series(getattr(theirs_of_ours.atmos_data, name), getattr(smash_sparse.atmos_data, name))
        assert_same_series(getattr(ours_of_theirs.atmos_data, name), getattr(sparse.atmos_data, name))
    ref = smash_sparse.copy()
    ref.forward_run()
    theirs_of_ours.forward_run()
    np.testing.assert_array_equal(theirs_of_ours.response.q, ref.response.q)


def test_a_damaged_sparse_group_is_named(sparse, tmp_path):
    path = tmp_path / "sparse.hdf5"
    hg.io.save_model(sparse, path)
    with h5py.File(path, "r+") as h5:
        h5["model/atmos_data/sparse_pet/n"][5] = 10_000
    with pytest.raises(ValueError, match=rf"'{path}': 'atmos_data/sparse_pet/n' holds 10000 at step 5"):
        hg.io.read_model(path)
    with h5py.File(path, "r+") as h5:
        del h5["model/atmos_data/sparse_prcp"]
    with pytest.raises(ValueError, match=r"'atmos_data/sparse_prcp' is missing"):
        hg.io.read_model(path)


# ------------------------------------------------------------------------------- encoding


def test_encoding_rules():
    nac = 7  # coordinate format up to nac // 2 = 3 stored values
    three = np.float32([0, 1.5, 0, 0, 2, 0, 3])
    coo = encode(three, 0.0)
    assert (coo.n, coo.coo_fmt, coo.zvalue) == (3, 1, 0.0)
    assert coo.indices.tolist() == [2, 5, 7] and coo.values.tolist() == [1.5, 2, 3]
    four = np.float32([0, 1.5, 0, 4, 2, 0, 3])
    full = encode(four, 0.0)
    assert (full.n, full.coo_fmt) == (nac, 0) and full.values.tolist() == four.tolist()
    with pytest.raises(ValueError, match="dense active-cell format"):
        _ = full.indices
    missing = encode(np.full(nac, -99, np.float32), -99.0)
    assert (missing.n, missing.coo_fmt, missing.zvalue) == (0, 1, -99.0)
    # -0.0 equals the zero value: not stored, decoded as +0.0 (as smash); NaN is stored.
    signed = encode(np.float32([-0.0, np.nan, 0, 0, 0, 0, 0]), 0.0)
    assert signed.indices.tolist() == [2]
    decoded = decode(SparseSeries([coo, full, missing, signed]), nac)
    np.testing.assert_array_equal(decoded[:2], [three, four])
    assert (decoded[2] == -99).all() and not np.signbit(decoded[3, 0]) and np.isnan(decoded[3, 1])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (SparseMatrix(2, 1, 0.0, [1.0, 2.0], [3, 2]), "strictly increasing"),
        (SparseMatrix(2, 1, 0.0, [1.0, 2.0], [0, 2]), "in 1..5"),
        (SparseMatrix(2, 1, 0.0, [1.0], [1, 2]), r"values has shape \(1,\), expected \(n,\) = \(2,\)"),
        (SparseMatrix(3, 0, 0.0, [1.0, 2.0, 3.0]), "holds nac = 5 values, got n = 3"),
        (SparseMatrix(0, 2, 0.0, []), "coo_fmt must be 1"),
    ],
)
def test_undecodable_matrices_are_refused(matrix, message):
    with pytest.raises(ValueError, match=rf"time step 0: .*{message}"):
        decode(SparseSeries([matrix]), 5)
