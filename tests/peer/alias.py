"""``import smash`` resolved to hydrograd, for running smash's own test suite against hydrograd.

smash's suite does ``import smash`` and ``from smash.<sub> import ...``; hydrograd promises that any smash
program runs unchanged after ``import hydrograd as smash``. To run the suite *unchanged*, this meta-path
finder stands first on ``sys.meta_path`` and answers every ``smash`` name:

- ``smash`` and ``smash.<sub>`` are hydrograd and ``hydrograd.<sub>``: the very module objects, not copies
  loaded a second time under another name, so ``smash.Model is hydrograd.Model`` and ``isinstance`` holds.
- ``smash._constant`` is smash's own file, loaded from the wheel under its name: it holds only the lists of
  names the suite iterates over (structures, metrics, signatures, datasets), data rather than behaviour.
- ``smash.tests`` and everything below it is the suite itself, loaded from the wheel, so the test modules,
  their ``__file__`` (``baseline.hdf5`` is found beside them) and pytest's import-path check are the wheel's.
- Any other name that hydrograd lacks (most of ``smash.fcore``, smash's compiled Fortran core) raises
  ``ModuleNotFoundError``. Falling back to smash's module would let a test pass on smash's code; the
  modules hydrograd has under that name (``hydrograd.fcore._mwd_metrics``) are used like any other
  submodule.

The finder is for a separate process that runs the suite (see ``tests/peer/__main__.py``): once installed,
the real smash can no longer be imported there.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FROM_WHEEL = ("smash._constant", "smash.tests")


class _Existing(importlib.abc.Loader):
    """Loader that hands the import system an already imported module instead of executing a file."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The import system keeps the module's own attributes (__name__, __spec__, __file__): it only fills
        # those that are missing, so the module stays hydrograd's while sys.modules also lists it as smash's.
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to execute: the module ran when hydrograd imported it."""


class SmashAsHydrograd(importlib.abc.MetaPathFinder):
    """Meta-path finder mapping ``smash`` names to hydrograd, or to the wheel for the suite and its constants.

    ``wheel`` is the installed smash package folder (``.../site-packages/smash``).
    """

    def __init__(self, wheel: Path):
        self.wheel = wheel

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "smash" and not fullname.startswith("smash."):
            return None
        if fullname.startswith(FROM_WHEEL):
            parts = fullname.split(".")
            return importlib.machinery.PathFinder.find_spec(fullname, [str(self.wheel.joinpath(*parts[1:-1]))])
        target_name = "hydrograd" + fullname.removeprefix("smash")
        if importlib.util.find_spec(target_name) is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: smash's suite runs against hydrograd here, which has no "
                f"{target_name!r}, and only smash._constant and smash.tests come from the smash wheel",
                name=fullname,
            )
        return importlib.machinery.ModuleSpec(fullname, _Existing(target_name))


def smash_wheel() -> Path:
    """The installed smash package folder, found without importing smash (its ``__init__`` never runs)."""
    spec = importlib.util.find_spec("smash")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("hydro-smash is not installed: its test suite is what this run executes")
    return Path(spec.origin).parent


def install(wheel: Path) -> None:
    """Put the finder first on ``sys.meta_path``; refuse if a smash module was already imported for real."""
    loaded = sorted(name for name in sys.modules if name == "smash" or name.startswith("smash."))
    if loaded:
        raise RuntimeError(f"smash modules already imported before the hydrograd alias: {loaded}")
    sys.meta_path.insert(0, SmashAsHydrograd(wheel))
