"""Embedding lookup: rows of a weight matrix picked by integer indices.

``embedding(input, weight)`` with ``weight`` of shape (V, D) and integer ``input`` of any
shape S gives ``weight[input]`` of shape S + (D,). Row ``v`` of the weight is used at every
position where ``input == v``, so its gradient is the sum of the output gradients there:

    ∂L/∂W[v] = Σ_{positions p with input[p] = v} ∂L/∂out[p]

(a scatter-add; rows that were never looked up get zero gradient).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError, ShapeError
from ..opspec import define_op
from ..tensor import Tensor, make
from .indices import whole_numbers


def _indices(op: str, input: Any, num: int) -> np.ndarray:
    """``input`` as an integer array whose values lie in [0, num), else a clear error."""
    idx = whole_numbers(op, input, "indices")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise DataError(f"{op}: indices must lie in [0, {num - 1}] for a weight with {num} "
                        f"rows; got values from {idx.min()} to {idx.max()}")
    return idx


define_op("embedding", "W[index]: the rows of W at the ids", ("W",),
          ("1 for the row an id picks (summed over every position using that id), else 0",))


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (V, D) at the integer indices ``input`` (any shape S),
    giving S + (D,). As ``torch.nn.functional.embedding``: ``padding_idx`` names a row that
    receives no gradient (it stays as initialised, e.g. zero for padding)."""
    if not isinstance(weight, Tensor):
        weight = Tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim); "
                         f"got shape {weight.shape}")
    num, dim = weight.shape
    idx = _indices("embedding", input, num)
    out = weight.data[idx]  # a gather: a fresh (S..., D) array

    def vjp(g: np.ndarray) -> np.ndarray:
        flat = idx.reshape(-1)
        gd = g.reshape(-1, dim)
        grad = np.zeros(weight.shape, dtype=g.dtype)
        if flat.size * 4 < num:  # few lookups in a big table: scatter each row
            np.add.at(grad, flat, gd)
        else:
            # sort the positions by row, then add each run of equal rows in one reduceat
            order = np.argsort(flat, kind="stable")
            rows = flat[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            grad[rows[starts]] = np.add.reduceat(gd[order], starts, axis=0)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return grad

    return make(out, "embedding", (weight, vjp))


__all__ = ["embedding"]
