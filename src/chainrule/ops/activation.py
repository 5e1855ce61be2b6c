"""Activations and the softmax family: leaky_relu gelu softmax log_softmax logsumexp.

All softmax-family ops subtract the maximum before exponentiating, so logits of magnitude
1e3 (or larger) neither overflow nor lose precision.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..opspec import define_op
from ..tensor import Tensor, make
from .reduce import _axes, _expand

define_op("leaky_relu", "z if z > 0 else slope·z", ("z",), ("1 if z > 0 else the slope",),
          elementwise=True)


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    pos = x.data > 0
    out = np.where(pos, x.data, slope * x.data).astype(x.dtype, copy=False)
    return make(out, "leaky_relu", (x, lambda g: g * np.where(pos, 1, slope).astype(g.dtype)))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf via the Chebyshev fit of Numerical Recipes (erfc relative error < 1.2e-7)."""
    z = np.abs(x)
    t = 1 / (1 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1 - erfc, erfc - 1)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


define_op("gelu", "z·Φ(z)", ("z",), ("Φ(z) + z·φ(z)",), elementwise=True)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU ``x·Φ(x)`` (Φ the normal CDF); ``approximate='tanh'`` for the tanh form."""
    v = x.data
    if approximate == "none":
        cdf = 0.5 * (1 + _erf(v / math.sqrt(2)))
        pdf = np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
        out = (v * cdf).astype(x.dtype, copy=False)
        # (xΦ(x))' = Φ(x) + x·φ(x)
        return make(out, "gelu", (x, lambda g: g * (cdf + v * pdf)))
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)
        th = np.tanh(inner)
        out = 0.5 * v * (1 + th)
        dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v)
        return make(out, "gelu", (x, lambda g: g * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dinner)))
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")


def _softmax_array(v: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


define_op("softmax", "eᶻⁱ / Σⱼ eᶻʲ", ("z",), ("sᵢ·([i = j] − sⱼ)",))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    axes = _axes(x, axis)  # checked: an axis out of range is a ShapeError naming the shape
    s = _softmax_array(x.data, axes)
    # Jacobian-vector product of softmax: s ⊙ (g - Σ g·s)
    return make(s, "softmax", (x, lambda g: s * (g - (g * s).sum(axis=axes, keepdims=True))))


define_op("log_softmax", "zᵢ − log Σⱼ eᶻʲ", ("z",), ("[i = j] − softmax(z)ⱼ",))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    axes = _axes(x, axis)
    m = x.data.max(axis=axes, keepdims=True)
    shifted = x.data - m
    lse = np.log(np.exp(shifted).sum(axis=axes, keepdims=True))
    out = shifted - lse
    # out = x - logsumexp(x)  ⇒  ∂L/∂x = g - softmax(x)·Σg
    return make(out, "log_softmax",
                (x, lambda g: g - np.exp(out) * g.sum(axis=axes, keepdims=True)))


define_op("logsumexp", "log Σ eˣ", ("x",), ("softmax(x)ᵢ",))


def logsumexp(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """``log Σ exp(x)`` over ``axis``, computed as ``m + log Σ exp(x - m)``."""
    axes = _axes(x, axis)
    m = x.data.max(axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.exp(x.data - m).sum(axis=axes, keepdims=True)) + m
    result = out if keepdims else np.squeeze(out, axis=axes)
    # ∂ logsumexp/∂xᵢ = softmax(x)ᵢ
    return make(np.asarray(result), "logsumexp",
                (x, lambda g: _expand(g, x, axes, keepdims) * np.exp(x.data - out)))
