"""Arithmetic: + - * / ** @ and negation, with NumPy broadcasting.

Each op's gradient for an input that was broadcast is reduced to the input's shape by
``unbroadcast`` (the one shared helper), so the calculus below is written elementwise.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ..opspec import define_op
from ..tensor import Tensor, lift, make, unbroadcast


def _as_tensors(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as tensors, a non-tensor one in the other's dtype (``lift``)."""
    if isinstance(a, Tensor):
        return a, lift(b, a)
    return lift(a, b), b


def _check_broadcast(op: str, a: Tensor, b: Tensor) -> None:
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together "
                         f"(trailing dimensions must be equal or 1)") from None


def _binary(op: str, ufunc: np.ufunc, a: Any, b: Any) -> tuple[Tensor, Tensor, np.ndarray]:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = _as_tensors(a, b)
    try:
        out = ufunc(a.data, b.data)
    except ValueError:
        _check_broadcast(op, a, b)
        raise
    return a, b, out


define_op("add", "a + b", ("a", "b"), ("1",), elementwise=True)


def add(a: Any, b: Any) -> Tensor:
    a, b, out = _binary("add", np.add, a, b)
    # ∂(a+b)/∂a = ∂(a+b)/∂b = 1
    return make(out, "add",
                (a, lambda g: unbroadcast(g, a.data.shape)),
                (b, lambda g: unbroadcast(g, b.data.shape)))


define_op("sub", "a − b", ("a", "b"), ("+1", "−1"), elementwise=True)


def sub(a: Any, b: Any) -> Tensor:
    a, b, out = _binary("sub", np.subtract, a, b)
    # ∂(a-b)/∂a = 1, ∂(a-b)/∂b = -1
    return make(out, "sub",
                (a, lambda g: unbroadcast(g, a.data.shape)),
                (b, lambda g: unbroadcast(-g, b.data.shape)))


define_op("mul", "a·b", ("a", "b"), ("b, the other factor", "a, the other factor"),
          elementwise=True)


def mul(a: Any, b: Any) -> Tensor:
    a, b, out = _binary("mul", np.multiply, a, b)
    # ∂(ab)/∂a = b, ∂(ab)/∂b = a
    return make(out, "mul",
                (a, lambda g: unbroadcast(g * b.data, a.data.shape)),
                (b, lambda g: unbroadcast(g * a.data, b.data.shape)))


define_op("div", "a / b", ("a", "b"), ("1/b", "−a/b²"), elementwise=True)


def div(a: Any, b: Any) -> Tensor:
    a, b, out = _binary("div", np.true_divide, a, b)
    # ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b² = -out/b
    return make(out, "div",
                (a, lambda g: unbroadcast(g / b.data, a.shape)),
                (b, lambda g: unbroadcast(-g * out / b.data, b.shape)))


define_op("pow", "aᵇ", ("a", "b"), ("b·aᵇ⁻¹", "aᵇ·ln a"), elementwise=True)


def power(a: Any, b: Any) -> Tensor:
    a, b, out = _binary("pow", np.power, a, b)

    # ∂(a^b)/∂a = b·a^(b-1); where b = 0, a⁰ = 1 is constant: 0 (not 0·0⁻¹ = NaN)
    def vjp_a(g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            d = b.data * np.power(a.data, b.data - 1)
        return unbroadcast(g * np.where(b.data == 0, 0, d), a.shape)

    def vjp_b(g: np.ndarray) -> np.ndarray:  # ∂(a^b)/∂b = a^b·ln a   (taken as 0 where a = 0, the limit for b > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_a = np.where(a.data > 0, np.log(np.where(a.data > 0, a.data, 1)), 0)
        return unbroadcast(g * out * log_a, b.shape)

    return make(out, "pow", (a, vjp_a), (b, vjp_b))


define_op("neg", "−a", ("a",), ("−1",), elementwise=True)


def neg(a: Tensor) -> Tensor:
    return make(-a.data, "neg", (a, lambda g: -g))


define_op("matmul", "A·B", ("A", "B"),
          ("an entry of B (the row it meets)", "an entry of A (the column it meets)"))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted, leading dims broadcast."""
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = _as_tensors(a, b)
    ad, bd = a.data, b.data
    if ad.ndim == 2 and bd.ndim == 2 and ad.shape[1] == bd.shape[0]:
        # out = A B  ⇒  ∂L/∂A = G Bᵀ,  ∂L/∂B = Aᵀ G
        return make(ad @ bd, "matmul", (a, lambda g: g @ bd.T), (b, lambda g: ad.T @ g))
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension; got shapes "
                         f"{a.shape} and {b.shape}")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != k_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last dimension of the "
            f"left ({a.shape[-1]}) must equal the "
            f"{'first' if b.ndim == 1 else 'second-to-last'} dimension of the right ({k_b})")
    try:
        out = a.data @ b.data
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be "
                         f"broadcast together") from None
    # general case: promote 1-D operands to matrices, then reduce broadcast batch dims
    a2 = a.data[None, :] if a.ndim == 1 else a.data
    b2 = b.data[:, None] if b.ndim == 1 else b.data
    out2_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])

    def vjp_a(g: np.ndarray) -> np.ndarray:
        g2 = g.reshape(out2_shape)
        result: np.ndarray = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        return result

    def vjp_b(g: np.ndarray) -> np.ndarray:
        g2 = g.reshape(out2_shape)
        result: np.ndarray = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return result

    return make(out, "matmul", (a, vjp_a), (b, vjp_b))
