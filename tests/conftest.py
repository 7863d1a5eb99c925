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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every program JAX compiled for a test module once the module is done.

    Each compiled XLA CPU program keeps a few memory mappings of its own (code, constants) as long as
    JAX's caches hold it, so one process running the whole suite (tens of thousands of programs:
    eager scans, gradients, every structure) ran into Linux's limit on a process's mappings
    (``vm.max_map_count``, 65530 by default); XLA's next mapping then failed and the interpreter
    aborted or crashed while compiling, loading or serializing a program (at 64,640 mappings, in
    tests/core/test_simulate.py). Cleared per module, the count falls back to about 2,500 between
    modules and peaked at about 19,000 (inside test_simulate.py); programs a later module needs again
    come back from the persistent compilation cache."""
    yield
    import jax

    jax.clear_caches()


@pytest.fixture
def smash_float32():
    """Runs the test with smash's float32 arithmetic (``HYDROGRAD_FLOAT32=smash``)."""
    from tests._float32 import float32_arithmetic

    with float32_arithmetic("smash"):
        yield


@pytest.fixture
def routing_by_doubling():
    """Runs the test with linear routing steps routed by doubling (``HYDROGRAD_ROUTING=doubling``);
    programs jitted before it keep their routing."""
    from hydrograd._process import routing_method, set_routing_method

    before = routing_method()
    set_routing_method("doubling")
    yield
    set_routing_method(before)


@pytest.fixture
def float64():
    """Runs the test with JAX's 64-bit types on (float64 models, as gradient calibrations use)."""
    import jax

    with jax.enable_x64(True):
        yield


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


@pytest.fixture(scope="session")
def synthetic_region() -> dict[str, tuple[dict, dict]]:
    """Three catchments of the synthetic region (different sizes, gauge counts and weather):
    name -> (setup, mesh), generated into the cache on first use."""
    from hydrograd.factory import load_dataset

    return load_dataset("SyntheticRegion", n=3)
