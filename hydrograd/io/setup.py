"""Setup files: smash's YAML layout (one key per line, plain values)."""

from __future__ import annotations

import datetime
import os
from typing import Any

import yaml

from hydrograd.io._atomic import atomic_write


def read_setup(path: str | os.PathLike) -> dict[str, Any]:
    """Read a setup YAML file into a dict (dates stay as YAML parses them)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No setup file at '{path}'")
    with open(path) as stream:
        try:
            setup = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            raise ValueError(f"Setup file '{path}' is not valid YAML: {error}") from None
    if not isinstance(setup, dict):
        raise ValueError(f"Setup file '{path}' must hold a mapping of setup keys, got {type(setup).__name__}")
    return setup


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def save_setup(setup: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``setup`` as YAML, atomically (an interrupted save leaves any previous file intact)."""
    if not isinstance(setup, dict):
        raise TypeError(f"setup must be a dict, got {type(setup).__name__}")
    text = yaml.safe_dump({k: _plain(v) for k, v in setup.items()}, sort_keys=False)
    with atomic_write(path, "w") as stream:
        stream.write(text)
