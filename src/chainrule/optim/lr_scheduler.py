"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: call ``step()`` once per epoch
(``ReduceLROnPlateau.step(metric)`` with the validation metric), after ``optimizer.step()``.

Each scheduler writes the new rate into every ``optimizer.param_groups[i]['lr']``;
``get_last_lr()`` gives the rates it last set. ``state_dict()`` is JSON-able.
"""
from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError, ModelFileError
from .optimizer import Optimizer, check_number


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(f"{name}: expected an Optimizer; got {type(optimizer).__name__}")


def _same_kind(current: Any, new: Any) -> bool:
    """Whether a restored value has the type of the current one (numbers, flags, strings,
    lists of numbers of the same length)."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if isinstance(current, bool):
        return isinstance(new, bool)
    if number(current):
        return number(new)
    if isinstance(current, list):
        return (isinstance(new, list) and len(new) == len(current)
                and all(number(v) for v in new))
    return type(new) is type(current)


class LRScheduler:
    """Base class: subclasses compute the new rates in ``get_lr()`` from ``last_epoch``
    (chainable, as PyTorch's: from the current rates, so manual changes are respected)."""

    def __init__(self, optimizer: Optimizer) -> None:
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = -1
        self._initial = True
        self.step()  # epoch 0: the starting rates
        self._initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's learning rates."""
        self.last_epoch += 1
        lrs = [group["lr"] for group in self.optimizer.param_groups] if self._initial \
            else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group, as last set."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: everything but the optimizer."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; ModelFileError if it names unknown fields."""
        name = type(self).__name__
        if not isinstance(state, dict):
            raise ModelFileError(f"{name}.load_state_dict: expected a dict; got "
                                 f"{type(state).__name__}")
        unknown = sorted(set(state) - set(self.__dict__) - {"optimizer"})
        if unknown or "optimizer" in state:
            raise ModelFileError(f"{name}.load_state_dict: unexpected keys "
                                 f"{unknown or ['optimizer']}")
        for key, value in state.items():
            if not _same_kind(self.__dict__[key], value):
                raise ModelFileError(f"{name}.load_state_dict: {key} = {value!r:.60} does not fit "
                                     f"the current value {self.__dict__[key]!r:.60}")
        for key in ("step_size", "T_max"):  # divisors: a file must not set them to 0 or 0.5
            value = state.get(key, self.__dict__.get(key, 1))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelFileError(f"{name}.load_state_dict: {key} must be a positive integer; "
                                     f"got {value!r:.60}")
        self.__dict__.update({k: list(v) if isinstance(v, list) else v for k, v in state.items()})


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr · gamma^(epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ConfigError(f"StepLR: step_size must be a positive integer; got {step_size!r}")
        check_number("StepLR", "gamma", gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from the base rate down to ``eta_min`` over ``T_max`` epochs (then back up):
    ``lr = eta_min + (base_lr - eta_min)·(1 + cos(π·epoch/T_max))/2``, computed recursively
    as PyTorch does."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ConfigError(f"CosineAnnealingLR: T_max must be a positive integer; got "
                              f"{T_max!r}")
        check_number("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if (e - 1 - T) % (2 * T) == 0:  # restarting a cycle from the bottom
            return [g["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, g in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (g["lr"] - lo) + lo for g in groups]


class ReduceLROnPlateau:
    """Multiply the rate by ``factor`` when ``metric`` has not improved for more than
    ``patience`` epochs (improved: below ``best·(1 - threshold)`` in mode ``'min'`` with
    ``threshold_mode='rel'``), then wait ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0.0, eps: float = 1e-8) -> None:
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if mode not in ("min", "max"):
            raise ConfigError(f"ReduceLROnPlateau: mode must be 'min' or 'max'; got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ConfigError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs'; got "
                              f"{threshold_mode!r}")
        check_number("ReduceLROnPlateau", "factor", factor, 0.0, 1.0, high_open=True)
        check_number("ReduceLROnPlateau", "patience", patience)
        check_number("ReduceLROnPlateau", "threshold", threshold)
        check_number("ReduceLROnPlateau", "cooldown", cooldown)
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ConfigError(f"ReduceLROnPlateau: expected {n} min_lr values; got {len(min_lrs)}")
        for v in min_lrs:
            check_number("ReduceLROnPlateau", "min_lr", v)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lrs, self.eps = cooldown, min_lrs, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def is_better(self, value: float, best: float) -> bool:
        if self.mode == "min":
            return value < (best * (1 - self.threshold) if self.threshold_mode == "rel"
                            else best - self.threshold)
        return value > (best * (1 + self.threshold) if self.threshold_mode == "rel"
                        else best + self.threshold)

    def step(self, metric: float) -> None:
        """Record this epoch's ``metric`` (e.g. validation loss) and reduce the rate if it
        has stopped improving."""
        current = float(metric)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    state_dict = LRScheduler.state_dict
    load_state_dict = LRScheduler.load_state_dict


__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau"]
