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

XLA's CPU runtime runs a program's kernels on a pool of worker threads, one per core by default,
and sizes it once per process, when JAX starts its backend. On a catchment of a few hundred cells
a time step is a chain of small kernels that gain nothing from a second worker and lose by being
handed between workers (a Cance calibration on 2 cores: 2.8 s with one worker, 3.9-4.2 s with
two); on large domains the kernels are split over the pool (250,000 cells, 240 hourly steps: a
forward run takes 0.64 s with two workers, 0.93 s with one). The backend is therefore started by
the first model, with one worker below ``SHARED_POOL_MIN_CELLS`` active cells and XLA's default
above (``start_cpu_backend``); a JAX computation run before the first model starts it with
XLA's default. ``HYDROGRAD_CPU_THREADS`` sets the pool size instead (a number of workers, or
``default`` for XLA's choice), and a size already in the environment (``PJRT_NPROC``, read by XLA)
wins.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

VECTOR_WIDTH_FLAG = "--xla_cpu_prefer_vector_width"
VECTOR_WIDTH_ENV = "HYDROGRAD_CPU_VECTOR_WIDTH"
COPY_INSERTION_FLAG = "--xla_cpu_copy_insertion_use_region_analysis"
_WIDTHS = ("128", "256", "512")
CPU_THREADS_ENV = "HYDROGRAD_CPU_THREADS"
POOL_SIZE_ENV = ("PJRT_NPROC", "NPROC")
"""Environment variables XLA reads for its CPU pool size, the first one set wins."""
SHARED_POOL_MIN_CELLS = 2500
"""Active cells from which a model's kernels gain from XLA's full CPU pool. Measured on 2 cores,
gradients of gr4/lr over 240 hourly steps with one worker against two: 8.0-8.6 against 7.8-10.9 ms
at 900 cells, 14.2-14.7 against 14.9-16.2 ms at 1,600, 58-60 against 51-53 ms at 3,600."""


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


def cpu_pool_size(n_cells: int, setting: str) -> int | None:
    """Workers of XLA's CPU pool for a process whose first model has ``n_cells`` active cells;
    None for XLA's default (one per core).

    ``setting`` is the value of ``HYDROGRAD_CPU_THREADS``: ``"auto"`` (one worker below
    ``SHARED_POOL_MIN_CELLS`` cells, the default above), ``"default"`` or a number of workers.
    """
    setting = setting.strip().lower()
    if setting == "auto":
        return 1 if n_cells < SHARED_POOL_MIN_CELLS else None
    if setting == "default":
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(
            f"{CPU_THREADS_ENV}={setting!r} is not a CPU pool size hydrograd knows: "
            "expected 'auto', 'default' or a positive number of threads"
        )
    return int(setting)


def _backends_started() -> bool:
    from jax._src import xla_bridge

    started = getattr(xla_bridge, "backends_are_initialized", None)
    return True if started is None else started()


def start_cpu_backend(n_cells: int) -> None:
    """Start JAX's backends with XLA's CPU pool sized for a domain of ``n_cells`` active cells
    (see the module docstring); nothing if they already run or the environment sizes the pool.

    The size only lives in the environment while the backends start: child processes do not
    inherit it.
    """
    size = cpu_pool_size(n_cells, os.environ.get(CPU_THREADS_ENV, "auto"))
    if size is None or _backends_started() or any(name in os.environ for name in POOL_SIZE_ENV):
        return
    os.environ[POOL_SIZE_ENV[0]] = str(size)
    try:
        jax.devices()
    finally:
        del os.environ[POOL_SIZE_ENV[0]]


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
