"""``signatures``: observed or simulated hydrological signatures of each gauge, as smash computes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hydrograd.config._checks import check_model, closest, reject_unknown_keys
from hydrograd.core.signatures import (
    CONTINUOUS_SIGNATURES,
    EVENT_SIGNATURES,
    SIGNATURES,
    continuous_signatures,
    event_signatures,
)
from hydrograd.signal.segmentation import (
    EVENT_SEG_CHECKS,
    MAX_DURATION,
    PEAK_QUANT,
    PEAK_VALUE,
    check_domain,
    check_gauges,
    flood_events,
    season,
    step_dates,
)

if TYPE_CHECKING:
    from hydrograd.model import Model

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


def _check_sign(sign: Any) -> tuple[list[str], list[str]]:
    if sign is None:
        names = list(SIGNATURES)
    elif isinstance(sign, str):
        names = [sign]
    elif isinstance(sign, list | tuple):
        names = list(sign)
    else:
        raise TypeError(f"sign must be a signature name, a list of names or None, got {sign!r}")
    canonical = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"sign must hold signature names (str), got {name!r}")
        spelled = name.lower().capitalize()
        if spelled not in SIGNATURES:
            raise ValueError(f"Unknown signature '{name}'.{closest(spelled, SIGNATURES)} Choices: {list(SIGNATURES)}")
        canonical.append(spelled)
    return [n for n in canonical if n in CONTINUOUS_SIGNATURES], [n for n in canonical if n in EVENT_SIGNATURES]


def _check_event_seg(event_seg: Any) -> dict[str, Any]:
    out = {"peak_quant": PEAK_QUANT, "peak_value": PEAK_VALUE, "max_duration": MAX_DURATION, "by": "obs"}
    if event_seg is None:
        return out
    if not isinstance(event_seg, dict):
        raise TypeError(f"event_seg must be a dict or None, got {type(event_seg).__name__}")
    reject_unknown_keys(event_seg, EVENT_SEG_CHECKS, "event_seg")
    for key, value in event_seg.items():
        out[key] = EVENT_SEG_CHECKS[key](value, f"event_seg '{key}'")
    return out


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


def signatures(
    model: Model,
    sign: str | list[str] | None = None,
    gauge: str | list[str] = "all",
    event_seg: dict[str, Any] | None = None,
    domain: str = "obs",
) -> Signatures:
    """Hydrological signatures of the observed (``domain="obs"``) or simulated (``"sim"``)
    discharge at each gauge, as ``smash.signatures``.

    ``sign``: names among Crc, Crchf, Crclf, Crch2r, Cfp2, Cfp10, Cfp50, Cfp90 (continuous) and
    Eff, Ebf, Erc, Erchf, Erclf, Erch2r, Elt, Epf (per flood event); None for all. ``gauge``:
    ``"all"``, ``"dws"``, a code or a list of codes. ``event_seg``: segmentation options
    ``peak_quant``, ``peak_value``, ``max_duration`` and ``by`` (see ``hydrograph_segmentation``).
    Rainfall enters as ``mean_prcp * 1e-3 * area_dln / dt`` (m3/s); discharge and Eff, Ebf, Epf
    are in m3/s, Elt in time steps, the others are ratios.
    """
    check_model(model)
    cs, es = _check_sign(sign)
    domain = check_domain(domain, "domain")
    seg = _check_event_seg(event_seg)
    q_all = np.asarray(model.response_data.q if domain == "obs" else model.response.q, dtype=np.float32)
    gauges = check_gauges(model, gauge, q_all)
    codes = [str(c) for c in model.mesh.code]
    area = np.asarray(model.mesh.area_dln, dtype=np.float32)[:, None]
    prcp = (
        np.asarray(model.atmos_data.mean_prcp, dtype=np.float32) * np.float32(0.001) * area / np.float32(model.setup.dt)
    )

    cont = pd.DataFrame(columns=["code", *cs])
    if cs and gauges:
        values = _values(continuous_signatures(cs, prcp[gauges], q_all[gauges]))
        cont = pd.DataFrame([[codes[i], *row] for i, row in zip(gauges, values, strict=True)], columns=cont.columns)

    event = pd.DataFrame(columns=[*EVENT_COLUMNS, *es])
    if es and gauges:
        q_seg = np.asarray(model.response_data.q if seg["by"] == "obs" else model.response.q, dtype=np.float32)
        dates = step_dates(model)
        per_gauge = {
            i: flood_events(
                prcp[i].copy(),
                q_seg[i].copy(),
                model.setup.dt,
                seg["peak_quant"],
                seg["peak_value"],
                seg["max_duration"],
            )
            for i in gauges
        }
        rows_p, rows_q, rows_labels, where = [], [], [], {}
        for i, events in per_gauge.items():
            layers = _layers(events)
            for layer in range(max(layers, default=-1) + 1):
                labels = np.zeros(q_all.shape[1], dtype=np.int32)
                members = [k for k, lay in enumerate(layers) if lay == layer]
                for label, k in enumerate(members, start=1):
                    labels[events[k]["start"] : events[k]["end"] + 1] = label
                    where[(i, k)] = (len(rows_labels), label - 1)
                rows_p.append(prcp[i])
                rows_q.append(q_all[i])
                rows_labels.append(labels)
        table = None
        if rows_labels:
            n_seg = int(max(lab.max() for lab in rows_labels))
            table = _values(event_signatures(es, np.stack(rows_p), np.stack(rows_q), np.stack(rows_labels), n_seg))
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
