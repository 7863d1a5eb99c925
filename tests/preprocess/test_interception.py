"""Pre-processing parity with smash 1.3.0: interception capacity (sub-daily) and the mean
atmospheric series per gauge."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydrograd.preprocess import adjust_interception_capacity, interception, mean_atmos_per_gauge
from hydrograd.preprocess.interception import _fma32, _interception_totals, capacity_candidates

smash = pytest.importorskip("smash")

# smash's D8 convention: the neighbour at (row + ROW_STEP[i], col + COL_STEP[i]) drains into the
# cell when its flow direction is i + 1.
ROW_STEP = (1, 1, 0, -1, -1, -1, 0, 1)
COL_STEP = (0, -1, -1, -1, 0, 1, 1, 1)


def upstream_masks(flwdir: np.ndarray, gauge_pos: np.ndarray) -> np.ndarray:
    """``(ng, nrow, ncol)``: each gauge's cell and every cell draining to it."""
    nrow, ncol = flwdir.shape
    masks = np.zeros((len(gauge_pos), nrow, ncol), dtype=bool)
    for g, (row, col) in enumerate(gauge_pos):
        stack = [(int(row), int(col))]
        while stack:
            r, c = stack.pop()
            masks[g, r, c] = True
            for i, (dr, dc) in enumerate(zip(ROW_STEP, COL_STEP, strict=True)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < nrow and 0 <= cc < ncol and flwdir[rr, cc] == i + 1 and not masks[g, rr, cc]:
                    stack.append((rr, cc))
    return masks


def period(model) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    s = model.setup
    return pd.Timestamp(s.start_time), pd.Timestamp(s.end_time), s.dt


@pytest.fixture(scope="module")
def cance():
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(read_qobs=False, read_descriptor=False)
    return smash.Model(setup, mesh)


@pytest.fixture(scope="module")
def lez(lez_dir: Path):
    setup = smash.io.read_setup(str(lez_dir / "setup_Lez.yaml"))
    setup.update(
        read_qobs=False,
        read_descriptor=False,
        prcp_directory=str(lez_dir / "prcp"),
        pet_directory=str(lez_dir / "pet"),
    )
    return smash.Model(setup, smash.io.read_mesh(str(lez_dir / "mesh_Lez.hdf5")))


# ------------------------------------------------------------------------------ interception capacity


@pytest.mark.parity
def test_cance_hourly_capacity_matches_smash(cance):
    ci = adjust_interception_capacity(
        cance.atmos_data.prcp, cance.atmos_data.pet, cance.mesh.active_cell, *period(cance)
    )
    assert ci.dtype == np.float32 and ci.shape == (cance.mesh.nrow, cance.mesh.ncol)
    np.testing.assert_array_equal(ci, cance.get_rr_parameters("ci"))
    assert (ci[cance.mesh.active_cell == 1] >= np.float32(0.1)).all()
    assert (ci[cance.mesh.active_cell == 0] == np.float32(1e-6)).all()


@pytest.mark.parity
def test_capacity_fitted_in_chunks_on_threads_matches_smash(cance, monkeypatch):
    """A large mesh is fitted in chunks of cells, several at once on threads: same map."""
    threads = set()
    fit = interception._fit

    def recorded(*args):
        threads.add(threading.current_thread())
        return fit(*args)

    monkeypatch.setattr(interception, "_CELL_CHUNK", 97)
    monkeypatch.setattr(interception, "_fit", recorded)
    ci = adjust_interception_capacity(
        cance.atmos_data.prcp, cance.atmos_data.pet, cance.mesh.active_cell, *period(cance)
    )
    np.testing.assert_array_equal(ci, cance.get_rr_parameters("ci"))
    assert threading.main_thread() not in threads and 1 <= len(threads) <= (os.cpu_count() or 1)


@pytest.mark.parity
def test_capacity_on_synthetic_rain_matches_smash(cance):
    from smash.core.model._build_model import _adjust_interception

    model = cance.copy()
    rng = np.random.default_rng(3)
    shape = model.atmos_data.prcp.shape
    prcp = np.where(rng.random(shape) < 0.15, np.round(rng.gamma(0.6, 2.0, shape), 1), 0).astype(np.float32)
    prcp[rng.random(shape) < 0.01] = -99.0
    model.atmos_data.prcp[...] = prcp
    _adjust_interception(model.setup, model.mesh, model._input_data, model._parameters)

    ci = adjust_interception_capacity(prcp, model.atmos_data.pet, model.mesh.active_cell, *period(model))
    np.testing.assert_array_equal(ci, model.get_rr_parameters("ci"))


@pytest.mark.parity
def test_capacity_on_rain_repeated_over_blocks_of_cells_matches_smash(cance):
    """Forcing from a coarser grid repeats over neighbouring cells, which then take one fit."""
    from smash.core.model._build_model import _adjust_interception

    model = cance.copy()
    rng = np.random.default_rng(5)
    nrow, ncol, ntime = model.atmos_data.prcp.shape
    coarse = (-(-nrow // 3), -(-ncol // 3), ntime)
    rain = np.where(rng.random(coarse) < 0.2, np.round(rng.gamma(0.6, 2.0, coarse), 1), 0).astype(np.float32)
    prcp = np.repeat(np.repeat(rain, 3, axis=0), 3, axis=1)[:nrow, :ncol]
    prcp[0, 0, :5] = -99.0
    model.atmos_data.prcp[...] = prcp
    _adjust_interception(model.setup, model.mesh, model._input_data, model._parameters)

    active = model.mesh.active_cell == 1
    source = interception._same_series_source(prcp, model.atmos_data.pet, active)
    assert np.count_nonzero(source[np.flatnonzero(active)] != np.flatnonzero(active)) > active.sum() // 2
    ci = adjust_interception_capacity(prcp, model.atmos_data.pet, model.mesh.active_cell, *period(model))
    np.testing.assert_array_equal(ci, model.get_rr_parameters("ci"))


def test_cells_take_the_fit_of_a_neighbour_only_when_their_series_are_the_same_bits():
    rng = np.random.default_rng(6)
    prcp = np.repeat(rng.random((4, 3, 5), dtype=np.float32), 2, axis=1)  # pairs of equal columns
    pet = np.ones_like(prcp)
    prcp[2, :, 3] = 0.0
    prcp[2, 1, 3] = -0.0  # equal as numbers, not as bits
    pet[3, 4, 0] = 2.0
    active = np.ones(prcp.shape[:2], bool)
    active[0, 2] = False
    source = interception._same_series_source(prcp, pet, active)
    series = np.concatenate([prcp, pet], axis=2).reshape(-1, 10).view(np.int32)
    cells = np.flatnonzero(active)
    assert (source[source] == source).all() and active.flat[source[cells]].all()
    assert (series[source[cells]] == series[cells]).all()
    assert source[2 * 6 + 1] == 2 * 6 + 1  # -0.0 is not 0.0
    assert source[3 * 6 + 5] == 3 * 6 + 5 and source[3 * 6 + 4] == 3 * 6 + 4  # PET differs
    assert source[0 * 6 + 3] == 0 * 6 + 3  # its left neighbour, the same series, is inactive
    assert source[0 * 6 + 1] == 0 and source[1 * 6 + 5] == 1 * 6 + 4  # pairs of equal columns
    assert np.count_nonzero(source[cells] != cells) >= 8


def test_skipped_steps_change_nothing():
    """Steps without rain nor PET are skipped; the totals equal those of a run through every step."""
    rng = np.random.default_rng(4)
    ncell, ntime = 200, 300
    prcp = np.where(rng.random((ncell, ntime)) < 0.2, rng.gamma(0.8, 3.0, (ncell, ntime)), 0).astype(np.float32)
    pet = np.where(np.arange(ntime) % 24 < 12, rng.uniform(0, 0.3, (ncell, ntime)), 0).astype(np.float32)
    pet[rng.random((ncell, ntime)) < 0.02] = -99.0
    ci = capacity_candidates()

    level = np.zeros((ncell, ci.size), dtype=np.float32)
    expected = np.zeros_like(level)
    for t in range(ntime):
        p, e = prcp[:, t, None], pet[:, t, None]
        valid = (p >= 0) & (e >= 0)
        ei = np.minimum(e, _fma32(level, ci, p))
        pn = np.maximum(_fma32(-(np.float32(1) - level), ci, p) - ei, np.float32(0))
        expected += np.where(valid, e - (e - ei), np.float32(0))
        level = np.where(valid, level + ((p - ei) - pn) / ci, level)
    assert (level > 1).any()  # the case where an idle step still moves the store
    np.testing.assert_array_equal(_interception_totals(prcp, pet, ci), expected)


def test_capacity_with_missing_data_and_given_default(cance):
    prcp = cance.atmos_data.prcp.copy()
    prcp[:5, :5, 100:300] = -99.0
    default = np.full(cance.mesh.active_cell.shape, 7.0, dtype=np.float32)
    ci = adjust_interception_capacity(
        prcp, cance.atmos_data.pet, cance.mesh.active_cell, *period(cance), default_ci=default
    )
    assert (ci[cance.mesh.active_cell == 0] == 7.0).all()
    assert np.isin(ci[cance.mesh.active_cell == 1], capacity_candidates()).all()


def test_capacity_rejects_mismatched_shapes(cance):
    with pytest.raises(ValueError, match=r"expected \(nrow, ncol, ntime_step\) = \(\*active_cell.shape, 1440\)"):
        adjust_interception_capacity(
            cance.atmos_data.prcp[..., :-1],
            cance.atmos_data.pet[..., :-1],
            cance.mesh.active_cell,
            *period(cance),
        )


@pytest.fixture(scope="module")
def ours_cance():
    """hydrograd's Cance models, dense and sparse storage, built without adjusting ``ci``."""
    import hydrograd

    setup, mesh = hydrograd.factory.load_dataset("Cance")
    setup.update(read_qobs=False, read_descriptor=False, adjust_interception=False)
    return [hydrograd.Model({**setup, "sparse_storage": s}, mesh, verbose=False) for s in (False, True)]


@pytest.mark.parity
def test_model_adjust_interception_matches_smash(cance, ours_cance):
    """``Model.adjust_interception`` from a capacity set by hand: smash's map on the active cells
    (the others keep 7 mm), then on every cell; with sparse storage too (active cells only)."""
    reference = cance.copy()
    reference.set_rr_parameters("ci", 7.0)
    with contextlib.redirect_stdout(io.StringIO()):
        reference.adjust_interception()
        active_only = reference.get_rr_parameters("ci").copy()
        reference.adjust_interception(active_cell_only=False)
        every_cell = reference.get_rr_parameters("ci").copy()
    assert (active_only[cance.mesh.active_cell == 0] == 7.0).all()
    for model in ours_cance:
        model = model.copy()
        model.set_rr_parameters("ci", 7.0)
        model.adjust_interception()
        np.testing.assert_array_equal(model.get_rr_parameters("ci"), active_only)
    dense = ours_cance[0].copy()
    dense.adjust_interception(active_cell_only=False)
    np.testing.assert_array_equal(dense.get_rr_parameters("ci"), every_cell)
    with pytest.raises(ValueError, match="sparse storage"):
        ours_cance[1].copy().adjust_interception(active_cell_only=False)


def test_capacity_candidates():
    candidates = capacity_candidates()
    assert candidates.dtype == np.float32 and candidates.size == 29
    np.testing.assert_allclose(candidates, np.arange(1, 30) / 10, rtol=1e-6)


def _round_to_float32(x: Fraction) -> np.float32:
    """Correctly rounded (nearest, ties to even) float32 of an exact rational."""
    guess = np.float32(float(x))
    below = np.nextafter(guess, np.float32(-np.inf))
    above = np.nextafter(guess, np.float32(np.inf))
    best = min((below, guess, above), key=lambda v: (abs(Fraction(float(v)) - x), int(v.view(np.int32)) & 1))
    return np.float32(best)


def test_fma32_rounds_once():
    # a * b = 2^-24 + 2^-60: 1 + a * b lies just above the midpoint between 1 and the next float32,
    # but a float64 sum rounds it onto the midpoint and a second rounding would give 1.
    a, b = np.float32(4097 * 2.0**-12), np.float32(16773121 * 2.0**-48)
    assert _fma32(a, b, np.float32(1)) == np.nextafter(np.float32(1), np.float32(2))

    rng = np.random.default_rng(1)
    x, y, z = (rng.uniform(-3, 3, 500).astype(np.float32) for _ in range(3))
    expected = [
        _round_to_float32(Fraction(float(p)) * Fraction(float(q)) + Fraction(float(r)))
        for p, q, r in zip(x, y, z, strict=True)
    ]
    np.testing.assert_array_equal(_fma32(x, y, z), np.array(expected, dtype=np.float32))


# --------------------------------------------------------------------------------- mean per gauge


@pytest.mark.parity
@pytest.mark.parametrize("name", ["lez", "cance"])
def test_mean_per_gauge_matches_smash(name, request):
    model = request.getfixturevalue(name)
    masks = upstream_masks(model.mesh.flwdir, model.mesh.gauge_pos)
    mean_prcp = mean_atmos_per_gauge(model.atmos_data.prcp, masks)
    mean_pet = mean_atmos_per_gauge(model.atmos_data.pet, masks, kind="pet")
    assert mean_prcp.dtype == np.float32 and mean_prcp.shape == (model.mesh.ng, model.setup.ntime_step)
    np.testing.assert_array_equal(mean_prcp, model.atmos_data.mean_prcp)
    np.testing.assert_array_equal(mean_pet, model.atmos_data.mean_pet)


def test_mean_per_gauge_skips_missing_values():
    field = np.array([[[1.0, -99.0, np.nan], [2.0, -99.0, 5.0]], [[3.0, -99.0, 4.0], [9.0, -99.0, 1.0]]])
    masks = np.array([[[True, True], [True, False]], [[False, False], [False, False]]])
    mean = mean_atmos_per_gauge(field.astype(np.float32), masks)
    np.testing.assert_array_equal(mean, np.float32([[2.0, -99.0, 4.5], [-99.0, -99.0, -99.0]]))

    temp = np.full((2, 2, 1), -5.0, dtype=np.float32)
    temp[0, 0, 0] = -99.0
    np.testing.assert_array_equal(mean_atmos_per_gauge(temp, masks[:1], kind="temp"), np.float32([[-5.0]]))


def test_mean_per_gauge_bad_input():
    field = np.zeros((2, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(1, 3, 2\).*expected \(ng, 2, 3\)"):
        mean_atmos_per_gauge(field, np.ones((1, 3, 2), dtype=bool))
    with pytest.raises(ValueError, match="'rain'"):
        mean_atmos_per_gauge(field, np.ones((1, 2, 3), dtype=bool), kind="rain")
