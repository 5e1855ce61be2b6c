"""Shape ops: reshape, transpose, flatten and indexing. Values move; none change.

Their VJPs move the gradient back: reshape it, transpose it by the inverse permutation,
or scatter it into zeros at the indexed positions (summing where an index repeats).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ..opspec import define_op
from ..tensor import Tensor, make, unpack_shape

define_op("reshape", "x, new shape", ("x",), ("1 (values only move)",))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    shape = unpack_shape(shape)
    try:
        out = x.data.reshape(shape)
    except (ValueError, TypeError):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                         f"elements) into shape {shape}") from None
    return make(out, "reshape", (x, lambda g: g.reshape(x.shape)))


define_op("transpose", "xᵀ", ("x",), ("1 (values only move)",))


def transpose(x: Tensor, *axes: Any) -> Tensor:
    axes = unpack_shape(axes) or tuple(reversed(range(x.ndim)))
    if (not all(-x.ndim <= int(a) < x.ndim for a in axes)
            or sorted(int(a) % x.ndim for a in axes) != list(range(x.ndim))):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of shape {x.shape}")
    inverse = np.argsort([int(a) % x.ndim for a in axes])
    return make(x.data.transpose(axes), "transpose", (x, lambda g: g.transpose(inverse)))


def flatten(x: Tensor, start_axis: int = 0) -> Tensor:
    """Merge the axes from ``start_axis`` on: (N, C, H, W) with start_axis=1 -> (N, C·H·W)."""
    if not -max(x.ndim, 1) <= start_axis < max(x.ndim, 1):
        raise ShapeError(f"flatten: start_axis {start_axis} out of range for shape {x.shape}")
    start = start_axis % max(x.ndim, 1)
    if not x.ndim:
        return reshape(x, (1,))
    # the merged size spelled out, not -1: an empty batch (0, C, H, W) has no size to infer
    return reshape(x, x.shape[:start] + (int(np.prod(x.shape[start:])),))


def _index_key(key: Any) -> tuple[Any, bool]:
    """Replace Tensors in an index by arrays; report whether integer arrays appear."""
    items = key if isinstance(key, tuple) else (key,)
    clean, advanced = [], False
    for k in items:
        if isinstance(k, Tensor):
            k = k.data.astype(np.int64) if k.dtype.kind == "f" else k.data
        if isinstance(k, list):
            k = np.asarray(k)
        if isinstance(k, np.ndarray) and k.dtype != bool:
            advanced = True
        clean.append(k)
    return (tuple(clean) if isinstance(key, tuple) else clean[0]), advanced


define_op("getitem", "x[index]", ("x",), ("1 (values only move)",))


def getitem(x: Tensor, key: Any) -> Tensor:
    key, advanced = _index_key(key)
    try:
        out = x.data[key]
    except IndexError as exc:
        raise ShapeError(f"indexing a tensor of shape {x.shape}: {exc}") from None
    out = np.asarray(out)  # a basic index gives a view, as reshape and transpose do

    def vjp(g: np.ndarray) -> np.ndarray:
        grad = np.zeros(x.shape, dtype=g.dtype)
        if advanced:
            np.add.at(grad, key, g)  # repeated indices each add their share
        else:
            grad[key] = g            # basic/boolean indices hit each element at most once
        return grad

    return make(out, "getitem", (x, vjp))
