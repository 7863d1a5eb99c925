"""Every public function and class of hydro-smash 1.3.0 (``smash``, ``smash.factory``, ``smash.io``,
``Model``, ``Net``) exists in hydrograd with the same parameters, enumerated from the installed
reference; a name still to build would be listed in ``NOT_YET``, so a new gap fails here."""

from __future__ import annotations

import inspect
import types

import pytest

import hydrograd

smash = pytest.importorskip("smash")

NOT_YET: dict[str, set[str]] = {}
"""Names of smash 1.3.0 hydrograd still lacks, per owner (none since issue 23)."""

PAIRS = {
    "smash": (smash, hydrograd),
    "factory": (smash.factory, hydrograd.factory),
    "io": (smash.io, hydrograd.io),
    "Model": (smash.Model, hydrograd.Model),
    "Net": (smash.factory.Net, hydrograd.factory.Net),
}


def _public(owner) -> dict[str, object]:
    """Public functions, classes, methods and properties of ``owner`` (submodules left out)."""
    names = {}
    for name in dir(owner):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(owner, name)
        if isinstance(value, types.ModuleType):
            continue
        if callable(value) or isinstance(value, property | staticmethod | classmethod):
            names[name] = value
    return names


def _parameters(value) -> list[str] | None:
    if isinstance(value, property):
        return None
    function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
    try:
        return [p for p in inspect.signature(function).parameters if p not in ("args", "kwargs")]
    except (TypeError, ValueError):
        return None


@pytest.fixture(scope="module")
def instances():
    """hydrograd's ``Model`` and ``Net`` instances: smash's properties are their attributes."""
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    return {"Model": hydrograd.Model(setup, mesh, verbose=False), "Net": hydrograd.factory.Net()}


@pytest.mark.parametrize("where", list(PAIRS))
def test_every_public_name_of_smash_exists(where, instances):
    reference, ours = PAIRS[where]
    ours = instances.get(where, ours)
    missing = set(_public(reference)) - {n for n in dir(ours) if not n.startswith("_")}
    assert missing == NOT_YET.get(where, set())


@pytest.mark.parametrize("where", list(PAIRS))
def test_public_functions_take_smash_parameters(where):
    reference, ours = PAIRS[where]
    ours_names = _public(ours)
    different = {}
    for name, value in _public(reference).items():
        if name not in ours_names:
            continue
        if inspect.isclass(value):  # result classes: built by the package, not by programs
            continue
        expected, got = _parameters(value), _parameters(ours_names[name])
        if expected is not None and got is not None and got[: len(expected)] != expected:
            different[name] = (expected, got)
    assert different == {}
