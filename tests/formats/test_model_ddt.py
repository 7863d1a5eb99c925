"""The model_ddt layout from a model's saved contents: which groups are written, text widths,
every network layer."""

from __future__ import annotations

import dataclasses

import numpy as np

import hydrograd as hg
from hydrograd.formats.model_ddt import DDT_KEYS, ddt_groups, read_model_ddt, write_model_ddt
from tests._tiny import tiny_mesh, tiny_setup


def test_atmos_data_is_written_only_with_snow_inputs(tmp_path):
    saved = hg.Model(tiny_setup(), tiny_mesh(), verbose=False).to_saved()
    assert "atmos_data" not in ddt_groups(saved)
    snow = np.full((1, 24), 0.5, dtype=np.float32)
    with_snow = dataclasses.replace(saved, atmos_data={**saved.atmos_data, "mean_snow": snow, "mean_temp": -snow})
    path = write_model_ddt(with_snow, tmp_path / "snow")
    assert path == str(tmp_path / "snow.hdf5")
    atmos = read_model_ddt(path)["atmos_data"]
    assert sorted(atmos) == sorted(DDT_KEYS["atmos_data"])
    np.testing.assert_array_equal(atmos["mean_temp"], -snow)
    np.testing.assert_array_equal(atmos["mean_prcp"], saved.atmos_data["mean_prcp"])


def test_long_codes_are_kept_and_every_layer_is_written(tmp_path):
    mesh = {**tiny_mesh(), "code": np.array(["G" * 130])}
    setup = tiny_setup(hydrological_module="gr4_mlp", hidden_neuron=[4, 3, 2])
    model = hg.Model(setup, mesh, verbose=False)
    path = write_model_ddt(model.to_saved(), tmp_path / "ddt.hdf5")
    ddt = read_model_ddt(path)
    assert ddt["mesh"]["code"].tolist() == ["G" * 130] and ddt["mesh"]["code"].dtype == np.dtype("<U130")
    assert sorted(ddt["nn_parameters"]) == sorted(vars(model.nn_parameters))
    for key, value in vars(model.nn_parameters).items():
        np.testing.assert_array_equal(ddt["nn_parameters"][key], value, err_msg=key)
