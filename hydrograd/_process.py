"""Every process-wide setting hydrograd makes, in one place.

Importing hydrograd calls :func:`apply_import_settings` (from ``hydrograd/__init__.py``), which
changes the process in exactly these ways, each overridable:

- ``XLA_FLAGS`` gains ``--xla_cpu_prefer_vector_width=512`` on a CPU that runs 512-bit vectors at
  full clock (XLA prefers 256 bits; wider vectors shorten the per-cell arithmetic of a time step):
  AMD's with AVX-512 (Zen 4 on, where the gain was measured) and Intel's from Sapphire Rapids on.
  Intel's earlier AVX-512 CPUs (Skylake-SP to Ice Lake) lower their clock while 512-bit vectors run,
  which is why LLVM prefers 256 bits on them (XLA does everywhere); hydrograd leaves XLA's choice there
  (:func:`wide_vectors_pay`). ``HYDROGRAD_CPU_VECTOR_WIDTH`` sets ``128``/``256``/``512`` or
  ``default`` (XLA's choice); a width already in ``XLA_FLAGS`` wins.
- ``XLA_FLAGS`` gains ``--xla_cpu_copy_insertion_use_region_analysis=true``: XLA's default analysis
  copies every state a time loop carries at each step, the region analysis proves the copies
  unneeded (same bits, shorter steps). A setting already in ``XLA_FLAGS`` wins.
- JAX's persistent compilation cache goes to ``~/.cache/hydrograd/jax-lru`` (or
  ``$HYDROGRAD_CACHE/jax-lru``), so a new process reuses the programs earlier ones compiled; left alone
  when the user configured a cache, off with ``HYDROGRAD_JAX_CACHE=0``. It is bounded
  (``CACHE_MAX_BYTES``, least recently used entries evicted), which also makes JAX lock it: without
  the lock, processes sharing the cache (parallel runs, workers of a cluster) can read an entry
  another one is still writing, and crash.
- hydrograd's hot programs (forward runs, a calibration's cost, gradient and maps, ``backward_run``)
  keep what ``jax.export`` traced and lowered under ``~/.cache/hydrograd/exported`` (or
  ``$HYDROGRAD_CACHE/exported``): a new process running the same program (same structure, options,
  shapes and dtypes, x64 mode, jax and hydrograd sources) deserializes it instead of tracing and
  lowering it again, and takes its compiled executable from the cache above. Bounded
  (``EXPORT_MAX_BYTES``, least recently used entries evicted), off with
  ``HYDROGRAD_EXPORT_CACHE=0``; see ``hydrograd._exported``.

XLA flags only apply if set before JAX starts its CPU backend, i.e. when hydrograd is imported
before any JAX computation runs.

One more setting waits for the first model, whose size it depends on: XLA's CPU runtime runs a
program's kernels on a pool of worker threads, sized once per process when JAX starts its backend.
A catchment of a few hundred cells gains nothing from a second worker and loses by handing small
kernels between workers; large domains need every worker. ``Model`` therefore calls
:func:`size_cpu_pool` with its number of active cells before its first JAX computation: one worker
below ``SHARED_POOL_MIN_CELLS``, XLA's default (one per core) above. ``HYDROGRAD_CPU_THREADS`` (a
number of workers, or ``default``) or XLA's own ``PJRT_NPROC`` override it, and a JAX computation
run before the first model leaves XLA's default. The measurements behind these defaults are in
``benchmarks/RESULTS.md`` ("The machine's two states", "Seventh session").

And one setting lasts only while scipy's optimizers run (L-BFGS-B, Nelder-Mead, Powell:
:func:`limited_blas_threads`): every OpenBLAS library loaded in the process (scipy's, numpy's) runs on
one thread. scipy's L-BFGS-B makes small BLAS calls at every iteration that OpenBLAS splits over its
threads (one per core): each call waits until those threads get a core, and between calls they spin,
which on a loaded machine takes a core's share from XLA's worker. ``HYDROGRAD_BLAS_THREADS`` (a
number of threads, or ``default`` for OpenBLAS's own) overrides it, a count set in
``OPENBLAS_NUM_THREADS`` wins; the counts are restored when the last optimizer running returns.
Linux only (the libraries are found through ``/proc/self/maps``); nothing elsewhere. The
measurements: ``benchmarks/RESULTS.md``, "Threads under load (issue 24 item 3)".

On request only (``HYDROGRAD_FLOAT32=smash``, read on import), float32 models compute as smash's
Fortran does, operation for operation: glibc's ``tanhf`` and ``powf``, and the products its compiler
fuses into sums (``hydrograd.core.structures._rounding``). Their states and fluxes then equal
smash's bit for bit, where XLA's own arithmetic (``native``, the default) leaves them within float32
rounding of smash's (a few 1e-6 of a filling ratio after 1,440 steps); a float32 time step costs
about twice as much (``benchmarks/RESULTS.md``, "Fourteenth session"). smash's own test suite
(``tests/peer``) runs with it. CPU only: a program traced for an accelerator stops with a
``ValueError`` (a GPU rounds the emulated ``tanh`` and divisions its own way).

How a linear routing step (``lag0``, ``lr``) is routed within a time step (``HYDROGRAD_ROUTING``,
read on import): ``levels``, the level sweep, one loop iteration a level of the flow graph;
``doubling``, about ``log2(levels)`` rounds over every cell (``hydrograd.core.routing.doubling``,
the same discharge up to the order of float sums); ``auto`` (the default), doubling for programs
traced for an accelerator and levels on a CPU. On a CPU the sweep is faster; on a GPU, where each
level costs its kernel launches, doubling is (France: 22 times shorter a routing step, a forward
run 3.6 times, its NSE gradient 26 times on an NVIDIA H200; ``benchmarks/RESULTS.md``, "Fifteenth
session"). Programs already traced keep the routing they were traced with.

On request only (``HYDROGRAD_MALLOC=keep``, read on import), glibc's allocator keeps the memory of
large arrays for reuse instead of returning it to the system at every ``free`` (``mallopt``: no
``mmap`` for large blocks, a trim threshold of 2 GiB). By default glibc maps every block above 32 MiB
afresh and unmaps it when freed, so each forward run of a large domain touches new pages for XLA's
own buffers (France: a 76 MB temporary a run; the gathered forcing is reused by the model itself,
``hydrograd._arrays.HostArrays``), and on a virtual machine a page's first touch can cost far more
than a page reused: kept, France forward runs are shorter and steadier (measured before the model
reused its forcing).
It stays off by default because the kept heap only serves requests that fit its free blocks: a
large gradient's peak memory grows and its run is no faster. Measured in ``benchmarks/RESULTS.md``,
"France forward: memory kept for reuse". Nothing happens outside glibc.

Two host steps of a large model run on short-lived threads that end when they return (numpy works
outside the interpreter's lock): a forward run gathers each forcing field on its own thread from
``SHARED_POOL_MIN_CELLS`` active cells (``hydrograd.simulation.inputs.active_forcings``), and the
interception capacity of a sub-daily GR model is fitted in chunks of cells, one thread per core
(``hydrograd.preprocess.interception``). Nothing of them outlives the call.

Last, :data:`COMPILER` is the one background thread that compiles the programs a calibration only
needs at its end while its iterations run (XLA compiles outside the interpreter's lock). A
calibration settles what it submitted before it returns or raises (``ClosingRun.settle`` in
``hydrograd.calibration.run``: queued compilations cancelled, the running one waited for), so no
compilation of a finished calibration runs alongside what the process does next. The thread does
not see the caller's ``jax.enable_x64`` context (JAX's contexts are thread-local): a program that
needs one enters it in the submitted function.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import jax

VECTOR_WIDTH_FLAG = "--xla_cpu_prefer_vector_width"
VECTOR_WIDTH_ENV = "HYDROGRAD_CPU_VECTOR_WIDTH"
COPY_INSERTION_FLAG = "--xla_cpu_copy_insertion_use_region_analysis"
_WIDTHS = ("128", "256", "512")
JAX_CACHE_ENV = "HYDROGRAD_JAX_CACHE"
CACHE_ENV = "HYDROGRAD_CACHE"
EXPORT_CACHE_ENV = "HYDROGRAD_EXPORT_CACHE"
CPU_THREADS_ENV = "HYDROGRAD_CPU_THREADS"
POOL_SIZE_ENV = ("PJRT_NPROC", "NPROC")
"""Environment variables XLA reads for its CPU pool size, the first one set wins."""
BLAS_THREADS_ENV = "HYDROGRAD_BLAS_THREADS"
OPENBLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
_OPENBLAS_THREAD_FUNCTIONS = [
    (f"{prefix}_get_num_threads{suffix}", f"{prefix}_set_num_threads{suffix}")
    for prefix in ("scipy_openblas", "openblas")
    for suffix in ("", "64_")
]
"""The names OpenBLAS builds give their thread count's getter and setter (scipy's and numpy's wheels
prefix them, 64-bit integer builds suffix them)."""
_BLAS_LIMIT: dict = {"depth": 0, "restore": []}
"""Optimizers inside :func:`limited_blas_threads` now, and the thread counts to restore after them."""
_BLAS_LOCK = threading.Lock()
SHARED_POOL_MIN_CELLS = 2500
"""Active cells from which a model's kernels gain from XLA's full CPU pool (see
``python -m benchmarks.pool_size``)."""
CACHE_MAX_BYTES = 4 << 30
"""Size of the persistent compilation cache beyond which its least recently used entries go."""
CACHE_MIN_COMPILE_SECONDS = 0.03
"""Programs compiled in less time than this are not cached: reading the entry would cost about as
much as compiling them (a calibration's small programs are above it; ``benchmarks/RESULTS.md``)."""

EXPORT_MAX_BYTES = 256 << 20
"""Size of the exported programs' cache beyond which its least recently used entries go."""

MALLOC_ENV = "HYDROGRAD_MALLOC"
FLOAT32_ENV = "HYDROGRAD_FLOAT32"
ROUTING_ENV = "HYDROGRAD_ROUTING"
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
"""``mallopt`` parameters (glibc's ``malloc.h``)."""
KEPT_HEAP_BYTES = (2 << 30) - 1
"""Free memory at the top of the heap beyond which glibc returns it to the system (``mallopt``
takes an ``int``)."""

COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hydrograd-compile")
"""The background thread that compiles the programs a calibration needs after its iterations."""


def cache_root() -> Path:
    """hydrograd's cache folder (compiled programs, the synthetic dataset): ``$HYDROGRAD_CACHE`` or
    ``~/.cache/hydrograd``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "hydrograd"


def xla_flags_with_vector_width(xla_flags: str, setting: str, wide: bool) -> str:
    """``XLA_FLAGS`` with the preferred CPU vector width added.

    ``setting`` is the value of ``HYDROGRAD_CPU_VECTOR_WIDTH``: ``"auto"`` (512 bits where ``wide``,
    the CPU running them at full clock, see :func:`wide_vectors_pay`; XLA's choice elsewhere),
    ``"default"`` (XLA's choice) or a width in bits. A width the flags already name is kept.
    """
    setting = setting.strip().lower()
    if setting not in ("auto", "default", *_WIDTHS):
        raise ValueError(
            f"{VECTOR_WIDTH_ENV}={setting!r} is not a vector width hydrograd knows: "
            f"expected 'auto', 'default' or one of {', '.join(_WIDTHS)}"
        )
    if VECTOR_WIDTH_FLAG in xla_flags or setting == "default" or (setting == "auto" and not wide):
        return xla_flags
    width = "512" if setting == "auto" else setting
    return f"{xla_flags} {VECTOR_WIDTH_FLAG}={width}".strip()


def xla_flags_with_region_copy_insertion(xla_flags: str) -> str:
    """``XLA_FLAGS`` with XLA's region-based copy insertion on, unless the flags already set it."""
    if COPY_INSERTION_FLAG in xla_flags:
        return xla_flags
    return f"{xla_flags} {COPY_INSERTION_FLAG}=true".strip()


def wide_vectors_pay(features: Mapping[str, bool], vendor: str) -> bool:
    """Whether the CPU runs 512-bit vectors at full clock: AVX-512 (numpy's ``AVX512F``) on an AMD
    CPU (``vendor`` ``"AuthenticAMD"``), or Intel's Sapphire Rapids group (numpy's ``AVX512_SPR``)
    and later. ``features``: numpy's CPU features by name."""
    if not features.get("AVX512F"):
        return False
    return vendor == "AuthenticAMD" or bool(features.get("AVX512_SPR"))


def _cpu_features() -> Mapping[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return {}
    return __cpu_features__


def _cpu_vendor() -> str:
    """``vendor_id`` of ``/proc/cpuinfo`` (``"GenuineIntel"``, ``"AuthenticAMD"``), or the vendor
    named in ``platform.processor()`` elsewhere; ``""`` when unknown."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return next((v for v in ("AuthenticAMD", "GenuineIntel") if v in platform.processor()), "")


def _configure_cpu_compiler() -> None:
    setting = os.environ.get(VECTOR_WIDTH_ENV, "auto")
    features = _cpu_features()
    wide = wide_vectors_pay(features, _cpu_vendor() if features.get("AVX512F") else "")
    flags = xla_flags_with_vector_width(os.environ.get("XLA_FLAGS", ""), setting, wide)
    os.environ["XLA_FLAGS"] = xla_flags_with_region_copy_insertion(flags)


def _configure_compilation_cache() -> None:
    if os.environ.get(JAX_CACHE_ENV, "1") == "0" or jax.config.jax_compilation_cache_dir:
        return
    folder = cache_root() / "jax-lru"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)


def keeps_large_blocks(setting: str) -> bool:
    """Whether hydrograd sets glibc's allocator to keep large blocks (module docstring); ``setting``
    is the value of ``HYDROGRAD_MALLOC``: ``"default"`` (glibc's behaviour) or ``"keep"``."""
    setting = setting.strip().lower()
    if setting not in ("default", "keep"):
        raise ValueError(
            f"{MALLOC_ENV}={setting!r} is not an allocator setting hydrograd knows: expected 'default' or 'keep'"
        )
    return setting == "keep"


def _configure_allocator() -> None:
    if not keeps_large_blocks(os.environ.get(MALLOC_ENV, "default")):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(_M_MMAP_MAX, 0)
    mallopt(_M_TRIM_THRESHOLD, KEPT_HEAP_BYTES)


def apply_import_settings() -> None:
    """The settings importing hydrograd makes (module docstring): XLA's CPU flags, the persistent
    compilation cache, then glibc's allocator and smash's float32 arithmetic if asked, and the
    routing of linear steps."""
    _configure_cpu_compiler()
    _configure_compilation_cache()
    _configure_allocator()
    _FLOAT32_ARITHMETIC.configure()
    _ROUTING_METHOD.configure()


def traced_for_accelerator() -> bool:
    """Whether the program being traced is for an accelerator: JAX's default backend is not the CPU
    (the routing of linear steps, ``stored`` and smash's float32 arithmetic depend on it)."""
    return jax.default_backend() != "cpu"


class _TracingSetting:
    """A setting the operators read when a program is traced (module docstring): one of ``choices``,
    read from the environment ``variable`` on import (``default`` when unset or empty, case and
    spaces aside), changed later by :meth:`set` for the programs traced from then on (those already
    traced keep theirs). ``what`` names it in errors."""

    def __init__(self, variable: str, choices: tuple[str, ...], default: str, what: str) -> None:
        self.variable, self.choices, self.default, self.what = variable, choices, default, what
        self.value = default

    def get(self) -> str:
        """The setting's value for programs traced now."""
        return self.value

    def set(self, name: str) -> None:
        """Set the value for programs traced from now on; a ``ValueError`` names the choices."""
        if name not in self.choices:
            raise ValueError(f"{self.what} {name!r} is not one hydrograd knows: expected one of {self.choices}")
        self.value = name

    def configure(self) -> None:
        """Read the value from the environment; a ``ValueError`` names the variable and the choices."""
        name = os.environ.get(self.variable, self.default).strip().lower() or self.default
        if name not in self.choices:
            raise ValueError(
                f"{self.variable}={name!r} is not a {self.what} hydrograd knows: expected one of {self.choices}"
            )
        self.set(name)


FLOAT32_ARITHMETICS = ("native", "smash")
"""The float32 arithmetics (module docstring): XLA's own, or smash's operation for operation."""
ROUTING_METHODS = ("auto", "levels", "doubling")
"""How a linear routing step is routed (module docstring): ``auto`` chooses by the backend."""

_FLOAT32_ARITHMETIC = _TracingSetting(FLOAT32_ENV, FLOAT32_ARITHMETICS, "native", "float32 arithmetic")
_ROUTING_METHOD = _TracingSetting(ROUTING_ENV, ROUTING_METHODS, "auto", "routing")
float32_arithmetic, set_float32_arithmetic = _FLOAT32_ARITHMETIC.get, _FLOAT32_ARITHMETIC.set
"""The process's float32 arithmetic (``HYDROGRAD_FLOAT32``), read by the structures when traced."""
routing_method, set_routing_method = _ROUTING_METHOD.get, _ROUTING_METHOD.set
"""The process's routing of linear steps (``HYDROGRAD_ROUTING``), read by the routing operators."""


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


def size_cpu_pool(n_cells: int) -> None:
    """Start JAX's backends with XLA's CPU pool sized for a domain of ``n_cells`` active cells
    (module docstring); nothing if they already run or the environment sizes the pool.

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


def optimizer_blas_threads(setting: str, openblas_threads: str | None) -> int | None:
    """Threads of OpenBLAS while a scipy optimizer runs; None to leave its count alone.

    ``setting`` is the value of ``HYDROGRAD_BLAS_THREADS``: ``"auto"`` (one thread), ``"default"``
    or a number of threads; ``openblas_threads``, the value of ``OPENBLAS_NUM_THREADS``, wins when set.
    """
    setting = setting.strip().lower()
    if setting not in ("auto", "default") and (not setting.isdigit() or int(setting) < 1):
        raise ValueError(
            f"{BLAS_THREADS_ENV}={setting!r} is not a number of BLAS threads hydrograd knows: "
            "expected 'auto', 'default' or a positive number of threads"
        )
    if openblas_threads or setting == "default":
        return None
    return 1 if setting == "auto" else int(setting)


def openblas_paths(maps: str) -> list[str]:
    """The OpenBLAS libraries a process has loaded, from the text of its ``/proc/self/maps``."""
    paths = (line.split(maxsplit=5)[-1] for line in maps.splitlines() if "openblas" in line)
    return list(dict.fromkeys(path for path in paths if "openblas" in Path(path).name))


def _openblas_thread_functions() -> list[tuple]:
    try:
        with open("/proc/self/maps") as handle:
            maps = handle.read()
    except OSError:
        return []
    found = []
    for path in openblas_paths(maps):
        try:
            library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:
            continue
        for get, set_ in _OPENBLAS_THREAD_FUNCTIONS:
            if hasattr(library, get) and hasattr(library, set_):
                found.append((getattr(library, get), getattr(library, set_)))
                break
    return found


@contextmanager
def limited_blas_threads() -> Iterator[None]:
    """Every loaded OpenBLAS on :func:`optimizer_blas_threads` threads inside the block; the first
    block entered sets the counts, the last one left restores them (module docstring)."""
    threads = optimizer_blas_threads(os.environ.get(BLAS_THREADS_ENV, "auto"), os.environ.get(OPENBLAS_THREADS_ENV))
    if threads is None:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_LIMIT["depth"] == 0:
            functions = _openblas_thread_functions()
            _BLAS_LIMIT["restore"] = [(set_, get()) for get, set_ in functions]
            for _, set_ in functions:
                set_(threads)
        _BLAS_LIMIT["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_LIMIT["depth"] -= 1
            if _BLAS_LIMIT["depth"] == 0:
                for set_, count in _BLAS_LIMIT["restore"]:
                    set_(count)
