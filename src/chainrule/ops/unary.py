"""Elementwise functions of one tensor: exp log sqrt abs tanh sigmoid relu clip.

Each VJP multiplies the incoming gradient by the function's derivative at the input,
usually written in terms of the output (cheaper: no recomputation).
"""
from __future__ import annotations

import numpy as np

from .. import parallel
from ..opspec import define_op
from ..parallel import over_batch
from ..tensor import Tensor, make
from .layout import in_layout_of
from .zero_page import zeros_like

define_op("exp", "eˣ", ("x",), ("(eˣ)' = eˣ",), elementwise=True)


def exp(x: Tensor) -> Tensor:
    out = np.exp(x.data)
    return make(out, "exp", (x, lambda g: g * out))  # (eˣ)' = eˣ


define_op("log", "ln x", ("x",), ("(ln x)' = 1/x",), elementwise=True)


def log(x: Tensor) -> Tensor:
    out = np.log(x.data)
    return make(out, "log", (x, lambda g: g / x.data))  # (ln x)' = 1/x


define_op("sqrt", "√x", ("x",), ("(√x)' = 1/(2√x)",), elementwise=True)


def sqrt(x: Tensor) -> Tensor:
    out = np.sqrt(x.data)
    return make(out, "sqrt", (x, lambda g: g * 0.5 / out))  # (√x)' = 1/(2√x)


define_op("abs", "|x|", ("x",), ("sign(x)",), elementwise=True)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the NumPy name
    out = np.abs(x.data)
    return make(out, "abs", (x, lambda g: g * np.sign(x.data)))  # |x|' = sign(x), 0 at 0


define_op("tanh", "tanh(z)", ("z",), ("tanh'(z) = 1 − tanh²(z)",), elementwise=True)


def tanh(x: Tensor) -> Tensor:
    out = np.tanh(x.data)
    return make(out, "tanh", (x, lambda g: g * (1 - out * out)))  # tanh' = 1 - tanh²


def sigmoid_array(v: np.ndarray) -> np.ndarray:
    """σ(v) = 1/(1+e^{-v}) without overflow: with e = e^{-|v|} ≤ 1, σ = 1/(1+e) for v ≥ 0
    and e/(1+e) for v < 0 (exact in both tails, unlike 0.5·(1+tanh(v/2)))."""
    e = np.exp(-np.abs(v))
    r = 1 / (1 + e)
    result: np.ndarray = np.where(v >= 0, r, e * r)
    return result


define_op("sigmoid", "σ(z) = 1/(1 + e⁻ᶻ)", ("z",), ("σ'(z) = σ(z)·(1 − σ(z))",),
          elementwise=True)


def sigmoid(x: Tensor) -> Tensor:
    out = sigmoid_array(x.data)
    return make(out, "sigmoid", (x, lambda g: g * out * (1 - out)))  # σ' = σ(1-σ)


define_op("relu", "max(z, 0)", ("z",), ("relu'(z) = 1 if z > 0 else 0",), elementwise=True)


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)``; large inputs (a CNN's feature maps) are split over the batch axis across
    threads (see chainrule/parallel.py), keeping the input's memory layout."""
    xd = x.data
    # zeros as an array, not the scalar 0: NumPy's SIMD loop, 5x faster (see zero_page.py)
    zero = zeros_like(xd)
    if xd.size < parallel.MIN_PARALLEL_ELEMENTS or not xd.ndim:
        out = np.maximum(xd, 0 if zero is None else zero)
        # relu' = 1 where x > 0, else 0; g first into out's layout (a gradient from Flatten is NCHW)
        return make(out, "relu", (x, lambda g: in_layout_of(g, out) * (out > 0)))
    out = np.empty_like(xd)
    over_batch(lambda s: np.maximum(xd[s], 0 if zero is None else zero[s], out=out[s]), len(xd), xd.size)

    def vjp(g: np.ndarray) -> np.ndarray:
        g = in_layout_of(g, out)
        dx = np.empty_like(g)
        over_batch(lambda s: np.multiply(g[s], out[s] > 0, out=dx[s]), len(g), g.size)
        return dx

    return make(out, "relu", (x, vjp))


define_op("clip", "min(max(x, lo), hi)", ("x",), ("1 inside [lo, hi], else 0",),
          elementwise=True)


def clip(x: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Limit values to [lo, hi]; the gradient passes only where the value was inside."""
    out = np.clip(x.data, lo, hi)
    inside = np.ones(x.shape, dtype=bool)
    if lo is not None:
        inside &= x.data >= lo
    if hi is not None:
        inside &= x.data <= hi
    return make(out, "clip", (x, lambda g: g * inside))
