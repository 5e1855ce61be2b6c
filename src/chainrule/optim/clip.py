"""Gradient clipping, applied to ``p.grad`` in place between ``backward()`` and ``step()``."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor


def _grads(params: Any) -> list[np.ndarray]:
    if isinstance(params, Tensor):
        params = [params]
    elif hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    return [p.grad for p in params if isinstance(p, Tensor) and p.grad is not None]


def clip_grad_norm_(params: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector (``norm_type``
    2 by default, ``inf`` for the largest absolute value). If it exceeds ``max_norm``, every
    gradient is multiplied by ``max_norm / (total + 1e-6)``, as ``torch.nn.utils``.
    Returns the total norm before clipping (a float).
    """
    if not max_norm >= 0:
        raise ConfigError(f"clip_grad_norm_: max_norm must be >= 0; got {max_norm!r}")
    grads = _grads(params)
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(float(np.abs(g).max()) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    else:
        total = sum(float((np.abs(g) ** norm_type).sum()) for g in grads) ** (1 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise ConfigError(f"clip_grad_norm_: the total gradient norm is {total}")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(params: Any, clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    if not clip_value >= 0:
        raise ConfigError(f"clip_grad_value_: clip_value must be >= 0; got {clip_value!r}")
    for g in _grads(params):
        np.clip(g, -clip_value, clip_value, out=g)


__all__ = ["clip_grad_norm_", "clip_grad_value_"]
