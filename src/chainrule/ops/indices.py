"""Integer index arrays for the ops that take them: class labels (losses) and rows (embedding).

Both accept integer arrays, and float arrays of whole numbers (labels loaded from a CSV as
``1.0``), and refuse anything else with a message naming the op.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from ..tensor import Tensor


def whole_numbers(op: str, values: Any, what: str) -> np.ndarray:
    """``values`` (a Tensor, ndarray or list) as an integer ndarray; ``what`` names them in
    the error (``"class labels"``, ``"indices"``) when they are fractional or not numbers."""
    arr = values.data if isinstance(values, Tensor) else np.asarray(values)
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.mod(arr, 1) == 0):
            raise DataError(f"{op}: {what} must be whole numbers; got non-integer values")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise DataError(f"{op}: {what} must be integers; got dtype {arr.dtype}")
    return arr
