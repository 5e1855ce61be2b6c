"""The playground's MNIST tab: an MLP on digits, its accuracy live, and what it reads in a drawing."""
from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from . import diagnose
from .digits import DigitData, prepare_drawing
from .protocol import MNIST_FIELDS
from .session import Session, b64, hidden_outputs, sig

DEFAULT_MNIST_CONFIG = {
    "hidden": [128],
    "activation": "relu",
    "lr": 0.001,
    "batch_size": 64,
    "optimizer": "adam",
    "l2": 0.0,
    "dropout": 0.0,
    "steps_per_frame": 5,
}


class MnistSession(Session):
    """An MLP on MNIST (or the bundled digits): live loss and accuracy, and predictions.

    Training accuracy is the mean over the last 50 minibatches; test accuracy is scored on a
    fixed subset of at most ``TEST_SUBSET`` held-out images when a frame asks to ``evaluate``.
    The same :class:`~.diagnose.Watch` as the 2-D tab's reads the loss every frame and the
    hidden units' outputs on ``PROBE`` fixed training images whenever a frame evaluates, and
    puts its plain-words hints in the frame.

    The training loss *at the current weights* costs a forward pass over training images, so it
    is measured only while the error mountain asks (:meth:`watch_training_loss`): on a fixed
    subset of ``TRAIN_SUBSET`` training images, the same ones the mountain's slice averages,
    in frames spaced to keep that work under a given share of the time (``loss_train``).
    """

    mode: ClassVar[str] = "mnist"
    fields: ClassVar[dict] = MNIST_FIELDS
    defaults: ClassVar[dict] = DEFAULT_MNIST_CONFIG
    config_message: ClassVar[str] = "mnist_config"
    TEST_SUBSET = 2000
    TRAIN_SUBSET = 500
    RECENT = 50
    PROBE = 256             # training images whose hidden outputs the Watch looks at

    def __init__(self, digits: DigitData, config: dict | None = None):
        self.digits = digits
        n = len(digits.x_test)
        self._test_idx = np.arange(n) if n <= self.TEST_SUBSET else \
            np.random.default_rng(0).choice(n, self.TEST_SUBSET, replace=False)
        m = len(digits.x_train)
        self._probe = digits.x_train[np.arange(m) if m <= self.PROBE else
                                     np.random.default_rng(1).choice(m, self.PROBE, replace=False)]
        self._train_idx = np.arange(m) if m <= self.TRAIN_SUBSET else \
            np.sort(np.random.default_rng(1).choice(m, self.TRAIN_SUBSET, replace=False))
        super().__init__(config)

    @classmethod
    def loading(cls) -> dict | None:
        return {"type": "mnist_status", "loading": True, "source": None}

    def opening(self) -> list[dict]:
        d = self.digits
        return [{"type": "mnist_status", "loading": False, "source": d.source, "side": d.side,
                 "config": self.config}, self.frame(True)]

    def seed(self) -> list[int]:
        return [7, self.resets]

    def layer_sizes(self) -> list[int]:
        return [self.digits.x_train.shape[1], *self.config["hidden"], 10]

    def n_train(self) -> int:
        return len(self.digits.x_train)

    def reset(self) -> None:
        super().reset()
        self._recent: list[tuple[float, float]] = []
        self.test_accuracy: float | None = None
        self._test_at = -1
        # ten classes: chance is ln 10 ≈ 2.3; still above 1 after 1,500 steps is stuck
        self.watch = diagnose.Watch(stuck_at=1.0, stuck_advice="add neurons, or choose the adam optimizer")
        self._loss_interval: float | None = None   # a new network: nobody watches it yet
        self._loss_share: float | None = None
        self._loss_min = 0.2
        self._loss_at = -np.inf

    def probe_hidden(self) -> list[np.ndarray]:
        """Each hidden layer's outputs (PROBE, width) on the probe images, no dropout."""
        import chainrule as cr

        with cr.no_grad(), np.errstate(all="ignore"):
            _, hidden = hidden_outputs(self.model, cr.tensor(self._probe))
        return [h.numpy() for h in hidden]

    def training_subset(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed training images (and labels) whose mean loss ``loss_train`` reports."""
        d = self.digits
        return d.x_train[self._train_idx], d.y_train[self._train_idx]

    def watch_training_loss(self, share: float | None, min_interval: float = 0.2) -> None:
        """Report ``loss_train`` in frames (None: stop), the next one now, then spaced so that
        measuring takes at most ``share`` of the time (each measurement's own cost decides,
        so a loaded machine gets fewer) and at most one every ``min_interval`` seconds."""
        self._loss_share = share
        self._loss_min = float(min_interval)
        self._loss_interval = None if share is None else 0.0
        self._loss_at = -np.inf

    def training_loss(self) -> float:
        """Mean cross-entropy of the current weights on :meth:`training_subset`."""
        import chainrule as cr
        import chainrule.nn.functional as F

        x, y = self.training_subset()
        self.model.eval()
        with cr.no_grad():
            return float(F.cross_entropy(self.model(cr.tensor(x)), y).item())

    def loss_on(self, idx: np.ndarray):
        import chainrule as cr
        import chainrule.nn.functional as F

        d = self.digits
        logits = self.model(cr.tensor(d.x_train[idx]))
        return F.cross_entropy(logits, d.y_train[idx]), logits

    def after_step(self, idx: np.ndarray, loss: float, logits) -> None:
        acc = float(np.mean(np.argmax(logits.numpy(), axis=1) == self.digits.y_train[idx]))
        self._recent.append((loss, acc))
        if len(self._recent) > self.RECENT:
            del self._recent[0]

    def evaluate(self) -> float:
        """Accuracy on the held-out subset, in chunks of 500 images."""
        import chainrule as cr

        d = self.digits
        correct = 0
        with cr.no_grad():
            for start in range(0, len(self._test_idx), 500):
                idx = self._test_idx[start:start + 500]
                logits = self.model(cr.tensor(d.x_test[idx])).numpy()
                correct += int(np.sum(np.argmax(logits, axis=1) == d.y_test[idx]))
        self.test_accuracy = correct / max(1, len(self._test_idx))
        self._test_at = self.steps
        return self.test_accuracy

    def frame(self, evaluate: bool = True) -> dict:
        if evaluate and self._test_at != self.steps:
            with np.errstate(all="ignore"):
                self.evaluate()
        loss = float(np.mean([r[0] for r in self._recent])) if self._recent else None
        acc = float(np.mean([r[1] for r in self._recent])) if self._recent else None
        if self.steps and evaluate:
            self.history.add([self.steps, sig(acc or 0, 4), sig(self.test_accuracy or 0, 4)])
        diverged = self.diverged or (loss is not None and not np.isfinite(loss))
        hidden = self.probe_hidden() if evaluate or not self.watch.points else None
        hints = self.watch.update(self.steps, loss, hidden, self.config, diverged)
        extra = {}
        now = time.perf_counter()
        if self._loss_interval is not None and now - self._loss_at >= self._loss_interval:
            self._loss_at = now
            with np.errstate(all="ignore"):
                extra["loss_train"] = sig(self.training_loss())
            cost = time.perf_counter() - now
            self._loss_interval = max(self._loss_min, cost / (self._loss_share or 1.0))
        return {
            "type": "mnist_frame",
            "run": self.run_id,
            "step": self.steps,
            "epoch": round(self.epoch, 3),
            "loss": sig(loss),
            "train_accuracy": sig(acc, 4),
            "test_accuracy": sig(self.test_accuracy, 4),
            "test_size": int(len(self._test_idx)),
            "diverged": diverged,
            "hints": hints,
            **extra,
        }

    def predict(self, pixels) -> dict:
        """The model's probabilities for a 28x28 drawing, and the input it actually saw."""
        import chainrule as cr
        import chainrule.nn.functional as F

        x = prepare_drawing(pixels, self.digits.side)
        if x is None:
            return {"type": "prediction", "probs": None, "label": None, "input": None}
        with cr.no_grad():
            probs = F.softmax(self.model(cr.tensor(x[None, :])), axis=-1).numpy()[0]
        probs = np.nan_to_num(probs.astype(np.float64))
        return {
            "type": "prediction",
            "probs": [round(float(p), 4) for p in probs],
            "label": int(np.argmax(probs)),
            "input": b64(np.round(x * 255)),
            "input_side": self.digits.side,
        }
