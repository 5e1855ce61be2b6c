"""Adam and AdamW: per-parameter step sizes from running moments of the gradient."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor
from .optimizer import Optimizer, check_number, scratch


class Adam(Optimizer):
    """As ``torch.optim.Adam``; at step t::

        g  = grad + weight_decay·θ        (Adam's L2 penalty; AdamW decays θ instead)
        m  = β1·m + (1-β1)·g
        v  = β2·v + (1-β2)·g²
        v̂max = max(v̂max, v)              (amsgrad only: use v̂max in place of v below)
        θ ← θ - lr/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps)
    """

    decoupled = False  # AdamW: weight decay applied to θ directly, not through the gradient

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def validate_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        super().validate_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"{name}: betas must be a pair (beta1, beta2); got {betas!r}")
        check_number(name, "betas[0]", betas[0], 0.0, 1.0, high_open=True)
        check_number(name, "betas[1]", betas[1], 0.0, 1.0, high_open=True)
        check_number(name, "eps", group["eps"])
        check_number(name, "weight_decay", group["weight_decay"])

    def state_fields(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("step", "exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self.decoupled:
                p.data *= 1 - lr * wd                 # AdamW: θ ← θ·(1 - lr·λ)
            else:
                g = g + wd * p.data                   # Adam: L2 penalty in the gradient
        m, v, tmp = state["exp_avg"], state["exp_avg_sq"], scratch(state, p)
        m *= beta1                                    # m = β1·m + (1-β1)·g
        np.multiply(g, 1 - beta1, out=tmp)
        m += tmp
        v *= beta2                                    # v = β2·v + (1-β2)·g²
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        np.sqrt(v, out=tmp)                           # denominator √v/√(1-β2ᵗ) + eps
        tmp /= math.sqrt(bias_correction2)
        tmp += eps
        np.divide(m, tmp, out=tmp)                    # step = lr/(1-β1ᵗ) · m / denominator
        tmp *= lr / bias_correction1
        p.data -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``): before the Adam step,
    ``θ ← θ·(1 - lr·weight_decay)``; default ``weight_decay=0.01``."""

    decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


__all__ = ["Adam", "AdamW"]
