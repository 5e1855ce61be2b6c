"""2-D pooling over NCHW tensors: max_pool2d and avg_pool2d.

Each output element summarises one window of its input,

    out[n, c, i, j] = reduce_{p < KH, q < KW} xp[n, c, i·sh + p, j·sw + q],

with ``xp`` the input padded (by -inf for max, zeros for average) and
OH = (H + 2ph - KH) // sh + 1 (rows that do not fill a window are dropped, as in PyTorch).

VJPs:
  * max:  the output is one of the window's elements, the first largest (as PyTorch picks),
          so ∂out/∂x is 1 at that element (the *argmax*) and 0 elsewhere: the gradient is
          routed to the argmax of each window and summed where windows overlap.
  * avg:  ∂out/∂x = 1/(KH·KW) for every element of the window: each window spreads its
          gradient evenly (padding zeros count in the divisor, PyTorch's default
          ``count_include_pad=True``).

The common case — stride == kernel, no padding (2×2 pooling with stride 2) — needs no window
view at all: a reshape to (N, C, OH, KH, OW, KW) makes each window two axes, and the gradient
goes back through the same reshape. Other cases use a strided window view and scatter back with
one vectorised add per kernel offset (see ``col2im`` in ops/conv.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor, make
from .conv import _pad, _pair, col2im, windows


def _geometry(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any):
    kh, kw = _pair(kernel_size, "kernel_size", op, 1)
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    if x.ndim != 4:
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W); got shape {x.shape}")
    if 2 * ph > kh or 2 * pw > kw:
        raise ShapeError(f"{op}: padding {(ph, pw)} must be at most half the kernel "
                         f"{(kh, kw)}")
    h, w = x.shape[2:]
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ShapeError(f"{op}: kernel {(kh, kw)} is larger than the padded input "
                         f"{(h + 2 * ph, w + 2 * pw)} (input shape {x.shape})")
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return kh, kw, sh, sw, ph, pw, oh, ow


def _tiled(kh, kw, sh, sw, ph, pw) -> bool:
    """Non-overlapping windows without padding: pooling is a reshape."""
    return (kh, kw) == (sh, sw) and not ph and not pw


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Largest value of each window. ``stride`` defaults to ``kernel_size``."""
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry("max_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    if _tiled(kh, kw, sh, sw, ph, pw):
        xc = x.data[:, :, :oh * kh, :ow * kw]
        # (N, C, OH, OW, KH·KW): each window's elements along the last axis (one copy)
        win = xc.reshape(n, c, oh, kh, ow, kw).transpose(0, 1, 2, 4, 3, 5).reshape(
            n, c, oh, ow, kh * kw)
    else:
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = _pad(x.data, ph, pw, fill)
        win = windows(xp, kh, kw, sh, sw).reshape(n, c, oh, ow, kh * kw)
    idx = win.argmax(axis=-1)[..., None]               # first largest, as PyTorch
    out = np.take_along_axis(win, idx, axis=-1)[..., 0]

    def vjp(g):  # route each window's gradient to its argmax
        dwin = np.zeros((n, c, oh, ow, kh * kw), dtype=g.dtype)
        np.put_along_axis(dwin, idx, g[..., None], axis=-1)
        if _tiled(kh, kw, sh, sw, ph, pw):
            d = dwin.reshape(n, c, oh, ow, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(
                n, c, oh * kh, ow * kw)
            if d.shape == x.shape:
                return d
            dx = np.zeros(x.shape, dtype=g.dtype)  # rows/cols that filled no window get 0
            dx[:, :, :oh * kh, :ow * kw] = d
            return dx
        dxp = col2im(dwin.reshape(n, c, oh, ow, kh, kw), (n, c, h + 2 * ph, w + 2 * pw), sh, sw)
        return dxp[:, :, ph:ph + h, pw:pw + w]

    return make(out, "max_pool2d", (x, vjp))


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Mean of each window (zero padding counted in the divisor, as PyTorch's default)."""
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry("avg_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    scale = np.asarray(1.0 / (kh * kw), dtype=x.dtype)
    if _tiled(kh, kw, sh, sw, ph, pw):
        xc = x.data[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw)
        out = xc.sum(axis=(3, 5)) * scale
    else:
        out = windows(_pad(x.data, ph, pw), kh, kw, sh, sw).sum(axis=(4, 5)) * scale

    def vjp(g):  # every element of a window receives g / (KH·KW)
        gs = g * scale
        if _tiled(kh, kw, sh, sw, ph, pw):
            d = np.broadcast_to(gs[:, :, :, None, :, None], (n, c, oh, kh, ow, kw)).reshape(
                n, c, oh * kh, ow * kw)
            if d.shape == x.shape:
                return d
            dx = np.zeros(x.shape, dtype=g.dtype)
            dx[:, :, :oh * kh, :ow * kw] = d
            return dx
        dwin = np.broadcast_to(gs[..., None, None], (n, c, oh, ow, kh, kw))
        dxp = col2im(dwin, (n, c, h + 2 * ph, w + 2 * pw), sh, sw)
        return dxp[:, :, ph:ph + h, pw:pw + w]

    return make(np.ascontiguousarray(out), "avg_pool2d", (x, vjp))
