"""One training run as its callbacks see it, and the two ways a run ends early.

:class:`Run` is the record :func:`~chainrule.training.fit` builds and hands to every callback
hook; :class:`TrainingDiverged` and :class:`TrainingInterrupted` are what ``fit`` raises when
the loss blows up or the user presses Ctrl-C. They live here, apart from the loop, so that
callbacks, diagnostics and checkpoints can name them without importing ``fit``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ChainruleError
from .history import History

if TYPE_CHECKING:
    from ..distributed.training import DistributedFit
    from ..nn.module import Module
    from ..tensor import Tensor
    from .callbacks import Callback


class TrainingDiverged(ChainruleError, FloatingPointError):
    """The loss (or a weight) became NaN or Inf: training was stopped.

    Attributes: ``epoch`` (1-based), ``batch`` (1-based, or None when found in the weights
    at the end of an epoch), ``loss``, ``lr``, and ``history`` (the epochs that finished).
    """

    def __init__(self, message: str, epoch: int, batch: int | None, loss: float, lr: float | None,
                 history: History) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.loss, self.lr, self.history = epoch, batch, loss, lr, history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`. ``checkpoint`` (None if there is none yet) holds exactly
    ``completed_epochs`` epochs, never a half-done one (without a checkpoint,
    ``completed_epochs`` counts the epochs finished in memory); ``history`` has the records."""

    def __init__(self, completed_epochs: int, checkpoint: str | None, history: History) -> None:
        super().__init__(f"interrupted after {completed_epochs} complete epoch(s)")
        self.completed_epochs, self.checkpoint, self.history = completed_epochs, checkpoint, history


@dataclass(eq=False)
class Run:
    """What callbacks see: the objects of one training run and its progress.

    ``epoch`` is the 0-based index of the current epoch and ``epochs`` the total; a callback
    sets ``stop_training`` to end the run after this epoch. ``history_epochs`` counts the
    epochs in ``history`` (resumed ones included); ``saved_epochs`` those in the checkpoint
    file (None: no checkpoint written or restored yet).
    """

    model: Module
    optimizer: Any  # a chainrule.optim.Optimizer, or any object with step() and zero_grad()
    history: History = field(default_factory=History)
    loss_fn: Callable[[Tensor, Any], Tensor] | None = None
    epochs: int = 0
    callbacks: list[Callback] = field(default_factory=list)
    train_loader: Any = None  # a DataLoader, or any iterable of (inputs, targets) batches
    val_loader: Any = None
    params: dict[str, Any] = field(default_factory=dict)  # fit's arguments, for reports
    epoch: int = 0
    stop_training: bool = False
    history_epochs: int = 0
    saved_epochs: int | None = None
    distributed: DistributedFit | None = None  # set when training data-parallel over MPI ranks


def current_lr(optimizer: Any) -> float | None:
    """The learning rate of the optimizer's first parameter group (None if it has none)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    lr = getattr(optimizer, "lr", None)
    return None if lr is None else float(lr)


def divergence_cause(optimizer: Any) -> tuple[str, str] | None:
    """``(cause, cure)`` in words when a divergence is likely *not* the learning rate's doing; else None.

    With weight decay λ each step also multiplies the weights by about ``1 - lr·λ``: once
    ``lr·λ >= 1`` that factor is zero or negative and the weights flip sign and grow (an
    overflowing ``λ·w`` does the same), so a smaller learning rate is the wrong advice.
    """
    for group in getattr(optimizer, "param_groups", None) or ():
        decay, lr = float(group.get("weight_decay") or 0.0), float(group.get("lr") or 0.0)
        if decay and (not math.isfinite(decay * lr) or decay * lr >= 1 or decay >= 1e6):
            return (f"the weight decay {decay:g} is far too large (each step scales the weights by about "
                    f"1 - lr x weight decay = {1 - lr * decay:.3g}), not the learning rate",
                    "Usual cure: a weight decay from 1e-5 to 1e-2 (--weight-decay), or none.")
        momentum = group.get("momentum")
        if isinstance(momentum, (int, float)) and momentum >= 1:
            return (f"the momentum {momentum:g} is not below 1, so past steps never fade",
                    "Usual cure: momentum 0.9.")
    return None


__all__ = ["Run", "TrainingDiverged", "TrainingInterrupted", "current_lr", "divergence_cause"]
