"""Pre-processing of the input data done once when a model is built (numpy, float32, smash's numbers)."""

from hydrograd.preprocess.atmos_stats import mean_atmos_per_gauge
from hydrograd.preprocess.interception import adjust_interception_capacity

__all__ = ["adjust_interception_capacity", "mean_atmos_per_gauge"]
