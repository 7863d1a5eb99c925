"""The example scripts run and write non-trivial figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _non_trivial(path: Path) -> None:
    assert path.is_file()
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path.name} looks blank"


@pytest.mark.usefixtures("data_root")
def test_learnable_regionalization_figures(tmp_path):
    _run("learnable_regionalization.py", str(tmp_path), "--maxiter", "3")
    for name in ("loss_descent.png", "maps_mlp.png", "maps_cnn.png"):
        _non_trivial(tmp_path / name)


@pytest.mark.usefixtures("data_root")
def test_hybrid_states_figure(tmp_path):
    _run("hybrid_states.py", str(tmp_path), "--maxiter", "3")
    _non_trivial(tmp_path / "states_compare.png")


@pytest.mark.usefixtures("data_root")
def test_backward_chaining_matches_finite_differences():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "backward_chaining.py")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert float(lines["dL/dcp (backward_run)"]) != 0.0
    assert float(lines["relative difference"]) < 1e-3
