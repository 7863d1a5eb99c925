"""A six-cell catchment built in memory, for tests that need a Model but no input files.

Grid of 2 rows by 3 columns, every cell active, 1 km cells, one gauge at the outlet (row 1,
column 2)::

    (0,0) -> (0,1) -> (0,2)
                        |
    (1,0) -> (1,1) -> (1,2) -> out
"""

from __future__ import annotations

from typing import Any

import numpy as np

START = "2020-01-01"


def tiny_mesh() -> dict[str, Any]:
    """The mesh dict (smash's keys and dtypes)."""
    cells = np.array([[1, 2, 3], [1, 2, 6]], dtype=np.float32)
    return {
        "nrow": 2,
        "ncol": 3,
        "nac": 6,
        "ng": 1,
        "xmin": 0.0,
        "ymax": 2000.0,
        "xres": 1000.0,
        "yres": 1000.0,
        "dx": np.full((2, 3), 1000.0, dtype=np.float32),
        "dy": np.full((2, 3), 1000.0, dtype=np.float32),
        "flwdir": np.array([[3, 3, 5], [3, 3, 3]], dtype=np.int32),
        "flwacc": cells * np.float32(1e6),
        "active_cell": np.ones((2, 3), dtype=np.int32),
        "gauge_pos": np.array([[1, 2]], dtype=np.int32),
        "code": np.array(["G1"]),
        "area": np.array([6e6], dtype=np.float32),
    }


def tiny_setup(ntime_step: int = 24, dt: float = 3600.0, **keys: Any) -> dict[str, Any]:
    """A setup reading no file: ``ntime_step`` steps of ``dt`` seconds from ``START``; ``keys``
    override any setup key."""
    end = np.datetime64(START) + np.timedelta64(int(ntime_step * dt), "s")
    return {"dt": dt, "start_time": START, "end_time": str(end), **keys}


TINY_SCRIPT = '''"""A six-cell catchment built in memory, one forward run."""

# %% import
import importlib
import sys

from tests._tiny import tiny_mesh, tiny_setup

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")

# %% build
model = smash.Model(tiny_setup(), tiny_mesh())

# %% call
model.forward_run(common_options={"verbose": False})

# %% close
q = model.response.q
'''
"""A user script (``benchmarks/scripts`` form: ``# %%`` phases) of one forward run of the catchment
above, for the benchmarks' fresh-process tests."""
