"""The end-to-end benchmark (``python -m benchmarks --end-to-end`` / ``--breakdown``): its scripts,
its interval arithmetic, and well-formed rows from real fresh processes (no wall-clock assertion)."""

from __future__ import annotations

import math
import re

import pytest

from benchmarks import end_to_end
from benchmarks._script_driver import phases, union_length
from benchmarks.workloads import WORKLOADS
from tests._tiny import TINY_SCRIPT


def test_every_workload_has_a_script_with_the_four_phases():
    for name in WORKLOADS:
        source = end_to_end.script_path(name).read_text()
        assert [p for p, _ in phases(source)] == ["import", "build", "call", "close"], name


def test_phases_keep_the_script_line_numbers():
    chunks = phases(TINY_SCRIPT)
    for name, code in chunks:
        lines = code.splitlines()
        mark = next(i for i, line in enumerate(lines) if line.startswith("# %%"))
        assert TINY_SCRIPT.splitlines()[mark] == f"# %% {name}"
    assert chunks[0][1].startswith('"""A six-cell')


def test_union_and_exclusive_stages():
    assert union_length([(0, 2), (1, 3), (5, 6)]) == pytest.approx(4)
    # A compilation holding a cache read, a lowering, and tracing around an eager compilation.
    spans = [
        ["main", "trace", 0.0, 1.0, 0.0, 0.9],
        ["main", "compile", 0.5, 0.7, 0.5, 0.7],
        ["main", "lower", 1.0, 1.5, 0.9, 1.4],
        ["main", "compile", 1.5, 2.5, 1.4, 2.3],
        ["main", "cache_read", 1.5, 1.6, 1.4, 1.5],
        ["hydrograd-compile_0", "compile", 2.0, 4.0, 0.0, 2.0],
    ]
    call = [0.0, 3.0, 0.0, 2.6]
    stages = end_to_end.call_stages(spans, call)
    assert stages["trace"] == pytest.approx(0.8)
    assert stages["compile"] == pytest.approx(0.2 + 0.9)
    assert stages["cache_load"] == pytest.approx(0.1)
    assert stages["lower"] == pytest.approx(0.5)
    assert stages["python"] == pytest.approx(2.6 - 2.3)  # CPU outside the outermost spans
    assert sum(stages.values()) == pytest.approx(3.0)
    assert sum(end_to_end.jax_stages(spans, None, 0.0, 3.0).values()) == pytest.approx(1.0)


def test_machine_line_names_the_cpu():
    assert end_to_end.machine_line().startswith(f"CPU: {end_to_end.cpu_model()} (")


def _cells(row: str) -> list[str]:
    assert row.startswith("| ") and row.endswith(" |")
    return [c.strip() for c in row[2:-2].split(" | ")]


@pytest.mark.slow
def test_end_to_end_rows_are_well_formed(lez_dir):
    if not end_to_end.HAVE_SMASH:
        pytest.skip("hydro-smash not installed")
    row = end_to_end.end_to_end("lez_forward")
    for run in (row.cold, row.warm, row.smash):
        assert list(run.phases) == ["import", "build", "call", "close"]
        assert run.process >= sum(run.phases.values()) > 0
    cells = _cells(end_to_end.e2e_row(row))
    header = _cells(end_to_end.E2E_HEADER.splitlines()[0])
    assert len(cells) == len(header) and cells[0] == "lez_forward"
    assert all(float(c) > 0 for c in cells[1:4])
    assert all(re.fullmatch(r"[\d.]+x", c) for c in cells[4:6])
    assert len(cells[6].split(" / ")) == 3 and re.fullmatch(r"[\d.]+x / [\d.]+x", cells[7])
    assert len(end_to_end.phase_rows(row)) == 3


@pytest.mark.slow
def test_breakdown_rows_are_well_formed(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY_SCRIPT)
    rows = end_to_end.breakdown("tiny", script)
    assert [(r.cache, r.phase) for r in rows] == [
        (cache, phase) for cache in ("cold", "warm") for phase in ("build", "call", "close")
    ]
    header = _cells(end_to_end.BREAKDOWN_HEADER.splitlines()[0])
    for row in rows:
        assert set(row.stages) == set(end_to_end.STAGES)
        assert all(math.isfinite(v) for v in row.stages.values())
        assert sum(row.stages.values()) == pytest.approx(row.wall, abs=1e-6)
        assert len(_cells(end_to_end.breakdown_row(row))) == len(header)
    cold_call = rows[1]
    assert cold_call.misses >= 1 and cold_call.stages["compile"] > 0
    assert cold_call.second is not None and sum(cold_call.second_stages.values()) == pytest.approx(cold_call.second)
