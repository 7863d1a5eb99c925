"""smash's sparse storage of forcing (``setup["sparse_storage"] = True``): one sparse matrix per
time step, over the active cells only.

A matrix is encoded from the values of the ``nac`` active cells in smash's column-major order
(column after column, row by row in a column) and a value standing for "everything else"
(``zvalue``: 0 for a file read, -99 for a missing one):

- when at most ``nac // 2`` active cells differ from ``zvalue``, in coordinate format
  (``coo_fmt`` 1): ``n`` those cells, ``indices`` their 1-based active-cell numbers (ascending),
  ``values`` their values;
- otherwise as the whole active-cell vector (``coo_fmt`` 0): ``n = nac``, ``values`` every active
  cell's value, no ``indices``.

Decoding fills every active cell with ``zvalue`` and scatters ``values``; inactive cells hold
``zvalue``. Values equal to ``zvalue`` (``-0.0`` equals ``0.0``) are not stored, so they come back
as ``zvalue`` itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import numpy as np


class SparseMatrix:
    """One time step of sparse forcing, with smash's attributes: ``n`` (int), ``coo_fmt`` (int,
    1 or 0), ``zvalue`` (float), ``values`` (float32 ``(n,)``, in the forcing's units) and, in
    coordinate format only, ``indices`` (int32 ``(n,)``, 1-based active-cell numbers; reading it
    in the dense format raises ``ValueError``, as smash's unallocated array does)."""

    def __init__(self, n: int, coo_fmt: int, zvalue: float, values: np.ndarray, indices: np.ndarray | None = None):
        self.n = int(n)
        self.coo_fmt = int(coo_fmt)
        self.zvalue = float(np.float32(zvalue))
        self.values = values
        self._indices = None
        if indices is not None:
            self.indices = indices

    # Assigning an array attribute stores a copy, as smash's does.
    @property
    def values(self) -> np.ndarray:
        return self._values

    @values.setter
    def values(self, value: np.ndarray) -> None:
        self._values = np.array(value, dtype=np.float32)

    @property
    def indices(self) -> np.ndarray:
        if self._indices is None:
            raise ValueError(
                "indices is not stored for a sparse matrix in the dense active-cell format (coo_fmt 0): "
                "values holds every active cell, in column-major order"
            )
        return self._indices

    @indices.setter
    def indices(self, value: np.ndarray) -> None:
        self._indices = np.array(value, dtype=np.int32)

    def copy(self) -> SparseMatrix:
        """An independent copy."""
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseMatrix):
            return NotImplemented
        same_indices = (self._indices is None and other._indices is None) or (
            self._indices is not None and other._indices is not None and np.array_equal(self._indices, other._indices)
        )
        return (
            (self.n, self.coo_fmt, self.zvalue) == (other.n, other.coo_fmt, other.zvalue)
            and np.array_equal(self._values, other._values, equal_nan=True)
            and same_indices
        )

    __hash__ = None

    def __repr__(self) -> str:
        return f"SparseMatrix(n={self.n}, coo_fmt={self.coo_fmt}, zvalue={self.zvalue})"


class SparseSeries:
    """The sparse matrices of one forcing, one per time step (``model.atmos_data.sparse_prcp``).

    ``series[i]`` is the matrix of step ``i`` itself (editing its arrays edits the model);
    ``series[i] = matrix`` stores a copy of ``matrix``, as smash's element assignment does.
    Empty for a model with dense storage.
    """

    def __init__(self, matrices: Iterable[SparseMatrix] = ()):
        self._matrices = list(matrices)

    def __len__(self) -> int:
        return len(self._matrices)

    def _index(self, i: int) -> int:
        if not isinstance(i, int | np.integer) or isinstance(i, bool):
            raise TypeError(f"sparse matrices are indexed by time step (an int), got {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"time step {i} is out of range for {len(self)} time steps")
        return int(i)

    def __getitem__(self, i: int) -> SparseMatrix:
        return self._matrices[self._index(i)]

    def __setitem__(self, i: int, matrix: SparseMatrix) -> None:
        if not isinstance(matrix, SparseMatrix):
            raise TypeError(f"a sparse forcing step must be a SparseMatrix, got {type(matrix).__name__}")
        self._matrices[self._index(i)] = matrix.copy()

    def __iter__(self) -> Iterator[SparseMatrix]:
        return iter(self._matrices)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseSeries):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None

    def __repr__(self) -> str:
        return f"SparseSeries({len(self)} time steps)"


def encode(active_values: np.ndarray, zvalue: float) -> SparseMatrix:
    """The sparse matrix of one time step from the ``(nac,)`` values of the active cells in
    column-major order; ``zvalue`` is 0 for a file read, -99 for a missing file."""
    values = np.asarray(active_values, dtype=np.float32)
    z = np.float32(zvalue)
    stored = values != z
    nnz = int(np.count_nonzero(stored))
    if nnz <= values.size // 2:
        return SparseMatrix(nnz, 1, z, values[stored], np.flatnonzero(stored) + 1)
    return SparseMatrix(values.size, 0, z, values)


def check_matrix(matrix: SparseMatrix, nac: int, where: str) -> None:
    """ValueError (TypeError for a foreign object) saying ``where`` when ``matrix`` cannot be
    decoded on ``nac`` active cells."""
    if not isinstance(matrix, SparseMatrix):
        raise TypeError(f"{where}: expected a SparseMatrix, got {type(matrix).__name__}")
    if matrix.coo_fmt not in (0, 1):
        raise ValueError(f"{where}: coo_fmt must be 1 (coordinates) or 0 (active-cell vector), got {matrix.coo_fmt}")
    if matrix.values.shape != (matrix.n,):
        raise ValueError(f"{where}: values has shape {matrix.values.shape}, expected (n,) = ({matrix.n},)")
    if not matrix.coo_fmt:
        if matrix.n != nac:
            raise ValueError(f"{where}: an active-cell vector (coo_fmt 0) holds nac = {nac} values, got n = {matrix.n}")
        return
    indices = matrix.indices
    if indices.shape != (matrix.n,):
        raise ValueError(f"{where}: indices has shape {indices.shape}, expected (n,) = ({matrix.n},)")
    if matrix.n and (indices[0] < 1 or indices[-1] > nac or (np.diff(indices) <= 0).any()):
        raise ValueError(f"{where}: indices must be strictly increasing active-cell numbers in 1..{nac}")


def decode(series: SparseSeries, nac: int) -> np.ndarray:
    """The active cells' values at every time step, float32 ``(T, nac)`` in column-major cell
    order. ValueError (TypeError for a foreign object) naming the step of a matrix that does not
    fit ``nac`` active cells (such as an edited one)."""
    out = np.empty((len(series), nac), dtype=np.float32)
    for t, matrix in enumerate(series):
        check_matrix(matrix, nac, f"sparse forcing, time step {t}")
        if matrix.coo_fmt:
            out[t] = matrix.zvalue
            out[t, matrix.indices - 1] = matrix.values
        else:
            out[t] = matrix.values
    return out


def zvalues(series: SparseSeries) -> np.ndarray:
    """Each step's ``zvalue`` (the value of the cells it does not store), float32 ``(T,)``."""
    return np.array([m.zvalue for m in series], dtype=np.float32)
