"""Diagnostics: warnings, in plain words, about the classic ways training goes wrong.

:func:`chainrule.training.fit` adds a :class:`Diagnostics` callback by default
(``fit(..., diagnostics=False)`` turns it off). It watches what fit records anyway, the
loss of every batch and, per epoch, the mean gradient norm of every layer's weight
(``History.grad_norms``), and reports four problems a learner meets early:

* **vanishing gradients**: the first layer's gradient is tiny next to the last layer's
  (ratio < ``vanishing_ratio``, default 1e-3), or tiny outright (< 1e-6). Backpropagation
  multiplies one local derivative per layer; sigmoid's is at most 0.25, so through many
  sigmoid layers the product shrinks geometrically and the early layers stop learning.
* **exploding gradients**: some layer's gradient norm exceeds ``exploding_norm`` (1e3),
  the first layer's is more than 1e3 times the last's, or the largest norm grew 100-fold
  since the first epoch.
* **divergence**: the batch loss stays above ``divergence_factor`` (10) times its starting
  value for ``divergence_patience`` (3) batches in a row: the steps overshoot, typically
  because the learning rate is too high. Training is stopped (``TrainingDiverged`` is
  raised, as fit does for a NaN loss) unless ``stop_on_divergence=False``.
* **overfitting**: validation loss rose for ``overfit_patience`` (3) epochs in a row while
  the training loss fell, and it is now clearly above the training loss (by more than 0.05
  and 10 %), so the noise of a small validation set is not mistaken for overfitting.

Each problem is reported once per run: with ``warnings.warn(..., ChainruleWarning)`` (so
programs and tests can catch or filter it) and as a short explanation with the usual
cures printed to ``stream`` (stdout by default).
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from types import FrameType
from typing import Any, TextIO

from ..errors import ChainruleWarning, ConfigError
from .callbacks import Callback
from .run import TrainingDiverged, current_lr, divergence_cause

__all__ = ["ChainruleWarning", "Diagnostics", "Finding"]


#: the overfitting diagnosis waits for a validation set at least this large
MIN_VALIDATION_EXAMPLES = 50


class Finding(dict):
    """One diagnosis: ``kind`` (``vanishing exploding diverging overfitting``), ``epoch``
    (1-based), ``message`` (one line), ``advice`` (the usual cures), plus the numbers seen."""


CURES = {
    "vanishing": "Usual cures: ReLU (or LeakyReLU/GELU) instead of sigmoid/tanh in hidden layers "
                 "(--activation relu), He/Xavier initialisation (nn.init.kaiming_normal_), residual "
                 "connections (nn.Residual), batch normalization (nn.BatchNorm1d), or fewer layers.",
    "exploding": "Usual cures: gradient clipping (fit(..., clip_grad_norm=1.0), --clip-grad-norm 1), "
                 "a smaller learning rate, careful initialisation (Xavier/He), batch normalization.",
    "diverging": "Usual cure: a smaller learning rate (try 10 times smaller, --lr); gradient "
                 "clipping also helps.",
    "overfitting": "Usual cures: dropout (nn.Dropout, --dropout 0.3), L2 weight decay "
                   "(weight_decay=1e-4, --weight-decay 1e-4), early stopping (EarlyStopping, "
                   "--early-stopping 5), more training data.",
}


_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside chainrule
    (the user's ``fit(...)`` line), not at this module."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PKG_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


class Diagnostics(Callback):
    """A callback that warns about vanishing/exploding gradients, divergence and overfitting.

    Args:
        vanishing_ratio: warn when first-layer norm / last-layer norm is below this.
        vanishing_norm: warn when the first layer's norm is below this (while the loss is
            not already near zero).
        exploding_norm: warn when any layer's norm is above this.
        divergence_factor, divergence_patience: stop when the batch loss stays above
            factor × the first batch's loss for this many batches in a row.
        overfit_patience: warn when val_loss rose this many epochs in a row while the
            training loss fell.
        stop_on_divergence: raise ``TrainingDiverged`` on divergence (default), or only warn
            and set ``run.stop_training`` (training then ends after the current epoch).
        stream: where the explanations are printed (default ``sys.stdout``); ``verbose=False``
            prints nothing (the warnings are still issued).

    Attributes:
        findings: the :class:`Finding` of every problem reported in this run.
    """

    def __init__(self, vanishing_ratio: float = 1e-3, vanishing_norm: float = 1e-6,
                 exploding_norm: float = 1e3, divergence_factor: float = 10.0,
                 divergence_patience: int = 3, overfit_patience: int = 3,
                 stop_on_divergence: bool = True, verbose: bool = True,
                 stream: TextIO | None = None) -> None:
        for label, v in (("vanishing_ratio", vanishing_ratio), ("vanishing_norm", vanishing_norm),
                         ("exploding_norm", exploding_norm)):
            if not v > 0:
                raise ConfigError(f"Diagnostics: {label} must be positive, got {v!r}")
        if not divergence_factor > 1:
            raise ConfigError(f"Diagnostics: divergence_factor must be > 1, got {divergence_factor!r}")
        for label, n in (("divergence_patience", divergence_patience),
                         ("overfit_patience", overfit_patience)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"Diagnostics: {label} must be a positive integer, got {n!r}")
        self.vanishing_ratio, self.vanishing_norm = vanishing_ratio, vanishing_norm
        self.exploding_norm = exploding_norm
        self.divergence_factor, self.divergence_patience = divergence_factor, divergence_patience
        self.overfit_patience = overfit_patience
        self.stop_on_divergence, self.verbose, self.stream = stop_on_divergence, verbose, stream
        self.findings: list[Finding] = []
        self._reset()

    def _reset(self) -> None:
        self.reported: set[str] = set()
        self.reference_loss: float | None = None
        self.first_max_norm: float | None = None
        self.above = 0

    # --- reporting
    def _report(self, run: Any, kind: str, message: str, cure: str | None = None,
                **numbers: Any) -> Finding | None:
        if kind in self.reported:
            return None
        self.reported.add(kind)
        cure = cure or CURES[kind]
        finding = Finding(kind=kind, epoch=getattr(run, "epoch", 0) + 1, message=message,
                          advice=cure, **numbers)
        self.findings.append(finding)
        warnings.warn(f"{message} {cure}", ChainruleWarning, stacklevel=_user_stacklevel())
        if self.verbose:
            out = self.stream if self.stream is not None else sys.stdout
            print(f"warning: {message}\n  {cure}", file=out, flush=True)
        return finding

    # --- hooks
    def on_train_begin(self, run: Any) -> None:
        if not getattr(self, "_loaded", False):  # a resumed run keeps its checkpointed state
            self.findings = []
            self._reset()
        self._loaded = False

    def on_batch_end(self, run: Any, batch: int, loss: float) -> None:
        if not _finite(loss):
            return  # fit itself stops at a NaN/Inf loss and names the learning rate
        if self.reference_loss is None:
            self.reference_loss = float(loss)
            return
        limit = self.divergence_factor * self.reference_loss
        if loss > limit and loss > 1e-2:
            self.above += 1
        else:
            self.above = 0
        if self.above >= self.divergence_patience:
            self._diverging(run, batch, float(loss))

    def _diverging(self, run: Any, batch: int, loss: float) -> None:
        lr = current_lr(run.optimizer) if getattr(run, "optimizer", None) is not None else None
        lr_text = f"the learning rate {lr:g}" if lr is not None else "the learning rate"
        message = (f"the loss is diverging: it grew from {self.reference_loss:.4g} to {loss:.4g} "
                   f"(more than {self.divergence_factor:g} times its starting value for "
                   f"{self.divergence_patience} batches in a row, epoch {run.epoch + 1} batch "
                   f"{batch + 1}). The steps overshoot the minimum, so each one makes things worse: "
                   f"{lr_text} is probably too high. Training was stopped.")
        if self._report(run, "diverging", message, loss=loss, reference_loss=self.reference_loss,
                        lr=lr) is None:
            return
        run.history.stop_reason = "diverged"
        run.stop_training = True
        if self.stop_on_divergence:
            hint = f"; try {lr / 10:g}" if lr else ""
            raise TrainingDiverged(
                f"training diverged: the loss grew from {self.reference_loss:.4g} to {loss:.4g} "
                f"at epoch {run.epoch + 1} batch {batch + 1}; {lr_text} is probably too high{hint}",
                run.epoch + 1, batch + 1, loss, lr, run.history)

    def on_epoch_end(self, run: Any, epoch: int, logs: dict[str, Any]) -> None:
        norms = {k: float(v) for k, v in (logs.get("grad_norms") or {}).items()}
        self._check_gradients(run, norms, logs)
        self._check_overfitting(run)

    def _check_gradients(self, run: Any, norms: dict[str, float], logs: dict[str, Any]) -> None:
        finite = {k: v for k, v in norms.items() if math.isfinite(v)}
        if len(norms) != len(finite):
            bad = [k for k in norms if k not in finite]
            self._report(run, "exploding", f"exploding gradients (epoch {logs.get('epoch')}): the "
                         f"gradient of layer(s) {', '.join(bad)} overflowed to Inf/NaN.",
                         grad_norms=norms)
            return
        if not finite:
            return
        names = list(finite)
        first, last = finite[names[0]], finite[names[-1]]
        biggest_name = max(finite, key=lambda k: finite[k])
        biggest = finite[biggest_name]
        if self.first_max_norm is None:
            self.first_max_norm = biggest
        depth = f"{len(names)} layers"
        if len(names) >= 2 and last > 0:
            ratio = first / last
            loss = logs.get("loss")
            tiny = first < self.vanishing_norm and (loss is None or not _finite(loss) or loss > 1e-3)
            if ratio < self.vanishing_ratio or tiny:
                self._report(
                    run, "vanishing",
                    f"vanishing gradients (epoch {logs.get('epoch')}): the first layer's gradient "
                    f"norm (layer {names[0]}: {first:.3g}) is {ratio:.2g} times the last layer's "
                    f"(layer {names[-1]}: {last:.3g}). Backpropagation multiplies one local derivative per "
                    f"layer; through {depth} the error signal shrinks until the early layers barely "
                    f"learn.", ratio=ratio, grad_norms=finite)
            elif ratio > 1 / self.vanishing_ratio and first > 1e-2:
                self._report(
                    run, "exploding",
                    f"exploding gradients (epoch {logs.get('epoch')}): the first layer's gradient "
                    f"norm (layer {names[0]}: {first:.3g}) is {ratio:.3g} times the last layer's "
                    f"(layer {names[-1]}: {last:.3g}): the error signal grows as it flows back through "
                    f"{depth}, so the early layers take wild steps.", ratio=ratio, grad_norms=finite)
        if biggest > self.exploding_norm:
            self._report(
                run, "exploding",
                f"exploding gradients (epoch {logs.get('epoch')}): layer {biggest_name} has a "
                f"gradient norm of {biggest:.3g} (above {self.exploding_norm:g}), so one step "
                f"moves its weights far; training becomes unstable.", grad_norms=finite)
        elif self.first_max_norm and self.first_max_norm > 0 and biggest > 100 * self.first_max_norm \
                and biggest > 1.0:
            self._report(
                run, "exploding",
                f"exploding gradients (epoch {logs.get('epoch')}): the largest gradient norm grew "
                f"from {self.first_max_norm:.3g} in the first epoch to {biggest:.3g} (layer "
                f"{biggest_name}).", grad_norms=finite)

    def _check_overfitting(self, run: Any) -> None:
        k = self.overfit_patience
        rows = [e for e in run.history.epochs if _finite(e.get("val_loss")) and _finite(e.get("loss"))]
        if len(rows) < k + 1:
            return
        loader = getattr(run, "val_loader", None)
        if loader is not None and len(loader.dataset) < MIN_VALIDATION_EXAMPLES:
            return  # on a dozen examples a rising validation loss is noise, not a diagnosis
        last = rows[-1]
        if _finite(last.get("accuracy")) and _finite(last.get("val_accuracy")) and \
                last["accuracy"] < last["val_accuracy"] + 0.02:
            return  # no accuracy gap between training and validation: an underfit, not memorising
        recent = rows[-(k + 1):]
        val = [e["val_loss"] for e in recent]
        train = [e["loss"] for e in recent]
        rising = all(b > a for a, b in zip(val, val[1:]))
        falling = train[-1] < train[0]  # overall: mini-batch training loss is noisy
        # a small validation set makes val_loss noisy: also ask for a clear gap between the two
        gap = val[-1] - train[-1]
        if rising and falling and gap > max(0.05, 0.1 * val[-1]):
            self._report(
                run, "overfitting",
                f"overfitting (epoch {recent[-1].get('epoch')}): the validation loss rose for {k} "
                f"epochs in a row ({val[0]:.4g} → {val[-1]:.4g}) while the training loss fell "
                f"({train[0]:.4g} → {train[-1]:.4g}): the network is memorising the training data "
                f"instead of learning what generalises.", val_loss=val, loss=train)

    def on_train_end(self, run: Any) -> None:
        history = getattr(run, "history", None)
        if history is not None and history.stop_reason == "diverged" and "diverging" not in self.reported:
            # fit stopped at a NaN/Inf loss or weight (its error names the learning rate);
            # add the explanation in words for the learner
            cause = divergence_cause(getattr(run, "optimizer", None))
            self._report(run, "diverging",
                         f"the loss diverged to NaN/Inf: {cause[0]}. Training was stopped." if cause else
                         "the loss diverged to NaN/Inf: the steps overshot the minimum and grew "
                         "until the numbers overflowed; the learning rate is probably too high. "
                         "Training was stopped.",
                         cure=cause[1] if cause else None)

    def state_dict(self) -> dict[str, Any]:
        return {"reported": sorted(self.reported), "reference_loss": self.reference_loss,
                "first_max_norm": self.first_max_norm, "above": self.above}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reported = set(state.get("reported", ()))
        self.reference_loss = state.get("reference_loss")
        self.first_max_norm = state.get("first_max_norm")
        self.above = int(state.get("above", 0))
        self._loaded = True
