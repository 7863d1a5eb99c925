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


class Fields(Namespace):
    """A model's attribute bag (``model.atmos_data``, ``model.mesh``, ...) with smash's value
    semantics: assigning to an array it holds copies the value into that array (numpy's casting
    and broadcasting; a value of another shape is a ValueError naming the attribute), so no two
    models ever share an array. Other attributes are set as given."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        if not isinstance(current, np.ndarray) or name.startswith("_"):
            super().__setattr__(name, value)
            return
        try:
            current[...] = value
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"'{name}' holds an array of shape {current.shape} and dtype {current.dtype}; "
                f"the value assigned does not fit it: {error}"
            ) from None

    def matches(self, other: Fields) -> str | None:
        """Why ``other`` cannot replace this bag in a model (another kind, arrays of other shapes),
        or None when it can."""
        if type(other) is not type(self):
            return f"a {type(self).__name__} is expected, got {type(other).__name__}"
        for name, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                given = other.__dict__.get(name)
                if not isinstance(given, np.ndarray) or given.shape != value.shape:
                    shape = getattr(given, "shape", None)
                    return f"its '{name}' has shape {shape}, this model's {value.shape}"
        return None


class KeyedMaps(Fields):
    """Named quantities stacked along the last axis, as smash shows them: ``keys`` (names) and
    ``values`` (``(nrow, ncol, len(keys))`` for maps, ``(ng, len(keys))`` for per-gauge
    structural-error parameters). Prefer the model's ``get_*``/``set_*`` methods, which work by
    name."""

    def __init__(self, keys: list[str] | tuple[str, ...], values: np.ndarray):
        super().__init__(keys=np.array(keys, dtype="<U32"), values=values)

    def index(self, key: str) -> int:
        return int(np.flatnonzero(self.keys == key)[0])

    def get(self, key: str) -> np.ndarray:
        return self.values[..., self.index(key)]

    def matches(self, other: Fields) -> str | None:
        if isinstance(other, KeyedMaps) and list(other.keys) != list(self.keys):
            return f"it holds {[str(k) for k in other.keys]}, this model's {[str(k) for k in self.keys]}"
        return super().matches(other)
