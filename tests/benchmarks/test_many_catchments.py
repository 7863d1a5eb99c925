"""The many-catchments benchmark (``python -m benchmarks.many_catchments``): hydrograd and hydro-smash
get the same catchments from either source, and a batch run calibrates every one (no wall-clock
assertion)."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from benchmarks import many_catchments

smash = pytest.importorskip("smash", reason="the benchmark compares with hydro-smash==1.3.0 (a test dependency)")


@pytest.mark.parametrize("in_memory", [True, False])
def test_both_codes_get_the_same_catchments(in_memory, synthetic_region):
    builders = many_catchments._builders(2, in_memory, "2020-02-01")
    assert list(builders) == list(synthetic_region)[:2]
    for build in builders.values():
        ours, theirs = build(hydrograd.Model), build(smash.Model)
        assert ours.setup.ntime_step == theirs.setup.ntime_step == 31
        np.testing.assert_array_equal(ours.atmos_data.prcp, theirs.atmos_data.prcp)
        np.testing.assert_array_equal(ours.atmos_data.pet, theirs.atmos_data.pet)
        np.testing.assert_array_equal(ours.response_data.q, theirs.response_data.q)
        np.testing.assert_array_equal(ours.physio_data.descriptor, theirs.physio_data.descriptor)


def test_a_batch_run_calibrates_every_catchment():
    # _batch raises when a catchment's calibration failed
    assert many_catchments._batch(2, "lbfgsb", 1, in_memory=True, end_time="2020-02-01") > 0
