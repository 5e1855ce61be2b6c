"""MultiheadAttention, with PyTorch's parameters (``in_proj_weight`` (3E, E),
``in_proj_bias`` (3E,), ``out_proj``) and call signature, so state dicts map over.

For input (N, T, E) with ``batch_first=True`` and H heads of width D = E/H:

    Q = X_q W_qᵀ + b_q,  K = X_k W_kᵀ + b_k,  V = X_v W_vᵀ + b_v     (N, T, E) each
    split into heads: (N, T, E) -> (N, H, T, D)
    O_h = softmax(Q_h K_hᵀ/√D + mask) V_h      (ops/attention.py, one fused node)
    Y = concat_h(O_h) W_oᵀ + b_o                (N, T, E)

Each head attends with its own D-dimensional slice of the projections; the output
projection mixes the heads back together.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..ops.activation import softmax
from ..ops.attention import (
    causal_mask,
    packed_self_attention,
    scaled_dot_product_attention,
)
from ..ops.linear import dropout, linear
from ..tensor import Tensor, lift
from . import init
from .layers import Linear, _positive_int
from .module import Module, empty_parameter
from .registry import register


def _float_mask(attn_mask: Any, key_padding_mask: Any, n: int, h: int, t: int, s: int,
                dtype: np.dtype) -> np.ndarray | None:
    """MultiheadAttention's masks (boolean True = *masked out*, or float added) as one
    additive array broadcastable to (N, H, T, S)."""
    total: np.ndarray | None = None
    if attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        m = np.where(m, -np.inf, 0).astype(dtype) if m.dtype == bool else m.astype(dtype)
        if m.shape == (t, s):
            total = m
        elif m.shape == (n * h, t, s):
            total = m.reshape(n, h, t, s)
        else:
            raise ShapeError(f"MultiheadAttention: attn_mask must be ({t}, {s}) or "
                             f"({n * h}, {t}, {s}) (N·num_heads, T, S); got {m.shape}")
    if key_padding_mask is not None:
        kp = (key_padding_mask.data if isinstance(key_padding_mask, Tensor)
              else np.asarray(key_padding_mask))
        if kp.shape != (n, s):
            raise ShapeError(f"MultiheadAttention: key_padding_mask must be (N, S) = "
                             f"({n}, {s}); got {kp.shape}")
        kp = np.where(kp, -np.inf, 0).astype(dtype) if kp.dtype == bool else kp.astype(dtype)
        kp = kp.reshape(n, 1, 1, s)
        total = kp if total is None else total + kp
    return total


@register
class MultiheadAttention(Module):
    """Multi-head attention: ``MultiheadAttention(embed_dim, num_heads, batch_first=True)``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)`` as PyTorch
    does: output (N, T, E) (``batch_first``) or (T, N, E); weights (N, T, S) averaged over
    heads (or (N, H, T, S)) when ``need_weights``, else None. Masks follow PyTorch: in a
    boolean ``attn_mask`` or ``key_padding_mask`` True means *may not attend*; a float mask
    is added to the scores. ``is_causal=True`` alone applies the causal mask (each position
    sees itself and the past). ``dropout`` zeroes attention weights in training.

    With ``need_weights=False`` the heads run through the fused
    ``scaled_dot_product_attention`` node; with weights requested, through separate ops so
    the weights are an ordinary tensor of the graph.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0,
                 bias: bool = True, batch_first: bool = False) -> None:
        super().__init__()
        self.embed_dim = _positive_int("MultiheadAttention", "embed_dim", embed_dim)
        self.num_heads = _positive_int("MultiheadAttention", "num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                              f"num_heads {num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ConfigError(f"MultiheadAttention: dropout must be in [0, 1); got {dropout!r}")
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        e = self.embed_dim
        self.in_proj_weight = empty_parameter(3 * e, e)
        self.in_proj_bias = empty_parameter(3 * e) if bias else None
        self.out_proj = Linear(e, e, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform in-projection, zero biases, out_proj as a Linear."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
        if self.out_proj.bias is not None:
            init.zeros_(self.out_proj.bias)

    def _project(self, x: Tensor, i: int) -> Tensor:
        """Rows i·E..(i+1)·E of the packed in-projection: i = 0 query, 1 key, 2 value."""
        e = self.embed_dim
        w = self.in_proj_weight[i * e:(i + 1) * e]
        b = None if self.in_proj_bias is None else self.in_proj_bias[i * e:(i + 1) * e]
        return linear(x, w, b)

    def _heads(self, x: Tensor) -> Tensor:
        n, t, _ = x.shape  # (N, T, E) -> (N, H, T, D)
        return x.reshape(n, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        q_in = query if isinstance(query, Tensor) else Tensor(query)
        k_in = key if key is query else lift(key, q_in)
        v_in = value if value is query else (k_in if value is key else lift(value, q_in))
        for name, t in (("query", q_in), ("key", k_in), ("value", v_in)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                layout = "(N, T, E)" if self.batch_first else "(T, N, E)"
                raise ShapeError(f"MultiheadAttention: {name} must be {layout} with E = "
                                 f"{self.embed_dim}; got shape {t.shape}")
        if not self.batch_first:  # (T, N, E) -> (N, T, E)
            q_in, k_in, v_in = (t.transpose(1, 0, 2) for t in (q_in, k_in, v_in))
        n, t_len, e = q_in.shape
        s_len = k_in.shape[1]
        if k_in.shape[0] != n or v_in.shape[:2] != k_in.shape[:2]:
            raise ShapeError(f"MultiheadAttention: query {q_in.shape}, key {k_in.shape} and "
                             f"value {v_in.shape} must share the batch size, and key and "
                             f"value the length")
        mask = _float_mask(attn_mask, key_padding_mask, n, self.num_heads, t_len, s_len,
                           q_in.dtype)
        causal = is_causal and mask is None
        if is_causal and mask is not None:
            mask = mask + np.where(causal_mask(t_len, s_len), 0, -np.inf).astype(q_in.dtype)
        p_drop = self.dropout if self.training else 0.0
        if not need_weights and k_in is q_in and v_in is q_in:
            # self-attention: one in-projection GEMM and one fused attention node
            qkv = linear(q_in, self.in_proj_weight, self.in_proj_bias)       # (N, T, 3E)
            merged = packed_self_attention(qkv, self.num_heads, attn_mask=mask,
                                           dropout_p=p_drop, is_causal=causal)
            out = self.out_proj(merged)
            return (out if self.batch_first else out.transpose(1, 0, 2)), None
        q = self._heads(self._project(q_in, 0))
        k = self._heads(self._project(k_in, 1))
        v = self._heads(self._project(v_in, 2))
        weights: Tensor | None = None
        if need_weights:
            scores = (q @ k.transpose(0, 1, 3, 2)) * (1 / math.sqrt(self.head_dim))
            if causal:
                mask = np.where(causal_mask(t_len, s_len), 0, -np.inf).astype(q.dtype)
            if mask is not None:
                scores = scores + mask
            weights = softmax(scores, axis=-1)                         # (N, H, T, S)
            heads = dropout(weights, p_drop, self.training) @ v
            if average_attn_weights:
                weights = weights.mean(axis=1)
        else:
            heads = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop,
                                                 is_causal=causal)
        merged = heads.transpose(0, 2, 1, 3).reshape(n, t_len, e)     # (N, T, E)
        out = self.out_proj(merged)
        if not self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, weights

    def config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "dropout": self.dropout, "bias": self.in_proj_bias is not None,
                "batch_first": self.batch_first}


__all__ = ["MultiheadAttention"]
