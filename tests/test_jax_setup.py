"""The process-wide JAX settings applied on import: the CPU vector width and the copy insertion
analysis in ``XLA_FLAGS``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hydrograd._jax_setup import (
    COPY_INSERTION_FLAG,
    VECTOR_WIDTH_ENV,
    xla_flags_with_region_copy_insertion,
    xla_flags_with_vector_width,
)

FLAG = "--xla_cpu_prefer_vector_width"
REGION = f"{COPY_INSERTION_FLAG}=true"


@pytest.mark.parametrize(
    ("flags", "setting", "avx512", "expected"),
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
def test_vector_width_is_added_only_where_asked_and_not_already_set(flags, setting, avx512, expected):
    assert xla_flags_with_vector_width(flags, setting, avx512) == expected


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
