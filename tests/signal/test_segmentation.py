"""Hydrograph segmentation against smash's on its Lez (daily) and Cance (hourly) data."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

import hydrograd
from hydrograd import signal as seg
from hydrograd.config.signal_options import EventSeg

smash = pytest.importorskip("smash")

SETTINGS = [
    {},
    {"peak_quant": 0.99},
    {"peak_quant": 0.9, "max_duration": 120},
    {"peak_quant": 0.5, "max_duration": 48},
    {"peak_quant": 0, "peak_value": 5},
]


@pytest.fixture(scope="module", params=["Lez", "Cance"])
def pair(request):
    setup, mesh = smash.factory.load_dataset(request.param)
    reference = smash.Model(setup, mesh)
    setup, mesh = hydrograd.factory.load_dataset(request.param)
    ours = hydrograd.Model(setup, mesh, verbose=False)
    return reference, ours


def _assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(got.astype(str), expected.reset_index(drop=True).astype(str))


@pytest.mark.parity
def test_observed_segmentation_matches_smash(pair):
    reference, ours = pair
    for options in SETTINGS:
        expected = smash.hydrograph_segmentation(reference, **options)
        got = hydrograd.hydrograph_segmentation(ours, **options)
        assert len(got) > 0
        _assert_same_frame(got, expected)


@pytest.mark.parity
def test_segmentation_by_simulation_and_gauge_selection_match_smash(pair):
    reference, ours = pair
    reference.forward_run(common_options={"verbose": False})
    ours.response.q = reference.response.q.copy()  # same series: compares segmentation alone
    code = str(ours.mesh.code[-1])
    for options in ({"by": "sim", "peak_quant": 0.95}, {"gauge": "dws"}, {"gauge": [code], "peak_quant": 0.9}):
        expected = smash.hydrograph_segmentation(reference, **options)
        _assert_same_frame(hydrograd.hydrograph_segmentation(ours, **options), expected)


@pytest.mark.parity
def test_cost_event_mask_matches_smash(pair):
    from smash.core.signal_analysis.segmentation._tools import _mask_event

    reference, ours = pair
    codes = list(ours.mesh.code)
    for options in ({}, {"peak_quant": 0.9, "max_duration": 96}):
        expected = _mask_event(reference, np.array(codes[:2]), **options)
        settings = tuple(options.get(k, getattr(EventSeg, k)) for k in ("peak_quant", "peak_value", "max_duration"))
        mask, n_event = seg.event_mask(ours.response_data.q, ours.atmos_data.mean_prcp, ours.setup.dt, [0, 1], settings)
        np.testing.assert_array_equal(mask, expected["mask"].astype(np.int32))
        np.testing.assert_array_equal(n_event, expected["n"].astype(np.int32))
        assert n_event[2] == 0 and not mask[2].any()


@pytest.mark.parity
def test_numpy_baseflow_matches_smash_bit_for_bit_on_lez(pair):
    fsig = pytest.importorskip("smash.fcore._mwd_signatures")
    _, ours = pair
    for q in ours.response_data.q:
        known = q[q >= 0][:400]
        base, quick = np.zeros_like(known), np.zeros_like(known)
        fsig.baseflow_separation(known, base, quick, 0.925, 3)
        got_base, got_quick = seg.baseflow_separation(known)
        np.testing.assert_allclose(got_base, base, rtol=1e-6)
        np.testing.assert_allclose(got_quick, quick, rtol=1e-6, atol=1e-6 * known.max())
    for short in (np.array([2.0], np.float32), np.array([2.0, 1.0], np.float32)):
        base, quick = np.zeros_like(short), np.zeros_like(short)
        fsig.baseflow_separation(short, base, quick, 0.925, 3)
        got_base, got_quick = seg.baseflow_separation(short)
        np.testing.assert_allclose(got_base, base, rtol=1e-6)
        np.testing.assert_allclose(got_quick, quick, rtol=1e-6)


def test_missing_data_and_no_peak():
    q = np.full(50, -99.0, np.float32)
    assert seg.flood_events(np.ones(50, np.float32), q, 3600.0) == []
    flat = np.ones(50, np.float32)
    assert seg.flood_events(np.ones(50, np.float32), flat, 3600.0) == []


def test_seasons():
    expected = {(3, 20): "winter", (3, 21): "spring", (6, 21): "summer", (9, 23): "autumn", (12, 21): "winter"}
    for (month, day), name in expected.items():
        assert seg.season(datetime.date(2001, month, day)) == name


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"peak_quant": 1.2}, ValueError, "peak_quant"),
        ({"peak_quant": "x"}, TypeError, "peak_quant"),
        ({"peak_value": -3}, ValueError, "peak_value"),
        ({"max_duration": 0}, ValueError, "max_duration"),
        ({"by": "simulatoin"}, ValueError, "Did you mean 'simulation'"),
        ({"gauge": "Y320404"}, ValueError, "Did you mean"),
        ({"gauge": 3}, TypeError, "gauge"),
    ],
)
def test_bad_arguments(pair, options, error, message):
    _, ours = pair
    with pytest.raises(error, match=message):
        hydrograd.hydrograph_segmentation(ours, **options)
