"""Activations and the softmax family: leaky_relu gelu softplus softmax log_softmax logsumexp.

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
from .unary import sigmoid_array

define_op("leaky_relu", "z if z > 0 else slope·z", ("z",), ("1 if z > 0 else the slope",),
          elementwise=True)


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    pos = x.data > 0
    out = np.where(pos, x.data, slope * x.data).astype(x.dtype, copy=False)
    return make(out, "leaky_relu", (x, lambda g: g * np.where(pos, 1, slope).astype(g.dtype)))


# NumPy has no erf. Φ(v) = ½·erfc(-v/√2) comes from one of two rational fits of erfc(z), z ≥ 0,
# t = 1/(1 + p·z), chosen by precision (the passes over the data are the cost):
# * float32, Abramowitz & Stegun 7.1.26: t·(a₁ + t·(a₂ + … + t·a₅))·e^{-z²}, |error| < 1.5e-7
#   (below float32's resolution of Φ near 1); with z = |v|/√2 its e^{-z²} = e^{-v²/2} is also
#   the normal density's, so GELU and its derivative share one exp.
# * float64, the Chebyshev fit of Numerical Recipes: t·exp(-z² + c₀ + t·(c₁ + … + t·c₉)),
#   relative error < 1.2e-7 everywhere, tails included (gradchecks, the PyTorch oracle).
_AS_P = 0.3275911 / math.sqrt(2)
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_NR_C = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _normal_cdf_and_exp(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Φ(v) (the standard normal CDF) and e^{-v²/2}, in v's dtype, computed in place."""
    e = np.multiply(v, v, out=np.empty_like(v))       # out=: arrays even for 0-d input
    e *= -0.5                                          # -v²/2 = -z²
    t = np.abs(v, out=np.empty_like(v))
    if v.dtype == np.float32:
        np.exp(e, out=e)                               # e^{-v²/2}
        t *= _AS_P
        t += 1
        np.reciprocal(t, out=t)                        # t = 1/(1 + p·|v|/√2)
        erfc = np.multiply(t, _AS_A[4], out=np.empty_like(v))
        for coef in _AS_A[3::-1]:                      # Horner, in place
            erfc += coef
            erfc *= t
        erfc *= e                                      # erfc(|v|/√2)
    else:
        t *= 0.5 / math.sqrt(2)
        t += 1
        np.reciprocal(t, out=t)                        # t = 1/(1 + ½·|v|/√2)
        erfc = np.multiply(t, _NR_C[9], out=np.empty_like(v))
        for coef in _NR_C[8:0:-1]:
            erfc += coef
            erfc *= t
        erfc += _NR_C[0]
        erfc += e
        np.exp(erfc, out=erfc)
        erfc *= t                                      # erfc(|v|/√2)
        np.exp(e, out=e)
    erfc *= -0.5
    erfc += 0.5                                        # ½·erf(|v|/√2) = Φ(|v|) - ½
    np.copysign(erfc, v, out=erfc)                     # Φ(v) - ½ (odd in v)
    erfc += 0.5
    return erfc, e


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


define_op("softplus", "(1/β)·ln(1 + e^(β·z))", ("z",), ("σ(β·z), the logistic sigmoid",), elementwise=True)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Softplus ``(1/β)·ln(1 + e^(β·x))``, a smooth ReLU; linear where ``β·x > threshold``
    (as ``torch.nn.functional.softplus``). Computed as ``max(z, 0) + ln(1 + e^(-|z|))`` with
    ``z = β·x``, so no ``exp`` overflows; its derivative is the sigmoid ``σ(β·x)``."""
    if not beta > 0:
        raise ConfigError(f"softplus: beta must be positive; got {beta!r}")
    z = x.data * beta
    linear = z > threshold
    out = np.where(linear, x.data, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)
    out = out.astype(x.dtype, copy=False)
    slope = np.where(linear, 1, sigmoid_array(z)).astype(x.dtype, copy=False)
    return make(out, "softplus", (x, lambda g: g * slope))  # (ln(1 + e^z))' = σ(z)


define_op("gelu", "z·Φ(z)", ("z",), ("Φ(z) + z·φ(z)",), elementwise=True)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU ``x·Φ(x)`` (Φ the normal CDF); ``approximate='tanh'`` for the tanh form.

    The exact form's Φ comes from a rational fit of erf accurate to about 1e-7 (NumPy has no
    erf; see ``_normal_cdf_and_exp``), so values agree with PyTorch's to that."""
    v = x.data
    if approximate == "none":
        cdf, e = _normal_cdf_and_exp(v)
        out = np.multiply(v, cdf, out=np.empty_like(v))

        def vjp(g: np.ndarray) -> np.ndarray:  # (xΦ(x))' = Φ(x) + x·φ(x), φ = e^{-x²/2}/√(2π)
            d: np.ndarray = v * e
            d *= _INV_SQRT_2PI
            d += cdf
            d *= g
            return d

        return make(out, "gelu", (x, vjp))
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)
        th = np.tanh(inner)
        out = 0.5 * v * (1 + th)
        dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v)
        return make(out, "gelu", (x, lambda g: g * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dinner)))
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")


def _softmax_array(v: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    e: np.ndarray = np.exp(v - v.max(axis=axis, keepdims=True))
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
