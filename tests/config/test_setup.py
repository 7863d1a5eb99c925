"""Setup validation: derived sizes, time axis, defaults and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hydrograd.config.setup import DEFAULT_SETUP, Setup

BASE = {"start_time": "2020-01-01", "end_time": "2020-01-03", "dt": 3600}


def test_derived_attributes():
    s = Setup({**BASE, "routing_module": "kw"})
    assert s.ntime_step == 48
    assert s.structure == "zero-gr4-kw"
    assert (s.nrrp, s.nrrs, s.nqz) == (6, 3, 2)
    assert s.start_time == "2020-01-01 00:00"
    index = s.time_index()
    assert index[0] == pd.Timestamp("2020-01-01 01:00") and index[-1] == pd.Timestamp("2020-01-03")
    assert len(index) == s.ntime_step


def test_defaults_and_round_trip():
    s = Setup(dict(BASE))
    assert s.hydrological_module == "gr4" and s.routing_module == "lr" and s.snow_module == "zero"
    assert s.prcp_directory == "..." and s.nd == 0
    again = Setup({k: v for k, v in s.to_dict().items() if k in DEFAULT_SETUP})
    assert again.to_dict() == s.to_dict()


def test_hidden_neuron_accepts_any_depth():
    np.testing.assert_array_equal(Setup({**BASE, "hidden_neuron": 12}).hidden_neuron, [12, 0])
    np.testing.assert_array_equal(Setup({**BASE, "hidden_neuron": (8, 4, 2)}).hidden_neuron, [8, 4, 2])


def test_module_names_are_case_insensitive():
    assert Setup({**BASE, "routing_module": "LR"}).routing_module == "lr"


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"start_time": None}, ValueError, "'start_time' must be given"),
        ({"start_time": "not a date"}, ValueError, "not a valid date"),
        ({"end_time": "2019-12-31"}, ValueError, "later than 'start_time'"),
        ({"dt": -5}, ValueError, "greater than 0"),
        ({"dt": 86400 * 10}, ValueError, "less than one time step"),
        ({"read_prcp": True}, ValueError, "'prcp_directory' must be given"),
        ({"read_prcp": 2}, TypeError, "read_prcp"),
        ({"prcp_format": "grib"}, ValueError, "prcp_format"),
        ({"hidden_neuron": 0}, ValueError, "positive layer sizes"),
        ({"snow_module": "ssm"}, ValueError, "snow_module"),
        ({"read_descriptor": True, "descriptor_directory": "."}, ValueError, "descriptor_name"),
        ({"qobs_dir": "x"}, ValueError, "Did you mean 'qobs_directory'"),
    ],
)
def test_bad_setup(extra, error, match):
    with pytest.raises(error, match=match):
        Setup({**BASE, **extra})
