"""What the mesh tests compare with: smash's Cance gauges and a strict comparison of mesh dicts."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

# smash's Cance case (its documentation's example): outlets in Lambert-93 (EPSG:2154), areas in m2
CANCE = {
    "x": [840_261, 826_553, 828_269],
    "y": [6_457_807, 6_467_115, 6_469_198],
    "area": [381.7e6, 107e6, 25.3e6],
    "code": ["V3524010", "V3515010", "V3517010"],
}


def smash_generate_mesh(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """``smash.factory.generate_mesh`` with its warnings silenced (skipped without hydro-smash)."""
    smash = pytest.importorskip("smash")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smash.factory.generate_mesh(*args, **kwargs)


def assert_same_as_smash(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys in the same order, and for every key the same Python type, dtype, shape and value;
    for masked arrays also the same mask (dtype and values), fill value and underlying data."""
    assert list(ours) == list(theirs)
    for key, expected in theirs.items():
        got = ours[key]
        assert type(got) is type(expected), (key, type(got), type(expected))
        if not isinstance(expected, np.ndarray):
            assert got == expected, (key, got, expected)
            continue
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape), key
        np.testing.assert_array_equal(np.ma.getdata(got), np.ma.getdata(expected), err_msg=key)
        if isinstance(expected, np.ma.MaskedArray):
            assert got.mask.dtype == expected.mask.dtype, key
            np.testing.assert_array_equal(got.mask, expected.mask, err_msg=key)
            assert got.fill_value == expected.fill_value, key
            assert got.fill_value.dtype == expected.fill_value.dtype, key
