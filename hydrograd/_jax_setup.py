"""Process-wide JAX settings hydrograd applies on import.

A persistent compilation cache (``~/.cache/hydrograd/jax``, or ``$HYDROGRAD_CACHE/jax``) lets a
new Python process reuse the XLA programs compiled by earlier ones, which turns seconds of
compilation into a fraction of a second. It is left alone when the user already configured a
cache, and disabled with ``HYDROGRAD_JAX_CACHE=0``.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def configure_compilation_cache() -> None:
    if os.environ.get("HYDROGRAD_JAX_CACHE", "1") == "0" or jax.config.jax_compilation_cache_dir:
        return
    root = Path(os.environ.get("HYDROGRAD_CACHE", Path.home() / ".cache" / "hydrograd"))
    try:
        (root / "jax").mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
