"""The command line: help texts, and the demo's report and figures (a quick run; the full run's
targets are checked with HYDROGRAD_FULL_DEMO=1)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hydrograd.app.cli import main
from hydrograd.app.demo import MODELS, QUICK, REGIONALIZED, DemoSettings, format_report, run_demo
from hydrograd.factory import synthetic


def test_help_documents_both_commands(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "run CONFIG.yaml" in out and "netCDF" in out


def test_run_help_documents_the_config_file(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for key in ("setup:", "mesh:", "calibration:", "output:", "flwdir:", "gauges:", "dataset:", "states:"):
        assert key in out, key


def test_demo_without_a_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2 and "COMMAND" in capsys.readouterr().err


def _non_trivial(path) -> None:
    assert path.is_file()
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path.name} looks blank"


def test_quick_demo_reports_and_draws(tmp_path, capsys):
    main(["demo", "--quick", "--output", str(tmp_path / "figures")])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("SYN")]
    assert [r[0] for r in rows] == list(synthetic.GAUGES)
    assert [r[1] for r in rows] == ["val" if c in synthetic.VALIDATION_GAUGES else "cal" for c in synthetic.GAUGES]
    assert all(len(r) == 2 + len(MODELS) for r in rows)
    assert "correlation of the learned maps" in out and "demo finished in" in out
    for name in ("hydrographs.png", "maps.png", "loss.png"):
        _non_trivial(tmp_path / "figures" / name)


def test_report_layout():
    codes = ["A", "B", "C"]
    result_nse = {m: np.array([0.1, 0.2, 0.3]) + i for i, m in enumerate(MODELS)}
    from hydrograd.app.demo import DemoResult

    result = DemoResult(codes, np.array([False, True, False]), result_nse)
    result.correlation = {m: {k: 0.5 for k in ("cp", "ct", "kexc", "llr", "hp", "ht")} for m in REGIONALIZED}
    result.timings = {"total": 1.0}
    report = format_report(result)
    assert result.mean_nse("default", validation=True) == pytest.approx(0.2)
    assert result.mean_nse("GR4", validation=False) == pytest.approx(1.2)
    assert "    B        val" in report and "mean val" in report and "cp" in report


@pytest.mark.slow
def test_full_demo_meets_the_targets(tmp_path):
    result = run_demo(tmp_path, DemoSettings())
    for name in ("cp", "ct"):
        assert result.correlation["MLP hyb"][name] >= 0.8, (name, result.correlation)
    assert result.mean_nse("GR4_MLP", validation=True) > result.mean_nse("GR4", validation=True)
    assert result.mean_nse("MLP hyb", validation=True) > result.mean_nse("MLP GR4", validation=True)


def test_quick_settings_run_every_step():
    assert all(value >= 1 for value in (QUICK.sbs_maxiter, QUICK.hybrid_maxiter, QUICK.mlp_maxiter, QUICK.cnn_maxiter))
