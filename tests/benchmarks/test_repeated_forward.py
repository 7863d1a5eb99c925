"""The repeated forward-run benchmark (``python -m benchmarks.repeated_forward``): it times every call
of the model it builds, and refuses a count with nothing to compare (no wall-clock assertion)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import repeated_forward

REPO = Path(__file__).resolve().parents[2]


def test_every_call_is_timed():
    seconds = repeated_forward.timings("Synthetic", 3)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)


def test_one_call_is_refused_with_the_reason():
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.repeated_forward", "Synthetic", "--calls", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "--calls must be at least 2" in run.stderr
