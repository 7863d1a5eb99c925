"""Public ``signatures`` against ``smash.signatures`` on Lez (daily) and Cance (hourly)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hydrograd

smash = pytest.importorskip("smash")


@pytest.fixture(scope="module", params=["Lez", "Cance"])
def pair(request):
    setup, mesh = smash.factory.load_dataset(request.param)
    reference = smash.Model(setup, mesh)
    reference.forward_run(common_options={"verbose": False})
    setup, mesh = hydrograd.factory.load_dataset(request.param)
    ours = hydrograd.Model(setup, mesh, verbose=False)
    ours.response.q = reference.response.q.copy()  # same simulation: compares the signatures alone
    return reference, ours


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    expected = expected.reset_index(drop=True)
    numeric = [c for c in expected.columns if c[0] in "CE" and c != "code"]
    for column in expected.columns.difference(numeric):
        assert got[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
    np.testing.assert_allclose(got[numeric].to_numpy(float), expected[numeric].to_numpy(float), rtol=2e-6, atol=1e-9)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("domain", "event_seg"),
    [("obs", None), ("sim", {"peak_quant": 0.9, "by": "sim"}), ("obs", {"peak_quant": 0.5, "max_duration": 72})],
)
def test_signatures_match_smash(pair, domain, event_seg):
    reference, ours = pair
    expected = smash.signatures(reference, domain=domain, event_seg=None if event_seg is None else dict(event_seg))
    got = hydrograd.signatures(ours, domain=domain, event_seg=event_seg)
    _assert_same(got.cont, expected.cont)
    _assert_same(got.event, expected.event)


@pytest.mark.parity
def test_signature_subsets_and_no_event_rows_match_smash(pair):
    reference, ours = pair
    code = str(ours.mesh.code[0])
    for kwargs in (
        {"sign": "crc"},
        {"sign": ["Epf", "Cfp90", "ELT"], "gauge": code},
        {"event_seg": {"peak_value": 1e6}},
    ):
        expected = smash.signatures(reference, **kwargs)
        got = hydrograd.signatures(ours, **kwargs)
        _assert_same(got.cont, expected.cont)
        _assert_same(got.event, expected.event)


def test_result_object(pair):
    _, ours = pair
    result = hydrograd.signatures(ours, sign=["Crc", "Epf"])
    assert list(result.cont.columns) == ["code", "Crc"]
    assert list(result.event.columns) == ["code", "season", "start", "end", "multipeak", "Epf"]
    assert "cont" in repr(result) and "event" in repr(result)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sign": "Crcc"}, ValueError, "Crcc.*Did you mean 'Crc'"),
        ({"sign": ["Crc", "Epff"]}, ValueError, "Epff"),
        ({"sign": 3}, TypeError, "sign"),
        ({"domain": "observd"}, ValueError, "Did you mean 'observed'"),
        ({"event_seg": {"peak_quantt": 0.9}}, ValueError, "peak_quantt.*Did you mean 'peak_quant'"),
        ({"event_seg": {"by": "both"}}, ValueError, "both"),
        ({"event_seg": {"max_duration": -1}}, ValueError, "max_duration"),
        ({"event_seg": 0.9}, TypeError, "event_seg"),
    ],
)
def test_bad_arguments(pair, kwargs, error, message):
    _, ours = pair
    with pytest.raises(error, match=message):
        hydrograd.signatures(ours, **kwargs)
