"""Callbacks: code that runs at fixed points of :func:`chainrule.training.fit`.

A callback subclasses :class:`Callback` and overrides any of

    on_train_begin(run)                 once, before the first epoch
    on_epoch_begin(run, epoch)          epoch is 0-based
    on_batch_end(run, batch, loss)      after optimizer.step(); loss is a Python float
    on_epoch_end(run, epoch, logs)      logs: the epoch's History record (may be extended)
    on_train_end(run)                   once, also after early stopping or divergence

``run`` is the :class:`~chainrule.training.run.Run` of this training: ``run.model``,
``run.optimizer``, ``run.history``, ``run.epoch``; setting ``run.stop_training = True``
ends training after the current epoch. Callbacks that carry state across epochs
(EarlyStopping's best value ...) implement ``state_dict``/``load_state_dict`` so that a
checkpointed run resumes exactly.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .metrics import higher_is_better

if TYPE_CHECKING:  # pragma: no cover
    from .run import Run


class Callback:
    """Base class; every hook does nothing."""

    def on_train_begin(self, run: Run) -> None:
        pass

    def on_epoch_begin(self, run: Run, epoch: int) -> None:
        pass

    def on_batch_end(self, run: Run, batch: int, loss: float) -> None:
        pass

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_train_end(self, run: Run) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state to store in a checkpoint (default: none)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _mode_for(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if higher_is_better(monitor) else "min"
    if mode not in ("min", "max"):
        raise ConfigError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _number_or_none(value: Any, what: str) -> float | None:
    """Checkpointed numbers come from an untrusted file: accept only numbers (or None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"callback state: {what} {value!r:.40} is not a number")
    return float(value)


def _copy_state(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(getattr(v, "data", v), copy=True) for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: History key to watch; ``val_loss`` by default (falls back to ``loss``
            when there is no validation data).
        patience: epochs without improvement to tolerate before stopping.
        min_delta: an improvement smaller than this does not count.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (accuracy and r2 go up, losses go down).
        restore_best: at the end of training, put back the weights of the best epoch, so
            the model returned is the one that validated best, not the last one.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ConfigError(f"EarlyStopping: patience must be a non-negative integer, got {patience!r}")
        if min_delta < 0:
            raise ConfigError(f"EarlyStopping: min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = _mode_for(monitor, mode)
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: dict[str, np.ndarray] | None = None
        self.stopped_epoch: int | None = None

    def _key(self, logs: dict[str, Any]) -> str:
        if self.monitor in logs:
            return self.monitor
        if self.monitor.startswith("val_") and self.monitor[4:] in logs:
            return self.monitor[4:]  # no validation data: watch the training value instead
        raise ConfigError(f"EarlyStopping: monitor {self.monitor!r} is not in the history; "
                          f"available: {', '.join(k for k in logs if k != 'grad_norms')}")

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        value = float(logs[self._key(logs)])
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, logs["epoch"], 0
            if self.restore_best:
                self.best_weights = _copy_state(run.model)
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = logs["epoch"]
                run.stop_training = True
                run.history.stop_reason = "early stopping"

    def on_train_end(self, run: Run) -> None:
        if self.restore_best and self.best_weights is not None and self.best_epoch != run.history.last.get("epoch"):
            run.model.load_state_dict(self.best_weights)
            run.history.best_epoch = self.best_epoch
        elif self.best_epoch is not None:
            run.history.best_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        # The best weights themselves travel in the checkpoint's tensor section (see fit).
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = _number_or_none(state.get("best"), "best")
        self.best_epoch = state.get("best_epoch")
        if self.best_epoch is not None and (isinstance(self.best_epoch, bool) or not isinstance(self.best_epoch, int)):
            raise ValueError(f"EarlyStopping state: best_epoch {self.best_epoch!r:.40} is not an integer")
        wait = state.get("wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise ValueError(f"EarlyStopping state: wait {wait!r:.40} is not a non-negative integer")
        self.wait = wait


class StopAtTarget(Callback):
    """Stop as soon as ``monitor`` reaches ``target`` (e.g. ``val_accuracy >= 0.98``).

    Meant for *validation* keys: watching the test set and stopping there would make the
    reported test score optimistic. The CLI's ``--target`` uses the held-out validation split.
    """

    def __init__(self, target: float, monitor: str = "val_accuracy", mode: str = "auto") -> None:
        self.target, self.monitor = float(target), monitor
        self.mode = _mode_for(monitor, mode)

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is None or math.isnan(value):
            return
        if (value >= self.target) if self.mode == "max" else (value <= self.target):
            run.stop_training = True
            run.history.stop_reason = "target reached"


class CSVLogger(Callback):
    """Write the History to a CSV file after every epoch (so a crash loses nothing).

    The whole file is rewritten each epoch from ``run.history`` (a few rows), which keeps
    the header right when new columns appear and makes a resumed run's file complete.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        tmp = self.path + ".tmp"
        run.history.to_csv(tmp)
        os.replace(tmp, self.path)


class ModelCheckpoint(Callback):
    """Save the model's weights (``cr.save``) after each epoch, or only when it improved.

    Args:
        path: file to write; may contain ``{epoch}`` (e.g. ``"ckpt-{epoch:03d}.safetensors"``).
        monitor: History key deciding "better" when ``save_best_only``.
        save_best_only: write only when ``monitor`` improved.
        metadata: extra JSON-able data stored in the file's header (preprocessing ...).

    For resumable checkpoints (optimizer, epoch, RNG state) use ``fit(checkpoint=...)``.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", metadata: dict[str, Any] | None = None) -> None:
        self.path = os.fspath(path)
        self.monitor, self.save_best_only = monitor, save_best_only
        self.mode = _mode_for(monitor, mode)
        self.metadata = metadata
        self.best: float | None = None

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        if self.save_best_only:
            key = self.monitor if self.monitor in logs else self.monitor.removeprefix("val_")
            value = logs.get(key)
            if value is None or not _improved(float(value), self.best, self.mode, 0.0):
                return
            self.best = float(value)
        from ..io import save

        path = self.path.format(epoch=logs["epoch"])
        if self.metadata is not None:
            save(run.model, path, metadata=self.metadata)
        else:
            save(run.model, path)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = _number_or_none(state.get("best"), "best")


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler once per epoch.

    ``ReduceLROnPlateau`` is stepped with the monitored value (``val_loss`` by default, or
    ``loss`` without validation data); other schedulers with no argument.
    """

    def __init__(self, scheduler: Any, monitor: str = "val_loss") -> None:
        self.scheduler, self.monitor = scheduler, monitor

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        if type(self.scheduler).__name__ == "ReduceLROnPlateau":
            key = self.monitor if self.monitor in logs else self.monitor.removeprefix("val_")
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        sd = getattr(self.scheduler, "state_dict", None)
        return {"scheduler": sd()} if sd else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "scheduler" in state and hasattr(self.scheduler, "load_state_dict"):
            self.scheduler.load_state_dict(state["scheduler"])


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda run, e, logs: ...)``."""

    def __init__(self, **hooks: Any) -> None:
        allowed = {"on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"}
        unknown = set(hooks) - allowed
        if unknown:
            raise ConfigError(f"LambdaCallback: unknown hooks {sorted(unknown)}; allowed: {sorted(allowed)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)


__all__ = ["Callback", "EarlyStopping", "StopAtTarget", "CSVLogger", "ModelCheckpoint",
           "LRSchedulerCallback", "LambdaCallback"]
