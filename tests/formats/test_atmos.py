"""Reading atmospheric forcing: parity with smash 1.3.0 and behaviour on unusual or bad input."""

from __future__ import annotations

import io
import shutil
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import Affine

from hydrograd.formats._raster import ReadIssues, read_window
from hydrograd.formats.atmos import HOURLY_PET_PROFILE, read_atmos
from tests.formats._reference import period, smash_lez

smash = pytest.importorskip("smash")


@pytest.fixture(scope="module")
def lez(lez_dir):
    return smash_lez(lez_dir)


@pytest.fixture(scope="module")
def cance():
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(read_qobs=False, read_descriptor=False)
    return setup, smash.Model(setup, mesh)


def write_raster(path: Path, values: np.ndarray, xmin: float, ymax: float, res: float, nodata=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": values.shape[0],
        "width": values.shape[1],
        "count": 1,
        "dtype": values.dtype,
        "transform": Affine(res, 0.0, xmin, 0.0, -res, ymax),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(values, 1)


# --------------------------------------------------------------------------------------------- parity


@pytest.mark.parity
def test_lez_daily_matches_smash(lez, lez_dir):
    prcp = read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, verbose=False, **period(lez))
    pet = read_atmos("pet", lez_dir / "pet", grid=lez.mesh, verbose=False, **period(lez))
    assert prcp.dtype == np.float32 and prcp.shape == (lez.mesh.nrow, lez.mesh.ncol, lez.setup.ntime_step)
    np.testing.assert_array_equal(prcp, lez.atmos_data.prcp)
    np.testing.assert_array_equal(pet, lez.atmos_data.pet)


@pytest.mark.parity
def test_cance_hourly_with_conversion_and_interannual_pet_matches_smash(cance):
    setup, model = cance
    prcp = read_atmos(
        "prcp",
        setup["prcp_directory"],
        grid=model.mesh,
        conversion_factor=setup["prcp_conversion_factor"],
        verbose=False,
        **period(model),
    )
    pet = read_atmos(
        "pet", setup["pet_directory"], grid=model.mesh, daily_interannual=True, verbose=False, **period(model)
    )
    np.testing.assert_array_equal(prcp, model.atmos_data.prcp)
    np.testing.assert_array_equal(pet, model.atmos_data.pet)


@pytest.mark.parity
def test_missing_dates_match_smash(lez, lez_dir, tmp_path):
    shutil.copytree(lez_dir / "prcp" / "2012" / "08", tmp_path / "prcp" / "2012" / "08")
    for day in ("05", "17"):
        (tmp_path / "prcp" / "2012" / "08" / f"201208{day}0000_PT.tif").unlink()
    with pytest.warns(UserWarning):
        ref = smash_lez(
            lez_dir,
            prcp_directory=str(tmp_path / "prcp"),
            read_pet=False,
            read_qobs=False,
            read_descriptor=False,
            end_time="2012-08-31",
        )

    with pytest.warns(UserWarning, match=r"missing 2 file\(s\).*2012-08-05 00:00.*2012-08-17 00:00"):
        prcp = read_atmos("prcp", tmp_path / "prcp", grid=lez.mesh, verbose=False, **period(ref))
    np.testing.assert_array_equal(prcp, ref.atmos_data.prcp)
    assert (prcp[..., [3, 15]] == -99).all()
    np.testing.assert_array_equal(prcp[..., :3], lez.atmos_data.prcp[..., :3])


@pytest.mark.parity
@pytest.mark.parametrize(
    ("xmin", "ymax", "res", "nrow", "ncol"),
    [
        (1000.0, 9000.0, 1000.0, 4, 5),  # aligned, inside
        (1250.0, 8800.0, 1000.0, 4, 5),  # not aligned
        (-2000.0, 9000.0, 1000.0, 4, 5),  # partly west of the raster
        (8000.0, 3000.0, 1000.0, 4, 5),  # partly south-east of the raster
        (1000.0, 9000.0, 2000.0, 3, 3),  # coarser mesh
        (1000.0, 9000.0, 500.0, 6, 7),  # finer mesh
        (-1000.0, 11000.0, 2000.0, 8, 8),  # coarser and larger than the raster
        (20000.0, 9000.0, 1000.0, 4, 5),  # east of the raster: nothing overlaps
        (1000.0, 30000.0, 1000.0, 4, 5),  # north of the raster
        (1000.0, 9000.0, 1000.0, 4, 0),  # no column (a bounding box of zero width)
        (-5000.0, 10000.0, 2000.0, 3, 3),  # overlapping by one raster column, half a mesh cell
        (-3000.0, 10000.0, 2000.0, 3, 2),  # overlapping by one raster column that rounds to no mesh cell
    ],
)
def test_window_matches_smash(tmp_path, xmin, ymax, res, nrow, ncol):
    from smash.core.model._read_input_data import _read_windowed_raster

    values = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)
    values[2, 3] = -1.0
    file = tmp_path / "r.tif"
    write_raster(file, values, xmin=0.0, ymax=10_000.0, res=1000.0, nodata=-1.0)
    grid = SimpleNamespace(xmin=xmin, ymax=ymax, xres=res, yres=res, nrow=nrow, ncol=ncol)

    issues = ReadIssues()
    ours = read_window(file, grid, issues)
    ref, flags = _read_windowed_raster(str(file), grid)
    np.testing.assert_array_equal(ours, ref)
    assert issues.resolution == bool(flags["res"])
    assert issues.alignment == bool(flags["overlap"])
    assert issues.out_of_bound == flags["outofbound"]


# ------------------------------------------------------------------------------------ layouts, options


def test_flat_folder_and_access_pattern(lez, lez_dir, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted((lez_dir / "prcp" / "2012" / "08").glob("*.tif"))[:10]:
        shutil.copy(f, flat / f.name)
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-10"), "dt": 86_400}
    prcp = read_atmos("prcp", flat, grid=lez.mesh, verbose=False, **window)
    np.testing.assert_array_equal(prcp, lez.atmos_data.prcp[..., :9])

    nested = read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, access="%Y/%m", verbose=False, **window)
    np.testing.assert_array_equal(nested, prcp)


@pytest.mark.parity
def test_file_choice_matches_smash_on_untidy_folder(tmp_path):
    from smash.core.model._read_input_data import _find_index_files_containing_date, _get_atmos_files

    from hydrograd.formats.atmos import _file_dates, _list_files, _match

    names = [
        "2012/07/x_20120720.tif",  # before the period
        "2012/08/x_20120801.tif",
        "2012/08/x_20120802.tif",
        "2012/08/x_20120803.tif",
        "2012/08/x_20120805.tif",
        "2012/08/x_20120805_v2.tif",  # same date twice
        "0_20120804.tif",  # sorts first, dated in the period
        "y_20120803.tif",  # sorts last, repeats a date
        "y_20120807.tif",
    ]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    steps = pd.date_range("2012-08-01", "2012-08-08", freq="86400s")[1:]

    files = _get_atmos_files(str(tmp_path), "tif", "", steps)
    expected = []
    for date in steps:
        ind = _find_index_files_containing_date(files, date, 86_400)
        expected.append(files[ind] if ind >= 0 else None)
        files = files[ind + 1 :] if ind >= 0 else files

    ours = _list_files(str(tmp_path), "tif", "", steps)
    dates = _file_dates(ours, 86_400, False)
    first = np.flatnonzero(dates >= steps[0].value)[0]
    chosen = _match(dates[first:], steps.as_unit("ns").asi8)
    assert [ours[first + i] if i >= 0 else None for i in chosen] == expected


@pytest.mark.parametrize("kind", ["snow", "temp"])
def test_snow_and_temp_read_like_prcp(lez, lez_dir, kind):
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-05"), "dt": 86_400}
    values = read_atmos(kind, lez_dir / "prcp", grid=lez.mesh, verbose=False, **window)
    np.testing.assert_array_equal(values, lez.atmos_data.prcp[..., :4])


def test_conversion_factor_scales_values_in_float32(lez, lez_dir):
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-20"), "dt": 86_400}
    scaled = read_atmos("pet", lez_dir / "pet", grid=lez.mesh, conversion_factor=0.1, verbose=False, **window)
    np.testing.assert_array_equal(scaled, lez.atmos_data.pet[..., :19] * np.float32(0.1))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_when_verbose_on_a_terminal(lez, lez_dir, capsys, monkeypatch):
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-04"), "dt": 86_400}
    read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, verbose=True, **window)
    assert capsys.readouterr().err == "", "no bar in a log file or a pipe"
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, verbose=False, **window)
    assert terminal.getvalue() == ""
    read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, verbose=True, **window)
    assert "Reading precipitation" in terminal.getvalue()


# --------------------------------------------------------------------------------- daily interannual


GRID = SimpleNamespace(xmin=0.0, ymax=3000.0, xres=1000.0, yres=1000.0, nrow=3, ncol=4)


@pytest.fixture
def interannual_dir(tmp_path) -> Path:
    """Mean daily PET files for Jan 1-4 and Feb 28 - Mar 1, the value of each being its day number."""
    folder = tmp_path / "etp"
    for mmdd, value in [
        ("0101", 1),
        ("0102", 2),
        ("0103", 3),
        ("0104", 4),
        ("0228", 59),
        ("0229", 60),
        ("0301", 61),
    ]:
        write_raster(folder / f"{mmdd}_ETPJIA.tif", np.full((3, 4), value, np.float32), 0.0, 3000.0, 1000.0)
    return folder


def expected_interannual(day_value: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    return np.broadcast_to(day_value.astype(np.float32) * ratio, (3, 4, day_value.size))


def test_interannual_pet_hourly(interannual_dir):
    start = pd.Timestamp("2021-01-01 00:00")
    pet = read_atmos(
        "pet",
        interannual_dir,
        start_time=start,
        end_time=start + pd.Timedelta(days=3),
        dt=3600,
        grid=GRID,
        daily_interannual=True,
        verbose=False,
    )
    steps = pd.date_range(start, periods=73, freq="1h")[1:]
    expected = expected_interannual(steps.day.to_numpy(), HOURLY_PET_PROFILE[steps.hour])
    np.testing.assert_array_equal(pet, expected)
    np.testing.assert_allclose(pet[0, 0, 23:47].sum(), 2.0, rtol=1e-6)  # Jan 2: its total, spread


def test_interannual_pet_half_hourly_and_daily(interannual_dir):
    start = pd.Timestamp("2021-01-01 00:00")
    common = {"start_time": start, "grid": GRID, "daily_interannual": True, "verbose": False}
    half = read_atmos("pet", interannual_dir, end_time=start + pd.Timedelta(days=1), dt=1800, **common)
    steps = pd.date_range(start, periods=49, freq="30min")[1:]
    ratio = np.repeat(HOURLY_PET_PROFILE, 2) / np.float32(2)
    np.testing.assert_array_equal(half, expected_interannual(steps.day.to_numpy(), ratio[np.arange(1, 49) % 48]))

    daily = read_atmos("pet", interannual_dir, end_time=start + pd.Timedelta(days=3), dt=86_400, **common)
    np.testing.assert_array_equal(daily, expected_interannual(np.array([2, 3, 4]), np.sum(HOURLY_PET_PROFILE)))


def test_interannual_pet_missing_day_and_leap_calendar(interannual_dir):
    (interannual_dir / "0103_ETPJIA.tif").unlink()
    common = {"grid": GRID, "daily_interannual": True, "verbose": False, "dt": 86_400}
    with pytest.warns(UserWarning, match=r"missing 1 file\(s\).*01-03"):
        pet = read_atmos(
            "pet",
            interannual_dir,
            start_time=pd.Timestamp("2021-01-01"),
            end_time=pd.Timestamp("2021-01-04"),
            **common,
        )
    assert (pet[..., 1] == -99).all() and (pet[..., [0, 2]] > 0).all()

    # As in smash, the day of year indexes a leap-year calendar: in 2021, 1 March (day 60) takes
    # the file of 29 February.
    pet = read_atmos(
        "pet",
        interannual_dir,
        start_time=pd.Timestamp("2021-02-27"),
        end_time=pd.Timestamp("2021-03-01"),
        **common,
    )
    np.testing.assert_array_equal(pet[0, 0], np.float32([59, 60]) * np.sum(HOURLY_PET_PROFILE))


# --------------------------------------------------------------------------------------- bad input


def test_missing_directory_names_path_and_key(lez, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"nowhere.*'pet_directory'"):
        read_atmos("pet", missing, grid=lez.mesh, verbose=False, **period(lez))


def test_unknown_kind(lez, lez_dir):
    with pytest.raises(ValueError, match=r"'rain'.*\['prcp', 'pet', 'snow', 'temp'\]"):
        read_atmos("rain", lez_dir / "prcp", grid=lez.mesh, verbose=False, **period(lez))


@pytest.mark.parity
def test_raster_outside_mesh_reads_nothing_as_smash(lez, lez_dir, tmp_path):
    folder = tmp_path / "prcp"
    write_raster(folder / "201208020000_PT.tif", np.ones((5, 5), np.float32), 0.0, 5000.0, 1000.0)
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-02"), "dt": 86_400}
    with pytest.warns(UserWarning) as caught:
        ref = smash_lez(
            lez_dir,
            prcp_directory=str(folder),
            prcp_conversion_factor=0.5,
            read_pet=False,
            read_qobs=False,
            read_descriptor=False,
            **{k: str(v) for k, v in window.items() if k != "dt"},
        )
    expected = [str(w.message) for w in caught if "precipitation" in str(w.message)]
    assert expected and "Out of bound warning: mesh is totally out of bound" in expected[0]
    with pytest.warns(UserWarning) as ours:
        prcp = read_atmos("prcp", folder, grid=lez.mesh, conversion_factor=0.5, verbose=False, **window)
    assert [str(w.message) for w in ours] == expected
    np.testing.assert_array_equal(prcp, ref.atmos_data.prcp)
    assert (prcp == np.float32(-99) * np.float32(0.5)).all()


def test_raster_too_coarse_names_file(lez, tmp_path):
    folder = tmp_path / "prcp"
    write_raster(folder / "201208020000_PT.tif", np.ones((2, 2), np.float32), 700_000.0, 6_400_000.0, 100_000.0)
    with pytest.raises(ValueError, match=r"201208020000_PT\.tif.*cell size comparable"):
        read_atmos("prcp", folder, grid=lez.mesh, verbose=False, **period(lez))


@pytest.mark.parity
def test_partial_overlap_fills_and_warns(lez, lez_dir, tmp_path):
    from smash.core.model._read_input_data import _read_windowed_raster

    with rasterio.open(lez_dir / "prcp" / "2012" / "08" / "201208020000_PT.tif") as ds:
        values, nodata = ds.read(1), ds.nodata
    folder = tmp_path / "prcp"
    # Drop the 4 westmost columns: the mesh sticks out of the raster by 4 cells.
    file = folder / "201208020000_PT.tif"
    write_raster(file, values[:, 4:], lez.mesh.xmin + 4000, lez.mesh.ymax, 1000.0, nodata)
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-02"), "dt": 86_400}
    with pytest.warns(UserWarning, match="Out of bound warning: mesh is partially out of bound"):
        prcp = read_atmos("prcp", folder, grid=lez.mesh, conversion_factor=0.5, verbose=False, **window)
    half = np.float32(0.5)
    np.testing.assert_array_equal(prcp[..., 0], _read_windowed_raster(str(file), lez.mesh)[0] * half)
    # As in smash, the factor also applies to the -99 of cells without data.
    assert (prcp[:, :4, 0] == np.float32(-99) * half).all()
    np.testing.assert_array_equal(prcp[:, 4:, 0], lez.atmos_data.prcp[:, 4:, 0] * half)


def test_file_name_without_date(lez, tmp_path):
    folder = tmp_path / "prcp"
    write_raster(folder / "rain_day2.tif", np.ones((2, 2), np.float32), 0.0, 2000.0, 1000.0)
    with pytest.raises(ValueError, match=r"rain_day2\.tif.*expected YYYYMMDD"):
        read_atmos("prcp", folder, grid=lez.mesh, verbose=False, **period(lez))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"daily_interannual": True}, ValueError, "'pet' only"),
        ({"dt": 172_800}, ValueError, r"dt=172800.0 s.*\]0, 86400\]"),
        ({"fmt": "nc"}, NotImplementedError, "prcp_format='nc'"),
        ({"fmt": "grib"}, ValueError, r"prcp_format 'grib'.*\['tif'\]"),
        ({"conversion_factor": 0.0}, ValueError, "prcp_conversion_factor=0.0"),
        ({"end_time": pd.Timestamp("2012-07-01")}, ValueError, "later than start_time"),
    ],
)
def test_bad_options(lez, lez_dir, kwargs, error, match):
    options = {**period(lez), "grid": lez.mesh, "verbose": False, **kwargs}
    with pytest.raises(error, match=match):
        read_atmos("prcp", lez_dir / "prcp", **options)


def test_no_warning_on_complete_data(lez, lez_dir):
    window = {"start_time": pd.Timestamp("2012-08-01"), "end_time": pd.Timestamp("2012-08-05"), "dt": 86_400}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_atmos("prcp", lez_dir / "prcp", grid=lez.mesh, verbose=False, **window)
