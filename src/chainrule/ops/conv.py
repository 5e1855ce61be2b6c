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
out like out2. The bias rides in the same GEMM: cols gets a last column of ones and W2 the
bias as a last column, ``out2 = [cols | 1] [W2 | b]ᵀ``, and then ``G2ᵀ [cols | 1]`` is
``[∂L/∂W2 | ∂L/∂b]``, so neither the bias add nor its gradient takes a pass of its own:

    ∂L/∂W2   = G2ᵀ cols                   (one GEMM over every sample and position)
    ∂L/∂cols = G2 W2                      (one GEMM, or one per kernel offset, see below)
    ∂L/∂b    = Σ_{n,i,j} G[n, :, i, j]

and ``∂L/∂x`` is ``∂L/∂cols`` scattered back to where each window element came from
(*col2im*): every input pixel receives the sum over all windows that contain it. Windows
overlap, so this is a sum; it is done per kernel offset (p, q): the columns of ∂L/∂cols that
belong to (p, q), ``G2 W2[:, (p, q, ·)]``, form one (N·OH·OW, C) block, added to the input
positions it came from with one strided add — vectorised adds over all samples, channels and
positions, never a loop over pixels — and the padding border is cut off at the end (its
gradient belongs to constant zeros). The blocks come from one of two GEMM strategies, chosen
by the number of input channels (``_input_grad_by_one_gemm``): KH·KW thin products, one per
offset, when C is large enough for BLAS to run them well, else one product for all of
∂L/∂cols.

Cache: the im2col matrix is never built whole. Forward builds it a few samples at a time
(about a core's L2 cache, ``_CHUNK_BYTES``), multiplies, and moves on; ∂L/∂W builds it again
the same way from the input, which training keeps anyway. A whole batch's matrix (LeNet's
second layer: 26 MB at batch 128) would be written to memory and read back twice; chunks are
read back from the cache, and copying the windows again costs less than that traffic
(LeNet's training step: 0.85x the time). It is also memory the step no longer holds.

Threads: NumPy's products use every core through BLAS, its elementwise loops only one; the
im2col copy and the col2im adds are split over the batch across threads when large
(chainrule/parallel.py), so they do not leave a core idle.

Memory layout: the work is done channels-last. ``out2`` *is* the output stored NHWC, so the
result is returned as an NCHW-indexed view of it, without a transpose copy; relu and pooling
keep that layout, and the next conv2d reads it as NHWC for free. Channels innermost also makes
the im2col copy and the col2im adds run over contiguous runs of C values.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError, ShapeError
from ..opspec import define_op
from ..parallel import over_batch
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
_PER_OFFSET_MIN_CHANNELS = 16  # from this many input channels, ∂L/∂x is KH·KW products


#: the im2col rows built at once, per thread: about a core's L2 cache (1 MB here), so the
#: GEMM reads the matrix back from the cache. Measured on LeNet's training step (2 threads):
#: 0.84-0.86x the time of the whole batch's matrix at once with 1 MB, 0.88-0.90 with 512 KB,
#: 0.86-0.88 with 2 MB, 0.94-1.01 with 256 KB (see docs/performance.md)
_CHUNK_BYTES = 1 << 20


def _im2col(win: np.ndarray, ones: bool, dtype: np.dtype) -> np.ndarray:
    """cols[(n, i, j), (p, q, c)] of the windows ``win`` (N, OH, OW, C, KH, KW): a fresh
    (N·OH·OW, KH·KW·C (+1)) matrix; with ``ones`` a last column of ones follows, which carries
    the bias through the GEMM (see conv2d). The copy is one pass over the windows.

    With C >= _FEW_CHANNELS the rows are copied in runs of C contiguous values. With fewer (an
    image's first layer) runs of C values would be too short, so colsᵀ is built, in runs of OW
    values, and returned as the transposed view ``cols``."""
    n, oh, ow, c, kh, kw = win.shape
    k, extra = kh * kw * c, int(ones)
    if c >= _FEW_CHANNELS:
        buf = np.empty((n * oh * ow, k + extra), dtype=dtype)
        np.copyto(buf[:, :k].reshape(n, oh, ow, kh, kw, c), win.transpose(0, 1, 2, 4, 5, 3))
        if ones:
            buf[:, k] = 1
        return buf
    buft = np.empty((k + extra, n * oh * ow), dtype=dtype)
    np.copyto(buft[:k].reshape(kh, kw, c, n, oh, ow), win.transpose(4, 5, 3, 0, 1, 2))
    if ones:
        buft[k] = 1
    cols: np.ndarray = buft.T
    return cols


def _chunks(win: np.ndarray, start: int, stop: int) -> Iterator[slice]:
    """Samples ``start:stop`` of the windows ``win`` (N, OH, OW, C, KH, KW) as consecutive
    slices, each of as many samples' im2col rows as fit in _CHUNK_BYTES (at least one). The
    matrix is then read back from the core's cache instead of memory, and no step ever holds
    the whole batch's (LeNet's second layer: 26 MB a batch of 128); both passes that need it
    build it again, chunk by chunk, from the input."""
    _, oh, ow, c, kh, kw = win.shape
    per_sample = int(oh * ow * (kh * kw * c + 1) * win.dtype.itemsize)
    size = max(1, _CHUNK_BYTES // per_sample)
    for lo in range(start, stop, size):
        yield slice(lo, min(stop, lo + size))


def _conv_gemm(win: np.ndarray, w2b: np.ndarray, out2: np.ndarray, ones: bool) -> None:
    """The forward GEMM ``out2 = cols W2bᵀ`` into ``out2`` (N·OH·OW, O), cols built a chunk of
    samples at a time (``_chunks``). The batch is split across chainrule's threads, each
    building and multiplying its samples' chunks (OpenBLAS held to one thread meanwhile): the
    rows of a product do not depend on the split."""
    n, oh, ow, c, kh, kw = win.shape
    per = oh * ow

    def rows(s: slice) -> None:
        for ch in _chunks(win, s.start, s.stop):
            np.matmul(_im2col(win[ch], ones, out2.dtype), w2b.T, out=out2[ch.start * per:ch.stop * per])

    over_batch(rows, n, n * per * kh * kw * c, products=True)


def _input_grad_by_one_gemm(c: int) -> bool:
    """Which of the two col2im strategies computes ∂L/∂x for ``c`` input channels.

    *One GEMM*: ∂L/∂cols = G2 W2 at once, (M, O) @ (O, KH·KW·C), then KH·KW strided adds of
    its (M, C) column blocks. *Per offset*: KH·KW products G2 W2[:, (p, q, ·)], (M, O) @ (O, C),
    each added as soon as it is made. Both do the same multiply-adds; the per-offset products
    have only C columns, which BLAS runs well from about 16 on (measured, LeNet's C = 32: 5.7
    against 8.7 ms per batch on one core), and never hold the whole (M, KH·KW·C) matrix. With
    few channels the per-offset products are too thin to run well, and the one GEMM wins.
    """
    return c < _PER_OFFSET_MIN_CHANNELS


def _col2im_per_offset(g2: np.ndarray, w2: np.ndarray, dxp: np.ndarray, k: tuple[int, int],
                       stride: tuple[int, int], out_hw: tuple[int, int]) -> None:
    """Add ∂L/∂x into ``dxp`` (N, HP, WP, C) with one product per kernel offset.

    Window element (p, q) came from xp[:, i·sh + p, j·sw + q, :], so its part of ∂L/∂cols,
    G2 W2[:, (p, q, ·)], goes back there: one GEMM and one strided, vectorised add per kernel
    offset (an assignment when windows cannot overlap). The products are thin (C columns)
    and the adds are elementwise, so the batch is split over chainrule's threads, each running
    the products and adds of its samples with OpenBLAS held to one thread (the rows of a
    product do not depend on how the batch is split: the same result for any thread count)."""
    (kh, kw), (sh, sw), (oh, ow) = k, stride, out_hw
    n, c = dxp.shape[0], dxp.shape[3]
    w2r = w2.reshape(w2.shape[0], kh * kw, c)
    g3 = g2.reshape(n, oh * ow, g2.shape[1])
    overlap = sh < kh or sw < kw

    def rows(s: slice) -> None:
        g2s, d = g3[s].reshape(-1, g3.shape[2]), dxp[s]
        for p in range(kh):
            for q in range(kw):
                block = (g2s @ w2r[:, p * kw + q]).reshape(-1, oh, ow, c)
                dst = d[:, p:p + sh * oh:sh, q:q + sw * ow:sw]
                if overlap:
                    dst += block
                else:
                    dst[...] = block

    over_batch(rows, n, n * oh * ow * c * kh * kw, products=True)


def _col2im_gemm(g2: np.ndarray, w2: np.ndarray, dxp: np.ndarray, k: tuple[int, int],
                 stride: tuple[int, int], out_hw: tuple[int, int]) -> None:
    """Add ∂L/∂x into ``dxp`` (N, HP, WP, C) from ∂L/∂cols = G2 W2 formed by one GEMM; the
    KH·KW strided adds are split over the batch across threads when large."""
    (kh, kw), (sh, sw), (oh, ow) = k, stride, out_hw
    n, c = dxp.shape[0], dxp.shape[3]
    dcols = (g2 @ w2).reshape(n, oh, ow, kh, kw, c)

    def add_rows(s: slice) -> None:
        d = dxp[s]
        for p in range(kh):
            for q in range(kw):
                d[:, p:p + sh * oh:sh, q:q + sw * ow:sw] += dcols[s, :, :, p, q]

    over_batch(add_rows, n, dcols.size)


def _weight_grad_product(g2: np.ndarray, win: np.ndarray, ones: bool) -> np.ndarray:
    """G2ᵀ [cols | 1], (O, K (+1)), with cols built again from the windows ``win`` a chunk at
    a time (``_chunks``) and the chunks' products summed in order, over the two halves of the
    batch: each half on one of chainrule's threads (OpenBLAS held to one thread), then one add.

    The product's inner dimension is every sample and position (N·OH·OW), and OpenBLAS
    splits only its (O, K) output between threads, which for a first layer (25 × 32) gains
    nothing. Always two halves and the same chunks, whatever the thread count, so the sum is
    the same bit for bit. ((colsᵀ G2)ᵀ when colsᵀ is what is built (few channels): BLAS reads
    it row by row.)"""
    n, oh, ow, c, kh, kw = win.shape
    per = oh * ow
    parts = [np.zeros((g2.shape[1], kh * kw * c + int(ones)), dtype=g2.dtype) for _ in range(2)]

    def halves(s: slice) -> None:
        for i in range(s.start, s.stop):
            for ch in _chunks(win, n * i // 2, n * (i + 1) // 2):
                cols, g = _im2col(win[ch], ones, g2.dtype), g2[ch.start * per:ch.stop * per]
                parts[i] += g.T @ cols if cols.flags.c_contiguous else (cols.T @ g).T

    over_batch(halves, 2, n * per * kh * kw * c, products=True)
    result: np.ndarray = parts[0] + parts[1]
    return result


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
    # W2[o, (p, q, c)], the weight flattened in the same order; with a bias, W2b = [W2 | b]
    # meets a column of ones in cols, so the GEMM adds the bias and G2ᵀ[cols | 1] is
    # [∂L/∂W2 | ∂L/∂b]: no separate pass over the output for either (see the module notes)
    k = kh * kw * c
    w2b = np.empty((o, k + (b is not None)), dtype=dtype)
    w2b[:, :k].reshape(o, kh, kw, c)[...] = w.data.transpose(0, 2, 3, 1)
    if b is not None:
        w2b[:, k] = b.data
    w2 = w2b[:, :k]
    out2 = np.empty((n * oh * ow, o), dtype=dtype)       # (N·OH·OW, O): the output, NHWC
    # im2col and the GEMM (+ bias), a chunk of samples at a time; cols is never kept whole:
    # ∂L/∂W builds it again (see _chunks)
    _conv_gemm(win, w2b, out2, b is not None)
    out = out2.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)   # NCHW view of NHWC memory

    cache: dict[str, np.ndarray] = {}

    def g2_of(g: np.ndarray) -> np.ndarray:
        """The output gradient as G2 (N·OH·OW, O), computed once for all three VJPs.
        (No copy when g is stored channels-last, as the ops after a conv keep it.)"""
        if cache.get("g") is not g:
            cache["g"] = g
            cache["g2"] = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, o)
        return cache["g2"]

    def dw2b_of(g: np.ndarray) -> np.ndarray:
        """[∂L/∂W2 | ∂L/∂b] = G2ᵀ [cols | 1], (O, KH·KW·C (+1)), computed once for vjp_w and
        vjp_b (see ``_weight_grad_product``)."""
        if cache.get("gw") is not g:
            cache["gw"] = g
            cache["dw2b"] = _weight_grad_product(g2_of(g), win, b is not None)
        return cache["dw2b"]

    def vjp_w(g: np.ndarray) -> np.ndarray:  # ∂L/∂W2 = G2ᵀ cols, then back to (O, C, KH, KW)
        dw2 = dw2b_of(g)[:, :k]
        return np.ascontiguousarray(dw2.reshape(o, kh, kw, c).transpose(0, 3, 1, 2),
                                    dtype=w.dtype)

    def vjp_b(g: np.ndarray) -> np.ndarray:  # ∂L/∂b[o] = Σ_{n,i,j} G[n, o, i, j] = G2ᵀ 1
        # (recorded only when there is a bias) the last column of G2ᵀ [cols | 1] when the
        # weight's gradient is wanted too, else 1ᵀ G2 alone (a BLAS product: many rows)
        db = dw2b_of(g)[:, k] if w.requires_grad else np.ones(n * oh * ow, dtype=dtype) @ g2_of(g)
        result: np.ndarray = np.ascontiguousarray(db, dtype=b.dtype)  # type: ignore[union-attr]
        return result

    def vjp_x(g: np.ndarray) -> np.ndarray:  # ∂L/∂cols = G2 W2, then col2im (channels-last), then drop the padding
        dxp = np.zeros((n, hp, wp, c), dtype=dtype)
        col2im = _col2im_gemm if _input_grad_by_one_gemm(c) else _col2im_per_offset
        col2im(g2_of(g), w2, dxp, (kh, kw), (sh, sw), (oh, ow))
        dx = dxp[:, ph:ph + h, pw:pw + wd].transpose(0, 3, 1, 2)
        result: np.ndarray = dx.astype(x.dtype, copy=False)
        return result

    edges = [(x, vjp_x), (w, vjp_w)]
    if b is not None:
        edges.append((b, vjp_b))
    return make(out, "conv2d", *edges)
