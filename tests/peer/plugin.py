"""pytest plugin that runs smash's own test suite, from the installed wheel, against hydrograd.

Loaded by ``smash_suite.ini`` (``-p tests.peer.plugin``) in the process ``python -m tests.peer`` starts. It

- puts :class:`tests.peer.alias.SmashAsHydrograd` on ``sys.meta_path`` before collection, so the suite's
  ``import smash`` is hydrograd (pytest's ``prepend`` import mode imports each test file by its package
  name, ``smash.tests.core.simulation.test_run``, which the finder loads from the wheel; the rootdir and
  the conftest cut-off are the suite's folder, so no configuration or conftest of the project or of the
  venv's ancestors applies, and the suite has none of its own);
- leaves out what tests smash's Fortran internals rather than its API (:data:`LEFT_OUT`);
- collects ``test_define_global_vars.py`` through :class:`tests.peer.global_vars.GlobalVars`, so a model
  hydrograd cannot build fails its own test instead of every test that reads the shared models;
- marks the tests listed in ``expected_failures.toml`` as strict expected failures: the run fails on any
  other failure, on a listed test that passes and on one that fails with another exception than listed,
  and refuses entries naming tests the suite lacks.
"""

from __future__ import annotations

import builtins
import functools
import os
import tempfile
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.peer import alias
from tests.peer.global_vars import MODULE_NAME, GlobalVars, suite_level

WHEEL = alias.smash_wheel()
SUITE = WHEEL / "tests"
EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.toml")
LEFT_OUT = {
    SUITE / "test_constant.py": "checks smash's private constants, which this run takes from the wheel itself",
    SUITE / "fcore": "checks smash's f90wrap bindings of its Fortran derived types",
}


def pytest_configure(config: pytest.Config) -> None:
    """Install the alias, and move to a temporary working directory: the suite writes its ``tmp_*`` files
    there. pytest starts in the suite's folder (``python -m tests.peer``) so that it names each test by
    its node id (``io/test_mesh_io.py::test_mesh_io``), not by a path from elsewhere."""
    alias.install(WHEEL)
    workdir = tempfile.TemporaryDirectory(prefix="smash-suite-")
    config.add_cleanup(workdir.cleanup)
    config.add_cleanup(functools.partial(os.chdir, os.getcwd()))
    os.chdir(workdir.name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    import hydrograd

    return [
        f"smash suite: {SUITE} (SMASH_TEST_LEVEL={suite_level()}), run with smash = hydrograd from "
        f"{Path(hydrograd.__file__).parent}",
        *(f"left out: {path.name} ({why})" for path, why in LEFT_OUT.items()),
    ]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return True if collection_path in LEFT_OUT else None


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if module_path == SUITE / MODULE_NAME:
        return GlobalVars.from_parent(parent, path=module_path)
    return None


class Expected(NamedTuple):
    """A listed test: what it waits for, and the exception it fails with today."""

    reason: str
    raises: type[BaseException]


def _exception_type(name: str) -> type[BaseException]:
    """A built-in exception by name, or ``Failed`` (``pytest.fail``, e.g. a ``pytest.warns`` that saw no
    warning)."""
    found = pytest.fail.Exception if name == "Failed" else getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise pytest.UsageError(f"{EXPECTED_FAILURES}: {name!r} is not a built-in exception nor Failed")
    return found


def expected_failures(level: str) -> dict[str, Expected]:
    """Node id -> listed failure: the ``[any_level]`` table, plus ``[full]`` at the full level (tests of
    structures that only the full level builds)."""
    tables = tomllib.loads(EXPECTED_FAILURES.read_text())
    unknown = set(tables) - {"any_level", "full"}
    if unknown:
        raise pytest.UsageError(f"{EXPECTED_FAILURES}: unknown tables {sorted(unknown)}; use any_level and full")
    entries = {**tables.get("any_level", {}), **(tables.get("full", {}) if level == "full" else {})}
    return {nodeid: Expected(entry["reason"], _exception_type(entry["raises"])) for nodeid, entry in entries.items()}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the listed tests (before ``-k`` deselects any) as strict expected failures with the exception
    they raise today, so a listed test that passes, or fails differently, fails the run. Refuse entries
    that name no test: a file the suite lacks, or a test missing from a file that was collected."""
    expected = expected_failures(suite_level())
    ids = {item.nodeid for item in items}
    collected_files = {nodeid.split("::")[0] for nodeid in ids}
    stale = sorted(
        nodeid
        for nodeid in expected
        if not (SUITE / nodeid.split("::")[0]).is_file()
        or (nodeid.split("::")[0] in collected_files and nodeid not in ids)
    )
    if stale:
        raise pytest.UsageError(f"{EXPECTED_FAILURES} lists tests the suite does not have: {stale}")
    for item in items:
        if item.nodeid in expected:
            reason, raises = expected[item.nodeid]
            item.add_marker(pytest.mark.xfail(reason=reason, raises=raises, strict=True))
