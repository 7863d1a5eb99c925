"""The synthetic region in memory: the same catchments as on files, cut periods, a cache that
regenerates what is damaged and never leaves a half-written catchment."""

from __future__ import annotations

import numpy as np
import pytest

from hydrograd import Model
from hydrograd._process import CACHE_ENV
from hydrograd.factory import region
from hydrograd.factory.region import InMemoryCatchment, region_in_memory


@pytest.fixture(scope="module")
def in_memory() -> dict[str, InMemoryCatchment]:
    return region_in_memory(3, verbose=False)


def test_the_same_catchments_as_on_files(in_memory, synthetic_region):
    assert list(in_memory) == list(synthetic_region)
    for name, catchment in in_memory.items():
        on_files = Model(*synthetic_region[name], verbose=False)
        model = catchment.model()
        for key in ("flwdir", "gauge_pos", "active_cell", "area", "code"):
            np.testing.assert_array_equal(np.asarray(model.mesh.__dict__[key]), np.asarray(on_files.mesh.__dict__[key]))
        np.testing.assert_array_equal(model.atmos_data.prcp, on_files.atmos_data.prcp)
        np.testing.assert_array_equal(model.atmos_data.pet, on_files.atmos_data.pet)
        np.testing.assert_array_equal(model.physio_data.descriptor, on_files.physio_data.descriptor)
        # the truth of the region in memory runs in one batch, on files one catchment at a time
        np.testing.assert_allclose(model.response_data.q, on_files.response_data.q, rtol=2e-5, atol=1e-6)
        assert (model.response_data.q == -99).sum() == (on_files.response_data.q == -99).sum() > 0


def test_a_cut_period_is_the_first_steps_of_the_whole(in_memory):
    cut = region_in_memory(3, end_time="2020-06-30", verbose=False)
    for name, whole in in_memory.items():
        part = cut[name]
        steps = part.prcp.shape[-1]
        assert steps == 181 and part.setup["end_time"] == "2020-06-30"
        np.testing.assert_array_equal(part.prcp, whole.prcp[..., :steps])
        np.testing.assert_array_equal(part.qobs, whole.qobs[:, :steps])
        model = part.model()
        assert model.setup.ntime_step == steps
        model.forward_run(common_options={"verbose": False})
        assert np.all(np.isfinite(model.response.q)) and model.response.q.max() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "positive int number of catchments"),
        ({"n": 2.0}, "positive int number of catchments"),
        ({"n": 1, "end_time": "2030-01-01"}, "outside the region's period"),
        ({"n": 1, "end_time": "not a date"}, "end_time must be a date"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        region_in_memory(verbose=False, **kwargs)


def test_a_damaged_cache_is_regenerated_and_an_interrupted_one_leaves_nothing(tmp_path, monkeypatch, in_memory):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = region_in_memory(1, verbose=False)["SYN-1"]
    folder = region._region_folder(1)
    (folder / "qobs.npy").unlink()

    def interrupted(new):
        raise KeyboardInterrupt

    monkeypatch.setattr(region, "_simulate_truth", interrupted)
    with pytest.raises(KeyboardInterrupt):
        region_in_memory(1, verbose=False)
    assert [p.name for p in folder.parent.iterdir()] == ["seed1"]  # no scratch folder left
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    again = region_in_memory(1, verbose=False)["SYN-1"]
    np.testing.assert_array_equal(again.qobs, first.qobs)
    np.testing.assert_array_equal(again.qobs, in_memory["SYN-1"].qobs)
