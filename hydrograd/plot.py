"""Quick-look figures: hydrographs with observations, maps on the mesh grid, loss histories.

matplotlib is an optional dependency (``pip install "hydrograd[plot]"``); it is imported on the
first call, so ``import hydrograd`` works without it. Every function draws into ``ax`` when given
(or a new figure otherwise) and returns the ``Axes``; saving and showing are left to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hydrograd._validate import closest
from hydrograd.model import Model

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["hydrograph", "loss_history", "parameter_map"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            'hydrograd.plot needs matplotlib, an optional dependency: pip install "hydrograd[plot]" '
            "(or pip install matplotlib)"
        ) from None
    return plt


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _gauge_index(model: Model, gauge: int | str) -> int:
    codes = [str(c) for c in model.mesh.code]
    if isinstance(gauge, str):
        if gauge not in codes:
            raise ValueError(f"Unknown gauge '{gauge}'.{closest(gauge, codes)} Gauges: {codes}")
        return codes.index(gauge)
    if isinstance(gauge, bool) or not isinstance(gauge, int | np.integer) or not -len(codes) <= gauge < len(codes):
        raise ValueError(f"gauge must be a code among {codes} or an index below {len(codes)}, got {gauge!r}")
    return int(gauge) % len(codes)


def _nse(sim: np.ndarray, obs: np.ndarray) -> float:
    seen = obs >= 0
    if seen.sum() < 2:
        return float("nan")
    o, s = obs[seen].astype(np.float64), sim[seen].astype(np.float64)
    return float(1.0 - np.sum((s - o) ** 2) / np.sum((o - o.mean()) ** 2))


def hydrograph(
    models: Model | Mapping[str, Model],
    gauge: int | str = 0,
    *,
    observed: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Simulated discharge of one gauge (code or index) for one model or several (label -> model),
    over the observations of the first, whose missing values (``-99``) are left as gaps. Each
    simulated curve's label carries its NSE against the observations."""
    if not isinstance(models, Mapping):
        models = {"simulated": models}
    if not models:
        raise ValueError("hydrograph needs at least one model")
    first = next(iter(models.values()))
    g = _gauge_index(first, gauge)
    time = first.setup.time_index()
    ax = _axes(ax, (9, 3.5))
    obs = np.asarray(first.response_data.q[g], dtype=np.float64)
    if observed:
        ax.plot(time, np.where(obs >= 0, obs, np.nan), color="black", lw=1.0, label="observed")
    for label, model in models.items():
        sim = np.asarray(model.response.q[g], dtype=np.float64)
        nse = _nse(sim, obs)
        ax.plot(time, sim, lw=1.0, label=f"{label} (NSE {nse:.3f})" if np.isfinite(nse) else label)
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(f"gauge {first.mesh.code[g]}")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.4, ls="--")
    return ax


def _named_map(model: Model, name: str) -> np.ndarray:
    """A parameter, initial-state or (``<state>_final``) final-state map of the model."""
    if name in model.rr_parameters.keys:
        return model.get_rr_parameters(name)
    if name in model.rr_initial_states.keys:
        return model.get_rr_initial_states(name)
    if name.endswith("_final") and name[: -len("_final")] in model.rr_final_states.keys:
        return model.get_rr_final_states(name[: -len("_final")])
    valid = [
        *model.rr_parameters.keys,
        *model.rr_initial_states.keys,
        *(f"{k}_final" for k in model.rr_final_states.keys),
    ]
    raise ValueError(f"Unknown map '{name}'.{closest(name, valid)} Choices: {[str(v) for v in valid]}")


def parameter_map(
    model: Model,
    name: str,
    values: np.ndarray | None = None,
    *,
    gauges: bool = True,
    labels: bool = True,
    ax: Axes | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
) -> Axes:
    """A map on the mesh grid, in the mesh's coordinates (km), inactive cells blank, gauges marked
    (and labelled with their codes when ``labels``).

    ``name`` is a parameter (``"cp"``), an initial state (``"hp"``) or a final state
    (``"hp_final"``) of ``model``; with ``values`` (``(nrow, ncol)``) that array is drawn instead
    and ``name`` only labels it (e.g. a true map next to a learned one).
    """
    mesh = model.mesh
    grid = _named_map(model, name) if values is None else np.asarray(values)
    if grid.shape != (mesh.nrow, mesh.ncol):
        raise ValueError(f"values must have the grid's shape {(mesh.nrow, mesh.ncol)}, got {grid.shape}")
    active = np.asarray(mesh.active_cell) == 1
    shown = np.where(active, grid.astype(np.float64), np.nan)
    ax = _axes(ax, (5, 4.5))
    xmin, ymax = float(mesh.xmin) / 1000, float(mesh.ymax) / 1000
    xres, yres = float(mesh.xres) / 1000, float(mesh.yres) / 1000
    extent = (xmin, xmin + mesh.ncol * xres, ymax - mesh.nrow * yres, ymax)
    image = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, shrink=0.85, label=name)
    if gauges and mesh.ng:
        rows, cols = np.asarray(mesh.gauge_pos).reshape(-1, 2).T
        x, y = xmin + (cols + 0.5) * xres, ymax - (rows + 0.5) * yres
        ax.scatter(x, y, marker="^", s=30, facecolor="white", edgecolor="black", zorder=3)
        if labels:
            for code, xi, yi in zip(mesh.code, x, y, strict=True):
                ax.annotate(str(code), (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax.set_xlabel("x (km)")
    ax.set_ylabel("y (km)")
    ax.set_title(name if title is None else title)
    return ax


def _history(value: Any) -> np.ndarray:
    """Cost per iteration from an ``Optimize`` (``iter_cost``), a ``Net`` (``history["loss_train"]``)
    or a sequence."""
    if hasattr(value, "iter_cost"):
        return np.asarray(value.iter_cost, dtype=np.float64)
    history = getattr(value, "history", None)
    if isinstance(history, Mapping) and "loss_train" in history:
        return np.asarray(history["loss_train"], dtype=np.float64)
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        return np.asarray(value, dtype=np.float64)
    raise TypeError(
        "a loss history is an Optimize with iter_cost (return_options={'iter_cost': True}), a trained Net "
        f"(return_options={{'net': True}}) or a sequence of costs, got {type(value).__name__}"
    )


def loss_history(
    histories: Mapping[str, Any] | Any,
    *,
    ax: Axes | None = None,
    log: bool = True,
    ylabel: str = "cost J",
) -> Axes:
    """Cost against iteration for one history or several (label -> history); see :func:`_history`
    for what a history may be. ``log`` draws the cost on a log scale."""
    if not isinstance(histories, Mapping):
        histories = {"": histories}
    ax = _axes(ax, (6, 3.5))
    for label, value in histories.items():
        cost = _history(value)
        ax.plot(np.arange(cost.size), cost, label=label or None)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    if any(histories):
        ax.legend(fontsize="small")
    ax.grid(alpha=0.4, ls="--")
    return ax
