"""Batch normalisation, with PyTorch's training and evaluation behaviour.

For input ``x`` of shape (N, C), (N, C, L) or (N, C, H, W), statistics are per channel ``c``
(axis 1) over the other axes, ``M`` values each:

    training:  μ = mean(x),  σ² = mean((x - μ)²)  (biased)
               x̂ = (x - μ) / √(σ² + ε),   y = γ·x̂ + β
               running_mean ← (1 - m)·running_mean + m·μ
               running_var  ← (1 - m)·running_var  + m·σ²·M/(M - 1)   (unbiased, as PyTorch)
    eval:      x̂ = (x - running_mean) / √(running_var + ε),   y = γ·x̂ + β   (a fixed affine map)

VJP in training mode (μ and σ² depend on every x of the channel). With ĝ = γ·G and sums over
the channel's M values,

    ∂L/∂x = (1 / (M·√(σ² + ε))) · (M·ĝ - Σ ĝ - x̂ · Σ(ĝ·x̂))

(the first term is the direct path; the second comes through μ, the third through σ²).
In evaluation mode the statistics are constants: ∂L/∂x = ĝ / √(running_var + ε).
In both, ∂L/∂γ = Σ G·x̂ and ∂L/∂β = Σ G.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..opspec import define_op
from ..tensor import Tensor, lift, make


def _array(v: Any) -> np.ndarray | None:
    if v is None:
        return None
    return v.data if isinstance(v, Tensor) else v


define_op("batch_norm", "γ·(x − μ)/√(σ² + ε) + β", ("x", "γ", "β"),
          ("γ/√(σ² + ε), and through the batch's mean and variance", "x̂, the normalised input",
           "1 (the shift)"))


def batch_norm(x: Tensor, running_mean: Any = None, running_var: Any = None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) to zero mean and unit variance, then scale and shift.

    ``running_mean``/``running_var`` are (C,) arrays or tensors (buffers), updated in place
    when ``training`` is true; they may be None in training mode (no tracking), and are
    required in eval mode. ``weight`` (γ) and ``bias`` (β) are optional (C,) tensors.
    Same signature and behaviour as ``torch.nn.functional.batch_norm``.
    """
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C, ...) with at least 2 dimensions; "
                         f"got shape {x.shape}")
    if eps <= 0:
        raise ConfigError(f"batch_norm: eps must be positive; got {eps}")
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)          # (C,) arrays broadcast over x like this
    m_count = x.size // c if c else 0
    rm, rv = _array(running_mean), _array(running_var)
    for name, v in (("running_mean", rm), ("running_var", rv)):
        if v is not None and np.shape(v) != (c,):
            raise ShapeError(f"batch_norm: {name} of shape {np.shape(v)} does not fit input "
                             f"{x.shape} with {c} channels; expected ({c},)")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(shape := np.shape(t.data if isinstance(t, Tensor) else t)) != (c,):
            raise ShapeError(f"batch_norm: {name} of shape {shape} does not fit "
                             f"input {x.shape} with {c} channels; expected ({c},)")
    if weight is not None:
        weight = lift(weight, x)
    if bias is not None:
        bias = lift(bias, x)
    dtype = x.dtype

    if training:
        if m_count <= 1:
            raise ShapeError(f"batch_norm: training needs more than one value per channel to "
                             f"compute a variance; got input shape {x.shape}")
        mean = x.data.mean(axis=axes)
        xc = x.data - mean.reshape(bshape)
        var = (xc * xc).mean(axis=axes)
        if rm is not None:
            rm *= 1 - momentum
            rm += momentum * mean.astype(rm.dtype, copy=False)
        if rv is not None:
            rv *= 1 - momentum
            rv += (momentum * var * (m_count / (m_count - 1))).astype(rv.dtype, copy=False)
    else:
        if rm is None or rv is None:
            raise ConfigError("batch_norm: evaluation mode (training=False) needs "
                              "running_mean and running_var")
        mean = np.asarray(rm, dtype=dtype)
        var = np.asarray(rv, dtype=dtype)
        xc = x.data - mean.reshape(bshape)
    invstd = (1.0 / np.sqrt(var + eps)).astype(dtype, copy=False)
    xhat = xc * invstd.reshape(bshape)
    del xc
    out = xhat
    if weight is not None:
        out = out * weight.data.reshape(bshape)
    if bias is not None:
        out = out + bias.data.reshape(bshape)

    def ghat(g: np.ndarray) -> np.ndarray:  # ĝ = γ·G
        return g if weight is None else g * weight.data.reshape(bshape)

    def vjp_x(g: np.ndarray) -> np.ndarray:
        gh = ghat(g)
        if not training:  # constant statistics: a per-channel scale
            result: np.ndarray = gh * invstd.reshape(bshape)
            return result
        # (1 / (M·√(σ²+ε))) · (M·ĝ - Σĝ - x̂·Σ(ĝ·x̂))
        sum_g = gh.sum(axis=axes).reshape(bshape)
        sum_gx = (gh * xhat).sum(axis=axes).reshape(bshape)
        k = (invstd / m_count).reshape(bshape)
        result = (k * (m_count * gh - sum_g - xhat * sum_gx)).astype(dtype, copy=False)
        return result

    edges = [(x, vjp_x)]
    if weight is not None:  # ∂L/∂γ = Σ G·x̂
        edges.append((weight, lambda g: (g * xhat).sum(axis=axes).astype(weight.dtype,
                                                                           copy=False)))
    if bias is not None:    # ∂L/∂β = Σ G
        edges.append((bias, lambda g: g.sum(axis=axes).astype(bias.dtype, copy=False)))
    return make(out, "batch_norm", *edges)


def _normalized_shape(x: Tensor, normalized_shape: Any) -> tuple[int, ...]:
    shape = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
             else tuple(int(s) for s in normalized_shape))
    k = len(shape)
    if k == 0 or k > x.ndim or tuple(x.shape[x.ndim - k:]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} must match the last "
                         f"dimensions of the input; got input of shape {x.shape}")
    return shape


define_op("layer_norm", "γ·(x − μ)/√(σ² + ε) + β, statistics over each example's last axes",
          ("x", "γ", "β"),
          ("γ/√(σ² + ε)·(δᵢⱼ − 1/M − x̂ᵢx̂ⱼ/M): direct, through μ and through σ²", "x̂, the normalised input",
           "1"))


def layer_norm(x: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each example over its last ``len(normalized_shape)`` axes, then scale by
    ``weight`` (γ) and shift by ``bias`` (β), both of ``normalized_shape``. As
    ``torch.nn.functional.layer_norm``: biased variance, the same in training and evaluation.

    With ``M`` values per example, ``x̂ = (x - μ)/√(σ² + ε)`` and ``ĝ = γ·G``, the VJP is
    batch_norm's with the statistics taken over the other axes:

        ∂L/∂x = (1 / (M·√(σ² + ε))) · (M·ĝ - Σ ĝ - x̂ · Σ(ĝ·x̂)),
        ∂L/∂γ = Σ_examples G·x̂,   ∂L/∂β = Σ_examples G.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    shape = _normalized_shape(x, normalized_shape)
    if eps <= 0:
        raise ConfigError(f"layer_norm: eps must be positive; got {eps}")
    for name, t in (("weight", weight), ("bias", bias)):
        t_shape = None if t is None else tuple(np.shape(t.data if isinstance(t, Tensor) else t))
        if t_shape is not None and t_shape != shape:
            raise ShapeError(f"layer_norm: {name} of shape {t_shape} does not match "
                             f"normalized_shape {shape}")
    w = lift(weight, x) if weight is not None else None
    b = lift(bias, x) if bias is not None else None
    dtype = x.dtype
    m_count = math.prod(shape)
    rows = x.size // m_count if m_count else 0
    # one row per example: (R, M); row sums as matrix-vector products (BLAS), not short reductions
    x2 = x.data.reshape(rows, m_count)
    ones = np.ones(m_count, dtype=dtype)
    xc = x2 - (x2 @ ones * (1 / m_count))[:, None]
    var = np.einsum("ij,ij->i", xc, xc) * (1 / m_count)
    invstd = (1.0 / np.sqrt(var + eps)).astype(dtype, copy=False)[:, None]     # (R, 1)
    xhat = xc
    xhat *= invstd                                   # xc is ours: normalise in place
    w2 = None if w is None else w.data.reshape(m_count)
    if w2 is not None:
        out2 = xhat * w2
        if b is not None:
            out2 += b.data.reshape(m_count)
    else:
        out2 = xhat if b is None else xhat + b.data.reshape(m_count)
    out = out2.reshape(x.shape)

    def vjp_x(g: np.ndarray) -> np.ndarray:
        gh = g.reshape(rows, m_count) * (1 if w2 is None else w2)            # ĝ = γ·G, ours
        sum_g = gh @ ones                                                    # Σ ĝ per row
        sum_gx = np.einsum("ij,ij->i", gh, xhat)                            # Σ ĝ·x̂ per row
        # (1 / (M·√(σ²+ε))) · (M·ĝ - Σĝ - x̂·Σ(ĝ·x̂)), in place in ĝ
        gh *= m_count
        gh -= sum_g[:, None]
        gh -= xhat * sum_gx[:, None]
        gh *= invstd * (1 / m_count)
        result: np.ndarray = gh.astype(dtype, copy=False).reshape(x.shape)
        return result

    edges: list[Any] = [(x, vjp_x)]
    if w is not None:
        wt = w
        edges.append((wt, lambda g: np.einsum("ij,ij->j", g.reshape(rows, m_count), xhat)
                      .astype(wt.dtype, copy=False).reshape(shape)))
    if b is not None:
        bt = b
        edges.append((bt, lambda g: np.add.reduce(g.reshape(rows, m_count), axis=0)
                      .astype(bt.dtype, copy=False).reshape(shape)))
    return make(out, "layer_norm", *edges)
