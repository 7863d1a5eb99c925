"""Signal analysis of discharge series, arrays in and tables out: flood-event segmentation and
hydrological signatures (``hydrograd.hydrograph_segmentation`` and ``hydrograd.signatures`` apply
them to a model)."""

from hydrograd.signal._segmentation import (
    SEGMENTATION_COLUMNS,
    baseflow_separation,
    event_mask,
    flood_events,
    gauges_with_data,
    season,
    segmentation_table,
    step_dates,
)
from hydrograd.signal._signatures import EVENT_COLUMNS, Signatures, signature_tables

__all__ = [
    "EVENT_COLUMNS",
    "SEGMENTATION_COLUMNS",
    "Signatures",
    "baseflow_separation",
    "event_mask",
    "flood_events",
    "gauges_with_data",
    "season",
    "segmentation_table",
    "signature_tables",
    "step_dates",
]
