"""Setup files: smash's YAML layout (one key per line, plain values).

hydrograd writes a first comment line ``# hydrograd setup, format_version: 1``: a comment, so that
smash (and any YAML reader) reads the file unchanged, while ``read_setup`` refuses a file stamped
with a version newer than it knows. A file without the line (smash's) is read as it is.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd
import yaml

from hydrograd.formats._atomic import as_path, atomic_write
from hydrograd.formats._hdf5 import FORMAT_VERSION

_VERSION_COMMENT = re.compile(r"#.*\bformat_version:\s*(\S+)")


def _check_version(text: str, path: str) -> None:
    """ValueError when the leading comments stamp an unknown ``format_version``."""
    for line in text.splitlines():
        if not line.startswith("#"):
            return
        match = _VERSION_COMMENT.match(line)
        if match:
            version = match.group(1)
            if not version.isdigit() or int(version) < 1:
                raise ValueError(f"Setup file '{path}' has an unknown format_version {version!r}")
            if int(version) > FORMAT_VERSION:
                raise ValueError(
                    f"Setup file '{path}' was written with format_version {version}, newer than this hydrograd reads "
                    f"(up to {FORMAT_VERSION}): upgrade hydrograd to read it"
                )
            return


def read_setup(path: str | os.PathLike) -> dict[str, Any]:
    """Read a setup YAML file into a dict (dates stay as YAML parses them).

    FileNotFoundError if there is no such file; ValueError if it is not YAML holding a mapping, or
    carries a ``format_version`` newer than this hydrograd reads.
    """
    path = as_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No setup file at '{path}'")
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError:
        raise ValueError(f"Setup file '{path}' is not a text (UTF-8) file") from None
    _check_version(text, path)
    try:
        setup = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"Setup file '{path}' is not valid YAML: {error}") from None
    if not isinstance(setup, dict):
        raise ValueError(f"Setup file '{path}' must hold a mapping of setup keys, got {type(setup).__name__}")
    return setup


def _plain(value: Any) -> Any:
    """``value`` as YAML writes it. Dates and times stay dates and times (YAML timestamps), so that
    they read back as the same type, as smash's files do; a pandas Timestamp becomes a datetime."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def save_setup(setup: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``setup`` as YAML, atomically (an interrupted save leaves any previous file intact),
    under a first comment line stamping the ``format_version``."""
    if not isinstance(setup, dict):
        raise TypeError(f"setup must be a dict, got {type(setup).__name__}")
    plain = {}
    for key, value in setup.items():
        plain[key] = _plain(value)
        try:
            yaml.safe_dump(plain[key])
        except yaml.YAMLError:
            raise TypeError(
                f"setup key '{key}' holds a {type(value).__name__}, which cannot be saved as YAML"
            ) from None
    text = f"# hydrograd setup, format_version: {FORMAT_VERSION}\n" + yaml.safe_dump(plain, sort_keys=False)
    with atomic_write(path, "w") as stream:
        stream.write(text)
