"""Hydrograph segmentation: flood events detected on a discharge series and its rainfall.

Numpy only: segmentation is applied to given series (usually observations), outside any gradient.
The rules follow smash 1.3.0 so that the same events come out:

- discharge and rainfall below zero are missing (NaN);
- candidate peaks are the interior local maxima of the discharge (a strict rise before, no rise
  after, no missing neighbour) reaching ``max(peak_quant-quantile of q, peak_value)``;
- for each peak, the event starts at the first rainfall onset of the 72 h before it: the first
  local maximum of the rainfall gradient that reaches its 0.8-quantile (when several, only those
  whose 24 h rainfall energy exceeds 0.2 times the largest are kept; when none, the steepest rise);
- the event ends where the quickflow summed over the next 48 h is smallest, searching from the
  step before the peak to ``start + max_duration + 48 h`` (quickflow from the baseflow filter);
- an event starting before the previous one ends is merged into it (``multipeak``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config.signal_options import EventSeg

SEGMENTATION_COLUMNS = ["code", "start", "end", "multipeak", "maxrainfall", "flood", "season"]

_ONSET_QUANTILE = 0.8  # quantile of the rainfall gradient a rainfall onset must reach
_ONSET_ENERGY_RATIO = 0.2  # share of the largest 24 h rainfall energy an onset must exceed
_START_SEARCH_H = 72
_ENERGY_WINDOW_H = 24
_END_SEARCH_H = 48
_FILTER_PARAMETER = np.float32(0.925)


def baseflow_separation(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseflow and quickflow (float32) of a gap-free discharge series, by smash's three-pass
    filter evaluated step by step in single precision (see ``hydrograd.core.signatures``)."""
    x = np.asarray(q, dtype=np.float32)
    m = x.size
    base = np.zeros(m, np.float32)
    quick = np.zeros(m, np.float32)
    if m == 0:
        return base, quick
    a = _FILTER_PARAMETER
    h = (np.float32(1.0) - a) / np.float32(2.0)
    first_guess = x[0] < _quantile_f32(x, 0.25)
    base[0] = x[0] if first_guess else _mean_f32(x) / np.float32(1.5)
    ref = x.copy()
    for pass_index, order in enumerate((range(1, m), range(m - 2, -1, -1), range(1, m))):
        step = -1 if pass_index == 1 else 1
        for i in order:
            filtered = a * base[i - step] + h * (ref[i] + ref[i - step])
            base[i] = ref[i] if filtered > ref[i] else filtered
            quick[i] = x[i] - base[i]
        if pass_index < 2:
            ref = base.copy()
            edge = m - 1 if pass_index == 0 else 0
            mean = _mean_f32(ref)
            base[edge] = x[edge] / np.float32(1.2) if x[edge] < mean else mean
    return base, quick


def _mean_f32(x: np.ndarray) -> np.float32:
    """Mean with a left-to-right single-precision sum."""
    return np.cumsum(x, dtype=np.float32)[-1] / np.float32(x.size)


def _quantile_f32(x: np.ndarray, p: float) -> np.float32:
    """Linear-interpolation quantile in single precision (one value: that value)."""
    n = x.size
    if n < 2:
        return x[0]
    ordered = np.sort(x)
    frac = np.float32(n - 1) * np.float32(p) + np.float32(1.0)
    if frac <= 1:
        return ordered[0]
    if frac >= n:
        return ordered[-1]
    k = int(frac)
    return ordered[k - 1] + (ordered[k] - ordered[k - 1]) * (frac - np.float32(k))


def _local_maxima(x: np.ndarray, min_height: float | None = None) -> np.ndarray:
    """Interior indices with a strict rise before and no rise after, away from missing values,
    optionally at least ``min_height``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 3:
        return np.array([], dtype=int)
    rise = np.diff(x)
    known = ~np.isnan(x)
    centre = np.arange(1, x.size - 1)
    ok = (rise[:-1] > 0) & (rise[1:] <= 0) & known[:-2] & known[1:-1] & known[2:]
    peaks = centre[ok]
    if min_height is not None:
        peaks = peaks[x[peaks] >= min_height]
    return peaks


def _highest_local_maximum(x: np.ndarray) -> int | None:
    """The local maximum (see ``_local_maxima``) of greatest height; among equal heights, the
    one numpy's default argsort ranks last."""
    peaks = _local_maxima(x)
    if peaks.size == 0:
        return None
    heights = np.where(np.isnan(x[peaks]), np.inf, x[peaks]).astype(np.float64)
    return int(peaks[np.argsort(heights)[-1]])


def _steps(hours: float, dt: float) -> int:
    return round(hours * 3600 / dt)


def _event_start(p: np.ndarray, i_peak: int, search: int, energy_window: int) -> int:
    """Index of the rainfall onset that starts the event peaking at ``i_peak``."""
    first = max(i_peak - search, 0)
    window = p[first:i_peak]
    slope = np.gradient(window) if window.size > 1 else np.zeros_like(window)
    if np.isnan(slope).all():
        return first
    onsets = _local_maxima(slope, np.nanquantile(slope, _ONSET_QUANTILE))
    if onsets.size > 1:
        rain = np.nan_to_num(window, nan=0)
        energy = np.array([np.linalg.norm(rain[j - 1 : j + energy_window - 1], ord=2) for j in onsets])
        onsets = onsets[energy > _ONSET_ENERGY_RATIO * energy.max()]
    onset = int(onsets[0]) if onsets.size else int(np.nanargmax(slope))
    return onset + first


def _event_end(q: np.ndarray, i_peak: int, stop: int, end_search: int) -> int | None:
    """Index where the quickflow summed over ``end_search`` steps is smallest, from ``i_peak``;
    None when no discharge is known after the peak."""
    flow = q[i_peak - 1 : stop - 1]
    known = ~np.isnan(flow)
    base = np.zeros(flow.shape)
    base[known] = baseflow_separation(flow[known])[0]
    quick = flow - base
    width = min(end_search, quick.size)
    total = np.zeros(quick.size - width + 1)
    for shift in range(width):
        total += quick[shift : shift + total.size]
    if np.isnan(total).all():
        return None
    return i_peak + int(np.nanargmin(total))


def flood_events(
    p: np.ndarray,
    q: np.ndarray,
    dt: float,
    peak_quant: float = EventSeg.peak_quant,
    peak_value: float = EventSeg.peak_value,
    max_duration: float = EventSeg.max_duration,
) -> list[dict[str, Any]]:
    """Flood events of one gauge: a list of dicts with step indices ``start``, ``end`` (inclusive),
    ``peak_q`` (largest discharge), ``peak_p`` (rainfall peak) and ``multipeak`` (bool).

    ``p``: rainfall and ``q``: discharge, ``(ntime,)`` (negative = missing), ``dt`` in seconds,
    ``peak_value`` in m3/s, ``max_duration`` in hours.
    """
    search, energy_window = _steps(_START_SEARCH_H, dt), _steps(_ENERGY_WINDOW_H, dt)
    end_search, duration = _steps(_END_SEARCH_H, dt), _steps(max_duration, dt)
    p = np.where(p < 0, np.nan, p)
    q = np.where(q < 0, np.nan, q)
    if np.isnan(q).all():
        return []
    threshold = max(np.nanquantile(q, peak_quant), peak_value)
    events: list[dict[str, Any]] = []
    for i_peak in _local_maxima(q, threshold):
        i_peak = int(i_peak)
        start = _event_start(p, i_peak, search, energy_window)
        rain_peak = _highest_local_maximum(p[start:i_peak])
        peak_p = start + (int(np.argmax(p[start:i_peak])) if rain_peak is None else rain_peak)
        stop = min(start + duration + end_search, q.size)
        if stop <= i_peak:
            continue
        end = _event_end(q, i_peak, stop, end_search)
        if end is None:
            continue
        if events and events[-1]["end"] >= start:
            last = events[-1]
            last["end"] = max(end, last["end"])
            last["start"] = min(start, last["start"])
            last["multipeak"] = True
            if q[i_peak] > q[last["peak_q"]]:
                last["peak_q"] = i_peak
            if p[peak_p] > p[last["peak_p"]]:
                last["peak_p"] = peak_p
            continue
        events.append({"start": start, "end": end, "multipeak": False, "peak_p": peak_p, "peak_q": i_peak})
    return events


def season(day: pd.Timestamp | date) -> str:
    """Meteorological season of a date: winter up to 20 March and from 21 December, spring
    21 March - 20 June, summer 21 June - 22 September, autumn 23 September - 20 December."""
    month_day = (day.month, day.day)
    if month_day <= (3, 20) or month_day >= (12, 21):
        return "winter"
    if month_day <= (6, 20):
        return "spring"
    if month_day <= (9, 22):
        return "summer"
    return "autumn"


def step_dates(start_time: str | pd.Timestamp, dt: float, n: int) -> pd.DatetimeIndex:
    """The date smash's segmentation attaches to each of ``n`` time steps: ``start_time + k dt``."""
    return pd.date_range(start=start_time, periods=n, freq=f"{int(dt)}s")


def gauges_with_data(
    gauges: Sequence[int], q: np.ndarray, mean_prcp: np.ndarray, codes: Sequence[str], what: str
) -> list[int]:
    """The gauges of ``gauges`` (sorted) that have some discharge in ``q`` and some rainfall in
    ``mean_prcp`` (both ``(ng, ntime)``, negative = missing); the others are dropped with a warning
    naming them and ``what`` needs the data."""
    kept = []
    for i in sorted(set(gauges)):
        if np.all(q[i] < 0):
            warnings.warn(f"No discharge available at gauge '{codes[i]}' for {what}", stacklevel=3)
        elif np.all(mean_prcp[i] < 0):
            warnings.warn(f"No precipitation data available at gauge '{codes[i]}' for {what}", stacklevel=3)
        else:
            kept.append(i)
    return kept


def event_mask(
    q: np.ndarray,
    mean_prcp: np.ndarray,
    dt: float,
    gauges: Sequence[int],
    event_seg: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Event ids of the discharge ``q`` for the cost: ``mask`` ``(ng, ntime)`` int32 (0 outside
    events, ``k`` on event ``k``, later events overwriting earlier ones) and ``n_event`` ``(ng,)``
    int32. Gauges not in ``gauges`` get no events. ``mean_prcp`` is the catchment rainfall in mm,
    as in smash; ``event_seg`` is ``(peak_quant, peak_value, max_duration)``."""
    q = np.asarray(q)
    mask = np.zeros(q.shape, dtype=np.int32)
    n_event = np.zeros(q.shape[0], dtype=np.int32)
    for i in gauges:
        events = flood_events(np.array(mean_prcp[i], copy=True), q[i].copy(), dt, *event_seg)
        n_event[i] = len(events)
        for k, event in enumerate(events, start=1):
            mask[i, event["start"] : event["end"] + 1] = k
    return mask, n_event


def segmentation_table(
    q: np.ndarray,
    mean_prcp: np.ndarray,
    codes: Sequence[str],
    dates: pd.DatetimeIndex,
    dt: float,
    gauges: Sequence[int],
    event_seg: tuple[float, float, float],
) -> pd.DataFrame:
    """Flood events of the discharge ``q`` at each of ``gauges``: one row per event with columns
    ``code``, ``start``, ``end``, ``multipeak``, ``maxrainfall`` (date of the rainfall peak),
    ``flood`` (date of the discharge peak), ``season``; ``dates`` from :func:`step_dates`."""
    rows = []
    for i in gauges:
        p = np.array(mean_prcp[i], copy=True)
        for event in flood_events(p, q[i].copy(), dt, *event_seg):
            start = dates[event["start"]]
            rows.append(
                [
                    str(codes[i]),
                    start,
                    dates[event["end"]],
                    event["multipeak"],
                    dates[event["peak_p"]],
                    dates[event["peak_q"]],
                    season(start),
                ]
            )
    return pd.DataFrame(rows, columns=SEGMENTATION_COLUMNS)
