"""Loss modules: thin wrappers over the fused losses in ``nn.functional``.

``loss_fn(prediction, target)`` returns a scalar Tensor (``reduction='mean'`` or ``'sum'``)
or per-example losses (``'none'``).
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..ops import loss as L
from ..tensor import Tensor
from .module import Module
from .registry import register


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in L.REDUCTIONS:
            raise ConfigError(f"{type(self).__name__}: reduction must be one of "
                              f"{', '.join(map(repr, L.REDUCTIONS))}; got {reduction!r}")
        self.reduction = reduction

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


@register
class MSELoss(_Loss):
    """Mean squared error; pred and target of the same shape."""

    def forward(self, pred: Any, target: Any) -> Tensor:
        return L.mse_loss(pred, target, self.reduction)


@register
class L1Loss(_Loss):
    """Mean absolute error; pred and target of the same shape."""

    def forward(self, pred: Any, target: Any) -> Tensor:
        return L.l1_loss(pred, target, self.reduction)


@register
class HuberLoss(_Loss):
    """Quadratic within ``delta`` of the target, linear beyond."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, pred: Any, target: Any) -> Tensor:
        return L.huber_loss(pred, target, self.reduction, self.delta)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "delta": self.delta}


@register
class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against labels (N,) or probabilities (N, C)."""

    def forward(self, logits: Any, target: Any) -> Tensor:
        return L.cross_entropy(logits, target, self.reduction)


@register
class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) at integer labels (N,)."""

    def forward(self, log_probs: Any, target: Any) -> Tensor:
        return L.nll_loss(log_probs, target, self.reduction)


@register
class BCELoss(_Loss):
    """Binary cross-entropy of probabilities in [0, 1] against targets in [0, 1]."""

    def forward(self, p: Any, target: Any) -> Tensor:
        return L.binary_cross_entropy(p, target, self.reduction)


@register
class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of ``sigmoid(z)``, computed stably from logits ``z``."""

    def forward(self, z: Any, target: Any) -> Tensor:
        return L.binary_cross_entropy_with_logits(z, target, self.reduction)


__all__ = ["MSELoss", "L1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
           "BCEWithLogitsLoss"]
