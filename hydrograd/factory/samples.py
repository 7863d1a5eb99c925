"""Sets of parameter values drawn at random: smash's ``factory.generate_samples`` and ``Samples``.

The draws are smash's for the same ``random_state``: numpy's legacy ``RandomState`` seeded with it
(numpy's global stream when it is None), one variable after the other in the order of the
problem's ``names``, ``n`` values each; uniform draws with ``RandomState.uniform``, Gaussian ones
from scipy's ``truncnorm`` truncated to the bounds. Unlike smash, a seeded draw leaves numpy's
global random state as it was (smash reseeds it from the operating system afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hydrograd._validate import as_positive_float, choice, closest, is_real, reject_unknown_keys
from hydrograd.nn.initializers import check_random_state, random_generator

PROBLEM_KEYS = ("num_vars", "names", "bounds")
GENERATORS = ("uniform", "normal", "gaussian")
DEFAULT_COEF_STD = 3.0


class Samples:
    """Values drawn by ``generate_samples``, one array per variable.

    - one attribute per name of the problem: float64 ``(n_sample,)`` values;
    - ``generator`` (str) and ``n_sample`` (int);
    - ``_problem``: the problem definition (``num_vars``, ``names``, ``bounds``) and, for each
      name, ``_dst_<name>``: the probability density of each value under its distribution
      (``1 / (high - low)`` for a uniform draw), float64 ``(n_sample,)``.
    """

    def __init__(self, data: Mapping[str, Any] | None = None):
        self.__dict__.update({} if data is None else data)

    def __repr__(self) -> str:
        if not self.__dict__:
            return f"{type(self).__name__}()"
        width = max(map(len, self.__dict__)) + 1  # private keys count in the width, as in smash
        shown = sorted((k, v) for k, v in self.__dict__.items() if not k.startswith("_"))
        return "\n".join(f"{k.rjust(width)}: {type(v)!r}" for k, v in shown)

    @property
    def _names(self) -> list[str]:
        return list(self._problem["names"])

    def slice(self, end: int, start: int = 0) -> Samples:
        """The sets ``start`` to ``end`` (excluded) as a new ``Samples``; ValueError unless
        ``0 <= start <= end <= n_sample``."""
        if end < start:
            raise ValueError(f"start argument {start} must be lower than end argument {end}")
        if start < 0:
            raise ValueError(f"start argument {start} must be greater or equal to 0")
        if end > self.n_sample:
            raise ValueError(f"end argument {end} must be lower or equal to the sample size {self.n_sample}")
        arrays = self._names + [f"_dst_{name}" for name in self._names]
        data = {key: getattr(self, key)[start:end] for key in arrays}
        return Samples(
            {**data, "generator": self.generator, "n_sample": int(end - start), "_problem": dict(self._problem)}
        )

    def iterslice(self, by: int = 1) -> Iterator[Samples]:
        """Consecutive slices of ``by`` sets (the last one holds what remains); ValueError when
        ``by`` is not a positive int or exceeds ``n_sample``."""
        if isinstance(by, bool) or not isinstance(by, int | np.integer) or by < 1:
            raise ValueError(f"by argument must be a positive int, got {by!r}")
        if by > self.n_sample:
            raise ValueError(f"by argument {by} must be lower or equal to the sample size {self.n_sample}")
        for start in range(0, self.n_sample, by):
            yield self.slice(start=start, end=min(start + by, self.n_sample))

    def to_numpy(self, axis: int = 0) -> np.ndarray:
        """The variables' arrays stacked along ``axis``, in the order of the problem's names:
        ``(num_vars, n_sample)`` for ``axis=0``, ``(n_sample, num_vars)`` for ``axis=-1``."""
        return np.stack([getattr(self, name) for name in self._names], axis=axis)

    def to_dataframe(self) -> pd.DataFrame:
        """One column per variable, one row per set."""
        return pd.DataFrame({name: getattr(self, name) for name in self._names})


def _problem(problem: Any) -> tuple[list[str], list[tuple[float, float]]]:
    """The names and ``(low, high)`` bounds of a problem definition, checked."""
    if not isinstance(problem, dict):
        raise TypeError(f"problem argument must be a dictionary, got {type(problem).__name__}")
    missing = [k for k in PROBLEM_KEYS if k not in problem]
    if missing:
        raise KeyError(f"problem dictionary must define the keys {list(PROBLEM_KEYS)}, missing {missing}")
    reject_unknown_keys(problem, PROBLEM_KEYS, "problem")
    names = problem["names"]
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        raise TypeError(f"problem key 'names' must be a list of str, got {names!r}")
    names = list(names)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"problem key 'names' must be a non-empty list of str, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"problem key 'names' repeats a name: {names}")
    num_vars = problem["num_vars"]
    if not is_real(num_vars) or num_vars != len(names):
        raise ValueError(f"problem key 'num_vars' must be the number of names ({len(names)}), got {num_vars!r}")
    bounds = problem["bounds"]
    try:
        pairs = [tuple(b) for b in bounds]
    except TypeError:
        raise TypeError(f"problem key 'bounds' must be a list of (low, high) pairs, got {bounds!r}") from None
    if len(pairs) != len(names):
        raise ValueError(f"problem key 'bounds' has {len(pairs)} pairs for {len(names)} names")
    checked = []
    for name, pair in zip(names, pairs, strict=True):
        if len(pair) != 2 or not all(is_real(v) and math.isfinite(v) for v in pair):
            raise ValueError(f"bounds of '{name}' must be two finite numbers (low, high), got {pair!r}")
        low, high = float(pair[0]), float(pair[1])
        if not low < high:
            raise ValueError(f"bounds of '{name}' must satisfy low < high, got ({low}, {high})")
        checked.append((low, high))
    return names, checked


def _sample_size(n: Any) -> int:
    if not is_real(n):
        raise TypeError(f"n argument must be a number (int or float), got {type(n).__name__} {n!r}")
    if not (math.isfinite(n) and n == int(n)):
        raise ValueError(f"n argument must be a whole number, got {n!r}")
    if n <= 0:
        raise ValueError(f"n argument must be greater than 0, got {n!r}")
    return int(n)


def _means(mean: Any, names: list[str], bounds: list[tuple[float, float]]) -> list[float]:
    """The mean of each variable's Gaussian: the centre of its bounds unless ``mean`` gives it."""
    centres = {name: (low + high) / 2 for name, (low, high) in zip(names, bounds, strict=True)}
    if mean is None:
        return list(centres.values())
    if not isinstance(mean, dict):
        raise TypeError(f"mean argument must be a dictionary, got {type(mean).__name__}")
    for name, value in mean.items():
        if name not in centres:
            raise ValueError(f"Unknown name '{name}' in mean.{closest(name, names)} Choices: {names}")
        if value is None:
            continue
        if not is_real(value):
            raise TypeError(f"mean value of '{name}' must be a number (int or float), got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"mean value of '{name}' must be finite, got {value!r}")
        centres[name] = float(value)
    return list(centres.values())


def generate_samples(
    problem: dict[str, Any],
    generator: str = "uniform",
    n: int = 1000,
    random_state: int | None = None,
    mean: dict[str, float] | None = None,
    coef_std: float | None = None,
) -> Samples:
    """``n`` sets of values of the problem's variables, drawn as smash draws them.

    ``problem``: ``num_vars`` (the number of variables), ``names`` (their names, e.g. parameters
    and initial states of a model) and ``bounds`` (one ``(low, high)`` pair each).
    ``generator``: ``"uniform"`` on ``[low, high)``, or ``"normal"`` (alias ``"gaussian"``): a
    Gaussian of mean ``mean[name]`` (default: the centre of the bounds) and standard deviation
    ``(high - low) / coef_std`` (default ``coef_std`` 3), truncated to the bounds.
    ``random_state``: a seed in ``[0, 2**32 - 1]``; None draws from numpy's global stream.
    """
    names, bounds = _problem(problem)
    generator = choice(generator, GENERATORS, "generator")
    n = _sample_size(n)
    rng = random_generator(check_random_state(random_state))
    data: dict[str, Any] = {"generator": generator, "n_sample": n, "_problem": dict(problem)}
    if generator == "uniform":
        for name, (low, high) in zip(names, bounds, strict=True):
            data[name] = rng.uniform(low, high, n)
            data[f"_dst_{name}"] = np.full(n, 1.0 / (high - low))
        return Samples(data)
    # imported here: scipy.stats takes about a second to import, which a script that draws no
    # Gaussian samples should not pay
    from scipy.stats import truncnorm

    centres = _means(mean, names, bounds)
    coef = DEFAULT_COEF_STD if coef_std is None else as_positive_float(coef_std, "coef_std argument")
    for name, (low, high), centre in zip(names, bounds, centres, strict=True):
        scale = (high - low) / coef
        law = truncnorm((low - centre) / scale, (high - centre) / scale, loc=centre, scale=scale)
        data[name] = law.rvs(size=n, random_state=rng)
        data[f"_dst_{name}"] = law.pdf(data[name])
    return Samples(data)
