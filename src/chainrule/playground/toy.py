"""The 2-D playground: a small network on a toy problem, drawn whole every frame.

:class:`ToySession` trains a multilayer perceptron on one of the catalogue's 2-D problems --
classification (sigmoid output, binary cross-entropy) or regression (linear output, mean
squared error) -- from the input features the page chose, and describes it as a *frame*: the
output over a grid, each hidden neuron's output over a smaller grid, every weight and bias and
its gradient dL/dw, per-layer gradient norms, the losses and accuracy, and plain-words hints
when training goes wrong (see :mod:`.diagnose`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..errors import ConfigError
from . import diagnose, features
from .protocol import CONFIG_FIELDS, REGRESSION_PROBLEMS
from .session import Session, b64, hidden_outputs, rounded, sig

BOUNDARY_SIZE = 50      # decision-boundary grid, cells per side
NEURON_SIZE = 25        # each neuron's thumbnail grid: every other cell of the boundary grid
AVERAGE_STEPS = 50      # the "average" gradient view: a moving average over about this many steps

DEFAULT_CONFIG = {
    "dataset": "circle",
    "noise": 0.1,
    "test_fraction": 0.5,
    "n_points": 400,
    "seed": 1,
    "init": 0,
    "hidden": [6, 4],       # [4, 2] left XOR stuck from the default start; 6-4 learns it every time
    "features": ["x1", "x2"],
    "activation": "tanh",
    "lr": 0.3,
    "batch_size": 10,
    "optimizer": "sgd",
    "l2": 0.0,
    "l1": 0.0,
    "dropout": 0.0,
    "grad_view": "average",
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
    data_keys: ClassVar[frozenset] = frozenset({"dataset", "noise", "test_fraction", "n_points", "seed",
                                                "features"})
    net_keys: ClassVar[frozenset] = frozenset({"hidden", "activation", "init"})

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
            from chainrule import catalogue

            make = catalogue.lookup(catalogue.DATASETS, cfg["dataset"], "problem").resolve()
            ds = make(cfg["dataset"], n=cfg["n_points"], noise=cfg["noise"],
                      seed=cfg["seed"], test_fraction=cfg["test_fraction"])
            xtr, ytr = ds.train.arrays
            xte, yte = ds.test.arrays
        self.regression = cfg["dataset"] in REGRESSION_PROBLEMS
        self.x_train = np.asarray(xtr, dtype=np.float32)
        self.x_test = np.asarray(xte, dtype=np.float32)
        self.y_train = self._targets(ytr)
        self.y_test = self._targets(yte)
        names = cfg["features"]
        self.f_train = features.transform(self.x_train, names)
        self.f_test = features.transform(self.x_test, names)
        both = np.concatenate([self.x_train, self.x_test]) if len(self.x_test) else self.x_train
        m = float(np.max(np.abs(both))) if both.size else 1.0
        # toy2d data fills about [-1, 1]^2; widen the square (in quarters) only for noisy outliers
        self.extent = 1.0 if m <= 1.05 else float(math.ceil(m * 4) / 4)
        self.grid = self._grid(BOUNDARY_SIZE)
        self.f_grid = features.transform(self.grid, names)
        # thumbnails reuse the boundary pass: every other row and column of the 50x50 grid
        step = BOUNDARY_SIZE // NEURON_SIZE
        cells = np.arange(BOUNDARY_SIZE * BOUNDARY_SIZE).reshape(BOUNDARY_SIZE, BOUNDARY_SIZE)
        self._thumb_cells = cells[::step, ::step].ravel()
        self._all_f = np.concatenate([self.f_train, self.f_test])
        self._all_y = np.concatenate([self.y_train, self.y_test])
        self.data_version += 1

    def _targets(self, y) -> np.ndarray:
        """Regression: the values; classification: 0/1 (any positive label is class 1)."""
        y = np.asarray(y).reshape(-1)
        return y.astype(np.float32) if self.regression else (y > 0).astype(np.float32)

    def _grid(self, n: int) -> np.ndarray:
        e = self.extent
        # cell centres; row 0 is the top of the picture (largest x2)
        ticks = (np.arange(n) + 0.5) / n * 2 * e - e
        xx, yy = np.meshgrid(ticks, ticks[::-1])
        return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)

    def seed(self) -> list[int]:
        # the data's seed and which start: a link holding both reproduces the network and the
        # run (weights, minibatch order) exactly
        return [self.config["seed"], self.config["init"]]

    def restart(self) -> None:
        """New starting weights: the next ``init``, so that the page's link records it."""
        self.config = {**self.config, "init": (self.config["init"] + 1) % (2**31)}
        self.reset()

    def layer_sizes(self) -> list[int]:
        return [len(self.config["features"]), *self.config["hidden"], 1]

    def n_train(self) -> int:
        return len(self.x_train)

    def reset(self) -> None:
        super().reset()
        self.last_grads = [np.zeros_like(lin.weight.data) for lin in self.linears]
        self.last_bias_grads = [np.zeros_like(lin.bias.data) for lin in self.linears]
        self._grad_avg = [np.zeros_like(g, dtype=np.float64) for g in self.last_grads]
        self._grad_count = 0
        self.watch = diagnose.Watch(stuck_at=0.05 if self.regression else 0.2,
                                    stuck_advice="add neurons or a layer, or switch on more input features")

    # ---- training ----------------------------------------------------------------------
    def loss(self, out, targets: np.ndarray, reduction: str = "mean"):
        """The data loss of (N, 1) outputs: binary cross-entropy on logits for classification
        (the sigmoid is inside the loss), mean squared error of the raw value for regression."""
        import chainrule as cr
        import chainrule.nn.functional as F

        t = cr.tensor(targets)
        if self.regression:
            return F.mse_loss(out.reshape(-1), t, reduction=reduction)
        return F.binary_cross_entropy_with_logits(out.reshape(-1), t, reduction=reduction)

    def penalty(self):
        """L1 penalty ``l1 * sum|w|`` over the weights (L2 lives in the optimizer as weight
        decay), or None. It joins the loss that is differentiated, not the loss shown."""
        l1 = self.config["l1"]
        if not l1:
            return None
        total = None
        for lin in self.linears:
            term = lin.weight.abs().sum()
            total = term if total is None else total + term
        return total * l1

    def loss_on(self, idx: np.ndarray):
        import chainrule as cr

        out = self.model(cr.tensor(self.f_train[idx]))
        loss = self.loss(out, self.y_train[idx])
        extra = self.penalty()
        return (loss, out) if extra is None else (loss + extra, out)

    def after_step(self, idx: np.ndarray, loss: float, logits) -> None:
        for i, lin in enumerate(self.linears):
            g, gb = lin.weight.grad, lin.bias.grad
            self.last_grads[i] = np.zeros_like(lin.weight.data) if g is None else np.array(g)
            self.last_bias_grads[i] = np.zeros_like(lin.bias.data) if gb is None else np.array(gb)
            # exponential moving average over about the last AVERAGE_STEPS steps
            self._grad_avg[i] *= 1.0 - 1.0 / AVERAGE_STEPS
            self._grad_avg[i] += self.last_grads[i] / AVERAGE_STEPS
        self._grad_count += 1

    def full_batch_grads(self) -> list[np.ndarray]:
        """dL/dW on the whole training set at the current weights (no update is made)."""
        self.optimizer.zero_grad()
        loss, _ = self.loss_on(np.arange(len(self.f_train)))
        loss.backward()
        grads = [np.zeros_like(lin.weight.data) if lin.weight.grad is None else np.array(lin.weight.grad)
                 for lin in self.linears]
        self.optimizer.zero_grad()
        return grads

    def shown_grads(self) -> list[np.ndarray]:
        """The gradients the page draws, by ``grad_view``: ``last`` (the last minibatch's,
        which flicker from batch to batch), ``average`` (a moving average over about the last
        ``AVERAGE_STEPS`` steps) or ``full`` (the whole training set's, at the current weights)."""
        view = self.config["grad_view"]
        if view == "full" and self.steps:
            return self.full_batch_grads()
        if view == "average" and self._grad_count:
            # unbiased as Adam's moments are: divide by the weight the average has gathered
            seen = 1.0 - (1.0 - 1.0 / AVERAGE_STEPS) ** self._grad_count
            return [(g / seen).astype(np.float32) for g in self._grad_avg]
        return self.last_grads

    def set_parameter(self, layer: int, row: int, col: int | None, value: float) -> None:
        """Set one weight (``col`` given: weight[row, col] of Linear ``layer``) or one bias."""
        if not (0 <= layer < len(self.linears)):
            raise ConfigError(f"there is no layer {layer + 1}; the network has {len(self.linears)}")
        lin = self.linears[layer]
        out_n, in_n = lin.weight.shape
        if not 0 <= row < out_n or (col is not None and not 0 <= col < in_n):
            raise ConfigError(f"layer {layer + 1} has {out_n} neurons fed by {in_n} inputs; "
                              f"no {'weight' if col is not None else 'bias'} at {row + 1}"
                              f"{'' if col is None else f', {col + 1}'}")
        if col is None:
            lin.bias.data[row] = value
        else:
            lin.weight.data[row, col] = value

    def evaluate(self) -> dict:
        """Loss and accuracy on the whole train and test sets (no dropout) and each hidden
        layer's activations on the training points, from one forward pass."""
        import chainrule as cr

        with cr.no_grad():
            out, hidden = hidden_outputs(self.model, cr.tensor(self._all_f))
            each = self.loss(out, self._all_y, reduction="none").numpy().astype(np.float64)
        n = len(self.x_train)
        res = {"train": float(each[:n].mean()) if n else float("nan"),
               "test": float(each[n:].mean()) if len(each) > n else float("nan"),
               "acc_train": None, "acc_test": None,
               "hidden": [h.numpy()[:n] for h in hidden]}
        if not self.regression:
            right = (out.numpy().reshape(-1) > 0) == (self._all_y > 0.5)
            res["acc_train"] = float(right[:n].mean()) if n else None
            res["acc_test"] = float(right[n:].mean()) if len(right) > n else None
        return res

    def losses(self) -> tuple[float, float]:
        """Mean loss on the whole train and test sets (no dropout), in one forward pass."""
        r = self.evaluate()
        return r["train"], r["test"]

    @staticmethod
    def norms(grads: list[np.ndarray]) -> list[float]:
        """The L2 norm of each dL/dW, input side first."""
        return [float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))) for g in grads]

    def grad_norms(self) -> list[float]:
        """The L2 norm of the last minibatch's dL/dW for each weight matrix, input side first."""
        return self.norms(self.last_grads)

    # ---- describing the model ------------------------------------------------------------
    def data_message(self) -> dict:
        def pts(x, y):
            return np.concatenate([np.round(x, 4), np.round(y[:, None], 4)], axis=1).tolist()

        # every input feature (chosen or not: the page offers them all) over the thumbnail
        # grid, -1..1 as 0..255
        cols = features.transform(self.grid[self._thumb_cells], list(features.NAMES)).astype(np.float64)
        maps = np.round((np.clip(cols, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).T
        return {
            "type": "data",
            "run": self.run_id,
            "extent": self.extent,
            "problem": "regression" if self.regression else "classification",
            "features": list(self.config["features"]),
            "feature_labels": features.labels(self.config["features"]),
            "feature_maps": {name: b64(m) for name, m in zip(features.NAMES, maps, strict=True)},
            "feature_size": NEURON_SIZE,
            "train": pts(self.x_train, self.y_train),
            "test": pts(self.x_test, self.y_test),
        }

    def opening(self) -> list[dict]:
        return [self.data_message(), self.frame()]

    def after_configure(self, rebuilt: str) -> list[dict]:
        return [self.data_message()] if rebuilt == "data" else []

    def frame(self, evaluate: bool = True) -> dict:
        """Everything the page draws, as JSON-ready values (pictures as base64 uint8).

        The output picture is p(blue) for classification and the value (-1..1 as 0..255) for
        regression. A diverged network is reported as such: its numbers go out as null.
        The 2-D frame is cheap, so ``evaluate`` changes nothing here.
        """
        import chainrule as cr

        with np.errstate(all="ignore"):
            with cr.no_grad():
                out, hidden = hidden_outputs(self.model, cr.tensor(self.f_grid))
            values = out.numpy().reshape(-1).astype(np.float64)
            if self.regression:
                pic = (np.clip(values, -1.0, 1.0) + 1.0) / 2.0
            else:
                pic = 1.0 / (1.0 + np.exp(-np.clip(values, -60, 60)))
            neurons, scales = [], []
            for h in hidden:
                a = h.numpy()[self._thumb_cells].astype(np.float64)     # (cells, width)
                if not np.isfinite(a).all():
                    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
                scale = np.maximum(1.0, np.max(np.abs(a), axis=0))    # keep [-1, 1] as it is
                u8 = np.round((np.clip(a / scale, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).T.copy()
                neurons.append([b64(row) for row in u8])
                scales.append([sig(v, 3) for v in scale])
            ev = self.evaluate()
            grads = self.shown_grads()
        diverged = self.diverged or not math.isfinite(ev["train"])
        if diverged:  # NaN outputs would count as "class 0": no accuracy to show
            ev["acc_train"] = ev["acc_test"] = None
        self.history.add([self.steps, sig(ev["train"]), sig(ev["test"])])
        hints = self.watch.update(self.steps, ev["train"], ev["hidden"], self.config, diverged)
        return {
            "type": "frame",
            "run": self.run_id,
            "step": self.steps,
            "epoch": round(self.epoch, 3),
            "problem": "regression" if self.regression else "classification",
            "loss_train": sig(ev["train"]),
            "loss_test": sig(ev["test"]),
            "accuracy_train": sig(ev["acc_train"], 4),
            "accuracy_test": sig(ev["acc_test"], 4),
            "diverged": diverged,
            "boundary": b64(np.round(np.nan_to_num(pic, nan=0.5) * 255)),
            "boundary_size": BOUNDARY_SIZE,
            "neurons": neurons,
            "neuron_size": NEURON_SIZE,
            "neuron_scales": scales,     # each thumbnail shows -scale..scale as orange..blue
            "weights": [rounded(lin.weight.data) for lin in self.linears],
            "biases": [rounded(lin.bias.data) for lin in self.linears],
            "grads": [rounded(g, 7) for g in grads],
            "grad_view": self.config["grad_view"],
            "grad_norms": [sig(g) for g in self.norms(grads)],
            "hints": hints,
        }
