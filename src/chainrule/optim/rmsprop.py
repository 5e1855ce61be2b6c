"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, check_number, scratch


class RMSprop(Optimizer):
    """As ``torch.optim.RMSprop``::

        g  = grad + weight_decay·θ
        v  = α·v + (1-α)·g²
        ḡ  = α·ḡ + (1-α)·g                  (centered only)
        s  = √(v - ḡ²) + eps   if centered   else   √v + eps
        buf = momentum·buf + g/s;  θ ← θ - lr·buf     (momentum > 0)
        θ ← θ - lr·g/s                                (otherwise)
    """

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def validate_group(self, group: dict[str, Any]) -> None:
        super().validate_group(group)
        check_number("RMSprop", "alpha", group["alpha"], 0.0, 1.0)
        check_number("RMSprop", "eps", group["eps"])
        check_number("RMSprop", "weight_decay", group["weight_decay"])
        check_number("RMSprop", "momentum", group["momentum"])

    def state_fields(self, group: dict[str, Any]) -> tuple[str, ...]:
        return (("step", "square_avg") + (("momentum_buffer",) if group["momentum"] > 0 else ())
                + (("grad_avg",) if group["centered"] else ()))

    def update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.data
        tmp = scratch(state, p)
        v = state["square_avg"]
        v *= alpha                                      # v = α·v + (1-α)·g²
        np.multiply(g, g, out=tmp)
        tmp *= 1 - alpha
        v += tmp
        if group["centered"]:
            gbar = state["grad_avg"]
            gbar *= alpha                               # ḡ = α·ḡ + (1-α)·g
            gbar += (1 - alpha) * g
            np.multiply(gbar, gbar, out=tmp)            # s = √(v - ḡ²) + eps
            np.subtract(v, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(v, out=tmp)                         # s = √v + eps
        tmp += eps
        np.divide(g, tmp, out=tmp)                      # g/s
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            np.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        p.data -= tmp


__all__ = ["RMSprop"]
