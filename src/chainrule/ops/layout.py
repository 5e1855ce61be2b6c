"""Memory layouts of the arrays an op meets: NCHW-indexed activations stored channels-last.

conv2d returns its output as an NCHW-indexed view of NHWC memory, and relu and pooling keep
that layout (ops/conv.py). A gradient can arrive in another layout: ``Flatten``'s backward
hands back a plain C-ordered (N, C, H, W) array. NumPy's elementwise loops over two arrays of
different layouts walk one of them with large strides and short inner runs, which is up to
ten times slower than one copy into the other's layout followed by a loop over matching
memory (measured: ReLU's gradient after Flatten, (128, 64, 4, 4) float32, 0.65 ms mixed
against 0.07 ms copy-then-multiply).
"""
from __future__ import annotations

import numpy as np


def memory_order(a: np.ndarray) -> list[int]:
    """The axes of ``a`` from the slowest-varying in memory to the fastest (its layout)."""
    return sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))


def in_layout_of(g: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``g`` (same shape as ``like``) stored in ``like``'s memory layout: ``g`` itself when the
    layouts already agree, else one copy."""
    if g.strides == like.strides or g.size <= 1 or memory_order(g) == memory_order(like):
        return g  # (the strides test first: the common case, and cheap for a tiny graph's ops)
    out = np.empty_like(like, dtype=g.dtype)
    out[...] = g
    return out


__all__ = ["in_layout_of", "memory_order"]
