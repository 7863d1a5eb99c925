"""The A/B of two source trees (``python -m benchmarks.ab``): ``--process`` rows from real fresh
processes of a user script (no wall-clock assertion)."""

from __future__ import annotations

import re

import pytest

from benchmarks import ab
from benchmarks.end_to_end import REPO
from tests._tiny import TINY_SCRIPT


@pytest.mark.slow
def test_process_rows_time_each_tree_on_its_own_script_runs(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY_SCRIPT)
    rows = ab.process_rows({"old": str(REPO), "new": str(REPO)}, "tiny", rounds=1, script=script)
    assert len(ab.PROCESS_HEADER.splitlines()[0].split(" | ")) == len(rows[0].split(" | "))
    for row, tree in zip(rows, ("old", "new"), strict=True):
        cells = [c.strip() for c in row[2:-2].split(" | ")]
        assert cells[:2] == ["tiny", tree]
        process, outside = float(cells[2]), float(cells[3])
        phases = dict(re.fullmatch(r"(\w+) ([\d.]+)", part).groups() for part in cells[4].split(", "))
        assert list(phases) == ["import", "build", "call", "close"]
        assert process == pytest.approx(outside + sum(map(float, phases.values())), abs=0.01)
        assert process > outside > 0
        assert float(cells[5]) > 0
    assert rows[0].endswith("| 1.00 |")
