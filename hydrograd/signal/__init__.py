"""Signal analysis of discharge series: flood-event segmentation and hydrological signatures."""

from hydrograd.signal.segmentation import hydrograph_segmentation
from hydrograd.signal.signatures import Signatures, signatures

__all__ = ["Signatures", "hydrograph_segmentation", "signatures"]
