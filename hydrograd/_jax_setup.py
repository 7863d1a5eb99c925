"""Process-wide JAX settings hydrograd applies on import.

A persistent compilation cache (``~/.cache/hydrograd/jax``, or ``$HYDROGRAD_CACHE/jax``) lets a
new Python process reuse the XLA programs compiled by earlier ones, which turns seconds of
compilation into a fraction of a second. It is left alone when the user already configured a
cache, and disabled with ``HYDROGRAD_JAX_CACHE=0``.

On a CPU with AVX-512, XLA's CPU compiler is asked for 512-bit vectors
(``--xla_cpu_prefer_vector_width=512``; XLA prefers 256 bits by default): the per-cell arithmetic
of a time step, which is most of a run on a catchment, then takes about a quarter less time (see
``benchmarks/RESULTS.md``). ``HYDROGRAD_CPU_VECTOR_WIDTH`` sets another width (``128``, ``256``)
or ``default`` for XLA's own choice; a width already in ``XLA_FLAGS`` wins.

XLA's CPU compiler is also asked to place copies with its region-based analysis
(``--xla_cpu_copy_insertion_use_region_analysis=true``): the default analysis copies every state
a time loop carries at the start of each step (five copies a step for GR4 with linear-reservoir
routing), the region analysis proves them unneeded; a calibration's gradient is about 3 % shorter
and bit for bit the same. A setting of the flag already in ``XLA_FLAGS`` wins.

Like every XLA flag, these only apply if set before JAX starts its CPU backend, i.e. when
hydrograd is imported before any JAX computation runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

VECTOR_WIDTH_FLAG = "--xla_cpu_prefer_vector_width"
VECTOR_WIDTH_ENV = "HYDROGRAD_CPU_VECTOR_WIDTH"
COPY_INSERTION_FLAG = "--xla_cpu_copy_insertion_use_region_analysis"
_WIDTHS = ("128", "256", "512")


def xla_flags_with_vector_width(xla_flags: str, setting: str, avx512: bool) -> str:
    """``XLA_FLAGS`` with the preferred CPU vector width added.

    ``setting`` is the value of ``HYDROGRAD_CPU_VECTOR_WIDTH``: ``"auto"`` (512 bits where the CPU
    has AVX-512, XLA's choice elsewhere), ``"default"`` (XLA's choice) or a width in bits.
    A width the flags already name is kept.
    """
    setting = setting.strip().lower()
    if setting not in ("auto", "default", *_WIDTHS):
        raise ValueError(
            f"{VECTOR_WIDTH_ENV}={setting!r} is not a vector width hydrograd knows: "
            f"expected 'auto', 'default' or one of {', '.join(_WIDTHS)}"
        )
    if VECTOR_WIDTH_FLAG in xla_flags or setting == "default" or (setting == "auto" and not avx512):
        return xla_flags
    width = "512" if setting == "auto" else setting
    return f"{xla_flags} {VECTOR_WIDTH_FLAG}={width}".strip()


def _cpu_has_avx512() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return False
    return bool(__cpu_features__.get("AVX512F"))


def xla_flags_with_region_copy_insertion(xla_flags: str) -> str:
    """``XLA_FLAGS`` with XLA's region-based copy insertion on, unless the flags already set it."""
    if COPY_INSERTION_FLAG in xla_flags:
        return xla_flags
    return f"{xla_flags} {COPY_INSERTION_FLAG}=true".strip()


def configure_cpu_compiler() -> None:
    """Set the preferred CPU vector width and the copy insertion analysis in ``XLA_FLAGS`` (see the
    module docstring)."""
    setting = os.environ.get(VECTOR_WIDTH_ENV, "auto")
    flags = xla_flags_with_vector_width(os.environ.get("XLA_FLAGS", ""), setting, _cpu_has_avx512())
    os.environ["XLA_FLAGS"] = xla_flags_with_region_copy_insertion(flags)


def configure_compilation_cache() -> None:
    if os.environ.get("HYDROGRAD_JAX_CACHE", "1") == "0" or jax.config.jax_compilation_cache_dir:
        return
    root = Path(os.environ.get("HYDROGRAD_CACHE", Path.home() / ".cache" / "hydrograd"))
    try:
        (root / "jax").mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
    # Programs compiled in 30 ms or more are kept: below that, reading the entry costs about as much
    # as compiling; the ANN training's optimizer step and output maps (35-45 ms each) are above it.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.03)
