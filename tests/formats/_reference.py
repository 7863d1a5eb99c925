"""The hydro-smash models of the shared Lez dataset that the reader tests compare against."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def smash_lez(lez_dir: Path, **overrides):
    """hydro-smash model of the daily Lez dataset, every input folder pointed at ``lez_dir``,
    with ``overrides`` applied to its setup."""
    import smash

    setup = smash.io.read_setup(str(lez_dir / "setup_Lez.yaml"))
    for kind in ("qobs", "prcp", "pet", "descriptor"):
        setup[f"{kind}_directory"] = str(lez_dir / kind)
    setup.update(overrides)
    mesh = smash.io.read_mesh(str(lez_dir / "mesh_Lez.hdf5"))
    return smash.Model(setup, mesh)


def period(model) -> dict:
    """The reading period of a hydro-smash model, as the readers' keyword arguments."""
    s = model.setup
    return {"start_time": pd.Timestamp(s.start_time), "end_time": pd.Timestamp(s.end_time), "dt": s.dt}
