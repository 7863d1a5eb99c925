"""``snow_module="ssn"`` from a user's script: snowfall and temperature read from GeoTIFF folders
(dense and sparse storage), smash's precipitation partitioning, ``atmos_data``'s snow arrays, runs,
calibrations and model files, against hydro-smash 1.3.0 on Cance.

Cance has no snow data: the module's fixture writes snowfall and temperature rasters in smash's
layout (one file per hourly step, the date in the name, the precipitation rasters' grid), with a
daily temperature cycle around 0 °C, snowfall when cold, nodata cells and a few missing files.
"""

from __future__ import annotations

import glob
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio

import hydrograd as hg
from hydrograd.calibration.objective import scheduled_forcing
from hydrograd.core.simulate import WavefrontForcing, forcing_fields, wavefront_forcing
from tests.simulation._random_maps import randomize

smash = pytest.importorskip("smash")

PERIOD = {"start_time": "2014-10-06 00:00", "end_time": "2014-10-16 00:00"}  # 240 hourly steps, two storms
MISSING_SNOW = (10, 11, 50)  # steps without a snowfall file
MISSING_TEMP = (20, 51, 52)  # steps without a temperature file
QUIET = {"verbose": False}
ITERATE = re.compile(r"At iterate\s+(\d+)\s+nfg =\s+(\d+)\s+J =\s+(\S+)")


@pytest.fixture(scope="module")
def snow_dirs(tmp_path_factory) -> dict[str, str]:
    """Snowfall in tenths of mm (int32, nodata 65535) in ``YYYY/MM/DD`` folders and temperature in
    °C (float32, nodata -9999) in ``YYYY/MM`` folders, on Cance's precipitation grid over ``PERIOD``:
    a daily cycle of 1 + 6 sin(2 pi h / 24) °C, 4 °C colder to the south, with noise; snowfall where
    colder than 1 °C; about 3 % nodata cells in each raster."""
    root = tmp_path_factory.mktemp("snow_data")
    setup, _ = smash.factory.load_dataset("Cance")
    template = sorted(glob.glob(f"{setup['prcp_directory']}/**/*.tif", recursive=True))[0]
    with rasterio.open(template) as src:
        profile = src.profile
    height, width = profile["height"], profile["width"]
    rng = np.random.default_rng(5)
    dates = pd.date_range(PERIOD["start_time"], PERIOD["end_time"], freq="3600s")[1:]
    for step, date in enumerate(dates):
        cycle = 1.0 + 6.0 * np.sin(2.0 * np.pi * step / 24.0)
        temp = cycle - 4.0 * (np.arange(height) / height)[:, None] + rng.normal(0.0, 1.0, (height, width))
        snow = np.rint(np.where(temp < 1.0, rng.gamma(0.5, 20.0, (height, width)), 0.0)).astype(np.int32)
        snow[rng.uniform(size=snow.shape) < 0.03] = 65535
        temp = temp.astype(np.float32)
        temp[rng.uniform(size=temp.shape) < 0.03] = -9999.0
        stamp = date.strftime("%Y%m%d%H%M")
        for kind, values, folder, missing, nodata in (
            ("snow", snow, f"{date:%Y/%m/%d}", MISSING_SNOW, 65535),
            ("temp", temp, f"{date:%Y/%m}", MISSING_TEMP, -9999.0),
        ):
            if step in missing:
                continue
            path = root / kind / folder / f"{kind}_{stamp}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            with rasterio.open(path, "w", **{**profile, "dtype": values.dtype.name, "nodata": nodata}) as dst:
                dst.write(values, 1)
    return {"snow": str(root / "snow"), "temp": str(root / "temp")}


def _setup(snow_dirs, mode: str, **extra) -> tuple[dict, dict]:
    """Cance's setup and mesh over ``PERIOD`` with ``ssn``: ``mode`` "unread" (no snow data),
    "read" (snowfall and temperature) or "partitioned" (and ``prcp_partitioning``)."""
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(PERIOD, snow_module="ssn", **extra)
    if mode != "unread":
        setup.update(
            read_snow=True,
            snow_directory=snow_dirs["snow"],
            snow_conversion_factor=0.1,
            read_temp=True,
            temp_directory=snow_dirs["temp"],
            temp_access="%Y/%m",
            prcp_partitioning=mode == "partitioned",
        )
    return setup, mesh


def _build(package, setup: dict, mesh: dict) -> tuple:
    """A model of ``package`` and the text of the warnings its building gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = package.Model(setup, mesh) if package is smash else package.Model(setup, mesh, verbose=False)
    return model, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def pairs(snow_dirs):
    """smash's and hydrograd's models (and warnings) by ``(storage, mode)``, built on demand."""
    built = {}

    def get(storage: str, mode: str):
        if (storage, mode) not in built:
            setup, mesh = _setup(snow_dirs, mode, sparse_storage=storage == "sparse")
            built[storage, mode] = (_build(smash, setup, mesh), _build(hg, setup, mesh))
        return built[storage, mode]

    return get


def _assert_float32_close(ours: np.ndarray, reference: np.ndarray, what: str, rounding: bool = False) -> None:
    """Same shape and dtype, and the same bits; with ``rounding``, a few values (at most 1 in
    10,000) may differ by float32 rounding of the partitioning (smash's ``exp`` is one unit in the
    last place off for about one value in 50,000; the rain is the total less the snow)."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype, what
    differ = ours.view(np.uint32) != reference.view(np.uint32)
    if not rounding:
        assert not differ.any(), f"{what}: {differ.sum()} values differ"
        return
    assert differ.mean() <= 1e-4, f"{what}: {differ.sum()} values differ"
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6, err_msg=what)


def _assert_same_sparse(ours, reference, what: str, rounding: bool = False) -> None:
    """The same matrices: headers and indices equal, values as :func:`_assert_float32_close`."""
    assert len(ours) == len(reference), what
    for step in range(len(reference)):
        a, b = ours[step], reference[step]
        assert (a.n, a.coo_fmt, a.zvalue) == (b.n, b.coo_fmt, b.zvalue), f"{what} step {step}"
        if a.coo_fmt:
            np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"{what} step {step}")
    if len(reference):
        values = [np.concatenate([m.values for m in series]) for series in (ours, reference)]
        _assert_float32_close(*values, what, rounding)


# ------------------------------------------------------------------------------- reading


@pytest.mark.parity
@pytest.mark.parametrize("storage", ["dense", "sparse"])
@pytest.mark.parametrize("mode", ["unread", "read", "partitioned"])
def test_atmos_data_matches_smash(pairs, storage, mode):
    (reference, ref_warnings), (ours, our_warnings) = pairs(storage, mode)
    # smash's reading warnings, word for word; the partitioning one in hydrograd's words
    assert [w for w in our_warnings if w.startswith("Warning(s)")] == [
        w for w in ref_warnings if w.startswith("Warning(s)")
    ]
    assert sum("partition" in w for w in our_warnings) == sum("partition" in w for w in ref_warnings)
    if mode != "unread":
        assert any(w.startswith("Warning(s) linked to snow reading.\nMissing warning: missing 3") for w in our_warnings)
    rounding = mode == "partitioned"
    for kind in ("prcp", "pet", "snow", "temp"):
        if storage == "dense":
            grid = getattr(ours.atmos_data, kind)
            assert grid.flags.f_contiguous
            _assert_float32_close(grid, getattr(reference.atmos_data, kind), kind, rounding)
        else:
            for model in (ours, reference):
                with pytest.raises(ValueError):
                    getattr(model.atmos_data, kind)
        series = f"sparse_{kind}"
        _assert_same_sparse(getattr(ours.atmos_data, series), getattr(reference.atmos_data, series), series, rounding)
        _assert_float32_close(
            getattr(ours.atmos_data, f"mean_{kind}"), getattr(reference.atmos_data, f"mean_{kind}"), kind, rounding
        )
    mean_snow = ours.atmos_data.mean_snow
    if mode == "unread":
        assert (mean_snow == -99).all()
    else:
        assert (mean_snow > 0).mean() > 0.2
    if mode == "partitioned":  # at the steps without a temperature file everything falls as rain
        np.testing.assert_array_equal(ours.atmos_data.mean_snow[:, list(MISSING_TEMP)], 0.0)


@pytest.mark.parity
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_a_model_without_snow_module_has_no_snow_arrays_as_smash(storage):
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(end_time="2014-09-16 00:00", sparse_storage=storage == "sparse")
    reference, ours = smash.Model(setup, mesh), hg.Model(setup, mesh, verbose=False)
    for model in (reference, ours):
        for name in ("snow", "temp", "mean_snow", "mean_temp"):
            with pytest.raises(ValueError):
                getattr(model.atmos_data, name)
        assert len(model.atmos_data.sparse_snow) == len(model.atmos_data.sparse_temp) == 0
    with pytest.raises(ValueError, match="no snow module"):
        ours.atmos_data.snow = np.zeros((ours.mesh.nrow, ours.mesh.ncol, ours.setup.ntime_step), np.float32)


def test_partitioning_snowfall_read_warns_and_setup_rules_hold(snow_dirs):
    setup, mesh = _setup(snow_dirs, "partitioned", end_time="2014-10-06 03:00")
    with pytest.warns(UserWarning, match="'prcp_partitioning' and 'read_snow' are both True"):
        hg.Model(setup, mesh, verbose=False)
    without_snow = {k: v for k, v in setup.items() if k not in ("read_snow", "snow_directory")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = hg.Model(without_snow, mesh, verbose=False)
    # the snowfall is the partitioning's alone: none of it is missing where the precipitation is known
    known = model.atmos_data.prcp >= 0
    assert (model.atmos_data.snow[known] >= 0).all() and (model.atmos_data.snow[~known] == -99).all()
    with pytest.raises(ValueError, match=r"'prcp_partitioning'.*'read_temp'"):
        hg.Model({**setup, "read_temp": False}, mesh, verbose=False)
    with pytest.raises(ValueError, match=r"'read_temp'.*snow module"):
        hg.Model({**without_snow, "snow_module": "zero", "prcp_partitioning": False}, mesh, verbose=False)


def test_snow_and_temperature_reach_the_core_only_where_they_can_melt(pairs):
    _, (unread, _) = pairs("dense", "unread")
    _, (read, _) = pairs("dense", "read")
    assert unread.core_inputs().forcing.snow is None and unread.core_inputs().forcing.temp is None
    forcing = read.core_inputs().forcing
    layout = read.layout
    np.testing.assert_array_equal(forcing.snow, layout.series_to_active(read.atmos_data.snow))
    np.testing.assert_array_equal(forcing.temp, layout.series_to_active(read.atmos_data.temp))
    # snowfall and temperature have missing values; ``complete`` is about rainfall and PET alone
    assert (np.asarray(forcing.snow) < 0).any() and forcing.complete
    # an unread model whose arrays are filled in by hand runs them, as smash does
    edited = unread.copy()
    edited.atmos_data.snow = read.atmos_data.snow
    edited.atmos_data.temp = read.atmos_data.temp
    assert edited.core_inputs().forcing.snow is not None


def test_scheduled_forcing_reorders_every_field(pairs):
    _, (ours, _) = pairs("dense", "partitioned")
    inputs = ours.core_inputs()
    scheduled = scheduled_forcing(inputs.structure, inputs.forcing, inputs.graph)
    assert isinstance(scheduled, WavefrontForcing)  # Cance's 240 steps run under the wavefront
    expected = forcing_fields(wavefront_forcing(inputs.forcing, inputs.graph, xp=np))
    got = forcing_fields(scheduled)
    assert list(got) == ["prcp", "pet", "snow", "temp"]
    for name, field in expected.items():
        np.testing.assert_array_equal(got[name], field, err_msg=name)


# ------------------------------------------------------------------------ runs and calibrations


def _assert_run_parity(reference, ours) -> None:
    """Discharge within 1e-4 of the reference's peak, final states within 1e-4 of their largest
    value, and a snow store that took some snow."""
    reference.forward_run(common_options=QUIET)
    ours.forward_run(common_options=QUIET)
    peak = np.abs(reference.response.q).max()
    np.testing.assert_allclose(ours.response.q, reference.response.q, rtol=0, atol=1e-4 * peak)
    active = ours.mesh.active_cell == 1
    for key in ours.rr_final_states.keys:
        expected = reference.get_rr_final_states(key)[active]
        scale = max(float(np.abs(expected).max()), 1e-6)
        got = ours.get_rr_final_states(key)[active]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * scale, err_msg=key)
    hs = ours.get_rr_final_states("hs")[active]
    assert hs.max() > 1.0 and (hs != ours.get_rr_initial_states("hs")[active]).any()


@pytest.mark.parity
@pytest.mark.parametrize(
    ("hydrological", "routing", "mode", "storage"),
    [
        ("gr4", "lr", "read", "dense"),
        ("gr4", "lr", "partitioned", "sparse"),
        ("gr6", "kw", "partitioned", "dense"),
        ("grd_mlp", "lag0", "partitioned", "dense"),
        ("loieau", "zero", "read", "sparse"),
    ],
)
def test_forward_run_matches_smash(snow_dirs, hydrological, routing, mode, storage):
    setup, mesh = _setup(
        snow_dirs, mode, hydrological_module=hydrological, routing_module=routing, sparse_storage=storage == "sparse"
    )
    (reference, _), (ours, _) = _build(smash, setup, mesh), _build(hg, setup, mesh)
    randomize(reference, ours, seed=len(hydrological) + len(routing))
    for model in (reference, ours):
        model.set_rr_parameters("kmlt", 2.0)
    if setup["hydrological_module"].endswith("mlp"):
        rng = np.random.default_rng(3)
        weights = [rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in ours.get_nn_parameters_weight()]
        for model in (reference, ours):
            model.set_nn_parameters_weight(value=weights)
    _assert_run_parity(reference, ours)


def _iterates(text: str) -> list[tuple[int, int, float]]:
    return [(int(i), int(n), float(j)) for i, n, j in ITERATE.findall(text)]


@pytest.mark.parity
def test_uniform_sbs_calibration_matches_smash(pairs, capsys):
    (reference, _), (ours, _) = pairs("dense", "partitioned")
    reference, ours = reference.copy(), ours.copy()
    options = {"termination_crit": {"maxiter": 3}}
    reference.optimize(optimize_options=options)
    ref_lines = _iterates(capsys.readouterr().out)
    ours.optimize(optimize_options=options)
    our_lines = _iterates(capsys.readouterr().out)
    assert len(our_lines) == len(ref_lines) == 4
    for (i, n, j), (ri, rn, rj) in zip(our_lines, ref_lines, strict=True):
        assert (i, n) == (ri, rn)
        assert f"{j:.4g}" == f"{rj:.4g}"
    for key in ("kmlt", "cp", "ct", "kexc", "llr"):
        expected = reference.get_rr_parameters(key)
        np.testing.assert_allclose(ours.get_rr_parameters(key), expected, rtol=1e-3, err_msg=key)
    np.testing.assert_allclose(ours.response.q, reference.response.q, rtol=0, atol=1e-3 * reference.response.q.max())


@pytest.mark.parity
def test_distributed_lbfgsb_calibration_follows_smash(pairs, capsys):
    (reference, _), (ours, _) = pairs("sparse", "partitioned")
    reference, ours = reference.copy(), ours.copy()
    options = {"termination_crit": {"maxiter": 4}}
    reference.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options=options)
    ref_lines = _iterates(capsys.readouterr().out)
    ours.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options=options)
    our_lines = _iterates(capsys.readouterr().out)
    assert [n for _, n, _ in our_lines] == [n for _, n, _ in ref_lines]
    np.testing.assert_allclose([j for *_, j in our_lines], [j for *_, j in ref_lines], rtol=2e-3)
    kmlt = ours.get_rr_parameters("kmlt")[ours.mesh.active_cell == 1]
    assert np.ptp(kmlt) > 0  # distributed: the melt coefficient now varies across the cells


# ------------------------------------------------------------------------------- model files


def _atmos_keys(path: Path) -> set[str]:
    with h5py.File(path) as h5:
        keys = set()
        h5["model/atmos_data"].visititems(lambda name, item: keys.add(name) if isinstance(item, h5py.Dataset) else None)
        return keys


@pytest.mark.parity
@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_model_files_hold_smash_s_snow_arrays_and_read_each_other(pairs, storage, tmp_path):
    (reference, _), (ours, _) = pairs(storage, "partitioned")
    hg.io.save_model(ours, str(tmp_path / "ours.hdf5"))
    smash.io.save_model(reference, str(tmp_path / "theirs.hdf5"))
    assert _atmos_keys(tmp_path / "ours.hdf5") == _atmos_keys(tmp_path / "theirs.hdf5")
    names = ["mean_prcp", "mean_pet", "mean_snow", "mean_temp"]
    if storage == "dense":
        names += ["prcp", "pet", "snow", "temp"]
    for source, reader, path in ((ours, smash.io.read_model, "ours"), (reference, hg.io.read_model, "theirs")):
        back = reader(str(tmp_path / f"{path}.hdf5"))
        for name in names:
            np.testing.assert_array_equal(getattr(back.atmos_data, name), getattr(source.atmos_data, name), name)
        if storage == "sparse":
            for kind in ("prcp", "pet", "snow", "temp"):
                series = f"sparse_{kind}"
                _assert_same_sparse(getattr(back.atmos_data, series), getattr(source.atmos_data, series), series)
    again = hg.io.read_model(str(tmp_path / "ours.hdf5"))
    ours.forward_run(common_options=QUIET)
    again.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(again.response.q, ours.response.q)


@pytest.mark.parametrize("storage", ["dense", "sparse"])
def test_an_ssn_model_file_without_snow_arrays_reads_them_as_missing(pairs, storage, tmp_path):
    """Model files hydrograd wrote for ``ssn`` before it read snow data lack the snow arrays; they
    held -99 then, and read back so (as ``smash.io.read_model`` leaves absent arrays)."""
    _, (ours, _) = pairs(storage, "unread")
    path = str(tmp_path / "old.hdf5")
    hg.io.save_model(ours, path)
    with h5py.File(path, "a") as h5:
        group = h5["model/atmos_data"]
        for name in ("snow", "temp", "sparse_snow", "sparse_temp", "mean_snow", "mean_temp"):
            if name in group:
                del group[name]
    back = hg.io.read_model(path)
    np.testing.assert_array_equal(back.atmos_data.mean_snow, ours.atmos_data.mean_snow)
    if storage == "dense":
        np.testing.assert_array_equal(back.atmos_data.temp, ours.atmos_data.temp)
    else:
        _assert_same_sparse(back.atmos_data.sparse_snow, ours.atmos_data.sparse_snow, "sparse_snow")
    with h5py.File(path, "a") as h5:
        h5["model/setup"].attrs["read_temp"] = 1
        h5["model/setup"].attrs["temp_directory"] = "somewhere"
    with pytest.raises(ValueError, match="atmos_data"):
        hg.io.read_model(path)
