"""Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor
from .optimizer import Optimizer, check_number, scratch


class SGD(Optimizer):
    """``θ ← θ - lr·d`` with, as ``torch.optim.SGD``::

        g = grad + weight_decay·θ
        buf = g                                   (first step)
        buf = momentum·buf + (1 - dampening)·g    (later steps)
        d = g + momentum·buf   if nesterov   else   buf   (or g when momentum = 0)
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def validate_group(self, group: dict[str, Any]) -> None:
        super().validate_group(group)
        check_number("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"])
        check_number("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ConfigError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0; got "
                              f"momentum={group['momentum']}, dampening={group['dampening']}")

    def state_fields(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            g = g + wd * p.data                       # L2 penalty's gradient (grad untouched)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy(order="K")  # in the parameter's layout
            else:
                buf *= momentum
                if group["dampening"] == 0:
                    buf += g
                else:
                    buf += (1 - group["dampening"]) * g
            if group["nesterov"]:
                g = g + momentum * buf
            else:
                g = buf
        step = scratch(state, p)
        np.multiply(g, lr, out=step)                  # step = lr·d
        p.data -= step


__all__ = ["SGD"]
