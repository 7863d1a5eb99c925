"""The embedded synthetic catchment: determinism, network, descriptors, truth, forcings, discharge, cache."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hydrograd._process import CACHE_ENV
from hydrograd.factory import synthetic
from hydrograd.factory.dataset import load_dataset
from hydrograd.formats.mesh import read_mesh
from hydrograd.formats.setup import read_setup
from hydrograd.mesh.graph import catchment_masks, downstream_cell
from hydrograd.model import Model


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, synthetic.SyntheticTruth]:
    folder = tmp_path_factory.mktemp("synthetic") / "data"
    return folder, synthetic.generate_synthetic(folder)


@pytest.fixture(scope="module")
def folder(generated) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def truth(generated) -> synthetic.SyntheticTruth:
    return generated[1]


def _setup(folder: Path) -> dict:
    setup = read_setup(folder / "setup_Synthetic.yaml")
    for key in ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory"):
        setup[key] = str(folder / setup[key])
    return setup


@pytest.fixture(scope="module")
def mesh(folder) -> dict:
    return read_mesh(str(folder / "mesh_Synthetic.hdf5"))


@pytest.fixture(scope="module")
def model(folder, mesh) -> Model:
    return Model(_setup(folder), mesh, verbose=False)


@pytest.fixture(scope="module")
def truth_model(folder, mesh) -> Model:
    model = Model(synthetic.truth_setup(_setup(folder)), mesh, verbose=False)
    synthetic.set_truth(model)
    return model


@pytest.fixture(scope="module")
def fields():
    return synthetic.generate_fields(synthetic.DEFAULT_SEED)


def _window(mesh: dict) -> tuple[slice, slice]:
    """Rows and columns of the terrain grid that the (trimmed) mesh grid covers."""
    row0 = round((synthetic.YMAX - float(mesh["ymax"])) / synthetic.CELL_SIZE)
    col0 = round((float(mesh["xmin"]) - synthetic.XMIN) / synthetic.CELL_SIZE)
    return slice(row0, row0 + int(mesh["nrow"])), slice(col0, col0 + int(mesh["ncol"]))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ---- generation ----------------------------------------------------------------------------


def test_regeneration_is_bit_identical(folder, tmp_path):
    again = tmp_path / "again"
    synthetic.generate_synthetic(again)
    names = _files(folder)
    assert names == _files(again)
    assert len([n for n in names if n.startswith("prcp/")]) == 731
    _, mismatch, errors = filecmp.cmpfiles(folder, again, names, shallow=False)
    assert mismatch == [] and errors == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == synthetic.DEFAULT_SEED
    assert sorted(manifest["files"]) == [n for n in names if n != "manifest.json"]


def test_seeds_give_different_catchments(fields):
    other = synthetic.generate_fields(synthetic.DEFAULT_SEED + 1)
    assert not np.array_equal(other.terrain.flwdir, fields.terrain.flwdir)
    assert not np.array_equal(other.prcp, fields.prcp)


def test_generation_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        synthetic.generate_synthetic(tmp_path)


# ---- network -------------------------------------------------------------------------------


def test_gauges_are_the_outlet_the_main_stem_and_disjoint_headwaters(mesh):
    assert list(mesh["code"]) == list(synthetic.GAUGES)
    area = np.asarray(mesh["area"], dtype=np.float64)
    np.testing.assert_allclose(mesh["area_dln"], area)
    assert np.all(np.diff(area) <= 0), "codes are numbered by decreasing area"
    masks = catchment_masks(mesh["flwdir"], np.asarray(mesh["gauge_pos"]))
    active = np.asarray(mesh["active_cell"]) == 1
    assert masks[0][active].all() and all(masks[0][tuple(pos)] for pos in mesh["gauge_pos"])
    for stem in (1, 2):
        nested = [g for g in range(3, len(area)) if masks[stem][tuple(mesh["gauge_pos"][g])]]
        assert nested, f"main-stem gauge {stem} holds no headwater gauge"
    heads = masks[3:]
    cells = [int(m.sum()) for m in heads]
    low, high = synthetic.HEADWATER_CELLS
    assert all(low <= c <= high for c in cells), cells
    covered = np.sum(heads, axis=0)
    assert covered.max() == 1, "headwater catchments overlap"
    assert covered.sum() >= 0.7 * active.sum(), "headwaters leave most of the basin ungauged"


def test_validation_gauges_are_headwaters_calibration_never_sees(mesh):
    codes = list(mesh["code"])
    assert set(synthetic.CALIBRATION_GAUGES) | set(synthetic.VALIDATION_GAUGES) == set(codes)
    assert not set(synthetic.CALIBRATION_GAUGES) & set(synthetic.VALIDATION_GAUGES)
    masks = catchment_masks(mesh["flwdir"], np.asarray(mesh["gauge_pos"]))
    validation = [codes.index(c) for c in synthetic.VALIDATION_GAUGES]
    calibration = [codes.index(c) for c in synthetic.CALIBRATION_GAUGES]
    assert min(validation) >= 3, "validation gauges are headwaters"
    for v in validation:
        inside = [codes[c] for c in calibration if masks[v][tuple(mesh["gauge_pos"][c])]]
        assert inside == [], f"{codes[v]} drains calibration gauges {inside}"
    assert 0 in calibration, "the outlet is calibrated"


def test_every_active_cell_drains_to_the_outlet(mesh):
    active = np.asarray(mesh["active_cell"]) == 1
    assert 400 <= int(mesh["nac"]) == int(active.sum()) <= 700
    drow, dcol = downstream_cell(mesh["flwdir"])
    outlet = tuple(mesh["gauge_pos"][int(np.argmax(mesh["area"]))])
    for row, col in zip(*np.nonzero(active), strict=True):
        for _ in range(active.size):
            if (row, col) == outlet:
                break
            row, col = drow[row, col], dcol[row, col]
            assert row >= 0 and active[row, col], "flow path leaves the active cells before the outlet"
        else:
            pytest.fail("flow path loops")


def test_gauge_attributes_match_the_mesh(folder, mesh):
    import pandas as pd

    table = pd.read_csv(folder / "gauge_attributes.csv")
    assert list(table.columns) == ["code", "x", "y", "area"]
    assert list(table["code"]) == list(mesh["code"])
    np.testing.assert_allclose(table["area"] * 1e6, mesh["area"])
    rows = ((float(mesh["ymax"]) - table["y"]) // float(mesh["yres"])).astype(int)
    cols = ((table["x"] - float(mesh["xmin"])) // float(mesh["xres"])).astype(int)
    np.testing.assert_array_equal(np.column_stack([rows, cols]), mesh["gauge_pos"])


# ---- descriptors and truth -----------------------------------------------------------------


def test_descriptors_have_spatial_structure(model):
    names = list(model.setup.descriptor_name)
    assert len(names) >= 6 and len(set(names)) == len(names)
    active = model.mesh.active_cell == 1
    pair = active[:, :-1] & active[:, 1:]
    values = []
    for i, name in enumerate(names):
        d = model.physio_data.descriptor[..., i]
        assert np.all(np.isfinite(d[active])) and np.all(d[active] > -99), name
        neighbour = np.corrcoef(d[:, :-1][pair], d[:, 1:][pair])[0, 1]
        assert neighbour > 0.5, f"{name}: neighbour correlation {neighbour:.2f}"
        values.append(d[active])
    corr = np.abs(np.corrcoef(values))
    off = corr[~np.eye(len(names), dtype=bool)]
    assert off.max() > 0.4, "descriptors are all unrelated"
    assert off.max() < 0.95, "two descriptors are nearly the same"


def test_truth_inside_bounds_and_explained_by_descriptors(model, truth):
    active = model.mesh.active_cell == 1
    maps = synthetic.descriptor_maps(model)
    X = np.column_stack([maps[n][active] for n in synthetic.DESCRIPTORS] + [np.ones(active.sum())])
    bounds = {**model.get_rr_parameters_bounds(), **model.get_rr_initial_states_bounds()}
    computed = {**synthetic.true_parameters(maps), **synthetic.true_initial_states(maps)}
    assert set(computed) == {"cp", "ct", "kexc", "llr", "hp", "ht"}
    for name, value in {**truth.parameters, **truth.initial_states}.items():
        np.testing.assert_array_equal(value[active], computed[name][active])
        v = value[active]
        low, high = synthetic.TRUTH_RANGES[name]
        assert bounds[name][0] <= low < v.min() and v.max() < high <= bounds[name][1], name
        assert v.std() > 0.1 * (high - low), f"{name} barely varies"
        fit = np.linalg.lstsq(X, v, rcond=None)[0]
        r2 = 1 - np.var(v - X @ fit) / np.var(v)
        assert r2 > 0.6, f"{name} is unrelated to the descriptors (R2 {r2:.2f})"
        if name in truth.parameters:
            assert r2 < 0.99, f"{name} is a linear function of the descriptors (R2 {r2:.4f})"


def test_true_flux_correction_is_infiltration_excess_and_saturation():
    from hydrograd.core.structures.hybrid import mlp

    weights, biases = synthetic.true_network()
    assert [w.shape for w in weights] == [(synthetic.TRUE_HIDDEN_NEURONS, 4), (4, synthetic.TRUE_HIDDEN_NEURONS)]
    features = np.array([[0.5, 0.3, 0.0, 2.0], [0.5, 0.3, 50.0, 2.0], [0.5, 1.0, 0.0, 2.0]], dtype=np.float32)
    fq = np.asarray(mlp(weights, biases, features.T)).T
    assert abs(fq[0, 0]) < 0.1 and -0.85 < fq[1, 0] < -0.7, "infiltration falls on intense rainfall"
    assert abs(fq[0, 2]) < 0.15 and 0.5 < fq[2, 2] < 0.65, "direct flow grows when the transfer store is full"
    np.testing.assert_array_equal(fq[:, [1, 3]], 0.0)


def test_plain_gr4_with_the_true_maps_misses_the_correction(model, truth):
    plain = model.copy()
    synthetic.set_truth(plain)
    plain.forward_run(common_options={"verbose": False})
    nse = _nse(plain.response.q.astype(np.float64), truth.q.astype(np.float64))
    assert nse.min() > 0.5 and np.median(nse) < 0.97, nse


def test_set_truth_refuses_a_network_of_another_shape(folder, mesh):
    other = Model({**synthetic.truth_setup(_setup(folder)), "hidden_neuron": 5}, mesh, verbose=False)
    with pytest.raises(ValueError, match="truth_setup"):
        synthetic.set_truth(other)


def test_truth_needs_every_descriptor():
    maps = {n: np.zeros((2, 2)) for n in synthetic.DESCRIPTORS[1:]}
    with pytest.raises(KeyError, match="elevation"):
        synthetic.true_parameters(maps)


# ---- forcings and discharge ----------------------------------------------------------------


def test_forcings_read_back_equal_the_generated_ones(model, mesh, fields):
    rows, cols = _window(mesh)
    assert model.setup.ntime_step == len(fields.dates) == 731
    np.testing.assert_array_equal(model.atmos_data.prcp, np.moveaxis(fields.prcp[:, rows, cols], 0, -1))
    np.testing.assert_array_equal(model.atmos_data.pet, np.moveaxis(fields.pet[:, rows, cols], 0, -1))
    for name, values in synthetic.descriptor_maps(model).items():
        np.testing.assert_array_equal(values, fields.descriptors[name][rows, cols])


def _nse(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    return 1 - ((sim - obs) ** 2).sum(axis=1) / ((obs - obs.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)


def test_truth_reproduces_the_discharge(model, truth_model, truth):
    run = truth_model.copy()
    run.forward_run(common_options={"verbose": False})
    np.testing.assert_allclose(run.response.q, truth.q, rtol=1e-5)
    assert np.all(truth.q > 0)

    qobs = model.response_data.q
    observed = qobs >= 0
    missing_per_gauge = (~observed).sum(axis=1)
    assert np.all(qobs[~observed] == -99)
    assert 2 <= np.count_nonzero(missing_per_gauge) < len(qobs)
    assert 0 < (~observed).mean() < 0.05
    log_error = np.log(qobs[observed] / truth.q[observed])
    sigma = synthetic.NOISE_SIGMA
    assert np.abs(log_error).max() <= 3 * sigma + 0.5 * sigma**2 + 1e-4
    assert 0.7 * sigma < log_error.std() < 1.3 * sigma


def test_rainfall_has_storms_and_dry_spells(model):
    active = model.mesh.active_cell == 1
    prcp = model.atmos_data.prcp[active]  # (nac, T) mm/day
    assert prcp.min() >= 0
    mean = prcp.mean(axis=0)
    wet = mean >= 0.1
    assert 0.25 <= wet.mean() <= 0.45
    dry_runs = np.diff(np.flatnonzero(np.concatenate([[True], wet, [True]]))) - 1
    assert dry_runs.max() >= 10 and np.count_nonzero(dry_runs >= 7) >= 10
    assert 600 <= mean.sum() / 2 <= 1500, "annual rainfall (mm)"
    assert mean.max() > 25 and prcp.max() > 50, "no storm"
    stormy = mean > 10
    spread = prcp[:, stormy].std(axis=0) / mean[stormy]
    assert np.median(spread) > 0.15, "storm fields are nearly uniform"


def test_pet_is_seasonal(model):
    active = model.mesh.active_cell == 1
    pet = model.atmos_data.pet[active].mean(axis=0)
    months = model.setup.time_index().month
    assert np.all(pet > 0)
    assert pet[months == 1].mean() < 1.2
    assert 4.0 < pet[months == 7].mean() < 6.0
    elevation = synthetic.descriptor_maps(model)["elevation"][active]
    assert np.corrcoef(elevation, model.atmos_data.pet[active].mean(axis=1))[0, 1] < -0.9


# ---- cache and load_dataset ----------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return synthetic.cache_directory()


def _fake_generation(source: Path, calls: list):
    def fake(directory, seed=synthetic.DEFAULT_SEED, *, verbose=False):
        calls.append(Path(directory))
        shutil.copytree(source, directory, dirs_exist_ok=True)

    return fake


def test_load_dataset_serves_a_cached_copy(folder, mesh, cache, monkeypatch):
    assert cache.name == f"synthetic-v{synthetic.VERSION}"
    shutil.copytree(folder, cache)
    calls: list = []
    monkeypatch.setattr(synthetic, "generate_synthetic", _fake_generation(folder, calls))
    setup, served = load_dataset("synthetic")
    assert calls == []
    for key in ("qobs_directory", "prcp_directory", "pet_directory", "descriptor_directory"):
        assert Path(setup[key]).is_absolute() and Path(setup[key]).is_dir()
        assert Path(setup[key]).parent == cache
    assert setup["hydrological_module"] == "gr4" and setup["routing_module"] == "lr"
    np.testing.assert_array_equal(served["flwdir"], mesh["flwdir"])
    np.testing.assert_array_equal(served["gauge_pos"], mesh["gauge_pos"])


def test_incomplete_cache_is_regenerated(folder, cache, monkeypatch):
    shutil.copytree(folder, cache)
    victim = sorted(cache.glob("prcp/**/*.tif"))[100]
    victim.unlink()
    assert not synthetic.is_complete(cache)
    calls: list = []
    monkeypatch.setattr(synthetic, "generate_synthetic", _fake_generation(folder, calls))
    synthetic.load_synthetic()
    assert len(calls) == 1 and calls[0].parent == cache.parent and calls[0] != cache
    assert victim.is_file() and synthetic.is_complete(cache)
    assert sorted(p.name for p in cache.parent.iterdir()) == [cache.name]


def test_interrupted_generation_leaves_nothing(cache, monkeypatch):
    def interrupted(directory, seed=synthetic.DEFAULT_SEED, *, verbose=False):
        (Path(directory) / "flwdir.tif").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "generate_synthetic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        synthetic.load_synthetic()
    assert not cache.exists()
    assert list(cache.parent.iterdir()) == []


def test_load_synthetic_generates_into_an_empty_cache(cache):
    setup, mesh = synthetic.load_synthetic()
    assert synthetic.is_complete(cache)
    model = Model(setup, mesh, verbose=False)
    assert list(model.mesh.code) == list(synthetic.GAUGES) and np.any(model.response_data.q > 0)


@pytest.mark.parity
def test_smash_reads_the_same_inputs_and_discharge(folder, mesh, model, truth):
    smash = pytest.importorskip("smash")
    reference = smash.Model(synthetic.truth_setup(_setup(folder)), mesh)
    np.testing.assert_array_equal(reference.atmos_data.prcp, model.atmos_data.prcp)
    np.testing.assert_array_equal(reference.atmos_data.pet, model.atmos_data.pet)
    np.testing.assert_array_equal(reference.physio_data.descriptor, model.physio_data.descriptor)
    np.testing.assert_array_equal(reference.response_data.q, model.response_data.q)
    names = [str(n) for n in reference.setup.descriptor_name]
    maps = {n: reference.physio_data.descriptor[..., i] for i, n in enumerate(names)}
    for name, value in synthetic.true_parameters(maps).items():
        reference.set_rr_parameters(name, value)
    for name, value in synthetic.true_initial_states(maps).items():
        reference.set_rr_initial_states(name, value)
    weights, biases = synthetic.true_network()
    reference.set_nn_parameters_weight(weights)
    reference.set_nn_parameters_bias(biases)
    reference.forward_run()
    np.testing.assert_allclose(reference.response.q, truth.q, rtol=1e-4, atol=1e-4)
