"""Scaled dot-product attention, fused: one graph node for ``softmax(QKᵀ/√D + mask)·V``.

For queries ``Q`` (..., T, D), keys ``K`` (..., S, D) and values ``V`` (..., S, Dv), with
scale ``c = 1/√D``:

    S = c·Q Kᵀ (+ mask)       (..., T, S)   scores: how well query t matches key s
    P = softmax(S) over s     (..., T, S)   attention weights, each row sums to 1
    O = P V                   (..., T, Dv)  each output row a weighted mean of the values

Backward, with ``G = ∂L/∂O`` and the softmax VJP ``∂L/∂S = P ⊙ (∂L/∂P - rowsum(∂L/∂P ⊙ P))``:

    ∂L/∂V = Pᵀ G,   ∂L/∂P = G Vᵀ,   ∂L/∂Q = c·(∂L/∂S) K,   ∂L/∂K = c·(∂L/∂S)ᵀ Q

One node instead of six (matmul, scale, mask, softmax, dropout, matmul) keeps one (T, S)
array (P) for the backward pass instead of four, and the softmax subtracts each row's
maximum first, so large scores cannot overflow. Masked positions get weight exactly zero;
a row whose every position is masked gives NaN, as in PyTorch.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..rng import get_rng
from ..tensor import Tensor, lift, make, unbroadcast

_causal_cache: dict[tuple[int, int], np.ndarray] = {}


def causal_mask(t: int, s: int | None = None) -> np.ndarray:
    """Boolean (T, S) mask, True where query ``i`` may attend to key ``j`` (``j ≤ i``,
    aligned at the top left as PyTorch's ``is_causal``). Cached: read-only."""
    s = t if s is None else s
    key = (t, s)
    m = _causal_cache.get(key)
    if m is None:
        m = np.tril(np.ones((t, s), dtype=bool))
        m.flags.writeable = False
        if len(_causal_cache) < 64:
            _causal_cache[key] = m
    return m


def _additive(mask: Any, dtype: np.dtype) -> np.ndarray:
    """A mask as numbers to add to the scores: a boolean mask (True = take part, as in
    ``torch.nn.functional.scaled_dot_product_attention``) becomes 0 / -inf."""
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == bool:
        return np.where(m, 0, -np.inf).astype(dtype)
    if m.dtype.kind != "f":
        raise ConfigError(f"scaled_dot_product_attention: attn_mask must be boolean (True = "
                          f"attend) or floating point (added to the scores); got {m.dtype}")
    return m.astype(dtype, copy=False)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 training: bool = True) -> Tensor:
    """``softmax(Q Kᵀ·scale + mask) V`` over (N, H, T, D) (any leading axes), as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (..., T, D); key: (..., S, D); value: (..., S, Dv).
        attn_mask: broadcastable to (..., T, S): boolean (True where a query may attend to a
            key) or float (added to the scores, e.g. -inf to forbid). A constant: no gradient.
        dropout_p: probability of zeroing each attention weight (the kept ones scaled by
            1/(1-p)) when ``training``; PyTorch applies it whenever it is given, so pass
            ``dropout_p=0`` (or ``training=False``) for evaluation.
        is_causal: mask out keys after each query (``attn_mask`` must then be None).
        scale: defaults to 1/√D.
    Returns (..., T, Dv).
    """
    q = query if isinstance(query, Tensor) else Tensor(query)
    k = lift(key, q)
    v = lift(value, q)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention: query, key and value need at least "
                         f"2 dimensions (..., T, D); got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and "
                         f"value {v.shape} do not fit: query and key need the same last "
                         f"dimension D, key and value the same length S (axis -2)")
    if not 0 <= dropout_p < 1:
        raise ConfigError(f"scaled_dot_product_attention: dropout_p must be in [0, 1); got "
                          f"{dropout_p}")
    if is_causal and attn_mask is not None:
        raise ConfigError("scaled_dot_product_attention: give either attn_mask or "
                          "is_causal=True, not both")
    t_len, s_len = q.shape[-2], k.shape[-2]
    c = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    qd, kd, vd = q.data, k.data, v.data
    dtype = qd.dtype

    scores = qd @ np.swapaxes(kd, -1, -2)            # (..., T, S)
    scores *= c
    if is_causal:
        allowed = causal_mask(t_len, s_len)
        scores[..., ~allowed] = -np.inf
    elif attn_mask is not None:
        add = _additive(attn_mask, dtype)
        try:
            scores = scores + add
        except ValueError:
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {add.shape} "
                             f"does not broadcast to the scores' shape {scores.shape}") from None
    # stable softmax over the keys, in place: P = exp(S - max S) / Σ exp(S - max S)
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores, out=scores)
    p /= p.sum(axis=-1, keepdims=True)
    if dropout_p > 0 and training:
        keep = get_rng().random(p.shape, dtype=np.float32) >= dropout_p
        drop = keep * np.asarray(1 / (1 - dropout_p), dtype=dtype)
        pd = p * drop
    else:
        drop = None
        pd = p
    out = pd @ vd                                     # (..., T, Dv)

    def grad_scores(g: np.ndarray) -> np.ndarray:
        """∂L/∂S (without the scale c) from G = ∂L/∂O, shared by the Q and K edges."""
        dp = g @ np.swapaxes(vd, -1, -2)               # ∂L/∂(dropped P) = G Vᵀ
        if drop is not None:
            dp *= drop
        # softmax VJP: P ⊙ (∂L/∂P - Σ_s ∂L/∂P ⊙ P)
        dp -= np.einsum("...ts,...ts->...t", dp, p)[..., None]
        dp *= p
        return dp

    cache: dict[str, Any] = {}

    def ds_for(g: np.ndarray) -> np.ndarray:
        # the Q and K edges receive the same G in one backward pass: compute ∂L/∂S once
        if cache.get("g") is not g:
            cache["g"], cache["ds"] = g, grad_scores(g)
        ds: np.ndarray = cache["ds"]
        return ds

    def vjp_q(g: np.ndarray) -> np.ndarray:
        ds = ds_for(g)
        gq = ds @ kd
        gq *= c
        return unbroadcast(gq, qd.shape)

    def vjp_k(g: np.ndarray) -> np.ndarray:
        ds = ds_for(g)
        gk = np.swapaxes(ds, -1, -2) @ qd
        gk *= c
        cache.clear()                                  # the K edge runs last: free ∂L/∂S
        return unbroadcast(gk, kd.shape)

    def vjp_v(g: np.ndarray) -> np.ndarray:
        return unbroadcast(np.swapaxes(pd, -1, -2) @ g, vd.shape)

    return make(out, "scaled_dot_product_attention", (q, vjp_q), (k, vjp_k), (v, vjp_v))


__all__ = ["causal_mask", "scaled_dot_product_attention"]
