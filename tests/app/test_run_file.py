"""The run file of ``hydrograd run``: sections, mesh sources, paths, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hydrograd.app.run_file import read_run_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write(tmp_path: Path, content: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


BASE = {"mesh": {"dataset": "synthetic"}, "output": {"file": "out/results.nc"}}
REGION = {"catchments": {"dataset": "SyntheticRegion", "n": 2}, "output": {"folder": "out"}}


def test_relative_paths_are_relative_to_the_file_and_variables_expand(tmp_path, monkeypatch):
    monkeypatch.setenv("HG_TEST_DATA", "/data/somewhere")
    config = read_run_config(
        _write(
            tmp_path,
            {
                "setup": {"prcp_directory": "prcp", "qobs_directory": "${HG_TEST_DATA}/qobs", "dt": 3600},
                "mesh": {"flwdir": "flwdir.tif", "gauges": "/abs/gauges.csv", "max_depth": 2},
                "output": {"file": "out/results.nc", "states": True},
            },
        )
    )
    assert config.setup == {
        "prcp_directory": str(tmp_path / "prcp"),
        "qobs_directory": "/data/somewhere/qobs",
        "dt": 3600,
    }
    assert config.mesh.kind == "flwdir" and config.mesh.flwdir == tmp_path / "flwdir.tif"
    assert config.mesh.gauges == Path("/abs/gauges.csv") and config.mesh.max_depth == 2
    assert config.output.file == tmp_path / "out" / "results.nc" and config.output.states
    assert not config.output.q_domain and config.output.verbose and config.calibration is None


def test_dataset_names_and_calibration_defaults(tmp_path):
    config = read_run_config(_write(tmp_path, {**BASE, "calibration": {"mapping": "multi-linear"}}))
    assert config.mesh.kind == "dataset" and config.mesh.dataset == "Synthetic"
    assert config.calibration == {
        "mapping": "multi-linear",
        "optimizer": "lbfgsb",
        "optimize_options": None,
        "cost_options": None,
    }


def test_output_override_makes_the_output_section_optional(tmp_path):
    config = read_run_config(_write(tmp_path, {"mesh": {"file": "m.hdf5"}}), output=tmp_path / "x.nc")
    assert config.output.file == tmp_path / "x.nc" and config.mesh.file == tmp_path / "m.hdf5"


def test_a_batch_of_catchments_from_files(tmp_path):
    content = {
        "setup": {"prcp_directory": "prcp"},
        "catchments": {"files": {"A": {"mesh": "a/mesh.hdf5", "setup": {"pet_directory": "a/pet"}}}, "batch_size": 8},
        "calibration": {"mapping": "ann", "optimizer": "adam"},
        "output": {"folder": "results"},
    }
    content["catchments"]["validation"] = ["A"]
    config = read_run_config(_write(tmp_path, content))
    mesh_file, setup = config.catchments.files["A"]
    assert mesh_file == tmp_path / "a" / "mesh.hdf5" and setup == {"pet_directory": str(tmp_path / "a" / "pet")}
    assert config.setup == {"prcp_directory": str(tmp_path / "prcp")}
    assert config.catchments.batch_size == 8 and config.catchments.validation == ("A",)
    assert config.mesh is None and config.output.folder == tmp_path / "results" and config.output.file is None


def test_the_examples_are_valid_run_files():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        read_run_config(path)


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        ({**BASE, "calibraton": {}}, ValueError, "Did you mean 'calibration'"),
        ({**BASE, "mesh": {"dataset": "Synthetic", "flwdr": "x"}}, ValueError, "Did you mean 'flwdir'"),
        ({**BASE, "output": {"file": "x.nc", "state": True}}, ValueError, "Did you mean 'states'"),
        ({**BASE, "calibration": {"optimiser": "sbs"}}, ValueError, "Did you mean 'optimizer'"),
        ({**BASE, "calibration": {"optimizer": "lbfgs"}}, ValueError, "Did you mean 'lbfgsb'"),
        ({**BASE, "calibration": {"mapping": "ann", "optimizer": "sbs"}}, ValueError, "cannot serve mapping 'ann'"),
        ({**BASE, "mesh": {"dataset": "Lezz"}}, ValueError, "Did you mean 'Lez'"),
        ({**BASE, "mesh": {"dataset": "Lez", "file": "m.hdf5"}}, ValueError, "exactly one source"),
        ({**BASE, "mesh": {}}, ValueError, "exactly one source"),
        ({**BASE, "mesh": {"flwdir": "f.tif"}}, ValueError, "needs 'gauges'"),
        ({**BASE, "mesh": {"file": "m.hdf5", "gauges": "g.csv"}}, ValueError, "only serve a mesh generated"),
        ({**BASE, "mesh": {"flwdir": "f.tif", "gauges": "g.csv", "epsg": "2154"}}, TypeError, "'epsg' must be"),
        ({"output": {"file": "x.nc"}}, ValueError, "exactly one of the sections 'mesh'"),
        ({**BASE, "catchments": {"dataset": "SyntheticRegion", "n": 2}}, ValueError, "exactly one of the sections"),
        (REGION | {"catchments": {"dataset": "SyntheticRegion"}}, ValueError, "'n' must be a positive integer"),
        (REGION | {"catchments": {"dataset": "Lez", "n": 2}}, ValueError, "catchments 'dataset'"),
        (REGION | {"catchments": {"n": 2}}, ValueError, "exactly one source"),
        (REGION | {"catchments": {"files": {"A": {"setup": {}}}}}, ValueError, "'mesh' .* is missing"),
        (REGION | {"catchments": {"files": {"A": {"mesh": "m", "setpu": {}}}}}, ValueError, "mean .setup."),
        (REGION | {"catchments": {"dataset": "SyntheticRegion", "n": 2, "batchsize": 4}}, ValueError, "batch_size"),
        (REGION | {"output": {"file": "x.nc"}}, ValueError, "'file' does not serve a run with 'catchments'"),
        (
            REGION | {"catchments": {"dataset": "SyntheticRegion", "n": 2, "validation": ["SYN-1"]}},
            ValueError,
            "mapping: ann",
        ),
        ({"mesh": {"dataset": "Lez"}}, ValueError, "section 'output' is missing"),
        ({**BASE, "output": {"states": True}}, ValueError, "'file'"),
        ({**BASE, "output": {"file": "x.nc", "engine": "netcdf"}}, ValueError, "Did you mean 'netcdf4'"),
        ({**BASE, "output": {"file": "x.nc", "states": "yes"}}, TypeError, "states"),
        ({**BASE, "setup": ["gr4"]}, TypeError, "section 'setup' must be a mapping"),
        ({**BASE, "calibration": {"cost_options": "all"}}, TypeError, "'cost_options' must be a mapping"),
    ],
)
def test_mistakes_are_refused_with_the_fix(tmp_path, content, error, match):
    with pytest.raises(error, match=match):
        read_run_config(_write(tmp_path, content))


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No run file"):
        read_run_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("mesh: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        read_run_config(bad)
    bad.write_text("- a list")
    with pytest.raises(ValueError, match="must hold a mapping"):
        read_run_config(bad)
