"""The suite's shared models, test by test when smash's own module cannot build them all under hydrograd.

smash's ``test_define_global_vars.py`` builds, when pytest imports it, the models the other test modules
read from ``pytest.*``: ``model`` and ``sparse_model`` (Cance), ``model_structure`` and
``sparse_model_structure`` (one Cance model per structure of the test level, dense and sparse storage),
and the ``baseline`` and ``simulated_discharges`` HDF5 files. It is a plain module, so a single structure
or setup key that hydrograd lacks stops it at the first one, and every test that reads ``pytest.*`` would
then fail on the same import error, hiding what works behind what does not.

So pytest imports that module unchanged first, and when that succeeds nothing else happens (the end state,
once hydrograd supports everything it builds). When it fails, the import is reported as a failing test
(``test_define_global_vars.py::import``, with the module's own traceback) and :func:`build_pieces` builds
the same globals one piece at a time, each piece a test of its own that passes or fails with its error:

- ``model``, ``sparse_model``: kept as the module set them before it stopped, else built here;
- ``model_structure[<structure>]``, ``sparse_model_structure[<structure>]``: one model per structure.

A structure list holds the models that were built, in the module's order (repeats included), so a test
iterating over it checks every structure hydrograd builds, and each missing structure is a failing piece;
a list with no model at all is left unset, so the tests that read it fail (``pytest`` has no attribute)
rather than pass on nothing. A piece that fails for a reason not listed in ``expected_failures.toml`` fails
the run like any other test.

This restates smash 1.3.0's module (checked by its SHA-256, :data:`MIRRORED_SHA256`); a wheel whose module
differs is refused, so the fallback cannot drift from the module it stands in for.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _pytest
import h5py
import pluggy
import pytest

MIRRORED_SHA256 = "f10eecb4997a8e3f0b9b999bca76852e7f918123a76f9cd82973761f5ef9b255"
MODULE_NAME = "test_define_global_vars.py"
LEVELS = ("light", "full")
MACHINERY = (*(str(Path(package.__file__).parent) for package in (_pytest, pluggy, importlib)), "<frozen importlib")


def suite_level() -> str:
    """``SMASH_TEST_LEVEL`` as smash's suite reads it (unset or empty: ``full``)."""
    level = os.environ.get("SMASH_TEST_LEVEL") or "full"
    if level not in LEVELS:
        raise pytest.UsageError(f"Unknown SMASH_TEST_LEVEL {level!r}. Choices: {LEVELS}")
    return level


def structures(level: str) -> list[str]:
    """The structures the suite builds at a level: GR4 with linear-reservoir routing at ``light``; at
    ``full``, every snow, hydrological and routing module in turn around it (GR4/lr appears three times)."""
    from smash._constant import HYDROLOGICAL_MODULE, ROUTING_MODULE, SNOW_MODULE

    if level == "light":
        return ["zero-gr4-lr"]
    return (
        [f"{snow}-gr4-lr" for snow in SNOW_MODULE]
        + [f"zero-{hydrological}-lr" for hydrological in HYDROLOGICAL_MODULE]
        + [f"zero-gr4-{routing}" for routing in ROUTING_MODULE]
    )


def build_pieces(module_path: Path) -> dict[str, BaseException | None]:
    """Set the suite's ``pytest.*`` globals piece by piece; each piece's name -> its error (or None)."""
    import smash  # hydrograd, through the alias

    digest = hashlib.sha256(module_path.read_bytes()).hexdigest()
    if digest != MIRRORED_SHA256:
        raise pytest.UsageError(
            f"{module_path} is not the smash 1.3.0 module tests/peer/global_vars.py restates "
            f"(sha256 {digest}, expected {MIRRORED_SHA256}): update the fallback to the new module"
        )

    setup, mesh = smash.factory.load_dataset("Cance")

    def attempt(build: Callable[..., Any], *args: Any) -> tuple[Any, BaseException | None]:
        try:
            return build(*args), None
        except Exception as error:
            return None, error

    errors: dict[str, BaseException | None] = {}
    for name, sparse_storage in (("model", False), ("sparse_model", True)):
        model, errors[name] = (
            (getattr(pytest, name), None)
            if hasattr(pytest, name)
            else attempt(smash.Model, {**setup, "sparse_storage": sparse_storage}, mesh)
        )
        if model is not None:
            setattr(pytest, name, model)

    # The structure models skip reading the forcing and take the Cance models' instead.
    shared = {**setup, "read_prcp": False, "read_pet": False}

    def structure_model(structure: str, sparse_storage: bool) -> Any:
        snow, hydrological, routing = structure.split("-")
        modules = {"snow_module": snow, "hydrological_module": hydrological, "routing_module": routing}
        model = smash.Model({**shared, **modules, "sparse_storage": sparse_storage}, mesh)
        source = pytest.sparse_model if sparse_storage else pytest.model
        if sparse_storage:
            for step in range(model.setup.ntime_step):
                model.atmos_data.sparse_prcp[step] = source.atmos_data.sparse_prcp[step]
                model.atmos_data.sparse_pet[step] = source.atmos_data.sparse_pet[step]
        else:
            model.atmos_data.prcp = source.atmos_data.prcp
            model.atmos_data.pet = source.atmos_data.pet
        if "ci" in model.rr_parameters.keys:
            model.set_rr_parameters("ci", source.get_rr_parameters("ci"))
        return model

    lists = {"model_structure": False, "sparse_model_structure": True}
    built: dict[str, list] = {list_name: [] for list_name in lists}
    for structure in structures(suite_level()):
        for list_name, sparse_storage in lists.items():
            model, error = attempt(structure_model, structure, sparse_storage)
            if error is None:
                built[list_name].append(model)
            errors.setdefault(f"{list_name}[{structure}]", error)
    for list_name, models in built.items():
        if models:
            setattr(pytest, list_name, models)
        elif hasattr(pytest, list_name):  # the empty list the module had started
            delattr(pytest, list_name)

    folder = module_path.parent
    pytest.baseline = h5py.File(folder / "baseline.hdf5", "r")
    pytest.simulated_discharges = h5py.File(folder / "simulated_discharges.hdf5", "r")
    return errors


class Piece(pytest.Item):
    """One piece of the shared globals (or the module's import), passing or failing with its error."""

    def __init__(self, *, error: BaseException | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        if self.error is not None:
            raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], **kwargs: Any) -> Any:
        """The error from the suite's module or the fallback down to where it was raised, without the
        frames of pytest's collection and of the import system it went through."""
        excinfo.traceback = excinfo.traceback.filter(lambda entry: not str(entry.path).startswith(MACHINERY))
        return super().repr_failure(excinfo, **kwargs)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"{MODULE_NAME}::{self.name}"


class GlobalVars(pytest.Module):
    """smash's global-vars module: imported unchanged; if that fails, its globals are built piece by piece."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            self.obj  # noqa: B018 (pytest imports the module on first access)
        except Exception as error:
            failure = error
        else:
            yield from super().collect()
            return
        # Outside the except clause, so the pieces' errors are not chained to the module's.
        yield Piece.from_parent(self, name="import", error=failure)
        for name, error in build_pieces(self.path).items():
            yield Piece.from_parent(self, name=name, error=error)
