"""2-D convolution (cross-correlation, as in PyTorch), NCHW, as one matrix product.

Notation: input ``x`` (N, C, H, W), weight ``w`` (O, C, KH, KW), bias ``b`` (O,), stride
(sh, sw), zero padding (ph, pw). With ``xp`` the padded input,

    out[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · xp[n, c, i·sh + p, j·sw + q]
    OH = (H + 2ph - KH) // sh + 1,   OW = (W + 2pw - KW) // sw + 1.

*im2col*: gather every receptive field into one row of a matrix
``cols[(n, i, j), (p, q, c)] = xp[n, c, i·sh + p, j·sw + q]`` (``sliding_window_view`` gives the
windows as a strided view; one copy lays them out as rows). Then the whole layer is one GEMM

    out2 = cols @ W2ᵀ          with W2[o, (p, q, c)] = w[o, c, p, q], out2: (N·OH·OW, O)

and the calculus is that of ``linear`` (see ops/linear.py), with G2 the output gradient laid
out like out2:

    ∂L/∂W2   = G2ᵀ cols                   (one GEMM over every sample and position)
    ∂L/∂cols = G2 W2                      (one GEMM per kernel offset, see below)
    ∂L/∂b    = Σ_{n,i,j} G[n, :, i, j]

and ``∂L/∂x`` is ``∂L/∂cols`` scattered back to where each window element came from
(*col2im*): every input pixel receives the sum over all windows that contain it. Windows
overlap, so this is a sum; it is done per kernel offset (p, q): the columns of ∂L/∂cols that
belong to (p, q), ``G2 W2[:, (p, q, ·)]``, form one (N·OH·OW, C) block, added to the input
positions it came from with one strided add — KH·KW GEMMs and vectorised adds over all
samples, channels and positions, never a loop over pixels — and the padding border is cut
off at the end (its gradient belongs to constant zeros).

Memory layout: the work is done channels-last. ``out2`` *is* the output stored NHWC, so the
result is returned as an NCHW-indexed view of it, without a transpose copy; relu and pooling
keep that layout, and the next conv2d reads it as NHWC for free. Channels innermost also makes
the im2col copy and the col2im adds run over contiguous runs of C values.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError, ShapeError
from ..opspec import define_op
from ..tensor import Tensor, lift, make


def _pair(v: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> (vertical, horizontal), each checked ``>= minimum``."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ConfigError(f"{op}: {name} must be an int or a pair of ints; got {v!r}")
        pair = tuple(v)
    else:
        pair = (v, v)
    try:
        out = tuple(int(a) for a in pair)
    except (TypeError, ValueError):
        raise ConfigError(f"{op}: {name} must be an int or a pair of ints; got {v!r}") from None
    if any(a != b for a, b in zip(out, pair)) or any(a < minimum for a in out):
        raise ConfigError(f"{op}: {name} must be integer(s) >= {minimum}; got {v!r}")
    return out  # type: ignore[return-value]


_FEW_CHANNELS = 4  # below this, im2col lays out its matrix transposed (see conv2d)


define_op("conv2d", "Σ over a window of W·x, + b", ("x", "W", "b"),
          ("a kernel weight over this pixel", "an input pixel under this weight", "1 (the bias)"))


def conv2d(x: Any, w: Tensor, b: Tensor | None = None, stride: Any = 1,
           padding: Any = 0) -> Tensor:
    """2-D convolution. x: (N, C, H, W), w: (O, C, KH, KW), b: (O,) -> (N, O, OH, OW).

    ``stride`` and ``padding`` are an int or a pair (vertical, horizontal); padding is zeros.

    Memory layout: the result is indexed NCHW but stored channels-last (NHWC), because the
    GEMM produces it that way; ops that follow (relu, pooling, the next conv2d) keep that
    layout, so a stack of convolutions never transposes its activations.
    """
    if not isinstance(w, Tensor):
        w = Tensor(w, dtype=np.asarray(w).dtype if np.asarray(w).dtype.kind == "f" else None)
    x = lift(x, w)
    sh, sw = _pair(stride, "stride", "conv2d", 1)
    ph, pw = _pair(padding, "padding", "conv2d", 0)
    if w.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw); "
                         f"got shape {w.shape}")
    if x.ndim != 4:
        raise ShapeError(f"conv2d: input must be 4-D (N, C, H, W); got shape {x.shape}")
    n, c, h, wd = x.shape
    o, cw, kh, kw = w.shape
    if c != cw:
        raise ShapeError(f"conv2d: input of shape {x.shape} has {c} channels but the weight of "
                         f"shape {w.shape} expects {cw} input channels")
    if b is not None:
        b = lift(b, w)
        if b.shape != (o,):
            raise ShapeError(f"conv2d: bias of shape {b.shape} does not fit weight {w.shape}; "
                             f"expected ({o},)")
    hp, wp = h + 2 * ph, wd + 2 * pw
    if hp < kh or wp < kw:
        raise ShapeError(f"conv2d: kernel {kh}x{kw} is larger than the padded input "
                         f"{hp}x{wp} (input {x.shape}, padding {(ph, pw)})")
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    dtype = np.result_type(x.dtype, w.dtype)

    # Work channels-last: xh[n, y, x, c]. A view when x is already stored NHWC.
    xh = x.data.transpose(0, 2, 3, 1)
    if ph or pw:
        xp = np.zeros((n, hp, wp, c), dtype=dtype)
        xp[:, ph:ph + h, pw:pw + wd] = xh
    else:
        xp = xh
    # cols[(n, i, j), (p, q, c)]: every window, channel innermost (the one copy)
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (N,OH,OW,C,KH,KW)
    if c >= _FEW_CHANNELS:  # copied in runs of C contiguous values
        cols = np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3), dtype=dtype).reshape(
            n * oh * ow, kh * kw * c)
    else:  # few channels (an image's first layer): build colsᵀ, in runs of OW values
        cols = np.ascontiguousarray(win.transpose(4, 5, 3, 0, 1, 2), dtype=dtype).reshape(
            kh * kw * c, n * oh * ow).T
    # W2[o, (p, q, c)], the weight flattened in the same order
    w2 = np.ascontiguousarray(w.data.transpose(0, 2, 3, 1), dtype=dtype).reshape(o, -1)
    out2 = cols @ w2.T                                   # (N·OH·OW, O): the GEMM
    if b is not None:
        out2 += b.data
    out = out2.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)   # NCHW view of NHWC memory

    cache: dict[str, np.ndarray] = {}

    def g2_of(g: np.ndarray) -> np.ndarray:
        """The output gradient as G2 (N·OH·OW, O), computed once for all three VJPs.
        (No copy when g is stored channels-last, as the ops after a conv keep it.)"""
        if cache.get("g") is not g:
            cache["g"] = g
            cache["g2"] = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, o)
        return cache["g2"]

    def vjp_w(g: np.ndarray) -> np.ndarray:  # ∂L/∂W2 = G2ᵀ cols, then back to (O, C, KH, KW)
        # (colsᵀ G2)ᵀ when colsᵀ is what is stored (few channels): BLAS reads it row by row
        dw2 = g2_of(g).T @ cols if cols.flags.c_contiguous else (cols.T @ g2_of(g)).T
        return np.ascontiguousarray(dw2.reshape(o, kh, kw, c).transpose(0, 3, 1, 2),
                                    dtype=w.dtype)

    def vjp_b(g: np.ndarray) -> np.ndarray:  # ∂L/∂b[o] = Σ_{n,i,j} G[n, o, i, j], as 1ᵀ G2 (a BLAS product: many rows)
        g2 = g2_of(g)
        # (recorded only when there is a bias)
        return (np.ones(g2.shape[0], dtype=g2.dtype) @ g2).astype(b.dtype, copy=False)  # type: ignore[union-attr]

    def vjp_x(g: np.ndarray) -> np.ndarray:  # ∂L/∂cols = G2 W2, then col2im (channels-last), then drop the padding
        g2 = g2_of(g)
        w2r = w2.reshape(o, kh * kw, c)
        dxp = np.zeros((n, hp, wp, c), dtype=dtype)
        # Window element (p, q) came from xp[:, i·sh + p, j·sw + q, :], so its part of ∂L/∂cols,
        # G2 W2[:, (p, q, ·)], goes back there: one GEMM and one strided, vectorised add per
        # kernel offset (assignment when windows cannot overlap). Multiplying per offset, rather
        # than forming all of ∂L/∂cols at once, keeps each block (N·OH·OW, C) small and contiguous.
        overlap = sh < kh or sw < kw
        for p in range(kh):
            for q in range(kw):
                block = (g2 @ w2r[:, p * kw + q]).reshape(n, oh, ow, c)
                dst = dxp[:, p:p + sh * oh:sh, q:q + sw * ow:sw]
                if overlap:
                    dst += block
                else:
                    dst[...] = block
        dx = dxp[:, ph:ph + h, pw:pw + wd].transpose(0, 3, 1, 2)
        return dx.astype(x.dtype, copy=False)

    edges = [(x, vjp_x), (w, vjp_w)]
    if b is not None:
        edges.append((b, vjp_b))
    return make(out, "conv2d", *edges)
