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

Vectorisation: the element (p, q) of every window is one strided slice of the input,
``xp[:, :, p : p + sh·OH : sh, q : q + sw·OW : sw]``, so both passes loop over the KH·KW kernel
offsets only (4 steps for 2×2 pooling), each step one NumPy operation over all samples,
channels and windows. When windows do not overlap (stride >= kernel, the common case) each
input pixel belongs to at most one window and the backward pass writes instead of adding.
This was measured faster than reducing a (N, C, OH, KH, OW, KW) reshape over two axes, works
for any stride and padding, and keeps the input's memory layout (channels-last after a conv).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..opspec import define_op
from ..parallel import over_batch
from ..tensor import Tensor, make
from .conv import _pair
from .layout import in_layout_of


def _geometry(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple[int, ...]:
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


def _slices(kh: int, kw: int, sh: int, sw: int, oh: int, ow: int) -> Iterator[tuple[int, tuple[slice, ...]]]:
    """For each kernel offset (k, p, q): the index of the strided slice of the (padded) input
    holding element (p, q) of every window: ``xp[:, :, p : p + sh·OH : sh, q : q + sw·OW : sw]``.
    """
    for p in range(kh):
        for q in range(kw):
            yield p * kw + q, (slice(None), slice(None), slice(p, p + sh * oh, sh),
                               slice(q, q + sw * ow, sw))


def _padded(a: np.ndarray, ph: int, pw: int, fill: float) -> np.ndarray:
    """``a`` with a border of ``fill``, keeping its memory layout (channels-last stays so)."""
    if not ph and not pw:
        return a
    n, c, h, w = a.shape
    out = np.full_like(a, fill, shape=(n, c, h + 2 * ph, w + 2 * pw))
    out[:, :, ph:ph + h, pw:pw + w] = a
    return out


define_op("max_pool2d", "max over each window", ("x",),
          ("1 for the largest value in the window, else 0",))


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Largest value of each window. ``stride`` defaults to ``kernel_size``; padding is -inf.

    The loops run over the KH·KW kernel offsets only; each step is a few vectorised
    operations over every sample, channel and window (for 2×2 pooling: 4 steps). The forward
    pass keeps the maxima and, per window, the offset of its first maximum (one byte); the
    backward pass routes each gradient to that offset.
    """
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry("max_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _padded(x.data, ph, pw, fill)
    # running maximum over the offsets, remembering which offset holds each window's maximum
    # (the first one on ties: a later element must be strictly larger to take over)
    first = xp[next(_slices(kh, kw, sh, sw, oh, ow))[1]]
    out = np.empty_like(first)  # the layout of the input (channels-last after a conv)
    which = np.empty_like(first, dtype=np.uint8 if kh * kw <= 256 else np.int32)

    def forward_rows(s: slice) -> None:  # the samples s (split over threads when large)
        o, wh, xs = out[s], which[s], xp[s]
        for k, sl in _slices(kh, kw, sh, sw, oh, ow):
            v = xs[sl]
            if k == 0:
                o[...] = v
                wh[...] = 0
                continue
            better = v > o
            # which = k where better, else unchanged: k grows with the offsets, so a maximum
            # does it (much faster than a masked assignment)
            np.maximum(wh, better.view(np.uint8) * wh.dtype.type(k), out=wh)
            np.maximum(o, v, out=o)

    over_batch(forward_rows, n, xp.size)

    def vjp(g: np.ndarray) -> np.ndarray:  # route each window's gradient to its argmax (the first, as PyTorch)
        g = in_layout_of(g, out)  # e.g. NCHW from a Flatten: one small copy into the layout of `which`
        overlap = sh < kh or sw < kw
        covered = (not overlap and sh == kh and sw == kw
                   and xp.shape[2] == oh * kh and xp.shape[3] == ow * kw)
        # same memory layout as x; when the windows tile the input exactly, every pixel is
        # written below and needs no zeroing first
        dxp = (np.empty_like if covered else np.zeros_like)(xp, dtype=g.dtype)

        def backward_rows(s: slice) -> None:
            gs, ws, ds = g[s], which[s], dxp[s]
            for k, sl in _slices(kh, kw, sh, sw, oh, ow):
                if overlap:                                # windows share pixels: sum
                    ds[sl] += gs * (ws == k)
                else:                                      # each pixel in one window
                    np.multiply(gs, ws == k, out=ds[sl])

        over_batch(backward_rows, n, dxp.size)
        return dxp[:, :, ph:ph + h, pw:pw + w] if ph or pw else dxp

    return make(out, "max_pool2d", (x, vjp))


define_op("avg_pool2d", "mean over each window", ("x",), ("1/(window size)",))


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Mean of each window (zero padding counted in the divisor, as PyTorch's default)."""
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry("avg_pool2d", x, kernel_size, stride, padding)
    n, c, h, w = x.shape
    scale = np.asarray(1.0 / (kh * kw), dtype=x.dtype)
    xp = _padded(x.data, ph, pw, 0)
    out = None
    for _, sl in _slices(kh, kw, sh, sw, oh, ow):
        out = xp[sl].copy(order="K") if out is None else np.add(out, xp[sl], out=out)
    out *= scale

    def vjp(g: np.ndarray) -> np.ndarray:  # every element of a window receives g / (KH·KW)
        gs = g * scale
        dxp = np.zeros_like(xp, dtype=g.dtype)
        overlap = sh < kh or sw < kw
        for _, sl in _slices(kh, kw, sh, sw, oh, ow):
            if overlap:
                dxp[sl] += gs
            else:
                dxp[sl] = gs
        return dxp[:, :, ph:ph + h, pw:pw + w] if ph or pw else dxp

    return make(out, "avg_pool2d", (x, vjp))
