"""Reading physiographic descriptors and imperviousness: parity with smash 1.3.0 and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from hydrograd.formats.descriptor import read_descriptor, read_imperviousness
from tests.formats._reference import smash_lez

smash = pytest.importorskip("smash")

LEZ_DESCRIPTORS = ["slope", "drainage_density", "karst", "woodland", "urban", "soil_water_storage"]
NO_FORCING = {"read_qobs": False, "read_prcp": False, "read_pet": False}


def lez_model(lez_dir: Path, **overrides):
    """hydro-smash model of the shared Lez dataset reading only descriptors, ``overrides`` applied."""
    return smash_lez(lez_dir, **{**NO_FORCING, **overrides})


@pytest.fixture(scope="module")
def lez(lez_dir):
    return lez_model(lez_dir)


def write_like(template: Path, path: Path, values: np.ndarray, nodata: float | None = -1.0) -> Path:
    """Write ``values`` on the grid of the raster ``template``."""
    with rasterio.open(template) as ds:
        profile = ds.profile
    profile.update(dtype=values.dtype, nodata=nodata)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(values, 1)
    return path


@pytest.fixture
def slope(lez_dir) -> tuple[Path, np.ndarray]:
    template = lez_dir / "descriptor" / "slope.tif"
    with rasterio.open(template) as ds:
        return template, ds.read(1)


@pytest.mark.parity
def test_lez_matches_smash(lez, lez_dir):
    descriptor = read_descriptor(lez_dir / "descriptor", LEZ_DESCRIPTORS, grid=lez.mesh)
    assert descriptor.dtype == np.float32 and descriptor.shape == (lez.mesh.nrow, lez.mesh.ncol, 6)
    np.testing.assert_array_equal(descriptor, lez.physio_data.descriptor)


@pytest.mark.parity
def test_cance_matches_smash():
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(NO_FORCING)
    model = smash.Model(setup, mesh)
    descriptor = read_descriptor(setup["descriptor_directory"], setup["descriptor_name"], grid=model.mesh)
    np.testing.assert_array_equal(descriptor, model.physio_data.descriptor)


@pytest.mark.parity
def test_imperviousness_matches_smash(lez, lez_dir, slope, tmp_path):
    template, values = slope
    rate = (values / values.max()).astype(np.float32)
    inactive = np.argwhere(lez.mesh.active_cell == 0)[0]
    rate[tuple(inactive)] = -1.0  # nodata
    file = write_like(template, tmp_path / "imperviousness.tif", rate)
    ref = lez_model(lez_dir, read_descriptor=False, read_imperviousness=True, imperviousness_file=str(file))

    imperviousness = read_imperviousness(file, grid=lez.mesh)
    assert imperviousness.dtype == np.float32 and imperviousness[tuple(inactive)] == -99
    np.testing.assert_array_equal(imperviousness, ref.physio_data.imperviousness)


def test_nodata_on_inactive_cell_becomes_missing(lez, slope, tmp_path):
    template, values = slope
    inactive = tuple(np.argwhere(lez.mesh.active_cell == 0)[0])
    values = values.copy()
    values[inactive] = -1.0
    write_like(template, tmp_path / "slope.tif", values)
    descriptor = read_descriptor(tmp_path, ["slope"], grid=lez.mesh)
    assert descriptor[(*inactive, 0)] == -99


def test_nodata_on_active_cell_is_an_error(lez, slope, tmp_path):
    template, values = slope
    values = values.copy()
    values[tuple(np.argwhere(lez.mesh.active_cell == 1)[0])] = -1.0
    write_like(template, tmp_path / "sub" / "slope.tif", values)
    with pytest.raises(ValueError, match=r"'slope'.*slope\.tif.*active cells"):
        read_descriptor(tmp_path, ["slope"], grid=lez.mesh)


def test_uniform_descriptor(lez, slope, tmp_path):
    template, values = slope
    write_like(template, tmp_path / "flat.tif", np.full_like(values, 2.5))
    with pytest.raises(ValueError, match=r"'flat'.*uniform \(2\.5\)"):
        read_descriptor(tmp_path, ["flat"], grid=lez.mesh)
    flat = read_descriptor(tmp_path, ["flat"], grid=lez.mesh, require_variation=False)
    assert (flat == 2.5).all()


def test_descriptor_without_data(lez, slope, tmp_path):
    template, values = slope
    write_like(template, tmp_path / "empty.tif", np.full_like(values, -1.0))
    with pytest.raises(ValueError, match=r"'empty'.*no data"):
        read_descriptor(tmp_path, ["empty"], grid=lez.mesh)


def test_absent_descriptor_names_it_and_the_directory(lez, lez_dir):
    folder = lez_dir / "descriptor"
    with pytest.raises(FileNotFoundError, match=rf"'elevation'.*'elevation\.tif'.*'{folder}'"):
        read_descriptor(folder, ["slope", "elevation"], grid=lez.mesh)


def test_missing_descriptor_directory(lez, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*'descriptor_directory'"):
        read_descriptor(tmp_path / "nowhere", ["slope"], grid=lez.mesh)


def test_imperviousness_out_of_range(lez, slope, tmp_path):
    template, values = slope
    file = write_like(template, tmp_path / "imperviousness.tif", np.full_like(values, 1.5))
    with pytest.raises(ValueError, match=r"imperviousness\.tif.*1\.5.*between 0 and 1"):
        read_imperviousness(file, grid=lez.mesh)


def test_imperviousness_missing_file(lez, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.tif.*'imperviousness_file'"):
        read_imperviousness(tmp_path / "nope.tif", grid=lez.mesh)
