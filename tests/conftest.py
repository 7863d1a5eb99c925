"""Shared fixtures. The test configuration points ``HYDROGRAD_DATA`` at ``../shared/datasets``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

if "HYDROGRAD_DATA" not in os.environ and SHARED_DATASETS.is_dir():
    os.environ["HYDROGRAD_DATA"] = str(SHARED_DATASETS)

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``make test`` (``HYDROGRAD_STRICT_SKIPS=1``: the reference, the seeds and the datasets are
    all installed) a skipped test is a failure, so no suite can silently stop running."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("HYDROGRAD_STRICT_SKIPS") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under HYDROGRAD_STRICT_SKIPS=1, where every test must run: {reason}"


def _data_root() -> Path | None:
    root = os.environ.get("HYDROGRAD_DATA")
    return Path(root) if root and Path(root).is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Folder holding ``Lez/`` and ``France_flwdir.tif``; skipped only where it truly is absent
    (outside CI): in CI a missing folder is an error."""
    root = _data_root()
    if root is None:
        message = f"shared datasets not found (HYDROGRAD_DATA unset and {SHARED_DATASETS} absent)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def lez_dir(data_root: Path) -> Path:
    return data_root / "Lez"


@pytest.fixture(scope="session")
def france_flwdir(data_root: Path) -> Path:
    return data_root / "France_flwdir.tif"


@pytest.fixture(scope="session")
def synthetic_inputs() -> tuple[dict, dict]:
    """Setup and mesh of the embedded synthetic catchment (generated into the cache on first use);
    copy the setup before changing it."""
    from hydrograd.factory import load_dataset

    return load_dataset("Synthetic")
