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
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..opspec import define_op
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


_additive_cache: dict[tuple[int, int, str], np.ndarray] = {}


def _causal_additive(t: int, s: int, dtype: np.dtype) -> np.ndarray:
    """The causal mask as numbers to add to the scores: 0 where allowed, -inf elsewhere."""
    key = (t, s, np.dtype(dtype).str)
    m = _additive_cache.get(key)
    if m is None:
        m = np.where(causal_mask(t, s), 0, -np.inf).astype(dtype)
        m.flags.writeable = False
        if len(_additive_cache) < 64:
            _additive_cache[key] = m
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


Grads = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _attend(qd: np.ndarray, kd: np.ndarray, vd: np.ndarray, add: np.ndarray | None,
            c: float, dropout_p: float) -> tuple[np.ndarray, Grads]:
    """The attention kernel on arrays: ``softmax(c·Q Kᵀ + add) V`` and a function mapping
    ``G = ∂L/∂O`` to ``(∂L/∂Q, ∂L/∂K, ∂L/∂V)`` (still broadcast to the scores' batch shape)."""
    scores = qd @ np.swapaxes(kd, -1, -2)            # (..., T, S)
    scores *= c
    if add is not None:
        try:
            if add.ndim <= scores.ndim and np.broadcast_shapes(add.shape, scores.shape) \
                    == scores.shape:
                scores += add
            else:
                scores = scores + add
        except ValueError:
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {add.shape} "
                             f"does not broadcast to the scores' shape {scores.shape}") from None
    p = _softmax_last(scores)
    drop: np.ndarray | None = None
    pd = p
    if dropout_p > 0:
        keep = get_rng().random(p.shape, dtype=np.float32) >= dropout_p
        drop = keep * np.asarray(1 / (1 - dropout_p), dtype=p.dtype)
        pd = p * drop
    out = pd @ vd                                     # (..., T, Dv)

    def grads(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dv = np.swapaxes(pd, -1, -2) @ g               # ∂L/∂V = Pᵀ G
        ds = g @ np.swapaxes(vd, -1, -2)               # ∂L/∂(dropped P) = G Vᵀ
        if drop is not None:
            ds *= drop
        # softmax VJP: ∂L/∂S = P ⊙ (∂L/∂P - Σ_s ∂L/∂P ⊙ P), then the scale c
        ds -= np.einsum("...ts,...ts->...t", ds, p)[..., None]
        ds *= p
        ds *= c
        dq = ds @ kd                                   # ∂L/∂Q = c·(∂L/∂S) K
        dk = np.swapaxes(ds, -1, -2) @ qd              # ∂L/∂K = c·(∂L/∂S)ᵀ Q
        return dq, dk, dv

    return out, grads


_TINY = 2.0 ** -60


def _softmax_last(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable: ``exp(S - m) / Σ exp(S - m)`` (S is shifted in place).

    Any shift ``m`` at least a row's maximum keeps every exponential ≤ 1 (no overflow), so one
    maximum per (T, S) block of rows serves them all: a reduction over a long contiguous axis
    instead of a slow one over each short row. A row whose own maximum lies far below its
    block's could underflow (its sum below 2⁻⁶⁰); those rows alone are redone with their own
    maximum. Rows masked entirely give NaN (0/0), as in PyTorch.
    """
    lead = scores.shape[:-2]
    block = scores.reshape(lead + (-1,)).max(axis=-1) if scores.ndim > 1 else scores.max()
    block = np.where(np.isfinite(block), block, 0).astype(scores.dtype, copy=False)
    scores -= block.reshape(np.shape(block) + (1, 1)) if scores.ndim > 1 else block
    p: np.ndarray = np.exp(scores)
    sums = p.sum(axis=-1, keepdims=True)
    low = sums < _TINY
    if low.any():                                      # rare: redo those rows exactly
        rows = np.nonzero(low[..., 0])
        raw = scores[rows]
        raw -= raw.max(axis=-1, keepdims=True)
        p[rows] = np.exp(raw)
        sums = p.sum(axis=-1, keepdims=True)
    p /= sums
    return p


def _check(dropout_p: float, is_causal: bool, attn_mask: Any) -> None:
    if not 0 <= dropout_p < 1:
        raise ConfigError(f"scaled_dot_product_attention: dropout_p must be in [0, 1); got "
                          f"{dropout_p}")
    if is_causal and attn_mask is not None:
        raise ConfigError("scaled_dot_product_attention: give either attn_mask or "
                          "is_causal=True, not both")


define_op("scaled_dot_product_attention", "softmax(Q·Kᵀ/√D + mask)·V", ("Q", "K", "V"),
          ("(∂L/∂S)·K/√D, with ∂L/∂S = P ⊙ (G·Vᵀ − rowsum(G·Vᵀ ⊙ P))",
           "(∂L/∂S)ᵀ·Q/√D", "Pᵀ·G: each value weighted by the attention it received"))


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
    _check(dropout_p, is_causal, attn_mask)
    t_len, s_len = q.shape[-2], k.shape[-2]
    c = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    add = (_causal_additive(t_len, s_len, q.dtype) if is_causal
           else None if attn_mask is None else _additive(attn_mask, q.dtype))
    out, grads = _attend(q.data, k.data, v.data, add, c, dropout_p if training else 0.0)

    # the three edges receive the same G in one backward pass: compute the grads once
    cache: dict[str, Any] = {}

    def part(i: int, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
        def vjp(g: np.ndarray) -> np.ndarray:
            if cache.get("g") is not g:
                cache["g"], cache["d"] = g, grads(g)
            d: np.ndarray = cache["d"][i]
            return unbroadcast(d, shape)
        return vjp

    return make(out, "scaled_dot_product_attention", (q, part(0, q.shape)),
                (k, part(1, k.shape)), (v, part(2, v.shape)))


define_op("packed_self_attention", "per head h: softmax(Q_h·K_hᵀ/√D + mask)·V_h, heads side by side",
          ("[Q | K | V]",), ("scaled_dot_product_attention's three VJPs, one per third of the input",))


def packed_self_attention(qkv: Tensor, num_heads: int, attn_mask: Any = None,
                          dropout_p: float = 0.0, is_causal: bool = False,
                          training: bool = True) -> Tensor:
    """Multi-head self-attention from packed projections, as one node.

    ``qkv`` (N, T, 3E) holds ``[Q | K | V]`` (one ``linear`` with MultiheadAttention's
    ``in_proj_weight``); each is split into ``num_heads`` heads of width D = E/H, attended
    as in :func:`scaled_dot_product_attention` (scale 1/√D), and the heads' outputs are
    merged back to (N, T, E). The split and merge are views and transposes, so fusing them
    with the attention saves six graph nodes and their copies per layer; the gradient is
    written straight into one (N, T, 3E) array. ``attn_mask``: additive float or boolean
    (True = attend), broadcastable to (N, H, T, T).
    """
    n, t, e3 = qkv.shape
    if e3 % (3 * num_heads):
        raise ShapeError(f"packed_self_attention: last axis {e3} is not 3·num_heads·head_dim "
                         f"for {num_heads} heads")
    _check(dropout_p, is_causal, attn_mask)
    h = num_heads
    d = e3 // (3 * h)
    heads = qkv.data.reshape(n, t, 3, h, d).transpose(2, 0, 3, 1, 4)   # (3, N, H, T, D) view
    add = (_causal_additive(t, t, qkv.dtype) if is_causal
           else None if attn_mask is None else _additive(attn_mask, qkv.dtype))
    out, grads = _attend(heads[0], heads[1], heads[2], add, 1 / math.sqrt(d),
                         dropout_p if training else 0.0)
    merged = out.transpose(0, 2, 1, 3).reshape(n, t, h * d)           # (N, T, E)

    def vjp(g: np.ndarray) -> np.ndarray:
        gh = g.reshape(n, t, h, d).transpose(0, 2, 1, 3)              # (N, H, T, D)
        dq, dk, dv = grads(gh)
        full = np.empty((n, t, 3, h, d), dtype=g.dtype)
        view = full.transpose(2, 0, 3, 1, 4)                          # (3, N, H, T, D)
        view[0], view[1], view[2] = dq, dk, dv
        return full.reshape(n, t, e3)

    return make(merged, "packed_self_attention", (qkv, vjp))


__all__ = ["causal_mask", "packed_self_attention", "scaled_dot_product_attention"]
