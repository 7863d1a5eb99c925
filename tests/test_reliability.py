"""One case per row of the README's reliability table: each class of bad input gets the exception
the table promises, with a message naming the key, argument or file."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash
from tests._tiny import tiny_mesh, tiny_setup

QUIET = {"verbose": False}


@pytest.fixture(scope="module")
def model():
    m = smash.Model(tiny_setup(48), tiny_mesh(), verbose=False)
    m.atmos_data.prcp[...] = 2.0
    m.atmos_data.pet[...] = 0.5
    m.response_data.q[...] = 1.0
    return m


def _mesh(**changes):
    return {**tiny_mesh(), **changes}


CASES = {
    "unknown setup key": (
        lambda m: smash.Model({**tiny_setup(), "hydrological_modul": "gr4"}, tiny_mesh()),
        ValueError,
        "Did you mean 'hydrological_module'",
    ),
    "unknown mesh key": (lambda m: smash.Model(tiny_setup(), _mesh(flwdirr=1)), ValueError, "Did you mean 'flwdir'"),
    "unknown option key": (
        lambda m: m.forward_run(return_options={"q_domian": True}),
        ValueError,
        "Did you mean 'q_domain'",
    ),
    "unknown termination_crit key": (
        lambda m: m.optimize(optimize_options={"termination_crit": {"maxiterr": 2}}, common_options=QUIET),
        ValueError,
        "Did you mean 'maxiter'",
    ),
    "unknown name": (lambda m: m.get_rr_parameters("cpp"), ValueError, "Did you mean 'cp'"),
    "unknown routing module": (
        lambda m: smash.Model(tiny_setup(routing_module="lrr"), tiny_mesh()),
        ValueError,
        "Did you mean 'lr'",
    ),
    "wrong type: text for a number": (
        lambda m: smash.Model({**tiny_setup(), "dt": "daily"}, tiny_mesh()),
        TypeError,
        "setup key 'dt'",
    ),
    "wrong type: text array": (
        lambda m: m.set_rr_parameters("cp", np.array(["big"])),
        TypeError,
        "must hold numbers",
    ),
    "wrong type: not a Model": (lambda m: smash.evaluation(None), TypeError, "hydrograd.Model"),
    "not finite": (
        lambda m: m.forward_run(cost_options={"wgauge": [np.inf]}),
        ValueError,
        "'wgauge'.*finite",
    ),
    "out of range": (
        lambda m: m.optimize(optimize_options={"termination_crit": {"maxiter": 1.5}}, common_options=QUIET),
        ValueError,
        "'maxiter' must be a non-negative integer",
    ),
    "capacity of 0": (lambda m: m.set_rr_parameters("cp", 0.0), ValueError, "feasible domain"),
    "beyond single precision": (lambda m: m.set_rr_parameters("ct", 1e40), ValueError, "single-precision"),
    "NaN on an active cell": (
        lambda m: m.set_rr_initial_states("hp", np.full((2, 3), np.nan)),
        ValueError,
        "NaN or inf",
    ),
    "wrong shape": (lambda m: m.set_rr_parameters("cp", np.ones((3, 3))), ValueError, r"shape \(2, 3\)"),
    "not a date": (lambda m: smash.evaluation(m, start_eval=3.5), TypeError, "start_eval must be a date"),
    "date outside the period": (
        lambda m: m.forward_run(cost_options={"end_warmup": "2021-01-01"}),
        ValueError,
        "end_warmup",
    ),
    "end before start": (
        lambda m: smash.Model(tiny_setup(end_time="2019-12-31"), tiny_mesh()),
        ValueError,
        "later than 'start_time'",
    ),
    "nac not the active cells": (lambda m: smash.Model(tiny_setup(), _mesh(nac=5)), ValueError, "'nac'"),
    "gauge outside the grid": (
        lambda m: smash.Model(tiny_setup(), _mesh(gauge_pos=np.array([[4, 0]]))),
        ValueError,
        "outside the grid",
    ),
    "looping flow directions": (
        lambda m: smash.Model(tiny_setup(), _mesh(flwdir=np.array([[3, 7, 5], [3, 3, 3]], dtype=np.int32))),
        ValueError,
        "loop",
    ),
    "flwacc below the drained area": (
        lambda m: smash.Model(tiny_setup(), _mesh(flwacc=np.full((2, 3), 1e6, np.float32))),
        ValueError,
        "'flwacc' must hold drained areas",
    ),
    "repeated gauge codes": (
        lambda m: smash.Model(
            tiny_setup(), _mesh(ng=2, gauge_pos=np.array([[1, 2], [0, 2]]), code=np.array(["G", "G"]), area=np.ones(2))
        ),
        ValueError,
        "'code' must name each gauge once",
    ),
    "missing folder": (
        lambda m: smash.Model(tiny_setup(read_prcp=True, prcp_directory="/nonexistent/prcp"), tiny_mesh()),
        FileNotFoundError,
        "/nonexistent/prcp",
    ),
    "missing file": (lambda m: smash.io.read_model("/nonexistent/model.hdf5"), FileNotFoundError, "model.hdf5"),
    "incompatible mapping and optimizer": (
        lambda m: m.optimize(mapping="distributed", optimizer="sbs"),
        ValueError,
        "cannot serve mapping 'distributed'",
    ),
    "NetCDF input": (
        lambda m: smash.Model(tiny_setup(read_pet=True, pet_directory=".", pet_format="nc"), tiny_mesh()),
        ValueError,
        "pet_format",
    ),
    "network setter on a conceptual structure": (
        lambda m: m.set_nn_parameters_weight(),
        ValueError,
        "no flux-correction network",
    ),
    "callback without iopt": (lambda m: m.optimize(callback=lambda x: None), ValueError, "'iopt'"),
    "callback not callable": (lambda m: m.optimize(callback=3), TypeError, "callback must be callable"),
    "unsavable value": (
        lambda m: smash.io.save_setup({"dt": object()}, "setup.yaml"),
        TypeError,
        "setup key 'dt'",
    ),
    "path that is a folder": (lambda m: smash.io.save_setup({"dt": 3600}, "."), ValueError, "is a directory"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_class_of_bad_input_gets_a_named_error(model, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, error, match = CASES[case]
    m = model.copy()
    before = m.rr_parameters.values.copy()
    with pytest.raises(error, match=match):
        call(m)
    np.testing.assert_array_equal(m.rr_parameters.values, before)
    assert list(tmp_path.iterdir()) == []
