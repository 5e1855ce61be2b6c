"""Ops that combine several tensors: concatenate, stack, where, maximum, minimum."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..opspec import define_op
from ..tensor import Tensor, lift, make, tensor, unbroadcast
from .shape import reshape


def _tensors(op: str, items: Sequence[Any]) -> list[Tensor]:
    items = list(items)
    if not items:
        raise ShapeError(f"{op}: needs at least one tensor")
    like = next((t for t in items if isinstance(t, Tensor)), None)
    return [lift(t, like) if like is not None else tensor(t) for t in items]


define_op("concatenate", "[a, b, …] along an axis", ("tensors",), ("1 (values only move)",))


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; the gradient is split back at the seams.

    ``axis=None`` flattens every tensor first, as ``numpy.concatenate`` does."""
    ts = _tensors("concatenate", tensors)
    if axis is None:
        return concatenate([reshape(t, (t.size,)) for t in ts], axis=0)
    try:
        out = np.concatenate([t.data for t in ts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as exc:
        raise ShapeError(f"concatenate along axis {axis}: shapes {[t.shape for t in ts]}: "
                         f"{exc}") from None
    ax = axis % out.ndim
    ends = np.cumsum([t.shape[ax] for t in ts])

    # input i occupied [start, end) along the axis: its gradient is that slab
    def vjp_for(i: int) -> Callable[[np.ndarray], np.ndarray]:
        key = (slice(None),) * ax + (slice(int(ends[i]) - ts[i].shape[ax], int(ends[i])),)
        return lambda g: g[key]

    return make(out, "concatenate", *[(t, vjp_for(i)) for i, t in enumerate(ts)])


define_op("stack", "[a, b, …] on a new axis", ("tensors",), ("1 (values only move)",))


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis; each gets its slice of the gradient."""
    ts = _tensors("stack", tensors)
    try:
        out = np.stack([t.data for t in ts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as exc:
        raise ShapeError(f"stack along axis {axis}: shapes {[t.shape for t in ts]}: "
                         f"{exc}") from None
    ax = axis % out.ndim

    def vjp_for(i: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda g: np.take(g, i, axis=ax)

    return make(out, "stack", *[(t, vjp_for(i)) for i, t in enumerate(ts)])


define_op("where", "a if cond else b", ("a", "b"), ("1 where chosen, else 0",),
          elementwise=True)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (broadcast); gradients follow the choice."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond).astype(bool)
    if isinstance(a, Tensor):
        b = lift(b, a)
    else:
        b = b if isinstance(b, Tensor) else tensor(b)
        a = lift(a, b)
    try:
        out = np.where(c, a.data, b.data)
    except ValueError:
        raise ShapeError(f"where: shapes {c.shape}, {a.shape} and {b.shape} cannot be "
                         f"broadcast together") from None
    return make(out, "where",
                (a, lambda g: unbroadcast(np.where(c, g, 0), a.shape)),
                (b, lambda g: unbroadcast(np.where(c, 0, g), b.shape)))


def _choose(op: str, fn: Callable[..., np.ndarray], a: Any, b: Any) -> Tensor:
    if isinstance(a, Tensor):
        b = lift(b, a)
    else:
        a = lift(a, b)
    try:
        out = fn(a.data, b.data)
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast") from None
    # the gradient goes to the chosen operand; at a tie each gets half (as PyTorch does)
    wa = (out == a.data) * np.where(a.data == b.data, 0.5, 1.0).astype(out.dtype)
    return make(out, op,
                (a, lambda g: unbroadcast(g * wa, a.shape)),
                (b, lambda g: unbroadcast(g * (1 - wa), b.shape)))


define_op("maximum", "max(a, b)", ("a", "b"), ("1 for the larger (½ at a tie), else 0",),
          elementwise=True)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum of two tensors (broadcast)."""
    return _choose("maximum", np.maximum, a, b)


define_op("minimum", "min(a, b)", ("a", "b"), ("1 for the smaller (½ at a tie), else 0",),
          elementwise=True)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum of two tensors (broadcast)."""
    return _choose("minimum", np.minimum, a, b)
