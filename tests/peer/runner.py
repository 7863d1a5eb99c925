"""``python -m tests.peer [pytest options]``: smash's own test suite, from the installed wheel, run against
hydrograd; prints one line per test (passed, failed, expected failure with what it waits for).

The suite runs in a pytest process of its own, because the alias that makes ``import smash`` hydrograd
replaces smash for good in the process that installs it (the project's own tests compare hydrograd with the
real smash). That process starts in the suite's folder, so pytest prints plain node ids, with ``python -P``,
so that folder is not on ``sys.path`` (its ``core``, ``io``, ``factory`` packages would be importable as
top-level names); the plugin then moves it to a temporary working directory. It gets:

- ``PYTHONPATH``: this checkout first, so ``tests.peer.plugin`` and hydrograd come from it;
- ``HYDROGRAD_DATA``: the wheel's datasets. hydrograd finds smash's datasets with
  ``importlib.util.find_spec("smash")``, which under the alias answers hydrograd itself;
- ``SMASH_TEST_LEVEL`` as it is set here (smash's default, unset: ``full``; ``light`` builds one structure);
- ``HYDROGRAD_FLOAT32=smash``: float32 models compute as smash's Fortran does, bit for bit (the suite
  compares final states to 1e-6 with smash's baseline; XLA's own float32 arithmetic is a few 1e-6 off
  after its 1,440 steps).

Options are pytest's (``-k test_forward_run``, ``-x``, ``-v``); the exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.peer.alias import smash_wheel

REPO = Path(__file__).resolve().parents[2]
INI = Path(__file__).with_name("smash_suite.ini")


def command(pytest_args: Sequence[str] = ()) -> list[str]:
    """The pytest command line that runs the suite, rooted at the wheel's ``tests`` folder (node ids such
    as ``core/simulation/test_run.py::test_forward_run``, conftest files looked for there and below)."""
    suite = smash_wheel() / "tests"
    return [
        sys.executable,
        "-P",
        "-m",
        "pytest",
        "-c",
        str(INI),
        "--rootdir",
        str(suite),
        "--confcutdir",
        str(suite),
        *pytest_args,
        str(suite),
    ]


def environment(level: str | None = None) -> dict[str, str]:
    """This process's environment plus what the suite's process needs (see the module docstring)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["HYDROGRAD_DATA"] = str(smash_wheel() / "factory" / "dataset")
    env["HYDROGRAD_FLOAT32"] = "smash"
    if level is not None:
        env["SMASH_TEST_LEVEL"] = level
    return env


def run(pytest_args: Sequence[str] = (), level: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the suite (``kwargs`` go to ``subprocess.run``, e.g. ``capture_output=True``)."""
    suite = smash_wheel() / "tests"
    return subprocess.run(command(pytest_args), env=environment(level), cwd=suite, check=False, **kwargs)
