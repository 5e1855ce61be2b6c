"""Noticing when training goes wrong, and saying so in plain words.

A learner cannot tell a learning rate that is too large from their own mistake, so every
playground session -- the 2-D net and the MNIST net alike -- feeds each frame's training loss
and hidden activations to one :class:`Watch`, and the page shows the hints it returns, naming
the likely cause and the fix:

- the loss is not a number (training diverged; the session refuses to go on until reset);
- the loss rose above where it started, or swings up and down (steps overshoot the valley);
- saturated neurons: most tanh/sigmoid outputs sit at the flat ends, where the slope -- and
  so the gradient flowing back through them -- is almost zero;
- dead ReLUs: neurons whose output is 0 for every training point, so no gradient reaches them;
- stuck: the loss has not moved for many steps although it is far from zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

WINDOW = 24                 # frames of loss history looked at
SATURATED_FRACTION = 0.6    # of all hidden outputs at the flat ends of tanh/sigmoid
STUCK_STEPS = 1500          # steps without progress before a net counts as stuck


@dataclass
class Watch:
    """The loss curve of one run, frame by frame, and the hints it gives rise to.

    ``stuck_at``: a loss that has not improved for ``STUCK_STEPS`` steps counts as stuck only
    above this (it depends on the loss: cross-entropy of two or ten classes, or MSE);
    ``stuck_advice`` ends the stuck hint with what this view lets a learner change.
    """

    stuck_at: float = 0.2
    stuck_advice: str = "add neurons or a layer"
    points: list[tuple[int, float]] = field(default_factory=list)
    start: float | None = None
    best: float = math.inf
    best_step: int = 0
    units: list[dict] = field(default_factory=list)   # the last activation hints

    def update(self, step: int, loss: float | None, hidden: list[np.ndarray] | None, config: dict,
               diverged: bool) -> list[dict]:
        """Record this frame's training loss; return the hints that hold now.

        ``hidden`` holds each hidden layer's activations on the training points (N, width),
        or None to keep the last verdict on them (a session may look at its units less often
        than at its loss). ``loss`` None (nothing trained yet) gives no hints.
        """
        if hidden is not None:
            self.units = _activations(hidden, config["activation"])
        if not diverged and loss is None:
            return []
        if diverged or loss is None or not math.isfinite(loss):
            return [_hint("nan", "stop",
                          "The loss is not a number: the weights grew until they overflowed "
                          "(training diverged), so training stopped. Press reset and lower the "
                          "learning rate; with a linear activation nothing bounds the outputs.")]
        if step == 0:
            self.points.clear()
            self.start, self.best, self.best_step = loss, loss, 0
        if not self.points or self.points[-1][0] != step:
            self.points.append((step, loss))
            del self.points[:-WINDOW]
        if self.start is None:
            self.start = loss
        if loss < self.best * 0.98:
            self.best, self.best_step = loss, step
        hints = []
        hints += self._loss_shape(step, loss, config)
        hints += self.units
        if step - self.best_step >= STUCK_STEPS and loss > self.stuck_at and not hints:
            hints.append(_hint("stuck", "warn",
                               f"The loss has stayed near {loss:.3f} for "
                               f"{step - self.best_step:,} steps. The net sits on a flat stretch "
                               "or started badly: press reset for new starting weights, "
                               f"{self.stuck_advice}."))
        return hints

    def _loss_shape(self, step: int, loss: float, config: dict) -> list[dict]:
        lr = config["lr"]
        if self.start is not None and step >= 30 and loss > 1.2 * self.start and loss > self.best * 1.5:
            return [_hint("rising", "warn",
                          f"The loss has risen above where it started ({self.start:.3f} → {loss:.3f}): "
                          f"each step overshoots. Lower the learning rate (now {lr:g}).")]
        recent = [v for _, v in self.points[-12:]]
        if len(recent) >= 8:
            d = np.diff(recent)
            flips = int(np.sum(np.sign(d[1:]) * np.sign(d[:-1]) < 0))
            spread = (max(recent) - min(recent)) / max(1e-12, float(np.mean(recent)))
            if flips >= 0.5 * (len(d) - 1) and spread > 0.3:
                momentum = " (or choose plain SGD: momentum keeps the swing going)" \
                    if config["optimizer"] == "momentum" else ""
                return [_hint("oscillating", "warn",
                              f"The loss swings up and down ({min(recent):.3f} to {max(recent):.3f}): "
                              f"the steps jump across the valley instead of down into it. Lower "
                              f"the learning rate (now {lr:g}){momentum}.")]
        return []


def _activations(hidden: list[np.ndarray], activation: str) -> list[dict]:
    if not hidden:
        return []
    if activation in ("tanh", "sigmoid"):
        flat = np.concatenate([h.reshape(-1) for h in hidden]).astype(np.float64)
        if not flat.size:
            return []
        if activation == "tanh":
            ends = np.abs(flat) > 0.97
            where = "±1"
        else:
            ends = (flat < 0.03) | (flat > 0.97)
            where = "0 or 1"
        share = float(np.mean(ends))
        if share >= SATURATED_FRACTION:
            return [_hint("saturated", "warn",
                          f"{share:.0%} of the hidden outputs sit at the flat "
                          f"ends of {activation} ({where}), where its slope is almost zero, so "
                          "almost no gradient flows back through them. Usually the weights grew "
                          "too large: lower the learning rate and reset, or try ReLU.")]
    if activation == "relu":
        dead = sum(int(np.sum(np.all(h <= 0, axis=0))) for h in hidden)
        total = sum(h.shape[1] for h in hidden)
        if dead and dead >= max(1, total // 4):
            return [_hint("dead_relu", "warn",
                          f"{dead} of {total} neurons output 0 for every training point, "
                          "so no gradient reaches their weights and they never recover. Lower the "
                          "learning rate and reset, or use leaky ReLU.")]
    return []


# each hint's heading on the page (the page types none of its own)
TITLES = {"nan": "Stopped.", "rising": "Loss rising.", "oscillating": "Loss swinging.",
          "saturated": "Saturated neurons.", "dead_relu": "Dead ReLUs.", "stuck": "Stuck."}


def _hint(kind: str, level: str, text: str) -> dict:
    return {"kind": kind, "level": level, "title": TITLES[kind], "text": text}
