"""Reductions: sum mean max min var over ``axis`` (int, tuple or None) with ``keepdims``.

The VJP of a reduction spreads the output gradient back over the reduced axes: first it
re-inserts them (so shapes broadcast), then it weights each input element by its share.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..opspec import define_op
from ..tensor import Tensor, make

Axis = Any  # int | tuple[int, ...] | None
_ALL = [tuple(range(n)) for n in range(8)]


def _axes(x: Tensor, axis: Axis) -> tuple[int, ...]:
    """Normalise ``axis`` to a sorted tuple of non-negative ints, checking the range."""
    if axis is None:
        return _ALL[x.ndim] if x.ndim < 8 else tuple(range(x.ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        # as in NumPy, a 0-d tensor has no axes: only axis=None reduces it
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            valid = f"{-x.ndim}..{x.ndim - 1}" if x.ndim else "only axis=None"
            raise ShapeError(f"axis {a!r} is out of range for a tensor of shape {x.shape} "
                             f"(valid: {valid})")
        out.append(int(a) % x.ndim)
    return tuple(sorted(set(out)))


def _expand(g: np.ndarray, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Put back the reduced axes as size-1 dims so ``g`` broadcasts against ``x``."""
    if keepdims or len(axes) == x.ndim:  # already broadcasts: same rank, or a 0-d scalar
        return g
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _spread(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A new array of ``shape`` filled by broadcasting ``g`` (writable, unlike broadcast_to)."""
    out = np.empty(shape, dtype=g.dtype)
    out[...] = g
    return out


define_op("sum", "Σ x", ("x",), ("1",))


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    axes = _axes(x, axis)
    out = x.data.sum(axis=axes, keepdims=keepdims)  # the method skips np.sum's dispatch layer
    # each input element contributes once: ∂out/∂x = 1
    return make(np.asarray(out), "sum", (x, lambda g: _spread(_expand(g, x, axes, keepdims), x.shape)))


define_op("mean", "Σ x / n", ("x",), ("1/n",))


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    axes = _axes(x, axis)
    n = int(np.prod([x.shape[a] for a in axes])) if x.ndim else 1
    out = x.data.mean(axis=axes, keepdims=keepdims)  # float32 stays float32; ints give float64
    # ∂mean/∂x = 1/n for every element reduced
    return make(np.asarray(out), "mean",
                (x, lambda g: _spread(_expand(g, x, axes, keepdims) / n, x.shape)))


def _extremum(op: str, fn: Callable[..., np.ndarray], x: Tensor, axis: Axis, keepdims: bool) -> Tensor:
    axes = _axes(x, axis)
    if x.size == 0:
        raise ShapeError(f"{op}() of an empty tensor of shape {x.shape}")
    out = fn(x.data, axis=axes, keepdims=True)

    def vjp(g: np.ndarray) -> np.ndarray:
        # the gradient goes to the element(s) that attained the extremum; ties share it equally
        hit = (x.data == out).astype(g.dtype)  # in g's dtype: float32 graphs stay float32
        share = hit / hit.sum(axis=axes, keepdims=True)
        result: np.ndarray = _expand(g, x, axes, keepdims) * share
        return result

    return make(out if keepdims else np.asarray(np.squeeze(out, axis=axes)), op, (x, vjp))


define_op("max", "max x", ("x",), ("1 for the largest value (shared at ties), else 0",))


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extremum("max", np.max, x, axis, keepdims)


define_op("min", "min x", ("x",), ("1 for the smallest value (shared at ties), else 0",))


def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _extremum("min", np.min, x, axis, keepdims)


define_op("var", "Σ(x − μ)²/(n − ddof)", ("x",), ("2(xᵢ − μ)/(n − ddof)",))


def var(x: Tensor, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance ``Σ(x-μ)²/(n-ddof)`` (NumPy's default ``ddof=0``, the biased estimate)."""
    axes = _axes(x, axis)
    n = int(np.prod([x.shape[a] for a in axes])) if x.ndim else 1
    centred = x.data - x.data.mean(axis=axes, keepdims=True)
    out = np.sum(centred * centred, axis=axes, keepdims=keepdims) / (n - ddof)
    # ∂var/∂xᵢ = 2(xᵢ-μ)/(n-ddof)  (the terms through μ sum to zero)
    return make(np.asarray(out), "var",
                (x, lambda g: _expand(g, x, axes, keepdims) * (2 / (n - ddof)) * centred))
