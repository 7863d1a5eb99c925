"""detect_sink: two-cell pits of a flow-direction raster, as smash finds them, and its GeoTIFF."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from hydrograd.factory import detect_sink
from tests.mesh.test_generate import write_raster

N = -9999.0  # nodata


def sink_raster() -> tuple[np.ndarray, np.ndarray]:
    """A 6 x 6 raster of odd flow directions, and the cells smash reports as sinks (bool)."""
    values = np.array(
        [
            [3, 7, 0, 3, 6, N],  # (0,0)-(0,1) east/west pair; (0,3)-(0,4)-(1,3) three-cell loop
            [N, N, 4, 1, N, N],  # (1,2)-(2,3) south-east/north-west pair
            [5, N, N, 8, N, N],  # (2,0)-(3,0) south/north pair
            [1, N, 6, N, N, 5],  # (3,2)-(4,1) south-west/north-east pair: not looked for
            [N, 2, N, N, N, 1],  # (3,5)-(4,5) pair in the last column: not looked for
            [3, 7, N, N, N, 4],  # (5,0)-(5,1) pair in the last row: not looked for; (5,5) leaves the raster
        ]
    )
    sink = np.zeros(values.shape, dtype=bool)
    for row, col in [(0, 0), (0, 1), (1, 2), (2, 3), (2, 0), (3, 0)]:
        sink[row, col] = True
    return values, sink


def test_sinks_by_hand(tmp_path):
    values, expected = sink_raster()
    sink = detect_sink(write_raster(tmp_path / "sinks.tif", values))
    assert sink.dtype == np.int32 and sink.shape == (6, 6)
    np.testing.assert_array_equal(sink, expected.astype(np.int32))


def test_output_file(tmp_path):
    values, expected = sink_raster()
    source = write_raster(tmp_path / "sinks.tif", values)
    out = tmp_path / "sink_map.tif"
    assert detect_sink(str(source), out).sum() == 6
    with rasterio.open(out) as written, rasterio.open(source) as raster:
        assert (written.driver, written.count, written.dtypes[0], written.nodata) == ("GTiff", 1, "uint8", 255)
        assert (written.crs, written.transform) == (raster.crs, raster.transform)
        np.testing.assert_array_equal(written.read(1), expected.astype(np.uint8))


def test_bare_output_name_goes_to_the_working_folder(tmp_path, monkeypatch):
    values, _ = sink_raster()
    source = write_raster(tmp_path / "sinks.tif", values)
    monkeypatch.chdir(tmp_path)
    detect_sink(source, "here.tif")
    assert (tmp_path / "here.tif").is_file()


def test_errors(tmp_path):
    values, _ = sink_raster()
    source = write_raster(tmp_path / "sinks.tif", values)
    with pytest.raises(TypeError, match="flwdir_path argument must be of FilePath type"):
        detect_sink(3)
    with pytest.raises(FileNotFoundError, match=r"absent\.tif"):
        detect_sink(tmp_path / "absent.tif")
    with pytest.raises(TypeError, match="output_path argument must be of FilePath type"):
        detect_sink(source, output_path=["sink.tif"])
    with pytest.raises(FileNotFoundError, match="no_folder"):
        detect_sink(source, output_path=tmp_path / "no_folder" / "sink.tif")
    text = tmp_path / "flwdir.tif.txt"
    text.write_text("not a raster")
    with pytest.raises(ValueError, match=r"flwdir_path .*flwdir\.tif\.txt' is not a raster file"):
        detect_sink(text)
    esri = write_raster(tmp_path / "esri.tif", [[1, 2, 4], [8, 16, 32]])
    with pytest.raises(ValueError, match=r"not smash D8 codes 1\.\.8"):
        detect_sink(esri)


@pytest.mark.parity
def test_sinks_match_smash(tmp_path):
    smash = pytest.importorskip("smash")
    values, _ = sink_raster()
    source = str(write_raster(tmp_path / "sinks.tif", values))
    ours = detect_sink(source, tmp_path / "ours.tif")
    theirs = smash.factory.detect_sink(source, str(tmp_path / "theirs.tif"))
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    assert_same_raster(tmp_path / "ours.tif", tmp_path / "theirs.tif")


@pytest.mark.parity
def test_france_matches_smash(tmp_path, france_flwdir):
    smash = pytest.importorskip("smash")
    ours = detect_sink(france_flwdir, tmp_path / "ours.tif")
    theirs = smash.factory.detect_sink(str(france_flwdir), str(tmp_path / "theirs.tif"))
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape) == (np.int32, (1125, 1200))
    np.testing.assert_array_equal(ours, theirs)
    assert not ours.any()
    assert_same_raster(tmp_path / "ours.tif", tmp_path / "theirs.tif")


def assert_same_raster(ours, theirs) -> None:
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert a.profile == b.profile
        np.testing.assert_array_equal(a.read(), b.read())
