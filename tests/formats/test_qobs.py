"""Reading observed discharge: parity with smash 1.3.0, period alignment and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydrograd.formats.qobs import read_qobs
from tests.formats._reference import period, smash_lez

smash = pytest.importorskip("smash")

ONLY_QOBS = {"read_qobs": True, "read_prcp": False, "read_pet": False, "read_descriptor": False}


def lez_model(lez_dir: Path, **overrides):
    """hydro-smash model of the shared Lez dataset reading only ``qobs``, ``overrides`` applied."""
    return smash_lez(lez_dir, **{**ONLY_QOBS, **overrides})


@pytest.fixture(scope="module")
def lez(lez_dir):
    return lez_model(lez_dir)


def write_csv(path: Path, header: str, values) -> None:
    path.write_text("\n".join([header, *(str(v) for v in values)]) + "\n")


@pytest.mark.parity
def test_lez_matches_smash(lez, lez_dir):
    q = read_qobs(lez_dir / "qobs", lez.mesh.code, **period(lez))
    assert q.dtype == np.float32 and q.shape == (lez.mesh.ng, lez.setup.ntime_step)
    np.testing.assert_array_equal(q, lez.response_data.q)


@pytest.mark.parity
def test_cance_hourly_matches_smash():
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(ONLY_QOBS)
    model = smash.Model(setup, mesh)
    q = read_qobs(setup["qobs_directory"], model.mesh.code, **period(model))
    np.testing.assert_array_equal(q, model.response_data.q)


@pytest.mark.parity
def test_partial_files_and_missing_gauge_match_smash(lez, lez_dir, tmp_path):
    rng = np.random.default_rng(0)
    # Starts a month after the period start, in another date format.
    write_csv(tmp_path / "Y3204010.csv", "2012-09-01 00:00", np.round(rng.uniform(0, 50, 400), 3))
    # Ends before the period end; holds a missing value.
    values = np.round(rng.uniform(0, 50, 300), 2)
    values[200] = -99
    write_csv(tmp_path / "Y3204030_daily.csv", "20120501", values)
    # No file for Y3204040.
    with pytest.warns(UserWarning):
        ref = lez_model(lez_dir, qobs_directory=str(tmp_path))

    with pytest.warns(UserWarning, match=r"1 gauge\(s\): \['Y3204040'\]"):
        q = read_qobs(tmp_path, lez.mesh.code, **period(ref))
    np.testing.assert_array_equal(q, ref.response_data.q)
    assert (q[0] == -99).all()  # code order of the mesh: Y3204040, Y3204030, Y3204010
    assert (q[2, :30] == -99).all() and (q[2, 30:] >= 0).all()
    # As in smash, a file's last line is left out: Y3204030's ends on 2013-02-24.
    last = (pd.Timestamp("2013-02-24") - pd.Timestamp("2012-08-02")).days
    assert values[-1] >= 0 and q[1, last] == -99 and q[1, last - 1] == np.float32(values[-2])


def test_files_found_in_sub_folders(lez, lez_dir, tmp_path):
    for f in (lez_dir / "qobs").glob("*.csv"):
        (tmp_path / f.stem).mkdir()
        shutil.copy(f, tmp_path / f.stem / f"q_{f.name}")
    q = read_qobs(tmp_path, lez.mesh.code, **period(lez))
    np.testing.assert_array_equal(q, lez.response_data.q)


def test_file_outside_period_warns(lez, tmp_path):
    write_csv(tmp_path / "Y3204010.csv", "19900101", [1.0, 2.0, 3.0])
    with pytest.warns(UserWarning) as record:
        q = read_qobs(tmp_path, ["Y3204010"], **period(lez))
    assert any("Y3204010.csv" in str(w.message) and "does not reach" in str(w.message) for w in record)
    assert (q == -99).all()


def test_bad_header_names_file(lez, tmp_path):
    write_csv(tmp_path / "Y3204010.csv", "discharge", [1.0, 2.0])
    with pytest.raises(ValueError, match=r"'discharge'.*Y3204010\.csv.*'Y3204010'.*expected the date"):
        read_qobs(tmp_path, ["Y3204010"], **period(lez))


def test_non_numeric_value_names_file(lez, tmp_path):
    write_csv(tmp_path / "Y3204010.csv", "20120801", [1.0, "n/a?", 2.0])
    with pytest.raises(ValueError, match=r"'n/a\?'.*Y3204010\.csv.*expected one discharge value"):
        read_qobs(tmp_path, ["Y3204010"], **period(lez))


def test_missing_directory_names_path_and_key(lez, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*'qobs_directory'"):
        read_qobs(tmp_path / "nowhere", ["Y3204010"], **period(lez))
