"""``hydrograd.evaluation`` against ``smash.evaluation``: every metric, to the last float32 digit,
on the same observed and simulated discharge, dry spells (zeros, negative and subnormal
simulated values) included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hydrograd

smash = pytest.importorskip("smash")
h5py = pytest.importorskip("h5py")

METRICS = ["nse", "nnse", "kge", "mae", "mape", "mse", "rmse", "lgrm"]
SUITE = Path(smash.__file__).parent / "tests"


def _evaluations(name: str, q_sim: np.ndarray | None = None, dry_from: int | None = None):
    """``(smash's, hydrograd's)`` evaluations of every metric on dataset ``name``, both models
    given smash's simulated discharge (its forward run, or ``q_sim``)."""
    setup, mesh = smash.factory.load_dataset(name)
    reference = smash.Model(setup, mesh)
    if dry_from is not None:
        reference.atmos_data.prcp[..., dry_from:] = 0.0
    if q_sim is None:
        reference.forward_run(common_options={"verbose": False})
    else:
        reference.response.q = q_sim
    setup, mesh = hydrograd.factory.load_dataset(name)
    ours = hydrograd.Model(setup, mesh, verbose=False)
    np.testing.assert_array_equal(ours.response_data.q, reference.response_data.q)
    ours.response.q = np.array(reference.response.q)
    return smash.evaluation(reference, METRICS), hydrograd.evaluation(ours, METRICS), np.array(reference.response.q)


@pytest.mark.parity
@pytest.mark.slow
def test_cance_evaluation_matches_smash_suite_baseline():
    """smash's own suite case: its simulated Cance discharge (13 subnormal values, 973 zeros) and
    its stored results."""
    q_sim = h5py.File(SUITE / "simulated_discharges.hdf5")["sim_q"][:]
    expected, got, _ = _evaluations("Cance", q_sim=q_sim)
    np.testing.assert_array_equal(got, expected)
    baseline = h5py.File(SUITE / "baseline.hdf5")
    for i, metric in enumerate(METRICS):
        np.testing.assert_array_equal(got[:, i], baseline[f"evaluation.{metric}"][:], err_msg=metric)


@pytest.mark.parity
def test_lez_evaluation_matches_smash():
    expected, got, _ = _evaluations("Lez")
    assert got.dtype == np.float64 and got.shape == (3, len(METRICS))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parity
@pytest.mark.slow
def test_dry_spell_evaluation_matches_smash():
    """Cance with rain set to 0 after step 300: smash's discharge holds exact zeros, negative values
    and subnormal ones, which its lgrm counts (where a ratio underflows, by an infinite term)."""
    expected, got, q_sim = _evaluations("Cance", dry_from=300)
    tiny = np.finfo(np.float32).tiny
    assert ((q_sim > 0) & (q_sim < tiny)).any() and (q_sim == 0).any()
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got[:, METRICS.index("lgrm")]).all()
