"""The process-wide settings: the CPU vector width and the copy insertion analysis in ``XLA_FLAGS``
and glibc's allocator (applied on import), the size of XLA's CPU pool (chosen by the first model) and
OpenBLAS's threads while a scipy optimizer runs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from hydrograd._process import (
    BLAS_THREADS_ENV,
    CACHE_MAX_BYTES,
    COPY_INSERTION_FLAG,
    CPU_THREADS_ENV,
    MALLOC_ENV,
    POOL_SIZE_ENV,
    SHARED_POOL_MIN_CELLS,
    VECTOR_WIDTH_ENV,
    cpu_pool_size,
    keeps_large_blocks,
    openblas_paths,
    optimizer_blas_threads,
    set_float32_arithmetic,
    set_routing_method,
    wide_vectors_pay,
    xla_flags_with_region_copy_insertion,
    xla_flags_with_vector_width,
)

FLAG = "--xla_cpu_prefer_vector_width"
REGION = f"{COPY_INSERTION_FLAG}=true"


@pytest.mark.parametrize(
    ("flags", "setting", "wide", "expected"),
    [
        ("", "auto", True, f"{FLAG}=512"),
        ("", "auto", False, ""),
        ("--xla_cpu_enable_fast_math=false", "auto", True, f"--xla_cpu_enable_fast_math=false {FLAG}=512"),
        ("", "256", False, f"{FLAG}=256"),
        ("", " Default ", True, ""),
        (f"{FLAG}=128", "auto", True, f"{FLAG}=128"),
        (f"{FLAG}=128", "512", True, f"{FLAG}=128"),
    ],
)
def test_vector_width_is_added_only_where_asked_and_not_already_set(flags, setting, wide, expected):
    assert xla_flags_with_vector_width(flags, setting, wide) == expected


SKYLAKE_SP = {"AVX512F": True, "AVX512_SKX": True, "AVX512_SPR": False}
ICE_LAKE = {**SKYLAKE_SP, "AVX512_CLX": True, "AVX512_ICL": True}
SAPPHIRE_RAPIDS = {**ICE_LAKE, "AVX512_SPR": True}
ZEN4 = {**ICE_LAKE}
AVX2_ONLY = {"AVX2": True, "AVX512F": False}


@pytest.mark.parametrize(
    ("features", "vendor", "expected"),
    [
        (ZEN4, "AuthenticAMD", True),
        (SAPPHIRE_RAPIDS, "GenuineIntel", True),
        (ICE_LAKE, "GenuineIntel", False),
        (SKYLAKE_SP, "GenuineIntel", False),
        (ICE_LAKE, "", False),
        (AVX2_ONLY, "AuthenticAMD", False),
        ({}, "", False),
    ],
)
def test_wide_vectors_only_where_they_run_at_full_clock(features, vendor, expected):
    assert wide_vectors_pay(features, vendor) is expected


def test_unknown_vector_width_names_the_variable():
    with pytest.raises(ValueError, match=f"{VECTOR_WIDTH_ENV}='1024'.*'auto', 'default'"):
        xla_flags_with_vector_width("", "1024", True)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("", REGION),
        (f"{FLAG}=256", f"{FLAG}=256 {REGION}"),
        (f"{COPY_INSERTION_FLAG}=false", f"{COPY_INSERTION_FLAG}=false"),
    ],
)
def test_region_copy_insertion_is_added_unless_the_user_set_it(flags, expected):
    assert xla_flags_with_region_copy_insertion(flags) == expected


@pytest.mark.parametrize(("setting", "expected"), [("256", f"{FLAG}=256 {REGION}"), ("default", REGION)])
def test_import_sets_xla_flags_before_jax_starts(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({VECTOR_WIDTH_ENV: setting, "HYDROGRAD_JAX_CACHE": "0"})
    code = (
        "import os, hydrograd, jax.numpy as jnp; jnp.ones(2).sum().block_until_ready(); "
        "print(os.environ.get('XLA_FLAGS', ''))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1:] == [expected]


@pytest.mark.parametrize(("setting", "expected"), [("default", False), (" Keep ", True), ("keep", True)])
def test_large_blocks_are_kept_only_on_request(setting, expected):
    assert keeps_large_blocks(setting) is expected


@pytest.mark.parametrize("setting", ["auto", "mmap", ""])
def test_unknown_allocator_setting_names_the_variable(setting):
    with pytest.raises(ValueError, match=f"{MALLOC_ENV}='{setting}'.*'default' or 'keep'"):
        keeps_large_blocks(setting)


def _large_array_in_heap(**environment: str) -> bool:
    """Whether a fresh process that imported hydrograd allocates a 64 MB array (above the largest
    block glibc takes from its heap by default) inside its heap."""
    env = {k: v for k, v in os.environ.items() if k not in (MALLOC_ENV, "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")}
    env.update({"HYDROGRAD_JAX_CACHE": "0", **environment})
    code = (
        "import hydrograd, numpy as np\n"
        "a = np.ones(8_000_000)\n"
        "heap = [line.split()[0] for line in open('/proc/self/maps') if line.rstrip().endswith('[heap]')]\n"
        "print(any(int(lo, 16) <= a.ctypes.data < int(hi, 16) for lo, hi in (h.split('-') for h in heap)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()[-1] == "True"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="glibc's allocator, its heap read through /proc",
)
def test_import_keeps_large_blocks_in_the_heap_only_on_request():
    assert _large_array_in_heap(**{MALLOC_ENV: "keep"})
    assert not _large_array_in_heap()
    assert not _large_array_in_heap(**{MALLOC_ENV: "default"})


@pytest.mark.parametrize(
    ("n_cells", "setting", "expected"),
    [
        (383, "auto", 1),
        (SHARED_POOL_MIN_CELLS - 1, " Auto ", 1),
        (SHARED_POOL_MIN_CELLS, "auto", None),
        (906_044, "auto", None),
        (383, "default", None),
        (906_044, "3", 3),
    ],
)
def test_cpu_pool_has_one_worker_below_the_threshold_unless_set(n_cells, setting, expected):
    assert cpu_pool_size(n_cells, setting) == expected


@pytest.mark.parametrize("setting", ["0", "-2", "two", "1.5"])
def test_unknown_cpu_pool_size_names_the_variable(setting):
    with pytest.raises(ValueError, match=f"{CPU_THREADS_ENV}='{setting}'.*positive number of threads"):
        cpu_pool_size(10, setting)


def _pool_workers_after_first_model(**environment: str) -> tuple[int, str]:
    """XLA CPU pool workers (threads named ``tf_XLAEigen``) of a fresh process that builds the
    embedded synthetic model (514 active cells), and its ``PJRT_NPROC`` afterwards."""
    env = {k: v for k, v in os.environ.items() if k not in (CPU_THREADS_ENV, *POOL_SIZE_ENV)}
    env.update({"HYDROGRAD_JAX_CACHE": "0", **environment})
    code = (
        "import glob, os, hydrograd\n"
        "setup, mesh = hydrograd.factory.load_dataset('Synthetic')\n"
        "hydrograd.Model(setup, mesh, verbose=False)\n"
        "names = [open(f).read().strip() for f in glob.glob('/proc/self/task/*/comm')]\n"
        "print(names.count('tf_XLAEigen'), os.environ.get('PJRT_NPROC', '-'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    workers, left = out.stdout.split()[-2:]
    return int(workers), left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts XLA's threads through /proc (Linux only)")
@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, (1, "-")), ({CPU_THREADS_ENV: "2"}, (2, "-")), ({"PJRT_NPROC": "2"}, (2, "2"))],
)
def test_first_model_sizes_the_cpu_pool_unless_the_environment_does(environment, expected):
    assert _pool_workers_after_first_model(**environment) == expected


def test_import_bounds_and_locks_the_compilation_cache(tmp_path):
    """A bounded cache is one JAX locks: processes sharing it never read a half-written entry."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDROGRAD_JAX_CACHE",)}
    env["HYDROGRAD_CACHE"] = str(tmp_path)
    code = (
        "import hydrograd, jax, jax.numpy as jnp; jax.jit(jnp.sin)(jnp.ones(2)).block_until_ready(); "
        "print(jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    folder, size = out.stdout.split()[-2:]
    assert folder == str(tmp_path / "jax-lru") and int(size) == CACHE_MAX_BYTES
    assert (tmp_path / "jax-lru" / ".lockfile").exists()


@pytest.mark.parametrize(
    ("setting", "openblas_threads", "expected"),
    [
        ("auto", None, 1),
        (" Auto ", "", 1),
        ("auto", "4", None),
        ("default", None, None),
        ("3", None, 3),
        ("3", "4", None),
    ],
)
def test_optimizer_blas_threads_are_one_unless_set(setting, openblas_threads, expected):
    assert optimizer_blas_threads(setting, openblas_threads) == expected


@pytest.mark.parametrize("setting", ["0", "-1", "many", "2.5"])
def test_unknown_blas_threads_names_the_variable(setting):
    with pytest.raises(ValueError, match=f"{BLAS_THREADS_ENV}='{setting}'.*positive number of threads"):
        optimizer_blas_threads(setting, "4")


def test_openblas_paths_are_the_loaded_openblas_libraries_once_each():
    scipy_blas = "/venv/scipy.libs/libscipy_openblas-6cdc3b4a.so"
    numpy_blas = "/venv/numpy.libs/libscipy_openblas64_-32a4b2a6.so"
    maps = "\n".join(
        [
            f"7f00-7f10 r--p 00000000 08:01 11 {scipy_blas}",
            f"7f10-7f20 r-xp 00010000 08:01 11 {scipy_blas}",
            "7f20-7f30 rw-p 00000000 00:00 0 ",
            "7f30-7f40 r--p 00000000 08:01 12 /opt/openblas/lib/libgfortran.so.5",
            f"7f40-7f50 r-xp 00000000 08:01 13 {numpy_blas}",
            "7f50-7f60 r-xp 00000000 08:01 14 /usr/lib/libm.so.6",
        ]
    )
    assert openblas_paths(maps) == [scipy_blas, numpy_blas]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds OpenBLAS through /proc (Linux only)")
@pytest.mark.parametrize(("setting", "inside"), [("auto", 1), ("default", 2)])
def test_blas_threads_are_limited_inside_the_block_and_restored_after(setting, inside):
    """In a fresh process with scipy's and numpy's OpenBLAS loaded, each set to two threads; an
    inner block (a second optimizer running) leaves the outer block's count."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update({BLAS_THREADS_ENV: setting, "HYDROGRAD_JAX_CACHE": "0"})
    code = (
        "import scipy.optimize, numpy\n"
        "from hydrograd import _process\n"
        "functions = _process._openblas_thread_functions()\n"
        "for _, set_ in functions: set_(2)\n"
        "with _process.limited_blas_threads():\n"
        "    with _process.limited_blas_threads(): pass\n"
        "    inside = {get() for get, _ in functions}\n"
        "print(len(functions), *inside, *{get() for get, _ in functions})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    found, *counts = map(int, out.stdout.split()[-3:])
    assert found >= 1 and counts == [inside, 2]


@pytest.mark.parametrize(
    ("variable", "reader", "default", "given", "chosen", "choices", "setter", "kind"),
    [
        (
            "HYDROGRAD_FLOAT32",
            "float32_arithmetic",
            "native",
            "smash",
            "smash",
            "'native', 'smash'",
            set_float32_arithmetic,
            "float32 arithmetic",
        ),
        (
            "HYDROGRAD_ROUTING",
            "routing_method",
            "auto",
            "Doubling",
            "doubling",
            "'levels', 'doubling'",
            set_routing_method,
            "routing",
        ),
    ],
    ids=["float32", "routing"],
)
def test_a_tracing_setting_is_read_on_import_and_checked(
    variable, reader, default, given, chosen, choices, setter, kind
):
    """A new process reads the setting on import (its default when unset, case and spaces aside); an
    unknown value stops the import with the variable's name and the choices."""
    code = f"from hydrograd import _process; print(_process.{reader}())"
    env = {k: v for k, v in os.environ.items() if k != variable}
    for value, expected in ((None, default), (f" {given} ", chosen)):
        if value is not None:
            env[variable] = value
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected
    env[variable] = "unknown"
    out = subprocess.run([sys.executable, "-c", "import hydrograd"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and f"{variable}='unknown'" in out.stderr and choices in out.stderr
    with pytest.raises(ValueError, match=f"{kind} 'unknown'"):
        setter("unknown")
