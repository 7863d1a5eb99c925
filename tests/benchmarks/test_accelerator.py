"""The accelerator check (``python -m benchmarks.accelerator``): its difference measure, and a case
checked against a reference file whose values were moved by a known amount (no wall-clock assertion)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import accelerator, accelerator_parts


def test_discharge_differences_are_relative_to_each_gauges_largest_value():
    reference = np.array([[1.0, 10.0], [0.001, 0.002]])
    values = reference + np.array([[0.0, 0.1], [0.0, 0.0001]])
    assert accelerator._relative(values, reference, "q") == pytest.approx(0.05)
    assert accelerator._relative(values, reference, "cost") == pytest.approx(0.01)


def test_a_shape_mismatch_names_the_result():
    with pytest.raises(ValueError, match="'q'"):
        accelerator._relative(np.zeros((2, 3)), np.zeros((3, 2)), "q")


def test_a_case_is_compared_with_each_reference_it_finds(tmp_path):
    import hydrograd

    q = accelerator.CASES["lez_forward"](hydrograd).run()["q"]
    moved = q.astype(np.float64).copy()
    moved[1] += 0.002 * np.abs(q[1]).max()
    path = tmp_path / "reference.npz"
    np.savez(path, **{"lez_forward/cpu/q": q, "lez_forward/smash/q": moved})
    row = accelerator.check_one("lez_forward", str(path))
    assert row["q vs cpu"] == 0.0
    assert row["q vs smash"] == pytest.approx(0.002 / 1.002, rel=1e-4)  # the moved series sets the scale
    assert row["first_s"] > 0 and row["median_s"] > 0
    assert accelerator._markdown(row).startswith("| Lez forward")


def test_flux_comparison_reports_each_flux_and_step(tmp_path):
    reference = {"qr@0": np.array([0.0, 1.0, 2.0], np.float32), "qt@0": np.array([1.0, 1.0, 1.0], np.float32)}
    other = {"qr@0": np.array([-4.66e-7, 1.0, 2.0], np.float32), "qt@0": np.array([1.0, 1.01, 1.0], np.float32)}
    np.savez(tmp_path / "a.npz", **reference)
    np.savez(tmp_path / "b.npz", **other)
    lines = accelerator_parts.compare_fluxes(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"))
    assert [line.split()[0] for line in lines] == ["qr@0", "qt@0"]
    assert "min -4.66e-07 / 0" in lines[0]
    assert "max rel 1.00e-02" in lines[1]


def test_small_work_times_each_job_once_compiled():
    lines = accelerator_parts.small_work(sizes=(2,))
    labels = [line.split(":")[0] for line in lines]
    assert labels == ["Lez forward_run", "Lez backward_run (dJ/dx, distributed)", "Lez multiple_forward_run, 2 sets"]
    for line in lines:
        first, median = (float(part.split()[-2]) for part in line.split(":", 1)[1].split(","))
        assert first > 0 and median > 0
