"""``load_dataset``: the reference datasets (Lez, Cance, France) and the embedded synthetic catchment."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from hydrograd._validate import closest
from hydrograd.factory.region import load_region
from hydrograd.factory.synthetic import load_synthetic
from hydrograd.formats.mesh import read_mesh
from hydrograd.formats.setup import read_setup

DATA_ENV = "HYDROGRAD_DATA"
REFERENCE_DISTRIBUTION = "hydro-smash"
REFERENCE_DATASETS = ("Lez", "Cance", "France")
SYNTHETIC = "Synthetic"
REGION = "SyntheticRegion"
DATASET_NAMES = ("flwdir", *REFERENCE_DATASETS, SYNTHETIC, REGION)


def _search_roots() -> list[Path]:
    """Where reference data may live: ``$HYDROGRAD_DATA``, then an installed hydro-smash's datasets."""
    roots = []
    if os.environ.get(DATA_ENV):
        roots.append(Path(os.environ[DATA_ENV]))
    # Located through the distribution's metadata, not the module "smash": a program that maps
    # "smash" to hydrograd would find hydrograd itself.
    try:
        distribution = importlib.metadata.distribution(REFERENCE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return roots
    roots.append(Path(distribution.locate_file(Path("smash") / "factory" / "dataset")))
    return roots


def _find(relative: str) -> Path:
    roots = _search_roots()
    for root in roots:
        if (root / relative).exists():
            return root / relative
    looked = ", ".join(str(r / relative) for r in roots) or "nowhere"
    raise FileNotFoundError(
        f"Dataset file '{relative}' not found (looked in: {looked}). Point the environment variable "
        f"{DATA_ENV} at a folder holding it, or `pip install hydro-smash==1.3.0`, whose package ships "
        f"the Lez, Cance and France datasets."
    )


def load_dataset(name: str, n: int | None = None) -> Any:
    """Setup and mesh dicts of a named dataset, ready for ``Model(setup, mesh)``.

    ``"Lez"``, ``"Cance"``, ``"France"`` (smash's reference datasets), ``"Synthetic"`` (generated
    by hydrograd on first use, no download) or ``"flwdir"`` (path of the France flow directions).
    ``"SyntheticRegion"`` with ``n``: ``n`` synthetic catchments, a dict name -> ``(setup, mesh)``
    (``hydrograd.factory.region.load_region``).
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {name!r}")
    key = name.lower()
    canonical = {n.lower(): n for n in DATASET_NAMES}
    if key not in canonical:
        raise ValueError(f"Unknown dataset '{name}'.{closest(name, DATASET_NAMES)} Choices: {list(DATASET_NAMES)}")
    name = canonical[key]
    if (n is not None) != (name == REGION):
        raise ValueError(
            f"n (the number of catchments) is given with '{REGION}' and only with it; got n={n!r} for '{name}'"
        )
    if name == REGION:
        return load_region(n)
    if name == "flwdir":
        return str(_find("France_flwdir.tif"))
    if name == SYNTHETIC:
        return load_synthetic()
    folder = _find(name)
    setup = read_setup(folder / f"setup_{name}.yaml")
    mesh = read_mesh(str(folder / f"mesh_{name}.hdf5"))
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = str(folder / kind)
    return setup, mesh
