"""``evaluation``: metrics of simulated against observed discharge, per gauge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hydrograd._arrays import to_device
from hydrograd.config._checks import as_date, check_model, choice
from hydrograd.config.cost_options import warn_unobserved_gauges
from hydrograd.core.metrics import METRICS

if TYPE_CHECKING:
    from hydrograd.model import Model


def _step_index(value: Any, which: str, model: Model) -> int:
    start, end = model.setup.start, model.setup.end
    if value is None:
        date = start if which == "start" else end
    else:
        date = as_date(value, f"{which}_eval")
        if date < start or date > end:
            raise ValueError(f"{which}_eval ({date}) must lie between start_time ({start}) and end_time ({end})")
    return int((date - start).total_seconds() / model.setup.dt)


def evaluation(
    model: Model,
    metric: str | list[str] = "nse",
    start_eval: str | pd.Timestamp | None = None,
    end_eval: str | pd.Timestamp | None = None,
) -> np.ndarray:
    """Each metric at each gauge over ``[start_eval, end_eval]``: array ``(ng, n_metrics)``.

    Metrics: nse, nnse, kge, mae, mape, mse, rmse, lgrm. Missing observations (-99 or NaN) are
    skipped; a gauge without any in the window gets NaN metrics (as in smash) and a warning.
    """
    check_model(model)
    names = [metric] if isinstance(metric, str) else metric
    if not isinstance(names, list | tuple) or not names:
        raise TypeError(f"metric must be a metric name or a list of names, got {metric!r}")
    names = [choice(m, METRICS, "evaluation metric") for m in names]
    first, last = _step_index(start_eval, "start", model), _step_index(end_eval, "end", model)
    if last <= first:
        raise ValueError(f"end_eval must come after start_eval (steps {first} to {last})")
    gauges = tuple(range(model.mesh.ng))
    window = slice(first, last)
    warn_unobserved_gauges(model.response_data.q, model.mesh.code, gauges, window, "between start_eval and end_eval")
    obs = to_device(model.response_data.q[:, first:last])
    sim = to_device(model.response.q[:, first:last])
    return np.stack([np.asarray(METRICS[m](obs, sim), dtype=np.float64) for m in names], axis=-1)
