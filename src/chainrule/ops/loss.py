"""Loss functions, each one fused node: its value and its gradient written together.

Every loss takes ``reduction='mean' | 'sum' | 'none'``. For a loss ``L = reduce(ℓ)`` the
VJP is ``∂L/∂input = w · ∂ℓ/∂input`` with ``w = g/n`` (mean), ``g`` (sum) or ``gᵢ`` (none);
``_weights`` builds that ``w`` and the per-loss code gives ``∂ℓ/∂input``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from ..opspec import define_op
from ..tensor import Tensor, lift, make
from .indices import whole_numbers
from .shape import reshape
from .unary import sigmoid_array

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"{op}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}; "
                          f"got {reduction!r}")


def _reduce(per: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return per
    if reduction == "mean" and per.size == 0:
        return np.asarray(per.mean(), dtype=per.dtype)  # NaN, with NumPy's warning
    total = np.add.reduce(per, axis=None)  # what .sum() and .mean() compute, minus their wrappers
    return np.asarray(total if reduction == "sum" else total / per.size, dtype=per.dtype)


def _weights(g: np.ndarray, per_shape: tuple[int, ...], reduction: str, ndim: int) -> np.ndarray:
    """Chain-rule factor from the reduction: g/n, g, or g per element, shaped to broadcast
    against an array of ``ndim`` dims whose leading dims are ``per_shape``."""
    if reduction == "mean":
        return g / max(math.prod(per_shape), 1)
    if reduction == "sum":
        return g
    return g.reshape(g.shape + (1,) * (ndim - g.ndim))


#: a function of (prediction, target) arrays, elementwise: a loss, or one of its derivatives
Pointwise = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _same_shape(op: str, pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        hint = ""
        if pred.size == target.size:
            hint = f" (reshape one of them, e.g. pred.reshape({target.shape}))"
        raise ShapeError(f"{op}: prediction of shape {pred.shape} and target of shape "
                         f"{target.shape} must have the same shape{hint}")


def _elementwise(op: str, pred: Any, target: Any, reduction: str,
                 per_fn: Pointwise, grad_fn: Pointwise, target_grad_fn: Pointwise | None = None
                 ) -> Tensor:
    """A loss ℓ(pred, target) applied elementwise: ``per_fn`` gives ℓ, ``grad_fn`` ∂ℓ/∂pred,
    ``target_grad_fn`` ∂ℓ/∂target (defaults to -∂ℓ/∂pred, right for functions of pred-target)."""
    _check_reduction(op, reduction)
    if not isinstance(pred, Tensor):
        pred = lift(pred, target) if isinstance(target, Tensor) else Tensor(pred)
    target = lift(target, pred)
    _same_shape(op, pred, target)
    p, t = pred.data, target.data
    per = per_fn(p, t)
    out = _reduce(per, reduction)

    def vjp_pred(g: np.ndarray) -> np.ndarray:
        return _weights(g, per.shape, reduction, per.ndim) * grad_fn(p, t)

    def vjp_target(g: np.ndarray) -> np.ndarray:
        local = target_grad_fn(p, t) if target_grad_fn else -grad_fn(p, t)
        return _weights(g, per.shape, reduction, per.ndim) * local

    return make(out, op, (pred, vjp_pred), (target, vjp_target))


define_op("mse_loss", "mean of (ŷ − y)²", ("ŷ", "y"), ("2·(ŷ − y)/n", "−2·(ŷ − y)/n"))


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(pred - target)²``; ∂ℓ/∂pred = 2(pred - target)."""
    return _elementwise("mse_loss", pred, target, reduction,
                        lambda p, t: (p - t) ** 2, lambda p, t: 2 * (p - t))


define_op("l1_loss", "mean of |ŷ − y|", ("ŷ", "y"), ("sign(ŷ − y)/n", "−sign(ŷ − y)/n"))


def l1_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|pred - target|``; ∂ℓ/∂pred = sign(pred - target)."""
    return _elementwise("l1_loss", pred, target, reduction,
                        lambda p, t: np.abs(p - t), lambda p, t: np.sign(p - t))


define_op("huber_loss", "mean of ½d² if |d| ≤ δ else δ(|d| − ½δ), d = ŷ − y", ("ŷ", "y"),
          ("d/n if |d| ≤ δ else δ·sign(d)/n", "−(d/n if |d| ≤ δ else δ·sign(d)/n)"))


def huber_loss(pred: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Quadratic within ``delta`` of the target, linear beyond; ∂ℓ/∂pred = clip(d, ±delta)."""
    if delta <= 0:
        raise ConfigError(f"huber_loss: delta must be positive; got {delta}")

    def per(p: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = np.abs(p - t)
        result: np.ndarray = np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))
        return result

    return _elementwise("huber_loss", pred, target, reduction, per,
                        lambda p, t: np.clip(p - t, -delta, delta))


_LOG_FLOOR = -100.0  # PyTorch clamps log(p) at -100 in binary_cross_entropy


define_op("binary_cross_entropy", "mean of −(t·ln p + (1 − t)·ln(1 − p))", ("p", "t"),
          ("(p − t)/(p(1 − p))/n", "(ln(1 − p) − ln p)/n"))


def binary_cross_entropy(p: Any, target: Any, reduction: str = "mean") -> Tensor:
    """BCE of probabilities ``p`` in [0, 1]: ``-(t·log p + (1-t)·log(1-p))``."""
    pd = p.data if isinstance(p, Tensor) else np.asarray(p)
    if pd.size and (pd.min() < 0 or pd.max() > 1):
        raise DataError(f"binary_cross_entropy: inputs must be probabilities in [0, 1]; got "
                        f"values in [{pd.min():.4g}, {pd.max():.4g}] (for logits use "
                        f"binary_cross_entropy_with_logits)")

    def logs(p_: np.ndarray, t_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(p_), _LOG_FLOOR), np.maximum(np.log1p(-p_), _LOG_FLOOR)

    def per(p_: np.ndarray, t_: np.ndarray) -> np.ndarray:
        lp, l1p = logs(p_, t_)
        result: np.ndarray = -(t_ * lp + (1 - t_) * l1p)
        return result

    def grad(p_: np.ndarray, t_: np.ndarray) -> np.ndarray:  # ∂ℓ/∂p = (p - t) / (p(1-p))
        result: np.ndarray = (p_ - t_) / np.maximum(p_ * (1 - p_), 1e-12)
        return result

    def grad_t(p_: np.ndarray, t_: np.ndarray) -> np.ndarray:  # ∂ℓ/∂t = log(1-p) - log p
        lp, l1p = logs(p_, t_)
        result: np.ndarray = l1p - lp
        return result

    return _elementwise("binary_cross_entropy", p, target, reduction, per, grad, grad_t)


define_op("binary_cross_entropy_with_logits", "mean of −(t·ln σ(z) + (1 − t)·ln(1 − σ(z)))",
          ("z", "t"), ("(σ(z) − t)/n", "−z/n"))


def binary_cross_entropy_with_logits(z: Any, target: Any, reduction: str = "mean") -> Tensor:
    """BCE of ``sigmoid(z)`` computed from logits ``z`` without overflow:
    ``max(z,0) - z·t + log(1 + e^{-|z|})``; ∂ℓ/∂z = σ(z) - t, ∂ℓ/∂t = -z."""
    def per(z_: np.ndarray, t_: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.maximum(z_, 0) - z_ * t_ + np.log1p(np.exp(-np.abs(z_)))
        return result

    def grad(z_: np.ndarray, t_: np.ndarray) -> np.ndarray:
        result: np.ndarray = sigmoid_array(z_) - t_
        return result

    return _elementwise("binary_cross_entropy_with_logits", z, target, reduction, per, grad,
                        lambda z_, t_: -z_)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _labels(op: str, target: Any, n: int, c: int) -> np.ndarray:
    y = whole_numbers(op, target, "class labels")
    if y.shape != (n,):
        raise ShapeError(f"{op}: expected {n} class labels of shape ({n},) for input of "
                         f"{n} rows; got labels of shape {y.shape}")
    # one reduction checks both ends: seen as unsigned, a negative label is a huge number
    unsigned = y.view(_UNSIGNED[y.dtype.itemsize]) if y.dtype.kind == "i" else y
    if y.size and np.maximum.reduce(unsigned, axis=None) >= c:
        raise DataError(f"{op}: class labels must lie in [0, {c - 1}] for {c} classes; got "
                        f"values from {y.min()} to {y.max()}")
    return y


def _as_2d(op: str, data: Any) -> Tensor:
    x = data if isinstance(data, Tensor) else Tensor(data)
    if x.ndim != 2:
        raise ShapeError(f"{op}: expected input of shape (N, C) — N examples, C classes; "
                         f"got shape {x.shape}")
    return x


define_op("cross_entropy", "mean of −log softmax(z)[label]", ("z", "target"),
          ("(softmax(z)ᵢ − [i = label])/N", "−log softmax(z)ᵢ/N"))


def cross_entropy(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits (N, C) against integer labels (N,) or probability
    targets (N, C), fused: ``ℓᵢ = logsumexp(zᵢ) - z_{i,yᵢ}`` and ``∂ℓᵢ/∂zᵢ = softmax(zᵢ) - onehot(yᵢ)``.

    Stable for any magnitude of logits (the max is subtracted before exponentiating).

    Sequences: logits (N, T, C) (any number of leading axes, classes on the *last* axis, as
    a language model's head gives them) with labels (N, T) are scored position by position;
    ``reduction='none'`` then returns (N, T). PyTorch puts the classes on axis 1 instead
    ((N, C, T)); for such logits call ``cross_entropy(logits.transpose(0, 2, 1), labels)``.
    """
    _check_reduction("cross_entropy", reduction)
    if getattr(logits, "ndim", np.ndim(logits)) > 2:
        return _cross_entropy_seq(logits, target, reduction)
    logits = _as_2d("cross_entropy", logits)
    z = logits.data
    n, c = z.shape
    if c == 0:
        raise ShapeError(f"cross_entropy: logits of shape {z.shape} have no classes; expected "
                         f"(N, C) with C >= 1")
    rows = np.arange(n)
    # each row's max, as its argmax and a gather: about 3x faster than maximum.reduce along a
    # short last axis (10 classes: 2.9 against 6.9 µs); a NaN is its row's argmax, as it is its max
    top = z[rows, np.argmax(z, axis=1)]
    shifted = z - top[:, None]
    e = np.exp(shifted)
    total = np.add.reduce(e, axis=1, keepdims=True)
    log_total = np.log(total)                             # logsumexp(z) - max(z), (N, 1)
    t_arr = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t_arr.shape == z.shape and t_arr.dtype.kind == "f":   # probability targets
        target = lift(target, logits)
        t = target.data
        logp = shifted - log_total                         # log softmax, (N, C)
        per = -(t * logp).sum(axis=1)

        def vjp_z(g: np.ndarray) -> np.ndarray:  # Σ_c t_c = s  ⇒  ∂ℓ/∂z = softmax·s - t
            result: np.ndarray = _weights(g, (n,), reduction, 2) * (np.exp(logp) * t.sum(axis=1, keepdims=True) - t)
            return result

        edges = [(logits, vjp_z), (target, lambda g: _weights(g, (n,), reduction, 2) * -logp)]
        return make(_reduce(per, reduction), "cross_entropy", *edges)
    y = _labels("cross_entropy", target, n, c)
    per = log_total[:, 0] - shifted[rows, y]              # -log softmax at the label
    e /= total                                             # softmax, kept for the backward pass

    def vjp(g: np.ndarray) -> np.ndarray:  # ∂ℓᵢ/∂zᵢ = softmax(zᵢ) - onehot(yᵢ), times the reduction's factor w
        w = _weights(g, (n,), reduction, 2)
        grad: np.ndarray = e * w
        grad[rows, y] -= w if reduction != "none" else w[:, 0]
        return grad

    return make(_reduce(per, reduction), "cross_entropy", (logits, vjp))


def _cross_entropy_seq(logits: Any, target: Any, reduction: str) -> Tensor:
    """cross_entropy over (..., C) logits: flatten the positions to rows, score, restore."""
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    lead, c = logits.shape[:-1], logits.shape[-1]
    t_arr = target.data if isinstance(target, Tensor) else np.asarray(target)
    rows = math.prod(lead)
    if t_arr.shape == logits.shape and t_arr.dtype.kind == "f":   # probabilities per position
        flat_t: Any = (reshape(target, (rows, c)) if isinstance(target, Tensor)
                       else t_arr.reshape(rows, c))
    elif t_arr.shape == lead:
        flat_t = t_arr.reshape(rows)
    else:
        hint = ""
        if t_arr.shape == (logits.shape[0],) + logits.shape[2:]:
            hint = (" (PyTorch's layout (N, C, T): classes here are on the last axis, so pass "
                    "logits.transpose(0, 2, 1))")
        raise ShapeError(f"cross_entropy: logits of shape {logits.shape} (classes on the last "
                         f"axis) need labels of shape {lead}; got {t_arr.shape}{hint}")
    per = cross_entropy(reshape(logits, (rows, c)), flat_t, reduction)
    return reshape(per, lead) if reduction == "none" else per


define_op("nll_loss", "mean of −log_probs[label]", ("log_probs",), ("−1/N at the label, else 0",))


def nll_loss(log_probs: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) at integer labels (N,)."""
    _check_reduction("nll_loss", reduction)
    log_probs = _as_2d("nll_loss", log_probs)
    n, c = log_probs.shape
    y = _labels("nll_loss", target, n, c)
    rows = np.arange(n)
    per = -log_probs.data[rows, y]

    def vjp(g: np.ndarray) -> np.ndarray:  # ∂ℓᵢ/∂log_probs[i, yᵢ] = -1, zero elsewhere
        grad = np.zeros_like(log_probs.data)
        grad[rows, y] = -1
        result: np.ndarray = grad * _weights(g, (n,), reduction, 2)
        return result

    return make(_reduce(per, reduction), "nll_loss", (log_probs, vjp))
