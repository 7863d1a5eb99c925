"""Hydrological signatures of discharge series at each gauge, as smash computes them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hydrograd.config.signal_options import EventSeg
from hydrograd.core.signatures import continuous_signatures, event_signatures
from hydrograd.signal._segmentation import flood_events, season

EVENT_COLUMNS = ["code", "season", "start", "end", "multipeak"]


class Signatures:
    """Result of ``signatures``: ``cont`` (one row per gauge: ``code`` and the continuous
    signatures) and ``event`` (one row per flood event: ``code``, ``season``, ``start``, ``end``,
    ``multipeak`` and the event signatures), both pandas DataFrames; NaN where a signature cannot
    be computed."""

    def __init__(self, cont: pd.DataFrame, event: pd.DataFrame):
        self.cont = cont
        self.event = event

    def __repr__(self) -> str:
        return "\n".join(
            f"{name.rjust(6)}: {type(frame)!r}" for name, frame in (("cont", self.cont), ("event", self.event))
        )


def _layers(events: list[dict[str, Any]]) -> list[int]:
    """Assign each event to the first layer where it overlaps no earlier event, so that one
    label array per layer can hold them."""
    ends: list[int] = []
    out = []
    for event in events:
        for layer, end in enumerate(ends):
            if event["start"] > end:
                ends[layer] = event["end"]
                out.append(layer)
                break
        else:
            ends.append(event["end"])
            out.append(len(ends) - 1)
    return out


def _values(x: np.ndarray) -> np.ndarray:
    out = np.asarray(x, dtype=np.float64)
    return np.where(out == -99.0, np.nan, out)


def signature_tables(
    q: np.ndarray,
    q_seg: np.ndarray,
    mprcp: np.ndarray,
    codes: Sequence[str],
    dates: pd.DatetimeIndex,
    dt: float,
    gauges: Sequence[int],
    names: tuple[tuple[str, ...], tuple[str, ...]],
    event_seg: EventSeg,
) -> Signatures:
    """The ``(continuous, event)`` signatures ``names`` of the discharge ``q`` at each of
    ``gauges``, with flood events segmented on ``q_seg`` (both ``(ng, ntime)`` m3/s, negative =
    missing). ``mprcp`` is the catchment rainfall in m3/s (smash's ``mean_prcp * 1e-3 * area_dln /
    dt``); ``dates`` label the steps (``hydrograd.signal.step_dates``). Discharge and Eff, Ebf, Epf
    are in m3/s, Elt in time steps, the others are ratios; NaN where a signature cannot be
    computed."""
    cs, es = names
    q = np.asarray(q, dtype=np.float32)
    cont = pd.DataFrame(columns=["code", *cs])
    if cs and gauges:
        values = _values(continuous_signatures(list(cs), mprcp[list(gauges)], q[list(gauges)]))
        cont = pd.DataFrame([[codes[i], *row] for i, row in zip(gauges, values, strict=True)], columns=cont.columns)

    event = pd.DataFrame(columns=[*EVENT_COLUMNS, *es])
    if es and gauges:
        q_seg = np.asarray(q_seg, dtype=np.float32)
        segmentation = (event_seg.peak_quant, event_seg.peak_value, event_seg.max_duration)
        per_gauge = {i: flood_events(mprcp[i].copy(), q_seg[i].copy(), dt, *segmentation) for i in gauges}
        rows_p, rows_q, rows_labels, where = [], [], [], {}
        for i, events in per_gauge.items():
            layers = _layers(events)
            for layer in range(max(layers, default=-1) + 1):
                labels = np.zeros(q.shape[1], dtype=np.int32)
                members = [k for k, lay in enumerate(layers) if lay == layer]
                for label, k in enumerate(members, start=1):
                    labels[events[k]["start"] : events[k]["end"] + 1] = label
                    where[(i, k)] = (len(rows_labels), label - 1)
                rows_p.append(mprcp[i])
                rows_q.append(q[i])
                rows_labels.append(labels)
        table = None
        if rows_labels:
            n_seg = int(max(lab.max() for lab in rows_labels))
            table = _values(
                event_signatures(list(es), np.stack(rows_p), np.stack(rows_q), np.stack(rows_labels), n_seg)
            )
        rows = []
        for i, events in per_gauge.items():
            if not events:
                rows.append([codes[i]] + [np.nan] * (len(EVENT_COLUMNS) - 1 + len(es)))
            for k, ev in enumerate(events):
                row, col = where[(i, k)]
                start = dates[ev["start"]]
                rows.append([codes[i], season(start), start, dates[ev["end"]], ev["multipeak"], *table[row, col]])
        event = pd.DataFrame(rows, columns=event.columns)
    return Signatures(cont, event)
