"""The command line: help text and the demo."""

from __future__ import annotations

import pytest

from hydrograd.cli import main


def test_help_lists_the_demo(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_demo_reports_nse_per_gauge_and_improves_it(capsys):
    main(["demo", "--maxiter", "15"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("SYN")]
    assert len(rows) == 6
    before = [float(r[1]) for r in rows]
    after = [float(r[2]) for r in rows]
    assert sum(after) > sum(before)
    assert "demo finished" in out


def test_demo_rejects_a_bad_iteration_count(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--maxiter", "0"])
    assert "--maxiter" in capsys.readouterr().err
