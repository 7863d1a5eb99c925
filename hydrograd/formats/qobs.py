"""Observed discharge at the gauges, read from one CSV file per gauge (smash's format).

A gauge's file is the first ``*<code>*.csv`` found below the directory (in path order). Its first
line is the date of the first value (any format ``pandas.Timestamp`` parses, e.g.
``200601010000``); every following line holds one discharge value in m3/s, one per time step
``dt``, with -99 for a missing value.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hydrograd.formats._raster import MISSING, check_directory


def _find_file(directory: str, code: str) -> str | None:
    found = sorted(glob.glob(f"{glob.escape(directory)}/**/*{glob.escape(code)}*.csv", recursive=True))
    return found[0] if found else None


def _first_date(header: str, path: str, code: str) -> pd.Timestamp:
    try:
        date = pd.Timestamp(header)
    except (ValueError, TypeError):
        date = pd.NaT
    if pd.isna(date):
        raise ValueError(
            f"First line '{header}' of the observed discharge file '{path}' (gauge '{code}') is not a "
            f"date; expected the date of the first value, e.g. '200601010000' or '2006-01-01 00:00'"
        )
    return date


def read_qobs(
    directory: str | os.PathLike[str],
    codes: Sequence[str],
    *,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
) -> np.ndarray:
    """Observed discharge of each gauge over the simulation period.

    Column ``k`` (``k = 0..ntime_step-1``) is the value dated ``start_time + (k + 1) * dt``, with
    ``ntime_step = (end_time - start_time) / dt`` and ``dt`` in seconds.

    Returns a float32 array ``(len(codes), ntime_step)`` in m3/s, -99 where the value is missing
    or outside the file. Gauges without a file, or whose file does not reach the period, are
    reported in a ``UserWarning`` and stay at -99. As in smash, the file's last line is never
    used.
    """
    path = check_directory(directory, "qobs_directory")
    dt = float(dt)
    if dt <= 0:
        raise ValueError(f"dt={dt} s; expected a positive time step in seconds")
    start_time, end_time = pd.Timestamp(start_time), pd.Timestamp(end_time)
    ntime_step = int((end_time - start_time).total_seconds() / dt)
    q = np.full((len(codes), ntime_step), MISSING, dtype=np.float32)

    absent = []
    for i, code in enumerate(codes):
        file = _find_file(path, str(code))
        if file is None:
            absent.append(str(code))
            continue
        try:
            table = pd.read_csv(file)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ValueError(
                f"Cannot read the observed discharge file '{file}' (gauge '{code}'): {error}; expected a date on "
                f"the first line, then one discharge value in m3/s per line"
            ) from None
        file_start = _first_date(table.columns[0], file, code)
        values = table.iloc[:, 0]
        if len(values) and not pd.api.types.is_numeric_dtype(values):
            bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()].iloc[0]
            raise ValueError(
                f"Non-numeric value '{bad}' in the observed discharge file '{file}' (gauge '{code}'); "
                f"expected one discharge value in m3/s per line, -99 when missing"
            )

        last = len(table) - 1
        # Row of the file holding the first step, and row just past the last step.
        first_row = int((start_time - file_start).total_seconds() / dt) + 1
        stop_row = int((end_time - file_start).total_seconds() / dt) + 1
        if last < 0 or first_row > last or stop_row < 0:
            file_end = file_start + pd.Timedelta(seconds=dt * max(last, 0))
            warnings.warn(
                f"The observed discharge file '{file}' (gauge '{code}') covers [{file_start}, "
                f"{file_end}], which does not reach the simulation period [{start_time}, {end_time}]",
                UserWarning,
                stacklevel=2,
            )
            continue
        r0, r1 = max(0, first_row), min(last, stop_row)
        c0 = max(0, -first_row)
        q[i, c0 : c0 + r1 - r0] = values.iloc[r0:r1].to_numpy()

    if absent:
        warnings.warn(
            f"No observed discharge file below '{path}' for {len(absent)} gauge(s): {absent}; "
            f"their discharge is set to -99",
            UserWarning,
            stacklevel=2,
        )
    return q
