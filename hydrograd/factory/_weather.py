"""Weather of the synthetic catchment: storm-event rainfall and seasonal potential evapotranspiration.

Both are daily fields in mm per day on the terrain grid, shape ``(ntime_step, nrow, ncol)``,
``float32``; step ``t`` covers the day that ends at ``dates[t]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STORM_RATE = 0.19
"""Mean number of storm events starting per day (modulated by the season)."""

WET_THRESHOLD = 0.1
"""Daily depth (mm) below which a cell's rainfall is set to zero."""

_SUBSTEPS = 8
_YEAR = 365.25


def _season(dates: pd.DatetimeIndex, peak_day: float) -> np.ndarray:
    """Cosine of the phase of each day in the year, 1 on ``peak_day`` (day of year)."""
    day = (dates - pd.Timedelta(days=1)).day_of_year.to_numpy(dtype=np.float64)
    return np.cos(2 * np.pi * (day - peak_day) / _YEAR)


def storm_rainfall(
    rng: np.random.Generator, dates: pd.DatetimeIndex, elevation: np.ndarray, cell_size: float
) -> np.ndarray:
    """Daily rainfall (mm) from storm events: ``(len(dates), nrow, ncol)`` float32.

    Events start as a Poisson process, more often in autumn and winter, and last one to a few
    days. Each carries a broad stratiform rain enhanced with elevation, and convective cells:
    Gaussian blobs of random size and intensity crossing the grid along the event's wind (smaller
    and fiercer in summer). Days outside any event are dry.
    """
    shape = elevation.shape
    rows, cols = np.indices(shape, dtype=np.float64)
    size_km = np.array(shape) * cell_size / 1000.0
    y_km, x_km = rows * cell_size / 1000.0, cols * cell_size / 1000.0
    relief = (elevation - elevation.min()) / max(float(np.ptp(elevation)), 1.0)

    autumn = _season(dates, peak_day=300.0)
    summer = _season(dates, peak_day=200.0)
    starts = rng.poisson(STORM_RATE * (1.0 + 0.45 * autumn))
    rain = np.zeros((len(dates), *shape))
    for day in np.flatnonzero(starts):
        for _ in range(starts[day]):
            duration = 1 + rng.poisson(1.0)
            heading = rng.normal(np.pi / 4, 0.6)  # wind from the south-west, mostly
            speed = rng.uniform(15.0, 60.0)  # km per day
            velocity = speed * np.array([-np.sin(heading), np.cos(heading)])  # (row, col) km/day
            convective = max(0.0, summer[day])
            stratiform = rng.gamma(1.5, 3.0) * (1.0 - 0.6 * convective)
            gradient = rng.normal(0.0, 0.3, size=2)
            broad = 1.0 + gradient[0] * (y_km / size_km[0] - 0.5) + gradient[1] * (x_km / size_km[1] - 0.5)
            for offset in range(duration):
                t = day + offset
                if t >= len(dates):
                    break
                decay = rng.uniform(0.5, 1.0) ** offset
                field = stratiform * decay * np.clip(broad, 0.3, None) * (1.0 + 0.8 * relief)
                n_cells = 1 + rng.poisson(2.0)
                starts_km = rng.uniform(-0.3, 1.3, size=(n_cells, 2)) * size_km - 0.5 * velocity
                radii = rng.uniform(3.0, 10.0, size=n_cells) * (1.0 - 0.5 * convective)
                peaks = decay * rng.gamma(2.0, 7.0 + 12.0 * convective, size=n_cells)
                for start, radius, peak in zip(starts_km, radii, peaks, strict=True):
                    for sub in range(_SUBSTEPS):
                        centre = start + (sub + 0.5) / _SUBSTEPS * velocity
                        distance2 = (y_km - centre[0]) ** 2 + (x_km - centre[1]) ** 2
                        field += peak / _SUBSTEPS * np.exp(-distance2 / (2 * radius**2))
                rain[t] += field
    rain[rain < WET_THRESHOLD] = 0.0
    return rain.astype(np.float32)


def seasonal_pet(
    rng: np.random.Generator, dates: pd.DatetimeIndex, elevation: np.ndarray, prcp: np.ndarray
) -> np.ndarray:
    """Daily potential evapotranspiration (mm): ``(len(dates), nrow, ncol)`` float32.

    A sinusoid from about 0.5 mm/d in mid-January to 5 mm/d in mid-July, lower at altitude
    (-6 % per 100 m above the grid's mean elevation), cut by cloud on rainy days and perturbed by
    autocorrelated day-to-day noise.
    """
    cycle = 2.75 + 2.25 * _season(dates, peak_day=200.0)
    altitude = np.clip(1.0 - 6e-4 * (elevation - elevation.mean()), 0.5, 1.5)
    cloud = 1.0 - 0.5 * np.clip(prcp.mean(axis=(1, 2)) / 10.0, 0.0, 1.0)
    noise = np.empty(len(dates))
    level = 0.0
    for t in range(len(dates)):
        level = 0.7 * level + rng.normal(0.0, 0.08)
        noise[t] = level
    daily = np.maximum(cycle * cloud * np.exp(noise), 0.05)
    return (daily[:, None, None] * altitude[None]).astype(np.float32)
