"""Setup YAML files: round trips, the format_version comment, and smash's files read as they are."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import yaml

from hydrograd.config.setup import Setup
from hydrograd.formats._hdf5 import FORMAT_VERSION
from hydrograd.io import read_setup, save_setup
from tests._tiny import tiny_setup


def test_round_trip_and_version_comment(tmp_path):
    setup = tiny_setup(hydrological_module="gr5", hidden_neuron=np.array([8, 4]), end_time=datetime.date(2020, 1, 3))
    path = tmp_path / "setup.yaml"
    save_setup(setup, path)
    text = path.read_text()
    assert text.splitlines()[0] == f"# hydrograd setup, format_version: {FORMAT_VERSION}"
    again = read_setup(path)
    # a date comes back as YAML reads it, a datetime.date, as smash's read_setup returns it
    assert again == {**setup, "hidden_neuron": [8, 4], "end_time": datetime.date(2020, 1, 3)}
    assert Setup(again).to_dict() == Setup(setup).to_dict()
    assert yaml.safe_load(text) == again


def test_validated_setup_round_trips(tmp_path):
    setup = Setup(tiny_setup(routing_module="kw", descriptor_tfm="keep"))
    save_setup(setup.to_dict(), tmp_path / "s.yaml")
    assert Setup(read_setup(tmp_path / "s.yaml")).to_dict() == setup.to_dict()


def test_smash_files_without_the_comment_are_read(lez_dir):
    setup = read_setup(lez_dir / "setup_Lez.yaml")
    assert setup["hydrological_module"] == "gr4"


@pytest.mark.parametrize(("stamp", "match"), [(FORMAT_VERSION + 1, "newer than this hydrograd"), ("x1", "unknown")])
def test_unknown_versions_are_refused(tmp_path, stamp, match):
    path = tmp_path / "setup.yaml"
    path.write_text(f"# hydrograd setup, format_version: {stamp}\ndt: 3600\n")
    with pytest.raises(ValueError, match=match):
        read_setup(path)


def test_an_unsavable_value_is_named_and_the_previous_file_kept(tmp_path):
    path = tmp_path / "setup.yaml"
    save_setup(tiny_setup(), path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="setup key 'dt' holds a object"):
        save_setup({**tiny_setup(), "dt": object()}, path)
    with pytest.raises(ValueError, match="is a directory"):
        save_setup(tiny_setup(), tmp_path)
    assert path.read_bytes() == before
