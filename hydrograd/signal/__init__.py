"""Signal analysis, arrays in and tables or arrays out: flood-event segmentation, hydrological
signatures of discharge series and precipitation indices (``hydrograd.hydrograph_segmentation``,
``hydrograd.signatures`` and ``hydrograd.precipitation_indices`` apply them to a model)."""

from hydrograd.signal._prcp_indices import PRECIPITATION_INDICES, PrecipitationIndices, precipitation_indices
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
    "PRECIPITATION_INDICES",
    "SEGMENTATION_COLUMNS",
    "PrecipitationIndices",
    "Signatures",
    "baseflow_separation",
    "event_mask",
    "flood_events",
    "gauges_with_data",
    "precipitation_indices",
    "season",
    "segmentation_table",
    "signature_tables",
    "step_dates",
]
