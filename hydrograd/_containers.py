"""Plain containers the façade exposes with smash's attribute names."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


class Namespace:
    """An attribute bag (``model.atmos_data.prcp``), with ``copy()`` and a readable repr."""

    def __init__(self, **attributes: Any):
        self.__dict__.update(attributes)

    def copy(self):
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        def describe(value):
            if isinstance(value, np.ndarray):
                return f"ndarray{value.shape} {value.dtype}"
            return repr(value)

        body = "\n".join(f"    {k}: {describe(v)}" for k, v in sorted(self.__dict__.items()) if not k.startswith("_"))
        return f"{type(self).__name__}\n{body}"


class KeyedMaps(Namespace):
    """Maps of named quantities stacked along the last axis, as smash shows them:
    ``keys`` (names) and ``values`` (``(nrow, ncol, len(keys))``). Prefer the model's
    ``get_*``/``set_*`` methods, which work by name."""

    def __init__(self, keys: list[str] | tuple[str, ...], values: np.ndarray):
        super().__init__(keys=np.array(keys, dtype="<U32"), values=values)

    def index(self, key: str) -> int:
        return int(np.flatnonzero(self.keys == key)[0])

    def get(self, key: str) -> np.ndarray:
        return self.values[..., self.index(key)]
