"""The 2-D playground: a small network on a toy problem, drawn whole every frame.

:class:`ToySession` trains a multilayer perceptron on one of the catalogue's 2-D data sets and
describes it as a *frame*: the decision boundary over a grid, each hidden neuron's output over a
smaller grid, every weight and its gradient dL/dw from the last backward pass, per-layer
gradient norms and the losses.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from .protocol import CONFIG_FIELDS
from .session import Session, b64, hidden_outputs, rounded, sig

BOUNDARY_SIZE = 50      # decision-boundary grid, cells per side
NEURON_SIZE = 25        # each neuron's thumbnail grid: every other cell of the boundary grid

DEFAULT_CONFIG = {
    "dataset": "circle",
    "noise": 0.1,
    "test_fraction": 0.5,
    "n_points": 400,
    "seed": 1,
    "hidden": [4, 2],
    "activation": "tanh",
    "lr": 0.3,
    "batch_size": 10,
    "optimizer": "sgd",
    "l2": 0.0,
    "dropout": 0.0,
    "steps_per_frame": 10,
}


class ToySession(Session):
    """A 2-class MLP on a 2-D toy data set, trained one minibatch at a time.

    ``configure(**values)`` validates and applies settings; changing the data or the network
    starts over, changing lr, L2, optimizer, batch size or dropout carries on with the current
    weights. ``step(n)`` runs ``n`` optimizer steps; ``frame()`` describes the model now.
    ``data_factory(config)`` may replace the data set: it returns ``((x, y), (x, y))``.
    """

    mode: ClassVar[str] = "playground"
    fields: ClassVar[dict] = CONFIG_FIELDS
    defaults: ClassVar[dict] = DEFAULT_CONFIG
    config_message: ClassVar[str] = "config"
    data_keys: ClassVar[frozenset] = frozenset({"dataset", "noise", "test_fraction", "n_points", "seed"})

    def __init__(self, config: dict | None = None, data_factory: Callable | None = None):
        self._data_factory = data_factory
        self.data_version = 0
        super().__init__(config)

    # ---- set-up ------------------------------------------------------------------------
    def check(self, cfg: dict) -> None:
        n_test = int(round(cfg["n_points"] * cfg["test_fraction"]))
        if cfg["n_points"] - n_test < 2 or n_test < 1:
            raise ConfigError("too few points for this train/test split")

    def make_data(self) -> None:
        cfg = self.config
        if self._data_factory is not None:
            (xtr, ytr), (xte, yte) = self._data_factory(cfg)
        else:
            from chainrule import data

            ds = data.toy2d(cfg["dataset"], n=cfg["n_points"], noise=cfg["noise"],
                            seed=cfg["seed"], test_fraction=cfg["test_fraction"])
            xtr, ytr = ds.train.arrays
            xte, yte = ds.test.arrays
        self.x_train = np.asarray(xtr, dtype=np.float32)
        self.y_train = (np.asarray(ytr).reshape(-1) > 0).astype(np.float32)
        self.x_test = np.asarray(xte, dtype=np.float32)
        self.y_test = (np.asarray(yte).reshape(-1) > 0).astype(np.float32)
        both = np.concatenate([self.x_train, self.x_test]) if len(self.x_test) else self.x_train
        m = float(np.max(np.abs(both))) if both.size else 1.0
        # toy2d data fills about [-1, 1]^2; widen the square (in quarters) only for noisy outliers
        self.extent = 1.0 if m <= 1.05 else float(math.ceil(m * 4) / 4)
        self.grid = self._grid(BOUNDARY_SIZE)
        # thumbnails reuse the boundary pass: every other row and column of the 50x50 grid
        step = BOUNDARY_SIZE // NEURON_SIZE
        cells = np.arange(BOUNDARY_SIZE * BOUNDARY_SIZE).reshape(BOUNDARY_SIZE, BOUNDARY_SIZE)
        self._thumb_cells = cells[::step, ::step].ravel()
        self._all_x = np.concatenate([self.x_train, self.x_test])
        self._all_y = np.concatenate([self.y_train, self.y_test])
        self.data_version += 1

    def _grid(self, n: int) -> np.ndarray:
        e = self.extent
        # cell centres; row 0 is the top of the picture (largest x2)
        ticks = (np.arange(n) + 0.5) / n * 2 * e - e
        xx, yy = np.meshgrid(ticks, ticks[::-1])
        return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)

    def seed(self) -> list[int]:
        return [self.config["seed"], self.resets]

    def layer_sizes(self) -> list[int]:
        return [2, *self.config["hidden"], 1]

    def n_train(self) -> int:
        return len(self.x_train)

    def reset(self) -> None:
        super().reset()
        self.last_grads = [np.zeros_like(lin.weight.data) for lin in self.linears]
        self.last_bias_grads = [np.zeros_like(lin.bias.data) for lin in self.linears]

    # ---- training ----------------------------------------------------------------------
    def loss(self, logits, targets: np.ndarray):
        """Mean binary cross-entropy of (N, 1) logits against 0/1 targets."""
        import chainrule as cr
        import chainrule.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits.reshape(-1), cr.tensor(targets))

    def loss_on(self, idx: np.ndarray):
        import chainrule as cr

        logits = self.model(cr.tensor(self.x_train[idx]))
        return self.loss(logits, self.y_train[idx]), logits

    def after_step(self, idx: np.ndarray, loss: float, logits) -> None:
        for i, lin in enumerate(self.linears):
            g, gb = lin.weight.grad, lin.bias.grad
            self.last_grads[i] = np.zeros_like(lin.weight.data) if g is None else np.array(g)
            self.last_bias_grads[i] = np.zeros_like(lin.bias.data) if gb is None else np.array(gb)

    def losses(self) -> tuple[float, float]:
        """Mean loss on the whole train and test sets (no dropout), in one forward pass."""
        import chainrule as cr
        import chainrule.nn.functional as F

        with cr.no_grad():
            logits = self.model(cr.tensor(self._all_x)).reshape(-1)
            each = F.binary_cross_entropy_with_logits(logits, cr.tensor(self._all_y),
                                                      reduction="none").numpy().astype(np.float64)
        n = len(self.x_train)
        train = float(each[:n].mean()) if n else float("nan")
        test = float(each[n:].mean()) if len(each) > n else float("nan")
        return train, test

    def grad_norms(self) -> list[float]:
        """The L2 norm of dL/dW for each weight matrix, input side first."""
        return [float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))) for g in self.last_grads]

    # ---- describing the model ------------------------------------------------------------
    def data_message(self) -> dict:
        def pts(x, y):
            return np.concatenate([np.round(x, 4), y[:, None]], axis=1).tolist()

        return {
            "type": "data",
            "run": self.run_id,
            "extent": self.extent,
            "train": pts(self.x_train, self.y_train),
            "test": pts(self.x_test, self.y_test),
        }

    def opening(self) -> list[dict]:
        return [self.data_message(), self.frame()]

    def after_configure(self, rebuilt: str) -> list[dict]:
        return [self.data_message()] if rebuilt == "data" else []

    def frame(self, evaluate: bool = True) -> dict:
        """Everything the page draws, as JSON-ready values (pictures as base64 uint8).

        The 2-D frame is cheap, so ``evaluate`` changes nothing here.
        """
        import chainrule as cr

        with cr.no_grad():
            out, hidden = hidden_outputs(self.model, cr.tensor(self.grid))
        logits = out.numpy().reshape(-1).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))
        neurons = []
        for h in hidden:
            a = h.numpy()[self._thumb_cells].astype(np.float64)     # (cells, width)
            if not np.isfinite(a).all():
                a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
            scale = np.maximum(1.0, np.max(np.abs(a), axis=0))    # keep [-1, 1] as it is
            u8 = np.round((np.clip(a / scale, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).T.copy()
            neurons.append([b64(row) for row in u8])
        train_loss, test_loss = self.losses()
        self.history.add([self.steps, sig(train_loss), sig(test_loss)])
        return {
            "type": "frame",
            "run": self.run_id,
            "step": self.steps,
            "epoch": round(self.epoch, 3),
            "loss_train": sig(train_loss),
            "loss_test": sig(test_loss),
            "boundary": b64(np.round(np.nan_to_num(prob) * 255)),
            "boundary_size": BOUNDARY_SIZE,
            "neurons": neurons,
            "neuron_size": NEURON_SIZE,
            "weights": [rounded(lin.weight.data) for lin in self.linears],
            "biases": [rounded(lin.bias.data) for lin in self.linears],
            "grads": [rounded(g, 7) for g in self.last_grads],
            "grad_norms": [sig(g) for g in self.grad_norms()],
        }
