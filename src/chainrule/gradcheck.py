"""gradcheck: compare backpropagated gradients with finite differences, in float64.

For a function ``f`` of tensors, take a fixed random direction ``r`` of the output's shape
and the scalar ``s = Σ f(x)·r``. Backpropagation gives ``∂s/∂x`` for every input element at
once; the central difference ``(s(x + εeᵢ) - s(x - εeᵢ)) / 2ε`` estimates each one
independently. If the two disagree anywhere, some op's VJP is wrong.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import GradcheckError
from .tensor import Tensor, enable_grad


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ``fn``'s gradients with respect to each input that requires grad.

    Args:
        fn: takes the inputs (as float64 tensors) and returns a Tensor of any shape.
        inputs: Tensors or arrays. Those with ``requires_grad=True`` are checked (all of
            them if none is marked). They are copied to float64; the originals are untouched.
        eps: finite-difference step; atol, rtol: tolerance ``|a - n| <= atol + rtol·|n|``.

    Returns True, or raises :class:`GradcheckError` naming the input, the element and both
    values.
    """
    originals = list(inputs)
    marked = [isinstance(t, Tensor) and t.requires_grad for t in originals]
    if not any(marked):
        marked = [True] * len(originals)
    xs = [Tensor(np.array(t.data if isinstance(t, Tensor) else t, dtype=np.float64),
                 requires_grad=m, dtype=np.float64) for t, m in zip(originals, marked)]

    def value(args: list[Tensor]) -> Tensor:
        out = fn(*args)
        if not isinstance(out, Tensor):
            raise GradcheckError(f"gradcheck: fn must return a Tensor; got {type(out).__name__}")
        return out

    with enable_grad():
        out = value(xs)
    r = np.random.default_rng(seed).standard_normal(out.shape)

    def scalar(args: list[Tensor]) -> float:
        return float(np.sum(value(args).data.astype(np.float64) * r))

    with enable_grad():
        if not out.requires_grad:
            raise GradcheckError("gradcheck: the output does not depend on any checked input")
        (out * Tensor(r, dtype=np.float64)).sum().backward()

    for i, (x, m) in enumerate(zip(xs, marked)):
        if not m:
            continue
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        label = _label(originals[i], i)
        for index in np.ndindex(x.shape):  # any memory layout: index x.data itself
            old = x.data[index]
            x.data[index] = old + eps
            plus = scalar(xs)
            x.data[index] = old - eps
            minus = scalar(xs)
            x.data[index] = old
            numeric = (plus - minus) / (2 * eps)
            a = analytic[index]
            if not abs(a - numeric) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"gradcheck: gradient of {label} (shape {x.shape}) is wrong at element "
                    f"{tuple(int(k) for k in index)}: backpropagation gives {a:.8g}, finite "
                    f"differences give {numeric:.8g} (|diff| {abs(a - numeric):.3g} > "
                    f"atol {atol} + rtol {rtol}·|numeric|)")
    return True


def _label(t: Any, i: int) -> str:
    name = getattr(t, "name", None)
    return f"input #{i} ({name!r})" if name else f"input #{i}"
