"""Layers' ops: the fused affine map ``linear`` and ``dropout``."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..opspec import define_op
from ..rng import pick
from ..tensor import Tensor, lift, make

define_op("linear", "x·Wᵀ + b", ("x", "W", "b"),
          ("the weight Wᵢⱼ joining the two neurons", "the input xⱼ that this weight multiplies",
           "1 (the bias)"))


def linear(x: Any, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ wᵀ + b`` as one node. x: (..., in), w: (out, in) as in PyTorch, b: (out,).

    Fusing matmul, transpose and bias into one node saves two graph nodes and two
    temporaries per layer; the VJPs are the matrix-calculus identities below.
    """
    if x.__class__ is not Tensor or w.__class__ is not Tensor or not (
            b is None or b.__class__ is Tensor):
        if not isinstance(w, Tensor):  # arrays are constants: no gradient
            w = lift(w, x) if isinstance(x, Tensor) else Tensor(w)
        x = lift(x, w)
        if b is not None:
            b = lift(b, w)
    xs, ws = x.data.shape, w.data.shape
    if len(ws) != 2:
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features); got {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ShapeError(
            f"linear: input of shape {xs} does not fit weight of shape {ws}: the last "
            f"dimension of the input must be in_features = {ws[1]}")
    if b is not None and b.data.shape != (ws[0],):
        raise ShapeError(f"linear: bias of shape {b.shape} does not fit weight {ws}; "
                         f"expected ({ws[0]},)")
    lead = xs[:-1]
    # (N, T, in) as one (N·T, in) matrix: one GEMM instead of NumPy's loop over the N slices
    x2 = x.data.reshape(-1, xs[-1]) if len(lead) > 1 else x.data
    out = x2 @ w.data.T
    if b is not None:
        out += b.data
    if len(lead) > 1:
        out = out.reshape(lead + (ws[0],))

    def vjp_x(g: np.ndarray) -> np.ndarray:  # ∂L/∂x = G W
        if len(lead) > 1:
            result: np.ndarray = (g.reshape(-1, ws[0]) @ w.data).reshape(xs)
            return result
        result = g @ w.data
        return result

    def vjp_w(g: np.ndarray) -> np.ndarray:  # ∂L/∂W = Gᵀ X  (over all leading positions)
        if len(lead) != 1:
            g, xd = g.reshape(-1, g.shape[-1]), x.data.reshape(-1, x.shape[-1])
        else:
            xd = x.data
        if w.data.flags.f_contiguous and not w.data.flags.c_contiguous:
            # W is stored column-major (as nn.Linear keeps it): write ∂L/∂W in that layout too,
            # as (XᵀG)ᵀ, so the optimizer's elementwise update walks both arrays in step
            dw = np.empty(w.shape, dtype=np.result_type(xd, g), order="F")
            np.matmul(xd.T, g, out=dw.T)
            return dw
        result: np.ndarray = g.T @ xd
        return result

    edges = [(x, vjp_x), (w, vjp_w)]
    if b is not None:  # ∂L/∂b = Σ over positions of G
        edges.append((b, lambda g: np.add.reduce(g.reshape(-1, g.shape[-1]), axis=0)))
    return make(out, "linear", *edges)


define_op("dropout", "x·mask/(1 − p)", ("x",), ("0 if dropped, else 1/(1 − p)",),
          elementwise=True)


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training
    only), so the expected value is unchanged and evaluation needs no rescaling.

    The mask is drawn from ``generator`` (a ``numpy.random.Generator``, as ``torch.Generator``
    is passed to PyTorch's samplers) or, when None, from the global one ``cr.manual_seed`` seeds.
    """
    if not 0 <= p < 1:
        raise ConfigError(f"dropout: p must be in [0, 1); got {p}")
    rng = pick(generator, "dropout")
    if not training or p == 0:
        return x
    keep = (rng.random(x.shape, dtype=np.float32) >= p)
    scale = np.asarray(1 / (1 - p), dtype=x.dtype)
    mask = keep * scale
    return make(x.data * mask, "dropout", (x, lambda g: g * mask))
