"""Damaged input files among a model's forcing, descriptors and observations: smash 1.3.0 lets
rasterio's (or pandas') exception escape, hydrograd raises a ValueError naming the file. A
missing file is not damage: both read on with -99 and say so in the same words."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.errors import RasterioIOError

import hydrograd as hg

smash = pytest.importorskip("smash")

FIRST = "rain_precipitation_201409150100_201409150100.tif"
DAMAGE = {
    "text": lambda data: b"this is not a tiff",
    "empty": lambda data: b"",
    "cut header": lambda data: data[:200],
    "cut data": lambda data: data[:-40],
}


@pytest.fixture
def cance(tmp_path) -> tuple[dict, dict, Path]:
    """Cance's setup over 6 hours with its precipitation and descriptors copied to ``tmp_path``,
    its mesh, and the folder of the precipitation files."""
    setup, mesh = smash.factory.load_dataset("Cance")
    prcp = tmp_path / "prcp"
    prcp.mkdir()
    for hour in range(1, 7):
        name = f"rain_precipitation_201409150{hour}00_201409150{hour}00.tif"
        shutil.copy(Path(setup["prcp_directory"]) / "2014" / "09" / "15" / name, prcp / name)
    shutil.copytree(setup["descriptor_directory"], tmp_path / "descriptor")
    setup.update(
        end_time="2014-09-15 06:00",
        prcp_directory=str(prcp),
        descriptor_directory=str(tmp_path / "descriptor"),
        read_pet=False,
        read_qobs=False,
        read_descriptor=False,
    )
    return setup, mesh, prcp


def build(library, setup: dict, mesh: dict):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = library.Model(setup, mesh) if library is smash else library.Model(setup, mesh, verbose=False)
    return model, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parity
@pytest.mark.parametrize("sparse", [False, True])
def test_a_missing_step_reads_on_with_minus_99_as_smash(cance, sparse):
    setup, mesh, prcp = cance
    setup["sparse_storage"] = sparse
    (prcp / "rain_precipitation_201409150500_201409150500.tif").unlink()
    ref, ref_warnings = build(smash, setup, mesh)
    ours, our_warnings = build(hg, setup, mesh)
    expected = "Warning(s) linked to precipitation reading.\nMissing warning: missing 1 file(s): ['2014-09-15 05:00']"
    assert ref_warnings == our_warnings == [expected]
    if sparse:
        matrix = ours.atmos_data.sparse_prcp[4]
        assert (matrix.n, matrix.coo_fmt, matrix.zvalue) == (0, 1, -99.0)
    else:
        np.testing.assert_array_equal(ours.atmos_data.prcp, ref.atmos_data.prcp)
        assert (ours.atmos_data.prcp[..., 4] == -99).all()
    np.testing.assert_array_equal(ours.atmos_data.mean_prcp, ref.atmos_data.mean_prcp)


@pytest.mark.parity
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_forcing_file_is_named(cance, damage, sparse):
    setup, mesh, prcp = cance
    setup["sparse_storage"] = sparse
    file = prcp / "rain_precipitation_201409150300_201409150300.tif"
    file.write_bytes(DAMAGE[damage](file.read_bytes()))
    with pytest.raises(RasterioIOError):
        build(smash, setup, mesh)
    with pytest.raises(ValueError, match=rf"Cannot read the raster file '{file}'.*expected a GeoTIFF"):
        build(hg, setup, mesh)


@pytest.mark.parity
def test_a_tif_without_a_date_is_named(cance):
    setup, mesh, prcp = cance
    shutil.copy(prcp / FIRST, prcp / "readme.tif")
    with pytest.raises(AttributeError):  # smash: re.search(...) is None
        build(smash, setup, mesh)
    with pytest.raises(ValueError, match=r"date in the name of '.*readme\.tif'.*YYYYMMDDhhmm"):
        build(hg, setup, mesh)


@pytest.mark.parity
@pytest.mark.parametrize("damage", ["text", "empty", "cut header"])
def test_a_damaged_descriptor_is_named(cance, damage):
    setup, mesh, _ = cance
    setup["read_descriptor"] = True
    file = Path(setup["descriptor_directory"]) / "dd.tif"
    file.write_bytes(DAMAGE[damage](file.read_bytes()))
    with pytest.raises(RasterioIOError):
        build(smash, setup, mesh)
    with pytest.raises(ValueError, match=rf"Cannot read the raster file '{file}'"):
        build(hg, setup, mesh)


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "No columns to parse"), (b"\xff\xfe\x00\x81", "codec can't decode"), (b'200601010000\n1\n"2\n', "EOF")],
    ids=["empty", "binary", "unterminated quote"],
)
def test_a_damaged_observation_file_is_named(cance, tmp_path, content, match):
    setup, mesh, _ = cance
    qobs = tmp_path / "qobs"
    shutil.copytree(smash.factory.load_dataset("Cance")[0]["qobs_directory"], qobs)
    (qobs / "V3524010.csv").write_bytes(content)
    setup.update(read_qobs=True, qobs_directory=str(qobs))
    with pytest.raises(ValueError, match=rf"observed discharge file '.*V3524010\.csv' \(gauge 'V3524010'\).*{match}"):
        build(hg, setup, mesh)
