"""Optimizers (update rules as ``torch.optim``), learning-rate schedules, gradient clipping.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); optim.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad()
"""
from . import lr_scheduler  # noqa: F401
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "clip_grad_norm_",
           "clip_grad_value_", "lr_scheduler"]
