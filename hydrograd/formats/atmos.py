"""Atmospheric forcing (precipitation, PET, snow, temperature) read from dated GeoTIFF files.

The layout is smash's: one raster per time step, anywhere below the data directory (nested
``YYYY/MM/..`` folders or flat), each file name carrying its date. For a sub-daily time step the
first 12 consecutive digits of the name are read as ``%Y%m%d%H%M``; for a daily one the first 8
as ``%Y%m%d``. The value at step ``k`` (``k = 1..ntime_step``) is the raster dated
``start_time + k * dt``. Steps without a file hold -99 and are listed in a warning.

With ``daily_interannual=True`` (PET only), the directory holds at most 366 rasters of a mean
daily total named by their first 4 digits ``%m%d``; each day's total is spread over the day's
sub-daily steps with a fixed hourly profile.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import rasterio

from hydrograd._progress import progress_bar
from hydrograd.formats._raster import MISSING, GridLike, ReadIssues, check_directory, check_format, read_window

KINDS = {
    "prcp": "precipitation",
    "pet": "potential evapotranspiration",
    "snow": "snow",
    "temp": "temperature",
}

DAY = 86_400

# Share of a day's PET falling in each hour 00h..23h (sums to 1); the values are smash's.
HOURLY_PET_PROFILE = np.array(
    [0.0] * 7 + [0.035, 0.062, 0.079, 0.097, 0.11, 0.117, 0.117, 0.11, 0.097, 0.079, 0.062, 0.035] + [0.0] * 5,
    dtype=np.float32,
)

_LEAP_YEAR = 2020  # calendar on which a daily interannual file's %m%d is placed


def _step_dates(start_time: pd.Timestamp, end_time: pd.Timestamp, dt: float) -> pd.DatetimeIndex:
    """End dates of the time steps: ``start + dt, ..., end``."""
    return pd.date_range(start=start_time, end=end_time, freq=f"{int(dt)}s")[1:]


def _date_pattern(dt: float, daily_interannual: bool) -> tuple[re.Pattern[str], str, str]:
    """Regex finding the date in a file name, its strptime format, and how to describe it."""
    if daily_interannual:
        return re.compile(r"\d{4}"), "%m%d", "MMDD (first 4 digits of the name)"
    if dt < DAY:
        return re.compile(r"\d{12}"), "%Y%m%d%H%M", "YYYYMMDDhhmm (first 12 digits of the name)"
    return re.compile(r"\d{8}"), "%Y%m%d", "YYYYMMDD (first 8 digits of the name)"


def _file_dates(files: Sequence[str], dt: float, daily_interannual: bool) -> np.ndarray:
    """Date encoded in each file name, as int64 nanoseconds (interannual files are placed in 2020)."""
    if not files:
        return np.empty(0, dtype=np.int64)
    pattern, fmt, described = _date_pattern(dt, daily_interannual)
    stamps = []
    for f in files:
        match = pattern.search(os.path.basename(f))
        if match is None:
            raise ValueError(f"Cannot find a date in the name of '{f}'; expected {described}")
        stamps.append(match.group())
    if daily_interannual:
        stamps = [f"{_LEAP_YEAR}{s}" for s in stamps]
        fmt = "%Y%m%d"
    dates = pd.to_datetime(pd.Series(stamps), format=fmt, errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        raise ValueError(f"Invalid date '{stamps[bad[0]]}' in the name of '{files[bad[0]]}'; expected {described}")
    return dates.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _list_files(directory: str, fmt: str, access: str, steps: pd.DatetimeIndex) -> list[str]:
    """Every ``*fmt`` file below ``directory`` (or below its ``access`` sub-folders), sorted by path."""
    subdirs = sorted(set(steps.strftime(access))) if access else [""]
    root = glob.escape(directory)
    files: list[str] = []
    for sub in subdirs:
        files.extend(glob.glob(f"{root}/{sub}/**/*{fmt}", recursive=True))
    return sorted(files)


def _match(file_dates: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of the file read for each target date, -1 where none.

    Files are scanned in path order with a cursor that only moves forward: for each target, files
    dated earlier are skipped, the last file dated exactly at the target (before the first later
    one) is taken, and the cursor moves just past it. With files named consistently this is a plain
    date lookup; it also reproduces smash's choice when names sort out of date order or repeat.
    """
    dates = file_dates.tolist()
    chosen = np.full(len(targets), -1, dtype=np.int64)
    cursor = 0
    for k, target in enumerate(targets.tolist()):
        found = -1
        for i in range(cursor, len(dates)):
            if dates[i] == target:
                found = i
            elif dates[i] > target:
                break
        if found >= 0:
            chosen[k] = found
            cursor = found + 1
    return chosen


def _profile(dt: float) -> np.ndarray:
    """Fraction of a day's total assigned to each of the day's steps (length ``86400 / dt``)."""
    per_hour = 3_600 / dt
    if per_hour >= 1:
        return np.repeat(HOURLY_PET_PROFILE, int(per_hour)) / per_hour
    return np.sum(HOURLY_PET_PROFILE.reshape(-1, int(1 / per_hour)), axis=1)


def _read_steps(
    files: list[str],
    chosen: np.ndarray,
    grid: GridLike,
    factor: np.float32,
    issues: ReadIssues,
    desc: str,
    verbose: bool,
) -> Iterator[np.ndarray | None]:
    """For each entry of ``chosen``: the window of that file times ``factor``, or None where it is -1."""
    with rasterio.Env():
        for k in progress_bar(None, desc, verbose, iterable=chosen):
            yield None if k < 0 else read_window(files[k], grid, issues) * factor


def _interannual_steps(
    directory: str,
    fmt: str,
    access: str,
    steps: pd.DatetimeIndex,
    dt: float,
    grid: GridLike,
    factor: np.float32,
    issues: ReadIssues,
    verbose: bool,
) -> Iterator[np.ndarray | None]:
    files = _list_files(directory, fmt, access, steps)
    step_doy = steps.day_of_year.to_numpy()
    # The days of the leap-year calendar that some step falls on, by day of year.
    days = pd.date_range(start=f"{_LEAP_YEAR}-01-01", end=f"{_LEAP_YEAR}-12-31", freq="1D")
    days = days[np.isin(days.day_of_year.to_numpy(), step_doy)]
    chosen = _match(_file_dates(files, dt, True), days.as_unit("ns").asi8)
    daily = list(_read_steps(files, chosen, grid, factor, issues, "</> Reading daily interannual pet", verbose))
    issues.missing.extend(days[chosen < 0].strftime("%m-%d"))

    # A step takes the file of its day of year in the leap-year calendar, as in smash (so in a
    # common year dates from March on take the file of the day before).
    offset = int((steps[0] - steps[0].floor("D")).total_seconds() / dt)
    nstep_per_day = int(DAY / dt)
    ratio = _profile(dt)[(np.arange(len(steps)) + offset) % nstep_per_day]
    day = np.searchsorted(days.day_of_year.to_numpy(), step_doy)
    for k in range(len(steps)):
        values = daily[day[k]]
        yield None if values is None else values * ratio[k]


def atmos_steps(
    kind: str,
    directory: str | os.PathLike[str],
    *,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
    grid: GridLike,
    fmt: str = "tif",
    access: str = "",
    conversion_factor: float = 1.0,
    daily_interannual: bool = False,
    verbose: bool = True,
) -> tuple[int, Iterator[np.ndarray | None]]:
    """The number of time steps of one atmospheric variable, and an iterator over them in order: a
    float32 ``(nrow, ncol)`` matrix for a step whose file was found, None for a step without a
    file (see :func:`read_atmos` for the arguments, the values and the errors). The options are
    checked at once; the files are listed when the first step is asked for, and the warning of
    :func:`read_atmos` is emitted after the last one."""
    if kind not in KINDS:
        raise ValueError(f"Unknown atmospheric data kind {kind!r}; expected one of {list(KINDS)}")
    key = f"{kind}_directory"
    path = check_directory(directory, key)
    check_format(fmt, f"{kind}_format")
    if daily_interannual and kind != "pet":
        raise ValueError(f"daily_interannual applies to 'pet' only, not to {kind!r}")
    dt = float(dt)
    if not (0 < dt <= DAY) or dt != int(dt):
        raise ValueError(
            f"dt={dt} s is not supported for reading dated files; expected a whole number of seconds in ]0, 86400]"
        )
    if daily_interannual and (DAY % dt or (3_600 % dt and dt % 3_600)):
        raise ValueError(
            f"dt={dt} s cannot split the hourly PET profile; with daily_interannual=True dt must divide "
            f"3600 or be a multiple of 3600 dividing 86400"
        )
    if not np.isfinite(conversion_factor) or conversion_factor <= 0:
        raise ValueError(f"{kind}_conversion_factor={conversion_factor}; expected a positive number")
    start_time, end_time = pd.Timestamp(start_time), pd.Timestamp(end_time)
    if end_time <= start_time:
        raise ValueError(f"end_time ({end_time}) must be later than start_time ({start_time})")

    steps = _step_dates(start_time, end_time, dt)
    factor = np.float32(conversion_factor)
    return len(steps), _generate(kind, path, fmt, access, steps, dt, grid, factor, daily_interannual, verbose)


def _generate(
    kind: str,
    path: str,
    fmt: str,
    access: str,
    steps: pd.DatetimeIndex,
    dt: float,
    grid: GridLike,
    factor: np.float32,
    daily_interannual: bool,
    verbose: bool,
) -> Iterator[np.ndarray | None]:
    issues = ReadIssues()
    if daily_interannual:
        yield from _interannual_steps(path, fmt, access, steps, dt, grid, factor, issues, verbose)
    else:
        files = _list_files(path, fmt, access, steps)
        dates = _file_dates(files, dt, False)
        # Files before the first one (in path order) dated at or after the first step are ignored.
        later = np.flatnonzero(dates >= steps[0].value)
        first = later[0] if later.size else len(files)
        chosen = _match(dates[first:], steps.as_unit("ns").asi8)
        chosen[chosen >= 0] += first
        issues.missing.extend(steps[chosen < 0].strftime("%Y-%m-%d %H:%M"))
        yield from _read_steps(files, chosen, grid, factor, issues, f"</> Reading {KINDS[kind]}", verbose)
    issues.warn(KINDS[kind])


def read_atmos(
    kind: str,
    directory: str | os.PathLike[str],
    *,
    start_time: pd.Timestamp,
    end_time: pd.Timestamp,
    dt: float,
    grid: GridLike,
    fmt: str = "tif",
    access: str = "",
    conversion_factor: float = 1.0,
    daily_interannual: bool = False,
    verbose: bool = True,
) -> np.ndarray:
    """Read one atmospheric variable on the mesh grid over the simulation period.

    Parameters
    ----------
    kind : "prcp", "pet", "snow" or "temp".
    directory : folder searched recursively for the ``*.{fmt}`` files.
    start_time, end_time : simulation period; step ``k`` ends at ``start_time + k * dt``.
    dt : time step in seconds, a whole number, at most 86400.
    grid : mesh geometry (``xmin, ymax, xres, yres, nrow, ncol``).
    access : optional ``strftime`` pattern of the sub-folders to search (e.g. ``"%Y/%m"``);
        only the folders of the period's dates are listed.
    conversion_factor : multiplies every value read (e.g. 0.1 for files in tenths of mm).
    daily_interannual : PET only; the files are 366 mean daily totals named by ``%m%d``.

    Returns
    -------
    float32 array ``(nrow, ncol, ntime_step)`` in the files' units times ``conversion_factor``
    (mm per time step for prcp/pet/snow, °C for temp). Steps without a file hold -99. Cells
    outside a raster (all cells when a raster does not overlap the mesh) or at its nodata value
    hold -99 times ``conversion_factor`` (times the hourly share for interannual PET, which makes
    it -0.0 at night), as in smash: the factor multiplies the whole window read, fill included.
    So a missing precipitation or PET value is any negative value, not only -99.

    Missing files, resampling, grid misalignment and partial or total non-overlap are reported in
    one ``UserWarning`` with smash's text (``Warning(s) linked to precipitation reading.`` then
    ``Missing warning: missing N file(s): [...]``, ``Resolution warning: ...``, ``Overlap
    warning: ...``, ``Out of bound warning: mesh is partially|totally out of bound ...``). Raises
    ``FileNotFoundError`` for a missing directory and ``ValueError`` for an unknown kind, a file
    name without a valid date, or a raster file that cannot be read (naming the file).
    """
    ntime_step, steps = atmos_steps(
        kind,
        directory,
        start_time=start_time,
        end_time=end_time,
        dt=dt,
        grid=grid,
        fmt=fmt,
        access=access,
        conversion_factor=conversion_factor,
        daily_interannual=daily_interannual,
        verbose=verbose,
    )
    out = np.full((int(grid.nrow), int(grid.ncol), ntime_step), MISSING, dtype=np.float32, order="F")
    for k, values in enumerate(steps):
        if values is not None:
            out[..., k] = values
    return out
