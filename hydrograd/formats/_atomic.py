"""Atomic file replacement: write under a temporary name beside the target, then rename over it.

An interrupted write (error, Ctrl-C, killed process) never leaves a half-written file at the
target path, and any previous file there stays intact.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import IO


def as_path(path: object, what: str = "path") -> str:
    """``path`` as a str, or a TypeError naming ``what`` when it is not a str or path-like."""
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise TypeError(f"{what} must be a str or os.PathLike, got {type(path).__name__} {path!r:.80}")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{what} must not be empty")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a fresh temporary path in the target's folder; it replaces ``path`` once the block
    completes, and is removed if the block fails."""
    path = as_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write '{path}': no such directory '{folder}'")
    if os.path.isdir(path):
        raise ValueError(f"Cannot write '{path}': it is a directory; give a file name")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only if the block completes."""
    with atomic_path(path) as tmp, open(tmp, mode) as stream:
        yield stream
